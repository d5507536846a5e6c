//! The exit side follows the policy: a call the policy starts forbidding gets its own exit
//! hook (and so its outcome) at once; a call this kernel has no exit tracepoint for is
//! reported at entry, and `--exit-hook all` sees its result and its seccomp refusals too, and
//! gives i386 calls (which no per-syscall tracepoint reports) their outcome.
use std::time::Duration;

use sensor_proto::v1::{Event, OutcomeKind};
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready, replace_file,
    sensor::Sensor,
    subscriber::{Subscriber, arg, flagged, flagged_in, header, outcome},
    wait_until,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn trigger(cg: &TestCgroup, args: &[&str]) -> u32 {
    sensor_tests::trigger(TRIGGER, cg, args)
}

fn call(name: &'static str, pid: u32) -> impl Fn(&Event) -> bool {
    move |ev| flagged(ev).is_some_and(|s| s.name == name) && header(ev).pid == pid
}

/// Sends SIGHUP and waits for the sensor to log its `n`th reload.
fn reload(sensor: &Sensor, n: usize) {
    // SAFETY: signalling the sensor this test started.
    unsafe { libc::kill(sensor.pid() as i32, libc::SIGHUP) };
    let done = wait_until(Duration::from_secs(10), || {
        sensor.log_text().matches("policy reloaded").count() >= n
    });
    assert!(done, "reload {n} not logged:\n{}", sensor.log_text());
}

#[tokio::test]
async fn a_call_forbidden_by_a_reload_gets_its_outcome() {
    if !ready() {
        return;
    }
    let dir = ScratchDir::new("policy");
    let root = ScratchDir::new("root");
    let target = ScratchDir::new("mnt");
    let file = dir.path().join("policy.toml");
    replace_file(&file, "defaults = false\n[syscalls]\nmount = \"high\"\n");
    let sensor = Sensor::start(&["--policy", file.to_str().unwrap()]).await;
    let cg = TestCgroup::new("exits-reload");
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");

    // chroot's exit was not hooked at start; it is once the policy forbids it.
    replace_file(
        &file,
        "defaults = false\n[syscalls]\nmount = \"high\"\nchroot = \"medium\"\n",
    );
    reload(&sensor, 1);
    let pid = trigger(&cg, &["chroot", root.as_str()]);
    let ev = sub.expect_event("the chroot", call("chroot", pid)).await;
    assert_eq!(outcome(&ev), (OutcomeKind::Succeeded, String::new()));

    // Unhooking mount leaves chroot's hook working.
    replace_file(&file, "defaults = false\n[syscalls]\nchroot = \"medium\"\n");
    reload(&sensor, 2);
    let mounted = trigger(&cg, &["mount-tmpfs", target.as_str()]);
    let pid = trigger(&cg, &["chroot", root.as_str()]);
    let ev = sub
        .expect_event("the second chroot", call("chroot", pid))
        .await;
    assert_eq!(outcome(&ev).0, OutcomeKind::Succeeded);
    let leaked = sub.events().any(|ev| header(ev).pid == mounted);
    assert!(
        !leaked,
        "a mount was flagged after the policy stopped forbidding it"
    );
}

