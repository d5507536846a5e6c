//! The profile round trip: learn a workload in a real container, generate its OCI profile
//! through the API, run the workload again under that profile (runc enforces it), and watch
//! a call the first run never made get refused and flagged.
//!
//! The learning run has a seccomp filter of its own (one that allows everything but
//! kexec_load, as a learning filter would): the runtime installing it is the hand-over the
//! sensor observes. What the runtime did before (mount, pivot_root, umount2, unshare, ...) is
//! not in the profile; what it did under the filter, and what the workload did, is.
//!
//! Measured for runc and for crun (each its own test; containerd's runc shim: `cri.rs`).
use std::collections::BTreeSet;

use sensor_proto::v1::{
    EventKind, GetEventsRequest, GetProfileRequest, OutcomeKind, event::Body,
    get_events_response::Item, sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    ready,
    runc::{Container, Runtime, kube_ids},
    sensor::Sensor,
    subscriber::{Subscriber, exec, flagged, header, outcome},
};

/// Reads files, writes and renames one, lists a directory, spawns children, uses a pipe, asks
/// who it is.
const WORKLOAD: &str = "cat /bin/busybox > /dev/null; echo hello > /tmp/a; mv /tmp/a /tmp/b; \
    ls / > /dev/null; echo piped | cat > /dev/null; (true); id > /dev/null; cat /tmp/b; rm /tmp/b";

fn container(runtime: Runtime, n: u32, script: &str) -> (Container, String) {
    let n = n + if runtime == Runtime::Crun { 0x10 } else { 0 };
    let (uid, id) = kube_ids(0x500 + n);
    let c = Container::new(
        &format!("sensor-e2e-prof-{}-{n}", std::process::id()),
        &format!("/kubepods/burstable/pod{uid}/{id}"),
        script,
    )
    .with_runtime(runtime);
    (c, id)
}

