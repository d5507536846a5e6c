//! Maps and load-time globals. Names must match `sensor_common::layout`; `cargo xtask build`
//! checks the built object against that list.
use aya_ebpf::{
    Global,
    helpers::bpf_get_current_cgroup_id,
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap, RingBuf},
};
use sensor_common::{
    ABI_WORDS, ArgCondition, BOUND_ARMED, BOUND_CAPACITY, BOUND_SLOT, BOUND_WORDS, Counter, Counts,
    EXEC_PENDING_CAPACITY, EXEMPT_CAPACITY, ExecArgs, FLAG_DEVIATION, FLAG_UNFLAGGED,
    FLOOD_CAPACITY, FORBIDDEN_MAX_NR, FORBIDDEN_WORDS, FloodKey, FloodState, LEARN_COUNT_SLOTS,
    LEARNED_CAPACITY, LEARNED_COMPAT_CAPACITY, LEARNED_IOURING_CAPACITY, LEARNED_SLOTS,
    NS_OFFS_LEN, OFFSET_UNKNOWN, PENDING_CAPACITY, PHASE_RUNTIME, PHASE_STEADY, PHASE_WORKLOAD,
    SENT_CLONES_CAPACITY, STEADY_SLOT, SyscallRecord, UNPARKED_TIDS_PER_ENTRY,
};

use crate::namespaces::SentClone;

use aya_ebpf::helpers::generated::bpf_get_current_task_btf;

/// Every record goes through this one ring buffer. Userspace may resize it at load.
#[map]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// Bitmap of forbidden syscall keys (native numbers, then compat ones at COMPAT_KEY_BASE),
/// filled by userspace from the policy.
#[map]
pub static FORBIDDEN: Array<u64> = Array::with_max_entries(FORBIDDEN_WORDS, 0);

/// What the kernel side reads of each syscall key's arguments in user memory (a
/// `sensor_common::read_mask` value: its strings, and the argument whose pointee the record
/// carries), from userspace.
#[map]
pub static STRING_ARGS: Array<u16> = Array::with_max_entries(FORBIDDEN_MAX_NR as u32, 0);

/// The argument condition of each forbidden syscall key, from userspace (zeroed: none).
#[map]
pub static CONDITIONS: Array<ArgCondition> = Array::with_max_entries(FORBIDDEN_MAX_NR as u32, 0);

/// Flagged calls between their entry and their exit, by thread id (see `parked.rs`).
#[map]
pub static PENDING: HashMap<u32, SyscallRecord> = HashMap::with_max_entries(PENDING_CAPACITY, 0);

/// Threads inside a flagged call that PENDING had no room for, one byte per thread id (see
/// `parked.rs`). The loader sizes it to the kernel's pid_max; this default covers the
/// largest one there is (PID_MAX_LIMIT, 4M ids).
#[map]
pub static UNPARKED: Array<[u8; UNPARKED_TIDS_PER_ENTRY as usize]> =
    Array::with_max_entries((4 << 20) / UNPARKED_TIDS_PER_ENTRY, 0);

/// Syscalls whose exit runs a program of ours (a bitmap like FORBIDDEN), from userspace. A
/// forbidden call whose exit is not hooked is sent at entry, without its outcome.
#[map]
pub static EXIT_HOOKED: Array<u64> = Array::with_max_entries(FORBIDDEN_WORDS, 0);

/// Each cgroup's budget of flagged calls, per syscall key and CPU (see `flood.rs`).
#[map]
pub static FLOOD: PerCpuHashMap<FloodKey, FloodState> =
    PerCpuHashMap::with_max_entries(FLOOD_CAPACITY, 0);

/// Flagged calls of one key one cgroup may send per second (0: no budget), from the loader.
#[unsafe(no_mangle)]
pub static FLOOD_BUDGET: Global<u64> = Global::new(0);

/// Clone-family calls that went out at their entry, by thread id, for their fork to check
/// (see `namespaces::at_fork`). An LRU: a clone that fails leaves a note no fork takes.
#[map]
pub static SENT_CLONES: LruHashMap<u32, SentClone> =
    LruHashMap::with_max_entries(SENT_CLONES_CAPACITY, 0);

/// When a record of each class last forced a wakeup of the reader: `WAKE_LAZY` and
/// `WAKE_FLAGGED` (see `record::lazy_wakeup` and `record::flagged_wakeup`).
#[map]
pub static WAKE: Array<u64> = Array::with_max_entries(2, 0);
pub const WAKE_LAZY: u32 = 0;
pub const WAKE_FLAGGED: u32 = 1;

