//! The `#[repr(C)]` records that travel through the ring buffer.
use core::mem::{offset_of, size_of};

/// Bytes of a cgroup path kept in a record; longer paths are cut and flagged.
pub const CGROUP_PATH_LEN: usize = 512;
/// Length of `task->comm` (TASK_COMM_LEN).
pub const COMM_LEN: usize = 16;
/// Bytes of an exec filename kept in the record; longer names are cut and flagged.
pub const EXEC_FILENAME_LEN: usize = 512;
/// Number of raw syscall arguments.
pub const SYSCALL_ARGS: usize = 6;
/// String arguments a flagged-syscall record can carry (mount has three).
pub const SYSCALL_STRS: usize = 3;
/// Bytes kept of each string argument, NUL included; longer strings are cut and flagged.
pub const SYSCALL_STR_LEN: usize = 256;
/// [`SyscallRecord::str_arg`] value of an unused string slot.
pub const NO_STR_ARG: u8 = 0xff;
/// u64 words of user memory a record carries where one argument points
/// ([`SyscallRecord::pointee`]): clone3's `struct clone_args` begins with `flags`;
/// mount_setattr's `struct mount_attr` is `attr_set`, `attr_clr`, `propagation`, `userns_fd`.
/// Both calls refuse a smaller struct, so a valid call's words are all there.
pub const POINTEE_WORDS: usize = 4;

/// A syscall key's `STRING_ARGS` value: what the kernel side reads of its arguments in user
/// memory. Bits 0-5: argument `i` is a NUL-terminated string. Bits 8-10: one more than the
/// argument that points at [`POINTEE_WORDS`] u64 words (0: none).
pub mod read_mask {
    /// Where the pointee's argument sits in the mask.
    const POINTEE_SHIFT: u16 = 8;

    /// `mask` with argument `arg` (0-5) marked as pointing at the record's pointee.
    pub const fn with_pointee(mask: u16, arg: usize) -> u16 {
        mask | ((arg as u16 + 1) << POINTEE_SHIFT)
    }

    /// The argument whose pointee is read, if any.
    pub const fn pointee_arg(mask: u16) -> Option<usize> {
        match (mask >> POINTEE_SHIFT) & 0x7 {
            0 => None,
            n => Some(n as usize - 1),
        }
    }

    /// Is argument `arg` a string?
    pub const fn is_string(mask: u16, arg: usize) -> bool {
        arg < 6 && mask & (1 << arg) != 0
    }
}

/// What [`SyscallRecord::pointee`] holds ([`SyscallRecord::pointee_state`]).
pub mod pointee {
    /// Nothing: the call's arguments point at nothing read.
    pub const NONE: u8 = 0;
    /// The u64 its first argument pointed at, read at entry (or at exit, with
    /// `FLAG_ARGS_AT_EXIT`).
    pub const READ: u8 = 1;
    /// It could not be read (bad address, or the page was not resident).
    pub const UNREADABLE: u8 = 2;
}

/// What follows the header. Values are part of the kernel/user ABI: never reuse one.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A syscall in the forbidden set, at `sys_enter`: [`SyscallRecord`].
    Syscall = 1,
    /// An exec, at `sched_process_exec` (success) or at `sys_exit` of execve/execveat
    /// (failure, with `errno` set): [`ExecRecord`].
    Exec = 2,
    /// A cgroup2 directory was made: [`CgroupRecord`].
    CgroupMkdir = 3,
    /// A cgroup2 directory was removed: [`CgroupRecord`].
    CgroupRmdir = 4,
    /// A new process (not a thread): [`ForkRecord`]; the header is the parent's.
    Fork = 5,
    /// A process ended (its last thread): [`ExitRecord`].
    Exit = 6,
    /// A cgroup made a syscall for the first time: [`SeenRecord`].
    SyscallSeen = 7,
}

impl RecordKind {
    pub const fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Self::Syscall),
            2 => Some(Self::Exec),
            3 => Some(Self::CgroupMkdir),
            4 => Some(Self::CgroupRmdir),
            5 => Some(Self::Fork),
            6 => Some(Self::Exit),
            7 => Some(Self::SyscallSeen),
            _ => None,
        }
    }
}

