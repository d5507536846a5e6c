//! `raw_tp/sys_enter`: every syscall of the node passes here. The common case is one array
//! lookup and a bit test; only a forbidden call reads its arguments and is parked in
//! `PENDING` until its exit adds the outcome (or sent at once when its exit is not hooked).
use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::raw_tracepoint, programs::RawTracePointContext,
};
use sensor_common::{Counter, Outcome};

use crate::{
    arch::SYSCALL_ARG_OFFSETS,
    exec::exec_enter,
    learn::learn,
    maps::{PENDING, SCRATCH, count, exit_hooked, flagged_caller, is_exec},
    syscall::{fill_call, send},
};

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    try_sys_enter(&ctx);
    0
}

#[inline(always)]
fn try_sys_enter(ctx: &RawTracePointContext) {
    // TP_PROTO(struct pt_regs *regs, long id)
    let nr: u64 = ctx.arg(1);
    learn(nr);
    if is_exec(nr) {
        let tid = bpf_get_current_pid_tgid() as u32;
        exec_enter(ctx.arg(0), nr, tid);
        return;
    }
    let Some(pid_tgid) = flagged_caller(nr) else {
        return;
    };
    let Some(rec) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot; nothing else runs on it while we do.
    let rec = unsafe { &mut *rec };
    fill_call(
        rec,
        ctx.arg(0),
        nr,
        &SYSCALL_ARG_OFFSETS,
        Outcome::Pending,
        0,
    );
    if !exit_hooked(nr) {
        // Nothing of ours runs at this call's exit: send it now, without its outcome.
        send(rec);
        return;
    }
    let tid = pid_tgid as u32;
    if PENDING.insert(&tid, &*rec, 0).is_err() {
        // Cannot wait for the outcome: send the call now, without one.
        count(Counter::PendingFull);
        send(rec);
    }
}
