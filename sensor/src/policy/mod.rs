//! What is forbidden, how bad each call is, and who is excepted. A [`Policy`] comes from the
//! built-in defaults ([`defaults`]) or a TOML file ([`file`]); it compiles to the kernel's
//! forbidden-syscall bitmap and, per cgroup, to a bitmap of excepted calls.
pub mod apply;
pub mod binding;
pub mod bound;
pub mod condition;
pub mod defaults;
pub mod engine;
pub mod file;
pub mod fileless;
pub mod reload;

use std::{collections::BTreeMap, sync::Arc};

use sensor_common::{FORBIDDEN_MAX_NR, FORBIDDEN_WORDS};
use wildmatch::WildMatch;

use crate::{
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Finding, Privileges},
    syscalls::{self, Arch},
};

pub use crate::{event::Severity, syscalls::SyscallBitmap};

/// Who an exception covers. Every matcher given must match (globs: `*`, `?`).
#[derive(Clone, Debug, Default)]
pub struct Exception {
    /// Where it was written, for messages.
    pub line: usize,
    pub namespace: Option<WildMatch>,
    pub pod: Option<WildMatch>,
    pub pod_uid: Option<String>,
    pub container: Option<WildMatch>,
    pub image: Option<WildMatch>,
    pub container_id: Option<String>,
    /// The calls excepted; empty means every forbidden call.
    pub syscalls: Vec<&'static str>,
}

/// What an exception is matched against.
#[derive(Clone, Copy, Debug, Default)]
pub struct Target<'a> {
    pub container: Option<&'a ContainerRef>,
    pub meta: Option<&'a PodMeta>,
}

impl Exception {
    pub fn needs_metadata(&self) -> bool {
        self.namespace.is_some()
            || self.pod.is_some()
            || self.container.is_some()
            || self.image.is_some()
    }

    pub fn matches(&self, t: &Target) -> bool {
        let Some(c) = t.container else { return false };
        let meta = t.meta;
        let glob = |m: &Option<WildMatch>, v: Option<&str>| match m {
            None => true,
            Some(m) => v.is_some_and(|v| m.matches(v)),
        };
        let pod_uid = c
            .pod
            .as_ref()
            .map(|(u, _)| u.as_str())
            .or(meta.map(|m| m.pod_uid.as_str()));
        glob(&self.namespace, meta.map(|m| m.pod_namespace.as_str()))
            && glob(&self.pod, meta.map(|m| m.pod_name.as_str()))
            && glob(&self.container, meta.map(|m| m.container_name.as_str()))
            && glob(&self.image, meta.map(|m| m.image.as_str()))
            && self.pod_uid.as_deref().is_none_or(|u| pod_uid == Some(u))
            && self.container_id.as_deref().is_none_or(|id| c.id == id)
    }
}

/// Capabilities a container rarely needs and an attacker always wants.
pub const DANGEROUS_CAPS: &[(u32, &str)] = &[
    (2, "CAP_DAC_READ_SEARCH"),
    (12, "CAP_NET_ADMIN"),
    (16, "CAP_SYS_MODULE"),
    (17, "CAP_SYS_RAWIO"),
    (19, "CAP_SYS_PTRACE"),
    (21, "CAP_SYS_ADMIN"),
    (25, "CAP_SYS_TIME"),
    (38, "CAP_PERFMON"),
    (39, "CAP_BPF"),
];

/// The other capabilities, so that a policy may name any of them.
pub const OTHER_CAPS: &[(u32, &str)] = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (9, "CAP_LINUX_IMMUTABLE"),
    (10, "CAP_NET_BIND_SERVICE"),
    (11, "CAP_NET_BROADCAST"),
    (13, "CAP_NET_RAW"),
    (14, "CAP_IPC_LOCK"),
    (15, "CAP_IPC_OWNER"),
    (18, "CAP_SYS_CHROOT"),
    (20, "CAP_SYS_PACCT"),
    (22, "CAP_SYS_BOOT"),
    (23, "CAP_SYS_NICE"),
    (24, "CAP_SYS_RESOURCE"),
    (26, "CAP_SYS_TTY_CONFIG"),
    (27, "CAP_MKNOD"),
    (28, "CAP_LEASE"),
    (29, "CAP_AUDIT_WRITE"),
    (30, "CAP_AUDIT_CONTROL"),
    (31, "CAP_SETFCAP"),
    (32, "CAP_MAC_OVERRIDE"),
    (33, "CAP_MAC_ADMIN"),
    (34, "CAP_SYSLOG"),
    (35, "CAP_WAKE_ALARM"),
    (36, "CAP_BLOCK_SUSPEND"),
    (37, "CAP_AUDIT_READ"),
    (40, "CAP_CHECKPOINT_RESTORE"),
];

/// Least-privilege signals on execs in containers (the pod securityContext advice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeastPrivilege {
    /// An exec running as uid 0 in a container; `None`: not flagged.
    pub root_exec: Option<Severity>,
    /// An exec whose effective capabilities include one of `dangerous_caps`.
    pub caps_exec: Option<Severity>,
    pub dangerous_caps: Vec<(u32, &'static str)>,
}

impl Default for LeastPrivilege {
    fn default() -> Self {
        Self {
            root_exec: Some(Severity::Low),
            caps_exec: Some(Severity::Low),
            dangerous_caps: DANGEROUS_CAPS.to_vec(),
        }
    }
}

