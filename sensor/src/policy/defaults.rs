//! The built-in forbidden set: the syscalls Docker's (Moby's) default seccomp profile blocks
//! outright, or allows only with a capability a normal container lacks, each with a severity
//! ([`DEFAULT_SYSCALLS`], with Moby's argument conditions in [`DEFAULT_CONDITIONS`]); plus a
//! few calls Moby allows that a security team still wants to see, each with its reason
//! ([`WATCHED_THOUGH_ALLOWED`]). `sensor/data/moby-default-seccomp-x86_64.txt` holds Moby's
//! profile as data; the tests below compare the sets name by name and condition by condition.
//! Names absent on an ABI (i386 leftovers on x86_64, most of them on aarch64) are skipped
//! there.
use super::{
    Severity::{self, *},
    condition::Op,
};

pub const DEFAULT_SYSCALLS: &[(&str, Severity)] = &[
    // Loading code into the kernel, or replacing it.
    ("init_module", Critical),
    ("finit_module", Critical),
    ("delete_module", Critical),
    ("create_module", Critical),
    ("kexec_load", Critical),
    ("kexec_file_load", Critical),
    ("bpf", Critical),
    // Other processes' memory and files, and file handles that escape mount namespaces.
    ("pidfd_getfd", High),
    ("process_madvise", Medium),
    ("open_by_handle_at", Critical),
    // Mounts, root changes and namespaces.
    ("mount", High),
    ("umount", High),
    ("umount2", High),
    ("pivot_root", High),
    ("chroot", Medium),
    ("move_mount", High),
    ("open_tree", High),
    ("fsopen", High),
    ("fsconfig", High),
    ("fsmount", High),
    ("fspick", High),
    ("mount_setattr", High),
    // Linux 6.15, newer than Moby's profile (which refuses what it does not list): open_tree
    // and mount_setattr in one call.
    ("open_tree_attr", High),
    ("unshare", High),
    ("clone", High),
    ("clone3", High),
    ("setns", High),
    // Keys, perf, userfaultfd, io_uring: large kernel attack surface.
    ("keyctl", High),
    ("add_key", High),
    ("request_key", High),
    ("perf_event_open", High),
    ("userfaultfd", High),
    // The machine itself: swap, reboot, clocks, accounting, quotas, I/O ports.
    ("swapon", High),
    ("swapoff", High),
    ("reboot", High),
    ("iopl", High),
    ("ioperm", High),
    ("settimeofday", Medium),
    ("clock_settime", Medium),
    ("clock_settime64", Medium),
    ("stime", Medium),
    ("sethostname", Medium),
    ("setdomainname", Medium),
    ("acct", Medium),
    ("quotactl", Medium),
    ("quotactl_fd", Medium),
    ("syslog", Medium),
    ("vhangup", Medium),
    ("fanotify_init", Medium),
    ("lookup_dcookie", Medium),
    ("kcmp", Medium),
    ("personality", Low),
    ("socket", Medium),
    // Obsolete calls nothing legitimate in a container makes.
    ("uselib", Medium),
    ("ustat", Low),
    ("sysfs", Low),
    ("_sysctl", Low),
    ("nfsservctl", Low),
    ("get_kernel_syms", Low),
    ("query_module", Low),
    ("vm86", Medium),
    ("vm86old", Medium),
];

/// Calls Moby allows that a security team still wants to see: `(syscall, severity, why)`.
pub const WATCHED_THOUGH_ALLOWED: &[(&str, Severity, &str)] = &[
    (
        "ptrace",
        Critical,
        "attaching to another process, or writing its memory or registers (see its condition)",
    ),
    (
        "process_vm_writev",
        Critical,
        "writes another process's memory without ptrace",
    ),
    (
        "process_vm_readv",
        High,
        "reads another process's memory (secrets) without ptrace",
    ),
    (
        "name_to_handle_at",
        Medium,
        "half of the open_by_handle_at escape (Shocker): probes for file handles",
    ),
    (
        "io_uring_setup",
        Medium,
        "a ring's operations pass no syscall hook and no seccomp filter; flagged once, when it is made",
    ),
];