/// `tuxcall` is in the x86_64 table but no kernel implements it: it has no tracepoint.
#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn a_call_without_an_exit_tracepoint_is_reported_at_entry_unless_every_exit_is_hooked() {
    if !ready() {
        return;
    }
    const TUXCALL: &str = "184";
    let dir = ScratchDir::new("policy");
    let file = dir.path().join("policy.toml");
    replace_file(&file, "[syscalls]\ntuxcall = \"high\"\n");
    let policy = ["--policy", file.to_str().unwrap()];
    let cg = TestCgroup::new("exits-unhooked");

    let sensor = Sensor::start(&policy).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    let pid = trigger(&cg, &["syscall", TUXCALL]);
    let ev = sub.expect_event("the tuxcall", call("tuxcall", pid)).await;
    assert_eq!(outcome(&ev).0, OutcomeKind::Unknown);
    let log = sensor.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("this kernel has no exit tracepoint for"))
        .unwrap_or_else(|| panic!("no line names the calls without a tracepoint:\n{log}"));
    let unhooked: Vec<&str> = line
        .split_once("tracepoint for ")
        .and_then(|(_, rest)| rest.split_once(" (it does"))
        .map(|(list, _)| list.split(", ").collect())
        .unwrap_or_default();
    assert!(unhooked.contains(&"tuxcall"), "{line}");
    // The built-in policy's calls are hooked, umount2 too (its tracepoint is sys_exit_umount).
    for hooked in ["mount", "umount2", "chroot", "unshare", "ptrace"] {
        assert!(
            !unhooked.contains(&hooked),
            "{hooked} is not hooked: {line}"
        );
    }
    drop(sub);
    drop(sensor);

    let sensor = Sensor::start(&[&policy[..], &["--exit-hook", "all"]].concat()).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    let pid = trigger(&cg, &["syscall", TUXCALL]);
    let ev = sub.expect_event("the tuxcall", call("tuxcall", pid)).await;
    assert_eq!(outcome(&ev), (OutcomeKind::Failed, "ENOSYS".to_owned()));
    let pid = trigger(&cg, &["syscall-seccomp", TUXCALL]);
    let ev = sub
        .expect_event("the refused tuxcall", call("tuxcall", pid))
        .await;
    assert_eq!(
        outcome(&ev),
        (OutcomeKind::BlockedBeforeEntry, "EPERM".to_owned())
    );
}

/// Compat (i386) calls have no per-syscall exit tracepoint: only `--exit-hook all` sees their
/// exits, and then they carry their outcome. One refused by a seccomp filter (no entry seen)
/// is reported too, with its outcome unknown: a thread's syscall file does not say its ABI,
/// so a compat call in flight at start cannot be told from a refused one.
#[cfg(target_arch = "x86_64")]
#[tokio::test]
async fn compat_calls_get_their_outcome_when_every_exit_is_hooked() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("exits-compat");
    let sensor = Sensor::start(&["--exit-hook", "all"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    let i386 = |name: &'static str, pid: u32| {
        move |ev: &Event| {
            flagged(ev).is_some_and(|s| s.name == name && s.arch == "i386") && header(ev).pid == pid
        }
    };
    // chroot("/") (61) succeeds.
    let pid = trigger(&cg, &["int80", "61", "s:/"]);
    let ev = sub
        .expect_event("the i386 chroot", i386("chroot", pid))
        .await;
    assert_eq!(outcome(&ev), (OutcomeKind::Succeeded, String::new()));
    // mount (21) onto a missing directory fails. Its strings are on pages the process never
    // touched, unreadable at the entry: read again at the exit.
    let untouched = [
        "21",
        "u:none",
        "u:/nonexistent-sensor-e2e",
        "u:tmpfs",
        "0",
        "0",
    ];
    let pid = trigger(&cg, &[&["int80"][..], &untouched].concat());
    let ev = sub.expect_event("the i386 mount", i386("mount", pid)).await;
    assert_eq!(outcome(&ev), (OutcomeKind::Failed, "ENOENT".to_owned()));
    assert_eq!(
        arg(&ev, "target").map(|(v, _)| v),
        Some("/nonexistent-sensor-e2e"),
        "the target, from the i386 registers at the exit: {ev:?}"
    );
    assert!(flagged(&ev).is_some_and(|f| f.args_read_at_exit), "{ev:?}");
    let mount = [
        "21",
        "s:none",
        "s:/nonexistent-sensor-e2e",
        "s:tmpfs",
        "0",
        "0",
    ];
    // Refused by a filter before it entered: seen at its exit only.
    let pid = trigger(&cg, &[&["int80-seccomp"][..], &mount].concat());
    let ev = sub
        .expect_event("the refused i386 mount", i386("mount", pid))
        .await;
    assert_eq!(outcome(&ev).0, OutcomeKind::Unknown);
}
