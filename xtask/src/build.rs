//! `cargo xtask build`: the eBPF object (checked before it is embedded), then `sensor`.
use std::{ffi::OsString, path::PathBuf, process::Command};

use crate::{
    object_check,
    setup::{self, Route},
    util::{cargo, run, say, timed, workspace_root},
};

/// What a build produced.
pub struct Built {
    pub ebpf_object: PathBuf,
    pub sensor: PathBuf,
}

fn bpf_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "aarch64"
    } else {
        "x86_64"
    }
}

/// The eBPF crate's build: a separate target dir, because its rustc differs from the host's.
fn ebpf_command(route: Route) -> anyhow::Result<Command> {
    let root = workspace_root();
    let mut path = OsString::from(setup::cargo_bin_dir()); // bpf-linker
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    let rustflags = [
        format!("--cfg=bpf_target_arch=\"{}\"", bpf_arch()),
        "-Cdebuginfo=2".to_owned(),
        "-Clink-arg=--btf".to_owned(),
    ]
    .join("\x1f");
    let mut cmd = match route {
        Route::Debian => {
            // The cargo running xtask, with Debian's rustc (which has the BPF `core`); never
            // the rustup proxy that comes first on PATH. No second cargo is needed.
            let mut c = cargo();
            c.env("RUSTC", setup::program(setup::DEBIAN_RUSTC)?)
                // aya-ebpf uses `asm_experimental_arch`; allow it for that crate only.
                .env("RUSTC_BOOTSTRAP", "aya_ebpf")
                .env_remove("RUSTUP_TOOLCHAIN")
                .env_remove("RUSTDOC");
            c.arg("build");
            c
        }
        Route::Nightly => {
            let mut c = Command::new("rustup");
            c.args(["run", "nightly", "cargo", "build", "-Z", "build-std=core"]);
            c.env_remove("RUSTC").env_remove("RUSTUP_TOOLCHAIN");
            c
        }
    };
    cmd.current_dir(&root)
        .args([
            "--package",
            "sensor-ebpf",
            "--bins",
            "--release",
            "--target",
            "bpfel-unknown-none",
        ])
        .arg("--target-dir")
        .arg(root.join("target/bpf"))
        .env("PATH", path)
        .env("CARGO_ENCODED_RUSTFLAGS", rustflags)
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTFLAGS");
    Ok(cmd)
}

/// `cargo` for the userspace crates, with the checked eBPF object to embed.
pub fn userspace_cargo(built: &Built) -> Command {
    let mut c = cargo();
    c.env("SENSOR_EBPF_OBJ", &built.ebpf_object);
    c
}

pub fn build(route: Route) -> anyhow::Result<Built> {
    let root = workspace_root();
    let ebpf_object = root.join("target/bpf/bpfel-unknown-none/release/sensor-ebpf");
    timed("build eBPF object", || run(&mut ebpf_command(route)?))?;
    let summary = object_check::check(&ebpf_object)?;
    say(format!("eBPF object ok: {summary}"));
    let built = Built {
        ebpf_object,
        sensor: root.join("target/release/sensor"),
    };
    timed("build sensor", || {
        run(userspace_cargo(&built).args([
            "build",
            "--release",
            "--package",
            "sensor",
            "--bin",
            "sensor",
        ]))
    })?;
    say(format!("built {}", built.sensor.display()));
    Ok(built)
}
