//! Fileless execution: a program copied into a memfd and run with execveat(AT_EMPTY_PATH) is
//! an exec event with a `fileless` finding naming the memfd, decided from the executed file
//! (its link count), and the terminal's default view shows it; so is a script run that way
//! (the process runs its interpreter, a file on disk). runc's own re-exec of its
//! binary through an fd, at every container start, is not flagged.
use sensor_proto::v1::{EventKind, GetEventsRequest};
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::TestCgroup,
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, exec, header},
    wait_until,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn execs_in(cgroup_ids: Vec<u64>) -> GetEventsRequest {
    GetEventsRequest {
        kinds: vec![EventKind::Exec as i32],
        cgroup_ids,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_memfd_exec_is_fileless_and_runc_s_own_is_not() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("fileless");
    let sensor = Sensor::start_with_terminal(&["--no-cri"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, execs_in(vec![cg.id()]))
        .await
        .expect("subscribe");
    let true_bin = ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("true");
    let pid = sensor_tests::trigger(
        TRIGGER,
        &cg,
        &["memfd-exec", "sensor-e2e-payload", true_bin, "one"],
    );
    let ev = sub
        .expect_event("the memfd exec", |ev| {
            header(ev).pid == pid && exec(ev).is_some_and(|e| e.argv.len() == 2)
        })
        .await;
    let e = exec(&ev).unwrap();
    let fileless: Vec<&str> = e
        .findings
        .iter()
        .map(|f| f.what.as_str())
        .filter(|w| w.starts_with("fileless"))
        .collect();
    assert_eq!(fileless.len(), 1, "{e:?}");
    assert!(fileless[0].contains("memfd:sensor-e2e-payload"), "{e:?}");
    assert!(e.exe_known && e.exe_nlink == 0, "{e:?}");
    assert_eq!(e.exe_name, b"memfd:sensor-e2e-payload");
    // A script in a memfd: the process runs its interpreter (a file on disk), which reads the
    // script from the fd; what was executed has no file on disk all the same.
    let dir = sensor_tests::cgroup::ScratchDir::new("fileless-script");
    let script = dir.path().join("payload.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let script = script.to_str().unwrap();
    let pid = sensor_tests::trigger(
        TRIGGER,
        &cg,
        &["memfd-exec", "sensor-e2e-script", script, "two", "three"],
    );
    let ev = sub
        .expect_event("the memfd script's exec", |ev| {
            header(ev).pid == pid && exec(ev).is_some_and(|e| e.argv.len() == 3)
        })
        .await;
    let e = exec(&ev).unwrap();
    assert!(e.filename.starts_with(b"/dev/fd/"), "{e:?}");
    assert!(
        e.findings
            .iter()
            .any(|f| f.what.starts_with("fileless") && f.what.contains("memfd:sensor-e2e-script")),
        "a script run from a memfd is not fileless: {e:?}"
    );
    assert!(e.exe_known && e.exe_nlink == 0, "{e:?}");
    assert_eq!(e.exe_name, b"memfd:sensor-e2e-script");

    // The exec of the trigger itself (a file on disk) has no such finding.
    assert!(
        sub.events()
            .filter_map(exec)
            .filter(|x| x.filename.ends_with(b"sensor-trigger"))
            .all(|x| x.findings.iter().all(|f| !f.what.starts_with("fileless")))
    );
    let shown = |t: &str| {
        t.lines()
            .any(|l| l.contains("EXEC[high]") && l.contains("fileless"))
    };
    assert!(
        wait_until(EVENT_TIMEOUT, || shown(&sensor.log_text())),
        "the terminal's default view does not show it:\n{}",
        sensor.log_text()
    );

    // A runc container: runc re-executes itself from a memfd; nothing of it is fileless.
    let (uid, id) = kube_ids(0xa00);
    let c = Container::new(
        &format!("sensor-e2e-fileless-{}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        "true",
    );
    let mut all = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            kinds: vec![EventKind::Exec as i32],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");
    let cgroup_id = c.cgroup_id();
    let out = c.run();
    assert!(out.status.success());
    // runc's own execs come before the container's process runs (one ring, in order).
    all.expect_event("the container's exec", |ev| {
        header(ev).cgroup_id == cgroup_id && exec(ev).is_some()
    })
    .await;
    // runc re-executes itself before the container runs: from /proc/self/exe and through an
    // fd (a read-only bind mount of its binary on this runc; a memfd on others, which the
    // policy's unit test covers). Seen, and a file on disk.
    let reexec: Vec<_> = all
        .events()
        .filter_map(exec)
        .filter(|e| e.exe_known && e.filename.starts_with(b"/dev/fd/"))
        .collect();
    assert!(!reexec.is_empty(), "runc's re-exec was not seen");
    for ev in all.events() {
        let e = exec(ev).unwrap();
        assert!(
            e.findings.iter().all(|f| !f.what.starts_with("fileless")),
            "runc's own exec was flagged fileless: {ev:?}"
        );
    }
}

/// runc's names are not a pass: a container's dropper called `runc` that runs a payload from a
/// memfd named as runc's own (`runc_cloned:/proc/self/exe`) is fileless. runc makes its
/// re-exec in the node's pid namespace, which a container's process is never in.
#[tokio::test]
async fn a_container_s_runc_lookalike_is_fileless() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri"]).await;
    let (uid, id) = kube_ids(0xa01);
    let script = "printf '#!/bin/sh\\n/sensor-trigger - memfd-exec runc_cloned:/proc/self/exe \
                  /usr/bin/true payload\\n' > /tmp/runc && chmod +x /tmp/runc && /tmp/runc";
    let c = Container::new(
        &format!("sensor-e2e-lookalike-{}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        script,
    )
    .with_host_usr(Some((std::path::Path::new(TRIGGER), "/sensor-trigger")));
    let mut sub = Subscriber::connect(&sensor.addr, execs_in(vec![c.cgroup_id()]))
        .await
        .expect("subscribe");
    let out = c.run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = sub
        .expect_event("the payload's exec", |ev| {
            exec(ev).is_some_and(|e| e.exe_name == b"memfd:runc_cloned:/proc/self/exe")
        })
        .await;
    let e = exec(&ev).unwrap();
    assert!(
        e.findings.iter().any(|f| f.what.starts_with("fileless")),
        "a lookalike of runc's re-exec passed: {e:?}"
    );
}
