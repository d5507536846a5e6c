//! Harness for the end-to-end tests: the real `sensor` binary, real cgroups, real gRPC.
//!
//! These tests need root and BPF. `cargo xtask test` (and so CI) sets `SENSOR_E2E_REQUIRED=1`,
//! which turns a missing privilege into a failure; a plain `cargo test` skips them with the
//! reason, for a quick local loop.
pub mod bench;
pub mod cgroup;
pub mod clone_race;
pub mod containerd;
pub mod cri_pod;
pub mod held;
pub mod int80;
pub mod io_uring;
pub mod pins;
pub mod pki;
pub mod python;
pub mod quality;
pub mod reader_latency;
pub mod runc;
pub mod sensor;
pub mod services;
pub mod subscriber;
pub mod workload;

use std::time::Duration;

/// How long any single expected event may take to arrive.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn required() -> bool {
    std::env::var("SENSOR_E2E_REQUIRED").is_ok_and(|v| v == "1")
}

/// Why this machine cannot run the end-to-end tests, if it cannot.
fn unavailable() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root".into());
    }
    if cgroup::cgroup2_mount().is_none() {
        return Some("no cgroup2 mount in /proc/self/mountinfo".into());
    }
    let bin = sensor::sensor_bin();
    if !bin.exists() {
        return Some(format!(
            "{} does not exist: build it with `cargo xtask build`",
            bin.display()
        ));
    }
    None
}

/// Call first in every end-to-end test: `if !e2e::ready() { return; }`.
/// Panics instead of skipping when `SENSOR_E2E_REQUIRED=1`.
/// Polls `check` until it holds, failing after [`EVENT_TIMEOUT`]: for a state there is no
/// event to await (a TLS handshake that works, a counter over HTTPS).
pub async fn until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn ready() -> bool {
    match unavailable() {
        None => true,
        Some(why) if required() => {
            panic!("end-to-end test cannot run: {why} (SENSOR_E2E_REQUIRED=1)")
        }
        Some(why) => {
            eprintln!("skipping end-to-end test: {why}");
            false
        }
    }
}

/// A unique name for what this test process creates.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "sensor-e2e-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `cond` until it holds or `timeout` passes, for kernel state that has no event to
/// await (a program's id leaves the kernel's table a moment after its last fd closes).
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `text` to `path` in one step (a watching sensor never reads half a file).
pub fn replace_file(path: &std::path::Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write the new file");
    std::fs::rename(&tmp, path).expect("rename it into place");
}

/// The lines a child prints on `stdout`, as they come (read on a thread of their own).
pub fn lines_of(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead as _;
    let (tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// Runs the `sensor-trigger` binary at `bin` (pass `env!("CARGO_BIN_EXE_sensor-trigger")`) in
/// `cg` with `args`, and returns its pid; panics if the action did not behave as it expects.
pub fn trigger(bin: &str, cg: &cgroup::TestCgroup, args: &[&str]) -> u32 {
    trigger_via(&[], bin, cg, args)
}

/// [`trigger`] behind `wrapper` (e.g. `setpriv ...`), which execs it.
pub fn trigger_via(wrapper: &[&str], bin: &str, cg: &cgroup::TestCgroup, args: &[&str]) -> u32 {
    let mut cmd = match wrapper.split_first() {
        Some((prog, rest)) => {
            let mut c = std::process::Command::new(prog);
            c.args(rest).arg(bin);
            c
        }
        None => std::process::Command::new(bin),
    };
    let mut child = cmd
        .arg(cg.path())
        .args(args)
        .spawn()
        .expect("spawn sensor-trigger");
    let pid = child.id();
    let status = child.wait().expect("wait sensor-trigger");
    assert!(status.success(), "sensor-trigger {args:?} failed: {status}");
    pid
}

/// [`trigger`] on a blocking thread, so that the test's subscribers read meanwhile (a storm
/// that runs while nobody reads measures the test, not the sensor).
pub fn trigger_in_background(
    bin: &'static str,
    cg: &cgroup::TestCgroup,
    args: &[&str],
) -> tokio::task::JoinHandle<()> {
    let path = cg.path().to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let status = std::process::Command::new(bin)
            .arg(&path)
            .args(&args)
            .status()
            .expect("spawn sensor-trigger");
        assert!(status.success(), "sensor-trigger {args:?} failed: {status}");
    })
}
