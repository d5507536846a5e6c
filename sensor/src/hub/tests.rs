use std::time::Duration;

use super::*;
use crate::{
    event::{Body, Exec, FlaggedSyscall, Outcome, Suppressed},
    syscalls::Arch,
};

fn event() -> Event {
    Event::for_test(
        1,
        Body::Exec(Exec {
            filename: b"/x".as_slice().into(),
            ..Default::default()
        }),
    )
}

/// A flood summary: 7 calls held back, 2 records lost in the kernel.
fn summary() -> Event {
    let mut ev = event();
    ev.body = Body::FlaggedSyscall(FlaggedSyscall {
        arch: Arch::NATIVE,
        nr: 166,
        name: Some("umount2"),
        args: [0; 6],
        outcome: Outcome::Unknown,
        severity: None,
        decoded: Vec::new(),
        args_at_exit: false,
        suppressed: Some(Suppressed {
            count: 7,
            lost: 2,
            period_ns: 1_000_000_000,
        }),
        deviation: false,
        namespaces_at_fork: None,
    });
    ev
}

/// Reads until `n` items (events plus counts of lost ones) have been accounted for.
async fn drain(sub: &mut Subscription, n: u64) -> (Vec<u64>, Vec<(u64, LossReason)>) {
    let (mut seqs, mut lost) = (Vec::new(), Vec::new());
    while (seqs.len() as u64) + lost.iter().map(|(c, _)| c).sum::<u64>() < n {
        let next = tokio::time::timeout(Duration::from_secs(5), sub.next());
        match next.await.expect("the subscriber stalled") {
            Some(Item::Event(e)) => seqs.push(e.seq),
            Some(Item::Lost { count, reason, .. }) => lost.push((count, reason)),
            None => panic!("subscription ended early"),
        }
    }
    (seqs, lost)
}

#[tokio::test]
async fn a_slow_subscriber_is_told_what_it_lost() {
    let hub = Hub::new(4, 0);
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
    let (seqs, lost) = drain(&mut slow, 10).await;
    assert_eq!(lost, vec![(6, LossReason::SubscriberQueue)]);
    assert_eq!(seqs, vec![7, 8, 9, 10]);
    assert_eq!(hub.lost(LossReason::SubscriberQueue), 6);
    hub.close();
    assert!(
        slow.next().await.is_none(),
        "closed hub must end the subscription"
    );
}

/// The counts a summary carries are not lost with it: a subscriber whose queue overflowed
/// still gets the summaries among the events it lost, after the notice of the others.
#[tokio::test]
async fn a_lagging_subscriber_still_gets_the_summaries_among_what_it_lost() {
    let hub = Hub::new(4, 0);
    let mut slow = hub.subscribe();
    for seq in 1..=10 {
        hub.publish(if seq == 3 || seq == 5 {
            summary()
        } else {
            event()
        });
    }
    let (seqs, lost) = drain(&mut slow, 10).await;
    assert_eq!(lost, vec![(4, LossReason::SubscriberQueue)]);
    assert_eq!(
        seqs,
        vec![3, 5, 7, 8, 9, 10],
        "in order, the summaries first"
    );
    assert_eq!(hub.lost(LossReason::SubscriberQueue), 4);
    // It goes on from there: a second overflow, with no summary in it.
    for _ in 0..6 {
        hub.publish(event());
    }
    let (seqs, lost) = drain(&mut slow, 6).await;
    assert_eq!(lost, vec![(2, LossReason::SubscriberQueue)]);
    assert_eq!(seqs, vec![13, 14, 15, 16]);
}

/// The same for a subscriber that resumes past what the replay buffer holds.
#[tokio::test]
async fn a_resume_past_the_replay_buffer_still_gets_the_summaries_it_missed() {
    let hub = Hub::new(16, 4);
    for seq in 1..=10 {
        hub.publish(if seq == 2 { summary() } else { event() });
    }
    let mut sub = hub.subscribe_from(Start::After(0));
    let (seqs, lost) = drain(&mut sub, 10).await;
    assert_eq!(lost, vec![(5, LossReason::ReplayExpired)]);
    assert_eq!(seqs, vec![2, 7, 8, 9, 10]);
    assert_eq!(hub.lost(LossReason::ReplayExpired), 5);
}

#[tokio::test]
async fn every_loss_is_told_exactly_once_even_to_a_lagging_subscriber() {
    let hub = Hub::new(4, 0);
    let mut slow = hub.subscribe();
    for i in 0..10 {
        hub.publish(event());
        if i == 5 {
            hub.report_loss(5, LossReason::KernelRingBuffer, Some(Kind::Exec));
        }
    }
    let (seqs, lost) = drain(&mut slow, 15).await;
    assert_eq!(seqs.len(), 4);
    let by = |r| {
        lost.iter()
            .filter(|(_, x)| *x == r)
            .map(|(c, _)| c)
            .sum::<u64>()
    };
    assert_eq!(by(LossReason::SubscriberQueue), 6);
    assert_eq!(by(LossReason::KernelRingBuffer), 5);
    assert_eq!(hub.kernel_lost_of(Some(Kind::Exec)), 5);
    let later = hub.subscribe();
    assert_eq!(
        later.reported_kernel(),
        5,
        "a new subscriber is not told of old losses"
    );
}

#[tokio::test]
async fn kernel_losses_keep_their_kind() {
    let hub = Hub::new(16, 0);
    let mut sub = hub.subscribe();
    hub.report_loss(2, LossReason::KernelRingBuffer, Some(Kind::FlaggedSyscall));
    hub.report_loss(3, LossReason::KernelRingBuffer, None);
    let mut got = Vec::new();
    for _ in 0..2 {
        match sub.next().await {
            Some(Item::Lost { count, kind, .. }) => got.push((count, kind)),
            other => panic!("expected a loss, got {other:?}"),
        }
    }
    assert_eq!(got, vec![(2, Some(Kind::FlaggedSyscall)), (3, None)]);
}

