//! Fan-out to subscribers. Every event gets the next sequence number here. Each subscriber has
//! its own bounded queue: one that falls behind loses its own oldest items and is told how many
//! in-band, without slowing the reader or anyone else. A bounded replay buffer lets a
//! subscriber that reconnects pick up where it left off. Summaries (events that count calls
//! not sent one by one) are kept apart as well: a subscriber that loses events, to its queue
//! or to a resume past the replay buffer, still gets the summaries among them, so that the
//! counts they carry are never lost with them.
mod subscription;
#[cfg(test)]
mod tests;

use std::{
    collections::VecDeque,
    ops::Deref,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use tokio::sync::{broadcast, watch};

use self::subscription::Backlog;
pub use self::subscription::Subscription;
use crate::event::{Event, Kind, LossReason};

/// An event as the hub hands it out: numbered, shared by every subscriber, and encoded for
/// the wire at most once (by the first subscriber that sends it), however many send it.
#[derive(Debug)]
pub struct Published {
    event: Event,
    /// Exactly the encoded size: it is kept as long as the event sits in a subscriber queue
    /// or the replay buffer.
    wire: OnceLock<Box<[u8]>>,
}

impl Published {
    pub fn new(event: Event) -> Self {
        Self {
            event,
            wire: OnceLock::new(),
        }
    }

    /// The event's wire form: `encode`d by the first caller, shared by the others.
    pub fn wire(&self, encode: impl FnOnce(&Event) -> Box<[u8]>) -> &[u8] {
        self.wire.get_or_init(|| encode(&self.event))
    }
}

/// The wire form once [`Published::wire`] made it (empty before: never sent so).
impl AsRef<[u8]> for Published {
    fn as_ref(&self) -> &[u8] {
        self.wire.get().map_or(&[], |w| w)
    }
}

impl Deref for Published {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.event
    }
}

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Item {
    Event(Arc<Published>),
    /// `count` events that this subscriber will never see; for kernel losses, of which kind
    /// (`None`: the sensor's own bookkeeping records).
    Lost {
        count: u64,
        reason: LossReason,
        kind: Option<Kind>,
    },
}

/// Slots of [`LossTotals::kernel`]: one per kind, then one for bookkeeping records.
const KERNEL_SLOTS: usize = Kind::ALL.len() + 1;

fn kernel_slot(kind: Option<Kind>) -> usize {
    kind.map_or(Kind::ALL.len(), Kind::index)
}

/// Events lost before they reached the hub, since start. Every subscriber is told the part
/// that happened while it was subscribed, exactly once, however far behind it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LossTotals {
    kernel: [u64; KERNEL_SLOTS],
    malformed: u64,
}

/// Where a new subscription starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// With the next event published.
    Live,
    /// With the event after `seq` (0: this run's first), from the replay buffer.
    After(u64),
}

/// Cumulative counts for metrics and the Status RPC.
#[derive(Debug, Default)]
struct Stats {
    published: [AtomicU64; Kind::ALL.len()],
    queue_lost: AtomicU64,
    replay_expired: AtomicU64,
}

/// The last events published, for subscribers that resume.
#[derive(Debug)]
struct Replay {
    events: VecDeque<Arc<Published>>,
    capacity: usize,
    /// The last [`SUMMARIES_KEPT`] summaries, oldest first, whatever `capacity` is.
    summaries: VecDeque<Arc<Published>>,
}

/// Summaries kept for subscribers that lose events: at most one a second per cgroup and
/// flooded call, so this spans far more time than a subscriber queue.
const SUMMARIES_KEPT: usize = 1024;

