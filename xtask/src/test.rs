//! `cargo xtask test` and `cargo xtask run`.
use std::process::Command;

use anyhow::bail;

use crate::{
    build::{Built, userspace_cargo},
    setup,
    util::{is_root, run, say, timed},
};

/// What the end-to-end tests run: real runc containers with a busybox root, and containerd.
const E2E_PACKAGES: &[&str] = &["runc", "busybox-static", "containerd"];

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
        say("skipping the end-to-end tests (--unit-only)");
        return Ok(());
    }
    if !is_root() {
        bail!(
            "the end-to-end tests load eBPF programs and create cgroups: run `sudo -E cargo xtask test` (or --unit-only)"
        );
    }
    setup::apt_install(E2E_PACKAGES, "real containers for the end-to-end tests")?;
    timed("end-to-end tests", || {
        run(userspace_cargo(built)
            .args([
                "test",
                "--release",
                "--package",
                "sensor-tests",
                "--",
                "--test-threads=1",
            ])
            .args(args)
            .env("SENSOR_BIN", &built.sensor)
            // Missing root or BPF fails these tests instead of skipping them.
            .env("SENSOR_E2E_REQUIRED", "1"))
    })
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
