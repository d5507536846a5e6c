//! Start-up and steady phases, measured: a runc container makes a call only while starting up
//! (`sync`), then serves (reads and writes) past the sensor's `--startup-seconds`. Its
//! profile marks `sync` as made only while starting up, and the steady profile leaves it out
//! while keeping what the workload does while serving.
use sensor_proto::v1::{
    EventKind, GetProfileRequest, Phase, event::Body, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    workload::Started,
};

#[tokio::test]
async fn calls_made_only_while_starting_up_are_told_apart() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&["--startup-seconds", "1"]).await;
    let (uid, id) = kube_ids(0x901);
    let c = Container::new(
        &format!("sensor-e2e-phases-{}", std::process::id()),
        &format!("/kubepods/burstable/pod{uid}/{id}"),
        "sync; while [ ! -e /tmp/go ]; do usleep 10000; done; \
         echo served > /tmp/out; cat /tmp/out; rm /tmp/out",
    )
    .with_seccomp(&serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    }));
    let tmp = c.rootfs().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut started = Started::start(&sensor, &c, &[EventKind::SyscallSeen]).await;
    // The waiting loop's calls are reported again once its start-up is over.
    started
        .sub
        .expect_event(
            "a first use while serving",
            |ev| matches!(&ev.body, Some(Body::SyscallSeen(s)) if s.phase() == Phase::Steady),
        )
        .await;
    std::fs::write(tmp.join("go"), b"").unwrap();
    let (out, _) = started.finish().await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "served");

    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let get = |steady_only| GetProfileRequest {
        container_id: id.clone(),
        steady_only,
        ..Default::default()
    };
    let all = api
        .get_profile(get(false))
        .await
        .expect("GetProfile")
        .into_inner();
    assert_eq!(all.containers_steady, 1, "{all:?}");
    let sync = all.syscalls.iter().find(|s| s.name == "sync");
    assert!(
        sync.is_some_and(|s| s.startup_only),
        "sync is in, marked: {sync:?}"
    );
    let steady = api
        .get_profile(get(true))
        .await
        .expect("GetProfile")
        .into_inner();
    let names: Vec<&str> = steady.syscalls.iter().map(|s| s.name.as_str()).collect();
    assert!(!names.contains(&"sync"), "{names:?}");
    assert!(
        steady
            .left_out_startup_only
            .iter()
            .any(|s| s.name == "sync"),
        "{:?}",
        steady.left_out_startup_only
    );
    // What it does while serving stays: it wrote, read and removed a file after /tmp/go.
    // (busybox cat copies with sendfile.)
    for serving in ["write", "sendfile", "unlink"] {
        let alt = match serving {
            "unlink" => "unlinkat",
            "sendfile" => "read",
            _ => serving,
        };
        assert!(
            names.contains(&serving) || names.contains(&alt),
            "{serving} missing from the steady profile: {names:?}"
        );
    }
    let oci: serde_json::Value = serde_json::from_str(&steady.oci_json).unwrap();
    let listed = oci["syscalls"][0]["names"].as_array().unwrap();
    assert!(!listed.iter().any(|n| n == "sync"), "{listed:?}");
}
