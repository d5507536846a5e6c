//! From learned cgroups to a profile: merging several, choosing what a profile allows (what
//! was made after the runtime's hand-over, the always-allowed calls), and rendering it.
use std::collections::BTreeMap;

use super::{Learned, Selector, always, render};
use crate::{event::Phase, syscalls::Arch};

/// One call over several cgroups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// The phases any of them made it in.
    pub phases: u8,
    /// How many made it.
    pub made_by: u32,
    /// How many need it under a filter (see [`Learned::handed_over`]).
    pub needed_by: u32,
    /// How many of those past their start-up made it only while starting up.
    pub startup_only: u32,
    /// How many made it while serving (past their start-up).
    pub steady: u32,
}

/// The union of several cgroups' syscalls. With `steady_only`, a container past its start-up
/// needs only what it made while serving.
pub fn merge(learned: &[Learned], steady_only: bool) -> BTreeMap<u64, Merged> {
    let (steady, workload) = (
        Phase::Steady.bit(),
        Phase::Filtered.bit() | Phase::Workload.bit(),
    );
    let mut out: BTreeMap<u64, Merged> = BTreeMap::new();
    for l in learned {
        let handed_over = l.handed_over();
        let past_startup = l.past_startup();
        for (key, bits) in l.syscalls.iter() {
            let e = out.entry(key).or_default();
            e.phases |= bits;
            e.made_by += 1;
            let needed = if steady_only && past_startup {
                bits & steady != 0
            } else {
                Learned::needs(handed_over, bits)
            };
            e.needed_by += u32::from(needed);
            e.steady += u32::from(bits & steady != 0);
            e.startup_only += u32::from(past_startup && bits & steady == 0 && bits & workload != 0);
        }
    }
    out
}

/// A syscall of a built profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileCall {
    pub arch: Arch,
    pub nr: u64,
    pub name: &'static str,
    /// The earliest phase it was made in, over the containers merged.
    pub phase: Phase,
    /// How many of the merged containers need it (for a call in `runtime_only`: made it; for
    /// one from the always-allowed set that none made: 0).
    pub containers: u32,
    /// In the profile from the always-allowed set, not from observation.
    pub always: bool,
    /// Made only while starting up, by every merged container past its start-up.
    pub startup_only: bool,
}

/// A profile ready to render.
#[derive(Clone, Debug)]
pub struct Built {
    /// The named syscalls, by ABI then number.
    pub syscalls: Vec<ProfileCall>,
    /// Calls only the runtime made, before it handed over (its filter): not in the profile.
    pub runtime_only: Vec<ProfileCall>,
    /// Merged containers whose hand-over was not seen (their runtime installed no seccomp
    /// filter): all their calls are in the profile, the runtime's setup included.
    pub without_handover: u32,
    /// Merged containers past their start-up.
    pub steady: u32,
    /// With `steady_only`: calls left out because they were made only while starting up.
    pub startup_left_out: Vec<ProfileCall>,
    /// Numbers (of the native ABI, or compat keys) the tables have no name for: kept out of
    /// the profile, and reported.
    pub unnamed: Vec<u64>,
    /// io_uring operations the workload submitted (`io_uring:<op>`). They are not syscalls:
    /// seccomp cannot filter inside a ring, so a profile that allows `io_uring_enter` (or a
    /// workload with a polling ring) lets every one of them through. Reported with the
    /// profile, never in it.
    pub io_uring_ops: Vec<&'static str>,
    pub containers: u32,
    pub oci: serde_json::Value,
    pub spo: serde_json::Value,
}

/// A DNS-1123 name for the SPO resource.
fn resource_name(raw: &str) -> String {
    let mut n: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    n.truncate(63);
    let n = n.trim_matches('-').to_owned();
    if n.is_empty() {
        "profile".to_owned()
    } else {
        n
    }
}

/// What a profile request asks for besides the selection.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Allowed whether seen or not ([`always::ALWAYS_ALLOWED`] by default).
    pub always_allowed: Vec<&'static str>,
    /// What a refused call gets.
    pub refused: render::Refusal,
    /// Leave out what containers past their start-up made only while starting up.
    pub steady_only: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            always_allowed: always::ALWAYS_ALLOWED.iter().map(|(n, _)| *n).collect(),
            refused: render::Refusal::Errno,
            steady_only: false,
        }
    }
}