/// Set in [`Header::flags`] when a string field was cut to fit its buffer.
pub const FLAG_TRUNCATED: u16 = 1 << 0;
/// Set in [`Header::flags`] of an exec record when argv was cut to fit.
pub const FLAG_ARGV_TRUNCATED: u16 = 1 << 1;
/// Set in [`Header::flags`] when the call (or the exec, or the first use) was a compat one:
/// its number is the compat ABI's (i386 on x86_64), not the native one.
pub const FLAG_COMPAT: u16 = 1 << 2;
/// Set in [`Header::flags`] of a call (or first use) of the x32 ABI; the number is x32's with
/// the x32 bit cleared.
pub const FLAG_X32: u16 = 1 << 3;
/// Set in [`Header::flags`] of an io_uring operation submitted through a ring (flagged or
/// first used): the number is the operation's opcode.
pub const FLAG_IOURING: u16 = 1 << 4;
/// In [`Header::flags`] of a first-use record: the phase it was made in (a `PHASE_*` bit),
/// shifted by this much.
pub const FLAG_PHASE_SHIFT: u16 = 5;
/// Set in [`Header::flags`] of a flagged call whose record was built at its exit (its entry
/// found no room to park it): the arguments are as the registers and memory held them then.
pub const FLAG_ARGS_AT_EXIT: u16 = 1 << 8;
/// Set in [`Header::flags`] of an exec record whose argv (and, for a failed exec, filename)
/// was not parked at its entry: unknown, not empty.
pub const FLAG_ARGV_UNKNOWN: u16 = 1 << 9;
/// Set in [`Header::flags`] of a call outside the profile bound to its cgroup (a
/// deviation). Without [`FLAG_UNFLAGGED`] the policy flags it too.
pub const FLAG_DEVIATION: u16 = 1 << 10;
/// Set with [`FLAG_DEVIATION`] when the policy does not flag the call (not forbidden,
/// excepted, or its condition not met): it is reported as a deviation only.
pub const FLAG_UNFLAGGED: u16 = 1 << 11;
/// Set in [`Header::flags`] of an i386 socket call made through the `socketcall`
/// multiplexer (`socketcall(SYS_BIND, args)`; see [`crate::socketcall`]): the record's number
/// is the i386 call it stands for, its registers are socketcall's, and its pointee holds the
/// u32 words `args` pointed at, two to a word (see [`crate::socketcall::pack`]), when they
/// could be read.
pub const FLAG_SOCKETCALL: u16 = 1 << 12;
/// Set in [`Header::flags`] of a clone-family call whose fork was seen: the record's
/// [`SyscallRecord::ns_created`] says which namespaces the new task did not share with its
/// caller, as the kernel made them (not as the caller's memory said at entry).
pub const FLAG_NS_AT_FORK: u16 = 1 << 13;
/// Set with [`FLAG_NS_AT_FORK`] on a clone reported from its fork: its entry read flags that
/// did not meet the policy's condition, yet the namespaces the kernel made do. The caller's
/// memory changed between the two reads (a call raced on purpose, as a rule).
pub const FLAG_ENTRY_DISAGREED: u16 = 1 << 14;

/// The namespaces a fork can make, by bit of [`SyscallRecord::ns_created`]: bit `i` is the
/// `CLONE_NEW*` flag `FORK_NAMESPACES[i]`. The first seven are `struct nsproxy` members (in
/// the order of their offsets in the `NS_OFFS` global), the last the user namespace (of the
/// creds).
pub const FORK_NAMESPACES: [u64; 8] = [
    0x0400_0000, // CLONE_NEWUTS: nsproxy.uts_ns
    0x0800_0000, // CLONE_NEWIPC: ipc_ns
    0x0002_0000, // CLONE_NEWNS: mnt_ns
    0x2000_0000, // CLONE_NEWPID: pid_ns_for_children
    0x4000_0000, // CLONE_NEWNET: net_ns
    0x0000_0080, // CLONE_NEWTIME: time_ns_for_children
    0x0200_0000, // CLONE_NEWCGROUP: cgroup_ns
    0x1000_0000, // CLONE_NEWUSER: cred.user_ns
];
/// How many of [`FORK_NAMESPACES`] live in `struct nsproxy`.
pub const NSPROXY_NAMESPACES: usize = 7;

