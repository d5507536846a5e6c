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

use crate::{
    ledger::{self, Entry},
    util::{output, run_logged, say, timed},
};

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

/// Every program xtask runs by an absolute path, with the Debian package that provides it.
/// Each package is one that setup installs (see [`installed_by_xtask`]) or one a fresh machine
/// has (`fresh-machine-packages.txt`); a unit test holds every such path in xtask's sources to
/// this table, so a build that needs a program nobody installs cannot land.
pub const ABSOLUTE_PROGRAMS: &[(&str, &str)] = &[
    (DEBIAN_RUSTC, "rustc-web"),
    (APT_GET, "apt"),
    (DPKG_QUERY, "dpkg"),
];
pub const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const APT_GET: &str = "/usr/bin/apt-get";
const DPKG_QUERY: &str = "/usr/bin/dpkg-query";

/// Every Debian package xtask may install, for any command.
pub fn installed_by_xtask() -> Vec<&'static str> {
    [
        DEBIAN_RUST,
        DEBIAN_LINKER_BUILD,
        crate::test::E2E_PACKAGES,
        crate::test::BENCH_PACKAGES,
        crate::python::APT_PACKAGES,
    ]
    .concat()
}

/// Every tool xtask may install with `cargo install`.
pub const CARGO_TOOLS: &[&str] = &["bpf-linker", crate::fuzz::CARGO_FUZZ];

/// A program of [`ABSOLUTE_PROGRAMS`] that the next step runs, or an error naming the package
/// that provides it.
pub fn program(path: &'static str) -> anyhow::Result<&'static Path> {
    let Some((_, package)) = ABSOLUTE_PROGRAMS.iter().find(|(p, _)| *p == path) else {
        bail!("{path} is not in ABSOLUTE_PROGRAMS (xtask/src/setup.rs)");
    };
    let p = Path::new(path);
    if !p.exists() {
        bail!(
            "{path} is missing: it comes from the Debian package {package} (`cargo xtask setup` installs it)"
        );
    }
    Ok(p)
}

fn debian_ready() -> bool {
    let lib = Path::new("/usr/lib/rustlib/bpfel-unknown-none/lib");
    Path::new(DEBIAN_RUSTC).exists()
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
    Path::new(APT_GET).exists()
}

fn missing_packages(pkgs: &[&str]) -> Vec<String> {
    pkgs.iter()
        .filter(|p| {
            !output(Command::new(DPKG_QUERY).args(["-W", "-f=${Status}", p]))
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
        ledger::apt_recorded(|| {
            run_logged(Command::new(APT_GET).arg("update"), "apt-get-update")?;
            run_logged(
                Command::new(APT_GET)
                    .args(["install", "-y", "--no-install-recommends"])
                    .args(&missing)
                    .env("DEBIAN_FRONTEND", "noninteractive"),
                "apt-get-install",
            )
        })
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
    cargo_install("bpf-linker", &mut cmd)
        .context("building bpf-linker (it links against LLVM: are its -dev packages installed?)")
}

/// Runs a `cargo install` of `krate` and records it in the ledger.
pub fn cargo_install(krate: &str, cmd: &mut Command) -> anyhow::Result<()> {
    ledger::record(&[Entry::Cargo(krate.to_owned())])?;
    timed(&format!("cargo install {krate}"), || {
        run_logged(cmd, &format!("cargo-install-{krate}"))
    })
}

pub fn setup() -> anyhow::Result<Route> {
    let route = choose_route()?;
    ensure_bpf_linker(route)?;
    say(format!(
        "setup ok: {route:?} route, bpf-linker {BPF_LINKER_VERSION}"
    ));
    Ok(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The contents of the string literals in Rust source (escapes kept as written; comments
    /// and char literals skipped).
    fn string_literals(text: &str) -> Vec<&str> {
        let b = text.as_bytes();
        let (mut i, mut out) = (0, Vec::new());
        while i < b.len() {
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    i = text[i..].find('\n').map_or(b.len(), |n| i + n);
                }
                b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
                b'"' => {
                    let start = i + 1;
                    i = start;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    out.push(&text[start..i.min(b.len())]);
                    i += 1;
                }
                _ => i += 1,
            }
        }
        out
    }

    /// The string literals in xtask's sources that name a program by an absolute path.
    fn absolute_program_literals() -> Vec<(String, String)> {
        let dir = crate::util::workspace_root().join("xtask/src");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            // The code, not its tests (which name paths as data).
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for literal in string_literals(code) {
                let is_program = ["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/"]
                    .iter()
                    .any(|d| literal.starts_with(d));
                if is_program && !literal.contains(' ') {
                    found.push((path.display().to_string(), literal.to_owned()));
                }
            }
        }
        found
    }

    #[test]
    fn literals_are_found_past_escapes_and_comments() {
        let src = r#"let a = format!("x=\"{}\"", 1); // "/bin/no"
            let c = '"'; Command::new("/usr/bin/cargo")"#;
        assert_eq!(string_literals(src), [r#"x=\"{}\""#, "/usr/bin/cargo"]);
    }

    #[test]
    fn every_absolute_program_is_installed_or_on_a_fresh_machine() {
        let literals = absolute_program_literals();
        assert!(
            literals.iter().any(|(_, l)| l == DEBIAN_RUSTC),
            "the scan finds nothing: {literals:?}"
        );
        for (file, literal) in &literals {
            assert!(
                ABSOLUTE_PROGRAMS.iter().any(|(p, _)| p == literal),
                "{file} runs {literal:?} by an absolute path, but ABSOLUTE_PROGRAMS in \
                 xtask/src/setup.rs does not say which package provides it: add it there, and \
                 make setup install that package (or use a program on PATH)"
            );
        }
        let base = ledger::baseline();
        let ours = installed_by_xtask();
        for (program, package) in ABSOLUTE_PROGRAMS {
            assert!(
                ours.contains(package) || base.contains(package),
                "{program} comes from the Debian package {package}, which setup never installs \
                 and a fresh machine does not have: add it to what setup installs"
            );
        }
    }
}
