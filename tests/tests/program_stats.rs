//! What the sensor costs the node, as the kernel counts it: with run-time statistics on
//! (enabled through `bpf(BPF_ENABLE_STATS)`, which lasts as long as its file descriptor: no
//! sysctl is changed), `sensor_program_runs_total` and `sensor_program_run_nanoseconds_total`
//! grow for `sys_enter` while the node makes syscalls.
use std::os::fd::{FromRawFd, OwnedFd};

use sensor_tests::{ready, sensor::Sensor, until};

/// Turns the kernel's BPF run-time statistics on until the returned fd is closed.
fn enable_stats() -> OwnedFd {
    const BPF_ENABLE_STATS: libc::c_long = 32;
    const BPF_STATS_RUN_TIME: u32 = 0;
    let attr = [BPF_STATS_RUN_TIME, 0, 0, 0];
    // SAFETY: a bpf() call with a valid attribute buffer of the size given.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_ENABLE_STATS,
            attr.as_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    assert!(
        fd >= 0,
        "BPF_ENABLE_STATS: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a new fd that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

#[tokio::test]
async fn the_kernel_time_of_each_program_is_a_metric() {
    if !ready() {
        return;
    }
    let sensor = Sensor::start(&[]).await;
    let runs = r#"sensor_program_runs_total{program="sys_enter"}"#;
    let time = r#"sensor_program_run_nanoseconds_total{program="sys_enter"}"#;
    let stats = enable_stats();
    let (runs0, time0) = (sensor.metric(runs), sensor.metric(time));
    until("sys_enter's runs and time counted", || async {
        for _ in 0..10_000 {
            // SAFETY: no arguments.
            unsafe { libc::getppid() };
        }
        sensor.metric(runs) >= runs0 + 10_000 && sensor.metric(time) > time0
    })
    .await;
    drop(stats);
    let ns_per_run = (sensor.metric(time) - time0) as f64 / (sensor.metric(runs) - runs0) as f64;
    assert!(ns_per_run > 0.0, "{ns_per_run}");
}
