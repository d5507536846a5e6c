//! The `#[repr(C)]` records that travel through the ring buffer.
use core::mem::{offset_of, size_of};

/// Length of `task->comm` (TASK_COMM_LEN).
pub const COMM_LEN: usize = 16;
/// Bytes of an exec filename kept in the record; longer names are cut and flagged.
pub const EXEC_FILENAME_LEN: usize = 512;
/// Number of raw syscall arguments.
pub const SYSCALL_ARGS: usize = 6;

/// What follows the header. Values are part of the kernel/user ABI: never reuse one.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A syscall in the forbidden set, at `sys_enter`: [`SyscallRecord`].
    Syscall = 1,
    /// A successful exec, at `sched_process_exec`: [`ExecRecord`].
    Exec = 2,
}

impl RecordKind {
    pub const fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Self::Syscall),
            2 => Some(Self::Exec),
            _ => None,
        }
    }
}

/// Set in [`Header::flags`] when a string field was cut to fit its buffer.
pub const FLAG_TRUNCATED: u16 = 1 << 0;

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
}

/// A forbidden syscall seen at `sys_enter`, with its six raw arguments.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRecord {
    pub header: Header,
    /// The syscall number as the kernel saw it (x32 calls keep bit 0x40000000).
    pub nr: u64,
    pub args: [u64; SYSCALL_ARGS],
}

/// A successful exec, seen at `sched_process_exec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecRecord {
    pub header: Header,
    /// Bytes of `filename` in use (no NUL).
    pub filename_len: u32,
    pub _pad: u32,
    pub filename: [u8; EXEC_FILENAME_LEN],
}

// The ABI, checked at compile time. A change here must be made on both sides at once.
const _: () = {
    assert!(size_of::<Header>() == 56);
    assert!(offset_of!(Header, size) == 4);
    assert!(offset_of!(Header, ktime_ns) == 8);
    assert!(offset_of!(Header, cgroup_id) == 16);
    assert!(offset_of!(Header, pid) == 24);
    assert!(offset_of!(Header, comm) == 40);
    assert!(size_of::<SyscallRecord>() == 56 + 8 + 48);
    assert!(offset_of!(SyscallRecord, args) == 64);
    assert!(size_of::<ExecRecord>() == 56 + 8 + EXEC_FILENAME_LEN);
    assert!(offset_of!(ExecRecord, filename) == 64);
};

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain `#[repr(C)]` integers and byte arrays without implicit padding.
    unsafe impl aya::Pod for super::Header {}
    unsafe impl aya::Pod for super::SyscallRecord {}
    unsafe impl aya::Pod for super::ExecRecord {}
}
