//! Seccomp profiles from observed behaviour. The kernel learns, per cgroup, which syscalls it
//! makes and reports each one the first time ([`crate::event::SyscallSeen`]); the store here
//! keeps those per cgroup (with the container they belong to), merges what the kernel map
//! holds when a cgroup goes away, and selects what a profile request asks for. [`render`]
//! turns a selection into OCI/Docker seccomp JSON or a Security Profiles Operator resource.
pub mod always;
mod build;
mod calls;
pub mod learner;
pub mod render;
pub mod steady;
pub mod try_run;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use crate::{
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Attribution, Body, Event, Phase},
    syscalls::Arch,
};
use sensor_common::PHASE_SLOT;

pub use self::build::{BuildOptions, Built, Merged, ProfileCall, build, merge};
pub use self::calls::Calls;

/// The phases after the runtime's hand-over.
const AFTER_HANDOVER: u8 =
    sensor_common::PHASE_FILTERED | sensor_common::PHASE_WORKLOAD | sensor_common::PHASE_STEADY;

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
    /// Syscall key (the number on the native ABI, [`Arch::key`] for the others) -> the
    /// phases it was made in ([`Phase::bit`]s).
    pub syscalls: Calls,
    /// The cgroup was removed.
    pub gone: bool,
}

impl Learned {
    /// Adds the phases of a kernel learned value of ABI `abi` (byte `nr`: the phases `nr`
    /// was made in; the phase slot is not a call).
    pub(crate) fn add_kernel_slots(&mut self, abi: Arch, slots: &[u8]) {
        let all = Phase::ALL.iter().fold(0, |b, p| b | p.bit());
        for (nr, bits) in slots.iter().enumerate().take(PHASE_SLOT) {
            if bits & all == 0 {
                continue;
            }
            if let Some(key) = abi.key(nr as u64) {
                self.syscalls.add(key, bits & all);
            }
        }
    }

    /// Did the runtime hand this cgroup over (install a seccomp filter), so that what it
    /// did before is known apart from what it and the workload did after?
    pub fn handed_over(&self) -> bool {
        self.syscalls.any_in(AFTER_HANDOVER)
    }

    /// Did its workload get past its start-up while the sensor watched?
    pub fn past_startup(&self) -> bool {
        self.syscalls.any_in(Phase::Steady.bit())
    }

    /// Does a profile of this cgroup need a call made in `bits`: made after the hand-over,
    /// or any call of a cgroup whose hand-over was not seen (`handed_over` false: its runtime
    /// installed no filter, so the setup cannot be told apart, and is kept).
    fn needs(handed_over: bool, bits: u8) -> bool {
        !handed_over || bits & AFTER_HANDOVER != 0
    }
}

/// Which cgroups a profile covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    ContainerId(String),
    /// Pods by namespace and name, each a glob (`*`: any).
    Pod {
        namespace: String,
        name: String,
    },
    /// Every container of an image (a glob, matched against the full reference and against
    /// its last path part, so `nginx:1.27` matches `docker.io/library/nginx:1.27`): one
    /// workload's replicas.
    Image(String),
    CgroupId(u64),
}

/// A selector's pattern: a glob (`*`, `?`); a plain name matches only itself.
fn glob(pattern: &str) -> wildmatch::WildMatch {
    wildmatch::WildMatch::new(pattern)
}

impl Selector {
    fn matches(&self, l: &Learned) -> bool {
        let meta = l.meta.as_deref();
        match self {
            Selector::ContainerId(id) => l.container.as_ref().is_some_and(|c| &c.id == id),
            Selector::Pod { namespace, name } => meta.is_some_and(|m| {
                glob(namespace).matches(&m.pod_namespace) && glob(name).matches(&m.pod_name)
            }),
            Selector::Image(image) => meta.is_some_and(|m| {
                let short = m.image.rsplit('/').next().unwrap_or(&m.image);
                let g = glob(image);
                g.matches(&m.image) || g.matches(short)
            }),
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
    }

    /// Learns from an enriched event.
    pub fn observe(&mut self, ev: &mut Event) {
        if !Self::learns_from(ev) {
            return;
        }
        let Some(l) = self.entry(ev.cgroup_id) else {
            return;
        };
        if let Attribution::Container {
            container, meta, ..
        } = &ev.attribution
        {
            l.container = Some(container.clone());
            if meta.is_some() {
                l.meta = meta.clone();
            }
        }
        if let Body::SyscallSeen(s) = &ev.body
            && let Some(key) = s.arch.key(s.nr)
        {
            l.syscalls.add(key, s.phase.bit());
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
            l.syscalls.shrink();
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

#[cfg(test)]
mod tests;