/// A subscriber already waiting when losses come is told of every one (the wait itself marks
/// the hub's loss totals seen).
#[tokio::test]
async fn a_waiting_subscriber_is_told_of_losses_that_come_while_it_waits() {
    let hub = Hub::new(16, 0);
    let mut sub = hub.subscribe();
    for round in 1..=3u64 {
        let waiting = tokio::spawn(async move {
            let item = tokio::time::timeout(Duration::from_secs(5), sub.next()).await;
            (sub, item)
        });
        tokio::task::yield_now().await;
        hub.report_loss(
            round,
            LossReason::KernelRingBuffer,
            Some(Kind::FlaggedSyscall),
        );
        hub.report_loss(10 * round, LossReason::KernelRingBuffer, Some(Kind::Exec));
        let (back, first) = waiting.await.unwrap();
        sub = back;
        let second = sub.try_next();
        let lost = |item: Option<Item>| match item {
            Some(Item::Lost { count, kind, .. }) => (count, kind),
            other => panic!("round {round}: expected a loss, got {other:?}"),
        };
        let mut got = vec![lost(first.expect("told within 5 s")), lost(second)];
        got.sort_by_key(|(count, _)| *count);
        assert_eq!(
            got,
            vec![
                (round, Some(Kind::FlaggedSyscall)),
                (10 * round, Some(Kind::Exec))
            ]
        );
        assert!(sub.try_next().is_none(), "each loss told once");
    }
}

#[tokio::test]
async fn sequence_numbers_are_gap_free() {
    let hub = Hub::new(16, 0);
    let mut sub = hub.subscribe();
    hub.report_loss(3, LossReason::KernelRingBuffer, None);
    assert_eq!(hub.publish(event()), 1);
    assert_eq!(hub.publish(event()), 2);
    assert!(matches!(
        sub.next().await,
        Some(Item::Lost { count: 3, .. })
    ));
    assert!(matches!(sub.next().await, Some(Item::Event(e)) if e.seq == 1));
    assert!(matches!(sub.next().await, Some(Item::Event(e)) if e.seq == 2));
    assert_eq!(hub.published(), 2);
    assert_eq!(hub.published_of(Kind::Exec), 2);
}

#[tokio::test]
async fn a_resumed_subscription_replays_then_goes_live_without_gap_or_duplicate() {
    let hub = Hub::new(64, 4);
    for _ in 0..10 {
        hub.publish(event());
    }
    // Seen up to 5; the buffer holds 7..=10: 6 expired.
    let mut sub = hub.subscribe_from(Start::After(5));
    hub.publish(event());
    let (seqs, lost) = drain(&mut sub, 6).await;
    assert_eq!(lost, vec![(1, LossReason::ReplayExpired)]);
    assert_eq!(seqs, vec![7, 8, 9, 10, 11]);
    assert_eq!(hub.lost(LossReason::ReplayExpired), 1);

    // Up to date: nothing replayed, nothing lost.
    let mut current = hub.subscribe_from(Start::After(11));
    hub.publish(event());
    let (seqs, lost) = drain(&mut current, 1).await;
    assert_eq!((seqs, lost), (vec![12], vec![]));

    // Another run's subscriber starts at this run's first event.
    let mut other = hub.subscribe_from(Start::After(0));
    let (seqs, lost) = drain(&mut other, 12).await;
    assert_eq!(lost, vec![(8, LossReason::ReplayExpired)]);
    assert_eq!(seqs, vec![9, 10, 11, 12]);
}

#[tokio::test]
async fn without_a_replay_buffer_everything_missed_is_expired() {
    let hub = Hub::new(16, 0);
    for _ in 0..3 {
        hub.publish(event());
    }
    let mut sub = hub.subscribe_from(Start::After(1));
    let (seqs, lost) = drain(&mut sub, 2).await;
    assert_eq!((seqs, lost), (vec![], vec![(2, LossReason::ReplayExpired)]));
}

#[tokio::test]
async fn try_next_takes_what_is_ready_in_order_and_never_waits() {
    let hub = Hub::new(4, 0);
    let mut sub = hub.subscribe();
    assert!(sub.try_next().is_none(), "nothing published yet");
    hub.report_loss(2, LossReason::KernelRingBuffer, None);
    for _ in 0..6 {
        hub.publish(event());
    }
    // Kernel loss first, then this subscriber's own overflow, then what its queue kept.
    let mut got = Vec::new();
    while let Some(item) = sub.try_next() {
        got.push(match item {
            Item::Event(e) => format!("event {}", e.seq),
            Item::Lost { count, reason, .. } => format!("{count} lost: {}", reason.name()),
        });
    }
    assert_eq!(
        got,
        [
            "2 lost: kernel_ring_buffer",
            "2 lost: subscriber_queue",
            "event 3",
            "event 4",
            "event 5",
            "event 6"
        ]
    );
    assert_eq!(hub.lost(LossReason::SubscriberQueue), 2);
}

#[tokio::test]
async fn is_closed_sees_a_close_before_or_after_subscribing() {
    let hub = Hub::new(4, 0);
    let mut before = hub.subscribe();
    assert!(!before.is_closed());
    assert!(!before.is_closed(), "asking again changes nothing");
    hub.close();
    assert!(before.is_closed());
    assert!(before.is_closed(), "and stays closed");
    let mut after = hub.subscribe();
    assert!(after.is_closed(), "a subscription made after the close");
}
