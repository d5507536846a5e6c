//! `tracepoint/io_uring/io_uring_submit_req`: every operation submitted through an io_uring
//! ring. An operation never passes a syscall hook (the ring is shared memory; even
//! `io_uring_enter` is optional with a polling kernel thread), so seccomp cannot filter it and
//! `sys_enter` cannot see it. Here each cgroup's operations are learned (one byte per
//! opcode, like syscalls), and a forbidden one (syscall key `IOURING_KEY_BASE + opcode`) is
//! flagged. The tracepoint carries the opcode, not the submission entry: a flagged operation
//! has no decoded arguments, and its outcome is not waited for.
use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use sensor_common::{FLAG_IOURING, OFFSET_UNKNOWN, Outcome, iouring_key};

use crate::{
    flood::suppressed,
    learn::learn_iouring,
    maps::{IOURING_OPCODE_OFF, SCRATCH, flagged_caller},
    syscall::{fill_bare, send},
};

#[tracepoint(category = "io_uring", name = "io_uring_submit_req")]
pub fn io_uring_submit_req(ctx: TracePointContext) -> u32 {
    try_io_uring_submit_req(&ctx);
    0
}

#[inline(always)]
fn try_io_uring_submit_req(ctx: &TracePointContext) {
    let off = IOURING_OPCODE_OFF.load();
    if off == OFFSET_UNKNOWN {
        return;
    }
    // SAFETY: through bpf_probe_read_kernel, at the offset from the format file.
    let Ok(op) = (unsafe { ctx.read_at::<u8>(off as usize) }) else {
        return;
    };
    let op = u64::from(op);
    learn_iouring(op);
    let Some(key) = iouring_key(op) else {
        return;
    };
    if flagged_caller(key).is_none() || suppressed(key) {
        return;
    }
    let Some(rec) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot; nothing else runs on it while we do.
    let rec = unsafe { &mut *rec };
    fill_bare(rec, op, FLAG_IOURING, Outcome::Pending, 0);
    send(rec);
}