/// Bytes waiting in EVENTS past which a lazy record wakes the reader (see
/// `record::lazy_wakeup`), from the loader.
#[unsafe(no_mangle)]
pub static WAKE_BYTES: Global<u64> = Global::new(64 * 1024);

/// A lazy record wakes the reader if no lazy record did in this many ns (see
/// `record::lazy_wakeup`), from the loader.
#[unsafe(no_mangle)]
pub static LAZY_WAKE_NS: Global<u64> = Global::new(sensor_common::LAZY_WAKE_NS_DEFAULT);

/// Calls the policy excepts, by cgroup id (a bitmap like FORBIDDEN), from userspace.
#[map]
pub static EXEMPT: HashMap<u64, [u64; FORBIDDEN_WORDS as usize]> =
    HashMap::with_max_entries(EXEMPT_CAPACITY, 0);

/// The syscalls each cgroup has made (a bitmap like FORBIDDEN), learned at sys_enter.
#[map]
pub static LEARNED: HashMap<u64, [u8; LEARNED_SLOTS]> =
    HashMap::with_max_entries(LEARNED_CAPACITY, 0);

/// The compat syscalls each cgroup has made (like LEARNED; compat calls never take the
/// native fast path).
#[map]
pub static LEARNED_COMPAT: HashMap<u64, [u8; LEARNED_SLOTS]> =
    HashMap::with_max_entries(LEARNED_COMPAT_CAPACITY, 0);

/// The io_uring operations each cgroup has submitted (by opcode; like LEARNED).
#[map]
pub static LEARNED_IOURING: HashMap<u64, [u8; LEARNED_SLOTS]> =
    HashMap::with_max_entries(LEARNED_IOURING_CAPACITY, 0);

/// Each CPU's shortcut in front of LEARNED (its first words: `learn.rs`'s TASK .. GEN): the
/// task and the cgroup that ran last on this CPU, the LEARN_GEN it was filled under, then two
/// bitmaps of the syscalls that cgroup is known to have learned in its current phase, inside
/// its bound profile if any: those whose entry has nothing else to do (not forbidden, not an
/// exec, not a seccomp filter's install), and then the others. A hit skips the cgroup id and
/// the hash lookup; a miss (another cgroup, or a bit not yet set) takes the LEARNED path.
///
/// A global indexed by the CPU's number rather than a per-CPU array map: the direct address
/// of a data section and the (JIT-inlined) CPU number cost fewer instructions on every
/// syscall of the node than the per-CPU map's lookup. Each CPU has its own
/// [`CACHE_STRIDE`]-word slot (256 bytes: a refill does not touch a neighbour's cache lines);
/// only that CPU's `sys_enter` touches it, one call at a time, as with a per-CPU map. CPUs
/// numbered [`CACHE_CPUS`] and up go without (the LEARNED path on every call: slower, same
/// answers).
#[unsafe(link_section = ".bss.learn_cache")]
#[unsafe(no_mangle)]
pub static mut LEARN_CACHE: [[u64; CACHE_STRIDE]; CACHE_CPUS] = [[0; CACHE_STRIDE]; CACHE_CPUS];

/// Words of LEARN_CACHE before its first bitmap.
pub const CACHE_HEAD: usize = 4;
/// Words of LEARN_CACHE: the head and the two bitmaps.
pub const CACHE_WORDS: usize = CACHE_HEAD + 2 * ABI_WORDS as usize;
/// Words between two CPUs' caches (256 bytes).
pub const CACHE_STRIDE: usize = 32;
/// CPUs with a learn cache (128 KiB in all).
pub const CACHE_CPUS: usize = 512;
const _: () = assert!(CACHE_WORDS <= CACHE_STRIDE);

/// The learn generation: the kernel adds one at every phase change of any cgroup, userspace
/// 2^32 at every change of BOUND, STEADY or the forbidden set; a CPU's LEARN_CACHE filled
/// under another value is stale (it knows the calls of its cgroup in an older phase, or
/// under an older profile). A global (its own data section, which userspace writes as a
/// one-entry array map): every syscall of the node reads it, at a direct address rather
/// than through an array map's lookup.
#[unsafe(link_section = ".bss.learn_gen")]
#[unsafe(no_mangle)]
pub static mut LEARN_GEN: u64 = 0;

/// The learn generation now.
#[inline(always)]
pub fn learn_gen() -> u64 {
    // SAFETY: an aligned u64; others may write it meanwhile (a 64-bit load cannot tear).
    unsafe { core::ptr::read_volatile(&raw const LEARN_GEN) }
}

/// How many cgroups are in BOUND and in STEADY (0: not looked up), from userspace.
#[map]
pub static LEARN_COUNTS: Array<u64> = Array::with_max_entries(LEARN_COUNT_SLOTS, 0);

