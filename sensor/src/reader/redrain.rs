//! When the reader drains the ring again without being woken.
//!
//! Records nobody waits for at once (forks, execs, exits, first uses, cgroups: "lazy") wake
//! the reader at most once per lazy interval (`sensor run --process-event-delay-ms`, the
//! kernel's `LAZY_WAKE_NS`), and a flagged call's record behind unread
//! ones at most once per `FLAGGED_WAKE_NS` (see `sensor-ebpf`'s `record::lazy_wakeup`); each
//! wakeup is an interrupt, microseconds on a virtual machine. The kernel keeps one "last
//! forced wakeup" per class, so a record it did not wake us for was made within that class's
//! interval after a record of the same class that did, which some drain read. Hence the rule:
//! after a drain that read records of a class, drain again once that class's interval (plus
//! a margin) has passed. A later drain that reads the class again moves the deadline on; it
//! still covers the earlier one. A steady stream of process events is then read at the
//! kernel's wakeups alone, and a quiet node is never woken.
use std::time::Duration;

use sensor_common::{FLAGGED_WAKE_NS, RecordKind};
use tokio::time::Instant;

/// How much later than a class's interval the reader drains again: the kernel's clock and
/// ours are read at different moments.
const MARGIN: Duration = Duration::from_millis(2);
/// After reading flagged records, drain again this much later.
pub const FLAGGED_AGAIN: Duration = Duration::from_nanos(FLAGGED_WAKE_NS + 500_000);

/// The classes of records one drain read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Read {
    pub lazy: bool,
    pub flagged: bool,
}

impl Read {
    /// Notes a record by its raw bytes. One too short to name its kind counts as both (it
    /// cannot tell which wakeup it stood for).
    pub fn note(&mut self, record: &[u8]) {
        match record.get(..2) {
            Some(&[a, b]) if u16::from_ne_bytes([a, b]) == RecordKind::Syscall as u16 => {
                self.flagged = true
            }
            Some(_) => self.lazy = true,
            None => (self.lazy, self.flagged) = (true, true),
        }
    }
}

/// The pending deadlines.
#[derive(Debug)]
pub struct Redrain {
    /// After reading lazy records, drain again this much later.
    lazy_again: Duration,
    lazy: Option<Instant>,
    flagged: Option<Instant>,
    /// The last drain stopped with records left (it yields to other tasks every batch).
    more: bool,
}

impl Redrain {
    /// Deadlines for a kernel that lets lazy records wake the reader once per `lazy`.
    pub fn new(lazy: Duration) -> Self {
        Self {
            lazy_again: lazy + MARGIN,
            lazy: None,
            flagged: None,
            more: false,
        }
    }

    /// Records what a drain that ended at `now` read, and whether it left records behind.
    pub fn drained(&mut self, read: Read, caught_up: bool, now: Instant) {
        if read.lazy {
            self.lazy = Some(now + self.lazy_again);
        }
        if read.flagged {
            self.flagged = Some(now + FLAGGED_AGAIN);
        }
        self.more = !caught_up;
    }

    /// The last drain left records behind: drain again as soon as other tasks have run.
    pub fn more(&self) -> bool {
        self.more
    }

    /// When to drain next without a wakeup (records left behind aside, [`Redrain::more`]);
    /// `None`: not until woken.
    pub fn next(&self) -> Option<Instant> {
        match (self.lazy, self.flagged) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A drain without a wakeup starts at `now`: the deadlines that passed, and records left
    /// behind, are met by it.
    pub fn due(&mut self, now: Instant) {
        self.lazy = self.lazy.filter(|at| *at > now);
        self.flagged = self.flagged.filter(|at| *at > now);
        self.more = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAZY: Read = Read {
        lazy: true,
        flagged: false,
    };
    const FLAGGED: Read = Read {
        lazy: false,
        flagged: true,
    };
    const INTERVAL: Duration = Duration::from_millis(50);

    fn record(kind: RecordKind) -> Vec<u8> {
        let mut r = vec![0u8; 64];
        r[..2].copy_from_slice(&(kind as u16).to_ne_bytes());
        r
    }

    #[test]
    fn records_are_told_apart_by_kind() {
        let read = |bytes: &[u8]| {
            let mut read = Read::default();
            read.note(bytes);
            read
        };
        assert_eq!(read(&record(RecordKind::Exec)), LAZY);
        assert_eq!(read(&record(RecordKind::Syscall)), FLAGGED);
        let both = Read {
            lazy: true,
            flagged: true,
        };
        assert_eq!(read(&[1]), both);
    }

    #[test]
    fn nothing_read_means_no_redrain() {
        let now = Instant::now();
        let mut r = Redrain::new(INTERVAL);
        r.drained(Read::default(), true, now);
        assert_eq!(r.next(), None);
    }

    #[test]
    fn each_class_sets_its_own_deadline_and_the_earliest_comes_first() {
        let now = Instant::now();
        let mut r = Redrain::new(INTERVAL);
        r.drained(LAZY, true, now);
        assert_eq!(r.next(), Some(now + INTERVAL + MARGIN));
        r.drained(FLAGGED, true, now);
        assert_eq!(r.next(), Some(now + FLAGGED_AGAIN));
        // The flagged deadline passes; the lazy one stays.
        r.due(now + FLAGGED_AGAIN);
        assert_eq!(r.next(), Some(now + INTERVAL + MARGIN));
        r.due(now + INTERVAL + MARGIN);
        assert_eq!(r.next(), None);
    }

    #[test]
    fn a_later_read_moves_the_deadline_on() {
        let now = Instant::now();
        let later = now + Duration::from_millis(5);
        let mut r = Redrain::new(INTERVAL);
        r.drained(LAZY, true, now);
        r.drained(LAZY, true, later);
        assert_eq!(r.next(), Some(later + INTERVAL + MARGIN));
        // A drain that read nothing keeps it.
        r.drained(Read::default(), true, later);
        assert_eq!(r.next(), Some(later + INTERVAL + MARGIN));
    }

    #[test]
    fn records_left_behind_are_drained_at_once() {
        let now = Instant::now();
        let mut r = Redrain::new(INTERVAL);
        r.drained(LAZY, false, now);
        assert!(r.more());
        assert_eq!(r.next(), Some(now + INTERVAL + MARGIN));
        r.due(now);
        assert!(!r.more());
        assert_eq!(r.next(), Some(now + INTERVAL + MARGIN));
    }

    #[test]
    fn the_lazy_deadline_follows_the_configured_interval() {
        let now = Instant::now();
        for ms in [1, 50, 1000] {
            let mut r = Redrain::new(Duration::from_millis(ms));
            r.drained(LAZY, true, now);
            assert_eq!(r.next(), Some(now + Duration::from_millis(ms) + MARGIN));
        }
    }
}
