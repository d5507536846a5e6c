//! Bounded state when removal records are lost: cgroups come and go while a storm keeps a
//! one-page ring buffer full, so the kernel drops some of their cgroup_rmdir records. The
//! sensor's reconciliation with the cgroup tree forgets them anyway: its attribution cache
//! and the kernel's learned map return to where they were.
use std::time::Duration;

use sensor_tests::{
    cgroup::TestCgroup, held::learned_entries, ready, sensor::Sensor, trigger,
    trigger_in_background, wait_until,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

#[tokio::test]
async fn state_of_cgroups_whose_removal_was_lost_returns_to_baseline() {
    if !ready() {
        return;
    }
    let parent = TestCgroup::new("reconcile");
    let noisy = TestCgroup::new("reconcile-storm");
    let sensor = Sensor::start(&[
        "--no-cri",
        "--ring-buffer-bytes",
        "4096",
        "--flood-budget",
        "0",
        "--reconcile-every",
        "1",
    ])
    .await;
    // The storm's own cgroup is learned and cached from its first call on: count it in.
    trigger(TRIGGER, &noisy, &["umount-storm", "1"]);
    let settle = |sensor: &Sensor| {
        (
            sensor.metric("sensor_cgroups_cached"),
            learned_entries(sensor.pid()),
        )
    };
    assert!(
        wait_until(Duration::from_secs(10), || learned_entries(sensor.pid())
            > 0),
        "nothing learned"
    );
    let baseline = settle(&sensor);

    // Churn while the ring is full, until a removal record has been lost and the cgroup
    // found gone by reconciliation.
    let lost_cgroup_records =
        |s: &Sensor| s.metric("sensor_kernel_total{counter=\"ringbuf_full_cgroup\"}");
    let reconciled = |s: &Sensor| s.metric("sensor_cgroups_reconciled_total");
    let mut rounds = 0;
    while !wait_until(Duration::from_secs(3), || reconciled(&sensor) > 0) {
        rounds += 1;
        assert!(
            rounds <= 5,
            "no cgroup was reconciled ({} cgroup records lost)",
            lost_cgroup_records(&sensor)
        );
        let storm = trigger_in_background(TRIGGER, &noisy, &["umount-storm", "400000"]);
        for i in 0..100 {
            let cg = parent.child(&format!("r{rounds}-{i}"));
            trigger(TRIGGER, &cg, &["umount-storm", "1"]);
            drop(cg);
        }
        storm.await.expect("the storm");
    }
    // The sensor is told of everything it can be; reconciliation does the rest.
    let back = wait_until(Duration::from_secs(30), || {
        let (cached, learned) = settle(&sensor);
        cached <= baseline.0 && learned <= baseline.1
    });
    assert!(
        back,
        "state did not return to its baseline {baseline:?}: now {:?} (cgroup records lost: {})",
        settle(&sensor),
        lost_cgroup_records(&sensor)
    );
    assert!(lost_cgroup_records(&sensor) > 0);
}
