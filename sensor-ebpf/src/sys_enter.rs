//! `raw_tp/sys_enter`: every syscall of the node passes here. The common case is the learn
//! cache's hit (`learn.rs`), which ends it; only a forbidden call reads its arguments and is
//! parked in `PENDING` until its exit adds the outcome (or sent at once when its exit is not
//! hooked).
//!
//! A compat call (i386, through `int $0x80` or from a 32-bit process) carries the compat
//! ABI's number: it is told apart first, and learned, matched and decoded as what it is.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use sensor_common::{
    FLAG_COMPAT, FLAG_X32, I386_SOCKETCALL, MARK_SUPPRESSED, Outcome, PHASE_FILTERED,
    PHASE_RUNTIME, X32_SYSCALL_BIT, compat_key, native_key, x32_key,
};

use crate::{
    arch::{COMPAT_ARG_OFFSETS, SYSCALL_ARG_OFFSETS},
    exec::exec_enter,
    flood::{over_budget, suppress},
    learn::{Learned, advance_phase, learn, learn_compat},
    maps::{
        NR_SECCOMP, current_task, exit_hooked, in_compat_syscall, is_compat_exec, is_exec,
        is_handover, reported_caller,
    },
    namespaces::{entry_stands, sent_at_entry},
    parked::{mark, park},
    syscall::{Call, fill_scratch, judged, send},
};

// Inlined into the entry the macro makes: no BPF-to-BPF call on every syscall of the node.
#[raw_tracepoint(tracepoint = "sys_enter")]
#[inline(always)]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    try_sys_enter(&ctx);
    0
}

#[inline(always)]
fn try_sys_enter(ctx: &RawTracePointContext) {
    // TP_PROTO(struct pt_regs *regs, long id)
    let nr: u64 = ctx.arg(1);
    let task = current_task();
    if in_compat_syscall(task) {
        compat_enter(ctx, nr);
        return;
    }
    let deviates = match learn(nr, task) {
        Learned::Plain => return, // most calls of the node end here
        Learned::Check { deviates } => deviates,
    };
    if is_handover(nr) {
        handover(ctx.arg(0), nr);
    }
    if is_exec(nr) {
        let tid = bpf_get_current_pid_tgid() as u32;
        exec_enter(
            ctx.arg(0),
            nr == crate::maps::NR_EXECVE.load() as u64,
            false,
            tid,
        );
        return;
    }
    let Some(key) = native_key(nr) else {
        if nr & X32_SYSCALL_BIT != 0 {
            x32_enter(ctx, nr & !X32_SYSCALL_BIT);
        }
        return;
    };
    let call = Call {
        nr,
        key,
        offsets: &SYSCALL_ARG_OFFSETS,
        flags: 0,
    };
    flag(ctx, call, deviates, true);
}

/// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)` or `prctl(PR_SET_SECCOMP,
/// SECCOMP_MODE_FILTER, prog)`: a filter is being installed. Made in the runtime's phase, it
/// is the runtime handing the cgroup over (phases only go forward: the workload's own filters
/// change nothing).
#[inline(always)]
fn handover(regs: *const u8, nr: u64) {
    const SECCOMP_SET_MODE_FILTER: u64 = 1;
    const PR_SET_SECCOMP: u64 = 22;
    const SECCOMP_MODE_FILTER: u64 = 2;
    // SAFETY: the helper checks the addresses.
    let arg = |i: usize| unsafe {
        bpf_probe_read_kernel(regs.add(SYSCALL_ARG_OFFSETS[i]).cast::<u64>()).unwrap_or(0)
    };
    // The program pointer must be there: runtimes (and libseccomp) probe which flags the
    // kernel supports with `seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL)` long before they
    // install anything.
    // seccomp's `op` and prctl's `option` are 32-bit: the kernel ignores their upper half.
    let op = arg(0) & u64::from(u32::MAX);
    let filter = if nr == NR_SECCOMP.load() as u64 {
        op == SECCOMP_SET_MODE_FILTER && arg(2) != 0
    } else {
        op == PR_SET_SECCOMP && arg(1) == SECCOMP_MODE_FILTER && arg(2) != 0
    };
    if filter {
        advance_phase(PHASE_RUNTIME, PHASE_FILTERED);
    }
}

