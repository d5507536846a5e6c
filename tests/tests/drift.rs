//! Drift: a profile bound to a workload, and every call outside it reported as a
//! PROFILE_DEVIATION, decided in the kernel. The profile is learned from a real runc
//! container and bound through the API to a pod (by its uid, from the cgroup path); then the
//! pod's other containers run the same workload plus calls the profile never allowed:
//! - under a permissive filter of runc's (hand-over seen): the calls succeed, and are reported
//!   with their outcome; `DiffProfile` lists them from what the kernel learned;
//! - under the profile itself (runc enforces it): the calls are refused by seccomp before they
//!   enter, and reported as blocked before entry;
//! - with no filter at all: checked from the workload's first exec.
//!
//! The in-profile calls of the workload cost no event: the deviations are exactly the new
//! calls.
use std::collections::BTreeSet;

use sensor_proto::v1::{
    self as pb, BindProfileRequest, DiffProfileRequest, EventKind, OutcomeKind, ProfileSelector,
    UnbindProfileRequest, bind_profile_request::Profile, event::Body,
    sensor_service_client::SensorServiceClient,
};
use sensor_tests::{
    ready,
    runc::{Container, kube_ids},
    sensor::Sensor,
    subscriber::header,
    workload::Started,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

/// Reads, writes, renames, lists, pipes, asks who it is, runs a program (as the drift's
/// calls are run); waits for /tmp/go first (present from the start when learning). It sleeps
/// once before it looks, so that the learned profile has the wait's calls: a drifted
/// container may find /tmp/go missing and sleep in the loop (its shell can get there before
/// the test has seen its exec).
const WORKLOAD: &str = "usleep 10000; while [ ! -e /tmp/go ]; do usleep 10000; done; \
    cat /bin/busybox > /dev/null; echo hello > /tmp/a; mv /tmp/a /tmp/b; ls / > /dev/null; \
    echo piped | cat > /dev/null; id > /dev/null; /bin/true; cat /tmp/b; rm /tmp/b";
/// What the drifted containers add: a harmless call the policy does not flag (sync), and one
/// it does (mount).
const DRIFT: &str = "; sync || echo sync-refused; mount -t tmpfs none /mnt || echo mount-refused";

fn permissive() -> serde_json::Value {
    serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}],
    })
}

/// Container `n` of the pod `uid`, running `script`.
fn container(uid: &str, n: u32, script: &str) -> Container {
    let (_, id) = kube_ids(0x700 + n);
    Container::new(
        &format!("sensor-e2e-drift-{}-{n}", std::process::id()),
        &format!("/kubepods/burstable/pod{uid}/{id}"),
        script,
    )
}

fn container_id(c: &Container) -> String {
    c.cgroup_path.rsplit('/').next().unwrap().to_owned()
}

/// Runs `c` until its shell exits; gives its output and its deviation events. `go` creates
/// /tmp/go once the shell's exec was judged (a container without a filter is checked from
/// then on); without it, /tmp/go is there from the start.
async fn run(sensor: &Sensor, c: &Container, go: bool) -> (std::process::Output, Vec<pb::Event>) {
    let tmp = c.rootfs().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    if !go {
        std::fs::write(tmp.join("go"), b"").unwrap();
    }
    let started = Started::start(sensor, c, &[EventKind::ProfileDeviation]).await;
    if go {
        std::fs::write(tmp.join("go"), b"").unwrap();
    }
    let (out, events) = started.finish().await;
    let deviations = events
        .into_iter()
        .filter(|ev| matches!(&ev.body, Some(Body::ProfileDeviation(_))))
        .collect();
    (out, deviations)
}

fn deviation(ev: &pb::Event) -> &pb::ProfileDeviation {
    match &ev.body {
        Some(Body::ProfileDeviation(d)) => d,
        _ => unreachable!(),
    }
}

fn names(devs: &[pb::Event]) -> BTreeSet<String> {
    devs.iter()
        .map(|ev| deviation(ev).call.as_ref().unwrap().name.clone())
        .collect()
}

fn outcome_of(devs: &[pb::Event], name: &str) -> (OutcomeKind, String) {
    let ev = devs
        .iter()
        .find(|ev| deviation(ev).call.as_ref().unwrap().name == name)
        .unwrap_or_else(|| panic!("no deviation {name}: {devs:#?}"));
    let o = deviation(ev)
        .call
        .as_ref()
        .unwrap()
        .outcome
        .clone()
        .unwrap();
    (o.kind(), o.errno_name)
}

