//! The typed domain event: what the sensor knows about one thing that happened.
use std::sync::Arc;

mod comm;
pub use comm::Comm;

use crate::{
    enrich::{container::ContainerRef, cri::PodMeta},
    syscalls::Arch,
};

/// One event, decoded from a kernel record and stamped by the hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Per-sensor sequence number (from 1), set when the hub publishes the event.
    pub seq: u64,
    /// Kernel CLOCK_MONOTONIC, nanoseconds.
    pub ktime_ns: u64,
    /// Wall-clock time, nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    pub cgroup_id: u64,
    /// The cgroup's path relative to the cgroup2 root, once resolved.
    pub cgroup_path: Option<Arc<str>>,
    pub attribution: Attribution,
    pub process: Process,
    pub body: Body,
}

impl Event {
    /// Counts calls not sent one by one (a flood summary), rather than being one call.
    pub fn is_summary(&self) -> bool {
        matches!(&self.body, Body::FlaggedSyscall(f) if f.suppressed.is_some())
    }

    /// An event of cgroup `cgroup_id` at `ktime_ns` with no process (a summary the sensor
    /// makes, not a record of one task); the body is to be set.
    pub fn for_cgroup(cgroup_id: u64, ktime_ns: u64) -> Self {
        Event {
            seq: 0,
            ktime_ns,
            time_unix_nano: 0,
            cgroup_id,
            cgroup_path: None,
            attribution: Attribution::Pending,
            process: Process::default(),
            body: Body::Exit { exit_code: 0 },
        }
    }

    /// A plain event of pid 1 in `cgroup_id`, for tests.
    #[cfg(test)]
    pub fn for_test(cgroup_id: u64, body: Body) -> Self {
        Event {
            seq: 0,
            ktime_ns: 0,
            time_unix_nano: 0,
            cgroup_id,
            cgroup_path: None,
            attribution: Attribution::Pending,
            process: Process {
                pid: 1,
                tid: 1,
                comm: Comm::new(b"x"),
                ..Default::default()
            },
            body,
        }
    }
}

/// Who made the event, as far as the sensor knows when it sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Attribution {
    /// The cgroup is not resolved yet.
    #[default]
    Pending,
    /// A process of the host (the root cgroup, or a systemd unit of the host).
    Host,
    /// A cgroup no known container naming scheme explains.
    Unknown,
    /// A container, and what its runtime said about it (once it has answered).
    Container {
        container: Arc<ContainerRef>,
        meta: Option<Arc<PodMeta>>,
        /// The runtime was asked and had not answered when the event's wait ran out: `meta`
        /// is unknown, not absent.
        meta_pending: bool,
    },
}

/// A command line, raw bytes, shared between an exec, the process table and the events that
/// carry it.
pub type Argv = Arc<[Vec<u8>]>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// `task->comm`, without its NUL padding.
    pub comm: Comm,
    /// The parent's pid (0 when unknown).
    pub ppid: u32,
    /// The process's command line (from its exec, or /proc at start), when known.
    pub argv: Option<Argv>,
    /// The parent's and grandparent's binaries, from the process table.
    pub parent_exe: Option<Arc<[u8]>>,
    pub grandparent_exe: Option<Arc<[u8]>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    FlaggedSyscall(FlaggedSyscall),
    Exec(Exec),
    /// A new process; the event's process is the parent.
    Fork {
        child_pid: u32,
    },
    /// A process ended; `exit_code` is the kernel's wait status (`status << 8 | signal`).
    Exit {
        exit_code: u32,
    },
    /// The cgroup made this syscall for the first time (what profiles are learned from).
    SyscallSeen(SyscallSeen),
    /// A call outside the profile bound to the container (drift).
    ProfileDeviation(Box<Deviation>),
}

/// A call outside the profile bound to its container: the call as a flagged one is
/// reported (arguments, outcome), the profile's name, and whether the policy flagged it too
/// (then the same call is also a `FlaggedSyscall` event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deviation {
    pub call: FlaggedSyscall,
    /// The binding's name; `None` when the binding went away before the event was judged.
    pub profile: Option<Arc<str>>,
    pub flagged: bool,
}

