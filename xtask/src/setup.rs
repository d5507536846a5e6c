//! `cargo xtask setup`: makes this machine able to build the eBPF crate.
//!
//! Two routes build Rust for `bpfel-unknown-none` without fetching anything at build time:
//! - **debian**: Debian's `rustc-web` (1.96) with its prebuilt BPF `core`
//!   (`libstd-rust-web-dev-bpf`), because rustup's toolchains here have no `rust-src`;
//! - **nightly**: a rustup nightly with `rust-src`, building `core` with `-Z build-std`.
//!
//! Both need bpf-linker at [`BPF_LINKER_VERSION`]. Every step checks before it installs, so a
//! second run only looks around and takes seconds.
use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::util::{output, run, say, timed};

pub const BPF_LINKER_VERSION: &str = "0.13.0";
/// The LLVM that Debian's rustc-web uses; bpf-linker must be linked against the same major.
const DEBIAN_LLVM: &str = "22";
/// Debian packages of the debian route.
const DEBIAN_RUST: &[&str] = &["rustc-web", "libstd-rust-web-dev-bpf"];
/// What building bpf-linker against Debian's LLVM needs.
const DEBIAN_LINKER_BUILD: &[&str] = &[
    "llvm-22-dev",
    "libpolly-22-dev",
    "libzstd-dev",
    "zlib1g-dev",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Debian,
    Nightly,
}

pub fn debian_rustc() -> &'static Path {
    Path::new("/usr/bin/rustc")
}

fn debian_ready() -> bool {
    let lib = Path::new("/usr/lib/rustlib/bpfel-unknown-none/lib");
    debian_rustc().exists()
        && std::fs::read_dir(lib).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
        })
}

fn nightly_ready() -> bool {
    let Some(sysroot) =
        output(Command::new("rustup").args(["run", "nightly", "rustc", "--print", "sysroot"]))
    else {
        return false;
    };
    Path::new(sysroot.trim())
        .join("lib/rustlib/src/rust/library/core")
        .is_dir()
}

fn has_apt() -> bool {
    Path::new("/usr/bin/apt-get").exists()
}

fn missing_packages(pkgs: &[&str]) -> Vec<String> {
    pkgs.iter()
        .filter(|p| {
            !output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_some_and(|s| s.contains("install ok installed"))
        })
        .map(|p| p.to_string())
        .collect()
}

/// Installs Debian packages that are missing, saying which.
pub fn apt_install(pkgs: &[&str], why: &str) -> anyhow::Result<()> {
    let missing = missing_packages(pkgs);
    if missing.is_empty() {
        return Ok(());
    }
    if !has_apt() {
        bail!(
            "missing {} ({why}) and this machine has no apt-get: install them by hand",
            missing.join(" ")
        );
    }
    if !crate::util::is_root() {
        bail!(
            "missing {} ({why}): run `sudo apt-get install {}` or rerun as root",
            missing.join(" "),
            missing.join(" ")
        );
    }
    say(format!(
        "installing {} ({why}) with apt-get",
        missing.join(" ")
    ));
    timed("apt-get install", || {
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    })
}

/// Which route this machine offers, installing the Debian one when neither is there.
fn choose_route() -> anyhow::Result<Route> {
    match std::env::var("SENSOR_EBPF_ROUTE").as_deref() {
        Ok("debian") => return Ok(Route::Debian),
        Ok("nightly") => return Ok(Route::Nightly),
        Ok(other) => bail!("SENSOR_EBPF_ROUTE={other:?}: expected \"debian\" or \"nightly\""),
        Err(_) => {}
    }
    if debian_ready() {
        return Ok(Route::Debian);
    }
    if nightly_ready() {
        return Ok(Route::Nightly);
    }
    if has_apt() {
        say(
            "no toolchain here can build for bpfel-unknown-none yet; using Debian's rustc-web route",
        );
        apt_install(
            DEBIAN_RUST,
            "Debian's rustc with a prebuilt core for the BPF target",
        )?;
        if debian_ready() {
            return Ok(Route::Debian);
        }
        bail!(
            "installed {} but /usr/lib/rustlib/bpfel-unknown-none has no libcore",
            DEBIAN_RUST.join(" ")
        );
    }
    bail!(
        "cannot build the eBPF crate: this machine has neither Debian's rustc-web with \
         libstd-rust-web-dev-bpf nor a rustup nightly with rust-src \
         (`rustup toolchain install nightly --component rust-src`)"
    )
}

/// Where cargo installs binaries.
pub fn cargo_bin_dir() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        });
    home.join("bin")
}

pub fn bpf_linker() -> PathBuf {
    let p = cargo_bin_dir().join("bpf-linker");
    if p.exists() {
        p
    } else {
        PathBuf::from("bpf-linker")
    }
}

fn ensure_bpf_linker(route: Route) -> anyhow::Result<()> {
    let version = output(Command::new(bpf_linker()).arg("--version")).unwrap_or_default();
    if version.split_whitespace().any(|w| w == BPF_LINKER_VERSION) {
        return Ok(());
    }
    let found = if version.is_empty() {
        "none".to_owned()
    } else {
        version.trim().to_owned()
    };
    say(format!(
        "installing bpf-linker {BPF_LINKER_VERSION} with cargo install (found: {found})"
    ));
    let mut cmd = crate::util::cargo();
    cmd.args([
        "install",
        "bpf-linker",
        "--version",
        BPF_LINKER_VERSION,
        "--locked",
        "--force",
    ]);
    if route == Route::Debian {
        apt_install(
            DEBIAN_LINKER_BUILD,
            "to build bpf-linker against Debian's LLVM",
        )?;
        cmd.args([
            "--no-default-features",
            "--features",
            &format!("llvm-{DEBIAN_LLVM}"),
        ])
        .env("LLVM_PREFIX", format!("/usr/lib/llvm-{DEBIAN_LLVM}"));
    }
    timed("cargo install bpf-linker", || run(&mut cmd))
        .context("building bpf-linker (it links against LLVM: are its -dev packages installed?)")
}

pub fn setup() -> anyhow::Result<Route> {
    let route = choose_route()?;
    ensure_bpf_linker(route)?;
    say(format!(
        "setup ok: {route:?} route, bpf-linker {BPF_LINKER_VERSION}"
    ));
    Ok(route)
}
