//! Names shared by the eBPF object and everything that loads or checks it: programs, maps,
//! globals, and the indices of the per-CPU counters.

use crate::keys::{ABI_NRS, FORBIDDEN_WORDS};

/// How a program is attached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `raw_tp/<name>`.
    RawTracepoint(&'static str),
    /// `tracepoint/<category>/<name>`.
    Tracepoint(&'static str, &'static str),
    /// `tp_btf/<name>`: a raw tracepoint whose arguments the verifier knows from BTF, so
    /// their fields are read with plain loads instead of `bpf_probe_read_kernel`.
    BtfTracepoint(&'static str),
    /// `tracepoint/syscalls/sys_exit_<name>` for each syscall whose exit is needed, chosen
    /// while the sensor runs (the section is a bare `tracepoint`).
    SyscallExits,
}

/// A program of the object: its ELF symbol (the Rust function name) and its hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    pub name: &'static str,
    pub hook: Hook,
    /// Attached by the exit hooks as the policy and `--exit-hook` say, not at start.
    pub exit_side: bool,
    /// A kernel without this hook (built without the subsystem) is told, not refused.
    pub optional: bool,
}

impl ProgramSpec {
    const fn at_start(name: &'static str, hook: Hook) -> Self {
        Self {
            name,
            hook,
            exit_side: false,
            optional: false,
        }
    }
}

/// Every program of the sensor's object, in attach order.
pub const PROGRAMS: &[ProgramSpec] = &[
    ProgramSpec::at_start(
        "sched_process_exec",
        Hook::Tracepoint("sched", "sched_process_exec"),
    ),
    // Before sys_enter: it keeps sys_enter's learn cache right when a task changes cgroup.
    ProgramSpec::at_start(
        "cgroup_attach_task",
        Hook::RawTracepoint("cgroup_attach_task"),
    ),
    ProgramSpec::at_start("sys_enter", Hook::RawTracepoint("sys_enter")),
    ProgramSpec {
        name: PROGRAM_SYS_EXIT_CALL,
        hook: Hook::SyscallExits,
        exit_side: true,
        optional: false,
    },
    ProgramSpec {
        name: PROGRAM_SYS_EXIT,
        hook: Hook::BtfTracepoint("sys_exit"),
        exit_side: true,
        optional: false,
    },
    ProgramSpec::at_start(
        "sched_process_fork",
        Hook::RawTracepoint("sched_process_fork"),
    ),
    ProgramSpec::at_start(
        "sched_process_exit",
        Hook::Tracepoint("sched", "sched_process_exit"),
    ),
    ProgramSpec::at_start("cgroup_mkdir", Hook::Tracepoint("cgroup", "cgroup_mkdir")),
    ProgramSpec::at_start("cgroup_rmdir", Hook::Tracepoint("cgroup", "cgroup_rmdir")),
    ProgramSpec {
        name: PROGRAM_IOURING_SUBMIT,
        hook: Hook::Tracepoint("io_uring", "io_uring_submit_req"),
        exit_side: false,
        optional: true,
    },
];

/// Every operation submitted through an io_uring ring (which no syscall hook sees).
pub const PROGRAM_IOURING_SUBMIT: &str = "io_uring_submit_req";

/// The exit of each syscall that needs it, on its own tracepoint.
pub const PROGRAM_SYS_EXIT_CALL: &str = "sys_exit_call";
/// The exit of every syscall (`--exit-hook all`).
pub const PROGRAM_SYS_EXIT: &str = "sys_exit";