/// The phase of a cgroup's life a syscall was made in, as the kernel saw it (see
/// `sensor_common::PHASE_RUNTIME`): the runtime setting the container up, the runtime under
/// the seccomp filter it installed, or the workload (from the exec after that filter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// The runtime's setup, before its filter: not needed under the filter.
    Runtime,
    /// Between the runtime's filter and the workload's exec: needed under the filter.
    Filtered,
    Workload,
    /// The workload past its start-up (`--startup-seconds`): what it makes while it serves.
    Steady,
}

impl Phase {
    pub const ALL: [Phase; 4] = [
        Phase::Runtime,
        Phase::Filtered,
        Phase::Workload,
        Phase::Steady,
    ];

    /// The kernel's bit for this phase.
    pub const fn bit(self) -> u8 {
        match self {
            Phase::Runtime => sensor_common::PHASE_RUNTIME,
            Phase::Filtered => sensor_common::PHASE_FILTERED,
            Phase::Workload => sensor_common::PHASE_WORKLOAD,
            Phase::Steady => sensor_common::PHASE_STEADY,
        }
    }

    /// The phase of a kernel bit, if `bit` is exactly one.
    pub fn of_bit(bit: u8) -> Option<Phase> {
        Self::ALL.into_iter().find(|p| p.bit() == bit)
    }

    /// The earliest phase among `bits`.
    pub fn earliest(bits: u8) -> Option<Phase> {
        Self::ALL.into_iter().find(|p| bits & p.bit() != 0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyscallSeen {
    pub arch: Arch,
    pub nr: u64,
    pub name: Option<&'static str>,
    /// The phase the cgroup was in (a call first made in each phase is reported in each).
    pub phase: Phase,
}

/// The kinds of event, as subscribers filter them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    FlaggedSyscall,
    Exec,
    Fork,
    Exit,
    SyscallSeen,
    ProfileDeviation,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::FlaggedSyscall,
        Kind::Exec,
        Kind::Fork,
        Kind::Exit,
        Kind::SyscallSeen,
        Kind::ProfileDeviation,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            Kind::FlaggedSyscall => "flagged_syscall",
            Kind::Exec => "exec",
            Kind::Fork => "fork",
            Kind::Exit => "exit",
            Kind::SyscallSeen => "syscall_seen",
            Kind::ProfileDeviation => "profile_deviation",
        }
    }

    /// Position in [`Kind::ALL`], for per-kind counters.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl Body {
    pub fn kind(&self) -> Kind {
        match self {
            Body::FlaggedSyscall(_) => Kind::FlaggedSyscall,
            Body::Exec(_) => Kind::Exec,
            Body::Fork { .. } => Kind::Fork,
            Body::Exit { .. } => Kind::Exit,
            Body::SyscallSeen(_) => Kind::SyscallSeen,
            Body::ProfileDeviation(_) => Kind::ProfileDeviation,
        }
    }
}

/// A call to a forbidden syscall, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlaggedSyscall {
    pub arch: Arch,
    pub nr: u64,
    /// From the syscall table of `arch`; `None` for a number it does not know.
    pub name: Option<&'static str>,
    pub args: [u64; 6],
    pub outcome: Outcome,
    /// How bad the policy says this call is.
    pub severity: Option<Severity>,
    /// The arguments by name, for the syscalls the sensor knows how to decode.
    pub decoded: Vec<DecodedArg>,
    /// The arguments were read at the call's exit, not at its entry (its entry found no room
    /// to wait for the outcome, or ran before the sensor saw it): memory a pointer argument
    /// points to may have changed in between.
    pub args_at_exit: bool,
    /// Not one call but a summary of this syscall's calls from this cgroup that were not
    /// sent one by one (the event has no process, arguments or outcome).
    pub suppressed: Option<Suppressed>,
    /// Outside the profile bound to the container (the kernel said so): the event is
    /// followed by a `ProfileDeviation` of the same call.
    pub deviation: bool,
    /// For a clone-family call whose fork was seen: what the fork made.
    pub namespaces_at_fork: Option<AtFork>,
}