/// Merges `learned` and renders it for native ABI `arch`, plus its compat ABI when a call of
/// it was seen (a 64-bit-only workload's profile allows no i386 call).
pub fn build(learned: &[Learned], sel: &Selector, arch: Arch, opts: &BuildOptions) -> Built {
    let merged = merge(learned, opts.steady_only);
    let mut syscalls = Vec::new();
    let mut runtime_only = Vec::new();
    let mut startup_left_out = Vec::new();
    let mut unnamed = Vec::new();
    let mut io_uring_ops = Vec::new();
    for (key, m) in &merged {
        let (abi, nr) = arch.of_key(*key);
        let Some(name) = crate::syscalls::name(abi, nr) else {
            if m.needed_by > 0 {
                unnamed.push(*key);
            }
            continue;
        };
        if abi == Arch::IoUring {
            io_uring_ops.push(name);
            continue;
        }
        let call = |containers| ProfileCall {
            arch: abi,
            nr,
            name,
            phase: Phase::earliest(m.phases).unwrap_or(Phase::Workload),
            containers,
            always: false,
            startup_only: m.startup_only > 0 && m.steady == 0,
        };
        if m.needed_by > 0 {
            syscalls.push(call(m.needed_by));
        } else if m.phases & !Phase::Runtime.bit() != 0 {
            // Made after the hand-over, yet needed by none: only while starting up.
            startup_left_out.push(call(m.made_by));
        } else {
            runtime_only.push(call(m.made_by));
        }
    }
    let mut arches = vec![arch];
    arches.extend(
        arch.compat()
            .filter(|c| syscalls.iter().any(|s| s.arch == *c)),
    );
    // The always-allowed calls, on each ABI of the profile that has them.
    for abi in &arches {
        for name in &opts.always_allowed {
            let Some(nr) = crate::syscalls::number(*abi, name) else {
                continue;
            };
            if !syscalls.iter().any(|s| s.arch == *abi && s.nr == nr) {
                runtime_only.retain(|s: &ProfileCall| !(s.arch == *abi && s.nr == nr));
                syscalls.push(ProfileCall {
                    arch: *abi,
                    nr,
                    name,
                    phase: Phase::Workload,
                    containers: 0,
                    always: true,
                    startup_only: false,
                });
            }
        }
    }
    syscalls.sort_by_key(|s| (s.arch != arch, s.nr));
    let names: Vec<&str> = syscalls.iter().map(|s| s.name).collect();
    let meta = learned.iter().find_map(|l| l.meta.clone());
    let (name, namespace) = match (sel, meta.as_deref()) {
        (Selector::Pod { namespace, name }, _) => (
            name.replace(['*', '?'], "").trim_matches('-').to_owned(),
            namespace.replace(['*', '?'], ""),
        ),
        (Selector::Image(image), m) => (
            image.rsplit('/').next().unwrap_or(image).to_owned(),
            m.map(|m| m.pod_namespace.clone()).unwrap_or_default(),
        ),
        (_, Some(m)) if !m.container_name.is_empty() => (
            format!("{}-{}", m.pod_name, m.container_name),
            m.pod_namespace.clone(),
        ),
        (Selector::ContainerId(id), _) => (
            format!("container-{}", id.get(..12).unwrap_or(id)),
            String::new(),
        ),
        (Selector::CgroupId(id), _) => (format!("cgroup-{id}"), String::new()),
    };
    Built {
        oci: render::oci(&arches, &names, opts.refused),
        spo: render::spo(
            &resource_name(&name),
            &namespace,
            &arches,
            &names,
            opts.refused,
        ),
        syscalls,
        runtime_only,
        without_handover: learned.iter().filter(|l| !l.handed_over()).count() as u32,
        steady: learned.iter().filter(|l| l.past_startup()).count() as u32,
        startup_left_out,
        unnamed,
        io_uring_ops,
        containers: learned.len() as u32,
    }
}
