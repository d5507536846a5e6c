//! The Python venv of the interop tests, pinned, in `target/pyvenv`: a third-party gRPC
//! implementation (grpcio), its code generator (grpcio-tools), and OpenTelemetry's official
//! protocol package (opentelemetry-proto) for the OTLP receiver.
use std::{path::PathBuf, process::Command};

use crate::{
    setup::apt_install,
    util::{output, run, say, timed, workspace_root},
};

const PACKAGES: &[&str] = &[
    "grpcio==1.68.1",
    "grpcio-tools==1.68.1",
    "opentelemetry-proto==1.45.2",
];
/// What making a venv needs where the machine lacks it (a fresh machine of this kind has both).
pub const APT_PACKAGES: &[&str] = &["python3", "python3-venv"];

/// The venv's python, made (or brought up to date) when needed.
pub fn venv() -> anyhow::Result<PathBuf> {
    let dir = workspace_root().join("target/pyvenv");
    let python = dir.join("bin/python");
    let marker = dir.join(".sensor-packages");
    let wanted = PACKAGES.join(" ");
    if python.exists() && std::fs::read_to_string(&marker).is_ok_and(|m| m == wanted) {
        return Ok(python);
    }
    let has_venv = output(Command::new("python3").args(["-c", "import venv, ensurepip"]));
    if has_venv.is_none() {
        apt_install(APT_PACKAGES, "the Python interop test's venv")?;
    }
    say(format!(
        "installing {wanted} with pip into {} (the Python interop tests' gRPC client and OTLP receiver)",
        dir.display()
    ));
    crate::ledger::record(&[crate::ledger::Entry::Dir(dir.clone())])?;
    timed("python venv", || {
        run(Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&dir))?;
        run(Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PACKAGES))?;
        std::fs::write(&marker, &wanted)?;
        Ok(())
    })?;
    Ok(python)
}
