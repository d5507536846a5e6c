//! `cargo xtask bench`: what the sensor costs, measured in one run, next to the floor (an
//! empty raw_tp on sys_enter) and a peer (bpftrace doing comparable work). Prints a table and
//! writes the figures as JSON. `--quick` is a smoke run (it checks that everything runs);
//! `--only SECTION` (syscall, flagged, learning, exec, footprint, reader, services, quality)
//! runs one
//! part, for a developer's loop. The quality section (six real programs under their learned
//! profiles) runs in full runs and with `--only quality`, not in `--quick`: the end-to-end
//! test `profile_quality.rs` runs the same workloads.
use std::path::PathBuf;

use sensor_tests::{
    cgroup::{CgroupPathGuard, cgroup2_mount},
    runc::kube_ids,
    sensor::Sensor,
    services::Sizes,
};
use serde_json::{Value, json};

mod pipeline;
mod syscall;
mod workloads;

use pipeline::{exec_storm, flagged_throughput, footprint, learning, print_reader};
use syscall::cost_per_syscall;
use workloads::{profile_quality, real_workloads};

pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A container-shaped cgroup made for the bench (removed on drop).
pub(crate) struct BenchCgroup {
    pub(crate) dir: PathBuf,
    _guard: CgroupPathGuard,
}

impl BenchCgroup {
    pub(crate) fn new(n: u32) -> Self {
        let (uid, id) = kube_ids(0xbe00 + n);
        let path = format!("/kubepods/besteffort/pod{uid}/{id}");
        let guard = CgroupPathGuard::new(&path);
        let dir = cgroup2_mount()
            .expect("cgroup2")
            .join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&dir).expect("mkdir bench cgroup");
        Self { dir, _guard: guard }
    }

    pub(crate) fn id(&self) -> u64 {
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&self.dir).unwrap())
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let [_, mode, dir] = args.as_slice()
        && mode == "--umount-in"
    {
        sensor_tests::reader_latency::umount_in(std::path::Path::new(dir));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let floor = PathBuf::from(
        std::env::var("SENSOR_FLOOR_OBJ").expect("SENSOR_FLOOR_OBJ (cargo xtask bench sets it)"),
    );
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let want = |section: &str| only.as_deref().is_none_or(|o| o == section);
    let (rounds, calls, storm, storm_rounds, execs, exec_rounds, cgroups) = if quick {
        (1, 200_000u64, 20_000u64, 1, 200u64, 1, 50u32)
    } else {
        (9, 1_000_000, 200_000, 5, 1_000, 5, 10_000)
    };
    let mut report =
        json!({"date": humantime_now(), "quick": quick, "rounds": rounds, "calls_per_loop": calls});
    if want("syscall") {
        cost_per_syscall(&mut report, &floor, rounds, calls).await;
    }
    // No flood budget: the flagged storm measures what the pipeline carries when nothing is
    // held back in the kernel.
    let sensor = Sensor::start(&["--no-cri", "--flood-budget", "0"]).await;
    if want("flagged") {
        report["flagged_throughput"] = flagged_throughput(&sensor, storm, storm_rounds).await;
    }
    if want("learning") {
        report["learned_events_per_million"] = learning(&sensor, calls).await;
    }
    drop(sensor);
    if want("exec") {
        report["exec_storm"] = exec_storm(execs, exec_rounds).await;
    }
    if want("footprint") {
        report["footprint"] = footprint(cgroups).await;
    }
    if want("reader") {
        let probes = if quick { 50 } else { 300 };
        let r = sensor_tests::reader_latency::reader_latency(probes).await;
        print_reader(&r);
        report["reader_latency"] = r;
    }
    if want("services") {
        let sizes = if quick {
            Sizes {
                redis_requests: 20_000,
                wrk_seconds: 1,
                c_files: 40,
                execs: 200,
            }
        } else {
            Sizes {
                redis_requests: 200_000,
                wrk_seconds: 5,
                c_files: 300,
                execs: 2_000,
            }
        };
        let service_rounds = if quick { 1 } else { 5 };
        report["services"] = real_workloads(&floor, service_rounds, sizes).await;
    }
    if (!quick && only.is_none()) || only.as_deref() == Some("quality") {
        report["profile_quality"] = profile_quality().await;
    }
    if let Some(p) = out_path {
        std::fs::write(&p, serde_json::to_vec_pretty(&report).unwrap())
            .expect("write the JSON report");
        println!("figures written to {p}");
    }
}

fn humantime_now() -> Value {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    json!(secs)
}
