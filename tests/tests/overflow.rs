//! A storm of flagged calls into a one-page ring buffer: the kernel drops records, counts them by
//! kind, and the sensor reports them in-band, node-wide and per cgroup (in the cgroup's
//! summary events). Delivered plus reported lost equals the storm, both ways.
//! (Alone in its test binary: no other test's flagged calls share the count.)
use sensor_proto::v1::{EventKind, LossReason, get_events_response::Item};
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::TestCgroup,
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, flagged, flagged_in, header},
    trigger_in_background,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const STORM: u64 = 50_000;

#[tokio::test]
async fn ring_buffer_losses_plus_deliveries_equal_the_storm() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("overflow");
    // No flood budget: the storm is to overflow the ring itself.
    let sensor = Sensor::start(&[
        "--no-cri",
        "--ring-buffer-bytes",
        "4096",
        "--flood-budget",
        "0",
    ])
    .await;
    let request = flagged_in(cg.id());
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");
    // Bursts of 20 calls into a ring buffer of 4 records: the kernel drops most of each
    // burst, while the pace (a 1 ms pause per burst, as in fanout.rs) stays below what one
    // subscriber is delivered, so that every loss here is the kernel's.
    let storm = trigger_in_background(TRIGGER, &cg, &["umount-storm", &STORM.to_string(), "20"]);

    let (mut delivered, mut lost_flagged, mut other_losses) = (0u64, 0u64, Vec::new());
    // What this cgroup's summaries say it lost (they follow within a second or so).
    let mut lost_here = 0u64;
    while delivered + lost_flagged < STORM || delivered + lost_here < STORM {
        let Some(msg) = sub.next_within(EVENT_TIMEOUT).await else {
            panic!(
                "stalled: {delivered} delivered + {lost_flagged} lost ({lost_here} in this \
                 cgroup's summaries) of {STORM}; other losses {other_losses:?}"
            );
        };
        match msg.item {
            Some(Item::Event(ev)) => {
                let f = flagged(&ev).expect("a flagged call");
                assert_eq!(f.name, "umount2");
                assert_eq!(header(&ev).cgroup_id, cg.id());
                if f.lost_in_kernel > 0 || f.suppressed > 0 {
                    assert_eq!(f.suppressed, 0, "no budget, nothing suppressed: {ev:#?}");
                    lost_here += f.lost_in_kernel;
                } else {
                    delivered += 1;
                }
            }
            Some(Item::Lost(l))
                if l.reason == LossReason::KernelRingBuffer as i32
                    && l.kind == EventKind::FlaggedSyscall as i32 =>
            {
                lost_flagged += l.count
            }
            Some(Item::Lost(l)) => other_losses.push(l),
            None => panic!("empty message"),
        }
    }
    storm.await.expect("the storm");
    assert_eq!(
        delivered + lost_flagged,
        STORM,
        "more than the storm was accounted for"
    );
    // Per cgroup, exactly: this cgroup's losses are told as its own.
    assert_eq!(
        delivered + lost_here,
        STORM,
        "the cgroup's summaries: {lost_here} lost"
    );
    assert!(
        lost_flagged > 0,
        "a 4 KiB ring buffer took {STORM} records without loss?"
    );
    let queue_losses: Vec<_> = other_losses
        .iter()
        .filter(|l| l.reason == LossReason::SubscriberQueue as i32)
        .collect();
    assert!(
        queue_losses.is_empty(),
        "the subscriber itself lost: {queue_losses:?}"
    );
    // The metrics say the same.
    let (code, body) = sensor_tests::sensor::http_get(&sensor.metrics, "/metrics").expect("scrape");
    assert_eq!(code, 200);
    let line = format!("sensor_kernel_total{{counter=\"ringbuf_full_flagged\"}} {lost_flagged}");
    assert!(body.contains(&line), "no {line:?} in:\n{body}");
    eprintln!(
        "storm {STORM}: {delivered} delivered, {lost_flagged} lost in the kernel \
         ({lost_here} in the cgroup's summaries)"
    );
}
