//! Learning which syscalls each cgroup makes, in the kernel, and in which phase of its life:
//! one byte per syscall number and cgroup holding the phases (`PHASE_*` bits) it was made
//! in, each set only while it is still clear. A steady workload costs a lookup and a test per
//! syscall, not an event; the first use of a syscall in a phase sends one small `SyscallSeen`
//! record. (Two CPUs may both see a bit clear and both report it: userspace keeps one.)
//!
//! Phases: a cgroup starts in its runtime's setup (`PHASE_RUNTIME`); the runtime's seccomp
//! filter hands it over (`PHASE_FILTERED`: what the runtime still does under its filter);
//! the exec after that starts the workload (`PHASE_WORKLOAD`). The current phase lives in
//! slot `PHASE_SLOT` of the cgroup's native value.
//!
//! A per-CPU cache of the last cgroup's known syscalls (in its current phase) answers most
//! calls without the hash lookup; every phase change anywhere drops every CPU's cache. Its
//! first bitmap holds the calls whose entry needs nothing else (not forbidden, not an exec,
//! not a seccomp filter's install), so a hit there ends `sys_enter` at once; the second the
//! other known calls, which go on to their checks; a policy reload drops it too. It is
//! keyed by the task first (its address and start time, read from the task with two loads),
//! so that a hit needs no cgroup id either; a task that changes cgroup drops every cache
//! (`cgroup::cgroup_attach_task`).
use core::mem::size_of;

use aya_ebpf::helpers::{bpf_get_current_cgroup_id, bpf_get_smp_processor_id};
use aya_ebpf::maps::HashMap;
use sensor_common::{
    ABI_WORDS, Counter, FLAG_COMPAT, FLAG_IOURING, FLAG_PHASE_SHIFT, LEARNED_SLOTS, OFFSET_UNKNOWN,
    PHASE_RUNTIME, PHASE_SLOT, RecordKind, SeenRecord,
};

use crate::{
    maps::{
        CACHE_CPUS, CACHE_HEAD, CACHE_WORDS, EVENTS, LEARN_CACHE, LEARN_GEN, LEARNED,
        LEARNED_COMPAT, LEARNED_IOURING, TASK_START_TIME_OFF, any_bound, count, deviates, is_exec,
        is_forbidden, is_handover, learn_gen, learning_phase, task_field,
    },
    record::fill_header,
};

/// BPF_NOEXIST: only create the entry if no other CPU did meanwhile.
const BPF_NOEXIST: u64 = 1;

/// A fresh cgroup's value: nothing learned, in the runtime's phase (too big for the 512-byte
/// stack, so it lives in .rodata).
static NOTHING_LEARNED: [u8; LEARNED_SLOTS] = {
    let mut v = [0; LEARNED_SLOTS];
    v[PHASE_SLOT] = PHASE_RUNTIME;
    v
};

/// The first words of a CPU's LEARN_CACHE: the task that ran last (address, start time), its
/// cgroup, and the generation the bitmap after them was filled under.
const TASK: usize = 0;
const START: usize = 1;
const CGROUP: usize = 2;
const GEN: usize = 3;

/// What a native call's entry still has to do once the call is learned.
#[derive(Clone, Copy)]
pub enum Learned {
    /// Nothing: a plain call (see [`plain`]) inside its cgroup's profile. What the cache's
    /// first bitmap answers, so that most syscalls of the node end here.
    Plain,
    /// Look further: the call may be forbidden, an exec or a seccomp hand-over, or it is
    /// outside the cgroup's bound profile (`deviates`).
    Check { deviates: bool },
}

/// Is native call `nr` one whose entry needs nothing but learning: not forbidden (now), not
/// an exec, not a seccomp filter's install? Only such calls enter the cache's first bitmap,
/// so a hit there ends the entry at once. The policy's reload drops every CPU's cache
/// (`policy/apply.rs`).
#[inline(always)]
fn plain(nr: u64) -> bool {
    !is_forbidden(nr) && !is_exec(nr) && !is_handover(nr)
}

/// A CPU's LEARN_CACHE slot (its first CACHE_WORDS words).
type Cache = [u64; CACHE_WORDS];

/// This CPU's learn cache (`None` past CACHE_CPUS).
#[inline(always)]
fn cpu_cache() -> Option<&'static mut Cache> {
    // SAFETY: no arguments (the JIT inlines it).
    let cpu = unsafe { bpf_get_smp_processor_id() } as usize;
    if cpu >= CACHE_CPUS {
        return None;
    }
    // SAFETY: this CPU's slot, which only this CPU's sys_enter touches, one call at a time;
    // a slot is CACHE_STRIDE >= CACHE_WORDS words.
    Some(unsafe { &mut *(&raw mut LEARN_CACHE[cpu]).cast::<Cache>() })
}

