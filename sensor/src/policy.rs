//! What is forbidden. For now: the built-in default set, compiled into the kernel's bitmap.
use sensor_common::{FORBIDDEN_MAX_NR, FORBIDDEN_WORDS};

use crate::syscalls::{self, Arch};

/// Syscalls flagged by default: each lets a container reach outside itself (mounts, root
/// changes, namespaces, other processes' memory, the kernel itself).
pub const DEFAULT_FORBIDDEN: &[&str] = &[
    "mount",
    "umount2",
    "move_mount",
    "fsopen",
    "fsmount",
    "chroot",
    "pivot_root",
    "unshare",
    "setns",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "init_module",
    "finit_module",
    "delete_module",
    "kexec_load",
    "kexec_file_load",
    "bpf",
    "open_by_handle_at",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    #[error("unknown syscall {name:?} on {arch}")]
    UnknownSyscall { name: String, arch: &'static str },
    #[error("syscall {name:?} has number {nr} on {arch}, above the {max} the kernel filter holds")]
    OutOfRange {
        name: String,
        nr: u64,
        arch: &'static str,
        max: u64,
    },
}

/// The in-kernel form of a forbidden set: bit `nr` of the array is set for each syscall.
pub type ForbiddenBitmap = [u64; FORBIDDEN_WORDS as usize];

/// Builds the kernel bitmap for `names` on `arch`. Every name must exist on `arch`.
pub fn forbidden_bitmap<'a>(
    arch: Arch,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<ForbiddenBitmap, PolicyError> {
    let mut bitmap = [0u64; FORBIDDEN_WORDS as usize];
    for name in names {
        let nr = syscalls::number(arch, name).ok_or_else(|| PolicyError::UnknownSyscall {
            name: name.to_owned(),
            arch: arch.name(),
        })?;
        if nr >= FORBIDDEN_MAX_NR {
            return Err(PolicyError::OutOfRange {
                name: name.to_owned(),
                nr,
                arch: arch.name(),
                max: FORBIDDEN_MAX_NR,
            });
        }
        bitmap[(nr / 64) as usize] |= 1 << (nr % 64);
    }
    Ok(bitmap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_set(b: &ForbiddenBitmap, nr: u64) -> bool {
        b[(nr / 64) as usize] >> (nr % 64) & 1 == 1
    }

    #[test]
    fn default_set_exists_on_both_arches() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            let b = forbidden_bitmap(arch, DEFAULT_FORBIDDEN.iter().copied()).unwrap();
            let mount = syscalls::number(arch, "mount").unwrap();
            let getpid = syscalls::number(arch, "getpid").unwrap();
            assert!(is_set(&b, mount));
            assert!(!is_set(&b, getpid));
            let bits: u32 = b.iter().map(|w| w.count_ones()).sum();
            assert_eq!(bits as usize, DEFAULT_FORBIDDEN.len());
        }
    }

    #[test]
    fn unknown_name_is_refused_with_its_name() {
        let e = forbidden_bitmap(Arch::X86_64, ["mount", "mountt"]).unwrap_err();
        assert_eq!(e.to_string(), "unknown syscall \"mountt\" on x86_64");
    }
}