/// The `CLONE_NEW*` flags of [`SyscallRecord::ns_created`] bits `bits`.
pub const fn fork_namespace_flags(bits: u8) -> u64 {
    let mut flags = 0;
    let mut i = 0;
    while i < FORK_NAMESPACES.len() {
        if bits & (1 << i) != 0 {
            flags |= FORK_NAMESPACES[i];
        }
        i += 1;
    }
    flags
}

/// Bytes of argv kept (arguments NUL-separated).
pub const EXEC_ARGV_LEN: usize = 1024;
/// Arguments read at most.
pub const EXEC_MAX_ARGS: u32 = 32;

/// The envelope every record starts with.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// A [`RecordKind`] value.
    pub kind: u16,
    /// `FLAG_*` bits.
    pub flags: u16,
    /// Size in bytes of the whole record, header included.
    pub size: u32,
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, nanoseconds.
    pub ktime_ns: u64,
    /// cgroup v2 id (the inode number of the cgroup's directory).
    pub cgroup_id: u64,
    /// Thread group id (the pid as userspace sees it).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// `task->comm`, NUL-padded.
    pub comm: [u8; COMM_LEN],
    /// `real_parent->tgid`, or 0 when the kernel's task layout is unknown.
    pub ppid: u32,
    pub _pad: u32,
}

/// How a flagged call ended, in [`SyscallRecord::outcome`].
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Seen at entry and not (yet) at exit, or sent at entry because its exit is not
    /// hooked: `ret` means nothing.
    Pending = 0,
    /// Entered and returned `ret`.
    Returned = 1,
    /// Seen at `sys_exit` without a `sys_enter`: refused by a seccomp filter before it
    /// entered the kernel proper; `ret` is the errno the filter chose.
    BlockedBeforeEntry = 2,
}

impl Outcome {
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Pending),
            1 => Some(Self::Returned),
            2 => Some(Self::BlockedBeforeEntry),
            _ => None,
        }
    }
}

/// A forbidden syscall: header (taken at entry), number, the six raw arguments, up to
/// [`SYSCALL_STRS`] string arguments read from user memory, and how it ended.
///
/// It travels without its unused string slots (those in use come first): `header.size` is
/// [`syscall_record_size`] of the slots in use, so that a call with one string (umount2)
/// takes 432 bytes of the ring buffer, not 944.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRecord {
    pub header: Header,
    /// The syscall number as the kernel saw it (x32 calls keep bit 0x40000000).
    pub nr: u64,
    pub args: [u64; SYSCALL_ARGS],
    /// The return value (a negative errno on failure), when `outcome` says there is one.
    pub ret: i64,
    /// The words argument [`SyscallRecord::pointee_arg`] points at, when
    /// [`SyscallRecord::pointee_state`] says so.
    pub pointee: [u64; POINTEE_WORDS],
    /// An [`Outcome`] value.
    pub outcome: u8,
    /// Which argument (0-5) each string slot holds, or [`NO_STR_ARG`].
    pub str_arg: [u8; SYSCALL_STRS],
    /// Bit `i` set: string slot `i` was cut to fit.
    pub str_truncated: u8,
    /// Bit `i` set: string slot `i` could not be read (bad pointer, or paged out).
    pub str_unreadable: u8,
    /// A [`pointee`] value.
    pub pointee_state: u8,
    /// Which argument (0-5) [`SyscallRecord::pointee`] was read from (when it was).
    pub pointee_arg: u8,
    /// Bytes used in each string slot, without the NUL.
    pub str_len: [u16; SYSCALL_STRS],
    /// With [`FLAG_NS_AT_FORK`]: the namespaces the fork made (bits of
    /// [`FORK_NAMESPACES`]); 0 otherwise.
    pub ns_created: u8,
    pub _pad2: u8,
    pub strs: [[u8; SYSCALL_STR_LEN]; SYSCALL_STRS],
}

/// Where the string slots of a [`SyscallRecord`] start.
pub const SYSCALL_STRS_OFFSET: usize = offset_of!(SyscallRecord, strs);

/// The size of a [`SyscallRecord`] sent with its first `slots` string slots.
pub const fn syscall_record_size(slots: usize) -> usize {
    SYSCALL_STRS_OFFSET + slots * SYSCALL_STR_LEN
}