/// Where in a [`Cache`] native call `nr` (< PHASE_SLOT) has its bit: the word in the plain
/// calls' bitmap (the other known calls' word is ABI_WORDS further) and the mask.
#[inline(always)]
fn slot(nr: u64) -> (usize, u64) {
    (CACHE_HEAD + (nr >> 6) as usize, 1u64 << (nr & 63))
}

/// The task's start time (0 when its offset is unknown: then no task key ever matches).
#[inline(always)]
pub fn start_time(task: *const u8) -> u64 {
    match TASK_START_TIME_OFF.load() {
        OFFSET_UNKNOWN => 0,
        // SAFETY: the current task; start_time is a u64.
        off => unsafe { task_field::<u64>(task, off) },
    }
}

/// Was `cache` filled for this task (started at `start`) under this generation?
#[inline(always)]
fn keyed_to(cache: &Cache, task: *const u8, start: u64, generation: u64) -> bool {
    start != 0 && cache[TASK] == task as u64 && cache[START] == start && cache[GEN] == generation
}

/// What the cache knows of native call `nr` (< PHASE_SLOT): plain, known with checks to
/// make, or nothing (`None`).
#[inline(always)]
fn known(cache: &Cache, nr: u64) -> Option<Learned> {
    let (word, bit) = slot(nr);
    if cache.get(word).is_some_and(|w| w & bit != 0) {
        return Some(Learned::Plain);
    }
    if cache
        .get(word + ABI_WORDS as usize)
        .is_some_and(|w| w & bit != 0)
    {
        return Some(Learned::Check { deviates: false });
    }
    None
}

/// Learns native call `nr` of the current cgroup and says what its entry still has to do.
/// The cache holds only calls that do not deviate, so a deviating call takes the slow path
/// every time.
#[inline(always)]
pub fn learn(nr: u64, task: *const u8) -> Learned {
    const CHECK: Learned = Learned::Check { deviates: false };
    if nr >= PHASE_SLOT as u64 {
        return CHECK; // x32 numbers and the like: not in a native profile
    }
    let (cgroup, cache) = match cpu_cache() {
        Some(cache) => match cached(cache, nr, task) {
            Ok(learned) => return learned, // no cgroup id, no hash lookup
            Err(cgroup) => (cgroup, Some(cache)),
        },
        // SAFETY: no arguments.
        None => (unsafe { bpf_get_current_cgroup_id() }, None),
    };
    let Some(slots) = slots_of(&LEARNED, cgroup) else {
        return CHECK; // full (counted): the phase is not known, so neither is a deviation
    };
    // SAFETY: the cgroup's value in the map; PHASE_SLOT is inside it.
    let phase = learning_phase(cgroup, unsafe {
        core::ptr::read_volatile(slots.add(PHASE_SLOT))
    });
    mark(slots, nr, phase, 0);
    if any_bound() && deviates(cgroup, nr, phase) {
        return Learned::Check { deviates: true };
    }
    let (word, bit) = slot(nr);
    let (word, learned) = if plain(nr) {
        (word, Learned::Plain)
    } else {
        (word + ABI_WORDS as usize, CHECK)
    };
    if let Some(w) = cache.and_then(|c| c.get_mut(word)) {
        *w |= bit;
    }
    learned
}

/// What this CPU's `cache` knows of native call `nr` (< PHASE_SLOT) of `task`, or the
/// task's cgroup when it knows nothing: the cache is then keyed to the task (and emptied if
/// it held another cgroup or an older generation), for the caller to add the call to.
#[inline(always)]
fn cached(cache: &mut Cache, nr: u64, task: *const u8) -> Result<Learned, u64> {
    let generation = learn_gen();
    let start = start_time(task);
    if keyed_to(cache, task, start, generation) {
        return known(cache, nr).ok_or(cache[CGROUP]);
    }
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    if cache[CGROUP] != cgroup || cache[GEN] != generation {
        // Word by word: a plain `*cache = [0; _]` becomes a call of the BPF target's memset,
        // a loop over bytes (some 500 instructions at every change of cgroup on a CPU).
        for w in cache.iter_mut().skip(CACHE_HEAD) {
            // SAFETY: a word of this CPU's slot.
            unsafe { core::ptr::write_volatile(w, 0) };
        }
        cache[CGROUP] = cgroup;
        cache[GEN] = generation;
    }
    cache[TASK] = task as u64;
    cache[START] = start;
    known(cache, nr).ok_or(cgroup) // another task of the same cgroup: no hash lookup
}

/// A compat call: always the slow path, in the compat map (compat calls are rare, and the
/// native cache must not take an i386 number for the x86_64 one). True when the call (syscall
/// key `key`) is outside the cgroup's bound profile.
#[inline(always)]
pub fn learn_compat(nr: u64, key: u64) -> bool {
    let (cgroup, phase) = learn_other(&LEARNED_COMPAT, nr, FLAG_COMPAT);
    any_bound() && deviates(cgroup, key, phase)
}