impl Replay {
    /// The kept summaries numbered `from..=to`, oldest first.
    fn summaries_in(&self, from: u64, to: u64) -> VecDeque<Arc<Published>> {
        let start = self.summaries.partition_point(|e| e.seq < from);
        self.summaries
            .range(start..)
            .take_while(|e| e.seq <= to)
            .cloned()
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct Hub {
    /// Only events: a slow subscriber's `Lagged(n)` is then exactly n events.
    tx: broadcast::Sender<Arc<Published>>,
    losses: watch::Sender<LossTotals>,
    closed: watch::Sender<bool>,
    /// Numbering, the replay buffer and the send happen under this lock, so that a resuming
    /// subscriber gets each event exactly once: from the buffer or live.
    replay: Arc<Mutex<Replay>>,
    next_seq: Arc<AtomicU64>,
    stats: Arc<Stats>,
}

impl Hub {
    /// `queue` is each subscriber's capacity, `replay` the replay buffer's, in events.
    pub fn new(queue: usize, replay: usize) -> Self {
        let (tx, _) = broadcast::channel(queue.max(1));
        let (closed, _) = watch::channel(false);
        let (losses, _) = watch::channel(LossTotals::default());
        Self {
            tx,
            losses,
            closed,
            replay: Arc::new(Mutex::new(Replay {
                events: VecDeque::with_capacity(replay.min(4096)),
                capacity: replay,
                summaries: VecDeque::new(),
            })),
            next_seq: Arc::new(AtomicU64::new(1)),
            stats: Arc::default(),
        }
    }

    fn lock_replay(&self) -> std::sync::MutexGuard<'_, Replay> {
        // A panic while holding the lock cannot leave the buffer inconsistent: keep going.
        self.replay.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Numbers `event` and hands it to every subscriber. Never blocks on a subscriber.
    pub fn publish(&self, mut event: Event) -> u64 {
        self.stats.published[event.body.kind().index()].fetch_add(1, Ordering::Relaxed);
        let mut replay = self.lock_replay();
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        event.seq = seq;
        let event = Arc::new(Published::new(event));
        if replay.capacity > 0 {
            if replay.events.len() == replay.capacity {
                replay.events.pop_front();
            }
            replay.events.push_back(event.clone());
        }
        if event.is_summary() {
            if replay.summaries.len() == SUMMARIES_KEPT {
                replay.summaries.pop_front();
            }
            replay.summaries.push_back(event.clone());
        }
        // An error only means that nobody is subscribed right now.
        let _ = self.tx.send(event);
        seq
    }

    /// Tells every subscriber about events lost before they reached the hub.
    pub fn report_loss(&self, count: u64, reason: LossReason, kind: Option<Kind>) {
        if count == 0 {
            return;
        }
        self.losses.send_modify(|t| match reason {
            LossReason::KernelRingBuffer => t.kernel[kernel_slot(kind)] += count,
            LossReason::MalformedRecord => t.malformed += count,
            // Per subscriber, never hub-wide.
            LossReason::SubscriberQueue | LossReason::ReplayExpired => {}
        });
    }

    /// Events published so far (the last sequence number).
    pub fn published(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed) - 1
    }

    /// Events published so far, of `kind`.
    pub fn published_of(&self, kind: Kind) -> u64 {
        self.stats.published[kind.index()].load(Ordering::Relaxed)
    }

    /// Events lost so far, for `reason`, summed over subscribers for per-subscriber reasons.
    pub fn lost(&self, reason: LossReason) -> u64 {
        let totals = *self.losses.borrow();
        match reason {
            LossReason::KernelRingBuffer => totals.kernel.iter().sum(),
            LossReason::MalformedRecord => totals.malformed,
            LossReason::SubscriberQueue => self.stats.queue_lost.load(Ordering::Relaxed),
            LossReason::ReplayExpired => self.stats.replay_expired.load(Ordering::Relaxed),
        }
    }

    /// Kernel ring-buffer losses so far, of records of `kind` (`None`: bookkeeping records).
    pub fn kernel_lost_of(&self, kind: Option<Kind>) -> u64 {
        self.losses.borrow().kernel[kernel_slot(kind)]
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A live subscription.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_from(Start::Live)
    }

    /// A subscription that starts at `start`; what the replay buffer no longer holds is
    /// announced as one `ReplayExpired` loss before anything else (but for the summaries
    /// among it, which come after that notice).
    pub fn subscribe_from(&self, start: Start) -> Subscription {
        let losses = self.losses.subscribe();
        let replay = self.lock_replay();
        let next_seq = self.next_seq.load(Ordering::Relaxed);
        let (backlog, expired) = match start {
            Start::Live => (VecDeque::new(), 0),
            Start::After(after) => {
                let oldest = replay.events.front().map_or(next_seq, |e| e.seq);
                let expired = oldest.saturating_sub(after + 1);
                let mut backlog = if expired > 0 {
                    replay.summaries_in(after + 1, oldest - 1)
                } else {
                    VecDeque::new()
                };
                let kept = backlog.len() as u64;
                backlog.extend(replay.events.iter().filter(|e| e.seq > after).cloned());
                (backlog, expired - kept)
            }
        };
        self.stats
            .replay_expired
            .fetch_add(expired, Ordering::Relaxed);
        // Subscribed under the lock: the first live event follows the backlog's last.
        let rx = self.tx.subscribe();
        drop(replay);
        Subscription::new(
            rx,
            losses,
            self.closed.subscribe(),
            Backlog {
                events: backlog,
                expired,
                last_seq: next_seq - 1,
            },
            self.replay.clone(),
            self.stats.clone(),
        )
    }

    /// Ends every subscription (shutdown).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}
