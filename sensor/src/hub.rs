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

#[derive(Clone, Debug)]
pub struct Hub {
    tx: broadcast::Sender<Item>,
    closed: watch::Sender<bool>,
    next_seq: Arc<AtomicU64>,
}

impl Hub {
    /// `queue` is each subscriber's capacity, in items.
    pub fn new(queue: usize) -> Self {
        let (tx, _) = broadcast::channel(queue.max(1));
        let (closed, _) = watch::channel(false);
        Self {
            tx,
            closed,
            next_seq: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Numbers `event` and hands it to every subscriber. Never blocks.
    pub fn publish(&self, mut event: Event) -> u64 {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        event.seq = seq;
        // An error only means that nobody is subscribed right now.
        let _ = self.tx.send(Item::Event(Arc::new(event)));
        seq
    }

    /// Tells every subscriber about events lost before they reached the hub.
    pub fn report_loss(&self, count: u64, reason: LossReason) {
        if count > 0 {
            let _ = self.tx.send(Item::Lost { count, reason });
        }
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.next_seq.load(Ordering::Relaxed) - 1
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.tx.subscribe(),
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
    rx: broadcast::Receiver<Item>,
    closed: watch::Receiver<bool>,
}

impl Subscription {
    /// The next item; `None` once the hub is closed.
    pub async fn next(&mut self) -> Option<Item> {
        tokio::select! {
            biased;
            _ = self.closed.wait_for(|c| *c) => None,
            r = self.rx.recv() => match r {
                Ok(item) => Some(item),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    Some(Item::Lost { count: n, reason: LossReason::SubscriberQueue })
                }
                Err(broadcast::error::RecvError::Closed) => None,
            },
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
