//! `tracepoint/sched/sched_process_exec`: a successful exec and the file it ran.
use core::mem::size_of;

use aya_ebpf::{
    EbpfContext as _, helpers::bpf_probe_read_kernel_str_bytes, macros::tracepoint,
    programs::TracePointContext,
};
use aya_log_ebpf::debug;
use sensor_common::{Counter, EXEC_FILENAME_LEN, ExecRecord, FLAG_TRUNCATED, RecordKind};

use crate::{
    maps::{EVENTS, EXEC_FILENAME_OFF, count},
    record::fill_header,
};

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    if try_sched_process_exec(&ctx).is_err() {
        count(Counter::ReadError);
        debug!(&ctx, "sched_process_exec: cannot read the filename field");
    }
    0
}

#[inline(always)]
fn try_sched_process_exec(ctx: &TracePointContext) -> Result<(), i32> {
    // `__data_loc char[] filename`: low 16 bits offset in the record, high 16 bits length
    // (with the NUL). The field's own offset comes from the tracefs format file.
    // SAFETY: read through bpf_probe_read_kernel.
    let loc: u32 = unsafe { ctx.read_at(EXEC_FILENAME_OFF.load() as usize)? };
    let Some(mut entry) = EVENTS.reserve::<ExecRecord>(0) else {
        count(Counter::RingbufFull);
        return Ok(());
    };
    // SAFETY: `entry` is a reserved entry of exactly size_of::<ExecRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    let truncated = (loc >> 16) as usize > EXEC_FILENAME_LEN;
    fill_header(
        &mut rec.header,
        RecordKind::Exec,
        size_of::<ExecRecord>(),
        if truncated { FLAG_TRUNCATED } else { 0 },
    );
    rec._pad = 0;
    // SAFETY: the source is inside the tracepoint record; the helper bounds the copy.
    let src = unsafe { ctx.as_ptr().cast::<u8>().add((loc & 0xffff) as usize) };
    rec.filename_len = match unsafe { bpf_probe_read_kernel_str_bytes(src, &mut rec.filename) } {
        Ok(s) => s.len() as u32,
        Err(_) => {
            count(Counter::ReadError);
            0
        }
    };
    entry.submit(0);
    Ok(())
}
