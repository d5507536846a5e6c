//! Filling a flagged-syscall record: number, raw arguments, and the string arguments read
//! from user memory. Shared by the entry path and the exit path (a call refused before entry,
//! or one whose entry found no room to park).
use aya_ebpf::helpers::{
    bpf_probe_read_kernel, bpf_probe_read_user, bpf_probe_read_user_str_bytes,
};
use core::mem::size_of;

use sensor_common::{
    ArgCondition, COND_VALUES, Counter, FLAG_ARGS_AT_EXIT, FLAG_COMPAT, FLAG_DEVIATION,
    FLAG_IOURING, FLAG_UNFLAGGED, FLAG_X32, NO_STR_ARG, Outcome, POINTEE_WORDS, RecordKind,
    SYSCALL_ARGS, SYSCALL_STR_LEN, SYSCALL_STRS, SyscallRecord, compat_key, cond, iouring_key,
    native_key, pointee, read_mask, syscall_record_size, x32_key,
};

use crate::{
    maps::{CONDITIONS, EVENTS, SCRATCH, STRING_ARGS, count},
    record::fill_header,
};

/// The call being filled in: its number as the kernel saw it, its syscall key (the native
/// number, or the compat key), where its arguments are in the registers, and the header
/// flags (`FLAG_COMPAT`).
#[derive(Clone, Copy)]
pub struct Call<'a> {
    pub nr: u64,
    pub key: u64,
    pub offsets: &'a [usize; 6],
    pub flags: u16,
}

/// Fills the header, number, outcome and padding of `rec`, with no arguments and no strings:
/// a call (or io_uring operation) whose registers are not read.
#[inline(always)]
pub fn fill_bare(rec: &mut SyscallRecord, nr: u64, flags: u16, outcome: Outcome, ret: i64) {
    fill_header(
        &mut rec.header,
        RecordKind::Syscall,
        core::mem::size_of::<SyscallRecord>(),
        flags,
    );
    rec.nr = nr;
    rec.ret = ret;
    rec.outcome = outcome as u8;
    rec.pointee = [0; POINTEE_WORDS];
    rec.pointee_state = pointee::NONE;
    rec.pointee_arg = 0;
    rec.ns_created = 0;
    rec._pad2 = 0;
    rec.args = [0; SYSCALL_ARGS];
    rec.str_arg = [NO_STR_ARG; SYSCALL_STRS];
    rec.str_truncated = 0;
    rec.str_unreadable = 0;
    rec.str_len = [0; SYSCALL_STRS];
}

/// Fills every field of `rec` for `call` whose registers are at `regs`.
#[inline(always)]
fn fill_call(rec: &mut SyscallRecord, regs: *const u8, call: &Call, outcome: Outcome, ret: i64) {
    let Call {
        nr,
        key,
        offsets,
        flags,
    } = *call;
    fill_bare(rec, nr, flags, outcome, ret);
    let mut failed = false;
    for i in 0..SYSCALL_ARGS {
        // SAFETY: the helper checks the address.
        rec.args[i] = match unsafe { bpf_probe_read_kernel(regs.add(offsets[i]).cast::<u64>()) } {
            Ok(v) => v,
            Err(_) => {
                failed = true;
                0
            }
        };
    }
    let mask = STRING_ARGS.get(key as u32).copied().unwrap_or(0);
    if let Some(arg) = read_mask::pointee_arg(mask) {
        rec.pointee_arg = arg as u8;
        // NULL (open_tree_attr without attributes): nothing to read, and nothing wrong.
        if rec.args.get(arg).is_some_and(|a| *a != 0) && !read_pointee(rec) {
            failed = true;
        }
    }
    let mut slot = 0usize;
    for arg in 0..SYSCALL_ARGS {
        if !read_mask::is_string(mask, arg) || slot >= SYSCALL_STRS {
            continue;
        }
        rec.str_arg[slot] = arg as u8;
        let src = rec.args[arg] as *const u8;
        if src.is_null() {
            // NULL (fsconfig's key for a command, mount's fstype for a remount): nothing to
            // read, and nothing wrong with that.
            rec.str_unreadable |= 1 << slot;
            slot += 1;
            continue;
        }
        if !read_str(rec, slot, src) {
            rec.str_unreadable |= 1 << slot;
            failed = true;
        }
        slot += 1;
    }
    if failed {
        count(Counter::ReadError);
    }
}

