//! `cargo xtask test` and `cargo xtask run`.
use std::process::Command;

use anyhow::bail;

use crate::{
    build::{Built, userspace_cargo},
    fuzz, python, setup,
    util::{is_root, run, say, timed},
};

/// Seconds per fuzz target in `cargo xtask test`.
const FUZZ_SECONDS: u32 = 20;

/// What the end-to-end tests run: real runc (and crun) containers with a busybox root,
/// containerd, and bpftool (to pin a map of a foreign layout).
pub const E2E_PACKAGES: &[&str] = &["runc", "crun", "busybox-static", "containerd", "bpftool"];

pub fn test(built: &Built, unit_only: bool, args: &[String]) -> anyhow::Result<()> {
    timed("unit tests", || {
        run(userspace_cargo(built)
            .args([
                "test",
                "--release",
                "--workspace",
                "--exclude",
                "sensor-ebpf",
                "--exclude",
                "sensor-tests",
            ])
            .arg("--")
            .args(args))
    })?;
    if unit_only {
        say("skipping the fuzz run and the end-to-end tests (--unit-only)");
        return Ok(());
    }
    if args.is_empty() {
        // The decoders on hostile input: a short run, every time.
        fuzz::fuzz(FUZZ_SECONDS)?;
    }
    if !is_root() {
        bail!(
            "the end-to-end tests load eBPF programs and create cgroups: run `sudo -E cargo xtask test` (or --unit-only)"
        );
    }
    setup::apt_install(E2E_PACKAGES, "real containers for the end-to-end tests")?;
    timed("end-to-end tests", || run(&mut e2e(built, &[], args)?))?;
    if !args.is_empty() {
        return Ok(()); // a filtered run: no benchmark smoke test
    }
    // The benchmark's quick mode: it must run (its numbers are not judged here).
    bench(built, true, None)
}

/// `cargo test` of the end-to-end tests: `targets` (`--test NAME`s; none: all), `args` for
/// the harness.
fn e2e(built: &Built, targets: &[&str], args: &[String]) -> anyhow::Result<Command> {
    let python = python::venv()?;
    let mut cmd = userspace_cargo(built);
    cmd.args(["test", "--release", "--package", "sensor-tests"]);
    for t in targets {
        cmd.args(["--test", t]);
    }
    cmd.args(["--", "--test-threads=1"])
        .args(args)
        .env("SENSOR_BIN", &built.sensor)
        .env("SENSOR_TEST_PYTHON", &python)
        // Missing root or BPF fails these tests instead of skipping them.
        .env("SENSOR_E2E_REQUIRED", "1");
    Ok(cmd)
}

/// Where the sensor's own seccomp profile is shipped.
const SELF_PROFILE: &str = "deploy/kubernetes/seccomp/sensor.json";

/// Records the sensor's own seccomp profile anew over `runs` runs of the self-profile test
/// (the union of their calls: timing decides some), writing it to [`SELF_PROFILE`].
pub fn self_profile(built: &Built, runs: u32) -> anyhow::Result<()> {
    if !is_root() {
        bail!("recording the sensor's profile loads eBPF programs: run it as root");
    }
    setup::apt_install(
        E2E_PACKAGES,
        "containerd, whose CRI socket the recorded sensor asks",
    )?;
    let path = crate::util::workspace_root().join(SELF_PROFILE);
    let _ = std::fs::remove_file(&path);
    std::fs::write(
        &path,
        "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[]}\n",
    )?;
    for i in 1..=runs {
        say(format!(
            "recording the sensor's own profile: run {i} of {runs}"
        ));
        run(e2e(built, &["self_profile"], &[])?.env("SENSOR_WRITE_SELF_PROFILE", "1"))?;
    }
    say(format!(
        "wrote {}: review the diff and commit it",
        path.display()
    ));
    Ok(())
}

/// What the benchmark compares against (bpftrace), and the real services it runs.
pub const BENCH_PACKAGES: &[&str] = &[
    "bpftrace",
    "redis-server",
    "redis-tools",
    "nginx-light",
    "wrk",
];

pub fn bench(built: &Built, quick: bool, only: Option<&str>) -> anyhow::Result<()> {
    if !is_root() {
        bail!(
            "the benchmark loads eBPF programs and creates cgroups: run `sudo -E cargo xtask bench`"
        );
    }
    setup::apt_install(
        BENCH_PACKAGES,
        "the peer the benchmark compares against, and the services it runs",
    )?;
    build_test_bins(built, "build the benchmark", &["sensor-bench"])?;
    let root = crate::util::workspace_root();
    let mut cmd = Command::new(root.join("target/release/sensor-bench"));
    cmd.env("SENSOR_BIN", &built.sensor)
        .env(
            "SENSOR_FLOOR_OBJ",
            built.ebpf_object.with_file_name("floor"),
        )
        .arg("--json")
        .arg(root.join("target/bench.json"));
    if quick {
        cmd.arg("--quick");
    }
    if let Some(section) = only {
        cmd.args(["--only", section]);
    }
    timed("benchmark", || run(&mut cmd))
}

pub fn run_sensor(built: &Built, args: &[String]) -> anyhow::Result<()> {
    let mut cmd = if is_root() {
        Command::new(&built.sensor)
    } else {
        say("the sensor loads eBPF programs: running it with sudo");
        let mut c = Command::new("sudo");
        c.arg(&built.sensor);
        c
    };
    cmd.arg("run").args(args);
    say(
        "starting the sensor; make a mount in another terminal (e.g. `unshare -m mount -t tmpfs none /mnt`); Ctrl-C stops it",
    );
    run(&mut cmd)
}

/// `cargo xtask soak --minutes N`: the mixed workload of `sensor-soak` (not part of CI).
pub fn soak(built: &Built, minutes: u32) -> anyhow::Result<()> {
    if !is_root() {
        bail!("the soak run loads eBPF programs and creates cgroups: run it as root");
    }
    build_test_bins(
        built,
        "build the soak run",
        &["sensor-soak", "sensor-trigger"],
    )?;
    let release = crate::util::workspace_root().join("target/release");
    timed(&format!("soak for {minutes} min"), || {
        run(Command::new(release.join("sensor-soak"))
            .env("SENSOR_BIN", &built.sensor)
            .env("SENSOR_TRIGGER", release.join("sensor-trigger"))
            .args(["--minutes", &minutes.to_string()]))
    })
}

/// Builds binaries of the test crate (release) into target/release.
fn build_test_bins(built: &Built, what: &str, bins: &[&str]) -> anyhow::Result<()> {
    timed(what, || {
        let mut cmd = userspace_cargo(built);
        cmd.args(["build", "--release", "--package", "sensor-tests"]);
        for bin in bins {
            cmd.args(["--bin", bin]);
        }
        run(&mut cmd)
    })
}
