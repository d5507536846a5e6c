//! Calls a generated profile allows whether or not they were seen: harmless calls whose use
//! depends on timing, so that one recording can miss them (the workload's, and the runtime's
//! own between its filter and the workload's exec). A miss is not harmless: dash's
//! `wait` makes `rt_sigsuspend` only when the child is still running; refused, dash gets
//! EPERM and retries forever (pid 1 spinning at 95% CPU). None of these gives a process
//! anything it did not have: they wait, sleep, yield, return from signals, or exit.
//!
//! A profile request can replace the set (`always_allowed`) or turn it off; the profile says
//! which calls came from it rather than from observation.

/// The default set, each with its reason.
pub const ALWAYS_ALLOWED: &[(&str, &str)] = &[
    (
        "rt_sigreturn",
        "returning from a signal handler: any process that gets a signal",
    ),
    ("sigreturn", "the same on i386"),
    (
        "restart_syscall",
        "the kernel itself restarts an interrupted sleep with it",
    ),
    (
        "rt_sigsuspend",
        "waiting for a signal (dash's `wait` while the child still runs)",
    ),
    ("rt_sigtimedwait", "waiting for a signal, with a timeout"),
    ("rt_sigprocmask", "blocking signals around a wait"),
    ("pause", "waiting for a signal"),
    ("nanosleep", "sleeping"),
    ("clock_nanosleep", "sleeping"),
    (
        "sched_yield",
        "yielding the CPU (spin locks under contention)",
    ),
    ("wait4", "waiting for a child"),
    ("waitid", "waiting for a child"),
    ("exit", "a thread ending"),
    ("exit_group", "a process ending"),
    // A threaded runtime's housekeeping, at times that depend on scheduling: runc's init is a
    // Go program, and under its own filter (before the workload's exec) its scheduler, garbage
    // collector and preemption may or may not run. Seen: a profile without a futex wake
    // made runc 1.1.5's init crash in `futexwakeup` under the filter (one CI run; the local
    // runs before had made the call while learning).
    (
        "futex",
        "waiting on and waking a lock (any threaded program, when contended)",
    ),
    ("epoll_pwait", "Go's network poller idling"),
    ("epoll_wait", "the same, older form"),
    (
        "tgkill",
        "Go's scheduler preempting its own threads with a signal",
    ),
    ("getpid", "the same (tgkill names its own process)"),
    ("gettid", "the same (and thread-local bookkeeping)"),
    ("madvise", "a garbage collector returning memory"),
    ("munmap", "the same"),
    ("mmap", "a heap growing"),
];

/// The set a request asks for: `given` when it names calls, none when `off`, else the
/// default. Unknown names are an error (with the name).
pub fn resolve(given: &[String], off: bool) -> Result<Vec<&'static str>, String> {
    if off {
        return Ok(Vec::new());
    }
    if given.is_empty() {
        return Ok(ALWAYS_ALLOWED.iter().map(|(n, _)| *n).collect());
    }
    given
        .iter()
        .map(|n| crate::syscalls::known_name(n).ok_or_else(|| format!("unknown syscall {n:?}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{self, Arch};

    #[test]
    fn every_default_is_a_syscall_of_a_profile_abi() {
        for (name, why) in ALWAYS_ALLOWED {
            assert!(!why.is_empty());
            assert!(
                [Arch::X86_64, Arch::I386, Arch::Aarch64]
                    .iter()
                    .any(|a| syscalls::number(*a, name).is_some()),
                "{name}"
            );
        }
    }

    #[test]
    fn a_request_replaces_or_turns_off_the_set() {
        assert_eq!(resolve(&[], false).unwrap().len(), ALWAYS_ALLOWED.len());
        assert!(resolve(&["futex".into()], true).unwrap().is_empty());
        assert_eq!(resolve(&["futex".into()], false).unwrap(), ["futex"]);
        assert!(
            resolve(&["nosuch".into()], false)
                .unwrap_err()
                .contains("nosuch")
        );
    }
}
