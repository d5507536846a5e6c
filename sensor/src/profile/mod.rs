//! Seccomp profiles from observed behaviour. The kernel learns, per cgroup, which syscalls it
//! makes and reports each one the first time ([`crate::event::SyscallSeen`]); the store here
//! keeps those per cgroup (with the container they belong to), merges what the kernel map
//! holds when a cgroup goes away, and selects what a profile request asks for. [`render`]
//! turns a selection into OCI/Docker seccomp JSON or a Security Profiles Operator resource.
pub mod learner;
pub mod render;
pub mod try_run;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use crate::{
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Attribution, Body, Event, Phase},
    syscalls::Arch,
};

/// cgroups whose profiles are kept at once; past that, gone ones are forgotten first.
const CAPACITY: usize = 16_384;
/// Profiles of containers that are gone, kept for `GetProfile` (a pod's previous container,
/// an image's past replicas); past that, the oldest gone one is forgotten. A cgroup that was
/// not a container is forgotten as soon as it is gone.
pub const GONE_KEPT: usize = 1024;

/// What one cgroup was seen doing.
#[derive(Clone, Debug, Default)]
pub struct Learned {
    pub cgroup_id: u64,
    pub container: Option<Arc<ContainerRef>>,
    pub meta: Option<Arc<PodMeta>>,
    /// Syscall key (the number on the native ABI, [`Arch::key`] for the compat one) -> when
    /// it was first seen.
    pub syscalls: BTreeMap<u64, Phase>,
    /// The workload's first exec happened (later first uses are `Phase::Workload`).
    pub workload_started: bool,
    /// The cgroup was removed.
    pub gone: bool,
}

impl Learned {
    /// Adds the syscalls of a kernel learned value of ABI `abi` (byte `nr` non-zero: `nr`
    /// was made) not known yet; when they were first made is not known, so they count as the
    /// workload's.
    pub(crate) fn add_kernel_slots(&mut self, abi: Arch, slots: &[u8]) {
        for (nr, _) in slots.iter().enumerate().filter(|(_, b)| **b != 0) {
            if let Some(key) = abi.key(nr as u64) {
                self.syscalls.entry(key).or_insert(Phase::Workload);
            }
        }
    }
}

/// Which cgroups a profile covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    ContainerId(String),
    Pod {
        namespace: String,
        name: String,
    },
    /// Every container of an image: one workload's replicas.
    Image(String),
    CgroupId(u64),
}

impl Selector {
    fn matches(&self, l: &Learned) -> bool {
        let meta = l.meta.as_deref();
        match self {
            Selector::ContainerId(id) => l.container.as_ref().is_some_and(|c| &c.id == id),
            Selector::Pod { namespace, name } => {
                meta.is_some_and(|m| &m.pod_namespace == namespace && &m.pod_name == name)
            }
            Selector::Image(image) => meta.is_some_and(|m| &m.image == image),
            Selector::CgroupId(id) => l.cgroup_id == *id,
        }
    }
}

#[derive(Debug, Default)]
pub struct ProfileStore {
    by_cgroup: HashMap<u64, Learned>,
    /// Gone containers' cgroups, oldest first.
    gone: VecDeque<u64>,
}

/// Shared between the reader (writes) and the API (reads).
pub type SharedStore = Arc<Mutex<ProfileStore>>;

impl ProfileStore {
    fn entry(&mut self, cgroup_id: u64) -> Option<&mut Learned> {
        if !self.by_cgroup.contains_key(&cgroup_id) && self.by_cgroup.len() >= CAPACITY {
            self.by_cgroup.retain(|_, l| !l.gone);
            if self.by_cgroup.len() >= CAPACITY {
                return None;
            }
        }
        Some(self.by_cgroup.entry(cgroup_id).or_insert_with(|| Learned {
            cgroup_id,
            ..Default::default()
        }))
    }

    /// Whether [`ProfileStore::observe`] has anything to learn from `ev`.
    pub fn learns_from(ev: &Event) -> bool {
        matches!(&ev.body, Body::SyscallSeen(_))
            || matches!(&ev.body, Body::Exec(e) if e.errno.is_none())
    }

    /// Learns from an enriched event; sets a `SyscallSeen`'s phase.
    pub fn observe(&mut self, ev: &mut Event) {
        if !Self::learns_from(ev) {
            return;
        }
        let Some(l) = self.entry(ev.cgroup_id) else {
            return;
        };
        if let Attribution::Container { container, meta } = &ev.attribution {
            l.container = Some(container.clone());
            if meta.is_some() {
                l.meta = meta.clone();
            }
        }
        match &mut ev.body {
            Body::SyscallSeen(s) => {
                s.phase = if l.workload_started {
                    Phase::Workload
                } else {
                    Phase::Runtime
                };
                // x32 calls have no key: they are not in a profile of this node's ABIs.
                if let Some(key) = s.arch.key(s.nr) {
                    l.syscalls.entry(key).or_insert(s.phase);
                }
            }
            _ => l.workload_started = true,
        }
    }

