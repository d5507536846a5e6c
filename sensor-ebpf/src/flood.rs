//! A budget per cgroup and flagged call: each (cgroup, syscall key) may send `FLOOD_BUDGET`
//! records a second from each CPU (the state is per CPU, so no two CPUs ever race on it;
//! eBPF here has no atomic add). Past that, the second's further calls are counted, not sent, and
//! userspace turns the count into a summary ("umount2 x 184,233 suppressed from container X
//! in the last second"). So one flooding container cannot fill the ring that every other
//! container's calls, execs and exits go through, and what it did is still told.
use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_get_current_cgroup_id, bpf_ktime_get_ns},
};
use sensor_common::{Counter, FloodKey, FloodState};

use crate::maps::{FLOOD, FLOOD_BUDGET, count};

const WINDOW_NS: u64 = 1_000_000_000;

/// The calling cgroup's state for syscall key `key`, made on first use; `None` when there is
/// no room (counted).
#[inline(always)]
fn state(key: u64) -> Option<&'static mut FloodState> {
    let k = FloodKey {
        // SAFETY: no arguments.
        cgroup_id: unsafe { bpf_get_current_cgroup_id() },
        key: key as u32,
        _pad: 0,
    };
    if FLOOD.get_ptr_mut(&k).is_none() {
        let fresh = FloodState {
            // SAFETY: no arguments.
            window_start_ns: unsafe { bpf_ktime_get_ns() },
            sent: 0,
            suppressed: 0,
            lost: 0,
        };
        // Another CPU may have made it meanwhile: then it is there, which is all we need.
        let _ = FLOOD.insert(&k, &fresh, u64::from(BPF_NOEXIST));
    }
    match FLOOD.get_ptr_mut(&k) {
        // SAFETY: this CPU's value of a map entry, valid while we run.
        Some(s) => Some(unsafe { &mut *s }),
        None => {
            count(Counter::FloodFull);
            None
        }
    }
}

/// Is the calling cgroup past its budget for syscall key `key` on this CPU? When it is, the
/// call is to be counted with [`suppress`] (or sent, if it cannot be), not sent.
#[inline(always)]
pub fn over_budget(key: u64) -> Option<&'static mut FloodState> {
    if FLOOD_BUDGET.load() == 0 {
        return None;
    }
    let s = state(key)?;
    // SAFETY: no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if now.wrapping_sub(s.window_start_ns) >= WINDOW_NS {
        s.window_start_ns = now;
        s.sent = 0;
    }
    if s.sent < FLOOD_BUDGET.load() {
        s.sent += 1;
        return None;
    }
    Some(s)
}

/// Counts one suppressed call (in this CPU's own value: nothing races it).
#[inline(always)]
pub fn suppress(s: &mut FloodState) {
    s.suppressed += 1;
}

/// Sends nothing and counts the call when the cgroup is past its budget for `key`: for
/// calls sent from one place (compat, x32, io_uring, and refusals seen at exit).
#[inline(always)]
pub fn suppressed(key: u64) -> bool {
    match over_budget(key) {
        Some(s) => {
            suppress(s);
            true
        }
        None => false,
    }
}

/// A flagged record of syscall key `key` (or an exec, fork or exit record: `LOST_KEY_*`)
/// found the ring buffer full: counted against the calling cgroup too, so that the sensor
/// tells each container's own losses.
#[inline(always)]
pub fn lost(key: u64) {
    if let Some(s) = state(key) {
        s.lost += 1;
    }
}
