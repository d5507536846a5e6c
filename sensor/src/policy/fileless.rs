//! Fileless execution: a process that runs a file with no name on any filesystem (a memfd
//! executed through `execveat(fd, "", AT_EMPTY_PATH)` or `/proc/self/fd/N`, or a file deleted
//! after it was opened), or a script run that way (the process runs its interpreter; the
//! kernel side then describes the script's open fd). Decided from the executed file's link
//! count as the kernel has it, not from path strings. runc's own re-exec of its binary from a memfd
//! (`memfd:runc_cloned:/proc/self/exe`, every container start) is recognised and not flagged.
use crate::event::{ExeFile, Exec, Finding, Severity};

/// The dentry name runc gives the memfd it copies itself into before it execs it (runc
/// 1.1's `ensure_cloned_binary`).
const RUNC_CLONE: &[u8] = b"memfd:runc_cloned:/proc/self/exe";

/// The finding for `exec`, if it ran a file with no name on disk. `parent_exe` is the binary
/// of the process that made the exec (runc's re-exec comes from runc itself).
pub fn finding(exec: &Exec, parent_exe: Option<&[u8]>) -> Option<Finding> {
    let file = exec.exe_file.as_ref()?;
    if exec.errno.is_some() || file.nlink != 0 {
        return None;
    }
    if is_runc_reexec(file, parent_exe) {
        return None;
    }
    let what = if file.name.starts_with(b"memfd:") {
        format!(
            "fileless: runs {} (a memfd, no file on disk)",
            file.name.escape_ascii()
        )
    } else {
        format!(
            "fileless: runs {}, a file deleted from disk",
            file.name.escape_ascii()
        )
    };
    Some(Finding {
        what,
        severity: Severity::High,
    })
}

/// runc's re-exec of itself: its memfd's name, made by runc, in the node's own pid
/// namespace. Names alone would let a container name its payload's memfd and its dropper
/// `runc`; runc does this before it enters the container's pid namespace, which a
/// container's process cannot leave. Where the kernel did not give the level, the names
/// decide (as before the level was read).
fn is_runc_reexec(file: &ExeFile, parent_exe: Option<&[u8]>) -> bool {
    file.name == RUNC_CLONE
        && parent_exe.is_some_and(is_runc)
        && file.pid_ns_level.is_none_or(|level| level == 0)
}

/// A runtime binary that clones itself into a memfd: runc (and its shim's children).
fn is_runc(exe: &[u8]) -> bool {
    let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
    base == b"runc" || base.starts_with(b"memfd:runc_cloned")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec_in(nlink: u32, name: &[u8], pid_ns_level: Option<u32>) -> Exec {
        Exec {
            filename: b"/dev/fd/3".as_slice().into(),
            exe_file: Some(ExeFile {
                nlink,
                name: name.to_vec(),
                pid_ns_level,
            }),
            ..Default::default()
        }
    }

    fn exec(nlink: u32, name: &[u8]) -> Exec {
        exec_in(nlink, name, Some(0))
    }

    #[test]
    fn a_memfd_exec_is_fileless_and_runc_s_own_is_not() {
        let f = finding(&exec(0, b"memfd:payload"), Some(b"/bin/sh")).unwrap();
        assert_eq!(f.severity, Severity::High);
        assert!(f.what.contains("memfd:payload"), "{}", f.what);
        assert!(finding(&exec(1, b"true"), Some(b"/bin/sh")).is_none());
        assert!(finding(&exec(0, RUNC_CLONE), Some(b"/usr/sbin/runc")).is_none());
        // The same name from something that is not runc is not let through.
        assert!(finding(&exec(0, RUNC_CLONE), Some(b"/tmp/x")).is_some());
        let deleted = finding(&exec(0, b"dropper"), None).unwrap();
        assert!(deleted.what.contains("deleted"), "{}", deleted.what);
    }

    #[test]
    fn runc_s_names_from_inside_a_pid_namespace_are_a_lookalike() {
        let runc = Some(b"/usr/sbin/runc".as_slice());
        // A container's dropper named runc, running a memfd named as runc's.
        assert!(finding(&exec_in(0, RUNC_CLONE, Some(1)), runc).is_some());
        assert!(finding(&exec_in(0, RUNC_CLONE, Some(0)), runc).is_none());
        // A kernel that did not give the level: the names decide.
        assert!(finding(&exec_in(0, RUNC_CLONE, None), runc).is_none());
    }
}
