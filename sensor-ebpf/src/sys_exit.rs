//! The exit side of flagged calls and execs: adds the outcome to a parked flagged call and
//! sends it; what an exit without a parked entry means is decided in `parked.rs` (a call
//! refused by a seccomp filter is "blocked before entry").
//!
//! Two entries share one body. `sys_exit_call` is a classic tracepoint that the sensor
//! attaches to `syscalls/sys_exit_<name>` of each syscall that needs its exit (the forbidden
//! ones, execve, execveat): the kernel runs it for those calls only, so the rest of the node's
//! syscalls pay nothing on their way out. `sys_exit` hooks every syscall's exit
//! (`--exit-hook all`, or a kernel without per-syscall tracepoints); it alone sees compat
//! (i386) calls' exits, so with it they get their outcome too.
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{bpf_get_current_task_btf, bpf_task_pt_regs},
    },
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use sensor_common::{Counter, FLAG_COMPAT, I386_SOCKETCALL, compat_key, native_key};

use crate::{
    arch::{COMPAT_ARG_OFFSETS, EXIT_ARG_OFFSETS, SYSCALL_NR_OFFSET, SyscallNr},
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
    let ret: i64 = ctx.arg(1);
    let call = if in_compat_syscall(current_task()) {
        compat_call(nr as u64, ret)
    } else {
        native_call(nr as u64, ret)
    };
    if let Some(call) = call {
        reported_exit(&call, ret, || regs);
    }
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
    if let Some(call) = native_call(nr, ret) {
        reported_exit(&call, ret, regs);
    }
}

/// Native call `nr` at its exit: an exec's is handled here; any other is given back.
#[inline(always)]
fn native_call(nr: u64, ret: i64) -> Option<Call<'static>> {
    if is_exec(nr) {
        exec_exit(ret, bpf_get_current_pid_tgid() as u32);
        return None;
    }
    Some(Call {
        nr,
        key: native_key(nr)?,
        offsets: &EXIT_ARG_OFFSETS,
        flags: 0,
    })
}

/// Compat (i386) call `nr` at its exit (seen by `sys_exit` only: the per-syscall
/// tracepoints skip compat calls). A forbidden one was parked at its entry, since its key's
/// exit is hooked when this program is attached (`EXIT_HOOKED` has every bit then); so was a
/// forbidden socket call made through socketcall, which socketcall's exit sends.
#[inline(always)]
fn compat_call(nr: u64, ret: i64) -> Option<Call<'static>> {
    if is_compat_exec(nr) {
        exec_exit(ret, bpf_get_current_pid_tgid() as u32);
        return None;
    }
    if nr == I386_SOCKETCALL {
        crate::parked::socketcall_exit(bpf_get_current_pid_tgid() as u32, ret);
    }
    Some(Call {
        nr,
        key: compat_key(nr)?,
        // bx, cx, ... are as the caller left them: only ax holds the result.
        offsets: &COMPAT_ARG_OFFSETS,
        flags: FLAG_COMPAT,
    })
}

/// The exit of `call` (any ABI; `flags` its ABI's), if it is to be reported.
#[inline(always)]
fn reported_exit(call: &Call, ret: i64, regs: impl FnOnce() -> *const u8) {
    // Only a call that never entered (refused by seccomp) needs the deviation check here:
    // one that entered was judged at its entry.
    let Some((pid_tgid, flags)) = reported_caller(call.key, deviates_now(call.key)) else {
        return;
    };
    let call = Call {
        flags: call.flags | flags,
        ..*call
    };
    at_exit(pid_tgid as u32, &call, ret, regs);
}
