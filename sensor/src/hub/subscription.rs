//! One subscriber's view of the hub: its backlog (when resuming), then live events, with every
//! loss announced before the next event it receives.
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, atomic::Ordering},
};

use tokio::sync::{broadcast, watch};

use super::{Item, KERNEL_SLOTS, LossTotals, Published, Replay, Stats};
use crate::event::{Kind, LossReason};

#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Published>>,
    losses: watch::Receiver<LossTotals>,
    /// The hub-wide losses this subscriber has been told of.
    reported: LossTotals,
    /// A loss was just reported: others may be left from the same change of `losses`.
    recheck: bool,
    closed: watch::Receiver<bool>,
    /// Replayed events (or summaries of lost ones) still to send, oldest first.
    backlog: VecDeque<Arc<Published>>,
    /// Events the replay buffer no longer held when this subscription resumed.
    expired: u64,
    /// The number of the last event taken from `rx` (before the first: the one before it).
    last_seq: u64,
    /// Where the summaries among lost events are found.
    replay: Arc<Mutex<Replay>>,
    stats: Arc<Stats>,
}

/// Where a new subscription starts.
pub(super) struct Backlog {
    /// Replayed events, oldest first.
    pub events: VecDeque<Arc<Published>>,
    /// Events the replay buffer no longer held.
    pub expired: u64,
    /// The number of the event before the first live one.
    pub last_seq: u64,
}

impl Subscription {
    pub(super) fn new(
        rx: broadcast::Receiver<Arc<Published>>,
        mut losses: watch::Receiver<LossTotals>,
        closed: watch::Receiver<bool>,
        backlog: Backlog,
        replay: Arc<Mutex<Replay>>,
        stats: Arc<Stats>,
    ) -> Self {
        // Not told of losses from before it subscribed.
        let reported = *losses.borrow_and_update();
        // `is_closed` looks at the value only after a change: count the current one as one.
        let mut closed = closed;
        closed.mark_changed();
        Self {
            rx,
            losses,
            reported,
            recheck: false,
            closed,
            backlog: backlog.events,
            expired: backlog.expired,
            last_seq: backlog.last_seq,
            replay,
            stats,
        }
    }

    #[cfg(test)]
    pub(super) fn reported_kernel(&self) -> u64 {
        self.reported.kernel.iter().sum()
    }

    /// A loss notice this subscriber has not had yet.
    fn pending_loss(&mut self) -> Option<Item> {
        if self.expired > 0 {
            let count = std::mem::take(&mut self.expired);
            return Some(lost(count, LossReason::ReplayExpired, None));
        }
        // Asked before every item: a load when nothing changed, no lock.
        if !self.recheck && !self.losses.has_changed().unwrap_or(false) {
            return None;
        }
        let now = *self.losses.borrow_and_update();
        self.recheck = true;
        for slot in 0..KERNEL_SLOTS {
            if now.kernel[slot] > self.reported.kernel[slot] {
                let count = now.kernel[slot] - self.reported.kernel[slot];
                self.reported.kernel[slot] = now.kernel[slot];
                let kind = Kind::ALL.get(slot).copied();
                return Some(lost(count, LossReason::KernelRingBuffer, kind));
            }
        }
        if now.malformed > self.reported.malformed {
            let count = now.malformed - self.reported.malformed;
            self.reported.malformed = now.malformed;
            return Some(lost(count, LossReason::MalformedRecord, None));
        }
        self.recheck = false;
        None
    }

    /// Whether the hub has closed (the sensor is shutting down); a load, no lock.
    pub fn is_closed(&mut self) -> bool {
        match self.closed.has_changed() {
            Ok(false) => false,
            Ok(true) if *self.closed.borrow() => true,
            Ok(true) => {
                // Not closed: the lock is taken again only at the next change.
                self.closed.mark_unchanged();
                false
            }
            Err(_) => true,
        }
    }

    /// The next item if one is ready now (a loss notice, a replayed or a queued event).
    pub fn try_next(&mut self) -> Option<Item> {
        if let Some(lost) = self.pending_loss() {
            return Some(lost);
        }
        if let Some(ev) = self.backlog.pop_front() {
            return Some(Item::Event(ev));
        }
        match self.rx.try_recv() {
            Ok(ev) => Some(self.live(ev)),
            Err(broadcast::error::TryRecvError::Lagged(n)) => Some(self.lagged(n)),
            Err(broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed) => {
                None
            }
        }
    }

    /// The next item; `None` once the hub is closed.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            // A closed hub ends the subscription at once, even with items still queued.
            if self.is_closed() {
                return None;
            }
            if let Some(item) = self.try_next() {
                return Some(item);
            }
            let received = tokio::select! {
                biased;
                _ = self.closed.wait_for(|c| *c) => return None,
                changed = self.losses.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    // `changed` marked the new totals seen: `pending_loss` must still look.
                    self.recheck = true;
                    continue;
                }
                r = self.rx.recv() => r,
            };
            return match received {
                Ok(ev) => Some(self.live(ev)),
                Err(broadcast::error::RecvError::Lagged(n)) => Some(self.lagged(n)),
                Err(broadcast::error::RecvError::Closed) => None,
            };
        }
    }
}

impl Subscription {
    fn live(&mut self, ev: Arc<Published>) -> Item {
        self.last_seq = ev.seq;
        Item::Event(ev)
    }

    /// This subscriber's queue overflowed: the `n` events after the last it took are gone
    /// from it. It is told how many it will never see, then gets the summaries among them.
    fn lagged(&mut self, n: u64) -> Item {
        let (from, to) = (self.last_seq + 1, self.last_seq + n);
        self.last_seq = to;
        let summaries = self
            .replay
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .summaries_in(from, to);
        let gone = n - summaries.len() as u64;
        // The backlog is empty: it is sent before anything is taken from `rx`.
        self.backlog.extend(summaries);
        if gone == 0
            && let Some(ev) = self.backlog.pop_front()
        {
            return Item::Event(ev);
        }
        self.stats.queue_lost.fetch_add(gone, Ordering::Relaxed);
        lost(gone, LossReason::SubscriberQueue, None)
    }
}

fn lost(count: u64, reason: LossReason, kind: Option<Kind>) -> Item {
    Item::Lost {
        count,
        reason,
        kind,
    }
}
