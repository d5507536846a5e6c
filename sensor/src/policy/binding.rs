//! Profiles bound to workloads, for drift. A binding says: containers that match these
//! matchers (the same as an exception's: container id, pod glob, image, ...) should make only
//! the calls this seccomp profile allows. The kernel checks every call of a bound cgroup
//! against the profile (`BOUND`, see `bound.rs`); a call outside it is a profile deviation.
//!
//! A profile comes from a file named in the policy (`[[profiles]]`), from the API
//! (`BindProfile` with the profile's JSON), or from freezing what a container was learned
//! doing (`BindProfile` with `freeze_container_id`).
use std::sync::Arc;

use serde::Deserialize;

use super::Exception;
use crate::syscalls::{self, Arch, SyscallBitmap};

/// An OCI (Docker, runc) seccomp profile, as far as a binding reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciProfile {
    pub default_action: String,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub syscalls: Vec<OciRule>,
}

#[derive(Deserialize)]
pub struct OciRule {
    pub names: Vec<String>,
    pub action: String,
    #[serde(default)]
    pub args: Vec<serde_json::Value>,
}

/// One profile bound to the containers its matchers select.
#[derive(Debug)]
pub struct Binding {
    /// How events and the API name it (the file, or the name given to the API).
    pub name: String,
    /// Who it binds: every matcher given must match (its `syscalls` are unused).
    pub who: Exception,
    /// The calls it allows, by syscall key (native and compat).
    pub allowed: SyscallBitmap,
    /// How many calls it allows, for messages.
    pub calls: usize,
}

impl Binding {
    /// A binding of the profile `json` (an OCI seccomp profile) to `who`.
    pub fn new(name: &str, who: Exception, json: &str) -> Result<Arc<Self>, String> {
        let allowed = allowed_by(json)?;
        let calls = allowed.iter().map(|w| w.count_ones() as usize).sum();
        Ok(Arc::new(Self {
            name: name.to_owned(),
            who,
            allowed,
            calls,
        }))
    }

    /// Does the profile allow syscall key `key`?
    pub fn allows(&self, key: u64) -> bool {
        syscalls::contains(&self.allowed, key)
    }
}

/// The calls an OCI seccomp profile lets through, by syscall key: under a refusing default,
/// the names of its ALLOW (and LOG) rules; under an ALLOW default, every call but the names
/// of its other rules. A rule with argument conditions counts as allowing its calls (the
/// binding is then looser than the filter, never stricter). Compat (i386) calls are allowed
/// only when the profile lists `SCMP_ARCH_X86`, as seccomp does. Names that are no syscall of
/// this machine (another architecture's) are skipped.
pub fn allowed_by(json: &str) -> Result<SyscallBitmap, String> {
    let p: OciProfile =
        serde_json::from_str(json).map_err(|e| format!("not an OCI seccomp profile: {e}"))?;
    let lets_through = |action: &str| matches!(action, "SCMP_ACT_ALLOW" | "SCMP_ACT_LOG");
    let default_allows = lets_through(&p.default_action);
    let mut abis = vec![Arch::NATIVE];
    if let Some(compat) = Arch::NATIVE.compat()
        && p.architectures
            .iter()
            .any(|a| a == compat_arch_name(compat))
    {
        abis.push(compat);
    }
    let mut allowed = [0u64; sensor_common::FORBIDDEN_WORDS as usize];
    let mut set = |abi: Arch, nr: u64, on: bool| {
        if let Some(key) = abi.key(nr) {
            let (w, b) = ((key / 64) as usize, key % 64);
            if on {
                allowed[w] |= 1 << b;
            } else {
                allowed[w] &= !(1 << b);
            }
        }
    };
    if default_allows {
        for &abi in &abis {
            for nr in 0..sensor_common::ABI_NRS {
                if syscalls::name(abi, nr).is_some() {
                    set(abi, nr, true);
                }
            }
        }
    }
    for rule in &p.syscalls {
        let on = lets_through(&rule.action);
        if on == default_allows {
            continue; // says what the default says
        }
        for name in &rule.names {
            for &abi in &abis {
                if let Some(nr) = syscalls::number(abi, name) {
                    set(abi, nr, on);
                }
            }
        }
    }
    Ok(allowed)
}

/// The OCI name of an architecture.
fn compat_arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::I386 => "SCMP_ARCH_X86",
        Arch::Aarch64 => "SCMP_ARCH_AARCH64",
        Arch::X32 => "SCMP_ARCH_X32",
        _ => "SCMP_ARCH_X86_64",
    }
}

