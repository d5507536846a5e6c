//! `sensor cluster`: three sensors on one machine stand for three nodes. They share the kernel,
//! so each sees every container here: one container counts once per sensor ("node"). Runs
//! the real CLI against the real sensors.
use std::{
    collections::BTreeSet,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use sensor_tests::{
    EVENT_TIMEOUT,
    cgroup::TestCgroup,
    ready,
    runc::{Container, kube_ids},
    sensor::{Sensor, sensor_bin},
    trigger,
};
use serde_json::Value;

const TRIGGER: &str = env!("CARGO_BIN_EXE_sensor-trigger");

fn host_port(s: &Sensor) -> String {
    s.addr.trim_start_matches("http://").to_owned()
}

fn cluster_profile(sensors: &[String], container: &str) -> Value {
    let out = Command::new(sensor_bin())
        .args(["cluster", "profile", "--sensors", &sensors.join(",")])
        .args([
            "--container",
            container,
            "--format",
            "json",
            "--timeout-seconds",
            "5",
        ])
        .output()
        .expect("run sensor cluster profile");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The calls seen (not only always allowed), with their (containers, nodes).
fn seen_calls(v: &Value) -> Vec<(String, u64, u64)> {
    v["syscalls"]
        .as_array()
        .expect("syscalls")
        .iter()
        .filter(|s| s["containers"].as_u64() > Some(0))
        .map(|s| {
            (
                s["name"].as_str().unwrap_or_default().to_owned(),
                s["containers"].as_u64().unwrap_or(0),
                s["nodes"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn three_sensors_give_one_merged_profile_and_name_the_one_that_is_down() {
    if !ready() {
        return;
    }
    let sensors = [
        Sensor::start(&["--no-cri"]).await,
        Sensor::start(&["--no-cri"]).await,
        Sensor::start(&["--no-cri"]).await,
    ];
    let addrs: Vec<String> = sensors.iter().map(host_port).collect();
    let (pod_uid, id) = kube_ids(0xc1);
    let c = Container::new(
        &format!("sensor-e2e-cluster-{}", std::process::id()),
        &format!("/kubepods/besteffort/pod{pod_uid}/{id}"),
        "mount -t tmpfs shm /mnt && umount /mnt; echo done",
    );
    let cgroup_id = c.cgroup_id();
    let out = c.run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // What one sensor says directly, to compare with.
    let direct = sensors[0].profile_of(cgroup_id).await;
    let direct: BTreeSet<String> = direct
        .syscalls
        .iter()
        .filter(|s| s.containers > 0)
        .map(|s| s.name.clone())
        .collect();
    assert!(direct.contains("mount"), "{direct:?}");

    let merged = cluster_profile(&addrs, &id);
    assert_eq!(
        merged["nodes"]["answered"].as_array().map(Vec::len),
        Some(3),
        "{merged:#}"
    );
    assert_eq!(merged["containers"], 3);
    let calls = seen_calls(&merged);
    let names: BTreeSet<String> = calls.iter().map(|c| c.0.clone()).collect();
    assert_eq!(names, direct, "the merged profile is the same set of calls");
    for (name, containers, nodes) in &calls {
        assert_eq!(
            (*containers, *nodes),
            (3, 3),
            "{name}: one container on each of 3 nodes"
        );
    }
    let oci_names = merged["oci"]["syscalls"][0]["names"]
        .as_array()
        .expect("OCI names")
        .len();
    assert!(oci_names >= direct.len());

    // One sensor goes away: the others still answer, and it is named.
    let [a, b, dead] = sensors;
    drop(dead);
    let merged = cluster_profile(&addrs, &id);
    assert_eq!(
        merged["nodes"]["answered"].as_array().map(Vec::len),
        Some(2)
    );
    let failed = merged["nodes"]["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 1, "{merged:#}");
    assert_eq!(failed[0]["node"], addrs[2].as_str());
    for (name, containers, nodes) in seen_calls(&merged) {
        assert_eq!((containers, nodes), (2, 2), "{name}");
    }
    drop((a, b));
}

/// `sensor cluster events --json`, read line by line; killed when dropped.
struct Merged {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<Value>,
}

impl Merged {
    fn start(sensors: &[String], cgroup_id: u64) -> Self {
        let mut child = Command::new(sensor_bin())
            .args(["cluster", "events", "--sensors", &sensors.join(",")])
            .args([
                "--kind",
                "flagged",
                "--cgroup",
                &cgroup_id.to_string(),
                "--json",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start sensor cluster events");
        let lines = sensor_tests::lines_of(child.stdout.take().expect("stdout"));
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads until `done(all lines so far)`, or panics with `what` after `timeout`.
    fn until(&mut self, what: &str, timeout: Duration, done: impl Fn(&[Value]) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(&self.seen) {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) => self
                    .seen
                    .push(serde_json::from_str(&line).expect("a JSON line")),
                Err(_) => panic!("{what}: not within {timeout:?}; lines: {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Merged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn umounts_of(lines: &[Value], sensor: &str, target: &str) -> usize {
    lines
        .iter()
        .filter(|v| {
            v["sensor"] == sensor
                && v["syscall"] == "umount2"
                && v["decoded"]["target"]["value"] == target
        })
        .count()
}

#[tokio::test]
async fn one_merged_stream_announces_a_restarted_sensor_and_resumes_it() {
    if !ready() {
        return;
    }
    let cg = TestCgroup::new("cluster-events");
    let a = Sensor::start(&["--no-cri"]).await;
    let b = Sensor::start(&["--no-cri"]).await;
    let c = Sensor::start(&["--no-cri"]).await;
    let addrs = [host_port(&a), host_port(&b), host_port(&c)];
    let mut m = Merged::start(&addrs, cg.id());
    m.until("all three connected", EVENT_TIMEOUT, |ls| {
        ls.iter().filter(|v| v["connected"].is_object()).count() == 3
    });

    trigger(TRIGGER, &cg, &["umount-fail", "/sensor-cluster-1"]);
    m.until("the first call from each sensor", EVENT_TIMEOUT, |ls| {
        addrs
            .iter()
            .all(|s| umounts_of(ls, s, "/sensor-cluster-1") == 1)
    });

    // b dies (SIGKILL) and comes back on its address as a new run.
    let b_port: u16 = addrs[1].rsplit(':').next().unwrap().parse().unwrap();
    let old_instance = m
        .seen
        .iter()
        .find(|v| v["sensor"] == addrs[1].as_str() && v["connected"].is_object())
        .map(|v| v["connected"]["instance"].clone())
        .expect("b's instance");
    drop(b);
    m.until("b's gap announced", EVENT_TIMEOUT, |ls| {
        ls.iter()
            .any(|v| v["sensor"] == addrs[1].as_str() && v["gap"].is_string())
    });
    let _b = Sensor::start_on(b_port, &["--no-cri"]).await;
    // Made before or after the stream is back: the resume must deliver it exactly once.
    trigger(TRIGGER, &cg, &["umount-fail", "/sensor-cluster-2"]);
    m.until("b's restart announced", Duration::from_secs(30), |ls| {
        ls.iter().any(|v| {
            v["sensor"] == addrs[1].as_str()
                && v["gap"]
                    .as_str()
                    .is_some_and(|g| g.contains("the sensor restarted"))
        })
    });
    trigger(TRIGGER, &cg, &["umount-fail", "/sensor-cluster-3"]);
    m.until(
        "the third call from each sensor",
        Duration::from_secs(30),
        |ls| {
            addrs
                .iter()
                .all(|s| umounts_of(ls, s, "/sensor-cluster-3") == 1)
        },
    );
    // Each node's stream is in order: nothing of the second call can still come from b.
    for s in &addrs {
        assert_eq!(
            umounts_of(&m.seen, s, "/sensor-cluster-2"),
            1,
            "{s}: {:#?}",
            m.seen
        );
    }
    let new_instance = m
        .seen
        .iter()
        .rfind(|v| v["sensor"] == addrs[1].as_str() && v["connected"].is_object())
        .map(|v| v["connected"]["instance"].clone())
        .expect("b connected again");
    assert_ne!(new_instance, old_instance);
    assert!(
        !m.seen
            .iter()
            .any(|v| v["gap"].is_string() && v["sensor"] != addrs[1].as_str()),
        "only b had a gap: {:#?}",
        m.seen
    );
}