/// io_uring operations flagged by default, each with its reason. A ring's operations pass no
/// syscall hook and no seccomp filter (a profile that allows `io_uring_enter` allows them
/// all), so these are seen at the ring (`io_uring:io_uring_submit_req`), decided in the
/// kernel like syscalls. Reads, writes, opens and the rest of a ring's daily work are learned
/// (and listed with a profile), not flagged.
pub const WATCHED_IO_URING: &[(&str, Severity, &str)] = &[
    (
        "io_uring:socket",
        Medium,
        "creates a socket that no seccomp filter on socket() sees (Moby refuses AF_VSOCK; a ring is not asked)",
    ),
    (
        "io_uring:uring_cmd",
        Medium,
        "passes a command to a driver or socket (NVMe passthrough, setsockopt) that no syscall filter sees",
    ),
    (
        "io_uring:connect",
        Low,
        "opens a connection that a seccomp filter on connect() cannot refuse",
    ),
];

/// The argument conditions of the built-in rules (Moby's conditional blocks): the call is
/// flagged only when its argument matches. `(syscall, argument, op, values)`.
pub const DEFAULT_CONDITIONS: &[(&str, &str, Op, &[&str])] = &[
    // Namespaces: only with a CLONE_NEW* flag (a plain fork or unshare(CLONE_FILES) is not).
    ("unshare", "flags", Op::AnyOf, crate::args::CLONE_NEW),
    ("clone", "flags", Op::AnyOf, crate::args::CLONE_NEW_LEGACY),
    ("clone3", "flags", Op::AnyOf, crate::args::CLONE_NEW),
    // Docker allows these personalities: Linux, with UNAME26, with ADDR_NO_RANDOMIZE... and
    // the query 0xffffffff.
    (
        "personality",
        "persona",
        Op::NotIn,
        &["0x0", "0x8", "0x20000", "0x20008", "0xffffffff"],
    ),
    // Moby refuses AF_VSOCK sockets: a way out of a VM's guest.
    ("socket", "domain", Op::In, &["AF_VSOCK"]),
    // Attaching to another process or writing its memory or registers, by any request that
    // writes them (reading is what debuggers and profilers in a container do all day; Docker
    // allows ptrace). A tracer its child asked for (PTRACE_TRACEME) writes without attaching.
    // Registers include x86's fs/gs base (ARCH_PRCTL, which also reads them: one request),
    // TLS descriptors and i386's FP/SSE set, and the syscall a tracee is about to make or
    // has made (SET_SYSCALL_INFO, Linux 6.16).
    (
        "ptrace",
        "request",
        Op::In,
        &[
            "PTRACE_ATTACH",
            "PTRACE_SEIZE",
            "PTRACE_POKETEXT",
            "PTRACE_POKEDATA",
            "PTRACE_POKEUSER",
            "PTRACE_SETREGS",
            "PTRACE_SETFPREGS",
            "PTRACE_SETREGSET",
            "PTRACE_SETFPXREGS",
            "PTRACE_SET_THREAD_AREA",
            "PTRACE_ARCH_PRCTL",
            "PTRACE_SET_SYSCALL_INFO",
        ],
    ),
];

/// Calls Moby's profile refuses without CAP_SYS_NICE that carry no security meaning in a
/// container: NUMA memory policy, which `ps`, `top` and every libnuma program use. They are
/// not flagged unless a policy file asks for them (`[syscalls] mbind = "low"`).
pub const OFF_BY_DEFAULT: &[(&str, &str)] = &[
    ("mbind", "NUMA memory policy of the caller's own pages"),
    (
        "set_mempolicy",
        "NUMA memory policy of the caller; ps and top call it",
    ),
    (
        "get_mempolicy",
        "reads the caller's NUMA policy; ps and top call it",
    ),
    ("move_pages", "moves the caller's pages between NUMA nodes"),
    (
        "set_mempolicy_home_node",
        "NUMA home node of the caller's own range",
    ),
];

#[cfg(test)]
mod moby {
    //! The built-in set against Moby's default profile, as data.
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::{
        policy::{Policy, condition::Op},
        syscalls::{self, Arch},
    };

    const DATA: &str = include_str!("../../data/moby-default-seccomp-x86_64.txt");

