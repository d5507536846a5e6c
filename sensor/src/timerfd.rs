//! A timerfd in the runtime's epoll set: the kernel's timer, for the daemon's own alarm clocks
//! ([`crate::reader`]'s redrain alarm, [`crate::clock::beat`]).
//!
//! Why not tokio's timers: a tokio timer moved later stays in the wheel where it was, and the
//! driver wakes there to move it; a deadline beyond the wheel's current 64 ms span sits at its
//! next level, which the driver wakes at the start of the 64 ms slot to sort out. Each wake-up
//! of a worker is a context switch, and on a virtual machine a timer interrupt is a VM exit
//! (README, "Wake-ups the timers made"). A timerfd fires only when its time has come, and a
//! periodic one re-arms itself in the kernel.
use std::{io, os::fd::OwnedFd, time::Duration};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::io::{Interest, unix::AsyncFd};

/// When a [`TimerFd`] first fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum First {
    /// After this long (a zero duration: at once).
    After(Duration),
    /// At this CLOCK_MONOTONIC time, in nanoseconds (past: at once).
    At(u64),
}

/// One CLOCK_MONOTONIC timerfd, readable when it has fired.
pub struct TimerFd {
    fd: AsyncFd<OwnedFd>,
}

impl TimerFd {
    /// A disarmed timer. Must be called within the tokio runtime.
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: the OwnedFd is open and is only closed when the AsyncFd drops it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Self { fd })
    }

    /// Arms the timer to fire at `first` and then, if `every` is not zero, every `every` after
    /// it; a timer already armed is moved.
    pub fn arm(&self, first: First, every: Duration) -> io::Result<()> {
        let (value, flags) = match first {
            // A zero value would disarm the timer: "at once" is after 1 ns.
            First::After(d) => (
                timespec(d.max(Duration::from_nanos(1))),
                TimerfdTimerFlags::empty(),
            ),
            First::At(ns) => (
                timespec(Duration::from_nanos(ns.max(1))),
                TimerfdTimerFlags::ABSTIME,
            ),
        };
        self.settime(flags, value, timespec(every))
    }

    /// Disarms the timer: it does not fire until armed again.
    pub fn disarm(&self) -> io::Result<()> {
        let zero = timespec(Duration::ZERO);
        self.settime(TimerfdTimerFlags::empty(), zero, zero)
    }

    fn settime(
        &self,
        flags: TimerfdTimerFlags,
        value: Timespec,
        every: Timespec,
    ) -> io::Result<()> {
        let spec = Itimerspec {
            it_interval: every,
            it_value: value,
        };
        timerfd_settime(self.fd.get_ref(), flags, &spec)?;
        Ok(())
    }

    /// Resolves when the timer has fired, with how many times it fired since the last call
    /// (more than one: a periodic timer's ticks were missed). Pending forever while disarmed.
    /// Cancel-safe: a fire is consumed only by the call that returns it.
    pub async fn fired(&self) -> io::Result<u64> {
        let mut count = [0u8; 8];
        loop {
            let mut guard = self.fd.readable().await?;
            match rustix::io::read(guard.get_inner(), &mut count) {
                Ok(_) => {
                    // Read: not readable until it fires again (a fire that came meanwhile is
                    // newer than this readiness and is kept).
                    guard.clear_ready();
                    return Ok(u64::from_ne_bytes(count));
                }
                // Not yet: a fire read before the timer was moved left the fd marked ready.
                Err(rustix::io::Errno::AGAIN) => guard.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn timespec(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs() as _,
        tv_nsec: d.subsec_nanos() as _,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn a_periodic_timer_counts_the_fires_it_was_not_asked_for() {
        let t = TimerFd::new().unwrap();
        let start = Instant::now();
        t.arm(
            First::After(Duration::from_millis(5)),
            Duration::from_millis(5),
        )
        .unwrap();
        assert_eq!(t.fired().await.unwrap(), 1);
        std::thread::sleep(Duration::from_millis(32)); // the worker is busy: fires pile up
        let missed = t.fired().await.unwrap();
        assert!(missed >= 5, "{missed} fires counted in 32 ms of 5 ms ticks");
        assert!(start.elapsed() >= Duration::from_millis(35));
        t.disarm().unwrap();
        let after = tokio::time::timeout(Duration::from_millis(30), t.fired()).await;
        assert!(after.is_err(), "a disarmed timer fired");
    }

    #[tokio::test]
    async fn an_absolute_time_fires_then_and_not_before() {
        let t = TimerFd::new().unwrap();
        let at = crate::clock::monotonic_ns() + 20_000_000;
        t.arm(First::At(at), Duration::ZERO).unwrap();
        assert_eq!(t.fired().await.unwrap(), 1);
        assert!(crate::clock::monotonic_ns() >= at);
    }
}
