//! `tracepoint/cgroup/cgroup_mkdir` and `cgroup_rmdir`: keep userspace's cgroup id -> path
//! cache current without rescanning. Only the cgroup2 hierarchy (id 0) is reported.
//! `raw_tp/cgroup_attach_task`: a task changed cgroup, so the learn caches, keyed by task,
//! are dropped.
use core::mem::size_of;

use aya_ebpf::{
    EbpfContext as _,
    helpers::bpf_probe_read_kernel_str_bytes,
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use sensor_common::{CGROUP_PATH_LEN, CgroupRecord, Counter, FLAG_TRUNCATED, RecordKind};

use crate::{
    learn::drop_caches,
    maps::{CGROUP_ID_OFF, CGROUP_PATH_OFF, CGROUP_ROOT_OFF, EVENTS, count},
    record::fill_header,
};

/// cgroup2's hierarchy id: the default hierarchy is set up first and gets 0.
const CGROUP2_HIERARCHY: i32 = 0;

/// Runs after a task (or a whole process) moved to another cgroup, in any hierarchy (moves are
/// rare: a runtime placing a process, systemd, a test): every CPU's learn cache is dropped.
#[raw_tracepoint(tracepoint = "cgroup_attach_task")]
pub fn cgroup_attach_task(_ctx: RawTracePointContext) -> i32 {
    drop_caches();
    0
}

#[tracepoint(category = "cgroup", name = "cgroup_mkdir")]
pub fn cgroup_mkdir(ctx: TracePointContext) -> u32 {
    if try_cgroup(&ctx, RecordKind::CgroupMkdir).is_err() {
        count(Counter::ReadError);
    }
    0
}

#[tracepoint(category = "cgroup", name = "cgroup_rmdir")]
pub fn cgroup_rmdir(ctx: TracePointContext) -> u32 {
    if try_cgroup(&ctx, RecordKind::CgroupRmdir).is_err() {
        count(Counter::ReadError);
    }
    0
}

#[inline(always)]
fn try_cgroup(ctx: &TracePointContext, kind: RecordKind) -> Result<(), i32> {
    // SAFETY (all reads): through bpf_probe_read_kernel, at offsets from the format file.
    let root: i32 = unsafe { ctx.read_at(CGROUP_ROOT_OFF.load() as usize)? };
    if root != CGROUP2_HIERARCHY {
        return Ok(());
    }
    let id: u64 = unsafe { ctx.read_at(CGROUP_ID_OFF.load() as usize)? };
    let loc: u32 = unsafe { ctx.read_at(CGROUP_PATH_OFF.load() as usize)? };
    let Some(mut entry) = EVENTS.reserve::<CgroupRecord>(0) else {
        count(Counter::RingbufFullCgroup);
        return Ok(());
    };
    // SAFETY: a reserved entry of exactly size_of::<CgroupRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    let truncated = (loc >> 16) as usize > CGROUP_PATH_LEN;
    fill_header(
        &mut rec.header,
        kind,
        size_of::<CgroupRecord>(),
        if truncated { FLAG_TRUNCATED } else { 0 },
    );
    rec.id = id;
    rec._pad = 0;
    // SAFETY: the source is inside the tracepoint record; the helper bounds the copy.
    let src = unsafe { ctx.as_ptr().cast::<u8>().add((loc & 0xffff) as usize) };
    rec.path_len = match unsafe { bpf_probe_read_kernel_str_bytes(src, &mut rec.path) } {
        Ok(s) => s.len() as u32,
        Err(_) => {
            count(Counter::ReadError);
            0
        }
    };
    let now = rec.header.ktime_ns;
    entry.submit(crate::record::lazy_wakeup(now));
    Ok(())
}
