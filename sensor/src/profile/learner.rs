//! The reader's side of profile learning: feeds events to the store, and when a cgroup goes
//! away, merges (then deletes) what the kernel map learned for it, so that a lost
//! `SyscallSeen` event leaves no hole in a profile and the kernel map does not grow.
use sensor_common::LEARNED_SLOTS;

use std::sync::Arc;

use super::{ProfileStore, SharedStore};
use crate::{enrich::container::ContainerRef, event::Event, syscalls::Arch};

use crate::probes::LearnedMap;

pub struct Learner {
    store: SharedStore,
    /// The native ABI's learned calls (pinned across restarts when asked).
    kernel: LearnedMap,
    /// The other ABIs' (i386 on x86_64; io_uring operations), never pinned.
    others: Vec<(Arch, LearnedMap)>,
}

impl Learner {
    pub fn new(store: SharedStore, kernel: LearnedMap, others: Vec<(Arch, LearnedMap)>) -> Self {
        Self {
            store,
            kernel,
            others,
        }
    }

    /// Takes over what an earlier run learned (a pinned map): cgroups that still exist go
    /// into the store; those gone while the sensor was down are dropped from the map.
    pub fn adopt(&mut self, resolve: impl Fn(u64) -> Option<Option<Arc<ContainerRef>>>) -> usize {
        let ids: Vec<u64> = self.kernel.keys().filter_map(Result::ok).collect();
        let mut adopted = 0;
        for id in ids {
            match (resolve(id), self.kernel.get(&id, 0)) {
                (Some(container), Ok(slots)) => {
                    if let Ok(mut s) = self.store.lock() {
                        s.seed(id, container, Arch::NATIVE, &slots);
                        adopted += 1;
                    }
                }
                _ => {
                    let _ = self.kernel.remove(&id);
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
        if let Ok(mut s) = self.store.lock() {
            s.observe(ev);
        }
    }

    pub fn cgroup_gone(&mut self, cgroup_id: u64) {
        let maps = std::iter::once((Arch::NATIVE, &mut self.kernel))
            .chain(self.others.iter_mut().map(|(a, m)| (*a, m)));
        let mut values: Vec<(Arch, [u8; LEARNED_SLOTS])> = Vec::new();
        for (abi, map) in maps {
            if let Ok(v) = map.get(&cgroup_id, 0) {
                values.push((abi, v));
                let _ = map.remove(&cgroup_id);
            }
        }
        let slots: Vec<(Arch, &[u8])> = values.iter().map(|(a, v)| (*a, &v[..])).collect();
        if let Ok(mut s) = self.store.lock() {
            s.cgroup_gone(cgroup_id, &slots);
        }
    }
}
