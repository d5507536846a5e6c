//! `sensor profile try PROFILE -- CMD ...`: runs a command under an OCI seccomp profile, with
//! the filter applied for real (seccompiler), and says whether it still works.
use std::{
    collections::BTreeMap, os::unix::process::CommandExt as _, path::Path, process::Command,
};

use anyhow::{Context as _, bail};
use seccompiler::{SeccompAction, SeccompFilter};
use serde::Deserialize;

use crate::syscalls::{self, Arch};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OciProfile {
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    syscalls: Vec<OciRule>,
}

#[derive(Deserialize)]
struct OciRule {
    names: Vec<String>,
    action: String,
}

/// The filter an OCI profile describes (allow-list profiles: default ERRNO, ALLOW rules).
pub fn filter_of(json: &str, arch: Arch) -> anyhow::Result<(seccompiler::BpfProgram, Vec<String>)> {
    let p: OciProfile = serde_json::from_str(json).context("not an OCI seccomp profile")?;
    if p.default_action != "SCMP_ACT_ERRNO" {
        bail!(
            "defaultAction {:?}: only SCMP_ACT_ERRNO (allow-list) profiles can be tried",
            p.default_action
        );
    }
    let mut rules = BTreeMap::new();
    let mut unknown = Vec::new();
    for rule in &p.syscalls {
        if rule.action != "SCMP_ACT_ALLOW" {
            bail!(
                "action {:?}: only SCMP_ACT_ALLOW rules can be tried",
                rule.action
            );
        }
        for name in &rule.names {
            match syscalls::number(arch, name) {
                Some(nr) => {
                    rules.insert(nr as i64, vec![]);
                }
                None => unknown.push(name.clone()),
            }
        }
    }
    let target = std::env::consts::ARCH
        .try_into()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let errno = p.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(errno),
        SeccompAction::Allow,
        target,
    )
    .map_err(|e| anyhow::anyhow!("building the filter: {e}"))?;
    let program: seccompiler::BpfProgram = filter
        .try_into()
        .map_err(|e| anyhow::anyhow!("compiling the filter: {e:?}"))?;
    Ok((program, unknown))
}

/// Runs `cmd` under the profile at `path`; returns its exit code.
pub fn run(path: &Path, cmd: &[String]) -> anyhow::Result<i32> {
    let json =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let (program, unknown) = filter_of(&json, Arch::NATIVE)?;
    if !unknown.is_empty() {
        eprintln!(
            "note: not syscalls on {}: {}",
            Arch::NATIVE.name(),
            unknown.join(", ")
        );
    }
    let (prog, args) = cmd.split_first().context("give a command after --")?;
    let mut command = Command::new(prog);
    command.args(args);
    // SAFETY: between fork and exec the child only applies the filter (prctl + seccomp).
    unsafe {
        command.pre_exec(move || {
            seccompiler::apply_filter(&program).map_err(|e| std::io::Error::other(e.to_string()))
        });
    }
    let status = command
        .status()
        .with_context(|| format!("running {prog} under the profile (is execve in it?)"))?;
    let code = status
        .code()
        .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0));
    if status.success() {
        eprintln!("ok: {prog} succeeded under {}", path.display());
    } else {
        eprintln!(
            "FAILED: {prog} exited {code} under {}. Calls the profile refused show up in \
             `sensor events` as BLOCKED-BEFORE-ENTRY when they are in the forbidden set; \
             compare with a run without the profile.",
            path.display()
        );
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allow_list_profiles_are_tried() {
        let ok = r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":1,"syscalls":[{"names":["read","nosuchcall"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let (_, unknown) = filter_of(ok, Arch::NATIVE).unwrap();
        assert_eq!(unknown, ["nosuchcall"]);
        let bad = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}"#;
        assert!(
            filter_of(bad, Arch::NATIVE)
                .unwrap_err()
                .to_string()
                .contains("allow-list")
        );
        assert!(filter_of("{", Arch::NATIVE).is_err());
    }
}
