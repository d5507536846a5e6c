//! Learning which syscalls each cgroup makes, in the kernel: one byte per syscall number and
//! cgroup, set only while it is still clear. A steady workload costs a lookup and a test per
//! syscall, not an event; the first use of a syscall by a cgroup sends one small `SyscallSeen`
//! record. (Two CPUs may both see a byte clear and both report it: userspace keeps one.)
//! A per-CPU cache of the last cgroup's known syscalls answers most calls without the hash
//! lookup.
use core::mem::size_of;

use aya_ebpf::helpers::bpf_get_current_cgroup_id;
use aya_ebpf::maps::HashMap;
use sensor_common::{
    ABI_NRS, ABI_WORDS, Counter, FLAG_COMPAT, FLAG_IOURING, LEARNED_SLOTS, RecordKind, SeenRecord,
};

use crate::{
    maps::{EVENTS, LEARN_CACHE, LEARNED, LEARNED_COMPAT, LEARNED_IOURING, count},
    record::fill_header,
};

/// BPF_NOEXIST: only create the entry if no other CPU did meanwhile.
const BPF_NOEXIST: u64 = 1;

/// A fresh cgroup's value (too big for the 512-byte stack, so it lives in .rodata).
static NOTHING_LEARNED: [u8; LEARNED_SLOTS] = [0; LEARNED_SLOTS];

#[inline(always)]
pub fn learn(nr: u64) {
    if nr >= ABI_NRS {
        return; // x32 numbers and the like: not in a native profile
    }
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    let Some(cache) = LEARN_CACHE.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot; nothing else runs on this CPU while we do.
    let cache = unsafe { &mut *cache };
    let (word, bit) = (1 + (nr >> 6) as usize, 1u64 << (nr & 63));
    if cache[0] != cgroup {
        *cache = [0; ABI_WORDS as usize + 1];
        cache[0] = cgroup;
    } else if cache.get(word).is_some_and(|w| w & bit != 0) {
        return; // the common case: known, no hash lookup
    }
    if learn_slow(&LEARNED, cgroup, nr, 0)
        && let Some(w) = cache.get_mut(word)
    {
        *w |= bit;
    }
}

/// A compat call: always the slow path, in the compat map (compat calls are rare, and the
/// native cache must not take an i386 number for the x86_64 one).
#[inline(always)]
pub fn learn_compat(nr: u64) {
    if nr >= ABI_NRS {
        return;
    }
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    learn_slow(&LEARNED_COMPAT, cgroup, nr, FLAG_COMPAT);
}

/// An io_uring operation (by opcode), in the io_uring map: what a profile cannot filter,
/// named in it.
#[inline(always)]
pub fn learn_iouring(op: u64) {
    if op >= LEARNED_SLOTS as u64 {
        return;
    }
    // SAFETY: no arguments.
    let cgroup = unsafe { bpf_get_current_cgroup_id() };
    learn_slow(&LEARNED_IOURING, cgroup, op, FLAG_IOURING);
}

/// The learned-map path: sets the cgroup's byte for `nr` and reports a first use (with
/// `flags`). True once the byte is known to be set (false only when the map is full).
#[inline(always)]
fn learn_slow(map: &HashMap<u64, [u8; LEARNED_SLOTS]>, cgroup: u64, nr: u64, flags: u16) -> bool {
    let slots = match map.get_ptr_mut(&cgroup) {
        Some(p) => p,
        None => {
            let _ = map.insert(&cgroup, &NOTHING_LEARNED, BPF_NOEXIST);
            match map.get_ptr_mut(&cgroup) {
                Some(p) => p,
                None => {
                    count(Counter::LearnFull);
                    return false;
                }
            }
        }
    };
    // SAFETY: `slots` points at this cgroup's value in the map; nr < LEARNED_SLOTS.
    let slot = unsafe { slots.cast::<u8>().add(nr as usize) };
    // SAFETY: as above; a byte store cannot tear or clobber a neighbour.
    unsafe {
        if core::ptr::read_volatile(slot) != 0 {
            return true;
        }
        core::ptr::write_volatile(slot, 1);
    }
    let Some(mut entry) = EVENTS.reserve::<SeenRecord>(0) else {
        count(Counter::RingbufFullSeen);
        return true;
    };
    // SAFETY: a reserved entry of exactly size_of::<SeenRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(
        &mut rec.header,
        RecordKind::SyscallSeen,
        size_of::<SeenRecord>(),
        flags,
    );
    rec.nr = nr;
    entry.submit(0);
    true
}
