//! Fan-out to subscribers. Every event gets the next sequence number here. Each subscriber has
//! its own bounded queue: one that falls behind loses its own oldest items and is told how many
//! in-band, without slowing the reader or anyone else.
use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::{broadcast, watch};

use crate::event::{Event, LossReason};

/// What a subscriber receives.
#[derive(Clone, Debug)]
pub enum Item {
    Event(Arc<Event>),
    /// `count` events that this subscriber will never see.
    Lost {
        count: u64,
        reason: LossReason,
    },
}

/// Events lost before they reached the hub, since start. Every subscriber is told the part
/// that happened while it was subscribed, exactly once, however far behind it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LossTotals {
    kernel: u64,
    malformed: u64,
}

#[derive(Clone, Debug)]
pub struct Hub {
    /// Only events: a slow subscriber's `Lagged(n)` is then exactly n events.
    tx: broadcast::Sender<Arc<Event>>,
    losses: watch::Sender<LossTotals>,
    closed: watch::Sender<bool>,
    next_seq: Arc<AtomicU64>,
}

impl Hub {
    /// `queue` is each subscriber's capacity, in events.
    pub fn new(queue: usize) -> Self {
        let (tx, _) = broadcast::channel(queue.max(1));
        let (closed, _) = watch::channel(false);
        let (losses, _) = watch::channel(LossTotals::default());
        Self {
            tx,
            losses,
            closed,
            next_seq: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Numbers `event` and hands it to every subscriber. Never blocks.
    pub fn publish(&self, mut event: Event) -> u64 {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        event.seq = seq;
        // An error only means that nobody is subscribed right now.
        let _ = self.tx.send(Arc::new(event));
        seq
    }

    /// Tells every subscriber about events lost before they reached the hub.
    pub fn report_loss(&self, count: u64, reason: LossReason) {
        if count == 0 {
            return;
        }
        self.losses.send_modify(|t| match reason {
            LossReason::KernelRingBuffer => t.kernel += count,
            LossReason::MalformedRecord => t.malformed += count,
            // Per subscriber, never hub-wide.
            LossReason::SubscriberQueue => {}
        });
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed) - 1
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    pub fn subscribe(&self) -> Subscription {
        let losses = self.losses.subscribe();
        let reported = *losses.borrow();
        Subscription {
            rx: self.tx.subscribe(),
            losses,
            reported,
            closed: self.closed.subscribe(),
        }
    }

    /// Ends every subscription (shutdown).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

#[derive(Debug)]
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    losses: watch::Receiver<LossTotals>,
    /// The hub-wide losses this subscriber has been told of.
    reported: LossTotals,
    closed: watch::Receiver<bool>,
}

impl Subscription {
    /// A loss notice this subscriber has not had yet.
    fn pending_loss(&mut self) -> Option<Item> {
        let now = *self.losses.borrow_and_update();
        if now.kernel > self.reported.kernel {
            let count = now.kernel - self.reported.kernel;
            self.reported.kernel = now.kernel;
            return Some(Item::Lost {
                count,
                reason: LossReason::KernelRingBuffer,
            });
        }
        if now.malformed > self.reported.malformed {
            let count = now.malformed - self.reported.malformed;
            self.reported.malformed = now.malformed;
            return Some(Item::Lost {
                count,
                reason: LossReason::MalformedRecord,
            });
        }
        None
    }

    /// The next item; `None` once the hub is closed.
    pub async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(lost) = self.pending_loss() {
                return Some(lost);
            }
            tokio::select! {
                biased;
                _ = self.closed.wait_for(|c| *c) => return None,
                changed = self.losses.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                r = self.rx.recv() => return match r {
                    Ok(ev) => Some(Item::Event(ev)),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        Some(Item::Lost { count: n, reason: LossReason::SubscriberQueue })
                    }
                    Err(broadcast::error::RecvError::Closed) => None,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Body, Exec};

    fn event() -> Event {
        Event::for_test(
            1,
            Body::Exec(Exec {
                filename: b"/x".to_vec(),
                ..Default::default()
            }),
        )
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_what_it_lost() {
        let hub = Hub::new(4);
        let mut fast = hub.subscribe();
        let mut slow = hub.subscribe();
        let mut fast_seen = Vec::new();
        for _ in 0..10 {
            hub.publish(event());
            let Some(Item::Event(e)) = fast.next().await else {
                panic!("fast lost one")
            };
            fast_seen.push(e.seq);
        }
        assert_eq!(fast_seen, (1..=10).collect::<Vec<_>>());
        let (mut got, mut lost) = (0, 0);
        while got + lost < 10 {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), slow.next());
            match next.await.expect("the slow subscriber stalled") {
                Some(Item::Event(_)) => got += 1,
                Some(Item::Lost { count, reason }) => {
                    assert_eq!(reason, LossReason::SubscriberQueue);
                    lost += count;
                }
                None => panic!("subscription ended early"),
            }
        }
        assert_eq!((got, lost), (4, 6));
        hub.close();
        assert!(
            slow.next().await.is_none(),
            "closed hub must end the subscription"
        );
    }

    #[tokio::test]
    async fn every_loss_is_told_exactly_once_even_to_a_lagging_subscriber() {
        let hub = Hub::new(4);
        let mut slow = hub.subscribe();
        for i in 0..10 {
            hub.publish(event());
            if i == 5 {
                hub.report_loss(5, LossReason::KernelRingBuffer);
            }
        }
        let (mut events, mut lost_queue, mut lost_kernel) = (0, 0, 0);
        while events + lost_queue + lost_kernel < 15 {
            let next = tokio::time::timeout(std::time::Duration::from_secs(5), slow.next());
            match next.await.expect("stalled") {
                Some(Item::Event(_)) => events += 1,
                Some(Item::Lost {
                    count,
                    reason: LossReason::SubscriberQueue,
                }) => lost_queue += count,
                Some(Item::Lost { count, .. }) => lost_kernel += count,
                None => panic!("ended"),
            }
        }
        assert_eq!((events, lost_queue, lost_kernel), (4, 6, 5));
        let later = hub.subscribe();
        assert_eq!(
            later.reported.kernel, 5,
            "a new subscriber is not told of old losses"
        );
    }

    #[tokio::test]
    async fn sequence_numbers_are_gap_free() {
        let hub = Hub::new(16);
        let mut sub = hub.subscribe();
        hub.report_loss(3, LossReason::KernelRingBuffer);
        assert_eq!(hub.publish(event()), 1);
        assert_eq!(hub.publish(event()), 2);
        assert!(matches!(
            sub.next().await,
            Some(Item::Lost { count: 3, .. })
        ));
        assert!(matches!(sub.next().await, Some(Item::Event(e)) if e.seq == 1));
        assert!(matches!(sub.next().await, Some(Item::Event(e)) if e.seq == 2));
        assert_eq!(hub.published(), 2);
    }
}
