//! The policy file in force: exceptions silence one pod's calls (in the kernel) while another
//! pod's are still flagged; severities follow the file; a broken reload changes nothing.
use std::time::Duration;

use sensor_proto::v1::{EventKind, GetEventsRequest, Severity};
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready, replace_file,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, flagged, header},
    wait_until,
};

#[tokio::test]
async fn an_exception_silences_one_pod_while_another_is_still_flagged() {
    if !ready() {
        return;
    }
    let ((quiet_uid, quiet_id), (loud_uid, loud_id)) = (kube_ids(1), kube_ids(2));
    let dir = ScratchDir::new("policy");
    let file = dir.path().join("policy.toml");
    std::fs::write(
        &file,
        format!("[[exceptions]]\npod_uid = \"{quiet_uid}\"\nsyscalls = [\"mount\", \"umount2\"]\n"),
    )
    .unwrap();
    let sensor = Sensor::start(&["--policy", file.to_str().unwrap()]).await;

    let script = "mount -t tmpfs none /mnt && umount /mnt; chroot / /bin/true";
    let quiet = Container::new(
        "sensor-e2e-quiet",
        &format!("/kubepods/besteffort/pod{quiet_uid}/{quiet_id}"),
        script,
    );
    let loud = Container::new(
        "sensor-e2e-loud",
        &format!("/kubepods/besteffort/pod{loud_uid}/{loud_id}"),
        script,
    );
    // Known before they run: runc removes a container's cgroup when it exits.
    let (quiet_cg, loud_cg) = (quiet.cgroup_id(), loud.cgroup_id());
    let request = GetEventsRequest {
        kinds: vec![EventKind::FlaggedSyscall as i32],
        cgroup_ids: vec![quiet_cg, loud_cg],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");
    for c in [&quiet, &loud] {
        let out = c.run();
        assert!(
            out.status.success(),
            "runc run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let from = |cg: u64, name: &'static str| {
        move |ev: &sensor_proto::v1::Event| {
            header(ev).cgroup_id == cg && flagged(ev).is_some_and(|s| s.name == name)
        }
    };
    // The excepted pod's other calls are still flagged, and arrive after its mount would have.
    sub.expect_event("the quiet pod's chroot", from(quiet_cg, "chroot"))
        .await;
    let ev = sub
        .expect_event("the loud pod's mount", from(loud_cg, "mount"))
        .await;
    assert_eq!(flagged(&ev).unwrap().severity(), Severity::High);
    for ev in sub.events() {
        let s = flagged(ev).unwrap();
        assert!(
            !(header(ev).cgroup_id == quiet_cg && (s.name == "mount" || s.name == "umount2")),
            "an excepted call was flagged: {ev:?}"
        );
    }
}

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

/// Mounts a tmpfs from `cg` and returns the flagged event.
async fn mount(
    sub: &mut Subscriber,
    cg: &TestCgroup,
    target: &ScratchDir,
) -> sensor_proto::v1::Event {
    let mut child = std::process::Command::new(TRIGGER)
        .arg(cg.path())
        .args(["mount-tmpfs", target.as_str()])
        .spawn()
        .expect("trigger");
    let pid = child.id();
    assert!(child.wait().unwrap().success());
    sub.expect_event("the mount", move |ev| {
        header(ev).pid == pid && flagged(ev).is_some_and(|s| s.name == "mount")
    })
    .await
}

#[tokio::test]
async fn a_broken_reload_keeps_the_old_policy_and_a_good_one_replaces_it() {
    if !ready() {
        return;
    }
    let dir = ScratchDir::new("policy");
    let target = ScratchDir::new("mnt");
    let file = dir.path().join("policy.toml");
    replace_file(&file, "[syscalls]\nmount = \"high\"\n");
    let sensor = Sensor::start(&["--policy", file.to_str().unwrap()]).await;
    let cg = TestCgroup::new("reload");
    let request = GetEventsRequest {
        kinds: vec![EventKind::FlaggedSyscall as i32],
        cgroup_ids: vec![cg.id()],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");
    let sev = |ev: &sensor_proto::v1::Event| flagged(ev).unwrap().severity();
    assert_eq!(sev(&mount(&mut sub, &cg, &target).await), Severity::High);

    // A broken file (picked up because it changed) is refused; the old policy stays.
    replace_file(
        &file,
        "[syscalls]\nmount = \"low\"\nmount_typo = \"high\"\n",
    );
    let refused = wait_until(Duration::from_secs(10), || {
        sensor.log_text().contains("policy reload refused")
    });
    assert!(refused, "no refusal logged:\n{}", sensor.log_text());
    assert!(
        sensor
            .log_text()
            .contains("policy.toml:3: unknown syscall \"mount_typo\""),
        "{}",
        sensor.log_text()
    );
    assert_eq!(sev(&mount(&mut sub, &cg, &target).await), Severity::High);

    // A good file, announced with SIGHUP, replaces it.
    replace_file(&file, "[syscalls]\nmount = \"low\"\n");
    // SAFETY: signalling the sensor this test started.
    unsafe { libc::kill(sensor.pid() as i32, libc::SIGHUP) };
    // Logged once in force (in the kernel and the engine): the next call is judged by it.
    let reloaded = wait_until(Duration::from_secs(10), || {
        sensor.log_text().contains("(SIGHUP): in force")
    });
    assert!(reloaded, "no reload logged:\n{}", sensor.log_text());
    assert_eq!(sev(&mount(&mut sub, &cg, &target).await), Severity::Low);
    // Counted both ways.
    let (_, metrics) = sensor_tests::sensor::http_get(&sensor.metrics, "/metrics").expect("scrape");
    for line in [
        "sensor_policy_reloads_total 1",
        "sensor_policy_reloads_refused_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in:\n{metrics}"
        );
    }
}

/// The kernel's exceptions of `cgroup`, in the EXEMPT map the sensor under test holds.
fn kernel_exceptions(
    sensor: &Sensor,
    cgroup: u64,
) -> Option<[u64; sensor_common::FORBIDDEN_WORDS as usize]> {
    sensor_tests::held::hash_map_held_by(sensor.pid(), "EXEMPT")
        .get(&cgroup, 0)
        .ok()
}

#[tokio::test]
async fn a_reload_keeps_a_running_pods_exceptions_in_the_kernel() {
    if !ready() {
        return;
    }
    let (uid, id) = kube_ids(3);
    let dir = ScratchDir::new("policy-keep");
    let file = dir.path().join("policy.toml");
    let policy = |sev: &str| {
        format!(
            "[syscalls]\nchroot = \"{sev}\"\nmount = \"high\"\n\n[[exceptions]]\npod_uid = \
             \"{uid}\"\nsyscalls = [\"chroot\"]\n"
        )
    };
    replace_file(&file, &policy("high"));
    let sensor = Sensor::start(&["--policy", file.to_str().unwrap()]).await;
    // Its first chroot decides its exceptions; then it sits still while the policy changes.
    let pod = Container::new(
        "sensor-e2e-keep",
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        "chroot / /bin/true; exec sleep 60",
    );
    let mut running = pod.spawn();
    let cg = pod.cgroup_id();
    let chroot = sensor_common::native_key(libc::SYS_chroot as u64).unwrap();
    let excepted = |e: Option<[u64; sensor_common::FORBIDDEN_WORDS as usize]>| {
        e.is_some_and(|w| w[(chroot / 64) as usize] & (1 << (chroot % 64)) != 0)
    };
    assert!(
        wait_until(Duration::from_secs(10), || excepted(kernel_exceptions(
            &sensor, cg
        ))),
        "the pod's chroot exception never reached the kernel"
    );
    replace_file(&file, &policy("medium"));
    // SAFETY: signalling the sensor this test started.
    unsafe { libc::kill(sensor.pid() as i32, libc::SIGHUP) };
    assert!(
        wait_until(Duration::from_secs(10), || sensor
            .log_text()
            .contains("(SIGHUP): in force")),
        "no reload logged:\n{}",
        sensor.log_text()
    );
    // Re-decided and rewritten in place, not cleared: the silent pod still has it.
    assert!(
        excepted(kernel_exceptions(&sensor, cg)),
        "the reload cleared a running pod's exceptions"
    );
    drop(pod); // runc delete -f: the container's process ends
    let _ = running.wait();
}