/// The numbers of the first uses received so far.
fn first_uses(sub: &Subscriber) -> BTreeSet<u64> {
    sub.seen
        .iter()
        .filter_map(|m| match &m.item {
            Some(Item::Event(ev)) => match &ev.body {
                Some(Body::SyscallSeen(s)) => Some(s.number),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_learned_profile_runs_the_workload_and_refuses_anything_new() {
    round_trip(Runtime::Runc).await;
}

#[tokio::test]
async fn the_hand_over_is_observed_for_crun_too() {
    round_trip(Runtime::Crun).await;
}

async fn round_trip(runtime: Runtime) {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;

    // 1. Learn, under a permissive filter.
    let permissive = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    });
    let (learn, learn_id) = container(runtime, 1, WORKLOAD);
    let learn = learn.with_seccomp(&permissive);
    let cg = learn.cgroup_id();
    let kinds = [EventKind::SyscallSeen, EventKind::Exec, EventKind::Exit]
        .map(|k| k as i32)
        .to_vec();
    let mut sub = Subscriber::connect(
        &sensor.addr,
        GetEventsRequest {
            kinds,
            cgroup_ids: vec![cg],
            ..Default::default()
        },
    )
    .await
    .expect("subscribe");
    let out = learn.run();
    assert!(
        out.status.success(),
        "learning run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    // The workload's exit comes after every syscall its container first made.
    let sh = sub
        .expect_event("the workload's exec", |ev| {
            exec(ev).is_some_and(|e| e.filename == b"/bin/sh")
        })
        .await;
    let sh_pid = header(&sh).pid;
    sub.expect_event("the workload's exit", |ev| {
        matches!(&ev.body, Some(Body::Exit(_))) && header(ev).pid == sh_pid
    })
    .await;

    // 2. Generate.
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let profile = api
        .get_profile(GetProfileRequest {
            container_id: learn_id.clone(),
            ..Default::default()
        })
        .await
        .expect("GetProfile")
        .into_inner();
    let learned: BTreeSet<u64> = profile
        .syscalls
        .iter()
        .chain(&profile.runtime_only)
        .map(|s| s.number)
        .chain(profile.unnamed_numbers.iter().copied())
        .collect();
    let always: BTreeSet<u64> = profile
        .syscalls
        .iter()
        .filter(|s| s.always_allowed)
        .map(|s| s.number)
        .collect();
    // Every call learned was reported as a first use (crun's own process is in the
    // cgroup, and goes on after the workload's exit: its last first uses may still come).
    let deadline = tokio::time::Instant::now() + sensor_tests::EVENT_TIMEOUT;
    let mut seen = first_uses(&sub);
    while learned.difference(&seen).any(|n| !always.contains(n))
        && let Some(m) = sub
            .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
    {
        sub.seen.push(m);
        seen = first_uses(&sub);
    }
    assert!(
        seen.is_subset(&learned),
        "every first-seen call is in the profile or runtime-only"
    );
    assert!(
        learned.difference(&seen).all(|n| always.contains(n)),
        "nothing unseen but the always-allowed calls"
    );
    assert!(
        profile
            .syscalls
            .iter()
            .any(|s| s.always_allowed && s.name == "rt_sigsuspend"),
        "the timing-dependent calls are allowed, and said to be"
    );
    assert_eq!(
        profile.containers_without_handover, 0,
        "the hand-over was seen"
    );
    let names: Vec<&str> = profile.syscalls.iter().map(|s| s.name.as_str()).collect();
    for must in ["execve", "read", "write", "rename", "pipe2"] {
        let alt = match must {
            "pipe2" => "pipe",
            "rename" => "renameat2",
            _ => must,
        };
        assert!(
            names.contains(&must) || names.contains(&alt),
            "{must} missing from {names:?}"
        );
    }
    // runc mounted, pivoted and unshared while it set the container up, before its filter:
    // learned, and left out.
    for setup in ["mount", "umount2", "pivot_root", "unshare"] {
        assert!(!names.contains(&setup), "{setup} in the profile: {names:?}");
    }
    let runtime_only: Vec<&str> = profile
        .runtime_only
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    for setup in ["mount", "pivot_root"] {
        assert!(runtime_only.contains(&setup), "{setup}: {runtime_only:?}");
    }
    let phase_of = |n: &str| {
        profile
            .syscalls
            .iter()
            .find(|s| s.name == n)
            .map(|s| s.phase())
    };
    // (crun's own process, in the cgroup here, renames its state file during its setup.)
    if runtime == Runtime::Runc {
        assert_eq!(
            phase_of("rename").or(phase_of("renameat2")),
            Some(sensor_proto::v1::Phase::Workload)
        );
    }
    // The runtime's own calls under its filter, before the exec, are in (it would fail
    // without): runc's Go runtime makes some; crun execs almost at once.
    let filtered: Vec<&str> = profile
        .syscalls
        .iter()
        .filter(|s| s.phase() == sensor_proto::v1::Phase::Filtered)
        .map(|s| s.name.as_str())
        .collect();
    eprintln!(
        "{runtime:?}: hand-over seen; {} calls under its filter before the exec: {filtered:?}; \
         runtime-only: {runtime_only:?}",
        filtered.len()
    );
    if runtime == Runtime::Runc {
        assert!(!filtered.is_empty(), "{names:?}");
    }
    let oci: serde_json::Value = serde_json::from_str(&profile.oci_json).expect("OCI JSON");
    assert_eq!(oci["defaultAction"], "SCMP_ACT_ERRNO");
    let spo: serde_json::Value = serde_json::from_str(&profile.spo_json).expect("SPO JSON");
    assert_eq!(
        (spo["kind"].as_str(), spo["apiVersion"].as_str()),
        (
            Some("SeccompProfile"),
            Some("security-profiles-operator.x-k8s.io/v1beta1")
        )
    );
    assert_eq!(spo["spec"]["syscalls"], oci["syscalls"]);

    // 3. The same workload under the profile, enforced by runc itself.
    let (confined, _) = container(runtime, 2, WORKLOAD);
    let out = confined.with_seccomp(&oci).run();
    assert!(
        out.status.success(),
        "under its own profile: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");

    // 4. Something new is refused, and flagged as blocked before entry: the workload's own
    // mount (runc's never reaches the profile).
    let variant = format!("{WORKLOAD}; mount -t tmpfs none /mnt || echo refused");
    let (drifted, _) = container(runtime, 3, &variant);
    let drifted = drifted.with_seccomp(&oci);
    let request = GetEventsRequest {
        kinds: vec![EventKind::FlaggedSyscall as i32],
        cgroup_ids: vec![drifted.cgroup_id()],
        ..Default::default()
    };
    let mut sub = Subscriber::connect(&sensor.addr, request)
        .await
        .expect("subscribe");
    let out = drifted.run();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("refused"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let ev = sub
        .expect_event("the workload's refused mount", |ev| {
            // (runc's own mounts, before its filter, are flagged too: they succeeded.)
            flagged(ev).is_some_and(|s| s.name == "mount") && header(ev).comm == b"mount"
        })
        .await;
    assert_eq!(
        outcome(&ev),
        (OutcomeKind::BlockedBeforeEntry, "EPERM".to_owned())
    );
}