#[tokio::test]
async fn calls_outside_a_bound_profile_are_deviations_refused_or_not() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let (uid, _) = kube_ids(0x7ff);

    // 1. Learn the workload, and bind what was learned to the pod (frozen through the API).
    let learn = container(&uid, 1, WORKLOAD).with_seccomp(&permissive());
    let (out, devs) = run(&sensor, &learn, false).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(devs.is_empty(), "nothing is bound yet: {devs:#?}");
    let bound = api
        .bind_profile(BindProfileRequest {
            name: "learned-workload".into(),
            selector: Some(ProfileSelector {
                pod_uid: uid.clone(),
                ..Default::default()
            }),
            profile: Some(Profile::FreezeContainerId(container_id(&learn))),
        })
        .await
        .expect("BindProfile")
        .into_inner();
    assert!(bound.allowed_calls > 20, "{bound:?}");
    let oci: serde_json::Value = serde_json::from_str(&bound.oci_json).unwrap();

    // 2. Under a permissive filter: the new calls succeed and are deviations, with their
    // outcome; nothing else is (the workload's calls cost no event).
    let audited = container(&uid, 2, &format!("{WORKLOAD}{DRIFT}")).with_seccomp(&permissive());
    let (out, devs) = run(&sensor, &audited, false).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    assert_eq!(
        names(&devs),
        BTreeSet::from(["mount".to_owned(), "sync".to_owned()]),
        "{devs:#?}"
    );
    assert_eq!(outcome_of(&devs, "sync").0, OutcomeKind::Succeeded);
    assert_eq!(outcome_of(&devs, "mount").0, OutcomeKind::Succeeded);
    for ev in &devs {
        let d = deviation(ev);
        assert_eq!(d.profile, "learned-workload");
        let call = d.call.as_ref().unwrap();
        assert_eq!(
            d.flagged,
            call.name == "mount",
            "mount is also flagged by the policy"
        );
        if call.name == "mount" {
            let fstype = call.decoded_args.iter().find(|a| a.name == "fstype");
            assert_eq!(fstype.map(|a| a.value.as_str()), Some("tmpfs"), "{call:?}");
        }
        assert!(header(ev).pid != 0);
    }
    // What it did beyond the profile, from what the kernel learned.
    let diff = api
        .diff_profile(DiffProfileRequest {
            container_id: container_id(&audited),
        })
        .await
        .expect("DiffProfile")
        .into_inner();
    let beyond: BTreeSet<String> = diff.beyond.iter().map(|s| s.name.clone()).collect();
    assert_eq!(
        beyond,
        BTreeSet::from(["mount".to_owned(), "sync".to_owned()])
    );

    // 3. Under the profile itself: seccomp refuses them before entry; still deviations.
    let enforced = container(&uid, 3, &format!("{WORKLOAD}{DRIFT}")).with_seccomp(&oci);
    let (out, devs) = run(&sensor, &enforced, false).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hello") && stdout.contains("mount-refused"),
        "{stdout}"
    );
    // (busybox mount, refused, goes on to try a helper: its vfork is refused too.)
    assert!(
        devs.iter()
            .all(|ev| [&b"sync"[..], b"mount"].contains(&header(ev).comm.as_slice())),
        "only the drift's programs deviate: {devs:#?}"
    );
    for name in ["sync", "mount"] {
        assert_eq!(
            outcome_of(&devs, name),
            (OutcomeKind::BlockedBeforeEntry, "EPERM".to_owned()),
            "{name}"
        );
    }

    // 4. No filter at all (no hand-over to see): checked from the workload's first exec.
    let unfiltered = container(&uid, 4, &format!("{WORKLOAD}{DRIFT}"));
    let (_, devs) = run(&sensor, &unfiltered, true).await;
    assert_eq!(
        names(&devs),
        BTreeSet::from(["mount".to_owned(), "sync".to_owned()]),
        "the workload's calls are checked, not runc's setup: {devs:#?}"
    );

    // 4b. An i386 call (through `int $0x80`): the profile has no SCMP_ARCH_X86, so every
    // compat call deviates, named from the i386 table (at entry: no outcome).
    let compat = container(
        &uid,
        6,
        "while [ ! -e /tmp/go ]; do usleep 10000; done; /opt/trigger - int80 20",
    )
    .with_host_usr(Some((std::path::Path::new(TRIGGER), "/opt/trigger")));
    let (_, devs) = run(&sensor, &compat, true).await;
    assert!(
        devs.iter().any(|ev| {
            let call = deviation(ev).call.as_ref().unwrap();
            call.name == "getpid" && call.arch == "i386"
        }),
        "{devs:#?}"
    );

    // 5. Unbound: nothing is a deviation any more.
    api.unbind_profile(UnbindProfileRequest {
        name: "learned-workload".into(),
    })
    .await
    .expect("UnbindProfile");
    let free = container(&uid, 5, &format!("{WORKLOAD}{DRIFT}")).with_seccomp(&permissive());
    let (_, devs) = run(&sensor, &free, false).await;
    assert!(devs.is_empty(), "{devs:#?}");
    let again = api
        .unbind_profile(UnbindProfileRequest {
            name: "learned-workload".into(),
        })
        .await
        .expect_err("a second unbind");
    assert_eq!(again.code(), tonic::Code::NotFound);
}

#[tokio::test]
async fn bad_bindings_are_refused_with_the_reason() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    let mut api = SensorServiceClient::connect(sensor.addr.clone())
        .await
        .expect("connect");
    let selector = Some(ProfileSelector {
        image: "nginx:*".into(),
        ..Default::default()
    });
    let cases = [
        (
            BindProfileRequest {
                name: "x".into(),
                selector: selector.clone(),
                profile: Some(Profile::OciJson("{not json".into())),
            },
            "not an OCI seccomp profile",
        ),
        (
            BindProfileRequest {
                name: "x".into(),
                selector: None,
                profile: Some(Profile::OciJson("{}".into())),
            },
            "selector",
        ),
        (
            BindProfileRequest {
                name: String::new(),
                selector: selector.clone(),
                profile: Some(Profile::OciJson("{}".into())),
            },
            "name",
        ),
        (
            BindProfileRequest {
                name: "x".into(),
                selector: Some(ProfileSelector {
                    container_id: "abc".into(),
                    ..Default::default()
                }),
                profile: Some(Profile::OciJson("{}".into())),
            },
            "container_id",
        ),
    ];
    for (req, why) in cases {
        let e = api.bind_profile(req).await.expect_err("refused");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e}");
        assert!(e.message().contains(why), "{e}");
    }
    let e = api
        .bind_profile(BindProfileRequest {
            name: "x".into(),
            selector,
            profile: Some(Profile::FreezeContainerId("0123456789ab".into())),
        })
        .await
        .expect_err("nothing learned");
    assert_eq!(e.code(), tonic::Code::NotFound, "{e}");
}
