//! Bounded state when removal records are lost: cgroups come and go while a storm keeps a
//! one-page ring buffer full, so the kernel drops some of their cgroup_rmdir records. The
//! sensor's reconciliation with the cgroup tree forgets them anyway: its attribution cache
//! and the kernel's learned map return to where they were.
use std::time::Duration;

use aya::maps::{HashMap, MapData};
use sensor_common::LEARNED_SLOTS;
use sensor_tests::{
    cgroup::TestCgroup,
    ready,
    sensor::{Sensor, http_get},
    trigger, trigger_in_background, wait_until,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn metric(sensor: &Sensor, series: &str) -> u64 {
    let (_, body) = http_get(&sensor.metrics, "/metrics").expect("scrape");
    body.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {series} in:\n{body}"))
}

/// Entries of the LEARNED map the sensor under test holds.
fn learned_entries(sensor: &Sensor) -> usize {
    let held = sensor_tests::held::maps_held_by(sensor.pid());
    let info = aya::maps::loaded_maps()
        .filter_map(Result::ok)
        .find(|m| held.contains(&m.id()) && m.name_as_str() == Some("LEARNED"))
        .expect("the sensor holds a LEARNED map");
    let map = MapData::from_id(info.id()).expect("open LEARNED");
    let map: HashMap<_, u64, [u8; LEARNED_SLOTS]> =
        HashMap::try_from(aya::maps::Map::HashMap(map)).expect("a hash map");
    map.keys().filter(Result::is_ok).count()
}

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
            metric(sensor, "sensor_cgroups_cached"),
            learned_entries(sensor),
        )
    };
    assert!(
        wait_until(Duration::from_secs(10), || learned_entries(&sensor) > 0),
        "nothing learned"
    );
    let baseline = settle(&sensor);

    // Churn while the ring is full, until a removal record has been lost and the cgroup
    // found gone by reconciliation.
    let lost_cgroup_records =
        |s: &Sensor| metric(s, "sensor_kernel_total{counter=\"ringbuf_full_cgroup\"}");
    let reconciled = |s: &Sensor| metric(s, "sensor_cgroups_reconciled_total");
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
