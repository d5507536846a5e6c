//! `sensor profile try PROFILE -- CMD ...`: runs a command under an OCI seccomp profile, with
//! the filter applied for real (seccompiler), and says whether it still works. Signals that
//! stop `try` are passed on to the command.
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
    #[serde(default)]
    args: Vec<serde_json::Value>,
}

/// An OCI action as seccompiler's (`errno` for SCMP_ACT_ERRNO).
fn action(name: &str, errno: u32) -> anyhow::Result<SeccompAction> {
    Ok(match name {
        "SCMP_ACT_ALLOW" => SeccompAction::Allow,
        "SCMP_ACT_ERRNO" => SeccompAction::Errno(errno),
        "SCMP_ACT_KILL_PROCESS" => SeccompAction::KillProcess,
        "SCMP_ACT_KILL" | "SCMP_ACT_KILL_THREAD" => SeccompAction::KillThread,
        "SCMP_ACT_LOG" => SeccompAction::Log,
        other => bail!("action {other:?} cannot be tried (ALLOW, ERRNO, KILL*, LOG can)"),
    })
}

/// The filter an OCI profile describes: a default action, and one other action for every
/// listed call (an allow list under ERRNO or KILL_PROCESS, or a deny list under ALLOW; an
/// ALLOW profile without rules allows everything, which marks the hand-over for learning).
/// Argument conditions are not supported: a rule with them is refused.
pub fn filter_of(json: &str, arch: Arch) -> anyhow::Result<(seccompiler::BpfProgram, Vec<String>)> {
    let p: OciProfile = serde_json::from_str(json).context("not an OCI seccomp profile")?;
    let errno = p.default_errno_ret.unwrap_or(libc::EPERM as u32);
    let default = action(&p.default_action, errno)?;
    let mut rules = BTreeMap::new();
    let mut unknown = Vec::new();
    let mut matched: Option<SeccompAction> = None;
    for rule in &p.syscalls {
        if !rule.args.is_empty() {
            bail!(
                "a rule with argument conditions ({}) cannot be tried",
                rule.names.join(", ")
            );
        }
        let a = action(&rule.action, libc::EPERM as u32)?;
        if a == default {
            continue; // says what the default says
        }
        if matched.as_ref().is_some_and(|m| *m != a) {
            bail!(
                "rules with different actions ({:?} and {:?}) cannot be tried",
                matched,
                rule.action
            );
        }
        matched = Some(a);
        for name in &rule.names {
            match syscalls::number(arch, name) {
                Some(nr) => {
                    rules.insert(nr as i64, vec![]);
                }
                None => unknown.push(name.clone()),
            }
        }
    }
    // With no rules the matched action never applies; it only has to differ from the default.
    let matched = matched.unwrap_or(if default == SeccompAction::Allow {
        SeccompAction::Errno(libc::EPERM as u32)
    } else {
        SeccompAction::Allow
    });
    let target = std::env::consts::ARCH
        .try_into()
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let filter = SeccompFilter::new(rules, default, matched, target)
        .map_err(|e| anyhow::anyhow!("building the filter: {e}"))?;
    let program: seccompiler::BpfProgram = filter
        .try_into()
        .map_err(|e| anyhow::anyhow!("compiling the filter: {e:?}"))?;
    Ok((program, unknown))
}

/// The child `try` runs, for the signal handler (0: none yet).
static CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// SIGTERM, SIGINT and SIGHUP sent to `try` go to the command (a service manager or a test
/// stops `try`, and means the command).
fn forward_signals(child: u32) {
    CHILD.store(child as i32, std::sync::atomic::Ordering::Relaxed);
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: the handler only reads an atomic and calls kill.
        unsafe { libc::signal(sig, forward as *const () as libc::sighandler_t) };
    }
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
    let mut child = command
        .spawn()
        .with_context(|| format!("running {prog} under the profile (is execve in it?)"))?;
    forward_signals(child.id());
    let status = child.wait().context("waiting for the command")?;
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
        let everything = r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#;
        assert!(filter_of(everything, Arch::NATIVE).is_ok());
        let kill = r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#;
        assert!(filter_of(kill, Arch::NATIVE).is_ok());
        let mixed = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"},{"names":["chroot"],"action":"SCMP_ACT_KILL_PROCESS"}]}"#;
        let e = filter_of(mixed, Arch::NATIVE).unwrap_err().to_string();
        assert!(e.contains("different actions"), "{e}");
        let odd = r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#;
        assert!(filter_of(odd, Arch::NATIVE).is_err());
        assert!(filter_of("{", Arch::NATIVE).is_err());
    }
}
