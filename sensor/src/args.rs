//! Decoding a flagged call's arguments into what a person reads: strings from user memory,
//! flag names, request and command names. One table says, for each syscall, what each
//! argument is; the kernel side reads the string arguments the same table marks.
use sensor_common::{POINTEE_WORDS, read_mask::with_pointee};

use crate::{
    event::DecodedArg,
    syscalls::{self, Arch},
};

/// What the kernel side read where a call's argument points ([`Param::FlagsAt`],
/// [`Param::StructAt`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pointee {
    /// Nothing was read (the call has no such argument).
    None,
    /// The first [`POINTEE_WORDS`] u64 words where argument `.0` points.
    Read(usize, [u64; POINTEE_WORDS]),
    /// Where argument `.0` points could not be read.
    Unreadable(usize),
}

/// A string argument as the kernel side read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgString {
    /// Which argument (0-5).
    pub arg: usize,
    pub bytes: Vec<u8>,
    pub truncated: bool,
    /// The pointer could not be read (bad address, or the page was not resident).
    pub unreadable: bool,
}

/// What one argument is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// A NUL-terminated string in user memory (read by the kernel side).
    Str(&'static str),
    /// A bit set, named from a table.
    Flags(&'static str, &'static [(u64, &'static str)]),
    /// A bit set whose low byte ([`CLONE_SIGNAL_BYTE`]) is a signal, not flags (legacy
    /// clone's exit signal): shown by name after the flags (`CLONE_NEWNS|SIGCHLD`), and never
    /// in a condition's mask.
    FlagsSignal(&'static str, &'static [(u64, &'static str)]),
    /// A pointer to a u64 bit set in user memory (clone3's `struct clone_args`, flags
    /// first): the kernel side reads the bits, which are shown and which conditions test.
    FlagsAt(&'static str, &'static [(u64, &'static str)]),
    /// A pointer to a struct of u64 fields in user memory (at most [`POINTEE_WORDS`]; the
    /// size argument says how many are the caller's: `size`): the kernel side reads them,
    /// each is shown as its `Param` says, and a condition tests the first.
    StructAt(&'static str, &'static [Param]),
    /// One value, named from a table.
    Enum(&'static str, &'static [(u64, &'static str)]),
    /// A signed integer (pid, fd, length).
    Int(&'static str),
    /// A pointer or anything else shown in hex.
    Hex(&'static str),
}

impl Param {
    pub fn name(self) -> &'static str {
        match self {
            Param::Str(n)
            | Param::Flags(n, _)
            | Param::FlagsSignal(n, _)
            | Param::FlagsAt(n, _)
            | Param::StructAt(n, _)
            | Param::Enum(n, _)
            | Param::Int(n)
            | Param::Hex(n) => n,
        }
    }
}

const MS: &[(u64, &str)] = &[
    (libc::MS_RDONLY, "MS_RDONLY"),
    (libc::MS_NOSUID, "MS_NOSUID"),
    (libc::MS_NODEV, "MS_NODEV"),
    (libc::MS_NOEXEC, "MS_NOEXEC"),
    (libc::MS_SYNCHRONOUS, "MS_SYNCHRONOUS"),
    (libc::MS_REMOUNT, "MS_REMOUNT"),
    (libc::MS_MANDLOCK, "MS_MANDLOCK"),
    (libc::MS_DIRSYNC, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (libc::MS_NOATIME, "MS_NOATIME"),
    (libc::MS_NODIRATIME, "MS_NODIRATIME"),
    (libc::MS_BIND, "MS_BIND"),
    (libc::MS_MOVE, "MS_MOVE"),
    (libc::MS_REC, "MS_REC"),
    (libc::MS_SILENT, "MS_SILENT"),
    (libc::MS_POSIXACL, "MS_POSIXACL"),
    (libc::MS_UNBINDABLE, "MS_UNBINDABLE"),
    (libc::MS_PRIVATE, "MS_PRIVATE"),
    (libc::MS_SLAVE, "MS_SLAVE"),
    (libc::MS_SHARED, "MS_SHARED"),
    (libc::MS_RELATIME, "MS_RELATIME"),
    (libc::MS_KERNMOUNT, "MS_KERNMOUNT"),
    (libc::MS_I_VERSION, "MS_I_VERSION"),
    (libc::MS_STRICTATIME, "MS_STRICTATIME"),
    (libc::MS_LAZYTIME, "MS_LAZYTIME"),
];
const UMOUNT: &[(u64, &str)] = &[
    (libc::MNT_FORCE as u64, "MNT_FORCE"),
    (libc::MNT_DETACH as u64, "MNT_DETACH"),
    (libc::MNT_EXPIRE as u64, "MNT_EXPIRE"),
    (8, "UMOUNT_NOFOLLOW"),
];
const CLONE_NS: &[(u64, &str)] = &[
    (libc::CLONE_NEWNS as u64, "CLONE_NEWNS"),
    (libc::CLONE_NEWCGROUP as u64, "CLONE_NEWCGROUP"),
    (libc::CLONE_NEWUTS as u64, "CLONE_NEWUTS"),
    (libc::CLONE_NEWIPC as u64, "CLONE_NEWIPC"),
    (libc::CLONE_NEWUSER as u64, "CLONE_NEWUSER"),
    (libc::CLONE_NEWPID as u64, "CLONE_NEWPID"),
    (libc::CLONE_NEWNET as u64, "CLONE_NEWNET"),
    (0x80, "CLONE_NEWTIME"),
    (libc::CLONE_FILES as u64, "CLONE_FILES"),
    (libc::CLONE_FS as u64, "CLONE_FS"),
    (libc::CLONE_SYSVSEM as u64, "CLONE_SYSVSEM"),
];
/// Legacy clone's flags. Their low byte (`CSIGNAL`) is the child's exit signal, not flags:
/// CLONE_NEWTIME (0x80) cannot be asked for there (only through clone3 or unshare).
const CLONE_FLAGS: &[(u64, &str)] = &[
    (libc::CLONE_VM as u64, "CLONE_VM"),
    (libc::CLONE_FS as u64, "CLONE_FS"),
    (libc::CLONE_FILES as u64, "CLONE_FILES"),
    (libc::CLONE_SIGHAND as u64, "CLONE_SIGHAND"),
    (libc::CLONE_PIDFD as u64, "CLONE_PIDFD"),
    (libc::CLONE_PTRACE as u64, "CLONE_PTRACE"),
    (libc::CLONE_VFORK as u64, "CLONE_VFORK"),
    (libc::CLONE_PARENT as u64, "CLONE_PARENT"),
    (libc::CLONE_THREAD as u64, "CLONE_THREAD"),
    (libc::CLONE_NEWNS as u64, "CLONE_NEWNS"),
    (libc::CLONE_SYSVSEM as u64, "CLONE_SYSVSEM"),
    (libc::CLONE_SETTLS as u64, "CLONE_SETTLS"),
    (libc::CLONE_PARENT_SETTID as u64, "CLONE_PARENT_SETTID"),
    (libc::CLONE_CHILD_CLEARTID as u64, "CLONE_CHILD_CLEARTID"),
    (libc::CLONE_DETACHED as u64, "CLONE_DETACHED"),
    (libc::CLONE_UNTRACED as u64, "CLONE_UNTRACED"),
    (libc::CLONE_CHILD_SETTID as u64, "CLONE_CHILD_SETTID"),
    (libc::CLONE_NEWCGROUP as u64, "CLONE_NEWCGROUP"),
    (libc::CLONE_NEWUTS as u64, "CLONE_NEWUTS"),
    (libc::CLONE_NEWIPC as u64, "CLONE_NEWIPC"),
    (libc::CLONE_NEWUSER as u64, "CLONE_NEWUSER"),
    (libc::CLONE_NEWPID as u64, "CLONE_NEWPID"),
    (libc::CLONE_NEWNET as u64, "CLONE_NEWNET"),
    (libc::CLONE_IO as u64, "CLONE_IO"),
];
/// `CSIGNAL`: legacy clone's exit signal.
pub const CLONE_SIGNAL_BYTE: u64 = 0xff;
const SIGNALS: &[(u64, &str)] = &[
    (libc::SIGHUP as u64, "SIGHUP"),
    (libc::SIGINT as u64, "SIGINT"),
    (libc::SIGQUIT as u64, "SIGQUIT"),
    (libc::SIGILL as u64, "SIGILL"),
    (libc::SIGTRAP as u64, "SIGTRAP"),
    (libc::SIGABRT as u64, "SIGABRT"),
    (libc::SIGBUS as u64, "SIGBUS"),
    (libc::SIGFPE as u64, "SIGFPE"),
    (libc::SIGKILL as u64, "SIGKILL"),
    (libc::SIGUSR1 as u64, "SIGUSR1"),
    (libc::SIGSEGV as u64, "SIGSEGV"),
    (libc::SIGUSR2 as u64, "SIGUSR2"),
    (libc::SIGPIPE as u64, "SIGPIPE"),
    (libc::SIGALRM as u64, "SIGALRM"),
    (libc::SIGTERM as u64, "SIGTERM"),
    (libc::SIGCHLD as u64, "SIGCHLD"),
    (libc::SIGCONT as u64, "SIGCONT"),
    (libc::SIGSTOP as u64, "SIGSTOP"),
    (libc::SIGTSTP as u64, "SIGTSTP"),
    (libc::SIGTTIN as u64, "SIGTTIN"),
    (libc::SIGTTOU as u64, "SIGTTOU"),
    (libc::SIGURG as u64, "SIGURG"),
    (libc::SIGXCPU as u64, "SIGXCPU"),
    (libc::SIGXFSZ as u64, "SIGXFSZ"),
    (libc::SIGVTALRM as u64, "SIGVTALRM"),
    (libc::SIGPROF as u64, "SIGPROF"),
    (libc::SIGWINCH as u64, "SIGWINCH"),
    (libc::SIGIO as u64, "SIGIO"),
    (libc::SIGPWR as u64, "SIGPWR"),
    (libc::SIGSYS as u64, "SIGSYS"),
];
/// The namespace flags: what makes clone3 and unshare worth a look (CLONE_NEWTIME last).
pub const CLONE_NEW: &[&str] = &[
    "CLONE_NEWNS",
    "CLONE_NEWCGROUP",
    "CLONE_NEWUTS",
    "CLONE_NEWIPC",
    "CLONE_NEWUSER",
    "CLONE_NEWPID",
    "CLONE_NEWNET",
    "CLONE_NEWTIME",
];
/// The namespace flags legacy clone can carry: all but CLONE_NEWTIME (see [`CLONE_FLAGS`]).
pub const CLONE_NEW_LEGACY: &[&str] = CLONE_NEW.split_at(CLONE_NEW.len() - 1).0;
const AF: &[(u64, &str)] = &[
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (10, "AF_INET6"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
    (31, "AF_BLUETOOTH"),
    (38, "AF_ALG"),
    (40, "AF_VSOCK"),
    (44, "AF_XDP"),
];
const MOVE_MOUNT: &[(u64, &str)] = &[
    (0x01, "MOVE_MOUNT_F_SYMLINKS"),
    (0x02, "MOVE_MOUNT_F_AUTOMOUNTS"),
    (0x04, "MOVE_MOUNT_F_EMPTY_PATH"),
    (0x10, "MOVE_MOUNT_T_SYMLINKS"),
    (0x20, "MOVE_MOUNT_T_AUTOMOUNTS"),
    (0x40, "MOVE_MOUNT_T_EMPTY_PATH"),
    (0x100, "MOVE_MOUNT_SET_GROUP"),
    (0x200, "MOVE_MOUNT_BENEATH"),
];
/// open_tree and mount_setattr take the *at() path flags too.
const OPEN_TREE: &[(u64, &str)] = &[
    (0x1, "OPEN_TREE_CLONE"),
    (0x80000, "OPEN_TREE_CLOEXEC"),
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x8000, "AT_RECURSIVE"),
];
const FSPICK: &[(u64, &str)] = &[
    (0x1, "FSPICK_CLOEXEC"),
    (0x2, "FSPICK_SYMLINK_NOFOLLOW"),
    (0x4, "FSPICK_NO_AUTOMOUNT"),
    (0x8, "FSPICK_EMPTY_PATH"),
];
const FSCONFIG_CMD: &[(u64, &str)] = &[
    (0, "FSCONFIG_SET_FLAG"),
    (1, "FSCONFIG_SET_STRING"),
    (2, "FSCONFIG_SET_BINARY"),
    (3, "FSCONFIG_SET_PATH"),
    (4, "FSCONFIG_SET_PATH_EMPTY"),
    (5, "FSCONFIG_SET_FD"),
    (6, "FSCONFIG_CMD_CREATE"),
    (7, "FSCONFIG_CMD_RECONFIGURE"),
    (8, "FSCONFIG_CMD_CREATE_EXCL"),
];
const CLOEXEC_1: &[(u64, &str)] = &[(0x1, "CLOEXEC")];
const MOUNT_ATTR: &[(u64, &str)] = &[
    (0x70, "MOUNT_ATTR__ATIME"),
    (0x1, "MOUNT_ATTR_RDONLY"),
    (0x2, "MOUNT_ATTR_NOSUID"),
    (0x4, "MOUNT_ATTR_NODEV"),
    (0x8, "MOUNT_ATTR_NOEXEC"),
    (0x10, "MOUNT_ATTR_NOATIME"),
    (0x20, "MOUNT_ATTR_STRICTATIME"),
    (0x80, "MOUNT_ATTR_NODIRATIME"),
    (0x100000, "MOUNT_ATTR_IDMAP"),
    (0x200000, "MOUNT_ATTR_NOSYMFOLLOW"),
];
/// mount_setattr's `struct mount_attr` propagation: one type, or 0 to leave it.
const PROPAGATION: &[(u64, &str)] = &[
    (libc::MS_UNBINDABLE, "MS_UNBINDABLE"),
    (libc::MS_PRIVATE, "MS_PRIVATE"),
    (libc::MS_SLAVE, "MS_SLAVE"),
    (libc::MS_SHARED, "MS_SHARED"),
];
/// mount_setattr's `struct mount_attr`, field by field.
const MOUNT_ATTR_FIELDS: &[Param] = &[
    Param::Flags("attr_set", MOUNT_ATTR),
    Param::Flags("attr_clr", MOUNT_ATTR),
    Param::Enum("propagation", PROPAGATION),
    Param::Int("userns_fd"),
];
const PTRACE: &[(u64, &str)] = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSER"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSER"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420e, "PTRACE_GET_SYSCALL_INFO"),
];
const BPF_CMD: &[(u64, &str)] = &[
    (0, "BPF_MAP_CREATE"),
    (1, "BPF_MAP_LOOKUP_ELEM"),
    (2, "BPF_MAP_UPDATE_ELEM"),
    (3, "BPF_MAP_DELETE_ELEM"),
    (4, "BPF_MAP_GET_NEXT_KEY"),
    (5, "BPF_PROG_LOAD"),
    (6, "BPF_OBJ_PIN"),
    (7, "BPF_OBJ_GET"),
    (8, "BPF_PROG_ATTACH"),
    (9, "BPF_PROG_DETACH"),
    (10, "BPF_PROG_TEST_RUN"),
    (11, "BPF_PROG_GET_NEXT_ID"),
    (12, "BPF_MAP_GET_NEXT_ID"),
    (13, "BPF_PROG_GET_FD_BY_ID"),
    (14, "BPF_MAP_GET_FD_BY_ID"),
    (15, "BPF_OBJ_GET_INFO_BY_FD"),
    (16, "BPF_PROG_QUERY"),
    (17, "BPF_RAW_TRACEPOINT_OPEN"),
    (18, "BPF_BTF_LOAD"),
    (19, "BPF_BTF_GET_FD_BY_ID"),
    (20, "BPF_TASK_FD_QUERY"),
    (21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"),
    (22, "BPF_MAP_FREEZE"),
    (23, "BPF_BTF_GET_NEXT_ID"),
    (24, "BPF_MAP_LOOKUP_BATCH"),
    (25, "BPF_MAP_LOOKUP_AND_DELETE_BATCH"),
    (26, "BPF_MAP_UPDATE_BATCH"),
    (27, "BPF_MAP_DELETE_BATCH"),
    (28, "BPF_LINK_CREATE"),
    (29, "BPF_LINK_UPDATE"),
    (30, "BPF_LINK_GET_FD_BY_ID"),
    (31, "BPF_LINK_GET_NEXT_ID"),
    (32, "BPF_ENABLE_STATS"),
    (33, "BPF_ITER_CREATE"),
    (34, "BPF_LINK_DETACH"),
    (35, "BPF_PROG_BIND_MAP"),
    (36, "BPF_TOKEN_CREATE"),
];
const MODULE_INIT: &[(u64, &str)] = &[
    (1, "MODULE_INIT_IGNORE_MODVERSIONS"),
    (2, "MODULE_INIT_IGNORE_VERMAGIC"),
    (4, "MODULE_INIT_COMPRESSED_FILE"),
];

/// The arguments of the decoded syscalls that the kernel reads as 32 bits (a C `int` or
/// `unsigned int` in its `SYSCALL_DEFINE`, or narrowed at once: legacy clone's flags go
/// through `lower_32_bits`, ptrace's `long pid` becomes a `pid_t`). The register's upper half
/// is never what such a call acts on, so it is neither shown nor tested: `socket(0x1_0000_0028)`
/// opens an AF_VSOCK socket. The kernel's tracefs formats check this table
/// (`narrow_arguments_are_the_kernel_s_32_bit_ones`).
const NARROW: &[(&str, &[&str])] = &[
    ("umount2", &["flags"]),
    ("clone", &["flags"]),
    ("personality", &["persona"]),
    ("socket", &["domain", "type", "protocol"]),
    ("setns", &["fd", "nstype"]),
    ("ptrace", &["pid"]),
    ("bpf", &["cmd", "size"]),
    ("finit_module", &["fd", "flags"]),
    ("delete_module", &["flags"]),
    ("kexec_file_load", &["kernel_fd", "initrd_fd"]),
    ("move_mount", &["from_dfd", "to_dfd", "flags"]),
    ("fsopen", &["flags"]),
    ("fsconfig", &["fd", "cmd", "aux"]),
    ("fsmount", &["fs_fd", "flags", "attr_flags"]),
    ("open_tree", &["dfd", "flags"]),
    ("open_tree_attr", &["dfd", "flags"]),
    ("fspick", &["dfd", "flags"]),
    ("mount_setattr", &["dfd", "flags"]),
    ("process_vm_readv", &["pid"]),
    ("process_vm_writev", &["pid"]),
    ("open_by_handle_at", &["mount_fd", "flags"]),
];

/// Does the kernel read argument `arg` of `syscall` as 32 bits? (See [`NARROW`].)
pub fn is_narrow(syscall: &str, arg: &str) -> bool {
    NARROW
        .iter()
        .any(|(name, args)| *name == syscall && args.contains(&arg))
}

/// Argument value `v` as the kernel acts on it: the lower half of a [`NARROW`] one.
fn as_read(syscall: &str, arg: &str, v: u64) -> u64 {
    if is_narrow(syscall, arg) {
        v & u64::from(u32::MAX)
    } else {
        v
    }
}

/// The parameters of the syscalls we decode; any other is shown as six raw values.
pub fn params(name: &str) -> Option<&'static [Param]> {
    use Param::*;
    Some(match name {
        "mount" => &[
            Str("source"),
            Str("target"),
            Str("fstype"),
            Flags("flags", MS),
            Hex("data"),
        ],
        "umount2" => &[Str("target"), Flags("flags", UMOUNT)],
        "chroot" => &[Str("path")],
        "pivot_root" => &[Str("new_root"), Str("put_old")],
        "unshare" => &[Flags("flags", CLONE_NS)],
        // x86_64 order (aarch64 and i386 swap the last two, shown in hex either way).
        "clone" => &[
            FlagsSignal("flags", CLONE_FLAGS),
            Hex("stack"),
            Hex("parent_tid"),
            Hex("child_tid"),
            Hex("tls"),
        ],
        "clone3" => &[FlagsAt("flags", CLONE_NS), Int("size")],
        "personality" => &[Hex("persona")],
        "socket" => &[Enum("domain", AF), Hex("type"), Int("protocol")],
        "setns" => &[Int("fd"), Flags("nstype", CLONE_NS)],
        "ptrace" => &[
            Enum("request", PTRACE),
            Int("pid"),
            Hex("addr"),
            Hex("data"),
        ],
        "bpf" => &[Enum("cmd", BPF_CMD), Hex("attr"), Int("size")],
        "init_module" => &[Hex("image"), Int("len"), Str("params")],
        "finit_module" => &[Int("fd"), Str("params"), Flags("flags", MODULE_INIT)],
        "delete_module" => &[Str("name"), Hex("flags")],
        "kexec_load" => &[
            Hex("entry"),
            Int("nr_segments"),
            Hex("segments"),
            Hex("flags"),
        ],
        "kexec_file_load" => &[
            Int("kernel_fd"),
            Int("initrd_fd"),
            Int("cmdline_len"),
            Str("cmdline"),
            Hex("flags"),
        ],
        // The new mount API: every step, with its strings and flags.
        "move_mount" => &[
            Int("from_dfd"),
            Str("from_path"),
            Int("to_dfd"),
            Str("to_path"),
            Flags("flags", MOVE_MOUNT),
        ],
        "fsopen" => &[Str("fsname"), Flags("flags", CLOEXEC_1)],
        // The value is a string for SET_STRING and SET_PATH; otherwise NULL (or a buffer,
        // shown as far as it reads as text).
        "fsconfig" => &[
            Int("fd"),
            Enum("cmd", FSCONFIG_CMD),
            Str("key"),
            Str("value"),
            Int("aux"),
        ],
        "fsmount" => &[
            Int("fs_fd"),
            Flags("flags", CLOEXEC_1),
            Flags("attr_flags", MOUNT_ATTR),
        ],
        "open_tree" => &[Int("dfd"), Str("path"), Flags("flags", OPEN_TREE)],
        // open_tree with mount_setattr's struct (NULL: none).
        "open_tree_attr" => &[
            Int("dfd"),
            Str("path"),
            Flags("flags", OPEN_TREE),
            StructAt("attr", MOUNT_ATTR_FIELDS),
            Int("size"),
        ],
        "fspick" => &[Int("dfd"), Str("path"), Flags("flags", FSPICK)],
        "mount_setattr" => &[
            Int("dfd"),
            Str("path"),
            Flags("flags", OPEN_TREE),
            StructAt("attr", MOUNT_ATTR_FIELDS),
            Int("size"),
        ],
        "process_vm_readv" | "process_vm_writev" => &[Int("pid"), Hex("local_iov"), Int("liovcnt")],
        "open_by_handle_at" => &[Int("mount_fd"), Hex("handle"), Hex("flags")],
        _ => return None,
    })
}

/// What the kernel side reads of syscall `name`'s arguments beyond the registers (its
/// `STRING_ARGS` value, a [`sensor_common::read_mask`]): its strings, and the argument
/// whose pointee the record carries ([`Param::FlagsAt`], [`Param::StructAt`]).
pub fn read_mask(name: &str) -> u16 {
    params(name).map_or(0, |ps| {
        ps.iter().enumerate().fold(0, |m, (i, p)| match p {
            Param::Str(_) => m | 1 << i,
            Param::FlagsAt(..) | Param::StructAt(..) => with_pointee(m, i),
            _ => m,
        })
    })
}

/// `(syscall number, read mask)` for every decoded syscall the kernel reads more of.
pub fn read_masks(arch: Arch, names: &[&str]) -> Vec<(u64, u16)> {
    names
        .iter()
        .filter_map(|n| Some((syscalls::number(arch, n)?, read_mask(n))))
        .filter(|(_, m)| *m != 0)
        .collect()
}

/// `MS_REC|MS_PRIVATE`, with unknown bits kept as hex; `0` when empty.
pub fn flag_names(value: u64, table: &[(u64, &str)]) -> String {
    let mut rest = value;
    let mut parts: Vec<String> = Vec::new();
    for &(bit, name) in table {
        if bit != 0 && rest & bit == bit {
            parts.push(name.to_owned());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    if parts.is_empty() {
        "0".to_owned()
    } else {
        parts.join("|")
    }
}

/// `SIGCHLD`, or the number of a signal without a name here (a real-time one, or none).
fn signal_name(signal: u64) -> String {
    SIGNALS
        .iter()
        .find(|(v, _)| *v == signal)
        .map_or_else(|| format!("signal {signal}"), |(_, n)| (*n).to_owned())
}

pub fn enum_name(value: u64, table: &[(u64, &str)]) -> String {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or_else(|| value.to_string(), |(_, n)| (*n).to_owned())
}

/// Shows a non-string parameter's value.
pub fn show(param: Param, value: u64) -> String {
    match param {
        Param::Flags(name, table) => {
            // mount(2): a legacy magic number may sit in the top 16 bits of the flags.
            let value = if name == "flags" && value & 0xffff_0000 == 0xc0ed_0000 {
                value & 0xffff
            } else {
                value
            };
            flag_names(value, table)
        }
        Param::FlagsSignal(_, table) => {
            let signal = value & CLONE_SIGNAL_BYTE;
            let flags = flag_names(value & !CLONE_SIGNAL_BYTE, table);
            match (signal, flags.as_str()) {
                (0, _) => flags,
                (_, "0") => signal_name(signal),
                _ => format!("{flags}|{}", signal_name(signal)),
            }
        }
        Param::Enum(_, table) => enum_name(value, table),
        Param::Int(_) => (value as i64 as i32).to_string(),
        Param::Hex(_) | Param::Str(_) | Param::FlagsAt(..) | Param::StructAt(..) => {
            format!("{value:#x}")
        }
    }
}

/// Shows a [`Param::FlagsAt`] or [`Param::StructAt`] argument from what was read where it
/// points, never the pointer as if it were the value. `i` is the argument's index (what was
/// read for another argument is not shown as this one's); `words`, how many u64 words the
/// caller says are there (its size argument).
fn show_pointee(param: Param, i: usize, at: u64, pointee: Pointee, words: usize) -> String {
    if at == 0 {
        return "NULL".to_owned(); // nothing to read (open_tree_attr's attr may be)
    }
    let read = match pointee {
        Pointee::Read(arg, v) if arg == i => v,
        Pointee::Unreadable(arg) if arg == i => return format!("? (unreadable at {at:#x})"),
        _ => return format!("? (not read, at {at:#x})"),
    };
    match param {
        Param::FlagsAt(_, table) => flag_names(read[0], table),
        Param::StructAt(_, fields) => {
            let shown: Vec<String> = fields
                .iter()
                .zip(read)
                .take(words)
                .map(|(f, v)| format!("{}={}", f.name(), show(*f, v)))
                .collect();
            format!("{{{}}}", shown.join(", "))
        }
        _ => show(param, at),
    }
}

/// How many u64 words of a struct argument are the caller's: its call's `size` argument
/// (in bytes) when it has one, else all that were read.
fn struct_words(ps: &[Param], args: &[u64; 6]) -> usize {
    ps.iter()
        .position(|p| *p == Param::Int("size"))
        .map_or(POINTEE_WORDS, |i| {
            (args[i] / 8).min(POINTEE_WORDS as u64) as usize
        })
}

/// Names and shows each argument of syscall `name`; empty for syscalls without a table.
pub fn decode(
    name: Option<&str>,
    args: &[u64; 6],
    strings: &[ArgString],
    pointee: Pointee,
) -> Vec<DecodedArg> {
    let Some((name, ps)) = name.and_then(|n| Some((n, params(n)?))) else {
        return Vec::new();
    };
    ps.iter()
        .enumerate()
        .map(|(i, &p)| match (p, strings.iter().find(|s| s.arg == i)) {
            (Param::Str(n), Some(s)) if !s.unreadable => DecodedArg {
                name: n,
                value: s.bytes.escape_ascii().to_string(),
                raw: Some(s.bytes.clone()),
                truncated: s.truncated,
            },
            (Param::Str(n), _) => DecodedArg {
                name: n,
                value: if args[i] == 0 {
                    "NULL".to_owned()
                } else {
                    format!("{:#x} (unreadable)", args[i])
                },
                raw: None,
                truncated: false,
            },
            (Param::FlagsAt(n, _) | Param::StructAt(n, _), _) => DecodedArg {
                name: n,
                value: show_pointee(p, i, args[i], pointee, struct_words(ps, args)),
                raw: None,
                truncated: false,
            },
            _ => DecodedArg {
                name: p.name(),
                value: show(p, as_read(name, p.name(), args[i])),
                raw: None,
                truncated: false,
            },
        })
        .collect()
}

/// An i386 `socket` call made through `socketcall(SYS_SOCKET, args)` (`FLAG_SOCKETCALL`):
/// its arguments are the words the kernel side read where `args` points (`regs` are
/// socketcall's registers). Returns the arguments to report as the call's and their
/// decoding, which ends with `via`, the route it took. Words that could not be read are
/// not shown as arguments: the call's own registers stay, and `via` says so.
pub fn decode_socketcall(
    name: Option<&str>,
    regs: &[u64; 6],
    pointee: Pointee,
) -> ([u64; 6], Vec<DecodedArg>) {
    let at = regs[1] & u64::from(u32::MAX);
    let via = |value: String| DecodedArg {
        name: "via",
        value,
        raw: None,
        truncated: false,
    };
    match pointee {
        Pointee::Read(1, w) => {
            let args = [w[0], w[1], w[2], 0, 0, 0];
            let mut decoded = decode(name, &args, &[], Pointee::None);
            decoded.push(via(format!("socketcall(SYS_SOCKET, {at:#x})")));
            (args, decoded)
        }
        _ => (
            *regs,
            vec![via(format!("socketcall(SYS_SOCKET, {at:#x} (unreadable))"))],
        ),
    }
}

#[cfg(test)]
mod tests;
