//! The built-in forbidden set: the syscalls Docker's (Moby's) default seccomp profile blocks
//! outright, or allows only with a capability a normal container lacks, each with a severity.
//! Names absent on the running architecture (i386 leftovers on x86_64, most of them on
//! aarch64) are skipped there.
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
    // Other processes' memory, and file handles that escape mount namespaces.
    ("ptrace", Critical),
    ("process_vm_writev", Critical),
    ("process_vm_readv", High),
    ("open_by_handle_at", Critical),
    ("name_to_handle_at", Medium),
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
    ("io_uring_setup", Medium),
    ("io_uring_enter", Medium),
    ("io_uring_register", Medium),
    // The machine itself: swap, reboot, clocks, accounting, quotas, I/O ports.
    ("swapon", High),
    ("swapoff", High),
    ("reboot", High),
    ("iopl", High),
    ("ioperm", High),
    ("settimeofday", Medium),
    ("clock_settime", Medium),
    ("clock_adjtime", Medium),
    ("stime", Medium),
    ("acct", Medium),
    ("quotactl", Medium),
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

/// The argument conditions of the built-in rules (Moby's conditional blocks): the call is
/// flagged only when its argument matches. `(syscall, argument, op, values)`.
pub const DEFAULT_CONDITIONS: &[(&str, &str, Op, &[&str])] = &[
    // Namespaces: only with a CLONE_NEW* flag (a plain fork or unshare(CLONE_FILES) is not).
    ("unshare", "flags", Op::AnyOf, crate::args::CLONE_NEW),
    ("clone", "flags", Op::AnyOf, crate::args::CLONE_NEW),
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
    // Attaching to another process or writing its memory or registers (reading is what
    // debuggers and profilers in a container do all day; Docker allows ptrace).
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
];
