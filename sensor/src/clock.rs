//! Kernel monotonic time -> wall clock; the beat of the daemon's periodic tasks.
use std::{sync::OnceLock, time::Duration};

use crate::timerfd::{First, TimerFd};

use tokio::time::{Instant, Interval, MissedTickBehavior};

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

/// The grid of [`beat`]: one origin for the whole process, as a tokio instant and as
/// CLOCK_MONOTONIC nanoseconds (the timerfd's clock), taken together.
fn origin() -> (Instant, u64) {
    static ORIGIN: OnceLock<(Instant, u64)> = OnceLock::new();
    *ORIGIN.get_or_init(|| (Instant::now(), monotonic_ns()))
}

/// Ticks every `period` on one grid for the whole process: at the multiples of `period` since
/// the first call. Periodic tasks whose periods divide one another then tick at the same
/// instants, and the process wakes once for all of them, not once each (a wake-up is a context
/// switch, on a virtual machine a timer interrupt is a VM exit). The first tick is the next
/// point of the grid (not at once); a late tick skips to the grid. Must be called within the
/// tokio runtime.
pub fn beat(period: Duration) -> Beat {
    let period = period.max(Duration::from_millis(1));
    let (origin, origin_ns) = origin();
    let since = Instant::now().saturating_duration_since(origin).as_nanos();
    let k = since / period.as_nanos() + 1;
    let next_ns = u64::try_from(k * period.as_nanos()).unwrap_or(u64::MAX);
    let next = origin + Duration::from_nanos(next_ns);
    let timer = TimerFd::new().and_then(|fd| {
        fd.arm(First::At(origin_ns.saturating_add(next_ns)), period)?;
        Ok(fd)
    });
    let ticks = match timer {
        Ok(fd) => Ticks::Timer { fd, next },
        Err(e) => {
            tracing::warn!(error = %e, "no timerfd for a periodic task: tokio's timer instead");
            Ticks::Tokio(interval(next, period))
        }
    };
    Beat { period, ticks }
}

/// A periodic tick on the process-wide grid: see [`beat`].
pub struct Beat {
    period: Duration,
    ticks: Ticks,
}

enum Ticks {
    /// A periodic timerfd (one wake-up per tick; see [`crate::timerfd`]) and the grid point
    /// of its next fire.
    Timer { fd: TimerFd, next: Instant },
    /// tokio's interval, if no timerfd could be had.
    Tokio(Interval),
}

impl Beat {
    /// Waits for the next tick and returns its point of the grid (the latest one, if ticks
    /// were missed). Cancel-safe.
    pub async fn tick(&mut self) -> Instant {
        let (fd, next) = match &mut self.ticks {
            Ticks::Tokio(i) => return i.tick().await,
            Ticks::Timer { fd, next } => (fd, next),
        };
        match fd.fired().await {
            Ok(fires) => {
                let at = *next + self.period * u32::try_from(fires.max(1) - 1).unwrap_or(0);
                *next = at + self.period;
                at
            }
            Err(e) => {
                tracing::warn!(error = %e, "a periodic timerfd failed: tokio's timer instead");
                let mut i = interval(*next, self.period);
                let at = i.tick().await;
                self.ticks = Ticks::Tokio(i);
                at
            }
        }
    }
}

fn interval(first: Instant, period: Duration) -> Interval {
    let mut interval = tokio::time::interval_at(first, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    interval
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

    #[tokio::test]
    async fn beats_of_dividing_periods_tick_together() {
        let mut fast = beat(Duration::from_millis(20));
        tokio::time::sleep(Duration::from_millis(37)).await;
        let mut slow = beat(Duration::from_millis(80));
        let f = fast.tick().await;
        let s = slow.tick().await;
        assert!(s > f);
        let apart = (s - f).as_nanos();
        assert_eq!(
            apart % 20_000_000,
            0,
            "the slow beat is on the fast one's grid"
        );
        assert_eq!(slow.tick().await - s, Duration::from_millis(80));
    }

    #[tokio::test]
    async fn a_late_beat_skips_to_the_grid() {
        let mut b = beat(Duration::from_millis(10));
        let first = b.tick().await;
        std::thread::sleep(Duration::from_millis(35)); // the worker is busy past three ticks
        let late = b.tick().await;
        assert!(
            late - first >= Duration::from_millis(30),
            "{:?}",
            late - first
        );
        assert_eq!((late - first).as_nanos() % 10_000_000, 0);
        let next = b.tick().await;
        assert_eq!(next - late, Duration::from_millis(10));
    }
}