/// The ring buffer that carries every record.
pub const MAP_EVENTS: &str = "EVENTS";
/// `Array<u64>` of [`FORBIDDEN_WORDS`] words: bit `key` set = the call with that syscall key
/// (see [`COMPAT_KEY_BASE`]) is flagged.
pub const MAP_FORBIDDEN: &str = "FORBIDDEN";
/// `PerCpuArray<u64>` indexed by [`Counter`].
pub const MAP_COUNTERS: &str = "COUNTERS";
/// `Array<u8>` indexed by syscall key: bit `i` set = argument `i` is a user string.
pub const MAP_STRING_ARGS: &str = "STRING_ARGS";
/// `HashMap<u32 tid, SyscallRecord>`: flagged calls between sys_enter and sys_exit. A plain
/// hash, not an LRU one: an LRU insert would evict an older call unseen.
pub const MAP_PENDING: &str = "PENDING";
/// `Array<[u8; 64]>` indexed by `tid / 64`, byte `tid % 64`: 1 while the thread is inside a
/// flagged call that found PENDING full (its exit then sends it, with its outcome). One
/// byte per thread id, so it cannot fill; the loader sizes it to the kernel's pid_max.
pub const MAP_UNPARKED: &str = "UNPARKED";
/// Thread ids per UNPARKED entry.
pub const UNPARKED_TIDS_PER_ENTRY: u32 = 64;
/// UNPARKED values: the thread's flagged call entered but found PENDING full, or entered
/// before the sensor attached (its exit builds and sends its record); or it was past its
/// cgroup's budget (counted at entry; its exit sends nothing).
pub const MARK_UNPARKED: u8 = 1;
pub const MARK_SUPPRESSED: u8 = 2;
/// `HashMap<u32 tid, ExecArgs>`: execs between sys_enter and the exec or its failure (a
/// plain hash, like PENDING).
pub const MAP_EXEC_PENDING: &str = "EXEC_PENDING";
/// `PerCpuHashMap<FloodKey, FloodState>`: each cgroup's budget of flagged calls per syscall
/// key and CPU (see `flood.rs` in sensor-ebpf). A plain hash: an evicted entry would take its count of
/// suppressed calls with it.
pub const MAP_FLOOD: &str = "FLOOD";
/// (cgroup, call) pairs with a budget at once; beyond that a pair has none (its calls are all
/// sent; counted as `flood_full`).
pub const FLOOD_CAPACITY: u32 = 8192;
/// Execs in flight at once; beyond that an exec is reported with its argv unknown (counted).
pub const EXEC_PENDING_CAPACITY: u32 = 1024;
/// `Array<u64>` of [`FORBIDDEN_WORDS`] words: bit `nr` set = a program runs at the exit of
/// native syscall `nr` (a flagged call whose exit is not hooked is sent at entry, without
/// outcome). Compat calls never have one: the kernel's per-syscall exit tracepoints skip them.
pub const MAP_EXIT_HOOKED: &str = "EXIT_HOOKED";
/// `HashMap<u64 cgroup id, [u64; FORBIDDEN_WORDS]>`: calls (by key) the policy excepts in
/// that cgroup.
pub const MAP_EXEMPT: &str = "EXEMPT";
/// cgroups with exceptions at once; beyond that, their calls are flagged and dropped in
/// userspace instead (and counted).
pub const EXEMPT_CAPACITY: u32 = 16_384;
/// `HashMap<u64 cgroup id, [u8; LEARNED_SLOTS]>`: the syscalls each cgroup has made, one byte
/// per syscall number (plain byte stores never clobber a neighbour, so no atomics are needed).
pub const MAP_LEARNED: &str = "LEARNED";
/// `Array<ArgCondition>` indexed by syscall key: the argument condition a forbidden call must
/// meet to be flagged (`cond::ALWAYS`: none).
pub const MAP_CONDITIONS: &str = "CONDITIONS";
/// Syscall numbers a learned bitmap holds (one ABI's), and the phase slot.
pub const LEARNED_SLOTS: usize = ABI_NRS as usize;
/// A cgroup's learned byte of a syscall holds the phases it was made in (bits), and slot
/// [`PHASE_SLOT`] of its native value the phase the cgroup is in now. A cgroup starts in
/// the runtime's setup; it is handed over when the runtime installs a seccomp filter
/// (`seccomp(SECCOMP_SET_MODE_FILTER)` or `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`),
/// and the workload runs from the exec after that.
pub const PHASE_RUNTIME: u8 = 1;
/// Between the runtime's filter and the workload's exec: what the runtime still does under
/// the filter (a profile must allow it).
pub const PHASE_FILTERED: u8 = 2;
pub const PHASE_WORKLOAD: u8 = 4;
/// The workload past its start-up (see [`MAP_STEADY`]): what it makes while it serves.
pub const PHASE_STEADY: u8 = 8;
/// `HashMap<u64 cgroup id, u8>`: cgroups whose workload is past its start-up, from userspace
/// (a while after the workload's first call). Their workload-phase calls are learned as
/// `PHASE_STEADY`, so a call made only while starting up is told apart.
pub const MAP_STEADY: &str = "STEADY";
/// The slot of a learned value that holds the cgroup's phase (no syscall number reaches it).
pub const PHASE_SLOT: usize = LEARNED_SLOTS - 1;
/// The learn generation, a `u64` global in its own data section (so a one-entry `Array` map
/// of a `u64` to userspace; the name is the section's). The kernel adds one at every phase
/// change, userspace 2^32 at every change of what [`MAP_LEARN_COUNTS`] counts and of the
/// forbidden set, so that each CPU's learn cache (which knows the calls of one cgroup in one
/// phase that need no more checks) is dropped.
pub const MAP_LEARN_GEN: &str = ".bss.learn_gen";
/// `Array<u64>` of [`LEARN_COUNT_SLOTS`] entries, from userspace: how many cgroups are in
/// [`MAP_BOUND`] (slot [`BOUND_SLOT`]) and in [`MAP_STEADY`] (slot [`STEADY_SLOT`]); 0: the
/// kernel skips that lookup. Written before the generation's bump.
pub const MAP_LEARN_COUNTS: &str = "LEARN_COUNTS";
pub const LEARN_COUNT_SLOTS: u32 = 2;
pub const BOUND_SLOT: u32 = 0;
pub const STEADY_SLOT: u32 = 1;
/// `HashMap<u64 cgroup id, [u64; BOUND_WORDS]>`: the calls (by key, a bitmap like FORBIDDEN)
/// the profile bound to the cgroup allows, then one word of `BOUND_*` bits. Any other call of
/// the cgroup is a deviation, once the cgroup's workload runs (its runtime handed over, or
/// userspace armed it).
pub const MAP_BOUND: &str = "BOUND";
pub const BOUND_WORDS: usize = FORBIDDEN_WORDS as usize + 1;
/// In the last word of a BOUND value: check the cgroup's calls even before a hand-over (its
/// workload runs without a seccomp filter of its runtime's).
pub const BOUND_ARMED: u64 = 1;
/// cgroups with a bound profile at once; beyond that a binding is refused (logged, counted).
pub const BOUND_CAPACITY: u32 = 16_384;
/// `HashMap<u64 cgroup id, [u8; LEARNED_SLOTS]>`: the compat (i386) syscalls each cgroup has
/// made, like [`MAP_LEARNED`]. Compat calls are rare, so they have a map of their own and
/// never touch the native fast path.
pub const MAP_LEARNED_COMPAT: &str = "LEARNED_COMPAT";
/// cgroups with compat calls learned at once.
pub const LEARNED_COMPAT_CAPACITY: u32 = 4096;
/// `HashMap<u64 cgroup id, [u8; LEARNED_SLOTS]>`: the io_uring operations (by opcode) each
/// cgroup has submitted, like [`MAP_LEARNED`].
pub const MAP_LEARNED_IOURING: &str = "LEARNED_IOURING";
/// cgroups with io_uring operations learned at once.
pub const LEARNED_IOURING_CAPACITY: u32 = 4096;
/// File name of the pinned learned map under the pin directory. The layout version is in the
/// name: a map of another layout is never opened as this one.
pub const LEARNED_PIN_NAME: &str = "learned_v2";
/// cgroups learned at once (entries leave when their cgroup is removed).
pub const LEARNED_CAPACITY: u32 = 16_384;
/// Every map of the object that the loader relies on (a name starting with `.` is a global's
/// data section).
pub const MAPS: &[&str] = &[
    MAP_EVENTS,
    MAP_FORBIDDEN,
    MAP_COUNTERS,
    MAP_STRING_ARGS,
    MAP_PENDING,
    MAP_EXEC_PENDING,
    MAP_EXEMPT,
    MAP_LEARNED,
    MAP_EXIT_HOOKED,
    MAP_LEARNED_COMPAT,
    MAP_CONDITIONS,
    MAP_LEARNED_IOURING,
    MAP_LEARN_GEN,
    MAP_LEARN_COUNTS,
    MAP_BOUND,
    MAP_STEADY,
    MAP_UNPARKED,
    MAP_FLOOD,
];

