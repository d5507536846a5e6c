//! Events that wait to learn who made them. A container's first events are often its most
//! interesting, and pod filters, exceptions and profiles need its pod metadata. So the events
//! of a cgroup the cache does not know yet (while a rescan of the cgroup2 tree runs off the
//! reader) or of a container whose CRI lookup is in flight wait here, in order, per cgroup.
//!
//! Bounded in time and memory: a cgroup's events wait at most `max_wait` from the first one,
//! and at most `max_held` events wait at once (past that, the cgroup that has waited longest
//! goes out first). What goes out without the answer it waited for is marked by the enricher
//! (metadata pending, or attribution pending) and counted.
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use foldhash::HashMap;

use crate::event::Event;

#[derive(Debug)]
pub struct WaitRoom {
    by_cgroup: HashMap<u64, Held>,
    held: usize,
    max_wait: Duration,
    max_held: usize,
}

#[derive(Debug)]
struct Held {
    since: Instant,
    events: VecDeque<Event>,
}

impl WaitRoom {
    /// `max_wait` zero: nothing waits.
    pub fn new(max_wait: Duration, max_held: usize) -> Self {
        Self {
            by_cgroup: HashMap::default(),
            held: 0,
            max_wait,
            max_held: max_held.max(1),
        }
    }

    /// Whether events may wait at all.
    pub fn enabled(&self) -> bool {
        !self.max_wait.is_zero()
    }

    /// Events of this cgroup are waiting (so its next ones must queue behind them).
    pub fn is_waiting(&self, cgroup_id: u64) -> bool {
        !self.by_cgroup.is_empty() && self.by_cgroup.contains_key(&cgroup_id)
    }

    /// Events waiting now.
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Queues `ev` behind its cgroup's waiting events. When that makes too many, returns the
    /// cgroup that has waited longest, whose events must go out now ([`Self::take`]).
    pub fn hold(&mut self, ev: Event) -> Option<u64> {
        let now = Instant::now();
        self.by_cgroup
            .entry(ev.cgroup_id)
            .or_insert_with(|| Held {
                since: now,
                events: VecDeque::new(),
            })
            .events
            .push_back(ev);
        self.held += 1;
        (self.held > self.max_held)
            .then(|| {
                self.by_cgroup
                    .iter()
                    .min_by_key(|(_, h)| h.since)
                    .map(|(&id, _)| id)
            })
            .flatten()
    }

    /// The cgroups with waiting events, and whether each is past its time.
    pub fn waiting(&self, now: Instant) -> Vec<(u64, bool)> {
        self.by_cgroup
            .iter()
            .map(|(&id, h)| (id, now >= h.since + self.max_wait))
            .collect()
    }

    /// The first waiting event of a cgroup (what its queue waits for is decided from it).
    pub fn front_mut(&mut self, cgroup_id: u64) -> Option<&mut Event> {
        self.by_cgroup.get_mut(&cgroup_id)?.events.front_mut()
    }

    /// Takes a cgroup's waiting events, oldest first.
    pub fn take(&mut self, cgroup_id: u64) -> VecDeque<Event> {
        let events = self
            .by_cgroup
            .remove(&cgroup_id)
            .map(|h| h.events)
            .unwrap_or_default();
        self.held -= events.len();
        events
    }

    /// When the first waiting cgroup runs out of time.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_cgroup
            .values()
            .map(|h| h.since + self.max_wait)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Body;

    fn ev(cgroup: u64, pid: u32) -> Event {
        let mut e = Event::for_test(cgroup, Body::Exit { exit_code: 0 });
        e.process.pid = pid;
        e
    }

    #[test]
    fn keeps_order_per_cgroup_and_is_bounded() {
        let mut room = WaitRoom::new(Duration::from_secs(60), 3);
        assert_eq!(room.hold(ev(1, 10)), None);
        assert_eq!(room.hold(ev(2, 20)), None);
        assert_eq!(room.hold(ev(1, 11)), None);
        assert!(room.is_waiting(1) && room.is_waiting(2) && !room.is_waiting(3));
        // A fourth event is one too many: cgroup 1 waited longest and must go.
        assert_eq!(room.hold(ev(2, 21)), Some(1));
        let out: Vec<u32> = room.take(1).iter().map(|e| e.process.pid).collect();
        assert_eq!(out, [10, 11]);
        assert_eq!(room.len(), 2);
        assert!(!room.is_waiting(1));
    }

    #[test]
    fn says_who_is_past_time() {
        let mut room = WaitRoom::new(Duration::from_millis(1), 10);
        assert!(room.next_deadline().is_none());
        room.hold(ev(7, 1));
        let deadline = room.next_deadline().unwrap();
        assert_eq!(room.waiting(deadline), vec![(7, true)]);
        assert_eq!(
            room.waiting(deadline - Duration::from_millis(1)),
            vec![(7, false)]
        );
        assert!(!WaitRoom::new(Duration::ZERO, 10).enabled());
    }
}