/// The profile bound to each cgroup: its allowed calls by key, then a word of `BOUND_*`
/// bits (see `deviates`), from userspace.
#[map]
pub static BOUND: HashMap<u64, [u64; BOUND_WORDS]> = HashMap::with_max_entries(BOUND_CAPACITY, 0);

/// cgroups whose workload is past its start-up, from userspace.
#[map]
pub static STEADY: HashMap<u64, u8> = HashMap::with_max_entries(LEARNED_CAPACITY, 0);

/// execve/execveat calls between their entry and the exec (or its failure), by thread id.
#[map]
pub static EXEC_PENDING: HashMap<u32, ExecArgs> =
    HashMap::with_max_entries(EXEC_PENDING_CAPACITY, 0);

/// Room to build one ExecArgs per CPU.
#[map]
pub static EXEC_SCRATCH: PerCpuArray<ExecArgs> = PerCpuArray::with_max_entries(1, 0);

/// Room to build one record per CPU: a SyscallRecord is too big for the 512-byte stack.
#[map]
pub static SCRATCH: PerCpuArray<SyscallRecord> = PerCpuArray::with_max_entries(1, 0);

/// Per-CPU counters, one entry indexed by [`Counter`]: no loss is silent.
#[map]
pub static COUNTERS: PerCpuArray<Counts> = PerCpuArray::with_max_entries(1, 0);

/// Offset of `__data_loc char[] filename` in the sched_process_exec record, from tracefs.
#[unsafe(no_mangle)]
pub static EXEC_FILENAME_OFF: Global<u32> = Global::new(8);

/// Offsets of `__syscall_nr` and `ret` in the syscalls/sys_exit_* records, from tracefs.
#[unsafe(no_mangle)]
pub static SYS_EXIT_NR_OFF: Global<u32> = Global::new(8);
#[unsafe(no_mangle)]
pub static SYS_EXIT_RET_OFF: Global<u32> = Global::new(16);

/// The loader's own tgid: its syscalls are never flagged.
#[unsafe(no_mangle)]
pub static SELF_TGID: Global<u32> = Global::new(0);

/// This architecture's seccomp and prctl numbers (set by the loader): the runtime's
/// hand-over.
#[unsafe(no_mangle)]
pub static NR_SECCOMP: Global<u32> = Global::new(317);
#[unsafe(no_mangle)]
pub static NR_PRCTL: Global<u32> = Global::new(157);

/// This architecture's execve and execveat numbers (set by the loader).
#[unsafe(no_mangle)]
pub static NR_EXECVE: Global<u32> = Global::new(59);
#[unsafe(no_mangle)]
pub static NR_EXECVEAT: Global<u32> = Global::new(322);

/// Offset of `old_pid` in the sched_process_exec record, from tracefs.
#[unsafe(no_mangle)]
pub static EXEC_OLD_PID_OFF: Global<u32> = Global::new(16);

/// The compat ABI's execve and execveat numbers (i386: 11, 358).
#[unsafe(no_mangle)]
pub static NR_EXECVE_COMPAT: Global<u32> = Global::new(11);
#[unsafe(no_mangle)]
pub static NR_EXECVEAT_COMPAT: Global<u32> = Global::new(358);

#[inline(always)]
pub fn is_exec(nr: u64) -> bool {
    nr == NR_EXECVE.load() as u64 || nr == NR_EXECVEAT.load() as u64
}

/// Native `seccomp` or `prctl`: maybe a seccomp filter's install (see `sys_enter::handover`).
#[inline(always)]
pub fn is_handover(nr: u64) -> bool {
    nr == NR_SECCOMP.load() as u64 || nr == NR_PRCTL.load() as u64
}

#[inline(always)]
pub fn is_compat_exec(nr: u64) -> bool {
    nr == NR_EXECVE_COMPAT.load() as u64 || nr == NR_EXECVEAT_COMPAT.load() as u64
}

/// Offset of `thread_info.status` in task_struct (from BTF), and its `TS_COMPAT` bit (0 on
/// architectures where the sensor does not tell compat calls apart).
#[unsafe(no_mangle)]
pub static TASK_TI_STATUS_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static TS_COMPAT: Global<u32> = Global::new(0);

/// Offset of `seccomp.mode` in task_struct (from BTF).
#[unsafe(no_mangle)]
pub static TASK_SECCOMP_MODE_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);

/// Offset of `start_time` in task_struct (from BTF): the learn cache's task key.
#[unsafe(no_mangle)]
pub static TASK_START_TIME_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);

