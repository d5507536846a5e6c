//! Two subscribers: one reads, one stops reading during a storm of flagged calls. The reader
//! gets every event; the staller gets lost notices that, with what it received, account for
//! every sequence number of the window. (Alone in its test binary: exact counts.)
use sensor_proto::v1::{GetEventsRequest, LossReason, get_events_response::Item};
use sensor_tests::{
    cgroup::TestCgroup,
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, flagged, flagged_in, header},
    trigger, trigger_in_background,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const STORM: u64 = 10_000;

#[tokio::test]
async fn a_stalled_subscriber_loses_only_its_own_events_and_is_told_exactly() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("fanout");
    // A ring buffer that holds the whole storm, and no flood budget: this test is about
    // subscriber queues.
    let sensor = Sensor::start(&[
        "--no-cri",
        "--flood-budget",
        "0",
        "--subscriber-queue",
        "1024",
        "--ring-buffer-bytes",
        "16777216",
    ])
    .await;
    let only_cg = flagged_in(cg.id());
    let mut reader = Subscriber::connect(&sensor.addr, only_cg)
        .await
        .expect("reader");
    let mut staller = Subscriber::connect(&sensor.addr, GetEventsRequest::default())
        .await
        .expect("staller");
    let in_cg = |ev: &sensor_proto::v1::Event| {
        flagged(ev).is_some_and(|s| s.name == "umount2") && header(ev).cgroup_id == cg.id()
    };

    // A marker both see, then the staller stops reading.
    trigger(TRIGGER, &cg, &["umount-storm", "1"]);
    let start = header(&reader.expect_event("the marker", in_cg).await).seq;
    staller
        .expect_event("the marker, on the staller", |ev| header(ev).seq == start)
        .await;

    // Paced below what one subscriber is delivered (a storm that outruns delivery belongs
    // to the benchmark), yet far more than the staller's queue and stream buffers hold. Run
    // on another thread: the reader reads meanwhile.
    let storm = trigger_in_background(TRIGGER, &cg, &["umount-storm", &STORM.to_string(), "20"]);
    let mut last = start;
    for i in 0..STORM {
        let ev = reader.expect_event("the storm's next call", in_cg).await;
        let seq = header(&ev).seq;
        assert!(seq > last, "event {i}: seq {seq} after {last}");
        last = seq;
    }
    storm.await.expect("the storm");
    let lost_by_reader: Vec<_> = reader
        .seen
        .iter()
        .filter(|m| matches!(m.item, Some(Item::Lost(_))))
        .collect();
    assert!(
        lost_by_reader.is_empty(),
        "the reader lost events: {lost_by_reader:?}"
    );

    // The staller catches up: every seq in (start, last] was received or announced lost.
    let (mut received, mut lost, mut at) = (0u64, 0u64, start);
    while at < last {
        let Some(msg) = staller.next_within(sensor_tests::EVENT_TIMEOUT).await else {
            panic!("the staller stalled at seq {at} of {last} (received {received}, lost {lost})");
        };
        match msg.item {
            Some(Item::Event(ev)) => {
                let seq = header(&ev).seq;
                assert_eq!(
                    seq,
                    at + 1,
                    "a gap no lost notice announced (received {received}, lost {lost})"
                );
                at = seq;
                received += 1;
            }
            Some(Item::Lost(l)) if l.reason == LossReason::SubscriberQueue as i32 => {
                at += l.count;
                lost += l.count;
            }
            other => panic!("unexpected item on the staller: {other:?}"),
        }
    }
    let produced = last - start;
    assert!(lost > 0, "the staller lost nothing: it did not stall");
    // The last notice may reach past `last` (events after the storm): count up to `at`.
    assert_eq!(received + lost, at - start);
    assert!(received + lost >= produced);
    eprintln!("staller: received {received}, told of {lost} lost, {produced} produced");
}