/// An io_uring operation (by opcode), in the io_uring map: what a profile cannot filter,
/// named beside it.
#[inline(always)]
pub fn learn_iouring(op: u64) {
    let _ = learn_other(&LEARNED_IOURING, op, FLAG_IOURING);
}

/// A call of another ABI than the native one, in its own map, in the cgroup's phase; gives
/// the cgroup and that phase.
#[inline(always)]
fn learn_other(map: &HashMap<u64, [u8; LEARNED_SLOTS]>, nr: u64, flags: u16) -> (u64, u8) {
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    if nr >= PHASE_SLOT as u64 {
        return (cgroup, PHASE_RUNTIME);
    }
    let phase = match slots_of(&LEARNED, cgroup) {
        // SAFETY: the cgroup's native value; PHASE_SLOT is inside it.
        Some(native) => learning_phase(cgroup, unsafe {
            core::ptr::read_volatile(native.add(PHASE_SLOT))
        }),
        None => PHASE_RUNTIME,
    };
    if let Some(slots) = slots_of(map, cgroup) {
        mark(slots, nr, phase, flags);
    }
    (cgroup, phase)
}

/// Is native call `key` of the current cgroup outside its bound profile? For an exit whose
/// entry nothing of ours saw (a seccomp refusal): its phase is read from the learned map.
#[inline(always)]
pub fn deviates_now(key: u64) -> bool {
    if !any_bound() {
        return false;
    }
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    let Some(slots) = LEARNED.get_ptr_mut(&cgroup) else {
        return false;
    };
    // SAFETY: the cgroup's value in the map; PHASE_SLOT is inside it.
    let phase = unsafe { core::ptr::read_volatile(slots.cast::<u8>().add(PHASE_SLOT)) };
    deviates(cgroup, key, phase)
}

/// Moves the current cgroup from phase `from` to phase `to` (nothing if it is in another
/// phase: phases only go forward), and drops every CPU's learn cache.
#[inline(always)]
pub fn advance_phase(from: u8, to: u8) {
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    let Some(slots) = slots_of(&LEARNED, cgroup) else {
        return;
    };
    // SAFETY: the cgroup's native value; PHASE_SLOT is inside it. A byte store cannot tear.
    unsafe {
        let at = slots.add(PHASE_SLOT);
        if core::ptr::read_volatile(at) != from {
            return;
        }
        core::ptr::write_volatile(at, to);
    }
    drop_caches();
}

/// Starts a new generation: every CPU's learn cache is dropped at its next call.
#[inline(always)]
pub fn drop_caches() {
    // SAFETY: an aligned u64 of the section. Two CPUs racing may both write the same value:
    // it still differs from what every cache holds.
    unsafe {
        let counter = &raw mut LEARN_GEN;
        core::ptr::write_volatile(counter, core::ptr::read_volatile(counter) + 1);
    }
}

/// The cgroup's value in `map` (created when absent), or `None` (counted) when the map is
/// full.
#[inline(always)]
fn slots_of(map: &HashMap<u64, [u8; LEARNED_SLOTS]>, cgroup: u64) -> Option<*mut u8> {
    if let Some(p) = map.get_ptr_mut(&cgroup) {
        return Some(p.cast());
    }
    let _ = map.insert(&cgroup, &NOTHING_LEARNED, BPF_NOEXIST);
    match map.get_ptr_mut(&cgroup) {
        Some(p) => Some(p.cast()),
        None => {
            count(Counter::LearnFull);
            None
        }
    }
}

/// Sets `phase` in byte `nr` of `slots` and reports a first use in that phase (with
/// `flags`).
#[inline(always)]
fn mark(slots: *mut u8, nr: u64, phase: u8, flags: u16) {
    // SAFETY: `slots` points at a cgroup's value in a learned map; nr < PHASE_SLOT. A byte
    // store cannot tear or clobber a neighbour.
    unsafe {
        let slot = slots.add(nr as usize);
        let old = core::ptr::read_volatile(slot);
        if old & phase == phase {
            return;
        }
        core::ptr::write_volatile(slot, old | phase);
    }
    let Some(mut entry) = EVENTS.reserve::<SeenRecord>(0) else {
        count(Counter::RingbufFullSeen);
        return;
    };
    // SAFETY: a reserved entry of exactly size_of::<SeenRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(
        &mut rec.header,
        RecordKind::SyscallSeen,
        size_of::<SeenRecord>(),
        flags | (u16::from(phase) << FLAG_PHASE_SHIFT),
    );
    rec.nr = nr;
    let now = rec.header.ktime_ns;
    entry.submit(crate::record::lazy_wakeup(now));
}
