//! Churn without growth: 5,000 short-lived cgroups, each with a process that makes a few
//! syscalls and one flagged call, then goes. Afterwards the kernel's per-cgroup map, the
//! sensor's caches and its RSS are back where they were after a warm-up, and the profile of a
//! cgroup that stayed is intact.
use sensor_proto::v1::{
    EventKind, GetEventsRequest, GetProfileRequest, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    bench::rss_kib,
    cgroup::TestCgroup,
    ready,
    sensor::Sensor,
    subscriber::{Subscriber, flagged, header},
    trigger,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const WARMUP: usize = 1000;
const CHURN: usize = 5000;

/// Runs `n` cgroups through their life, then waits until the sensor has seen the last of
/// them go (a marker call from `survivor`, made after the last removal, has arrived).
async fn churn(n: usize, parent: &TestCgroup, survivor: &TestCgroup, sub: &mut Subscriber) {
    for i in 0..n {
        let cg = parent.child(&format!("c{i}"));
        trigger(TRIGGER, &cg, &["umount-storm", "1"]);
        drop(cg);
    }
    let pid = trigger(TRIGGER, survivor, &["umount-storm", "1"]);
    sub.expect_event("the marker after the churn", |ev| {
        flagged(ev).is_some() && header(ev).pid == pid
    })
    .await;
}

#[tokio::test]
async fn five_thousand_cgroups_come_and_go_without_growth() {
    if !ready() {
        return;
    }
    let parent = TestCgroup::new("churn");
    let survivor = TestCgroup::new("survivor");
    let sensor = Sensor::start(&["--no-cri"]).await;
    let request = GetEventsRequest {
        kinds: vec![EventKind::FlaggedSyscall as i32],
        cgroup_ids: vec![survivor.id()],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");
    let api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("client");
    let survivor_id = survivor.id();
    let profile = || {
        let mut api = api.clone();
        async move {
            let req = GetProfileRequest {
                cgroup_id: survivor_id,
                ..Default::default()
            };
            let p = api
                .get_profile(req)
                .await
                .expect("the survivor's profile")
                .into_inner();
            p.syscalls.into_iter().map(|s| s.name).collect::<Vec<_>>()
        }
    };

    churn(WARMUP, &parent, &survivor, &mut sub).await;
    let before = profile().await;
    let rss0 = rss_kib(sensor.pid());
    let learned0 = sensor_tests::held::learned_entries(sensor.pid());
    let cached0 = sensor.metric("sensor_cgroups_cached");
    let profiles0 = sensor.metric("sensor_profiles_tracked");

    churn(CHURN, &parent, &survivor, &mut sub).await;
    let rss1 = rss_kib(sensor.pid());
    let learned1 = sensor_tests::held::learned_entries(sensor.pid());
    let cached1 = sensor.metric("sensor_cgroups_cached");
    let profiles1 = sensor.metric("sensor_profiles_tracked");
    eprintln!(
        "after warm-up / after {CHURN} more: RSS {rss0} / {rss1} KiB, LEARNED entries \
         {learned0} / {learned1}, cgroups cached {cached0} / {cached1}, profiles {profiles0} / \
         {profiles1}"
    );
    // A few host cgroups may come and go meanwhile: allow a handful, not thousands.
    assert!(
        learned1 <= learned0 + 5,
        "LEARNED grew: {learned0} -> {learned1}"
    );
    assert!(
        cached1 <= cached0 + 5,
        "cgroup cache grew: {cached0} -> {cached1}"
    );
    assert!(
        profiles1 <= profiles0 + 5,
        "profiles grew: {profiles0} -> {profiles1}"
    );
    assert!(
        rss1 * 10 <= rss0 * 11,
        "RSS grew more than 10%: {rss0} -> {rss1} KiB"
    );
    assert_eq!(profile().await, before, "the survivor's profile changed");
    assert_eq!(
        sensor.metric("sensor_kernel_total{counter=\"ringbuf_full_cgroup\"}"),
        0
    );
    drop(sensor);
}
