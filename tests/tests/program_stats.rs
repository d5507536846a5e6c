//! What the sensor costs the node, as the kernel counts it: with run-time statistics on
//! (enabled through `bpf(BPF_ENABLE_STATS)`, which lasts as long as its file descriptor: no
//! sysctl is changed), `sensor_program_runs_total` and `sensor_program_run_nanoseconds_total`
//! grow for `sys_enter` while the node makes syscalls.
use sensor_tests::{bench::enable_stats, ready, sensor::Sensor, until};

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