/// A compat call: learned in its own map, execs parked with 32-bit pointers, and a forbidden
/// one sent at once. The kernel's per-syscall exit tracepoints skip compat calls, so one is
/// parked for its outcome only when `sys_exit` hooks every exit (`--exit-hook all`: every
/// key's exit is marked hooked then); otherwise it goes out without one.
#[inline(always)]
fn compat_enter(ctx: &RawTracePointContext, nr: u64) {
    let Some(key) = compat_key(nr) else {
        return; // not a compat number the kernel knows
    };
    let deviates = learn_compat(nr, key);
    if is_compat_exec(nr) {
        let tid = bpf_get_current_pid_tgid() as u32;
        let execve = nr == crate::maps::NR_EXECVE_COMPAT.load() as u64;
        exec_enter(ctx.arg(0), execve, true, tid);
        return;
    }
    if nr == I386_SOCKETCALL {
        // The socket call waits for socketcall's exit when that is hooked, unless
        // socketcall's own record is to wait there (a thread parks one call).
        let park = exit_hooked(key) && reported_caller(key, deviates).is_none();
        crate::socketcall::socketcall_enter(ctx.arg(0), park);
    }
    let call = Call {
        nr,
        key,
        offsets: &COMPAT_ARG_OFFSETS,
        flags: FLAG_COMPAT,
    };
    flag(ctx, call, deviates, true);
}

/// An x32 call (the x32 bit set: cleared in `nr`). A kernel without x32 support refuses it
/// with ENOSYS, and no exit tracepoint reports it, so a forbidden one is sent at once, named
/// as x32's. It uses the x86_64 registers; it is not learned (no x32 profiles).
#[inline(always)]
fn x32_enter(ctx: &RawTracePointContext, nr: u64) {
    let Some(key) = x32_key(nr) else {
        return; // no x32 call has this number
    };
    let call = Call {
        nr,
        key,
        offsets: &SYSCALL_ARG_OFFSETS,
        flags: FLAG_X32,
    };
    flag(ctx, call, false, false);
}

/// Call `call`, if it is to be flagged (and meets its condition) or `deviates` from its
/// cgroup's profile: parked until its exit when it `may_park` and its key's exit is hooked,
/// else sent now without an outcome. Past its cgroup's flood budget it is counted, not sent.
#[inline(always)]
fn flag(ctx: &RawTracePointContext, call: Call, deviates: bool, may_park: bool) {
    let Some((pid_tgid, flags)) = reported_caller(call.key, deviates) else {
        return;
    };
    let call = Call {
        flags: call.flags | flags,
        ..call
    };
    let Some(call) = judged(ctx.arg(0), call) else {
        return;
    };
    let tid = pid_tgid as u32;
    let hooked = may_park && exit_hooked(call.key);
    if let Some(budget) = over_budget(call.key) {
        // Past its budget: counted, not sent. A call whose exit is hooked is marked, so that
        // its exit knows it entered (a thread id past UNPARKED cannot be: sent as usual).
        if !hooked || mark(tid, MARK_SUPPRESSED) {
            if !hooked {
                sent_at_entry(tid, &call, None);
            }
            suppress(budget);
            return;
        }
    }
    let Some(rec) = fill_scratch(ctx.arg(0), &call, Outcome::Pending, 0) else {
        return;
    };
    if !entry_stands(rec, &call) {
        return;
    }
    if !hooked {
        // Nothing of ours runs at this call's exit: send it now, without its outcome (a
        // clone's fork learns what it read).
        sent_at_entry(tid, &call, Some(&*rec));
        send(rec);
        return;
    }
    park(tid, rec);
}
