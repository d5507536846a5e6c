//! The sensor's own seccomp profile (deploy/kubernetes/seccomp/sensor.json), which the DaemonSet
//! uses instead of `Unconfined`. The sensor makes it from its own run: one sensor records
//! another, started the way the DaemonSet starts it (mTLS with an allow list, a policy file,
//! pinned maps, the CRI socket of a real containerd, metrics over HTTPS) while it does its
//! whole job: attach, flag and stream calls, ask the runtime about a pod's container, answer
//! the RPCs, reload its policy (file change and SIGHUP) and its certificate, shut down. The
//! shipped profile must allow every call of that run; then the sensor does all of it again
//! under the shipped profile, enforced with SCMP_ACT_KILL_PROCESS so that any call it refuses
//! kills the sensor instead of failing quietly.
//!
//! `SENSOR_WRITE_SELF_PROFILE=1` adds the recorded calls to the shipped profile (`cargo xtask
//! self-profile` does it over several runs).
use std::{collections::BTreeSet, path::Path, time::Duration};

use sensor_proto::v1::{GetProfileRequest, ListContainersRequest, StatusRequest};
use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::{CgroupPathGuard, ScratchDir, TestCgroup},
    containerd::Containerd,
    pins::PinDir,
    pki::{Ca, Files, Issued, https_get, tls_client},
    ready,
    runc::kube_ids,
    sensor::{Sensor, sample, sensor_bin},
    subscriber::{flagged, flagged_in},
    trigger, until,
};

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");
const SHIPPED: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/kubernetes/seccomp/sensor.json"
);

/// What the sensor under test is given, as the DaemonSet gives it.
struct Setup {
    ca: Ca,
    client: Issued,
    files: Files,
    policy: std::path::PathBuf,
    pins: PinDir,
    containerd: Containerd,
    _dir: ScratchDir,
}

impl Setup {
    async fn new() -> Self {
        let ca = Ca::new("self-profile CA");
        let files = Files::new();
        let client = ca.issue("collector-1", false, &[]);
        let dir = ScratchDir::new("self-profile");
        let policy = dir.path().join("policy.toml");
        std::fs::write(&policy, "[syscalls]\nmount = \"high\"\n").expect("write the policy");
        Self {
            ca,
            client,
            files,
            policy,
            pins: PinDir::new(),
            containerd: Containerd::start().await,
            _dir: dir,
        }
    }

    fn args(&self, server: &Issued) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.files.write("server.pem", &server.cert),
            "--tls-key".into(),
            self.files.write("server.key", &server.key),
            "--client-ca".into(),
            self.files.write("ca.pem", &self.ca.pem),
            "--client-allow".into(),
            "collector*".into(),
            "--metrics-tls".into(),
            "--policy".into(),
            self.policy.to_str().expect("utf-8").into(),
            "--pin-dir".into(),
            self.pins.dir.to_str().expect("utf-8").into(),
            "--cri-socket".into(),
            self.containerd.socket.to_str().expect("utf-8").into(),
        ]
    }
}

async fn counter(sensor: &Sensor, ca: &str, series: &str) -> u64 {
    let (_, body) = https_get(&sensor.metrics, ca, "/metrics")
        .await
        .unwrap_or_default();
    sample(&body, series)
}

/// Runs `sensor run` in `cg` under `profile` (through `sensor profile try`), makes it do its
/// whole job, stops it with SIGTERM and returns how it ended.
async fn whole_job(setup: &Setup, profile: &Path, cg: &TestCgroup) -> std::process::ExitStatus {
    let sensor_path = sensor_bin();
    let wrapper = [
        "sh",
        "-c",
        "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"",
        cg.path().to_str().expect("utf-8"),
        sensor_path.to_str().expect("utf-8"),
        "profile",
        "try",
        profile.to_str().expect("utf-8"),
        "--",
    ];
    let server = setup.ca.issue("sensor", true, &[]);
    let args = setup.args(&server);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sensor = Sensor::start_via(&wrapper, &[], &args).await;
    let ca = &setup.ca.pem;
    until("/readyz over HTTPS", || async {
        matches!(
            https_get(&sensor.metrics, ca, "/readyz").await,
            Ok((200, _))
        )
    })
    .await;

    // The API over mTLS: a stream of flagged calls, and every other RPC.
    let calls = TestCgroup::new("self-profile-calls");
    let mut client = tls_client(&sensor.addr, ca, Some(&setup.client))
        .await
        .expect("connect over mTLS");
    let mut stream = client
        .get_events(flagged_in(calls.id()))
        .await
        .expect("subscribe")
        .into_inner();
    trigger(TRIGGER, &calls, &["umount-storm", "1"]);
    loop {
        let msg = tokio::time::timeout(EVENT_TIMEOUT, stream.message())
            .await
            .expect("no flagged call streamed")
            .expect("the stream failed")
            .expect("the stream ended");
        if let Some(sensor_proto::v1::get_events_response::Item::Event(ev)) = msg.item
            && flagged(&ev).is_some_and(|s| s.name == "umount2")
        {
            break;
        }
    }
    client.status(StatusRequest {}).await.expect("Status");
    client
        .list_containers(ListContainersRequest {})
        .await
        .expect("ListContainers");
    client
        .get_profile(GetProfileRequest {
            cgroup_id: calls.id(),
            ..Default::default()
        })
        .await
        .expect("GetProfile");

    // A pod's container: the sensor asks the CRI runtime about it.
    let (uid, id) = kube_ids(0x5e1f);
    let pod_path = format!("/kubepods/besteffort/pod{uid}/{id}");
    let _guard = CgroupPathGuard::new(&pod_path);
    let pod = TestCgroup::at(&pod_path);
    trigger(TRIGGER, &pod, &["umount-storm", "1"]);
    until("the CRI runtime asked", || async {
        counter(&sensor, ca, "sensor_events_total{kind=\"flagged_syscall\"}").await >= 2
    })
    .await;
    drop(pod);

    // Reloads: the policy file changes, then SIGHUP; the certificate rotates.
    std::fs::write(&setup.policy, "[syscalls]\nmount = \"critical\"\n").expect("rewrite");
    until("the policy reloaded", || async {
        counter(&sensor, ca, "sensor_policy_reloads_total").await >= 1
    })
    .await;
    // SAFETY: signalling the process this test started.
    unsafe { libc::kill(sensor.pid() as i32, libc::SIGHUP) };
    until("the policy reloaded on SIGHUP", || async {
        counter(&sensor, ca, "sensor_policy_reloads_total").await >= 2
    })
    .await;
    let next = setup.ca.issue("sensor", true, &[]);
    setup.files.write("server.key", &next.key);
    setup.files.write("server.pem", &next.cert);
    until("the certificate reloaded", || async {
        counter(&sensor, ca, "sensor_tls_reloads_total{result=\"in_force\"}").await >= 1
    })
    .await;
    sensor.terminate(Duration::from_secs(20))
}