impl LeastPrivilege {
    /// What is wrong with an exec that runs with `p` in a container.
    pub fn findings(&self, p: &Privileges) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some(severity) = self.root_exec
            && p.euid == 0
        {
            out.push(Finding {
                what: "runs as root".into(),
                severity,
            });
        }
        if let Some(severity) = self.caps_exec {
            let held: Vec<&str> = self
                .dangerous_caps
                .iter()
                .filter(|(bit, _)| p.cap_effective & (1u64 << bit) != 0)
                .map(|(_, n)| *n)
                .collect();
            if !held.is_empty() {
                out.push(Finding {
                    what: format!("holds {}", held.join(",")),
                    severity,
                });
            }
        }
        out
    }
}

#[derive(Clone, Debug)]
pub struct Policy {
    /// Flag calls made by host processes too (not only containers').
    pub watch_host: bool,
    pub least_privilege: LeastPrivilege,
    pub syscalls: BTreeMap<&'static str, Severity>,
    /// Calls flagged only when an argument matches (checked in the kernel).
    pub conditions: BTreeMap<&'static str, condition::Condition>,
    pub exceptions: Vec<Exception>,
    /// Profiles bound to workloads (drift), in order: a container is under the first that
    /// matches it. From the file's `[[profiles]]`, then from the API.
    pub bindings: Vec<Arc<binding::Binding>>,
    /// Where it came from ("built-in", or a file path).
    pub source: String,
}

/// The profile a cgroup is bound to.
#[derive(Clone, Debug)]
pub enum BoundTo {
    None,
    /// The answer depends on metadata the runtime has not given yet.
    Undecided,
    To(Arc<binding::Binding>),
}

/// What a cgroup is excepted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exemption {
    /// Nothing: every forbidden call is flagged.
    None,
    /// These calls (a bitmap over syscall numbers) are not flagged.
    Some(SyscallBitmap),
    /// The answer depends on metadata the runtime has not given yet.
    Undecided,
}

impl Policy {
    pub fn builtin() -> Self {
        let watched = defaults::WATCHED_THOUGH_ALLOWED
            .iter()
            .chain(defaults::WATCHED_IO_URING)
            .map(|(n, s, _)| (n, s));
        let syscalls = defaults::DEFAULT_SYSCALLS
            .iter()
            .map(|(n, s)| (n, s))
            .chain(watched)
            .filter_map(|(n, s)| Some((syscalls::known_name(n)?, *s)))
            .collect();
        let conditions = defaults::DEFAULT_CONDITIONS
            .iter()
            .filter_map(|(name, arg, op, values)| {
                let name = syscalls::known_name(name)?;
                let values: Vec<String> = values.iter().map(|v| (*v).to_owned()).collect();
                let c = condition::Condition::new(name, Some(arg), *op, &values)
                    .expect("the built-in conditions are valid (unit-tested)");
                Some((name, c))
            })
            .collect();
        Policy {
            watch_host: true,
            least_privilege: LeastPrivilege::default(),
            syscalls,
            conditions,
            exceptions: Vec::new(),
            bindings: Vec::new(),
            source: "built-in".into(),
        }
    }

    pub fn severity(&self, name: &str) -> Option<Severity> {
        self.syscalls.get(name).copied()
    }

    /// The names that exist on `arch` (or on its compat ABI).
    pub fn names_on(&self, arch: Arch) -> impl Iterator<Item = &'static str> + '_ {
        self.syscalls
            .keys()
            .copied()
            .filter(move |n| arch.abis().any(|a| syscalls::number(a, n).is_some()))
    }

    /// The kernel bitmap of every forbidden call that exists on `arch` or its compat ABI.
    pub fn forbidden_bitmap(&self, arch: Arch) -> SyscallBitmap {
        bitmap(arch, self.names_on(arch))
    }

    /// What a cgroup of this owner is excepted from. `host` for host processes.
    /// The profile bound to `target` (only containers are bound): the first binding that
    /// matches it.
    pub fn binding(&self, target: &Target) -> BoundTo {
        if target.container.is_none() {
            return BoundTo::None;
        }
        for b in &self.bindings {
            if b.who.needs_metadata() && target.meta.is_none() {
                return BoundTo::Undecided;
            }
            if b.who.matches(target) {
                return BoundTo::To(b.clone());
            }
        }
        BoundTo::None
    }

    pub fn exemption(&self, arch: Arch, host: bool, target: &Target) -> Exemption {
        if host {
            return if self.watch_host {
                Exemption::None
            } else {
                Exemption::Some([u64::MAX; FORBIDDEN_WORDS as usize])
            };
        }
        let mut names: Vec<&'static str> = Vec::new();
        let mut all = false;
        for ex in &self.exceptions {
            if ex.needs_metadata() && target.meta.is_none() && target.container.is_some() {
                return Exemption::Undecided;
            }
            if ex.matches(target) {
                if ex.syscalls.is_empty() {
                    all = true;
                } else {
                    names.extend(&ex.syscalls);
                }
            }
        }
        match (all, names.is_empty()) {
            (true, _) => Exemption::Some([u64::MAX; FORBIDDEN_WORDS as usize]),
            (false, true) => Exemption::None,
            (false, false) => Exemption::Some(bitmap(arch, names)),
        }
    }
}

/// A bitmap of the syscalls `names` on `arch` and its compat ABI, each by its own number
/// there (names absent on an ABI are skipped for it).
pub fn bitmap<'a>(arch: Arch, names: impl IntoIterator<Item = &'a str>) -> SyscallBitmap {
    let mut b = [0u64; FORBIDDEN_WORDS as usize];
    for name in names {
        for key in arch
            .abis()
            .filter_map(|a| a.key(syscalls::number(a, name)?))
            .filter(|&key| key < FORBIDDEN_MAX_NR)
        {
            b[(key / 64) as usize] |= 1 << (key % 64);
        }
    }
    b
}

#[cfg(test)]
mod tests;
