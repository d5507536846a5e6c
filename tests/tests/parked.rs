//! Flagged calls between their entry and their exit: when the kernel has no room to park
//! one, no call is lost and none is taken for a seccomp refusal; an exit whose entry ran
//! before the sensor started, or before a reload forbade the call, is not called "blocked
//! before entry" either.
//!
//! The forbidden call is `rt_sigtimedwait` (by this test's policy), which a thread can be
//! kept inside for as long as the test needs: it waits for a signal that never comes.
use std::{collections::BTreeSet, time::Duration};

use sensor_proto::v1::{self as pb, OutcomeKind};
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready,
    sensor::{Sensor, http_get},
    subscriber::{Subscriber, flagged, flagged_by, flagged_in, header, outcome},
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const CALL: &str = "rt_sigtimedwait";

fn policy(dir: &ScratchDir) -> String {
    let file = dir.path().join("policy.toml");
    std::fs::write(
        &file,
        format!("[syscalls]\n{CALL} = {{ severity = \"low\" }}\n"),
    )
    .unwrap();
    file.to_str().unwrap().to_owned()
}

fn kernel_counter(sensor: &Sensor, name: &str) -> u64 {
    let (_, body) = http_get(&sensor.metrics, "/metrics").expect("scrape");
    let label = format!("{{counter=\"{name}\"}} ");
    body.lines()
        .filter(|l| l.starts_with("sensor_kernel"))
        .find_map(|l| l.split_once(&label)?.1.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sensor_kernel counter {name} in:\n{body}"))
}

/// Waits (bounded) until a thread of `pid` is inside syscall `nr`, as /proc says.
fn await_inside(pid: u32, nr: i64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if inside(pid, nr) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn inside(pid: u32, nr: i64) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).any(|t| {
        std::fs::read_to_string(t.path().join("syscall"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<i64>().ok())
            == Some(nr)
    })
}

#[tokio::test]
async fn a_full_parking_map_loses_no_call_and_calls_none_blocked() {
    if !ready() {
        return;
    }
    let dir = ScratchDir::new("parked");
    let policy = policy(&dir);
    let cg = TestCgroup::new("parked-full");
    // Room for one parked call: four threads inside the call at once overflow it.
    let sensor = Sensor::start(&["--no-cri", "--policy", &policy, "--pending-capacity", "1"]).await;
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    const THREADS: usize = 4;
    // Under a seccomp filter: an exit the kernel found no entry for would be taken for a
    // refusal if the entry had been evicted.
    let pid = sensor_tests::trigger(TRIGGER, &cg, &["timedwait", "4", "600", "filtered"]);
    let mut events: Vec<pb::Event> = Vec::new();
    for _ in 0..THREADS {
        events.push(
            sub.expect_event("a flagged rt_sigtimedwait", flagged_by(pid, CALL))
                .await,
        );
    }
    let tids: BTreeSet<u32> = events.iter().map(|e| header(e).tid).collect();
    assert_eq!(tids.len(), THREADS, "one event per thread: {events:#?}");
    for ev in &events {
        assert_eq!(
            outcome(ev),
            (OutcomeKind::Failed, "EAGAIN".to_owned()),
            "each call entered and timed out: {ev:#?}"
        );
    }
    let at_exit = events
        .iter()
        .filter(|e| flagged(e).is_some_and(|f| f.args_read_at_exit))
        .count();
    assert!(
        at_exit >= 1,
        "some calls found no room and were built at their exit: {events:#?}"
    );
    let full = kernel_counter(&sensor, "pending_full");
    assert!(
        full >= at_exit as u64,
        "each unparked call is counted: pending_full={full}, built at exit={at_exit}"
    );
}

/// A call already inside when the sensor starts exits without an entry. Under no filter and
/// under a seccomp filter (as in every container) alike, it is not called blocked: the
/// sensor marks the threads inside a forbidden call when it starts.
#[tokio::test]
async fn an_exit_whose_entry_came_before_the_sensor_is_not_called_blocked() {
    if !ready() {
        return;
    }
    let dir = ScratchDir::new("parked-early");
    let policy = policy(&dir);
    for filtered in [false, true] {
        let cg = TestCgroup::new("parked-early");
        let mut args = vec!["timedwait", "1", "5000"];
        args.extend(filtered.then_some("filtered"));
        let mut waiter = Waiter::inside_the_call(&cg, &args);
        let pid = waiter.0.id();
        let sensor = Sensor::start(&["--no-cri", "--policy", &policy]).await;
        assert!(
            inside(pid, libc::SYS_rt_sigtimedwait),
            "the call ended before the sensor was ready: this test needs a longer wait"
        );
        let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
            .await
            .expect("subscribe");
        let ev = sub
            .expect_event(
                "the rt_sigtimedwait seen at its exit only",
                flagged_by(pid, CALL),
            )
            .await;
        assert_eq!(
            outcome(&ev),
            (OutcomeKind::Failed, "EAGAIN".to_owned()),
            "filtered={filtered}: it entered and timed out, no filter refused it: {ev:#?}"
        );
        assert!(flagged(&ev).is_some_and(|f| f.args_read_at_exit), "{ev:#?}");
        let status = waiter.0.wait().expect("wait sensor-trigger");
        assert!(status.success(), "sensor-trigger failed: {status}");
    }
}

/// A call that a reload newly forbids while a thread under a seccomp filter is inside it
/// exits without an entry too: each reload marks the threads inside a call it newly forbids,
/// so it is reported with its outcome, not as blocked.
#[tokio::test]
async fn a_call_a_reload_forbids_while_it_runs_is_not_called_blocked() {
    if !ready() {
        return;
    }
    let dir = ScratchDir::new("parked-reload");
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, "[syscalls]\nchroot = \"low\"\n").unwrap();
    let sensor = Sensor::start(&["--no-cri", "--policy", file.to_str().unwrap()]).await;
    let cg = TestCgroup::new("parked-reload");
    let mut waiter = Waiter::inside_the_call(&cg, &["timedwait", "1", "6000", "filtered"]);
    let pid = waiter.0.id();
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    // Now forbid it (the new file appears whole, as an editor or a ConfigMap writes it).
    let next = dir.path().join("policy.toml.new");
    std::fs::write(&next, format!("[syscalls]\n{CALL} = \"low\"\n")).unwrap();
    std::fs::rename(&next, &file).unwrap();
    // The reload is polled: there is no event to await until the call ends.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sensor.metric("sensor_policy_reloads_total") < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the policy never reloaded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        inside(pid, libc::SYS_rt_sigtimedwait),
        "the call ended before the reload: this test needs a longer wait"
    );
    let ev = sub
        .expect_event("the call, seen at its exit", flagged_by(pid, CALL))
        .await;
    assert_eq!(
        outcome(&ev),
        (OutcomeKind::Failed, "EAGAIN".to_owned()),
        "it entered before it was forbidden and timed out: {ev:#?}"
    );
    assert!(flagged(&ev).is_some_and(|f| f.args_read_at_exit), "{ev:#?}");
    let status = waiter.0.wait().expect("wait sensor-trigger");
    assert!(status.success(), "sensor-trigger failed: {status}");
}

/// The trigger, killed if the test fails before it ends.
struct Waiter(std::process::Child);

impl Waiter {
    /// The trigger doing `args` in `cg`, once a thread of it is inside rt_sigtimedwait.
    fn inside_the_call(cg: &TestCgroup, args: &[&str]) -> Self {
        let waiter = Waiter(
            std::process::Command::new(TRIGGER)
                .arg(cg.path())
                .args(args)
                .spawn()
                .expect("spawn sensor-trigger"),
        );
        assert!(
            await_inside(waiter.0.id(), libc::SYS_rt_sigtimedwait),
            "the trigger never entered rt_sigtimedwait"
        );
        waiter
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
