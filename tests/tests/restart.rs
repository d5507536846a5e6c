//! What the sensor learned survives a restart when it is pinned (`--pin-dir`): a second
//! sensor gives the profile of a container that only the first one saw.
use sensor_proto::v1::{
    EventKind, GetEventsRequest, GetProfileRequest, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    pins::PinDir,
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, header},
};

#[tokio::test]
async fn learned_syscalls_survive_a_restart() {
    if !ready() {
        return;
    }
    let pins = PinDir::new();
    let pin_arg = pins.dir.to_str().unwrap().to_owned();
    let (uid, id) = kube_ids(0x900);
    let ctr = Container::new(
        &format!("sensor-e2e-restart-{}", std::process::id()),
        &format!("/kubepods/besteffort/pod{uid}/{id}"),
        "mkdir /tmp/learned; sleep 60",
    );

    let first = Sensor::start(&["--no-cri", "--pin-dir", &pin_arg]).await;
    let request = GetEventsRequest {
        kinds: vec![EventKind::SyscallSeen as i32],
        cgroup_ids: vec![ctr.cgroup_id()],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&first.addr, request)
        .await
        .expect("subscribe");
    let mut running = ctr.spawn();
    let seen = |name: &'static str| {
        move |ev: &sensor_proto::v1::Event| {
            matches!(&ev.body, Some(sensor_proto::v1::event::Body::SyscallSeen(s)) if s.name == name || s.name == "mkdirat")
                && header(ev).cgroup_id != 0
        }
    };
    let first_ev = sub.expect_event("the first mkdir", seen("mkdir")).await;
    let (first_instance, first_seq) = (
        header(&first_ev).sensor_instance_id.clone(),
        header(&first_ev).seq,
    );
    assert!(
        first
            .terminate(std::time::Duration::from_secs(10))
            .success()
    );

    // A new sensor, the same pins: it knows what the container did before it started.
    let second = Sensor::start(&["--no-cri", "--pin-dir", &pin_arg]).await;
    let mut api = SensorServiceClient::connect(second.addr.clone())
        .await
        .expect("connect");
    let profile = api
        .get_profile(GetProfileRequest {
            container_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("the second sensor has the first one's profile")
        .into_inner();
    let names: Vec<&str> = profile.syscalls.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"mkdir") || names.contains(&"mkdirat"),
        "{names:?}"
    );
    // A collector that resumes with the first run's id sees a new id and the sequence
    // starting over (this run's events from its first, out of the replay buffer).
    let resumed = GetEventsRequest {
        resume_after_seq: first_seq,
        resume_instance_id: first_instance.clone(),
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&second.addr, resumed)
        .await
        .expect("resume");
    // Something for it to report, should the node be quiet.
    let _ = std::process::Command::new("true").status();
    let ev = sub.expect_event("this run's first event", |_| true).await;
    assert_ne!(header(&ev).sensor_instance_id, first_instance);
    assert_eq!(header(&ev).seq, 1, "the sequence restarts");
    drop(second);
    drop(ctr);
    let _ = running.kill();
    let _ = running.wait();
}

#[tokio::test]
async fn a_pin_of_another_layout_is_set_aside_and_reported() {
    if !ready() {
        return;
    }
    let pins = PinDir::new();
    std::fs::create_dir_all(&pins.dir).expect("mkdir the pin directory");
    let pin = pins.dir.join(sensor_common::LEARNED_PIN_NAME);
    // What another version might have left: same name, another value size.
    let out = std::process::Command::new("bpftool")
        .args(["map", "create"])
        .arg(&pin)
        .args([
            "type", "hash", "key", "8", "value", "4", "entries", "16", "name", "LEARNED",
        ])
        .output()
        .expect("run bpftool (cargo xtask test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let sensor = Sensor::start(&["--no-cri", "--pin-dir", pins.dir.to_str().unwrap()]).await;
    let log = sensor.log_text();
    assert!(log.contains("has another layout: set aside as"), "{log}");
    let aside = pins
        .dir
        .join(format!("{}_incompatible", sensor_common::LEARNED_PIN_NAME));
    let old = aya::maps::MapInfo::from_pin(&aside).expect("the old pin, set aside");
    assert_eq!(old.value_size(), 4, "the foreign map is kept as it was");
    let new = aya::maps::MapInfo::from_pin(&pin).expect("a new pin");
    assert_eq!(new.value_size(), sensor_common::LEARNED_SLOTS as u32);
    drop(sensor);
}
