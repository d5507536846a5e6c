//! The exit side of flagged calls and execs: adds the outcome to a parked flagged call and
//! sends it; what an exit without a parked entry means is decided in `parked.rs` (a call
//! refused by a seccomp filter is "blocked before entry").
//!
//! Two entries share one body. `sys_exit_call` is a classic tracepoint that the sensor
//! attaches to `syscalls/sys_exit_<name>` of each syscall that needs its exit (the forbidden
//! ones, execve, execveat): the kernel runs it for those calls only, so the rest of the node's
//! syscalls pay nothing on their way out. `sys_exit` hooks every syscall's exit
//! (`--exit-hook all`, or a kernel without per-syscall tracepoints).
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_get_current_task_btf, bpf_task_pt_regs},
    },
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use sensor_common::{Counter, native_key};

use crate::{
    arch::{EXIT_ARG_OFFSETS, SYSCALL_NR_OFFSET, SyscallNr},
    exec::exec_exit,
    learn::deviates_now,
    maps::{
        SYS_EXIT_NR_OFF, SYS_EXIT_RET_OFF, count, current_task, in_compat_syscall, is_compat_exec,
        is_exec, reported_caller,
    },
    parked::at_exit,
    syscall::Call,
};

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> i32 {
    // TP_PROTO(struct pt_regs *regs, long ret)
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: a tp_btf argument is a trusted `struct pt_regs *`: the verifier checks this
    // load against the BTF layout, so the syscall number costs one load, not a helper call
    // (this runs for every syscall on the node).
    let nr = unsafe { core::ptr::read_volatile(regs.add(SYSCALL_NR_OFFSET).cast::<SyscallNr>()) };
    if in_compat_syscall(current_task()) {
        // Its number is the compat ABI's; a forbidden one was sent at entry. Only a failed
        // compat exec has something to add here.
        if is_compat_exec(nr as u64) {
            exec_exit(ctx.arg(1), bpf_get_current_pid_tgid() as u32);
        }
        return 0;
    }
    try_sys_exit(nr as u64, ctx.arg(1), || regs);
    0
}

#[tracepoint]
pub fn sys_exit_call(ctx: TracePointContext) -> u32 {
    if try_sys_exit_call(&ctx).is_err() {
        count(Counter::ReadError);
    }
    0
}

#[inline(always)]
fn try_sys_exit_call(ctx: &TracePointContext) -> Result<(), i32> {
    // `int __syscall_nr; long ret;` at the offsets the tracefs format file gives.
    // SAFETY: read through bpf_probe_read_kernel.
    // The number is read unsigned and only ever widened with zeros: one value in one
    // register, so the verifier keeps the bound that `is_forbidden` checks.
    let nr: u32 = unsafe { ctx.read_at(SYS_EXIT_NR_OFF.load() as usize)? };
    let ret: i64 = unsafe { ctx.read_at(SYS_EXIT_RET_OFF.load() as usize)? };
    try_sys_exit(u64::from(nr), ret, || {
        // The record holds no registers: the calling task's user registers, for the
        // arguments of a call that never entered.
        // SAFETY: helpers on the current task, which is valid while we run.
        unsafe { bpf_task_pt_regs(bpf_get_current_task_btf()) as *const u8 }
    });
    Ok(())
}

#[inline(always)]
fn try_sys_exit(nr: u64, ret: i64, regs: impl FnOnce() -> *const u8) {
    if is_exec(nr) {
        exec_exit(ret, bpf_get_current_pid_tgid() as u32);
        return;
    }
    let Some(key) = native_key(nr) else {
        return;
    };
    // Only a call that never entered (refused by seccomp) needs the deviation check here:
    // one that entered was judged at its entry.
    let Some((pid_tgid, flags)) = reported_caller(key, deviates_now(key)) else {
        return;
    };
    let call = Call {
        nr,
        key,
        offsets: &EXIT_ARG_OFFSETS,
        flags,
    };
    at_exit(pid_tgid as u32, &call, ret, regs);
}