    #[derive(Default)]
    struct Moby {
        allow: BTreeSet<&'static str>,
        /// name -> the capabilities that allow it
        caps: BTreeMap<&'static str, Vec<&'static str>>,
        /// name -> (index, op, value) lines
        args: BTreeMap<&'static str, Vec<(u64, &'static str, u64)>>,
    }

    fn number(s: &str) -> u64 {
        match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap(),
            None => s.parse().unwrap(),
        }
    }

    fn moby() -> Moby {
        let mut m = Moby::default();
        for line in DATA.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("allow") => m.allow.extend(words),
                Some("cap") => {
                    let cap = words.next().unwrap();
                    for n in words {
                        m.caps.entry(n).or_default().push(cap);
                    }
                }
                Some("arg") => {
                    let w: Vec<&str> = words.collect();
                    m.args
                        .entry(w[0])
                        .or_default()
                        .push((number(w[1]), w[2], number(w[3])));
                }
                _ => {}
            }
        }
        m
    }

    fn exists(name: &str) -> bool {
        [Arch::X86_64, Arch::I386]
            .into_iter()
            .any(|a| syscalls::number(a, name).is_some())
    }

    #[test]
    fn every_call_moby_refuses_without_a_capability_is_flagged_or_named_off() {
        let m = moby();
        let p = Policy::builtin();
        let off: BTreeSet<&str> = OFF_BY_DEFAULT.iter().map(|(n, _)| *n).collect();
        let refused = m.caps.keys().filter(|n| !m.allow.contains(*n) && exists(n));
        let mut checked = 0;
        for name in refused {
            assert!(
                p.syscalls.contains_key(name) || off.contains(name),
                "Moby refuses {name} without {:?}; the built-in policy neither flags it nor \
                 says why not (OFF_BY_DEFAULT)",
                m.caps[name]
            );
            checked += 1;
        }
        assert!(checked > 40, "the data was read: {checked}");
    }

    #[test]
    fn every_built_in_call_is_refused_by_moby_or_named_with_its_reason() {
        let m = moby();
        let watched: BTreeSet<&str> = WATCHED_THOUGH_ALLOWED.iter().map(|(n, ..)| *n).collect();
        for (name, _) in DEFAULT_SYSCALLS {
            assert!(
                !m.allow.contains(name),
                "{name} is in DEFAULT_SYSCALLS but Moby allows it to every container: move it \
                 to WATCHED_THOUGH_ALLOWED with its reason, or drop it"
            );
            assert!(!watched.contains(name), "{name} is in both lists");
        }
        for (name, _, why) in WATCHED_THOUGH_ALLOWED {
            assert!(
                m.allow.contains(name),
                "{name} is refused by Moby: not 'though allowed'"
            );
            assert!(!why.is_empty());
        }
    }

    #[test]
    fn the_conditions_are_moby_s() {
        let m = moby();
        let p = Policy::builtin();
        // personality: Moby allows exactly these values; the sensor flags the others.
        let allowed: BTreeSet<u64> = m.args["personality"].iter().map(|a| a.2).collect();
        let c = &p.conditions["personality"];
        assert_eq!(c.op, Op::NotIn);
        assert_eq!(c.values.iter().copied().collect::<BTreeSet<_>>(), allowed);
        // socket: Moby allows every domain but one; the sensor flags that one.
        assert_eq!(m.args["socket"], [(0, "NE", 40)]);
        let c = &p.conditions["socket"];
        assert_eq!((c.arg, c.op, c.values.as_slice()), (0, Op::In, &[40][..]));
        // clone: Moby allows it when none of its namespace bits is set; the sensor flags
        // any of them. clone3 and unshare also with CLONE_NEWTIME, which Moby's mask
        // predates (clone cannot ask for it: that bit of its flags is the exit signal's).
        let (idx, _, mask) = m.args["clone"][0];
        let c = &p.conditions["clone"];
        assert_eq!((c.arg as u64, c.op), (idx, Op::AnyOf));
        assert_eq!(c.values[0], mask, "the bits Moby tests");
        for n in ["clone3", "unshare"] {
            assert_eq!(p.conditions[n].values, [mask | 0x80], "{n}");
        }
    }
}
