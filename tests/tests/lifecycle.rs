//! Start-up and shutdown: after SIGTERM the sensor exits 0 and nothing of ours stays loaded.
//!
//! Programs are counted by what the sensor's own process holds (or, for one that has exited,
//! by what no process holds), never by name: another sensor may run on the same node.
use std::{collections::HashSet, time::Duration};

use sensor_tests::{
    held::{loaded_programs, orphans_since, programs_held_by},
    ready,
    sensor::Sensor,
    wait_until,
};

const OUR_PROGRAM_COUNT: usize = sensor_common::PROGRAMS.len();

/// A failed sensor (exited) left nothing loaded since `before` that no process holds.
fn assert_no_orphans(before: &HashSet<u32>, what: &str) {
    let clean = wait_until(Duration::from_secs(5), || orphans_since(before).is_empty());
    assert!(
        clean,
        "{what} left programs behind: {:?}",
        orphans_since(before)
    );
}

fn tracefs_mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| {
            l.split_once(" - ")
                .is_some_and(|(_, post)| post.starts_with("tracefs "))
        })
        .count()
}

#[tokio::test]
async fn sigterm_detaches_everything_and_exits_zero() {
    if !ready() {
        return;
    }
    let tracefs_before = tracefs_mounts();
    let sensor = Sensor::start(&[]).await;
    let ours = programs_held_by(sensor.pid());
    assert_eq!(
        ours.len(),
        OUR_PROGRAM_COUNT,
        "expected our programs to be loaded: {ours:?}"
    );

    let log = sensor.log_text();
    let status = sensor.terminate(Duration::from_secs(10));
    assert!(status.success(), "exit status {status}; log:\n{log}");

    let still = || -> Vec<u32> { loaded_programs().intersection(&ours).copied().collect() };
    let gone = wait_until(Duration::from_secs(5), || still().is_empty());
    assert!(
        gone,
        "programs still loaded 5 s after SIGTERM: {:?}",
        still()
    );
    assert_eq!(
        tracefs_mounts(),
        tracefs_before,
        "the sensor left the tracefs mounts changed"
    );
}

#[tokio::test]
async fn a_second_sensor_on_a_taken_port_fails_clearly() {
    if !ready() {
        return;
    }
    let first = Sensor::start(&[]).await;
    let before = loaded_programs();
    let addr = first.addr.trim_start_matches("http://").to_owned();
    let out = std::process::Command::new(sensor_tests::sensor::sensor_bin())
        .args(["run", "--quiet", "--grpc-addr", &addr])
        .output()
        .expect("run a second sensor");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot listen for gRPC on {addr}")),
        "{stderr}"
    );
    // It detached on its way out, and the first sensor still holds all of its own.
    assert_no_orphans(&before, "the failed sensor");
    assert_eq!(programs_held_by(first.pid()).len(), OUR_PROGRAM_COUNT);
    drop(first);
}

#[tokio::test]
async fn without_cap_bpf_it_says_so_in_one_sentence() {
    if !ready() {
        return;
    }
    // Drop CAP_BPF (and CAP_SYS_ADMIN, which would stand in for it) from the bounding set,
    // so that even root execs the sensor without them.
    let out = std::process::Command::new("setpriv")
        .args(["--bounding-set=-bpf,-sys_admin", "--"])
        .arg(sensor_tests::sensor::sensor_bin())
        .args(["run", "--quiet", "--grpc-addr", "127.0.0.1:1"])
        .output()
        .expect("setpriv (util-linux) runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        "error: CAP_BPF is missing: run the sensor as root, or grant it CAP_BPF and CAP_PERFMON"
    );
}

#[tokio::test]
async fn kill_9_leaves_no_program_attached() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    let ours = programs_held_by(sensor.pid());
    assert_eq!(ours.len(), OUR_PROGRAM_COUNT);
    // Dropping the handle is SIGKILL: no handler runs, the kernel alone cleans up (links
    // and programs go with the last fd; nothing is pinned without --pin-dir).
    drop(sensor);
    let gone = wait_until(Duration::from_secs(5), || {
        loaded_programs().is_disjoint(&ours)
    });
    assert!(
        gone,
        "programs outlived a SIGKILLed sensor: {:?}",
        loaded_programs().intersection(&ours).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_taken_metrics_port_is_a_clear_error() {
    if !ready() {
        return;
    }
    let before = loaded_programs();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(sensor_tests::sensor::sensor_bin())
        .args([
            "run",
            "--quiet",
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            &addr,
        ])
        .output()
        .expect("run the sensor");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot serve metrics on {addr}")),
        "{stderr}"
    );
    assert_no_orphans(&before, "the failed sensor");
}

#[tokio::test]
async fn without_tracefs_the_sensor_mounts_it_and_attaches() {
    if !ready() {
        return;
    }
    // A mount namespace of its own where tracefs (and debugfs, which can automount it) are
    // not mounted: the node's own mounts are not touched.
    let script = "umount -l /sys/kernel/tracing 2>/dev/null; umount -l /sys/kernel/debug 2>/dev/null; \
                  exec \"$0\" \"$@\"";
    let wrapper = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
    ];
    let sensor = Sensor::start_via(&wrapper, &[], &["--no-cri"]).await;
    let log = sensor.log_text();
    assert!(
        log.contains("tracefs is not mounted; mounting it at /sys/kernel/tracing"),
        "{log}"
    );
    let status = sensor.terminate(Duration::from_secs(10));
    assert!(status.success(), "{status}");
}
