//! Flagged calls between their entry and their exit ("parked"), and what an exit may say of
//! a call it finds no entry for. Nothing here loses a call without a count, and nothing
//! calls an exit "blocked before entry" unless the call can have been refused by seccomp.
//!
//! - PENDING is a plain hash: an LRU one would evict an older thread's call unseen, and
//!   that call's exit would then take it for a seccomp refusal.
//! - A call that finds PENDING full is marked in UNPARKED (one byte per thread id, so it
//!   cannot fill) and sent at its exit, with its outcome and its arguments as they are then.
//! - A call that finds an older call of its thread still parked sends that one first,
//!   without an outcome (its exit never came); a thread's end does the same.
//! - An exit with neither an entry nor a mark was refused before entry only if the thread
//!   runs under a seccomp filter. Otherwise it entered before anything of ours saw it (the
//!   sensor started, or the call became forbidden, while it ran).
use aya_ebpf::{
    bindings::{BPF_ANY, BPF_NOEXIST},
    helpers::bpf_get_current_task,
};
use sensor_common::{
    Counter, FLAG_ARGS_AT_EXIT, FLAG_COMPAT, FLAG_SOCKETCALL, MARK_SUPPRESSED, MARK_UNPARKED,
    Outcome, SyscallRecord, UNPARKED_TIDS_PER_ENTRY,
};

use crate::{
    flood::suppressed,
    maps::{EXEC_PENDING, PENDING, TASK_SECCOMP_MODE_OFF, UNPARKED, count},
    record::read_field,
    syscall::{Call, fill_scratch, reread_at_exit, send},
};

const EEXIST: i32 = 17;
/// `task->seccomp.mode` of a thread under a filter.
const SECCOMP_MODE_FILTER: i32 = 2;

/// Parks `rec`, the entry of thread `tid`'s flagged call, until its exit.
#[inline(always)]
pub fn park(tid: u32, rec: &mut SyscallRecord) {
    if parked(tid, rec) {
        return;
    }
    count(Counter::PendingFull);
    if !mark(tid, MARK_UNPARKED) {
        // A thread id past UNPARKED: its exit could not tell this call from a refused one,
        // so it goes out now, without an outcome.
        send(rec);
    }
}

/// Parks `rec` like [`park`], or sends it now, without an outcome, when PENDING is full: for
/// a record its exit cannot build again from the registers (a socket call made through
/// socketcall).
#[inline(always)]
pub fn park_or_send(tid: u32, rec: &mut SyscallRecord) {
    if !parked(tid, rec) {
        count(Counter::PendingFull);
        send(rec);
    }
}

/// Puts `rec` in PENDING for thread `tid`; an older call of the thread still there never
/// returned, and is sent without an outcome. False when PENDING is full.
#[inline(always)]
fn parked(tid: u32, rec: &SyscallRecord) -> bool {
    match PENDING.insert(&tid, rec, u64::from(BPF_NOEXIST)) {
        Ok(()) => true,
        Err(e) if e == -EEXIST => {
            if let Some(old) = PENDING.get_ptr_mut(&tid) {
                // SAFETY: our own thread's entry; only this thread writes it.
                send(unsafe { &mut *old });
                count(Counter::PendingStale);
            }
            PENDING.insert(&tid, rec, u64::from(BPF_ANY)).is_ok()
        }
        Err(_) => false,
    }
}

/// At the exit of thread `tid`'s i386 socketcall, which returned `ret`: the socket call it
/// made, if parked, is sent with that outcome (socketcall returns what the call returned).
#[inline(always)]
pub fn socketcall_exit(tid: u32, ret: i64) {
    let Some(rec) = PENDING.get_ptr_mut(&tid) else {
        return;
    };
    // SAFETY: our own thread's entry; only this thread writes it.
    let rec = unsafe { &mut *rec };
    if rec.header.flags & FLAG_SOCKETCALL == 0 {
        return;
    }
    rec.ret = ret;
    rec.outcome = Outcome::Returned as u8;
    send(rec);
    let _ = PENDING.remove(&tid);
}

/// Sets thread `tid`'s UNPARKED byte; false when `tid` is past the map.
#[inline(always)]
pub fn mark(tid: u32, value: u8) -> bool {
    let Some(bytes) = UNPARKED.get_ptr_mut(tid / UNPARKED_TIDS_PER_ENTRY) else {
        return false;
    };
    // SAFETY: a map value; each thread writes only its own byte (plain byte stores, so no
    // neighbour is clobbered).
    unsafe { (*bytes)[(tid % UNPARKED_TIDS_PER_ENTRY) as usize] = value };
    true
}