/// A successful exec, seen at `sched_process_exec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecRecord {
    pub header: Header,
    /// 0 for an exec that happened, else the errno it failed with.
    pub errno: i32,
    /// Bytes of `filename` in use (no NUL).
    pub filename_len: u32,
    /// Bytes of `argv` in use: the arguments, each followed by a NUL.
    pub argv_len: u32,
    /// Arguments in `argv`.
    pub argc: u32,
    /// `cred->cap_effective` after the exec (0 when the kernel's layout is unknown).
    pub cap_effective: u64,
    /// `cred->euid` after the exec (`u32::MAX` when unknown).
    pub euid: u32,
    /// The level of the process's pid namespace (`thread_pid->level`; 0: the node's own),
    /// read only when the executed file has no name (`exe_nlink` 0); `u32::MAX` otherwise
    /// or when unknown. runc's re-exec of itself from a memfd is in the node's.
    pub pid_ns_level: u32,
    pub filename: [u8; EXEC_FILENAME_LEN],
    pub argv: [u8; EXEC_ARGV_LEN],
    /// The executed file's link count (`mm->exe_file->f_inode->i_nlink`): 0 for a file with
    /// no name on any filesystem (a memfd, a deleted file). `u32::MAX`: not known.
    pub exe_nlink: u32,
    /// Bytes of `exe_name` in use.
    pub exe_name_len: u32,
    /// The executed file's dentry name (`memfd:NAME` for a memfd), cut to fit.
    pub exe_name: [u8; EXE_NAME_LEN],
}

/// Bytes of the executed file's dentry name kept in an exec record.
pub const EXE_NAME_LEN: usize = 64;

/// A flagged call's budget key: one cgroup's calls of one syscall key.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FloodKey {
    pub cgroup_id: u64,
    /// The syscall key (see `keys.rs`).
    pub key: u32,
    pub _pad: u32,
}

/// A flagged call's budget state on one CPU. The kernel resets the window; `suppressed` only
/// grows, and userspace reports the growth of its sum over CPUs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FloodState {
    /// `bpf_ktime_get_ns()` when the current one-second window began.
    pub window_start_ns: u64,
    /// Calls sent in the current window.
    pub sent: u64,
    /// Calls suppressed since the entry was made.
    pub suppressed: u64,
    /// Records of these calls that found the ring buffer full since the entry was made (the
    /// same losses the node-wide counters count, told per cgroup).
    pub lost: u64,
}

/// What `sys_enter` of execve/execveat saw, parked by thread id until the exec happens
/// (`sched_process_exec`) or fails (`sys_exit`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecArgs {
    /// `FLAG_*` bits for the header.
    pub flags: u16,
    pub _pad: u16,
    pub filename_len: u32,
    pub argv_len: u32,
    pub argc: u32,
    /// The path as the caller passed it (used when the exec fails).
    pub filename: [u8; EXEC_FILENAME_LEN],
    pub argv: [u8; EXEC_ARGV_LEN],
}

/// A cgroup2 directory made or removed (the header's kind says which).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CgroupRecord {
    pub header: Header,
    /// The cgroup id (its directory's inode number).
    pub id: u64,
    /// Bytes of `path` in use (no NUL).
    pub path_len: u32,
    pub _pad: u32,
    /// Relative to the cgroup2 root, starting with `/`.
    pub path: [u8; CGROUP_PATH_LEN],
}

/// A new process. The header describes the parent.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkRecord {
    pub header: Header,
    pub child_pid: u32,
    pub _pad: u32,
}

/// A process ended.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitRecord {
    pub header: Header,
    /// `task->exit_code`: `status << 8`, or the terminating signal in the low 7 bits.
    pub exit_code: u32,
    pub _pad: u32,
}

/// The first time a cgroup made syscall `nr` (its learned bitmap just gained that bit).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenRecord {
    pub header: Header,
    pub nr: u64,
}