/// The native calls some binding does not allow: their exits must be hooked, so that a
/// seccomp refusal of one (which never reaches the entry hook) is seen. Calls every profile
/// allows keep costing nothing on their way out.
pub fn outside_intersection(bindings: &[Arc<Binding>], arch: Arch) -> SyscallBitmap {
    let mut out = [0u64; sensor_common::FORBIDDEN_WORDS as usize];
    for nr in 0..sensor_common::ABI_NRS {
        let Some(key) = arch.key(nr) else { continue };
        if syscalls::name(arch, nr).is_some() && bindings.iter().any(|b| !b.allows(key)) {
            out[(key / 64) as usize] |= 1 << (key % 64);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> u64 {
        Arch::NATIVE
            .key(syscalls::number(Arch::NATIVE, name).unwrap())
            .unwrap()
    }

    #[test]
    fn an_allow_list_allows_its_names_on_its_architectures() {
        let json = r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64"],
            "syscalls":[{"names":["read","write","no_such_call"],"action":"SCMP_ACT_ALLOW"}]}"#;
        let b = Binding::new("t", Exception::default(), json).unwrap();
        assert!(b.allows(key("read")) && b.allows(key("write")));
        assert!(!b.allows(key("mount")));
        assert_eq!(b.calls, 2);
        let compat = Arch::NATIVE.compat().unwrap();
        let compat_read = compat
            .key(syscalls::number(compat, "read").unwrap())
            .unwrap();
        assert!(!b.allows(compat_read), "no SCMP_ARCH_X86: no compat call");
        let with_x86 = json.replace(
            r#"["SCMP_ARCH_X86_64"]"#,
            r#"["SCMP_ARCH_X86_64","SCMP_ARCH_X86"]"#,
        );
        let b = Binding::new("t", Exception::default(), &with_x86).unwrap();
        assert!(b.allows(compat_read));
    }

    #[test]
    fn a_deny_list_allows_everything_else() {
        let json = r#"{"defaultAction":"SCMP_ACT_ALLOW",
            "syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}"#;
        let b = Binding::new("t", Exception::default(), json).unwrap();
        assert!(!b.allows(key("mount")));
        assert!(b.allows(key("read")) && b.allows(key("unshare")));
    }

    #[test]
    fn a_policy_file_binds_profiles_from_files_next_to_it() {
        let dir = std::env::temp_dir().join(format!("sensor-binding-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("web.json"),
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        let source = dir.join("policy.toml").display().to_string();
        let p = crate::policy::file::parse(
            "[[profiles]]\nimage = \"nginx:*\"\nfile = \"web.json\"\nname = \"web\"\n",
            &source,
        )
        .unwrap();
        assert_eq!(p.bindings.len(), 1);
        assert_eq!(
            (p.bindings[0].name.as_str(), p.bindings[0].calls),
            ("web", 1)
        );
        for (text, why) in [
            ("[[profiles]]\nimage = \"x\"\n", "no `file`"),
            ("[[profiles]]\nfile = \"web.json\"\n", "names no container"),
            (
                "[[profiles]]\nimage = \"x\"\nfile = \"missing.json\"\n",
                "missing.json",
            ),
            (
                "[[profiles]]\nimage = \"x\"\nfile = \"web.json\"\nsyscalls = [\"read\"]\n",
                "lists no syscalls",
            ),
            (
                "[[exceptions]]\nimage = \"x\"\nfile = \"web.json\"\n",
                "belong in [[profiles]]",
            ),
        ] {
            let e = crate::policy::file::parse(text, &source).unwrap_err();
            assert!(e.message.contains(why), "{text}: {e}");
            assert_eq!(e.line, 1, "{text}: {e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_profiles_are_refused_with_the_reason() {
        let e = Binding::new("t", Exception::default(), "{}").unwrap_err();
        assert!(e.contains("defaultAction"), "{e}");
    }

    #[test]
    fn only_calls_some_profile_refuses_need_their_exit_hooked() {
        let a = Binding::new(
            "a",
            Exception::default(),
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mount"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let b = Binding::new(
            "b",
            Exception::default(),
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chroot"],"action":"SCMP_ACT_ERRNO"}]}"#,
        )
        .unwrap();
        let out = outside_intersection(&[a, b], Arch::NATIVE);
        assert!(syscalls::contains(&out, key("mount")) && syscalls::contains(&out, key("chroot")));
        assert!(!syscalls::contains(&out, key("read")));
        assert_eq!(out.iter().map(|w| w.count_ones()).sum::<u32>(), 2);
    }
}