/// Threads that may be inside a flagged call at once with their entry's record parked;
/// beyond that a call's record is built at its exit (arguments read then; counted).
pub const PENDING_CAPACITY: u32 = 8192;

/// Global: offset of `__data_loc char[] filename` in the `sched_process_exec` record.
pub const GLOBAL_EXEC_FILENAME_OFF: &str = "EXEC_FILENAME_OFF";
/// Globals: the execve and execveat syscall numbers of this architecture.
pub const GLOBAL_NR_EXECVE: &str = "NR_EXECVE";
pub const GLOBAL_NR_EXECVEAT: &str = "NR_EXECVEAT";
/// Globals: the execve and execveat numbers of the compat ABI (i386: 11 and 358).
pub const GLOBAL_NR_EXECVE_COMPAT: &str = "NR_EXECVE_COMPAT";
pub const GLOBAL_NR_EXECVEAT_COMPAT: &str = "NR_EXECVEAT_COMPAT";
/// Globals: where the task's syscall status word is (`task_struct.thread_info.status`, from
/// BTF), and the bit that says the current syscall is a compat one (`TS_COMPAT`). With the
/// offset unknown, every call is taken as native.
pub const GLOBAL_TASK_TI_STATUS_OFF: &str = "TASK_TI_STATUS_OFF";
/// Global: offset of `seccomp.mode` in task_struct (from BTF): a call the calling thread
/// makes under no seccomp filter cannot have been refused before entry.
pub const GLOBAL_TASK_SECCOMP_MODE_OFF: &str = "TASK_SECCOMP_MODE_OFF";
/// Global: offset of `start_time` in task_struct (from BTF), for the learn cache's task key.
pub const GLOBAL_TASK_START_TIME_OFF: &str = "TASK_START_TIME_OFF";
/// Global: flagged calls of one syscall key one cgroup may send per second before the rest
/// of that second's are counted instead (0: no budget).
pub const GLOBAL_FLOOD_BUDGET: &str = "FLOOD_BUDGET";
pub const GLOBAL_TS_COMPAT: &str = "TS_COMPAT";
/// `LruHashMap<u32 thread id, SentClone>`: clone-family calls that went out at their entry
/// (their exit is not hooked), with what the entry read, for their fork to check (see
/// `sensor-ebpf`'s `namespaces.rs`). Kernel-only.
pub const MAP_SENT_CLONES: &str = "SENT_CLONES";
/// Threads whose clone-family call went out at its entry, noted at once; a clone that fails
/// has no fork to take its note, so the oldest give way.
pub const SENT_CLONES_CAPACITY: u32 = 4096;
/// `Array<u64>` of two entries: when (`bpf_ktime_get_ns`) a lazy record, and a flagged one,
/// last forced a wakeup of the reader. Kernel-only.
pub const MAP_WAKE: &str = "WAKE";
/// Global: a lazy record (see `GLOBAL_WAKE_BYTES`) wakes the reader if no lazy record did in
/// this many ns; the reader drains once more this long after it read lazy records, for those
/// that did not (`sensor run --process-event-delay-ms`).
pub const GLOBAL_LAZY_WAKE_NS: &str = "LAZY_WAKE_NS";
/// `GLOBAL_LAZY_WAKE_NS`'s default. 100 ms: on a VM a wake-up (and the gRPC write it leads
/// to) costs the daemon about 0.3 ms, a process event about 3 us (README, "A wake-up costs
/// more than the events it brings"; the bench's exec storm prints the daemon's CPU at 50,
/// 100 and 250 ms); a burst's last records come at most about 102 ms late.
pub const LAZY_WAKE_NS_DEFAULT: u64 = 100_000_000;
/// A flagged record behind lazy ones that have not woken the reader wakes it if no flagged
/// record did in this long; the reader drains once more this long after it read flagged
/// records.
pub const FLAGGED_WAKE_NS: u64 = 1_000_000;
/// Global: bytes waiting in the ring past which a record that wakes nobody (process
/// lifecycle, learning, cgroups) wakes the reader after all; from the ring's size.
pub const GLOBAL_WAKE_BYTES: &str = "WAKE_BYTES";
/// Globals: the path from the task to the executed file, from BTF: `task_struct.mm`,
/// `mm_struct.exe_file`, `file.f_inode`, `inode.i_nlink`, `file.f_path.dentry`,
/// `dentry.d_name.name`.
pub const GLOBAL_TASK_MM_OFF: &str = "TASK_MM_OFF";
/// Globals: the path from the task to an open file by number, from BTF: `task_struct.files`,
/// `files_struct.fdt`, `fdtable.fd`, `fdtable.max_fds` (a script run from an fd is read
/// there: the process runs its interpreter).
pub const GLOBAL_TASK_FILES_OFF: &str = "TASK_FILES_OFF";
pub const GLOBAL_FILES_FDT_OFF: &str = "FILES_FDT_OFF";
pub const GLOBAL_FDT_FD_OFF: &str = "FDT_FD_OFF";
pub const GLOBAL_FDT_MAX_FDS_OFF: &str = "FDT_MAX_FDS_OFF";
pub const GLOBAL_MM_EXE_FILE_OFF: &str = "MM_EXE_FILE_OFF";
pub const GLOBAL_FILE_INODE_OFF: &str = "FILE_INODE_OFF";
pub const GLOBAL_INODE_NLINK_OFF: &str = "INODE_NLINK_OFF";
pub const GLOBAL_FILE_DENTRY_OFF: &str = "FILE_DENTRY_OFF";
pub const GLOBAL_DENTRY_NAME_OFF: &str = "DENTRY_NAME_OFF";
/// Globals: the path from the task to its pid namespace's level, from BTF:
/// `task_struct.thread_pid`, `pid.level`.
pub const GLOBAL_TASK_THREAD_PID_OFF: &str = "TASK_THREAD_PID_OFF";
pub const GLOBAL_PID_LEVEL_OFF: &str = "PID_LEVEL_OFF";
/// Global: the path from a task to its namespaces, from BTF, as one `[u32; NS_OFFS_LEN]`:
/// `task_struct.nsproxy`, `task_struct.real_cred`, `cred.user_ns`, then the `struct nsproxy`
/// members of `FORK_NAMESPACES` in its order. The first three unknown: all are
/// `OFFSET_UNKNOWN`; a member this kernel lacks (`time_ns_for_children` without
/// CONFIG_TIME_NS) is unknown alone and never compared.
pub const GLOBAL_NS_OFFS: &str = "NS_OFFS";
pub const NS_OFFS_LEN: usize = 3 + crate::NSPROXY_NAMESPACES;
/// Global: offset of `old_pid` in the sched_process_exec record.
pub const GLOBAL_EXEC_OLD_PID_OFF: &str = "EXEC_OLD_PID_OFF";
/// Global: the sensor's own tgid, whose syscalls are never flagged.
pub const GLOBAL_SELF_TGID: &str = "SELF_TGID";
/// Globals: offsets of `task_struct` fields, from the kernel's BTF (`u32::MAX`: unknown).
pub const GLOBAL_TASK_PID_OFF: &str = "TASK_PID_OFF";
pub const GLOBAL_TASK_TGID_OFF: &str = "TASK_TGID_OFF";
pub const GLOBAL_TASK_REAL_PARENT_OFF: &str = "TASK_REAL_PARENT_OFF";
pub const GLOBAL_TASK_EXIT_CODE_OFF: &str = "TASK_EXIT_CODE_OFF";
pub const GLOBAL_TASK_CRED_OFF: &str = "TASK_CRED_OFF";
/// Globals: offsets in `struct cred`, from the kernel's BTF.
pub const GLOBAL_CRED_EUID_OFF: &str = "CRED_EUID_OFF";
pub const GLOBAL_CRED_CAP_EFFECTIVE_OFF: &str = "CRED_CAP_EFFECTIVE_OFF";
/// Globals: field offsets in the cgroup_mkdir/cgroup_rmdir records (from tracefs).
pub const GLOBAL_CGROUP_ROOT_OFF: &str = "CGROUP_ROOT_OFF";
pub const GLOBAL_CGROUP_ID_OFF: &str = "CGROUP_ID_OFF";
pub const GLOBAL_CGROUP_PATH_OFF: &str = "CGROUP_PATH_OFF";
/// Global: offset of `group_dead` in the sched_process_exit record (`u32::MAX`: absent).
pub const GLOBAL_EXIT_GROUP_DEAD_OFF: &str = "EXIT_GROUP_DEAD_OFF";
/// Globals: offsets of `__syscall_nr` and `ret` in the syscalls/sys_exit_* records.
pub const GLOBAL_SYS_EXIT_NR_OFF: &str = "SYS_EXIT_NR_OFF";
pub const GLOBAL_SYS_EXIT_RET_OFF: &str = "SYS_EXIT_RET_OFF";
/// Global: offset of `opcode` in the io_uring_submit_req record (OFFSET_UNKNOWN: no such
/// tracepoint).
pub const GLOBAL_IOURING_OPCODE_OFF: &str = "IOURING_OPCODE_OFF";
/// Globals: the native seccomp and prctl numbers (the runtime's hand-over).
pub const GLOBAL_NR_SECCOMP: &str = "NR_SECCOMP";
pub const GLOBAL_NR_PRCTL: &str = "NR_PRCTL";
/// Every global of the object that the loader sets.
pub const GLOBALS: &[&str] = &[
    GLOBAL_EXEC_FILENAME_OFF,
    GLOBAL_SELF_TGID,
    GLOBAL_TASK_PID_OFF,
    GLOBAL_TASK_TGID_OFF,
    GLOBAL_TASK_REAL_PARENT_OFF,
    GLOBAL_TASK_EXIT_CODE_OFF,
    GLOBAL_TASK_CRED_OFF,
    GLOBAL_CRED_EUID_OFF,
    GLOBAL_CRED_CAP_EFFECTIVE_OFF,
    GLOBAL_CGROUP_ROOT_OFF,
    GLOBAL_CGROUP_ID_OFF,
    GLOBAL_CGROUP_PATH_OFF,
    GLOBAL_EXIT_GROUP_DEAD_OFF,
    GLOBAL_NR_EXECVE,
    GLOBAL_NR_EXECVEAT,
    GLOBAL_EXEC_OLD_PID_OFF,
    GLOBAL_SYS_EXIT_NR_OFF,
    GLOBAL_SYS_EXIT_RET_OFF,
    GLOBAL_NR_EXECVE_COMPAT,
    GLOBAL_NR_EXECVEAT_COMPAT,
    GLOBAL_TASK_TI_STATUS_OFF,
    GLOBAL_TASK_SECCOMP_MODE_OFF,
    GLOBAL_TASK_START_TIME_OFF,
    GLOBAL_FLOOD_BUDGET,
    GLOBAL_TS_COMPAT,
    GLOBAL_TASK_MM_OFF,
    GLOBAL_MM_EXE_FILE_OFF,
    GLOBAL_TASK_FILES_OFF,
    GLOBAL_FILES_FDT_OFF,
    GLOBAL_FDT_FD_OFF,
    GLOBAL_FDT_MAX_FDS_OFF,
    GLOBAL_FILE_INODE_OFF,
    GLOBAL_INODE_NLINK_OFF,
    GLOBAL_FILE_DENTRY_OFF,
    GLOBAL_DENTRY_NAME_OFF,
    GLOBAL_TASK_THREAD_PID_OFF,
    GLOBAL_PID_LEVEL_OFF,
    GLOBAL_NS_OFFS,
    GLOBAL_IOURING_OPCODE_OFF,
    GLOBAL_NR_SECCOMP,
    GLOBAL_NR_PRCTL,
    GLOBAL_WAKE_BYTES,
];

