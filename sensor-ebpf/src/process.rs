//! Process lifecycle: `raw_tp/sched_process_fork` (new processes, not threads) and
//! `tracepoint/sched/sched_process_exit` (a process's end, with its exit code; every thread's
//! end also clears what the thread left parked).
use core::mem::size_of;

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use sensor_common::{Counter, ExitRecord, ForkRecord, OFFSET_UNKNOWN, RecordKind};

use crate::{
    maps::{EVENTS, EXIT_GROUP_DEAD_OFF, TASK_EXIT_CODE_OFF, TASK_PID_OFF, TASK_TGID_OFF, count},
    parked::thread_ended,
    record::{fill_header, read_field},
};

#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> i32 {
    try_sched_process_fork(&ctx);
    0
}

#[inline(always)]
fn try_sched_process_fork(ctx: &RawTracePointContext) {
    // TP_PROTO(struct task_struct *parent, struct task_struct *child); runs in the parent.
    let child: *const u8 = ctx.arg(1);
    // Threads too: a thread can get namespaces of its own (CLONE_NEWUTS, CLONE_NEWNET, ...).
    if let Some(created) = crate::namespaces::created(ctx.arg(0), child) {
        crate::namespaces::at_fork(created);
    }
    let (Some(pid), Some(tgid)) = (
        read_field::<i32>(child, TASK_PID_OFF.load()),
        read_field::<i32>(child, TASK_TGID_OFF.load()),
    ) else {
        return; // layout unknown: no fork events (ppid still comes from /proc in userspace)
    };
    if pid != tgid {
        return; // a new thread, not a new process
    }
    let Some(mut entry) = EVENTS.reserve::<ForkRecord>(0) else {
        count(Counter::RingbufFullFork);
        crate::flood::lost(sensor_common::LOST_KEY_FORK);
        return;
    };
    // SAFETY: a reserved entry of exactly size_of::<ForkRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(
        &mut rec.header,
        RecordKind::Fork,
        size_of::<ForkRecord>(),
        0,
    );
    rec.child_pid = pid as u32;
    rec._pad = 0;
    let now = rec.header.ktime_ns;
    entry.submit(crate::record::lazy_wakeup(now));
}

#[tracepoint(category = "sched", name = "sched_process_exit")]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    try_sched_process_exit(&ctx);
    0
}

#[inline(always)]
fn try_sched_process_exit(ctx: &TracePointContext) {
    let pid_tgid = bpf_get_current_pid_tgid();
    // Every thread's end (this tracepoint runs for each one).
    thread_ended(pid_tgid as u32);
    let last_thread = match EXIT_GROUP_DEAD_OFF.load() {
        // SAFETY: read through bpf_probe_read_kernel.
        off if off != OFFSET_UNKNOWN => {
            unsafe { ctx.read_at::<u8>(off as usize) }.is_ok_and(|d| d != 0)
        }
        // Older kernels: count the leader's exit as the process's.
        _ => pid_tgid >> 32 == pid_tgid & 0xffff_ffff,
    };
    if !last_thread {
        return;
    }
    // SAFETY: no arguments.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let exit_code = read_field::<i32>(task, TASK_EXIT_CODE_OFF.load()).unwrap_or(0);
    let Some(mut entry) = EVENTS.reserve::<ExitRecord>(0) else {
        count(Counter::RingbufFullExit);
        crate::flood::lost(sensor_common::LOST_KEY_EXIT);
        return;
    };
    // SAFETY: a reserved entry of exactly size_of::<ExitRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(
        &mut rec.header,
        RecordKind::Exit,
        size_of::<ExitRecord>(),
        0,
    );
    rec.exit_code = exit_code as u32;
    rec._pad = 0;
    let now = rec.header.ktime_ns;
    entry.submit(crate::record::lazy_wakeup(now));
}
