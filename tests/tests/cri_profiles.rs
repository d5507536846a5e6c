//! The hand-over through containerd's runc shim: a pod and a container created through the
//! CRI API as kubelet does, the container with a Localhost seccomp profile that refuses only
//! kexec_load (a learning filter). Its learned profile, read through the API, saw the hand-over
//! and leaves runc's setup (mount, pivot_root, umount2, unshare) out.
use std::collections::BTreeSet;

use sensor_proto::{
    cri::{SecurityProfile, security_profile::ProfileType},
    v1::{
        EventKind, GetEventsRequest, GetProfileRequest, sensor_service_client::SensorServiceClient,
    },
};
use sensor_tests::{
    cgroup::{CgroupPathGuard, ScratchDir},
    containerd::{Containerd, cri_client},
    cri_pod::{app_config, end_pod, pod_config, run_pod, start_container},
    ready,
    runc::kube_ids,
    sensor::Sensor,
    subscriber::{Subscriber, exec, header},
};

#[tokio::test]
async fn the_hand_over_is_observed_through_containerds_runc_shim() {
    if !ready() {
        return;
    }
    let (uid, _) = kube_ids(0xd01);
    let parent = format!("/kubepods/besteffort/pod{uid}");
    let _cgroups = CgroupPathGuard::new(&parent);
    let dir = ScratchDir::new("cri-profile");
    let learning = dir.path().join("learning.json");
    let filter = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    });
    std::fs::write(&learning, filter.to_string()).expect("write the learning filter");
    let containerd = Containerd::start().await;
    let socket = containerd.socket.to_str().expect("utf-8 path").to_owned();
    let sensor = Sensor::start(&["--cri-socket", &socket]).await;
    let mut sub = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            kinds: vec![EventKind::Exec as i32],
            pod_namespaces: vec!["team-p".into()],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");

    let mut cri = cri_client(&containerd.socket).await.expect("CRI client");
    let pod = pod_config("learner", "team-p", &uid, &parent);
    let sandbox = run_pod(&mut cri, &containerd, &pod).await;
    let mut config = app_config(
        "app",
        &containerd,
        "echo hello > /tmp/a; cat /tmp/a > /dev/null; rm /tmp/a; exec /bin/sleep 600",
    );
    if let Some(ctx) = config
        .linux
        .as_mut()
        .and_then(|l| l.security_context.as_mut())
    {
        ctx.seccomp = Some(SecurityProfile {
            profile_type: ProfileType::Localhost as i32,
            localhost_ref: learning.display().to_string(),
        });
    }
    let id = start_container(&mut cri, &containerd, &sandbox, &pod, config).await;
    // The container's events are in order: once its last exec is here, all before it are.
    sub.expect_event("the container's last exec", |ev| {
        exec(ev).is_some_and(|e| e.filename == b"/bin/sleep")
            && header(ev)
                .attribution
                .as_ref()
                .and_then(|a| a.container.as_ref())
                .is_some_and(|c| c.id == id)
    })
    .await;

    let profile = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect")
        .get_profile(GetProfileRequest {
            container_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("GetProfile")
        .into_inner();
    end_pod(&mut cri, sandbox).await;
    assert_eq!(
        profile.containers_without_handover, 0,
        "the shim's runc installed the filter: {profile:?}"
    );
    let names: BTreeSet<&str> = profile.syscalls.iter().map(|s| s.name.as_str()).collect();
    let runtime_only: BTreeSet<&str> = profile
        .runtime_only
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for setup in ["mount", "umount2", "pivot_root", "unshare"] {
        assert!(!names.contains(setup), "{setup} in the profile: {names:?}");
    }
    for setup in ["mount", "pivot_root"] {
        assert!(runtime_only.contains(setup), "{setup}: {runtime_only:?}");
    }
    assert!(names.contains("execve"), "{names:?}");
    let filtered: Vec<&str> = profile
        .syscalls
        .iter()
        .filter(|s| s.phase() == sensor_proto::v1::Phase::Filtered)
        .map(|s| s.name.as_str())
        .collect();
    eprintln!(
        "containerd runc shim: hand-over seen; under its filter before the exec: {filtered:?}; \
         runtime-only: {runtime_only:?}"
    );
}
