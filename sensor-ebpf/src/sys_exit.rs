//! `tp_btf/sys_exit`: adds the outcome to a parked flagged call and sends it. A forbidden call
//! that exits without having entered was refused by a seccomp filter: "blocked before entry".
use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid, macros::btf_tracepoint, programs::BtfTracePointContext,
};
use sensor_common::{Counter, Outcome, SyscallRecord};

use crate::{
    arch::{EXIT_ARG_OFFSETS, SYSCALL_NR_OFFSET, SyscallNr},
    exec::exec_exit,
    maps::{EVENTS, PENDING, SCRATCH, count, flagged_caller, is_exec},
    syscall::fill_call,
};

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> i32 {
    try_sys_exit(&ctx);
    0
}

#[inline(always)]
fn try_sys_exit(ctx: &BtfTracePointContext) {
    // TP_PROTO(struct pt_regs *regs, long ret)
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: a tp_btf argument is a trusted `struct pt_regs *`: the verifier checks this
    // load against the BTF layout, so the syscall number costs one load, not a helper call
    // (this runs for every syscall on the node).
    let nr = unsafe { core::ptr::read_volatile(regs.add(SYSCALL_NR_OFFSET).cast::<SyscallNr>()) };
    let nr = nr as u64;
    if is_exec(nr) {
        exec_exit(ctx.arg(1), bpf_get_current_pid_tgid() as u32);
        return;
    }
    let Some(pid_tgid) = flagged_caller(nr) else {
        return;
    };
    let ret: i64 = ctx.arg(1);
    let tid = pid_tgid as u32;
    if let Some(rec) = PENDING.get_ptr_mut(&tid) {
        // SAFETY: our own thread's entry; only this thread writes it.
        let rec = unsafe { &mut *rec };
        if rec.nr == nr {
            rec.ret = ret;
            rec.outcome = Outcome::Returned as u8;
            if EVENTS.output::<SyscallRecord>(&*rec, 0).is_err() {
                count(Counter::RingbufFullFlagged);
            }
            let _ = PENDING.remove(&tid);
            return;
        }
        // A stale entry: its thread never returned from that call. Send it without outcome.
        if EVENTS.output::<SyscallRecord>(&*rec, 0).is_err() {
            count(Counter::RingbufFullFlagged);
        }
        let _ = PENDING.remove(&tid);
    }
    let Some(rec) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot.
    let rec = unsafe { &mut *rec };
    fill_call(
        rec,
        regs,
        nr,
        &EXIT_ARG_OFFSETS,
        Outcome::BlockedBeforeEntry,
        ret,
    );
    if EVENTS.output::<SyscallRecord>(&*rec, 0).is_err() {
        count(Counter::RingbufFullFlagged);
    }
}