/// An offset global's value when the field does not exist on this kernel.
pub const OFFSET_UNKNOWN: u32 = u32::MAX;

/// Per-CPU counters kept by the kernel side. Values index `COUNTERS`; never reuse one.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// A cgroup creation/removal record was lost because the ring buffer was full.
    RingbufFullCgroup = 0,
    /// A helper failed while reading arguments or strings (the record still went out).
    ReadError = 1,
    /// A flagged call could not be parked until its exit (PENDING full): its record is built
    /// at its exit instead, with its outcome and its arguments as they were then (or, for a
    /// thread id past UNPARKED, sent at entry without an outcome).
    PendingFull = 2,
    /// A cgroup's syscalls could not be learned: the LEARNED map was full.
    LearnFull = 3,
    /// A flagged-syscall record was lost because the ring buffer was full.
    RingbufFullFlagged = 4,
    /// An exec record (successful or failed) was lost: ring buffer full.
    RingbufFullExec = 5,
    /// A fork record was lost: ring buffer full.
    RingbufFullFork = 6,
    /// An exit record was lost: ring buffer full.
    RingbufFullExit = 7,
    /// A first-use (SyscallSeen) record was lost: ring buffer full.
    RingbufFullSeen = 8,
    /// A parked flagged call whose exit never came (its thread made another flagged call or
    /// ended first): sent without an outcome.
    PendingStale = 9,
    /// An exec's argv could not be parked (EXEC_PENDING full): its record says argv unknown.
    ExecPendingFull = 10,
    /// A parked exec that neither happened nor failed before its thread's next exec or end:
    /// dropped (the exec record, if any, went out without it).
    ExecPendingStale = 11,
    /// A flagged call had no budget entry (FLOOD full): sent without a budget.
    FloodFull = 12,
}

