//! Forbidden calls made inside real runc containers: decoded, with their outcome.
use sensor_proto::v1::{Event, EventKind, GetEventsRequest, OutcomeKind};
use sensor_tests::{
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, arg, flagged, outcome},
};

fn container(n: u32, script: &str) -> Container {
    let (uid, id) = kube_ids(0x700 + n);
    Container::new(
        &format!("sensor-e2e-calls-{}-{n}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        script,
    )
}

fn named(name: &'static str) -> impl Fn(&Event) -> bool {
    move |ev| flagged(ev).is_some_and(|s| s.name == name)
}

#[tokio::test]
async fn calls_in_a_runc_container_are_decoded_with_their_outcome() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--no-cri"]).await;
    let script =
        "mount -t tmpfs -o nosuid,nodev shm /mnt && umount /mnt; unshare -m -u true; chroot / true";
    let privileged = container(1, script);
    let mut sub = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            kinds: vec![EventKind::FlaggedSyscall as i32],
            cgroup_ids: vec![privileged.cgroup_id()],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");
    let out = privileged.run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // runc's own mounts come first (the container being set up): skip to the script's.
    let ev = sub
        .expect_event("the tmpfs mount", |ev| {
            named("mount")(ev) && arg(ev, "target") == Some(("/mnt", false))
        })
        .await;
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);
    assert_eq!(arg(&ev, "source"), Some(("shm", false)));
    assert_eq!(arg(&ev, "fstype"), Some(("tmpfs", false)));
    // (busybox's mount adds MS_SILENT)
    let flags = arg(&ev, "flags").map(|f| f.0).unwrap_or_default();
    assert!(flags.starts_with("MS_NOSUID|MS_NODEV"), "{flags}");
    let ev = sub.expect_event("the umount2", named("umount2")).await;
    assert_eq!(arg(&ev, "target"), Some(("/mnt", false)));
    let ev = sub
        .expect_event("the script's unshare", |ev| {
            named("unshare")(ev) && arg(ev, "flags") == Some(("CLONE_NEWNS|CLONE_NEWUTS", false))
        })
        .await;
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);
    let ev = sub.expect_event("the chroot", named("chroot")).await;
    assert_eq!(
        (arg(&ev, "path"), outcome(&ev).0),
        (Some(("/", false)), OutcomeKind::Succeeded)
    );

    // Without CAP_SYS_ADMIN the same mount is refused by the kernel: EPERM.
    let unprivileged =
        container(2, "mount -t tmpfs shm /mnt || echo refused").with_caps(&["CAP_KILL"]);
    let mut sub = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            kinds: vec![EventKind::FlaggedSyscall as i32],
            cgroup_ids: vec![unprivileged.cgroup_id()],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");
    let out = unprivileged.run();
    assert!(String::from_utf8_lossy(&out.stdout).contains("refused"));
    let ev = sub
        .expect_event("the refused mount", |ev| {
            named("mount")(ev) && arg(ev, "target") == Some(("/mnt", false))
        })
        .await;
    assert_eq!(outcome(&ev), (OutcomeKind::Failed, "EPERM".to_owned()));
}
