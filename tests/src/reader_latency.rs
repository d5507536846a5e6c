//! The bench's `reader` section: how late a flagged call's event reaches a subscriber (from
//! the kernel's timestamp to its arrival) while the sensor reloads its policy 50 times a
//! second, and while events of unknown cgroups make it rescan the cgroup tree, against a
//! quiet sensor. Both the reload and the rescan run off the reader task, so the probe's events
//! should not wait for them.
use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{Value, json};

use crate::{
    bench::{InCgroup, failing_umounts},
    cgroup::{ScratchDir, TestCgroup},
    sensor::Sensor,
    subscriber::{Subscriber, flagged, flagged_in, header},
};

/// Cgroups in the tree while it is rescanned, so that a walk has work to do.
const CROWD: usize = 2000;
/// Between two probe calls.
const PACE: Duration = Duration::from_millis(10);

#[derive(Clone, Copy)]
enum Disturb {
    None,
    Reloads,
    Rescans,
}

/// The bench binary's hidden mode: join `dir` and make one failing umount2 (an event of a
/// cgroup the sensor cannot name from its record, which makes it rescan).
pub fn umount_in(dir: &Path) {
    std::fs::write(dir.join("cgroup.procs"), "0").expect("join");
    failing_umounts(1);
}

/// A cgroup whose path is longer than the kernel's record carries (512 bytes): the sensor
/// learns it only by walking the tree. Removed on drop, deepest first.
struct LongCgroup(Vec<PathBuf>);

impl LongCgroup {
    fn new(parent: &Path, i: usize) -> Self {
        let mut dirs = vec![parent.join(format!("long{i}"))];
        for c in ["a", "b", "c"] {
            let next = dirs.last().expect("one").join(c.repeat(200));
            dirs.push(next);
        }
        std::fs::create_dir_all(dirs.last().expect("one")).expect("mkdir long cgroup");
        Self(dirs)
    }
}

impl Drop for LongCgroup {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

fn disturb(kind: Disturb, sensor_pid: u32, root: PathBuf, stop: Arc<AtomicBool>) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        match kind {
            Disturb::None => return,
            Disturb::Reloads => {
                // SAFETY: signalling the sensor this bench started.
                unsafe { libc::kill(sensor_pid as i32, libc::SIGHUP) };
                std::thread::sleep(Duration::from_millis(20));
            }
            Disturb::Rescans => {
                let long = LongCgroup::new(&root, i);
                i += 1;
                let status = std::process::Command::new(std::env::current_exe().expect("exe"))
                    .arg("--umount-in")
                    .arg(long.0.last().expect("one"))
                    .status();
                assert!(status.is_ok_and(|s| s.success()), "the --umount-in child");
                drop(long);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `n` paced failing umount2 calls from `cg`; each one's latency in milliseconds.
async fn probe(sensor: &Sensor, cg: &TestCgroup, n: usize) -> Vec<f64> {
    let mut sub = Subscriber::connect(&sensor.addr, flagged_in(cg.id()))
        .await
        .expect("subscribe");
    let inside = InCgroup::enter(cg.path());
    let caller = std::thread::spawn(move || {
        for _ in 0..n {
            failing_umounts(1);
            std::thread::sleep(PACE);
        }
    });
    let mut latencies = Vec::with_capacity(n);
    while latencies.len() < n {
        let Some(msg) = sub.next_within(Duration::from_secs(10)).await else {
            break;
        };
        if let Some(sensor_proto::v1::get_events_response::Item::Event(ev)) = msg.item
            && flagged(&ev).is_some_and(|s| s.name == "umount2")
        {
            let sent = header(&ev).time_unix_nano;
            latencies.push(now_ns().saturating_sub(sent) as f64 / 1e6);
        }
    }
    caller.join().expect("the probe thread");
    drop(inside);
    latencies
}

fn summary(mut v: Vec<f64>) -> Value {
    if v.is_empty() {
        return json!({"n": 0});
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    json!({"n": v.len(), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": at(1.0)})
}

/// The section: `n` probes per condition.
pub async fn reader_latency(n: usize) -> Value {
    let dir = ScratchDir::new("bench-reader");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[syscalls]\nmount = \"high\"\n").expect("write the policy");
    let sensor = Sensor::start(&["--no-cri", "--policy", policy.to_str().expect("utf-8")]).await;
    let probe_cg = TestCgroup::new("bench-probe");
    let crowd_root = TestCgroup::new("bench-crowd");
    let crowd: Vec<TestCgroup> = (0..CROWD)
        .map(|i| crowd_root.child(&format!("c{i}")))
        .collect();
    let long_root = TestCgroup::new("bench-long");
    let mut out = json!({});
    for (name, kind) in [
        ("quiet", Disturb::None),
        ("policy_reloads", Disturb::Reloads),
        ("cgroup_rescans", Disturb::Rescans),
    ] {
        let stop = Arc::new(AtomicBool::new(false));
        let (pid, root, flag) = (sensor.pid(), long_root.path().to_owned(), stop.clone());
        let disturber = std::thread::spawn(move || disturb(kind, pid, root, flag));
        let latencies = probe(&sensor, &probe_cg, n).await;
        stop.store(true, Ordering::Relaxed);
        disturber.join().expect("the disturbing thread");
        out[name] = summary(latencies);
    }
    out["policy_reloads"]["reloads"] = sensor.metric("sensor_policy_reloads_total").into();
    out["cgroup_rescans"]["rescans"] = sensor.metric("sensor_cgroup_rescans_total").into();
    drop(crowd);
    out
}
