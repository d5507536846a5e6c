//! Input built to break the sensor, from processes it watches: a 1 MiB argv with bytes that are
//! not UTF-8, a path at PATH_MAX, a cgroup path deeper than the kernel record holds. Events
//! still arrive, cut where they must be and flagged as cut, and nothing is misread.
use sensor_proto::v1::{EventKind, GetEventsRequest};
use sensor_tests::{
    cgroup::TestCgroup,
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, arg, exec, flagged, header},
    trigger,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn true_bin() -> &'static str {
    ["/bin/true", "/usr/bin/true"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a `true` binary")
}

fn request(cgroup_ids: Vec<u64>) -> GetEventsRequest {
    GetEventsRequest {
        kinds: vec![EventKind::FlaggedSyscall as i32, EventKind::Exec as i32],
        cgroup_ids,
        ..Default::default()
    }
}

#[tokio::test]
async fn a_huge_argv_and_a_path_max_path_arrive_cut_and_flagged() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("hostile");
    let sensor = Sensor::start(&["--no-cri"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, request(vec![cg.id()]))
        .await
        .expect("subscribe");

    // 1 MiB of arguments; the second is not UTF-8.
    use std::os::unix::ffi::OsStrExt as _;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"\xff\xfe-not-utf8");
    let chunk = "A".repeat(1024);
    let mut child = std::process::Command::new(TRIGGER)
        .arg(cg.path())
        .args(["exec", true_bin(), "first"])
        .arg(not_utf8)
        .args(std::iter::repeat_n(chunk.as_str(), 1024))
        .spawn()
        .expect("spawn the exec");
    let pid = child.id();
    assert!(child.wait().expect("wait").success());
    let ev = sub
        .expect_event("the exec with a 1 MiB argv", |ev| {
            exec(ev).is_some_and(|e| e.errno == 0) && header(ev).pid == pid
        })
        .await;
    let e = exec(&ev).unwrap();
    assert_eq!(e.filename, true_bin().as_bytes());
    assert!(e.argv_truncated, "a 1 MiB argv was not flagged as cut");
    assert_eq!(e.argv.get(1).map(Vec::as_slice), Some(&b"first"[..]));
    assert_eq!(
        e.argv.get(2).map(Vec::as_slice),
        Some(not_utf8.as_bytes()),
        "bytes kept as they are"
    );
    let kept: usize = e.argv.iter().map(Vec::len).sum();
    assert!(kept < 64 * 1024, "kept {kept} bytes of argv");

    // A path of PATH_MAX - 1 bytes (it does not exist: the call fails, and is still seen).
    let long = format!("/{}", "p".repeat(4094));
    let pid = trigger(TRIGGER, &cg, &["umount-fail", &long]);
    let ev = sub
        .expect_event("umount2 of a PATH_MAX path", |ev| {
            flagged(ev).is_some_and(|s| s.name == "umount2") && header(ev).pid == pid
        })
        .await;
    let (target, truncated) = arg(&ev, "target").expect("a decoded target");
    assert!(truncated, "a 4095-byte path was not flagged as cut");
    assert!(
        long.starts_with(target) && target.len() > 100,
        "target {target:?}"
    );
}

#[tokio::test]
async fn a_cgroup_deeper_than_a_record_holds_is_never_misattributed() {
    if !ready() {
        return;
    }
    // Made after the sensor started: their paths come from the kernel's cgroup_mkdir records,
    // which are cut at 512 bytes (a start-up scan would read them whole).
    let sensor = Sensor::start(&["--no-cri"]).await;
    let top = TestCgroup::new("deep");
    // 10 levels of 60 characters: longer than the 512 bytes a cgroup record carries.
    let mut levels: Vec<TestCgroup> = Vec::new();
    for i in 0..10 {
        let parent = levels.last().unwrap_or(&top);
        let child = parent.child(&format!("{i:02}{}", "d".repeat(58)));
        levels.push(child);
    }
    let deepest = levels.last().unwrap();
    let root = sensor_tests::cgroup::cgroup2_mount().unwrap();
    let full = deepest
        .path()
        .strip_prefix(&root)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(full.len() > 600);

    let mut sub = Subscriber::connect(&sensor.addr, request(vec![deepest.id()]))
        .await
        .expect("subscribe");
    let pid = trigger(TRIGGER, deepest, &["umount-storm", "1"]);
    let ev = sub
        .expect_event("a call from the deep cgroup", |ev| header(ev).pid == pid)
        .await;
    let h = header(&ev);
    assert_eq!(h.cgroup_id, deepest.id());
    // Resolved by a rescan (full path) or not yet (empty): never a cut or wrong one.
    let path = h.cgroup_path.trim_start_matches('/');
    assert!(
        path.is_empty() || path == full,
        "cgroup path {path:?}, expected {full:?}"
    );
    drop(sensor);
    while let Some(level) = levels.pop() {
        drop(level);
    }
}