/// Reads string slot `slot` of `rec` from `src` in user memory; false if it cannot be read
/// (bad address, or the page is not resident).
#[inline(always)]
fn read_str(rec: &mut SyscallRecord, slot: usize, src: *const u8) -> bool {
    if slot >= SYSCALL_STRS {
        return false;
    }
    // SAFETY: reading user memory through the helper, bounded by the slot.
    let Ok(s) = (unsafe { bpf_probe_read_user_str_bytes(src, &mut rec.strs[slot]) }) else {
        return false;
    };
    let len = s.len();
    rec.str_len[slot] = len as u16;
    // A full slot is cut unless the source ends exactly there.
    if len >= SYSCALL_STR_LEN - 1 {
        // SAFETY: as above; one byte.
        let next = unsafe { bpf_probe_read_user(src.add(SYSCALL_STR_LEN - 1)) };
        if next.map_or(true, |b: u8| b != 0) {
            rec.str_truncated |= 1 << slot;
        }
    }
    true
}

/// Reads the words argument `rec.pointee_arg` points at into `rec.pointee`; false if they
/// cannot be.
#[inline(always)]
fn read_pointee(rec: &mut SyscallRecord) -> bool {
    // An argument past the six reads address 0: unreadable.
    let mut at = rec.args.get(rec.pointee_arg as usize).copied().unwrap_or(0);
    if rec.header.flags & FLAG_COMPAT != 0 {
        at &= u64::from(u32::MAX);
    }
    // SAFETY: user memory through the helper.
    match unsafe { bpf_probe_read_user(at as *const [u64; POINTEE_WORDS]) } {
        Ok(v) => {
            rec.pointee = v;
            rec.pointee_state = pointee::READ;
            true
        }
        Err(_) => {
            rec.pointee_state = pointee::UNREADABLE;
            false
        }
    }
}

/// At the exit of a parked call: reads again what its entry could not (a string or pointee
/// on a page not yet resident then, as in a program that had not touched its data yet). The
/// kernel has copied them in the meantime, so their pages are in now. Marked read at the
/// exit: the memory may have changed in between.
#[inline(always)]
pub fn reread_at_exit(rec: &mut SyscallRecord) {
    let mut again = false;
    for slot in 0..SYSCALL_STRS {
        let arg = rec.str_arg[slot] as usize;
        if arg >= SYSCALL_ARGS || rec.str_unreadable & (1 << slot) == 0 {
            continue; // unused slot (NO_STR_ARG), or read at entry
        }
        let src = rec.args[arg] as *const u8;
        if !src.is_null() && read_str(rec, slot, src) {
            rec.str_unreadable &= !(1 << slot);
            again = true;
        }
    }
    if rec.pointee_state == pointee::UNREADABLE && read_pointee(rec) {
        again = true;
    }
    if again {
        rec.header.flags |= FLAG_ARGS_AT_EXIT;
    }
}

/// The call as it is to be reported, or `None`. A call the policy flags must meet its
/// argument condition; one that does not is still reported if it deviates from its
/// cgroup's profile, as a deviation only.
#[inline(always)]
pub fn judged<'a>(regs: *const u8, call: Call<'a>) -> Option<Call<'a>> {
    if call.flags & FLAG_UNFLAGGED != 0 || meets_condition(regs, &call) {
        return Some(call);
    }
    if call.flags & FLAG_DEVIATION == 0 {
        return None;
    }
    Some(Call {
        flags: call.flags | FLAG_UNFLAGGED,
        ..call
    })
}

/// Does the call meet its syscall's argument condition (if any)? Read from the registers at
/// `regs`, so a call that does not match costs a lookup and a read, and no event.
#[inline(always)]
pub fn meets_condition(regs: *const u8, call: &Call) -> bool {
    let Some(c) = condition(call.key) else {
        return true;
    };
    // One read at a constant offset per possible argument (the verifier refuses a variable
    // offset into a trusted pt_regs pointer).
    let mut read = None;
    for i in 0..SYSCALL_ARGS {
        if i == c.arg as usize {
            // SAFETY: the helper checks the address.
            read = unsafe { bpf_probe_read_kernel(regs.add(call.offsets[i]).cast::<u64>()) }.ok();
        }
    }
    holds(c, read, call.flags)
}

/// [`meets_condition`] for a call whose arguments were read elsewhere (`None`: they could
/// not be).
#[inline(always)]
pub fn meets_condition_on(args: Option<&[u64; SYSCALL_ARGS]>, call: &Call) -> bool {
    let Some(c) = condition(call.key) else {
        return true;
    };
    holds(
        c,
        args.and_then(|a| a.get(c.arg as usize).copied()),
        call.flags,
    )
}