fn names(oci_json: &str) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_str(oci_json).expect("OCI JSON");
    v["syscalls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW")
        .flat_map(|r| r["names"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// Writes the recorded profile over the shipped one, with the calls of both: so that runs
/// made one after another add up (timing decides some calls). Delete the file to start over.
fn write_union(recorded: &str) {
    let mut all = names(recorded);
    if let Ok(old) = std::fs::read_to_string(SHIPPED) {
        all.extend(names(&old));
    }
    let mut profile: serde_json::Value = serde_json::from_str(recorded).expect("JSON");
    profile["syscalls"] = serde_json::json!([{ "action": "SCMP_ACT_ALLOW", "names": all }]);
    let text = serde_json::to_string_pretty(&profile).expect("JSON");
    std::fs::write(SHIPPED, format!("{text}\n")).expect("write the shipped profile");
}

#[tokio::test]
async fn the_sensor_runs_under_the_profile_it_made_of_itself() {
    if !ready() {
        return;
    }
    let recorder = Sensor::start(&["--no-cri"]).await;
    let setup = Setup::new().await;
    let scratch = ScratchDir::new("self-profile-json");

    // Recorded under a filter that allows everything: the filter marks the hand-over, so the
    // profile holds the sensor's calls from its exec on.
    let everything = scratch.path().join("everything.json");
    std::fs::write(&everything, r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).expect("write");
    let recorded_in = TestCgroup::new("self-profile-rec");
    let status = whole_job(&setup, &everything, &recorded_in).await;
    assert!(status.success(), "the recorded run ended {status}");
    let recorded = recorder.profile_of(recorded_in.id()).await;
    assert_eq!(
        recorded.containers_without_handover, 0,
        "the hand-over was not seen"
    );
    for call in ["bpf", "accept4", "connect"] {
        assert!(
            names(&recorded.oci_json).contains(call),
            "{call} missing from the recording"
        );
    }
    if std::env::var_os("SENSOR_WRITE_SELF_PROFILE").is_some() {
        write_union(&recorded.oci_json);
    }

    // The shipped profile allows all of it.
    let shipped = std::fs::read_to_string(SHIPPED).expect("read the shipped profile");
    let missing: Vec<String> = names(&recorded.oci_json)
        .difference(&names(&shipped))
        .cloned()
        .collect();
    assert!(
        missing.is_empty(),
        "{SHIPPED} does not allow {missing:?}, which the sensor made: regenerate it with \
         SENSOR_WRITE_SELF_PROFILE=1 (see deploy/README.md)"
    );

    // And the sensor does its whole job under it, any refusal fatal.
    let mut strict: serde_json::Value = serde_json::from_str(&shipped).expect("JSON");
    strict["defaultAction"] = "SCMP_ACT_KILL_PROCESS".into();
    if let Some(o) = strict.as_object_mut() {
        o.remove("defaultErrnoRet");
    }
    let strict_path = scratch.path().join("strict.json");
    std::fs::write(&strict_path, strict.to_string()).expect("write");
    let enforced_in = TestCgroup::new("self-profile-run");
    let status = whole_job(&setup, &strict_path, &enforced_in).await;
    assert!(
        status.success(),
        "under its own profile the sensor ended {status} (SIGSYS, 159: a call the profile refuses)"
    );
}
