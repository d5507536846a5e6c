//! Profiles as users ship them: OCI/Docker seccomp JSON (what runc enforces from a
//! config.json, and Docker from `--security-opt seccomp=`), and the Security Profiles
//! Operator's `SeccompProfile` resource (JSON, which kubectl reads as YAML).
use serde_json::{Value, json};

use crate::syscalls::Arch;

/// The errno the profile returns for calls it does not allow.
pub const DEFAULT_ERRNO: u32 = 1; // EPERM

/// libseccomp's name of a syscall ABI (io_uring operations are no ABI seccomp filters).
pub fn scmp_arch(arch: Arch) -> Option<&'static str> {
    match arch {
        Arch::X86_64 => Some("SCMP_ARCH_X86_64"),
        Arch::X32 => Some("SCMP_ARCH_X32"),
        Arch::I386 => Some("SCMP_ARCH_X86"),
        Arch::Aarch64 => Some("SCMP_ARCH_AARCH64"),
        Arch::IoUring => None,
    }
}

/// What a call the profile does not allow gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Refusal {
    /// EPERM: the process sees a failed call (and may retry it).
    #[default]
    Errno,
    /// The process is killed: it fails loudly instead of spinning on a refused call.
    KillProcess,
}

/// OCI seccomp: deny by default (EPERM, or kill the process), allow the sorted `names`.
pub fn oci(arches: &[Arch], names: &[&str], refused: Refusal) -> Value {
    let mut names: Vec<&str> = names.to_vec();
    names.sort_unstable();
    names.dedup();
    let mut p = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": DEFAULT_ERRNO,
        "architectures": arches.iter().filter_map(|a| scmp_arch(*a)).collect::<Vec<_>>(),
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
    });
    if refused == Refusal::KillProcess {
        p["defaultAction"] = json!("SCMP_ACT_KILL_PROCESS");
        if let Some(o) = p.as_object_mut() {
            o.remove("defaultErrnoRet");
        }
    }
    p
}

/// The Security Profiles Operator resource (security-profiles-operator.x-k8s.io/v1beta1).
pub fn spo(
    name: &str,
    namespace: &str,
    arches: &[Arch],
    names: &[&str],
    refused: Refusal,
) -> Value {
    let profile = oci(arches, names, refused);
    let mut metadata = json!({"name": name});
    if !namespace.is_empty() {
        metadata["namespace"] = json!(namespace);
    }
    json!({
        "apiVersion": "security-profiles-operator.x-k8s.io/v1beta1",
        "kind": "SeccompProfile",
        "metadata": metadata,
        "spec": {
            "defaultAction": profile["defaultAction"],
            "architectures": profile["architectures"],
            "syscalls": profile["syscalls"],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_profile_shape() {
        let p = oci(&[Arch::X86_64], &["write", "read", "read"], Refusal::Errno);
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], 1);
        assert_eq!(p["architectures"][0], "SCMP_ARCH_X86_64");
        assert_eq!(p["syscalls"][0]["names"], json!(["read", "write"]));
        assert_eq!(p["syscalls"][0]["action"], "SCMP_ACT_ALLOW");
        let k = oci(&[Arch::X86_64], &["read"], Refusal::KillProcess);
        assert_eq!(k["defaultAction"], "SCMP_ACT_KILL_PROCESS");
        assert!(k.get("defaultErrnoRet").is_none());
    }

    #[test]
    fn spo_resource_follows_the_crd() {
        let r = spo("web", "team-a", &[Arch::X86_64], &["read"], Refusal::Errno);
        assert_eq!(
            r["apiVersion"],
            "security-profiles-operator.x-k8s.io/v1beta1"
        );
        assert_eq!(r["kind"], "SeccompProfile");
        assert_eq!(
            (
                r["metadata"]["name"].as_str(),
                r["metadata"]["namespace"].as_str()
            ),
            (Some("web"), Some("team-a"))
        );
        assert_eq!(r["spec"]["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(r["spec"]["syscalls"][0]["names"], json!(["read"]));
    }
}