    /// The cgroup was removed. Adds what the kernel learned for it, per ABI (byte `nr`
    /// non-zero: syscall `nr` was made), that its events did not say (lost ones); keeps a
    /// container's profile (up to [`GONE_KEPT`] gone ones) and forgets any other cgroup's.
    pub fn cgroup_gone(&mut self, cgroup_id: u64, slots: &[(Arch, &[u8])]) {
        let Some(l) = self.by_cgroup.get_mut(&cgroup_id) else {
            return;
        };
        if l.container.is_none() {
            self.by_cgroup.remove(&cgroup_id);
            return;
        }
        for (abi, slots) in slots {
            l.add_kernel_slots(*abi, slots);
        }
        if !l.gone {
            l.gone = true;
            self.gone.push_back(cgroup_id);
        }
        while self.gone.len() > GONE_KEPT {
            if let Some(old) = self.gone.pop_front()
                && self.by_cgroup.get(&old).is_some_and(|l| l.gone)
            {
                self.by_cgroup.remove(&old);
            }
        }
    }

    /// cgroups with a profile, and how many of them are gone.
    pub fn len(&self) -> (usize, usize) {
        (self.by_cgroup.len(), self.gone.len())
    }

    /// A cgroup learned by an earlier run of the sensor (from the pinned map).
    pub fn seed(
        &mut self,
        cgroup_id: u64,
        container: Option<Arc<ContainerRef>>,
        abi: Arch,
        slots: &[u8],
    ) {
        let Some(l) = self.entry(cgroup_id) else {
            return;
        };
        l.container = container;
        l.workload_started = true; // unknown: later first uses count as the workload's
        l.add_kernel_slots(abi, slots);
    }

    pub fn select(&self, sel: &Selector) -> Vec<Learned> {
        self.by_cgroup
            .values()
            .filter(|l| sel.matches(l))
            .cloned()
            .collect()
    }
}

