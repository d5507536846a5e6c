//! The reader's own alarm clock for the drains no wakeup asks for (see [`super::redrain`]): a
//! [`TimerFd`], moved with one `timerfd_settime` per drain.
//!
//! tokio's timers woke the reader twice more per drain in a steady stream of process events:
//! each drain moves the deadline 52 ms on, and a tokio timer moved later wakes the driver at
//! its old place and again to cascade it (see [`crate::timerfd`]). On the 2000-exec loop,
//! with one worker thread, these were about 70 of its 150 context switches a round (README,
//! "Wake-ups the timers made").
use std::io;

use tokio::time::Instant;

use crate::timerfd::{First, TimerFd};

/// One alarm: armed for at most one time.
pub struct Alarm {
    fd: TimerFd,
    /// What the timerfd is set to (`None`: disarmed), to skip the call when nothing changed.
    at: Option<Instant>,
}

impl Alarm {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            fd: TimerFd::new()?,
            at: None,
        })
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
        match at {
            Some(at) => self.fd.arm(
                First::After(at.saturating_duration_since(Instant::now())),
                std::time::Duration::ZERO,
            )?,
            None => self.fd.disarm()?,
        }
        self.at = at;
        Ok(())
    }

    /// Resolves once the armed time has come; the alarm is then disarmed. (Pending forever
    /// when disarmed: poll it only when [`Alarm::armed`].)
    pub async fn rung(&mut self) -> io::Result<()> {
        self.fd.fired().await?;
        self.at = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
