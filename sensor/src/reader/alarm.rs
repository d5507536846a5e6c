//! The reader's own alarm clock for the drains no wakeup asks for (see [`super::redrain`]): a
//! timerfd in the runtime's epoll set, moved with one `timerfd_settime` per drain.
//!
//! tokio's timers woke the reader twice more per drain in a steady stream of process events.
//! Each drain moves the deadline 52 ms on, but a `Sleep` moved later stays in the wheel where
//! it was and the driver wakes there to move it (about 2 ms after the drain, since the drains
//! come every 50 ms); and a deadline beyond the wheel's current 64 ms span sits at its next
//! level, which the driver wakes at the start of the 64 ms slot to sort out. A wakeup of the
//! worker is a context switch, and on a virtual machine a timer interrupt is a VM exit: on
//! the 2000-exec loop, with one worker thread, these were about 70 of its 150 context
//! switches a round (README, "Wake-ups the timers made"). A timerfd fires only when its
//! time has come.
use std::{io, os::fd::OwnedFd, time::Duration};

use rustix::time::{
    Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
    timerfd_settime,
};
use tokio::{
    io::{Interest, unix::AsyncFd},
    time::Instant,
};

/// One alarm: armed for at most one time.
pub struct Alarm {
    fd: AsyncFd<OwnedFd>,
    /// What the timerfd is set to (`None`: disarmed), to skip the call when nothing changed.
    at: Option<Instant>,
}

impl Alarm {
    pub fn new() -> io::Result<Self> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: the OwnedFd is open and is only closed when the AsyncFd drops it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?;
        Ok(Self { fd, at: None })
    }

    /// Is it armed?
    pub fn armed(&self) -> bool {
        self.at.is_some()
    }

    /// Arms the alarm for `at` (at once if it has passed), or disarms it (`None`).
    pub fn set(&mut self, at: Option<Instant>) -> io::Result<()> {
        if at == self.at {
            return Ok(());
        }
        let value = match at {
            // A zero value disarms the timer: a time already passed rings after 1 ns.
            Some(at) => at
                .saturating_duration_since(Instant::now())
                .max(Duration::from_nanos(1)),
            None => Duration::ZERO,
        };
        let spec = Itimerspec {
            it_interval: timespec(Duration::ZERO),
            it_value: timespec(value),
        };
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        self.at = at;
        Ok(())
    }

    /// Resolves once the armed time has come; the alarm is then disarmed. (Pending forever
    /// when disarmed: poll it only when [`Alarm::armed`].)
    pub async fn rung(&mut self) -> io::Result<()> {
        let mut count = [0u8; 8];
        loop {
            let mut guard = self.fd.readable().await?;
            match rustix::io::read(guard.get_inner(), &mut count) {
                Ok(_) => {
                    // Read: not readable until it is set again and rings (a ring that came
                    // meanwhile is newer than this readiness and is kept).
                    guard.clear_ready();
                    self.at = None;
                    return Ok(());
                }
                // Not yet: an expiry read before the alarm was moved left the fd marked ready.
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

    #[tokio::test]
    async fn rings_once_its_time_has_come_and_not_before() {
        let mut alarm = Alarm::new().unwrap();
        let start = Instant::now();
        alarm.set(Some(start + Duration::from_millis(30))).unwrap();
        assert!(alarm.armed());
        tokio::time::timeout(Duration::from_secs(5), alarm.rung())
            .await
            .expect("the alarm rings")
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!alarm.armed());
    }

    #[tokio::test]
    async fn a_moved_alarm_rings_at_its_new_time_and_a_disarmed_one_never() {
        let mut alarm = Alarm::new().unwrap();
        let start = Instant::now();
        alarm.set(Some(start + Duration::from_millis(5))).unwrap();
        alarm.set(Some(start + Duration::from_millis(60))).unwrap();
        tokio::time::timeout(Duration::from_secs(5), alarm.rung())
            .await
            .expect("the alarm rings")
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(60));

        alarm
            .set(Some(Instant::now() + Duration::from_millis(20)))
            .unwrap();
        alarm.set(None).unwrap();
        assert!(!alarm.armed());
        let rung = tokio::time::timeout(Duration::from_millis(60), alarm.rung()).await;
        assert!(rung.is_err(), "a disarmed alarm rang");
    }

    #[tokio::test]
    async fn a_time_already_passed_rings_at_once() {
        let mut alarm = Alarm::new().unwrap();
        alarm
            .set(Some(Instant::now() - Duration::from_millis(1)))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), alarm.rung())
            .await
            .expect("the alarm rings")
            .unwrap();
    }
}
