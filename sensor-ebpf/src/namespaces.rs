//! The namespaces a fork made, as the kernel made them: the child's against its parent's, at
//! `sched_process_fork` (in the parent, inside its clone call). The entry cannot be trusted
//! for clone3: its flags are in the caller's memory, which a second thread can change between
//! the entry's read and the kernel's copy. Here the outcome of the kernel's own read shows.
//!
//! A flagged clone parked at its entry learns what its fork made (`FLAG_NS_AT_FORK`). One
//! that went out at its entry (its exit is not hooked: an i386 call without `--exit-hook
//! all`) left a note of what its entry read (`SENT_CLONES`): when the kernel made other
//! namespaces, its fork sends a second record that says so. A clone its entry did not flag
//! (it read other flags than the kernel used) is reported from here when the namespaces made
//! meet its condition: parked for its outcome when its exit is hooked, else sent at once.
use aya_ebpf::helpers::{
    bpf_get_current_pid_tgid, bpf_probe_read_kernel,
    generated::{bpf_get_current_task_btf, bpf_task_pt_regs},
};
use sensor_common::{
    FLAG_ARGS_AT_EXIT, FLAG_COMPAT, FLAG_DEVIATION, FLAG_ENTRY_DISAGREED, FLAG_NS_AT_FORK,
    FLAG_UNFLAGGED, FLAG_X32, MARK_SUPPRESSED, NSPROXY_NAMESPACES, OFFSET_UNKNOWN, Outcome,
    SyscallRecord, compat_key, fork_namespace_flags, native_key, pointee,
};

use crate::{
    arch::{
        COMPAT_ARG_OFFSETS, COMPAT_NR_CLONE, NR_CLONE, NR_CLONE3, SYSCALL_ARG_OFFSETS,
        SYSCALL_NR_OFFSET, SyscallNr,
    },
    flood::{over_budget, suppress},
    learn::start_time,
    maps::{
        NS_OFFS, PENDING, SENT_CLONES, current_task, exit_hooked, in_compat_syscall,
        reported_caller,
    },
    parked::{mark, marked, park},
    record::read_field,
    syscall::{Call, fill_scratch, namespaces_meet_condition, record_meets_condition, send},
};

/// Every `CLONE_NEW*` flag a fork can be seen to act on.
const NAMESPACE_FLAGS: u64 = fork_namespace_flags(u8::MAX);
/// `SentClone::entry_ns` when the entry could not read the flags.
const UNREAD: u64 = u64::MAX;
/// `SentClone::kind`: sent flagged, sent as a deviation alone, or counted past its budget.
const SENT_FLAGGED: u64 = 0;
const SENT_DEVIATION: u64 = 1;
const SENT_SUPPRESSED: u64 = 2;

/// A clone-family call that went out at its entry: what its fork needs to know of it.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SentClone {
    /// The thread's start time: a later thread with the same id is not taken for it.
    start: u64,
    /// The `CLONE_NEW*` flags its entry read (`UNREAD`: none could be read).
    entry_ns: u64,
    /// `SENT_*`.
    kind: u64,
}

/// Does the entry's record of `call` stand? A clone-family call flagged on its flags as one
/// read saw them, whose record then copied flags that do not meet the condition (another
/// thread changed them in between), is not reported from its entry, or only as a deviation:
/// its fork reports it if the kernel made namespaces that meet the condition.
#[inline(always)]
pub fn entry_stands(rec: &mut SyscallRecord, call: &Call) -> bool {
    if rec.header.flags & (FLAG_UNFLAGGED | FLAG_X32) != 0
        || !is_clone(call.nr, call.flags & FLAG_COMPAT != 0)
        || record_meets_condition(rec, call)
    {
        return true;
    }
    if rec.header.flags & FLAG_DEVIATION == 0 {
        return false;
    }
    rec.header.flags |= FLAG_UNFLAGGED;
    true
}

/// Notes that thread `tid`'s call `call` went out at its entry as `rec` (`None`: counted past
/// its budget instead), if it is a clone-family call, for its fork to check.
#[inline(always)]
pub fn sent_at_entry(tid: u32, call: &Call, rec: Option<&SyscallRecord>) {
    if call.flags & FLAG_X32 != 0 || !is_clone(call.nr, call.flags & FLAG_COMPAT != 0) {
        return;
    }
    let (entry_ns, kind) = match rec {
        None => (UNREAD, SENT_SUPPRESSED),
        Some(rec) => {
            let read = if call.nr != NR_CLONE3 {
                rec.args[0] & NAMESPACE_FLAGS
            } else if rec.pointee_state == pointee::READ && rec.pointee_arg == 0 {
                rec.pointee[0] & NAMESPACE_FLAGS
            } else {
                UNREAD
            };
            let kind = match rec.header.flags & FLAG_UNFLAGGED {
                0 => SENT_FLAGGED,
                _ => SENT_DEVIATION,
            };
            (read, kind)
        }
    };
    let sent = SentClone {
        start: start_time(current_task()),
        entry_ns,
        kind,
    };
    let _ = SENT_CLONES.insert(&tid, &sent, 0);
}

/// Thread `tid`'s note of a clone sent at its entry, taken.
#[inline(always)]
fn take_sent(tid: u32) -> Option<SentClone> {
    // SAFETY: copied out at once.
    let sent = *unsafe { SENT_CLONES.get(&tid) }?;
    let _ = SENT_CLONES.remove(&tid);
    (sent.start == start_time(current_task())).then_some(sent)
}

/// A pointer field of the kernel object at `base`.
#[inline(always)]
fn pointer(base: *const u8, off: u32) -> Option<*const u8> {
    read_field::<*const u8>(base, off)
}