/// Is thread `tid`'s UNPARKED byte set (its call in flight is suppressed or unparked)?
#[inline(always)]
pub fn marked(tid: u32) -> bool {
    UNPARKED
        .get(tid / UNPARKED_TIDS_PER_ENTRY)
        .is_some_and(|bytes| bytes[(tid % UNPARKED_TIDS_PER_ENTRY) as usize] != 0)
}

/// Thread `tid`'s UNPARKED byte (`None`: past the map), cleared.
#[inline(always)]
fn take_mark(tid: u32) -> Option<u8> {
    let bytes = UNPARKED.get_ptr_mut(tid / UNPARKED_TIDS_PER_ENTRY)?;
    let i = (tid % UNPARKED_TIDS_PER_ENTRY) as usize;
    // SAFETY: as in `mark`.
    unsafe {
        let value = (*bytes)[i];
        if value != 0 {
            (*bytes)[i] = 0;
        }
        Some(value)
    }
}

/// At the exit of thread `tid`'s flagged call `call` (number `nr`) that returned `ret`:
/// sends its parked entry with the outcome, or decides what the exit alone can say.
/// `regs()` gives the thread's registers, for a record built here.
#[inline(always)]
pub fn at_exit(tid: u32, call: &Call, ret: i64, regs: impl FnOnce() -> *const u8) {
    // Taken at every exit: a thread has one call in flight, so a mark left by an earlier
    // call whose exit never came means nothing now.
    let mark = take_mark(tid);
    if let Some(rec) = PENDING.get_ptr_mut(&tid) {
        // SAFETY: our own thread's entry; only this thread writes it.
        let rec = unsafe { &mut *rec };
        if rec.nr == call.nr && (rec.header.flags ^ call.flags) & FLAG_COMPAT == 0 {
            rec.ret = ret;
            rec.outcome = Outcome::Returned as u8;
            reread_at_exit(rec);
            send(rec);
            let _ = PENDING.remove(&tid);
            return;
        }
        // A stale entry: its thread never returned from that call. Send it without outcome.
        send(rec);
        count(Counter::PendingStale);
        let _ = PENDING.remove(&tid);
    }
    let outcome = match (mark, ret >= 0) {
        // Past its cgroup's budget at entry: counted there.
        (Some(MARK_SUPPRESSED), _) => return,
        // It entered and found no room to park: its record is built now.
        (Some(MARK_UNPARKED), _) => Outcome::Returned,
        // A seccomp refusal returns an errno; anything else (a clone's child returning 0, a
        // call whose argument condition did not match at entry) entered.
        (_, true) => return,
        (Some(_), false) => match seccomp_filtered() {
            // A compat call in flight when the sensor started is not marked (a thread's
            // syscall file does not say which ABI it is in): refused or entered unseen.
            Some(true) if call.flags & FLAG_COMPAT != 0 => Outcome::Pending,
            Some(true) => Outcome::BlockedBeforeEntry,
            // No filter could refuse it: it entered while nothing of ours was watching.
            Some(false) => Outcome::Returned,
            None => Outcome::Pending,
        },
        // A thread id past UNPARKED: refused, or entered and sent at entry; not knowable.
        (None, false) => Outcome::Pending,
    };
    let regs = regs();
    let Some(call) = crate::syscall::judged(regs, *call) else {
        return;
    };
    // A call that entered unparked spent its budget at entry; one seen here only spends it now.
    if mark != Some(MARK_UNPARKED) && suppressed(call.key) {
        return;
    }
    let flags = if outcome == Outcome::BlockedBeforeEntry {
        call.flags
    } else {
        call.flags | FLAG_ARGS_AT_EXIT
    };
    let call = Call { flags, ..call };
    if let Some(rec) = fill_scratch(regs, &call, outcome, ret) {
        send(rec);
    }
}

/// Does the current thread run under a seccomp filter (`task->seccomp.mode`)? `None` when
/// the layout is unknown.
#[inline(always)]
fn seccomp_filtered() -> Option<bool> {
    // SAFETY: no arguments.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    read_field::<i32>(task, TASK_SECCOMP_MODE_OFF.load()).map(|m| m == SECCOMP_MODE_FILTER)
}

/// Thread `tid` ends: a call of its still parked never returned (sent without outcome), and
/// an exec of its still parked neither happened nor failed (counted).
#[inline(always)]
pub fn thread_ended(tid: u32) {
    if EXEC_PENDING.remove(&tid).is_ok() {
        count(Counter::ExecPendingStale);
    }
    if let Some(rec) = PENDING.get_ptr_mut(&tid) {
        // SAFETY: the ending thread's own entry.
        send(unsafe { &mut *rec });
        count(Counter::PendingStale);
        let _ = PENDING.remove(&tid);
    }
    let _ = take_mark(tid);
}