/// The running task, as a BTF pointer (its fields are read with plain loads, checked by the
/// verifier against task_struct's layout).
#[inline(always)]
pub fn current_task() -> *const u8 {
    // SAFETY: no arguments.
    unsafe { bpf_get_current_task_btf() as *const u8 }
}

/// A u32 or u64 field of the current task at a load-time offset (frozen .rodata, which the
/// verifier folds: it checks the load against the BTF layout).
///
/// # Safety
/// `task` comes from [`current_task`] and `off` is the offset of a `T` field of task_struct.
#[inline(always)]
pub unsafe fn task_field<T: Copy>(task: *const u8, off: u32) -> T {
    // SAFETY: see above.
    unsafe { core::ptr::read_volatile(task.add(off as usize).cast::<T>()) }
}

/// Is the current syscall a compat one (i386 through `int $0x80` or a 32-bit process)? Its
/// number is then the compat ABI's. This is what the kernel's own `in_ia32_syscall()` reads.
/// It runs on every syscall of the node, so it is one helper call and one load: the offset
/// and the mask are load-time constants (frozen .rodata, which the verifier folds), and the
/// task pointer is a BTF one, read directly rather than through bpf_probe_read_kernel.
#[inline(always)]
pub fn in_compat_syscall(task: *const u8) -> bool {
    let mask = TS_COMPAT.load();
    if mask == 0 {
        return false;
    }
    // SAFETY: the current task; thread_info.status is a u32.
    unsafe { task_field::<u32>(task, TASK_TI_STATUS_OFF.load()) & mask != 0 }
}

/// Offset of `opcode` in the io_uring_submit_req record, from tracefs.
#[unsafe(no_mangle)]
pub static IOURING_OPCODE_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);

// Offsets of task_struct fields, from the kernel's BTF (OFFSET_UNKNOWN: skip what needs them).
#[unsafe(no_mangle)]
pub static TASK_PID_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static TASK_TGID_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static TASK_REAL_PARENT_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static TASK_EXIT_CODE_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static TASK_CRED_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static CRED_EUID_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static CRED_CAP_EFFECTIVE_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);

// The path to the executed file, from the kernel's BTF (OFFSET_UNKNOWN: not read).
#[unsafe(no_mangle)]
pub static TASK_MM_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static MM_EXE_FILE_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
// The path to an open file by number, from the kernel's BTF (OFFSET_UNKNOWN: not read).
#[unsafe(no_mangle)]
pub static TASK_FILES_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static FILES_FDT_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static FDT_FD_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static FDT_MAX_FDS_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static FILE_INODE_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static INODE_NLINK_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static FILE_DENTRY_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static DENTRY_NAME_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
// The path to the task's pid namespace level, from the kernel's BTF.
#[unsafe(no_mangle)]
pub static TASK_THREAD_PID_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
#[unsafe(no_mangle)]
pub static PID_LEVEL_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);
// The path to a task's namespaces, from the kernel's BTF (see sensor_common::GLOBAL_NS_OFFS).
#[unsafe(no_mangle)]
pub static NS_OFFS: Global<[u32; NS_OFFS_LEN]> = Global::new([OFFSET_UNKNOWN; NS_OFFS_LEN]);

// Field offsets of the cgroup_mkdir/cgroup_rmdir and sched_process_exit records, from tracefs.
#[unsafe(no_mangle)]
pub static CGROUP_ROOT_OFF: Global<u32> = Global::new(8);
#[unsafe(no_mangle)]
pub static CGROUP_ID_OFF: Global<u32> = Global::new(16);
#[unsafe(no_mangle)]
pub static CGROUP_PATH_OFF: Global<u32> = Global::new(24);
#[unsafe(no_mangle)]
pub static EXIT_GROUP_DEAD_OFF: Global<u32> = Global::new(OFFSET_UNKNOWN);

#[inline(always)]
pub fn count(counter: Counter) {
    if let Some(counts) = COUNTERS.get_ptr_mut(0) {
        // SAFETY: per-CPU entry, no concurrent writer on this CPU while we run.
        if let Some(slot) = unsafe { (*counts).get_mut(counter as usize) } {
            *slot += 1;
        }
    }
}

/// Is syscall key `key` in the forbidden set? The hot path of every syscall on the node.
#[inline(always)]
pub fn is_forbidden(key: u64) -> bool {
    if key >= FORBIDDEN_MAX_NR {
        return false;
    }
    has_bit(&FORBIDDEN, key)
}

/// Is bit `nr` set in a bitmap map (FORBIDDEN, EXIT_HOOKED)?
#[inline(always)]
fn has_bit(bitmap: &Array<u64>, nr: u64) -> bool {
    match bitmap.get((nr >> 6) as u32) {
        Some(word) => (*word >> (nr & 63)) & 1 == 1,
        None => false,
    }
}

