//! The common header, filled in place in a reserved ring-buffer entry.
use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_task, bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel,
};
use sensor_common::{COMM_LEN, FLAGGED_WAKE_NS, Header, OFFSET_UNKNOWN, RecordKind};

use crate::maps::{
    EVENTS, LAZY_WAKE_NS, TASK_REAL_PARENT_OFF, TASK_TGID_OFF, WAKE, WAKE_BYTES, WAKE_FLAGGED,
    WAKE_LAZY,
};

/// `bpf_ringbuf_submit` flags and `bpf_ringbuf_query`'s "bytes not yet consumed".
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

/// Submit flags for a record nobody waits for at once (a fork, an exit, an exec, a first use,
/// a cgroup), made at `now`. A wakeup is an `irq_work`, a self interrupt that costs
/// microseconds (a VM exit on a virtual machine): paid on every record, it made each fork,
/// exec and exit cost 14-17 us. So such a record wakes the reader only if no record did in
/// the last `LAZY_WAKE_NS` (the first of a burst, or a lone one, still comes at once), or
/// once `WAKE_BYTES` wait; the reader drains again that long after it read such a record,
/// for the rest of a burst (`reader::run`).
#[inline(always)]
pub fn lazy_wakeup(now: u64) -> u64 {
    wakeup(
        WAKE_LAZY,
        now,
        LAZY_WAKE_NS.load(),
        EVENTS.query(BPF_RB_AVAIL_DATA) >= WAKE_BYTES.load(),
    )
}

/// Submit flags for a flagged call's record, which subscribers wait for. The kernel's
/// adaptive wakeup (flags 0) wakes the reader only if it has read everything before this
/// record: lazy records waiting unread (the fork and exec of the very process that makes the
/// call) would hold it back. So when anything waits unread, this record wakes the reader
/// itself, unless another flagged record did in the last `FLAGGED_WAKE_NS` (a storm wakes
/// it at most that often; the reader drains again that long after it read a flagged record).
#[inline(always)]
pub fn flagged_wakeup() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA) == 0 {
        return 0; // the reader has caught up: the adaptive wakeup wakes it
    }
    // SAFETY: no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    match wakeup(WAKE_FLAGGED, now, FLAGGED_WAKE_NS, false) {
        BPF_RB_NO_WAKEUP => 0,
        flags => flags,
    }
}

/// A forced wakeup if `force` or if no record of the same class forced one in the last
/// `quiet_ns` (recorded in `WAKE[class]`), else none. Each class has its own slot: the reader
/// drains again after reading a record of a class, which covers only that class's
/// suppressed wakeups.
#[inline(always)]
fn wakeup(class: u32, now: u64, quiet_ns: u64, force: bool) -> u64 {
    let Some(last) = WAKE.get_ptr_mut(class) else {
        return 0;
    };
    // SAFETY: the one entry of an array map. CPUs racing may each wake the reader once.
    let last = unsafe { &mut *last };
    if force || now.wrapping_sub(*last) >= quiet_ns {
        *last = now;
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

/// Reads a `T` at `offset` bytes into the kernel object at `base`; `None` if the offset is
/// unknown on this kernel or the read fails.
#[inline(always)]
pub fn read_field<T>(base: *const u8, offset: u32) -> Option<T> {
    if offset == OFFSET_UNKNOWN || base.is_null() {
        return None;
    }
    // SAFETY: the helper checks the address.
    unsafe { bpf_probe_read_kernel(base.add(offset as usize).cast::<T>()) }.ok()
}

/// The tgid of the current task's parent (`real_parent->tgid`), 0 if unknown.
#[inline(always)]
fn current_ppid() -> u32 {
    // SAFETY: no arguments.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let parent: Option<*const u8> = read_field(task, TASK_REAL_PARENT_OFF.load());
    parent
        .and_then(|p| read_field::<i32>(p, TASK_TGID_OFF.load()))
        .map_or(0, |t| t as u32)
}

/// Writes every field of the header (ring-buffer memory is not zeroed by the kernel).
#[inline(always)]
pub fn fill_header(h: &mut Header, kind: RecordKind, size: usize, flags: u16) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    h.kind = kind as u16;
    h.flags = flags;
    h.size = size as u32;
    // SAFETY: helpers without arguments.
    h.ktime_ns = unsafe { bpf_ktime_get_ns() };
    h.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    h.pid = (pid_tgid >> 32) as u32;
    h.tid = pid_tgid as u32;
    h.uid = uid_gid as u32;
    h.gid = (uid_gid >> 32) as u32;
    h.comm = bpf_get_current_comm().unwrap_or([0u8; COMM_LEN]);
    h.ppid = current_ppid();
    h._pad = 0;
}
