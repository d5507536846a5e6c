//! Kernel monotonic time -> wall clock.

/// The offset between CLOCK_REALTIME and CLOCK_MONOTONIC, taken once at start.
/// (A wall-clock step after start shifts later events by that step; NTP slewing does not.)
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    offset_ns: i128,
}

fn now_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec; these clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// CLOCK_MONOTONIC now, in nanoseconds: the clock of `bpf_ktime_get_ns()`.
pub fn monotonic_ns() -> u64 {
    now_ns(libc::CLOCK_MONOTONIC) as u64
}

/// CLOCK_REALTIME now, in nanoseconds since the Unix epoch.
pub fn wall_now_ns() -> u64 {
    now_ns(libc::CLOCK_REALTIME).max(0) as u64
}

impl Clock {
    pub fn new() -> Self {
        Self {
            offset_ns: now_ns(libc::CLOCK_REALTIME) - now_ns(libc::CLOCK_MONOTONIC),
        }
    }

    /// Nanoseconds since the Unix epoch for a `bpf_ktime_get_ns()` value.
    pub fn wall_ns(&self, ktime_ns: u64) -> u64 {
        (i128::from(ktime_ns) + self.offset_ns).clamp(0, i128::from(u64::MAX)) as u64
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_maps_to_now() {
        let c = Clock::new();
        let wall = c.wall_ns(now_ns(libc::CLOCK_MONOTONIC) as u64);
        let real = now_ns(libc::CLOCK_REALTIME) as u64;
        assert!(real.abs_diff(wall) < 1_000_000_000, "{wall} vs {real}");
    }
}