/// Does a program of ours run at the exit of the call with syscall key `key`? Asked on the
/// flagged path only. Compat keys are set only when `sys_exit` hooks every exit.
#[inline(always)]
pub fn exit_hooked(key: u64) -> bool {
    has_bit(&EXIT_HOOKED, key)
}

/// The caller's pid_tgid when the call with syscall key `key` is to be reported: forbidden,
/// not made by the sensor itself, and not excepted by the policy for its cgroup.
#[inline(always)]
pub fn flagged_caller(key: u64) -> Option<u64> {
    if !is_forbidden(key) {
        return None;
    }
    let pid_tgid = aya_ebpf::helpers::bpf_get_current_pid_tgid();
    if (pid_tgid >> 32) as u32 == SELF_TGID.load() || is_exempt(key) {
        return None;
    }
    Some(pid_tgid)
}

/// How a call with syscall key `key` is reported, as (the caller's pid_tgid, `FLAG_*` bits):
/// flagged by the policy (see [`flagged_caller`]), outside its cgroup's bound profile
/// (`deviates`: `FLAG_DEVIATION`, with `FLAG_UNFLAGGED` when the policy does not flag it),
/// or not at all. The sensor's own calls never are.
#[inline(always)]
pub fn reported_caller(key: u64, deviates: bool) -> Option<(u64, u16)> {
    if !deviates {
        return flagged_caller(key).map(|p| (p, 0));
    }
    let pid_tgid = aya_ebpf::helpers::bpf_get_current_pid_tgid();
    if (pid_tgid >> 32) as u32 == SELF_TGID.load() {
        return None;
    }
    if is_forbidden(key) && !is_exempt(key) {
        Some((pid_tgid, FLAG_DEVIATION))
    } else {
        Some((pid_tgid, FLAG_DEVIATION | FLAG_UNFLAGGED))
    }
}

/// The phase a cgroup's calls are learned in: its phase slot's, except a workload past its
/// start-up (in STEADY). Looked up only when some cgroup is, and only on the slow path.
#[inline(always)]
pub fn learning_phase(cgroup: u64, slot: u8) -> u8 {
    if slot == PHASE_WORKLOAD
        && LEARN_COUNTS.get(STEADY_SLOT).is_some_and(|n| *n != 0)
        // SAFETY: a plain value read out of the map.
        && unsafe { STEADY.get(&cgroup) }.is_some()
    {
        return PHASE_STEADY;
    }
    slot
}

/// Is any profile bound? (Nothing else of the deviation check runs otherwise.)
#[inline(always)]
pub fn any_bound() -> bool {
    LEARN_COUNTS.get(BOUND_SLOT).is_some_and(|n| *n != 0)
}

/// Is syscall key `key` outside the profile bound to `cgroup`, which is in `phase`? A cgroup
/// is checked once its workload runs: past its runtime's hand-over, or armed by userspace
/// (a workload started without a filter of its runtime's). Unbound cgroups never deviate.
#[inline(always)]
pub fn deviates(cgroup: u64, key: u64, phase: u8) -> bool {
    // SAFETY: a plain value read out of the map.
    let Some(bound) = (unsafe { BOUND.get(&cgroup) }) else {
        return false;
    };
    if phase == PHASE_RUNTIME && bound[BOUND_WORDS - 1] & BOUND_ARMED == 0 {
        return false;
    }
    let word = opaque((key >> 6) as usize);
    if word >= BOUND_WORDS - 1 {
        return false; // no such key: nothing to say
    }
    match bound.get(word) {
        Some(w) => (*w >> (key & 63)) & 1 == 0,
        None => false,
    }
}

/// `v`, with whatever range the compiler knows for it forgotten: a bounds check on it then
/// stays in the program (the compiler would drop it, or fold it into shifts whose range the
/// verifier tracks too loosely), where the verifier needs it.
#[inline(always)]
fn opaque(v: usize) -> usize {
    // SAFETY: a read of a local.
    unsafe { core::ptr::read_volatile(&v) }
}

/// Does the policy except syscall key `nr` in the current cgroup? Only asked on the flagged
/// path.
#[inline(always)]
pub fn is_exempt(nr: u64) -> bool {
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    // SAFETY: a plain value copy out of the map.
    match unsafe { EXEMPT.get(&cgroup) } {
        Some(words) => match words.get(opaque((nr >> 6) as usize)) {
            Some(w) => (*w >> (nr & 63)) & 1 == 1,
            None => false,
        },
        None => false,
    }
}
