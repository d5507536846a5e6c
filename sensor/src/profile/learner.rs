//! The reader's side of profile learning: feeds events to the store, and when a cgroup goes
//! away, merges (then deletes) what the kernel map learned for it, so that a lost
//! `SyscallSeen` event leaves no hole in a profile and the kernel map does not grow.
use aya::maps::{HashMap, MapData};
use sensor_common::LEARNED_SLOTS;

use std::sync::Arc;

use super::{ProfileStore, SharedStore};
use crate::{enrich::container::ContainerRef, event::Event};

pub struct Learner {
    store: SharedStore,
    kernel: HashMap<MapData, u64, [u8; LEARNED_SLOTS]>,
}

impl Learner {
    pub fn new(store: SharedStore, kernel: HashMap<MapData, u64, [u8; LEARNED_SLOTS]>) -> Self {
        Self { store, kernel }
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
                        s.seed(id, container, &slots);
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
        let slots = self.kernel.get(&cgroup_id, 0).ok();
        if let Ok(mut s) = self.store.lock() {
            s.cgroup_gone(cgroup_id, slots.as_ref().map(|v| &v[..]));
        }
        if slots.is_some() {
            let _ = self.kernel.remove(&cgroup_id);
        }
    }
}
