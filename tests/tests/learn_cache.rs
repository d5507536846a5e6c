//! The kernel's learn cache is keyed by the task (each CPU remembers the task that ran last
//! and which calls its cgroup is known to make), so a task that moves to another cgroup must
//! be learned there afresh, even for the calls it made before the move, on the same CPU.
//!
//! A shell pinned to one CPU joins cgroup `a` and then cgroup `b` with the same redirection:
//! after each `echo 0 > cgroup.procs` it restores its stdout (`dup2`) and closes the file
//! (`close`). In `b`, those two come right after the move, by the same task on the same CPU
//! that made them in `a` a moment before: `b` must still get a first use of each.
use sensor_proto::v1::{EventKind, event::Body};
use sensor_tests::{cgroup::TestCgroup, ready, sensor::Sensor, subscriber::Subscriber};

/// Rounds, each with fresh cgroups: a task of another cgroup running on that CPU between
/// the two moves would refill the cache and hide a stale one, so one round could pass by luck.
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
