//! The new mount API, each step flagged with its arguments decoded: a bind mount through
//! open_tree + move_mount, and a tmpfs through fsopen, fsconfig, fsmount, move_mount, then
//! mount_setattr and fspick on it; open_tree_attr (open_tree with mount_setattr's struct).
use sensor_proto::v1::OutcomeKind;
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, arg, flagged_by, flagged_in, outcome},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

#[tokio::test]
async fn each_step_of_the_new_mount_api_is_flagged_and_decoded() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("mount-api");
    let (src, bind, tmp) = (
        ScratchDir::new("src"),
        ScratchDir::new("bind"),
        ScratchDir::new("tmpfs"),
    );
    let sensor = Sensor::start(&["--no-cri"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");

    let pid = sensor_tests::trigger(
        TRIGGER,
        &cg,
        &["newmount-bind", src.as_str(), bind.as_str()],
    );
    let ev = sub
        .expect_event("open_tree", flagged_by(pid, "open_tree"))
        .await;
    assert_eq!(arg(&ev, "path"), Some((src.as_str(), false)));
    assert_eq!(
        arg(&ev, "flags"),
        Some(("OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC", false))
    );
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);
    let ev = sub
        .expect_event("move_mount", flagged_by(pid, "move_mount"))
        .await;
    assert_eq!(arg(&ev, "to_path"), Some((bind.as_str(), false)));
    assert_eq!(arg(&ev, "flags"), Some(("MOVE_MOUNT_F_EMPTY_PATH", false)));
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);

    // open_tree_attr (Linux 6.15): open_tree and mount_setattr's struct in one call.
    let pid = sensor_tests::trigger(TRIGGER, &cg, &["open-tree-attr", src.as_str()]);
    let ev = sub
        .expect_event("open_tree_attr", flagged_by(pid, "open_tree_attr"))
        .await;
    assert_eq!(arg(&ev, "path"), Some((src.as_str(), false)));
    assert_eq!(
        arg(&ev, "flags"),
        Some(("OPEN_TREE_CLONE|OPEN_TREE_CLOEXEC", false))
    );
    assert_eq!(
        arg(&ev, "attr"),
        Some((
            "{attr_set=MOUNT_ATTR_RDONLY, attr_clr=0, propagation=0, userns_fd=0}",
            false
        ))
    );

    let pid = sensor_tests::trigger(TRIGGER, &cg, &["newmount-tmpfs", tmp.as_str()]);
    let ev = sub.expect_event("fsopen", flagged_by(pid, "fsopen")).await;
    assert_eq!(arg(&ev, "fsname"), Some(("tmpfs", false)));
    let ev = sub
        .expect_event("fsconfig", flagged_by(pid, "fsconfig"))
        .await;
    assert_eq!(arg(&ev, "cmd"), Some(("FSCONFIG_SET_STRING", false)));
    assert_eq!(arg(&ev, "key"), Some(("size", false)));
    assert_eq!(arg(&ev, "value"), Some(("1m", false)));
    let ev = sub
        .expect_event("fsconfig create", flagged_by(pid, "fsconfig"))
        .await;
    assert_eq!(arg(&ev, "cmd"), Some(("FSCONFIG_CMD_CREATE", false)));
    assert_eq!(arg(&ev, "key"), Some(("NULL", false)));
    let ev = sub
        .expect_event("fsmount", flagged_by(pid, "fsmount"))
        .await;
    assert_eq!(arg(&ev, "attr_flags"), Some(("MOUNT_ATTR_NODEV", false)));
    let ev = sub
        .expect_event("move_mount", flagged_by(pid, "move_mount"))
        .await;
    assert_eq!(arg(&ev, "to_path"), Some((tmp.as_str(), false)));
    let ev = sub
        .expect_event("mount_setattr", flagged_by(pid, "mount_setattr"))
        .await;
    assert_eq!(arg(&ev, "path"), Some((tmp.as_str(), false)));
    // Its struct mount_attr, read where the fourth argument points.
    assert_eq!(
        arg(&ev, "attr"),
        Some((
            "{attr_set=MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID, attr_clr=0, \
             propagation=MS_PRIVATE, userns_fd=0}",
            false
        ))
    );
    let ev = sub.expect_event("fspick", flagged_by(pid, "fspick")).await;
    assert_eq!(arg(&ev, "path"), Some((tmp.as_str(), false)));
    assert_eq!(arg(&ev, "flags"), Some(("FSPICK_CLOEXEC", false)));
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);
}
