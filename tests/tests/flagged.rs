//! A process in a fresh cgroup2 directory makes forbidden calls; a gRPC subscriber receives
//! each one, attributed to that cgroup and process.
use std::process::Command;

use sensor_proto::v1::{EventKind, GetEventsRequest};
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, exec, flagged, header},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

/// Runs the trigger in `cg` and returns its pid; panics if the action did not behave.
fn trigger(cg: &TestCgroup, args: &[&str]) -> u32 {
    let mut child = Command::new(TRIGGER)
        .arg(cg.path())
        .args(args)
        .spawn()
        .expect("spawn sensor-trigger");
    let pid = child.id();
    let status = child.wait().expect("wait sensor-trigger");
    assert!(status.success(), "sensor-trigger {args:?} failed: {status}");
    pid
}

#[tokio::test]
async fn mount_and_chroot_in_a_cgroup_reach_a_subscriber() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("flagged");
    let target = ScratchDir::new("mnt");
    let root = ScratchDir::new("root");
    let sensor = Sensor::start(&[]).await;
    let request = GetEventsRequest {
        kinds: vec![EventKind::FlaggedSyscall as i32],
        cgroup_ids: vec![cg.id()],
    };
    let mut sub = Subscriber::connect(&sensor.addr, request).await.expect("subscribe");

    let is_call = |name: &'static str, pid: u32| {
        let cgroup_id = cg.id();
        move |ev: &sensor_proto::v1::Event| {
            flagged(ev).is_some_and(|s| s.name == name)
                && header(ev).pid == pid
                && header(ev).cgroup_id == cgroup_id
        }
    };

    // A mount that succeeds (and its unmount), one that fails, and a chroot.
    let ok = trigger(&cg, &["mount-tmpfs", target.as_str()]);
    let ev = sub.expect_event("the successful mount", is_call("mount", ok)).await;
    let h = header(&ev);
    assert_eq!((h.tid, h.uid), (ok, 0));
    assert_eq!(h.comm, b"sensor-trigger");
    let s = flagged(&ev).unwrap();
    assert_eq!(s.args.len(), 6);
    assert_eq!(s.args[3], 0, "mountflags");
    sub.expect_event("the umount2", is_call("umount2", ok)).await;

    let failed = trigger(&cg, &["mount-fail", target.as_str()]);
    sub.expect_event("the failing mount", is_call("mount", failed)).await;

    let chrooted = trigger(&cg, &["chroot", root.as_str()]);
    sub.expect_event("the chroot", is_call("chroot", chrooted)).await;

    // The server-side filter kept everything else out.
    for msg in &sub.seen {
        if let Some(sensor_proto::v1::get_events_response::Item::Event(ev)) = &msg.item {
            assert_eq!(header(ev).cgroup_id, cg.id(), "filter leaked {ev:?}");
            assert!(flagged(ev).is_some(), "kind filter leaked {ev:?}");
        }
    }
    drop(sensor);
}

#[tokio::test]
async fn an_exec_in_a_cgroup_arrives_with_its_filename() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("exec");
    let sensor = Sensor::start(&[]).await;
    let request = GetEventsRequest { kinds: vec![EventKind::Exec as i32], cgroup_ids: vec![cg.id()] };
    let mut sub = Subscriber::connect(&sensor.addr, request).await.expect("subscribe");

    let true_bin = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a `true` binary");
    let pid = trigger(&cg, &["exec", true_bin]);
    let ev = sub
        .expect_event("the exec", |ev| exec(ev).is_some() && header(ev).pid == pid)
        .await;
    let e = exec(&ev).unwrap();
    assert_eq!(e.filename, true_bin.as_bytes());
    assert!(!e.filename_truncated);
    assert_eq!(header(&ev).cgroup_id, cg.id());
    assert_eq!(header(&ev).comm, b"true", "comm is the new program's after exec");
}

#[tokio::test]
async fn an_invalid_filter_is_refused_naming_the_field() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    let request = GetEventsRequest { kinds: vec![EventKind::Unspecified as i32], cgroup_ids: vec![] };
    let err = Subscriber::connect(&sensor.addr, request).await.err().expect("must be refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("kinds:"), "{}", err.message());
}
