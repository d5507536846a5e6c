//! The kernel's learn cache is keyed by the task (each CPU remembers the task that ran last
//! and which calls its cgroup is known to make), so a task that moves to another cgroup must
//! be learned there afresh, even for the calls it made before the move, on the same CPU.
//!
//! A shell pinned to one CPU joins cgroup `a` and then cgroup `b` with the same redirection:
//! after each `echo 0 > cgroup.procs` it restores its stdout (`dup2`) and closes the file
//! (`close`). In `b`, those two come right after the move, by the same task on the same CPU
//! that made them in `a` a moment before: `b` must still get a first use of each.
//!
//! A hit on a call whose entry has nothing else to do (not forbidden, among others) ends
//! `sys_enter`; a call that a reload newly forbids must then be flagged at once, even when
//! the task making it has it cached: a shell pinned to one CPU makes `dup2` in a tight loop
//! while the policy starts flagging `dup2`, five times.
use std::time::Duration;

use sensor_proto::v1::{EventKind, event::Body};
use sensor_tests::{
    cgroup::{ScratchDir, TestCgroup},
    ready, replace_file,
    sensor::Sensor,
    subscriber::{Subscriber, flagged_by, flagged_in},
    wait_until,
};

/// Rounds of each test: a task of another cgroup running on that CPU at the wrong moment
/// would refill the cache and hide a stale one, so one round could pass by luck.
const ROUNDS: usize = 5;

#[tokio::test]
async fn a_task_that_changes_cgroup_is_learned_afresh_in_the_new_one() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    let parent = TestCgroup::new("learn-move");
    for round in 0..ROUNDS {
        let a = parent.child(&format!("a{round}"));
        let b = parent.child(&format!("b{round}"));
        let mut sub = Subscriber::for_cgroup(&sensor.addr, b.id(), &[EventKind::SyscallSeen]).await;
        let script = format!(
            "echo 0 > {}/cgroup.procs; echo 0 > {}/cgroup.procs",
            a.path().display(),
            b.path().display()
        );
        let status = std::process::Command::new("taskset")
            .args(["-c", "0", "sh", "-c", &script])
            .status()
            .expect("run taskset sh");
        assert!(status.success(), "the shell could not join its cgroups");
        for (name, nr) in [("dup2", libc::SYS_dup2), ("close", libc::SYS_close)] {
            sub.expect_event(
                &format!("round {round}: {name} learned in b"),
                |ev| matches!(&ev.body, Some(Body::SyscallSeen(s)) if s.number == nr as u64),
            )
            .await;
        }
        // Nothing of the shell's is left in b: its exit_group, a first use too.
        sub.expect_event(&format!("round {round}: exit_group in b"), |ev| {
            matches!(&ev.body, Some(Body::SyscallSeen(s)) if s.number == libc::SYS_exit_group as u64)
        })
        .await;
        drop(b);
        drop(a);
    }
}

/// Kills and reaps the looping shell however the test ends.
struct Looping(std::process::Child);

impl Drop for Looping {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `policy` to `file`, signals the sensor and waits until it is in force (the
/// `reloads`-th reload).
fn reload(sensor: &Sensor, file: &std::path::Path, policy: &str, reloads: usize) {
    replace_file(file, policy);
    // SAFETY: signalling the sensor this test started.
    unsafe { libc::kill(sensor.pid() as i32, libc::SIGHUP) };
    let in_force = wait_until(Duration::from_secs(10), || {
        sensor.log_text().matches("(SIGHUP): in force").count() >= reloads
    });
    assert!(
        in_force,
        "reload {reloads} not logged:\n{}",
        sensor.log_text()
    );
}

#[tokio::test]
async fn a_call_a_reload_forbids_is_flagged_though_the_cache_knows_it() {
    if !ready() {
        return;
    }
    const WITHOUT: &str = "[syscalls]\nmount = \"high\"\n";
    const WITH: &str = "[syscalls]\nmount = \"high\"\ndup2 = \"low\"\n";
    let dir = ScratchDir::new("reload-cached");
    let file = dir.path().join("policy.toml");
    replace_file(&file, WITHOUT);
    let sensor = Sensor::start(&["--policy", file.to_str().unwrap()]).await;
    let cg = TestCgroup::new("reload-cached");
    let mut seen = Subscriber::for_cgroup(&sensor.addr, cg.id(), &[EventKind::SyscallSeen]).await;
    // Every `:>/dev/null` restores the shell's stdout with dup2: the call, over and over.
    let script = format!(
        "echo 0 > {}/cgroup.procs; while :; do :>/dev/null; done",
        cg.path().display()
    );
    let shell = Looping(
        std::process::Command::new("taskset")
            .args(["-c", "0", "sh", "-c", &script])
            .spawn()
            .expect("run taskset sh"),
    );
    let pid = shell.0.id();
    seen.expect_event(
        "dup2 learned in the cgroup",
        |ev| matches!(&ev.body, Some(Body::SyscallSeen(s)) if s.number == libc::SYS_dup2 as u64),
    )
    .await;
    // Rounds: another task running on that CPU at the reload would refill the cache and hide
    // a stale one, so one round could pass by luck. Between rounds dup2 is allowed again,
    // and the looping shell has it cached again long before the next reload is in force.
    let mut reloads = 0;
    for round in 0..ROUNDS {
        if round > 0 {
            reloads += 1;
            reload(&sensor, &file, WITHOUT, reloads);
        }
        // Subscribed after the call is allowed: what it gets comes from the next reload.
        let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
            .await
            .expect("subscribe");
        reloads += 1;
        reload(&sensor, &file, WITH, reloads);
        sub.expect_event(
            &format!("round {round}: the looping shell's dup2, flagged"),
            flagged_by(pid, "dup2"),
        )
        .await;
    }
    drop(shell);
}