/// The namespaces `child` does not share with `parent` (bits of `FORK_NAMESPACES`); `None`
/// when this kernel's layout is unknown or a read failed. Equal `nsproxy` (and creds, or their
/// user namespace) cost four reads; the members are compared only when it differs.
#[inline(always)]
pub fn created(parent: *const u8, child: *const u8) -> Option<u8> {
    let offs = NS_OFFS.load();
    let mut bits = 0u8;
    let (p, c) = (pointer(parent, offs[0])?, pointer(child, offs[0])?);
    if p != c {
        // A new nsproxy can also be only a new home for the same namespaces (a fork after
        // unshare(CLONE_NEWTIME) enters the time namespace made for children): members tell.
        for i in 0..NSPROXY_NAMESPACES {
            let off = offs[3 + i];
            if off != OFFSET_UNKNOWN && pointer(p, off)? != pointer(c, off)? {
                bits |= 1 << i;
            }
        }
    }
    let (p, c) = (pointer(parent, offs[1])?, pointer(child, offs[1])?);
    if p != c && pointer(p, offs[2])? != pointer(c, offs[2])? {
        bits |= 1 << NSPROXY_NAMESPACES;
    }
    Some(bits)
}

/// Is `nr` a clone-family call that can make namespaces (`compat`: in the compat table)?
#[inline(always)]
fn is_clone(nr: u64, compat: bool) -> bool {
    nr == NR_CLONE3 || nr == if compat { COMPAT_NR_CLONE } else { NR_CLONE }
}

/// At the current thread's fork, which made namespaces `created`: see the module's doc.
#[inline(always)]
pub fn at_fork(created: u8) {
    let tid = bpf_get_current_pid_tgid() as u32;
    if let Some(rec) = PENDING.get_ptr_mut(&tid) {
        // SAFETY: our own thread's entry; only this thread writes it.
        let rec = unsafe { &mut *rec };
        if is_clone(rec.nr, rec.header.flags & FLAG_COMPAT != 0) {
            noted(rec, created);
            return;
        }
        // Another call's entry, stale: `park` below sends it if this call is reported.
    }
    let sent = take_sent(tid);
    // Its entry went out flagged: a record from here only when the kernel made other
    // namespaces than the entry read.
    let correcting = match sent {
        Some(s) if s.kind == SENT_SUPPRESSED => return, // counted at its entry
        Some(s) if s.kind == SENT_FLAGGED => {
            if s.entry_ns == fork_namespace_flags(created) {
                return;
            }
            true
        }
        _ => false,
    };
    if !correcting && (created == 0 || marked(tid)) {
        return; // nothing made, or its entry was flagged and is past its budget or unparked
    }
    // SAFETY: helpers on the current task, which is valid while we run.
    let regs = unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) } as *const u8;
    // SAFETY: the helper checks the address.
    let Ok(nr) =
        (unsafe { bpf_probe_read_kernel(regs.add(SYSCALL_NR_OFFSET).cast::<SyscallNr>()) })
    else {
        return;
    };
    let nr = nr as u64;
    let compat = in_compat_syscall(current_task());
    if !is_clone(nr, compat) {
        return;
    }
    let call = match compat {
        false => native_key(nr).map(|key| Call {
            nr,
            key,
            offsets: &SYSCALL_ARG_OFFSETS,
            flags: 0,
        }),
        true => compat_key(nr).map(|key| Call {
            nr,
            key,
            offsets: &COMPAT_ARG_OFFSETS,
            flags: FLAG_COMPAT,
        }),
    };
    let Some(call) = call else {
        return;
    };
    let Some((_, flags)) = reported_caller(call.key, false) else {
        return;
    };
    let flags = call.flags | flags | FLAG_NS_AT_FORK | FLAG_ENTRY_DISAGREED | FLAG_ARGS_AT_EXIT;
    if !correcting && !namespaces_meet_condition(&call, fork_namespace_flags(created)) {
        return;
    }
    // Parked for its outcome when its exit is hooked (and its entry did not go out);
    // else sent now, without one.
    let hooked = sent.is_none() && exit_hooked(call.key);
    if let Some(budget) = over_budget(call.key) {
        if !hooked || mark(tid, MARK_SUPPRESSED) {
            suppress(budget);
            return;
        }
    }
    let Some(rec) = fill_scratch(regs, &Call { flags, ..call }, Outcome::Pending, 0) else {
        return;
    };
    rec.ns_created = created;
    if hooked {
        park(tid, rec);
    } else {
        send(rec);
    }
}

/// Notes in `rec`, a clone parked at its entry, what its fork made. A deviation the policy did
/// not flag (its entry read flags that do not meet the condition) is flagged now if what the
/// kernel made does.
#[inline(always)]
fn noted(rec: &mut SyscallRecord, created: u8) {
    rec.ns_created = created;
    rec.header.flags |= FLAG_NS_AT_FORK;
    if rec.header.flags & FLAG_UNFLAGGED == 0 || created == 0 {
        return;
    }
    let compat = rec.header.flags & FLAG_COMPAT != 0;
    let key = if compat {
        compat_key(rec.nr)
    } else {
        native_key(rec.nr)
    };
    let Some(key) = key else {
        return;
    };
    let call = Call {
        nr: rec.nr,
        key,
        offsets: &SYSCALL_ARG_OFFSETS, // unused: the condition is judged on `created`
        flags: rec.header.flags & FLAG_COMPAT,
    };
    if crate::maps::flagged_caller(key).is_some()
        && namespaces_meet_condition(&call, fork_namespace_flags(created))
    {
        rec.header.flags &= !FLAG_UNFLAGGED;
    }
}
