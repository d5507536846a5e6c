//! Profiles and real CRI pods (containerd, driven as kubelet does):
//! - the hand-over through containerd's runc shim: a container with a Localhost seccomp
//!   profile that refuses only kexec_load (a learning filter); its learned profile, read
//!   through the API, saw the hand-over and leaves runc's setup (mount, pivot_root, umount2,
//!   unshare) out;
//! - drift by pod metadata: a policy file binds a profile to a namespace and a pod glob; a pod
//!   that matches is checked once its metadata is known, and its calls outside the profile
//!   are deviations that carry the pod.
use std::collections::BTreeSet;

use sensor_proto::{
    cri::{SecurityProfile, security_profile::ProfileType},
    v1::{
        EventKind, GetEventsRequest, GetProfileRequest, event::Body,
        sensor_service_client::SensorServiceClient,
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

#[tokio::test]
async fn a_policy_file_binds_a_profile_to_pods_by_their_metadata() {
    if !ready() {
        return;
    }
    let (uid, _) = kube_ids(0xd02);
    let parent = format!("/kubepods/besteffort/pod{uid}");
    let _cgroups = CgroupPathGuard::new(&parent);
    let dir = ScratchDir::new("cri-drift");
    // Everything but sync (a deny list: the binding allows all other calls).
    std::fs::write(
        dir.path().join("web.json"),
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["sync"],"action":"SCMP_ACT_ERRNO"}]}"#,
    )
    .expect("write the profile");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[[profiles]]\nnamespace = \"team-d\"\npod = \"web-*\"\nfile = \"web.json\"\nname = \"web\"\n",
    )
    .expect("write the policy");
    let containerd = Containerd::start().await;
    let socket = containerd.socket.to_str().expect("utf-8 path").to_owned();
    let sensor = Sensor::start(&[
        "--cri-socket",
        &socket,
        "--policy",
        policy.to_str().expect("utf-8 path"),
    ])
    .await;
    let mut sub = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            kinds: vec![EventKind::ProfileDeviation as i32],
            pod_namespaces: vec!["team-d".into()],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");
    let mut cri = cri_client(&containerd.socket).await.expect("CRI client");
    let pod = pod_config("web-1", "team-d", &uid, &parent);
    let sandbox = run_pod(&mut cri, &containerd, &pod).await;
    // It keeps calling sync: once bound, each call is a deviation.
    let config = app_config(
        "app",
        &containerd,
        "while true; do sync; usleep 100000; done",
    );
    let id = start_container(&mut cri, &containerd, &sandbox, &pod, config).await;
    let ev = sub
        .expect_event("a deviation of the web pod", |ev| {
            matches!(&ev.body, Some(Body::ProfileDeviation(d))
                if d.call.as_ref().is_some_and(|c| c.name == "sync"))
        })
        .await;
    end_pod(&mut cri, sandbox).await;
    let Some(Body::ProfileDeviation(d)) = &ev.body else {
        unreachable!()
    };
    assert_eq!((d.profile.as_str(), d.flagged), ("web", false));
    let a = header(&ev).attribution.clone().unwrap_or_default();
    let c = a.container.unwrap_or_default();
    assert_eq!(c.id, id);
    assert_eq!(
        (c.pod_namespace.as_str(), c.pod_name.as_str()),
        ("team-d", "web-1")
    );
}