// The ABI, checked at compile time. A change here must be made on both sides at once.
const _: () = {
    assert!(size_of::<Header>() == 64);
    assert!(offset_of!(Header, ppid) == 56);
    assert!(offset_of!(Header, size) == 4);
    assert!(offset_of!(Header, ktime_ns) == 8);
    assert!(offset_of!(Header, cgroup_id) == 16);
    assert!(offset_of!(Header, pid) == 24);
    assert!(offset_of!(Header, comm) == 40);
    assert!(offset_of!(SyscallRecord, args) == 72);
    assert!(offset_of!(SyscallRecord, ret) == 120);
    assert!(offset_of!(SyscallRecord, pointee) == 128);
    assert!(offset_of!(SyscallRecord, outcome) == 160);
    assert!(offset_of!(SyscallRecord, pointee_state) == 166);
    assert!(offset_of!(SyscallRecord, pointee_arg) == 167);
    assert!(offset_of!(SyscallRecord, str_len) == 168);
    assert!(offset_of!(SyscallRecord, strs) == 176);
    assert!(size_of::<SyscallRecord>() == syscall_record_size(SYSCALL_STRS));
    assert!(SYSCALL_STRS_OFFSET == 176);
    assert!(offset_of!(ExecRecord, filename) == 96);
    assert!(size_of::<ExecRecord>() == 96 + EXEC_FILENAME_LEN + EXEC_ARGV_LEN + 8 + EXE_NAME_LEN);
    assert!(size_of::<ExecArgs>() == 16 + EXEC_FILENAME_LEN + EXEC_ARGV_LEN);
    assert!(size_of::<CgroupRecord>() == 64 + 16 + CGROUP_PATH_LEN);
    assert!(size_of::<ForkRecord>() == 72);
    assert!(size_of::<FloodKey>() == 16);
    assert!(size_of::<FloodState>() == 32);
    assert!(size_of::<ExitRecord>() == 72);
    assert!(size_of::<SeenRecord>() == 72);
};

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` integers and byte arrays without implicit padding.
    unsafe impl aya::Pod for super::Header {}
    unsafe impl aya::Pod for super::SyscallRecord {}
    unsafe impl aya::Pod for super::ExecRecord {}
    unsafe impl aya::Pod for super::ExecArgs {}
    unsafe impl aya::Pod for super::CgroupRecord {}
    unsafe impl aya::Pod for super::ForkRecord {}
    unsafe impl aya::Pod for super::ExitRecord {}
    unsafe impl aya::Pod for super::SeenRecord {}
    unsafe impl aya::Pod for super::FloodKey {}
    unsafe impl aya::Pod for super::FloodState {}
}

/// [`ArgCondition::op`]: what the kernel checks on a forbidden call's argument before it
/// builds a record. A call that does not match costs no event.
pub mod cond {
    /// No condition: every call is flagged.
    pub const ALWAYS: u8 = 0;
    /// At least one bit of `values[0]` is set.
    pub const ANY_OF: u8 = 1;
    /// Every bit of `values[0]` is set.
    pub const ALL_OF: u8 = 2;
    /// No bit of `values[0]` is set.
    pub const NONE_OF: u8 = 3;
    /// The argument equals one of `values[..count]`.
    pub const IN: u8 = 4;
    /// The argument equals none of `values[..count]`.
    pub const NOT_IN: u8 = 5;
}

/// Values an [`ArgCondition`] can list.
pub const COND_VALUES: usize = 16;

/// A condition on one register argument of a forbidden call, by syscall key (the
/// `CONDITIONS` map).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgCondition {
    /// A [`cond`] value.
    pub op: u8,
    /// Which argument (0-5).
    pub arg: u8,
    /// Non-zero: the argument points at a u64 in user memory, and that is tested (clone3's
    /// `struct clone_args`, whose first field is `flags`).
    pub deref: u8,
    /// Values in use in `values` (IN, NOT_IN).
    pub count: u8,
    /// Non-zero: the kernel reads the argument as 32 bits (a C `int` or `unsigned int`), so
    /// only the register's lower half is tested: `socket(0x1_0000_0028)` is AF_VSOCK.
    pub narrow: u8,
    pub _pad: [u8; 3],
    pub values: [u64; COND_VALUES],
}

const _: () = {
    assert!(size_of::<ArgCondition>() == 8 + 8 * COND_VALUES);
    assert!(offset_of!(ArgCondition, values) == 8);
};

#[cfg(feature = "user")]
// SAFETY: plain `#[repr(C)]` integers without implicit padding.
unsafe impl aya::Pod for ArgCondition {}
