//! `raw_tp/sys_enter`: every syscall of the node passes here. The common case is one array
//! lookup and a bit test; only a forbidden call reads its arguments and emits a record.
use core::mem::size_of;

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_kernel},
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use sensor_common::{Counter, RecordKind, SYSCALL_ARGS, SyscallRecord};

use crate::{
    arch::SYSCALL_ARG_OFFSETS,
    maps::{EVENTS, SELF_TGID, count, is_forbidden},
    record::fill_header,
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
    if !is_forbidden(nr) {
        return;
    }
    if (bpf_get_current_pid_tgid() >> 32) as u32 == SELF_TGID.load() {
        return;
    }
    let regs: *const u8 = ctx.arg(0);
    let Some(mut entry) = EVENTS.reserve::<SyscallRecord>(0) else {
        count(Counter::RingbufFull);
        return;
    };
    let rec = entry.as_mut_ptr();
    // SAFETY: `rec` points at a reserved entry of exactly size_of::<SyscallRecord>() bytes.
    let rec = unsafe { &mut *rec };
    fill_header(&mut rec.header, RecordKind::Syscall, size_of::<SyscallRecord>(), 0);
    rec.nr = nr;
    let mut failed = false;
    for i in 0..SYSCALL_ARGS {
        // SAFETY: reading kernel memory through the helper, which checks the address.
        let v = unsafe { bpf_probe_read_kernel(regs.add(SYSCALL_ARG_OFFSETS[i]).cast::<u64>()) };
        rec.args[i] = match v {
            Ok(v) => v,
            Err(_) => {
                failed = true;
                0
            }
        };
    }
    if failed {
        count(Counter::ReadError);
    }
    entry.submit(0);
}
