//! i386 `socketcall(call, args)`: each socket call made through the multiplexer is judged as
//! the i386 call it stands for (`sensor_common::socketcall::SOCKETCALLS`), on the u32 words
//! `args` points at, so that a rule on `connect`, `bind` or `socket(AF_VSOCK)` cannot be
//! passed by the other door. socketcall itself is judged and learned as usual besides (that
//! is the call a seccomp filter sees).
use aya_ebpf::helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel, bpf_probe_read_user};
use sensor_common::{
    FLAG_COMPAT, FLAG_SOCKETCALL, NO_STR_ARG, Outcome, SYSCALL_STRS, compat_key, pointee,
    socketcall::{SOCKETCALL_WORDS, pack, socketcall},
};

use crate::{
    arch::COMPAT_ARG_OFFSETS,
    flood::suppressed,
    maps::reported_caller,
    parked::park_or_send,
    syscall::{Call, fill_scratch, meets_condition_on, send},
};

/// The `N` u32 words at `at` in user memory, widened, into `out`; `None` if unreadable.
#[inline(always)]
fn read<const N: usize>(at: u64, out: &mut [u64; SOCKETCALL_WORDS]) -> Option<()> {
    // SAFETY: user memory through the helper.
    let words = unsafe { bpf_probe_read_user(at as *const [u32; N]) }.ok()?;
    for (o, w) in out.iter_mut().zip(words) {
        *o = u64::from(w);
    }
    Some(())
}

/// The `n` argument words at `at`, exactly as many as the kernel copies (a read past them
/// could fail where the kernel's does not).
#[inline(always)]
fn words(at: u64, n: usize) -> Option<[u64; SOCKETCALL_WORDS]> {
    let mut out = [0u64; SOCKETCALL_WORDS];
    match n {
        2 => read::<2>(at, &mut out)?,
        3 => read::<3>(at, &mut out)?,
        4 => read::<4>(at, &mut out)?,
        5 => read::<5>(at, &mut out)?,
        _ => read::<6>(at, &mut out)?,
    }
    Some(out)
}

/// At the entry of i386 `socketcall` (registers at `regs`): the call it stands for, if that
/// one is to be flagged, marked `FLAG_SOCKETCALL`, with socketcall's registers and the words
/// in its pointee; parked for socketcall's exit if `park` (socketcall returns what the call
/// returned), else sent at once without an outcome. Words that cannot be read meet any
/// condition (flagged rather than missed) and are marked unreadable.
#[inline(always)]
pub fn socketcall_enter(regs: *const u8, park: bool) {
    // SAFETY: the helper checks the address.
    let reg = |i: usize| {
        unsafe { bpf_probe_read_kernel(regs.add(COMPAT_ARG_OFFSETS[i]).cast::<u64>()) }
            .map_or(u64::MAX, |v| v & u64::from(u32::MAX))
    };
    let Some((nr, n)) = socketcall(reg(0)) else {
        return; // refused by the kernel (EINVAL)
    };
    let Some(key) = compat_key(nr) else {
        return;
    };
    let Some((_, flags)) = reported_caller(key, false) else {
        return;
    };
    let words = words(reg(1), n);
    let call = Call {
        nr,
        key,
        offsets: &COMPAT_ARG_OFFSETS,
        flags: FLAG_COMPAT | FLAG_SOCKETCALL | flags,
    };
    if !meets_condition_on(words.as_ref(), &call) || suppressed(key) {
        return;
    }
    let Some(rec) = fill_scratch(regs, &call, Outcome::Pending, 0) else {
        return;
    };
    // The registers are socketcall's: nothing they point at is the call's string, and the
    // pointee holds the words.
    rec.str_arg = [NO_STR_ARG; SYSCALL_STRS];
    rec.str_unreadable = 0;
    rec.str_truncated = 0;
    rec.pointee_arg = 1;
    match words {
        Some(w) => {
            rec.pointee = pack(&w);
            rec.pointee_state = pointee::READ;
        }
        None => rec.pointee_state = pointee::UNREADABLE,
    }
    if park {
        park_or_send(bpf_get_current_pid_tgid() as u32, rec);
    } else {
        send(rec);
    }
}