/// The union of several cgroups' syscalls: each with its earliest phase and how many of the
/// cgroups made it.
pub fn merge(learned: &[Learned]) -> BTreeMap<u64, (Phase, u32)> {
    let mut out: BTreeMap<u64, (Phase, u32)> = BTreeMap::new();
    for l in learned {
        for (nr, phase) in &l.syscalls {
            let e = out.entry(*nr).or_insert((*phase, 0));
            e.0 = e.0.min(*phase);
            e.1 += 1;
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
    /// When it was first made (the earliest over the containers merged).
    pub phase: Phase,
    /// How many of the merged containers made it.
    pub containers: u32,
}

/// A profile ready to render.
#[derive(Clone, Debug)]
pub struct Built {
    /// The named syscalls, by ABI then number.
    pub syscalls: Vec<ProfileCall>,
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

/// Merges `learned` and renders it for native ABI `arch`, plus its compat ABI when a call of
/// it was seen (a 64-bit-only workload's profile allows no i386 call).
pub fn build(learned: &[Learned], sel: &Selector, arch: Arch) -> Built {
    let merged = merge(learned);
    let mut syscalls = Vec::new();
    let mut unnamed = Vec::new();
    let mut io_uring_ops = Vec::new();
    for (key, (phase, count)) in &merged {
        let (abi, nr) = arch.of_key(*key);
        match crate::syscalls::name(abi, nr) {
            Some(name) if abi == Arch::IoUring => io_uring_ops.push(name),
            Some(name) => syscalls.push(ProfileCall {
                arch: abi,
                nr,
                name,
                phase: *phase,
                containers: *count,
            }),
            None => unnamed.push(*key),
        }
    }
    let names: Vec<&str> = syscalls.iter().map(|s| s.name).collect();
    let mut arches = vec![arch];
    arches.extend(
        arch.compat()
            .filter(|c| syscalls.iter().any(|s| s.arch == *c)),
    );
    let meta = learned.iter().find_map(|l| l.meta.clone());
    let (name, namespace) = match (sel, meta.as_deref()) {
        (Selector::Pod { namespace, name }, _) => (name.clone(), namespace.clone()),
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
        oci: render::oci(&arches, &names),
        spo: render::spo(&resource_name(&name), &namespace, &arches, &names),
        syscalls,
        unnamed,
        io_uring_ops,
        containers: learned.len() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        enrich::container::Runtime,
        event::{Exec, SyscallSeen},
        syscalls::Arch,
    };

    fn seen(cgroup: u64, nr: u64) -> Event {
        Event::for_test(
            cgroup,
            Body::SyscallSeen(SyscallSeen {
                arch: Arch::X86_64,
                nr,
                name: None,
                phase: Phase::Workload,
            }),
        )
    }

    #[test]
    fn phases_split_at_the_first_exec_and_merging_counts_containers() {
        let mut s = ProfileStore::default();
        let mut ev = seen(7, 1);
        s.observe(&mut ev);
        assert!(matches!(
            ev.body,
            Body::SyscallSeen(SyscallSeen {
                phase: Phase::Runtime,
                ..
            })
        ));
        s.observe(&mut Event::for_test(
            7,
            Body::Exec(Exec {
                filename: b"/bin/sh".to_vec(),
                ..Default::default()
            }),
        ));
        let mut ev = seen(7, 2);
        s.observe(&mut ev);
        assert!(matches!(
            ev.body,
            Body::SyscallSeen(SyscallSeen {
                phase: Phase::Workload,
                ..
            })
        ));
        let mut ev8 = seen(8, 2);
        ev8.attribution = in_container("e");
        s.observe(&mut ev8);
        s.cgroup_gone(8, &[(Arch::X86_64, &[0, 0, 0, 1])]);
        let all = s
            .select(&Selector::CgroupId(7))
            .into_iter()
            .chain(s.select(&Selector::CgroupId(8)))
            .collect::<Vec<_>>();
        let m = merge(&all);
        assert_eq!(m.get(&1), Some(&(Phase::Runtime, 1)));
        assert_eq!(m.get(&2), Some(&(Phase::Runtime, 2)));
        assert_eq!(
            m.get(&3),
            Some(&(Phase::Workload, 1)),
            "learned by the kernel, event lost"
        );
    }

    #[test]
    fn profiles_are_per_abi() {
        let mut s = ProfileStore::default();
        let mut ev = seen(9, 165); // x86_64 mount
        ev.attribution = in_container("f");
        s.observe(&mut ev);
        let mut compat = [0u8; 64];
        compat[21] = 1; // i386 mount
        compat[20] = 1; // i386 getpid
        s.cgroup_gone(9, &[(Arch::I386, &compat)]);
        let b = build(
            &s.select(&Selector::CgroupId(9)),
            &Selector::CgroupId(9),
            Arch::X86_64,
        );
        let calls: Vec<(Arch, u64, &str)> =
            b.syscalls.iter().map(|c| (c.arch, c.nr, c.name)).collect();
        assert_eq!(
            calls,
            [
                (Arch::X86_64, 165, "mount"),
                (Arch::I386, 20, "getpid"),
                (Arch::I386, 21, "mount")
            ]
        );
        assert_eq!(
            b.oci["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        // Without a compat call, the profile allows no i386 call at all.
        let mut s = ProfileStore::default();
        let mut ev = seen(10, 165);
        ev.attribution = in_container("g");
        s.observe(&mut ev);
        let b = build(
            &s.select(&Selector::CgroupId(10)),
            &Selector::CgroupId(10),
            Arch::X86_64,
        );
        assert_eq!(
            b.oci["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64"])
        );
    }

    fn in_container(id: &str) -> Attribution {
        Attribution::Container {
            container: Arc::new(ContainerRef {
                runtime: Runtime::Docker,
                id: id.repeat(64),
                pod: None,
            }),
            meta: None,
        }
    }

    #[test]
    fn gone_cgroups_are_forgotten_or_bounded() {
        let mut s = ProfileStore::default();
        s.observe(&mut seen(1, 5));
        s.cgroup_gone(1, &[]);
        assert_eq!(
            s.len(),
            (0, 0),
            "a cgroup that was no container is forgotten"
        );
        for cg in 0..(GONE_KEPT as u64 + 10) {
            let mut ev = seen(100 + cg, 5);
            ev.attribution = in_container("f");
            s.observe(&mut ev);
            s.cgroup_gone(100 + cg, &[]);
        }
        assert_eq!(s.len(), (GONE_KEPT, GONE_KEPT));
        assert!(
            s.select(&Selector::CgroupId(100)).is_empty(),
            "the oldest went first"
        );
        assert_eq!(
            s.select(&Selector::CgroupId(100 + GONE_KEPT as u64 + 9))
                .len(),
            1
        );
    }

    #[test]
    fn selects_by_container() {
        let mut s = ProfileStore::default();
        let c = Arc::new(ContainerRef {
            runtime: Runtime::Docker,
            id: "d".repeat(64),
            pod: None,
        });
        let mut ev = seen(9, 5);
        ev.attribution = Attribution::Container {
            container: c.clone(),
            meta: None,
        };
        s.observe(&mut ev);
        assert_eq!(s.select(&Selector::ContainerId(c.id.clone())).len(), 1);
        assert!(s.select(&Selector::ContainerId("x".into())).is_empty());
    }
}