/// Does a clone-family call whose fork made the namespaces of `CLONE_NEW*` flags `flags` meet
/// its condition? Those flags were among the ones the kernel used, so only a condition on the
/// flags argument (0) that any flags holding them meet can be judged: ANY_OF, ALL_OF.
#[inline(always)]
pub fn namespaces_meet_condition(call: &Call, flags: u64) -> bool {
    let Some(c) = condition(call.key) else {
        return true; // forbidden whatever its flags
    };
    let mask = c.values[0];
    match c.op {
        _ if c.arg != 0 => false,
        cond::ANY_OF => flags & mask != 0,
        cond::ALL_OF => flags & mask == mask,
        _ => false,
    }
}

/// Does the record of a call judged to meet its condition still meet it? A condition on what an
/// argument points at was judged on one read of the caller's memory, and the record copied
/// it in a second (`rec.pointee`): another thread may have changed it in between. False only
/// when the record's own copy does not meet it.
#[inline(always)]
pub fn record_meets_condition(rec: &SyscallRecord, call: &Call) -> bool {
    let Some(c) = condition(call.key) else {
        return true;
    };
    if c.deref == 0 || c.arg != rec.pointee_arg || rec.pointee_state != pointee::READ {
        return true;
    }
    value_holds(c, rec.pointee[0])
}

/// The argument condition of syscall `key`, unless it has none.
#[inline(always)]
fn condition(key: u64) -> Option<&'static ArgCondition> {
    CONDITIONS.get(key as u32).filter(|c| c.op != cond::ALWAYS)
}

/// Does argument value `read` meet `c`?
#[inline(always)]
fn holds(c: &ArgCondition, read: Option<u64>, flags: u16) -> bool {
    let Some(mut v) = read else {
        return true; // unreadable (or no such argument): flag it rather than miss it
    };
    // A compat register, or an argument the kernel reads as 32 bits: its upper half is
    // never what the call acts on.
    if flags & FLAG_COMPAT != 0 || c.narrow != 0 {
        v &= u64::from(u32::MAX);
    }
    if c.deref != 0 {
        // SAFETY: user memory through the helper.
        match unsafe { bpf_probe_read_user(v as *const u64) } {
            Ok(x) => v = x,
            Err(_) => return true,
        }
    }
    value_holds(c, v)
}

/// Does the value `v` (the argument, or what it points at) meet `c`?
#[inline(always)]
fn value_holds(c: &ArgCondition, v: u64) -> bool {
    let mask = c.values[0];
    let count = (c.count as usize).min(COND_VALUES);
    let listed = c.values.iter().take(count).any(|x| *x == v);
    match c.op {
        cond::ANY_OF => v & mask != 0,
        cond::ALL_OF => v & mask == mask,
        cond::NONE_OF => v & mask == 0,
        cond::IN => listed,
        cond::NOT_IN => !listed,
        _ => true,
    }
}

/// This CPU's scratch record, filled for `call` (a SyscallRecord is too big for the stack).
#[inline(always)]
pub fn fill_scratch(
    regs: *const u8,
    call: &Call,
    outcome: Outcome,
    ret: i64,
) -> Option<&'static mut SyscallRecord> {
    let rec = SCRATCH.get_ptr_mut(0)?;
    // SAFETY: this CPU's scratch slot; nothing else runs on it while we do.
    let rec = unsafe { &mut *rec };
    fill_call(rec, regs, call, outcome, ret);
    Some(rec)
}

/// Sends a finished record without its unused string slots, or counts it lost. `rec` is a
/// map value (scratch or parked), so the verifier bounds the size by the record's.
#[inline(always)]
pub fn send(rec: &mut SyscallRecord) {
    let slots = rec.str_arg.iter().take_while(|a| **a != NO_STR_ARG).count();
    let size = syscall_record_size(slots).min(size_of::<SyscallRecord>());
    rec.header.size = size as u32;
    // SAFETY: `size` bytes from the start of `rec`, all inside it.
    let bytes =
        unsafe { core::slice::from_raw_parts((rec as *const SyscallRecord).cast::<u8>(), size) };
    if EVENTS
        .output::<[u8]>(bytes, crate::record::flagged_wakeup())
        .is_err()
    {
        count(Counter::RingbufFullFlagged);
        let (nr, flags) = (rec.nr, rec.header.flags);
        let key = if flags & FLAG_COMPAT != 0 {
            compat_key(nr)
        } else if flags & FLAG_X32 != 0 {
            x32_key(nr)
        } else if flags & FLAG_IOURING != 0 {
            iouring_key(nr)
        } else {
            native_key(nr)
        };
        if let Some(key) = key {
            crate::flood::lost(key);
        }
    }
}
