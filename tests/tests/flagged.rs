//! A process in a fresh cgroup2 directory makes forbidden calls; a gRPC subscriber receives
//! each one, attributed to that cgroup and process, with its arguments decoded and its outcome
//! (strings on a page not yet touched at the call's entry are read at its exit).
use sensor_proto::v1::{Event, EventKind, GetEventsRequest, OutcomeKind};
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, arg, exec, flagged, flagged_in, header, outcome},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn trigger(cg: &TestCgroup, args: &[&str]) -> u32 {
    sensor_tests::trigger(TRIGGER, cg, args)
}

/// Matches the flagged call `name` made by `pid` in `cg`.
fn call(cg: &TestCgroup, name: &'static str, pid: u32) -> impl Fn(&Event) -> bool {
    let cgroup_id = cg.id();
    move |ev| {
        flagged(ev).is_some_and(|s| s.name == name)
            && header(ev).pid == pid
            && header(ev).cgroup_id == cgroup_id
    }
}

async fn subscribe(sensor: &Sensor, cg: &TestCgroup) -> Subscriber {
    let request = flagged_in(cg.id());
    Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe")
}

#[tokio::test]
async fn mounts_and_chroot_arrive_decoded_with_their_outcome() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("flagged");
    let target = ScratchDir::new("mnt");
    let root = ScratchDir::new("root");
    let sensor = Sensor::start(&[]).await;
    let mut sub = subscribe(&sensor, &cg).await;

    let ok = trigger(&cg, &["mount-tmpfs", target.as_str()]);
    let ev = sub
        .expect_event("the successful mount", call(&cg, "mount", ok))
        .await;
    let h = header(&ev);
    assert_eq!((h.tid, h.uid), (ok, 0));
    assert_eq!(h.comm, b"sensor-trigger");
    assert_eq!(flagged(&ev).unwrap().args.len(), 6);
    assert_eq!(outcome(&ev), (OutcomeKind::Succeeded, String::new()));
    assert_eq!(arg(&ev, "source"), Some(("sensor-e2e", false)));
    assert_eq!(arg(&ev, "target"), Some((target.as_str(), false)));
    assert_eq!(arg(&ev, "fstype"), Some(("tmpfs", false)));
    assert_eq!(arg(&ev, "flags"), Some(("0", false)));
    let ev = sub
        .expect_event("the umount2", call(&cg, "umount2", ok))
        .await;
    assert_eq!(arg(&ev, "target"), Some((target.as_str(), false)));
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);

    let failed = trigger(&cg, &["mount-fail", target.as_str()]);
    let ev = sub
        .expect_event("the failing mount", call(&cg, "mount", failed))
        .await;
    assert_eq!(outcome(&ev), (OutcomeKind::Failed, "ENODEV".to_owned()));
    assert_eq!(arg(&ev, "fstype"), Some(("sensor-e2e-no-such-fs", false)));

    // Its strings on a page the process had not touched yet: unreadable at the entry, read
    // at the exit (the kernel has copied them in by then), and said to be.
    let untouched = trigger(&cg, &["mount-untouched", target.as_str()]);
    let ev = sub
        .expect_event(
            "the mount with untouched strings",
            call(&cg, "mount", untouched),
        )
        .await;
    assert_eq!(outcome(&ev), (OutcomeKind::Failed, "ENODEV".to_owned()));
    assert_eq!(arg(&ev, "source"), Some(("sensor-e2e", false)));
    assert_eq!(arg(&ev, "target"), Some((target.as_str(), false)));
    assert_eq!(arg(&ev, "fstype"), Some(("sensor-e2e-no-such-fs", false)));
    assert!(flagged(&ev).unwrap().args_read_at_exit, "{ev:?}");

    let chrooted = trigger(&cg, &["chroot", root.as_str()]);
    let ev = sub
        .expect_event("the chroot", call(&cg, "chroot", chrooted))
        .await;
    assert_eq!(arg(&ev, "path"), Some((root.as_str(), false)));
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);

    // The server-side filters kept everything else out.
    for ev in sub.events() {
        assert_eq!(header(ev).cgroup_id, cg.id(), "cgroup filter leaked {ev:?}");
        assert!(flagged(ev).is_some(), "kind filter leaked {ev:?}");
    }
}

#[tokio::test]
async fn namespace_calls_are_decoded() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("ns");
    let sensor = Sensor::start(&[]).await;
    let mut sub = subscribe(&sensor, &cg).await;

    let pid = trigger(&cg, &["unshare"]);
    let ev = sub
        .expect_event("the unshare", call(&cg, "unshare", pid))
        .await;
    assert_eq!(arg(&ev, "flags"), Some(("CLONE_NEWNS|CLONE_NEWUTS", false)));
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);

    let pid = trigger(&cg, &["setns"]);
    let ev = sub.expect_event("the setns", call(&cg, "setns", pid)).await;
    assert_eq!(arg(&ev, "nstype"), Some(("CLONE_NEWUTS", false)));
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);
}

#[tokio::test]
async fn a_mount_without_cap_sys_admin_fails_with_eperm() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("nocap");
    let target = ScratchDir::new("mnt");
    let sensor = Sensor::start(&[]).await;
    let mut sub = subscribe(&sensor, &cg).await;
    // Root without CAP_SYS_ADMIN in its bounding set execs the trigger without it.
    let pid = sensor_tests::trigger_via(
        &["setpriv", "--bounding-set=-sys_admin", "--"],
        TRIGGER,
        &cg,
        &["mount-eperm", target.as_str()],
    );
    let ev = sub
        .expect_event("the refused mount", call(&cg, "mount", pid))
        .await;
    assert_eq!(outcome(&ev), (OutcomeKind::Failed, "EPERM".to_owned()));
    assert_eq!(arg(&ev, "target"), Some((target.as_str(), false)));
}

#[tokio::test]
async fn a_mount_refused_by_seccomp_is_flagged_blocked_before_entry() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("seccomp");
    let target = ScratchDir::new("mnt");
    let sensor = Sensor::start(&[]).await;
    let mut sub = subscribe(&sensor, &cg).await;
    let pid = trigger(&cg, &["mount-seccomp", target.as_str()]);
    let ev = sub
        .expect_event("the blocked mount", call(&cg, "mount", pid))
        .await;
    assert_eq!(
        outcome(&ev),
        (OutcomeKind::BlockedBeforeEntry, "EPERM".to_owned())
    );
    // The arguments are still read, at exit: the attempt is visible in full.
    assert_eq!(arg(&ev, "target"), Some((target.as_str(), false)));
    assert_eq!(arg(&ev, "fstype"), Some(("tmpfs", false)));
}

#[tokio::test]
async fn an_exec_in_a_cgroup_arrives_with_its_filename() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("exec");
    let sensor = Sensor::start(&[]).await;
    let request = GetEventsRequest {
        kinds: vec![EventKind::Exec as i32],
        cgroup_ids: vec![cg.id()],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");

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
    assert!(
        e.findings.is_empty(),
        "not a container: no least-privilege findings: {e:?}"
    );
    assert_eq!(header(&ev).cgroup_id, cg.id());
    assert_eq!(
        header(&ev).comm,
        b"true",
        "comm is the new program's after exec"
    );
}

#[tokio::test]
async fn an_invalid_filter_is_refused_naming_the_field() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    let request = GetEventsRequest {
        kinds: vec![EventKind::Unspecified as i32],
        cgroup_ids: vec![],
        ..Default::default()
    };
    let err = Subscriber::connect(&sensor.addr, request)
        .await
        .err()
        .expect("must be refused");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().starts_with("kinds:"), "{}", err.message());
}
