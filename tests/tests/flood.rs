//! Fairness under a flood: one cgroup makes millions of failing umount2 calls while another
//! makes one mount and one exec. The quiet cgroup's events arrive; the flooding one's calls
//! are partly sent and the rest summarised by the kernel's per-cgroup budget, and the two add
//! up to exactly what it made.
use sensor_proto::v1::{EventKind, get_events_response::Item};
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::{ScratchDir, TestCgroup},
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, exec, flagged, flagged_by, header},
    trigger, trigger_in_background,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const STORM: u64 = 2_000_000;

#[tokio::test]
async fn a_flooding_cgroup_is_summarised_and_crowds_out_no_one() {
    if !ready() {
        return;
    }
    let (noisy, quiet) = (
        TestCgroup::new("flood-noisy"),
        TestCgroup::new("flood-quiet"),
    );
    let sensor = Sensor::start(&["--no-cri", "--flood-budget", "200"]).await;
    let flagged_kind = [EventKind::FlaggedSyscall];
    let mut storm_sub = Subscriber::for_cgroup(&sensor.addr, noisy.id(), &flagged_kind).await;
    let mut quiet_sub = Subscriber::for_cgroup(
        &sensor.addr,
        quiet.id(),
        &[EventKind::FlaggedSyscall, EventKind::Exec],
    )
    .await;

    let storm = trigger_in_background(TRIGGER, &noisy, &["umount-storm", &STORM.to_string()]);
    // The flood is on once its first call arrives.
    storm_sub
        .expect_event("the flood's first umount2", |ev| {
            flagged(ev).is_some_and(|f| f.name == "umount2")
        })
        .await;

    // Meanwhile, the quiet cgroup's mount and exec both arrive.
    let dir = ScratchDir::new("flood-mnt");
    let mounter = trigger(
        TRIGGER,
        &quiet,
        &["mount-tmpfs", dir.path().to_str().unwrap()],
    );
    let execer = trigger(TRIGGER, &quiet, &["exec", "/bin/true"]);
    quiet_sub
        .expect_event("the quiet cgroup's mount", flagged_by(mounter, "mount"))
        .await;
    quiet_sub
        .expect_event("the quiet cgroup's exec", |ev| {
            header(ev).pid == execer && exec(ev).is_some_and(|e| e.filename == b"/bin/true")
        })
        .await;
    assert!(
        !storm.is_finished(),
        "the flood ended before the quiet cgroup's calls: make it longer"
    );
    storm.await.expect("the storm");

    // Every call of the flood is told: one by one within the budget, the rest in summaries
    // (the first one sent was awaited above).
    let (mut one_by_one, mut summarised, mut summaries) = (1u64, 0u64, 0u64);
    while one_by_one + summarised < STORM {
        let Some(msg) = storm_sub.next_within(EVENT_TIMEOUT).await else {
            panic!(
                "the flood's calls do not add up: {one_by_one} sent + {summarised} in \
                 {summaries} summaries of {STORM}"
            );
        };
        match &msg.item {
            Some(Item::Event(ev)) => {
                if let Some(f) = flagged(ev).filter(|f| f.name == "umount2") {
                    if f.suppressed > 0 {
                        summarised += f.suppressed;
                        summaries += 1;
                        assert!(f.suppressed_period_ns > 0, "{ev:#?}");
                    } else {
                        one_by_one += 1;
                    }
                }
            }
            Some(Item::Lost(l)) => panic!("the budget should leave no loss: {l:?}"),
            _ => {}
        }
    }
    assert_eq!(one_by_one + summarised, STORM);
    assert!(
        summaries > 0 && summarised > one_by_one,
        "{one_by_one} sent, {summarised} summarised"
    );
}