/// What a clone's fork made, seen in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AtFork {
    /// The namespaces (`CLONE_NEW*` flags) the new task did not share with its caller (0:
    /// none).
    pub namespaces: u64,
    /// Reported from the fork: the entry read flags that did not meet the policy's condition,
    /// the namespaces made do (the caller's memory changed in between).
    pub entry_disagreed: bool,
}

/// A summary, for the `period_ns` before the event's time: `count` calls were past the flood
/// budget and counted in the kernel instead of sent; `lost` records found the ring buffer
/// full (also in the node-wide loss notices: this says whose they were).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suppressed {
    pub count: u64,
    pub lost: u64,
    pub period_ns: u64,
}

/// How a flagged call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Returned this non-negative value.
    Succeeded(i64),
    /// Entered the kernel and failed with this errno.
    Failed(i32),
    /// Refused by a seccomp filter before it entered the kernel, with this errno.
    BlockedBeforeEntry(i32),
    /// Not known: reported before it returned (its exit is not hooked on this kernel, or
    /// there was no room to wait for it).
    Unknown,
}

/// One argument, by name. Strings keep their raw bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedArg {
    pub name: &'static str,
    /// What a person reads: a path, `MS_BIND|MS_REC`, `PTRACE_ATTACH`, `42`, `0x7ffd...`.
    pub value: String,
    /// For string arguments: the bytes read from user memory.
    pub raw: Option<Vec<u8>>,
    /// A string argument was cut to fit.
    pub truncated: bool,
}

/// An exec: one that happened, or one that failed (`errno` set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exec {
    /// Raw bytes: Linux paths need not be UTF-8. For a failed exec, the path as passed. Shared
    /// with the process table, as the binary the process runs.
    pub filename: Arc<[u8]>,
    pub filename_truncated: bool,
    /// The arguments, raw bytes; shared with the process table and the process's later events.
    pub argv: Argv,
    pub argv_truncated: bool,
    /// argv (and a failed exec's filename) could not be kept from the exec's entry: unknown,
    /// not empty.
    pub argv_unknown: bool,
    /// `Some(errno)` when the exec failed.
    pub errno: Option<i32>,
    /// The effective uid and capability set it runs with, when the kernel layout is known.
    pub privileges: Option<Privileges>,
    /// What the policy finds wrong with it (root in a container, dangerous capabilities, no
    /// file on disk).
    pub findings: Vec<Finding>,
    /// The file the process now runs, as the kernel has it (a successful exec on a kernel
    /// whose layout is known).
    pub exe_file: Option<ExeFile>,
}

/// The executed file: its link count (0: no name on any filesystem, as a memfd or a deleted
/// file) and its dentry name (`memfd:NAME` for a memfd).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExeFile {
    pub nlink: u32,
    pub name: Vec<u8>,
    /// The level of the process's pid namespace (0: the node's), for a file with no name;
    /// `None` for another or when unknown.
    pub pid_ns_level: Option<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    pub euid: u32,
    /// `cap_effective`: bit n set = capability n.
    pub cap_effective: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
    pub severity: Severity,
}

/// Why events were lost. Every loss is counted and reported in-band.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LossReason {
    /// The kernel ring buffer was full.
    KernelRingBuffer,
    /// A subscriber fell behind and its queue overflowed.
    SubscriberQueue,
    /// A kernel record could not be decoded.
    MalformedRecord,
    /// A resuming subscriber asked for events the replay buffer no longer holds.
    ReplayExpired,
}

impl LossReason {
    pub const ALL: [LossReason; 4] = [
        LossReason::KernelRingBuffer,
        LossReason::SubscriberQueue,
        LossReason::MalformedRecord,
        LossReason::ReplayExpired,
    ];

    /// The metric label.
    pub fn name(self) -> &'static str {
        match self {
            LossReason::KernelRingBuffer => "kernel_ring_buffer",
            LossReason::SubscriberQueue => "subscriber_queue",
            LossReason::MalformedRecord => "malformed_record",
            LossReason::ReplayExpired => "replay_expired",
        }
    }
}

/// How bad a flagged call or a finding is (the policy decides which).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.name() == s)
    }
}
