//! A storm of flagged calls into a one-page ring buffer: the kernel drops records, counts them by
//! kind, and the sensor reports them in-band, node-wide and per cgroup (in the cgroup's
//! summary events). Delivered plus reported lost equals the storm in the cgroup, exactly, and
//! covers it node-wide (where other processes' losses count too). Execs lost the same way are
//! counted against their container.
//! (Alone in its test binary: no other test's flagged calls share the count.)
use sensor_proto::v1::{
    EventKind, ListContainersRequest, LossReason, get_events_response::Item,
    sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::{CgroupPathGuard, TestCgroup},
    ready,
    runc::kube_ids,
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
    // Node-wide, the loss notices also count what other processes of the node lost in this
    // tiny ring (another sensor's own bpf() calls are flagged, for one): at least the storm.
    assert!(
        delivered + lost_flagged >= STORM,
        "less than the storm was accounted for: {delivered} + {lost_flagged}"
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

/// Execs that find the ring full are counted against their container too: what a subscriber
/// of the container received plus what `ListContainers` says the kernel dropped of its execs
/// equals what it ran, exactly.
#[tokio::test]
async fn exec_losses_are_counted_per_container() {
    if !ready() {
        return;
    }
    const EXECS: u64 = 2000;
    let sensor = Sensor::start(&[
        "--no-cri",
        "--ring-buffer-bytes",
        "4096",
        "--flood-budget",
        "0",
    ])
    .await;
    let filler = TestCgroup::new("overflow-filler");
    let (uid, id) = kube_ids(0x0f10);
    let path = format!("/kubepods/besteffort/pod{uid}/{id}");
    let _guard = CgroupPathGuard::new(&path);
    let cg = TestCgroup::at(&path);
    let mut sub = Subscriber::for_cgroup(&sensor.addr, cg.id(), &[EventKind::Exec]).await;
    // Another cgroup keeps the one-page ring full while this one execs.
    let storm = trigger_in_background(TRIGGER, &filler, &["umount-storm", "3000000", "1000"]);
    let script = format!(
        "echo $$ > {}/cgroup.procs && i=0 && while [ $i -lt {EXECS} ]; do /bin/true; i=$((i+1)); done",
        cg.path().display()
    );
    let execs = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/bin/sh")
            .args(["-c", &script])
            .status()
            .expect("run the exec loop")
    });
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let lost_execs = async |api: &mut SensorServiceClient<tonic::transport::Channel>| {
        let list = api
            .list_containers(ListContainersRequest {})
            .await
            .expect("ListContainers")
            .into_inner();
        list.containers
            .iter()
            .find(|s| s.container.as_ref().is_some_and(|c| c.id == id))
            .and_then(|s| s.lost_in_kernel)
            .map_or(0, |l| l.execs)
    };
    let (mut delivered, mut lost) = (0u64, 0u64);
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT * 3;
    while delivered + lost < EXECS {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{delivered} delivered + {lost} lost of {EXECS} execs"
        );
        // Drain what arrived, then ask how many the kernel dropped (told once a second).
        while let Some(msg) = sub.next_within(std::time::Duration::from_millis(100)).await {
            if let Some(Item::Event(ev)) = msg.item
                && header(&ev).cgroup_id == cg.id()
            {
                delivered += 1;
            }
        }
        lost = lost_execs(&mut api).await;
    }
    assert!(execs.await.expect("the exec loop").success());
    storm.await.expect("the storm");
    assert_eq!(delivered + lost, EXECS, "no more than were run");
    assert!(lost > 0, "the full ring dropped none of {EXECS} execs?");
    eprintln!("{EXECS} execs: {delivered} delivered, {lost} lost (counted for the container)");
}
