//! What xtask installed on this machine, and how to take it away again.
//!
//! Every install xtask makes goes through this ledger: the Debian packages that were not there
//! before (dependencies included, found by comparing the package list before and after), the
//! tools `cargo install` added, and the Python venvs it made. `cargo xtask fresh` reads the
//! ledger and removes exactly those, so that CI starts each run from the state of a fresh
//! machine and proves the install steps. It never removes a package the machine starts with
//! ([`BASELINE`], the package list of a fresh machine of this kind).
//!
//! The ledger lives outside the work tree (`/var/lib/sensor-xtask` as root), because CI
//! clones the repository anew for every run while the machine keeps what was installed.
use std::{
    collections::BTreeSet,
    fs::OpenOptions,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, bail};

use crate::util::{is_root, output, run, say, timed};

/// The Debian packages of a fresh machine of this kind (one name a line, `#` comments):
/// whatever is listed here is never removed.
pub const BASELINE: &str = include_str!("../fresh-machine-packages.txt");

/// One thing xtask installed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    /// A Debian package that was not installed before.
    Apt(String),
    /// A crate installed with `cargo install`, by its crate name.
    Cargo(String),
    /// A directory xtask made (a Python venv).
    Dir(PathBuf),
}

impl Entry {
    fn line(&self) -> String {
        match self {
            Entry::Apt(p) => format!("apt\t{p}"),
            Entry::Cargo(c) => format!("cargo\t{c}"),
            Entry::Dir(d) => format!("dir\t{}", d.display()),
        }
    }

    fn parse(line: &str) -> Option<Entry> {
        let (kind, what) = line.split_once('\t')?;
        match kind {
            "apt" => Some(Entry::Apt(what.to_owned())),
            "cargo" => Some(Entry::Cargo(what.to_owned())),
            "dir" => Some(Entry::Dir(PathBuf::from(what))),
            _ => None,
        }
    }
}

fn ledger_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SENSOR_XTASK_LEDGER") {
        return PathBuf::from(p);
    }
    if is_root() {
        return PathBuf::from("/var/lib/sensor-xtask/installed");
    }
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    home.join(".local/state/sensor-xtask/installed")
}

/// Adds entries to the ledger (each once).
pub fn record(entries: &[Entry]) -> anyhow::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let path = ledger_path();
    let known = read(&path)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening the install ledger {}", path.display()))?;
    for e in entries.iter().filter(|e| !known.contains(e)) {
        writeln!(f, "{}", e.line())?;
    }
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<BTreeSet<Entry>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.lines().filter_map(Entry::parse).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The Debian packages installed now.
pub fn installed_packages() -> BTreeSet<String> {
    output(Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev} ${Package}\n"]))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("ii"))
        .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .collect()
}

pub fn baseline() -> BTreeSet<&'static str> {
    BASELINE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Runs an install and records every package it added.
pub fn apt_recorded(install: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let before = installed_packages();
    let result = install();
    // Recorded even when the install failed partway: what it left is ours too.
    let added: Vec<Entry> = installed_packages()
        .difference(&before)
        .map(|p| Entry::Apt(p.clone()))
        .collect();
    record(&added)?;
    result
}

/// `cargo xtask fresh`: removes what the ledger says xtask installed, plus `extra_packages`
/// and `extra_crates` (what xtask would install, in case they came by hand), never a package
/// of the fresh machine.
pub fn fresh(extra_packages: &[&str], extra_crates: &[&str]) -> anyhow::Result<()> {
    if !is_root() {
        bail!("removing Debian packages needs root: run `sudo cargo xtask fresh`");
    }
    let path = ledger_path();
    let entries = read(&path)?;
    let base = baseline();
    let installed = installed_packages();
    let mut apt: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Apt(p) => Some(p.clone()),
            _ => None,
        })
        .chain(extra_packages.iter().map(|p| p.to_string()))
        .filter(|p| installed.contains(p) && !base.contains(p.as_str()))
        .collect();
    purge("Debian package(s) that xtask installed", &apt)?;
    // What came with them as dependencies and is now unneeded, as apt itself sees it; never
    // a package of the fresh machine.
    apt = autoremovable()
        .into_iter()
        .filter(|p| !base.contains(p.as_str()))
        .collect();
    purge("package(s) left unneeded", &apt)?;
    let crates: BTreeSet<String> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Cargo(c) => Some(c.clone()),
            _ => None,
        })
        .chain(extra_crates.iter().map(|c| c.to_string()))
        .collect();
    for c in crates {
        let bin = crate::setup::cargo_bin_dir().join(&c);
        if output(crate::util::cargo().args(["install", "--list"]))
            .is_some_and(|l| l.lines().any(|l| l.starts_with(&format!("{c} "))))
        {
            say(format!("removing {c} (cargo uninstall)"));
            run(crate::util::cargo().args(["uninstall", &c]))?;
        } else if bin.exists() {
            bail!(
                "{} exists but cargo does not list it as installed: remove it by hand",
                bin.display()
            );
        }
    }
    for e in &entries {
        if let Entry::Dir(d) = e
            && d.is_dir()
        {
            say(format!("removing {}", d.display()));
            std::fs::remove_dir_all(d).with_context(|| format!("removing {}", d.display()))?;
        }
    }
    if path.exists() {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    }
    let others: Vec<String> = installed_packages()
        .into_iter()
        .filter(|p| !base.contains(p.as_str()))
        .collect();
    if !others.is_empty() {
        // Not xtask's to remove; named so that a test that needs them is not mistaken for one
        // that passes on a fresh machine.
        say(format!(
            "left in place, not on a fresh machine and not installed by xtask: {}",
            others.join(" ")
        ));
    }
    say("this machine is back to its fresh state for everything xtask installs");
    Ok(())
}

fn purge(what: &str, packages: &BTreeSet<String>) -> anyhow::Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    let list: Vec<&str> = packages.iter().map(String::as_str).collect();
    say(format!(
        "removing {} {what}: {}",
        list.len(),
        list.join(" ")
    ));
    timed("apt-get purge", || {
        crate::util::run_logged(
            Command::new("apt-get")
                .args(["purge", "-y"])
                .args(&list)
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get-purge",
        )
    })
}

/// What `apt-get autoremove` would remove now.
fn autoremovable() -> Vec<String> {
    output(Command::new("apt-get").args(["-s", "autoremove"]))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("Remv "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        for e in [
            Entry::Apt("rustc-web".into()),
            Entry::Cargo("bpf-linker".into()),
            Entry::Dir("/w/target/pyvenv".into()),
        ] {
            assert_eq!(Entry::parse(&e.line()), Some(e));
        }
        assert_eq!(Entry::parse("garbage"), None);
    }

    #[test]
    fn baseline_is_a_fresh_machine() {
        let b = baseline();
        // What a fresh machine has, and what only xtask brings.
        assert!(b.contains("python3-venv") && b.contains("coreutils"));
        for ours in ["rustc-web", "runc", "bpf-linker", "cargo-web", "bpftrace"] {
            assert!(!b.contains(ours), "{ours} is not on a fresh machine");
        }
    }
}