/// Counters in `COUNTERS`' one entry (per CPU), room left for growth: the sensor reads them
/// all with one lookup.
pub const COUNTER_SLOTS: usize = 16;

/// `COUNTERS`' value: one count per [`Counter`].
pub type Counts = [u64; COUNTER_SLOTS];
const _: () = assert!(Counter::ALL.len() <= COUNTER_SLOTS);

impl Counter {
    pub const ALL: [Counter; 13] = [
        Counter::RingbufFullCgroup,
        Counter::ReadError,
        Counter::PendingFull,
        Counter::LearnFull,
        Counter::RingbufFullFlagged,
        Counter::RingbufFullExec,
        Counter::RingbufFullFork,
        Counter::RingbufFullExit,
        Counter::RingbufFullSeen,
        Counter::PendingStale,
        Counter::ExecPendingFull,
        Counter::ExecPendingStale,
        Counter::FloodFull,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Counter::RingbufFullCgroup => "ringbuf_full_cgroup",
            Counter::ReadError => "read_error",
            Counter::PendingFull => "pending_full",
            Counter::LearnFull => "learn_full",
            Counter::RingbufFullFlagged => "ringbuf_full_flagged",
            Counter::RingbufFullExec => "ringbuf_full_exec",
            Counter::RingbufFullFork => "ringbuf_full_fork",
            Counter::RingbufFullExit => "ringbuf_full_exit",
            Counter::RingbufFullSeen => "ringbuf_full_seen",
            Counter::PendingStale => "pending_stale",
            Counter::ExecPendingFull => "exec_pending_full",
            Counter::ExecPendingStale => "exec_pending_stale",
            Counter::FloodFull => "flood_full",
        }
    }
}
