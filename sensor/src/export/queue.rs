//! The exporter's queue: a feeder task drains the exporter's hub subscription at once, keeps
//! the events its filter wants (at most `--otlp-queue`, dropping the oldest past that), and
//! notes the losses to announce. So while the endpoint is slow or down, the hub subscription
//! never lags, and a queue-full count is exactly the exported kind of events lost.
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, atomic::Ordering},
    time::Duration,
};

use tokio::{sync::Notify, time::Instant};

use super::{ExportLoss, ExportStats, LossKey};
use crate::{
    event::{Kind, LossReason},
    filter::Filter,
    hub::{Item, Published, Subscription},
};

#[derive(Default)]
struct Inner {
    events: VecDeque<Arc<Published>>,
    /// Losses to announce in-band, by reason (and kind when known).
    losses: BTreeMap<LossKey, u64>,
    closed: bool,
}

pub struct Queue {
    inner: Mutex<Inner>,
    /// One permit per push: the exporter is the only waiter.
    notify: Notify,
    capacity: usize,
}

/// What the exporter takes at once.
pub struct Taken {
    pub events: Vec<Arc<Published>>,
    pub losses: BTreeMap<LossKey, u64>,
    /// The hub closed (the sensor is stopping).
    pub closing: bool,
    /// ... and nothing is left in the queue.
    pub closed: bool,
}

impl Queue {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::default(),
            notify: Notify::new(),
            capacity: capacity.max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drains `sub` into the queue until the hub closes.
    pub async fn feed(
        self: Arc<Self>,
        mut sub: Subscription,
        filter: Filter,
        stats: Arc<ExportStats>,
    ) {
        while let Some(item) = sub.next().await {
            let mut q = self.lock();
            match item {
                Item::Event(ev) if filter.matches(&ev) => {
                    if q.events.len() == self.capacity {
                        q.events.pop_front();
                        stats.lost[ExportLoss::QueueFull as usize].fetch_add(1, Ordering::Relaxed);
                        *q.losses
                            .entry((ExportLoss::QueueFull.name(), None))
                            .or_default() += 1;
                    }
                    q.events.push_back(ev);
                }
                Item::Event(_) => continue,
                Item::Lost {
                    count,
                    reason,
                    kind,
                } => {
                    let key = match reason {
                        // The feeder itself fell behind the hub (it only moves pointers, so
                        // the node is starved): counted, though the filter might have left
                        // some of them out.
                        LossReason::SubscriberQueue => {
                            stats.lost[ExportLoss::Hub as usize]
                                .fetch_add(count, Ordering::Relaxed);
                            (ExportLoss::Hub.name(), None)
                        }
                        other => (other.name(), kind.map(Kind::name)),
                    };
                    *q.losses.entry(key).or_default() += count;
                }
            }
            drop(q);
            self.notify.notify_one();
        }
        self.lock().closed = true;
        self.notify.notify_one();
    }

    fn ready(&self, max: usize) -> bool {
        let q = self.lock();
        q.events.len() >= max || q.closed
    }

    fn any(&self) -> bool {
        let q = self.lock();
        !q.events.is_empty() || !q.losses.is_empty() || q.closed
    }

    /// The next batch: waits for anything to send (unless `now`), then up to `flush` for the
    /// batch to fill; takes at most `max` events and every loss noted.
    pub async fn take(&self, max: usize, flush: Duration, now: bool) -> Taken {
        if !now {
            while !self.any() {
                self.notify.notified().await;
            }
        }
        let deadline = Instant::now() + flush;
        while !self.ready(max) {
            if tokio::time::timeout_at(deadline, self.notify.notified())
                .await
                .is_err()
            {
                break;
            }
        }
        let mut q = self.lock();
        let n = q.events.len().min(max);
        Taken {
            events: q.events.drain(..n).collect(),
            losses: std::mem::take(&mut q.losses),
            closing: q.closed,
            closed: q.closed && q.events.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        event::{Body, Event},
        hub::Hub,
    };

    fn exit_in(cgroup: u64) -> Event {
        Event::for_test(cgroup, Body::Exit { exit_code: 0 })
    }

    #[tokio::test]
    async fn past_its_capacity_the_queue_drops_the_oldest_and_counts_exactly_those() {
        let hub = Hub::new(1024, 0);
        let stats = Arc::new(ExportStats::default());
        let queue = Queue::new(3);
        let filter = Filter {
            cgroup_ids: vec![7],
            ..Default::default()
        };
        let feeder = tokio::spawn(queue.clone().feed(hub.subscribe(), filter, stats.clone()));
        for _ in 0..5 {
            hub.publish(exit_in(7));
            hub.publish(exit_in(8)); // filtered out: never queued, never counted
        }
        hub.report_loss(4, LossReason::KernelRingBuffer, Some(Kind::Exec));
        // The feeder runs whenever this task yields (one thread): until it took everything.
        for _ in 0..1000 {
            if queue.lock().losses.len() == 2 {
                break;
            }
            tokio::task::yield_now().await;
        }
        let taken = queue.take(10, Duration::ZERO, false).await;
        let seqs: Vec<u64> = taken.events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, vec![5, 7, 9], "the newest three of cgroup 7");
        assert_eq!(
            stats.lost[ExportLoss::QueueFull as usize].load(Ordering::Relaxed),
            2
        );
        assert_eq!(taken.losses.get(&("queue_full", None)), Some(&2));
        assert_eq!(
            taken.losses.get(&("kernel_ring_buffer", Some("exec"))),
            Some(&4)
        );
        assert!(!taken.closed);
        hub.close();
        feeder.await.unwrap();
        assert!(queue.take(10, Duration::ZERO, false).await.closed);
    }
}
