//! The reader's side of profile learning: feeds events to the store, and when a cgroup goes
//! away, merges (then deletes) what the kernel map learned for it, so that a lost
//! `SyscallSeen` event leaves no hole in a profile and the kernel map does not grow.
//!
//! The kernel's learned maps are the source of truth for a live cgroup: events are news of
//! it, and a first-use record lost in a full ring is never sent again (the kernel's byte is
//! already set). [`Profiles::select_complete`] therefore adds what the maps hold to every
//! live cgroup it selects.
use sensor_common::LEARNED_SLOTS;

use std::sync::{Arc, Mutex};

use super::{Learned, ProfileStore, Selector, SharedStore};
use crate::{enrich::container::ContainerRef, event::Event, probes::LearnedMap, syscalls::Arch};

/// The kernel's per-cgroup learned maps, one per ABI.
pub struct KernelLearned {
    /// The native ABI's learned calls (pinned across restarts when asked).
    native: LearnedMap,
    /// The other ABIs' (i386 on x86_64; io_uring operations), never pinned.
    others: Vec<(Arch, LearnedMap)>,
}

/// Shared between the reader (merges and deletes at cgroup removal) and the API (reads).
pub type SharedKernel = Arc<Mutex<KernelLearned>>;

impl KernelLearned {
    pub fn new(native: LearnedMap, others: Vec<(Arch, LearnedMap)>) -> Self {
        Self { native, others }
    }

    fn maps(&mut self) -> impl Iterator<Item = (Arch, &mut LearnedMap)> {
        std::iter::once((Arch::NATIVE, &mut self.native))
            .chain(self.others.iter_mut().map(|(a, m)| (*a, m)))
    }

    /// Every cgroup with an entry in any learned map.
    fn cgroup_ids(&mut self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .maps()
            .flat_map(|(_, map)| map.keys().filter_map(Result::ok).collect::<Vec<_>>())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// What the kernel holds for `cgroup_id`, per ABI; with `remove`, the entries go too.
    fn slots(&mut self, cgroup_id: u64, remove: bool) -> Vec<(Arch, [u8; LEARNED_SLOTS])> {
        let mut out = Vec::new();
        for (abi, map) in self.maps() {
            if let Ok(v) = map.get(&cgroup_id, 0) {
                out.push((abi, v));
                if remove {
                    let _ = map.remove(&cgroup_id);
                }
            }
        }
        out
    }
}

fn as_slices(values: &[(Arch, [u8; LEARNED_SLOTS])]) -> Vec<(Arch, &[u8])> {
    values.iter().map(|(a, v)| (*a, &v[..])).collect()
}

/// What the API reads profiles from: the store, completed from the kernel's maps.
#[derive(Clone, Default)]
pub struct Profiles {
    pub store: SharedStore,
    /// `None` where no kernel maps exist (unit tests).
    pub kernel: Option<SharedKernel>,
}

impl Profiles {
    /// The cgroups `sel` selects, each live one with every call the kernel learned for it,
    /// whether or not its first-use record arrived.
    pub fn select_complete(&self, sel: &Selector) -> Result<Vec<Learned>, &'static str> {
        let mut learned = self
            .store
            .lock()
            .map_err(|_| "the profile store is unavailable")?
            .select(sel);
        if let Some(kernel) = &self.kernel {
            let mut kernel = kernel
                .lock()
                .map_err(|_| "the learned maps are unavailable")?;
            for l in learned.iter_mut().filter(|l| !l.gone) {
                for (abi, slots) in as_slices(&kernel.slots(l.cgroup_id, false)) {
                    l.add_kernel_slots(abi, slots);
                }
            }
        }
        Ok(learned)
    }
}

pub struct Learner {
    store: SharedStore,
    kernel: SharedKernel,
    startups: super::steady::Startups,
}

impl Learner {
    pub fn new(
        store: SharedStore,
        kernel: SharedKernel,
        startups: super::steady::Startups,
    ) -> Self {
        Self {
            store,
            kernel,
            startups,
        }
    }

    /// Ends the start-ups that are over.
    pub fn tick(&mut self, now: std::time::Instant) {
        self.startups.tick(now);
    }

    /// Takes over what an earlier run learned (a pinned map): cgroups that still exist go
    /// into the store; those gone while the sensor was down are dropped from the map.
    pub fn adopt(&mut self, resolve: impl Fn(u64) -> Option<Option<Arc<ContainerRef>>>) -> usize {
        let Ok(mut kernel) = self.kernel.lock() else {
            return 0;
        };
        let ids: Vec<u64> = kernel.native.keys().filter_map(Result::ok).collect();
        let mut adopted = 0;
        for id in ids {
            match (resolve(id), kernel.native.get(&id, 0)) {
                (Some(container), Ok(slots)) => {
                    if let Ok(mut s) = self.store.lock() {
                        s.seed(id, container, Arch::NATIVE, &slots);
                        adopted += 1;
                    }
                }
                _ => {
                    let _ = kernel.native.remove(&id);
                }
            }
        }
        adopted
    }

    pub fn observe(&mut self, ev: &mut Event) {
        // Most events teach nothing: no lock for them.
        if !ProfileStore::learns_from(ev) {
            return;
        }
        self.startups.observe(ev);
        if let Ok(mut s) = self.store.lock() {
            s.observe(ev);
        }
    }

    /// The cgroups the kernel's learned maps hold.
    pub fn kernel_cgroup_ids(&self) -> Vec<u64> {
        self.kernel
            .lock()
            .map(|mut k| k.cgroup_ids())
            .unwrap_or_default()
    }

    pub fn cgroup_gone(&mut self, cgroup_id: u64) {
        self.startups.cgroup_gone(cgroup_id);
        let values = match self.kernel.lock() {
            Ok(mut k) => k.slots(cgroup_id, true),
            Err(_) => Vec::new(),
        };
        if let Ok(mut s) = self.store.lock() {
            s.cgroup_gone(cgroup_id, &as_slices(&values));
        }
    }
}
