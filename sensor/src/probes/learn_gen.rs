//! The learn generation (`LEARN_GEN`), shared by what changes how the kernel learns or checks
//! a cgroup's calls: bound profiles (`policy/bound.rs`), start-up ends (`profile/steady.rs`)
//! and the forbidden set (`policy/apply.rs`: the cache tells the calls it knows apart by
//! whether they were forbidden). Each change says how many cgroups are in its map (0: the kernel skips the
//! lookup) and then drops every CPU's learn cache.
use std::sync::{Arc, Mutex, PoisonError};

use aya::maps::{Array, MapData, MapError};
use sensor_common::GEN_SLOT;

#[derive(Clone)]
pub struct LearnGen(Arc<Mutex<Array<MapData, u64>>>);

impl LearnGen {
    pub fn new(map: Array<MapData, u64>) -> Self {
        Self(Arc::new(Mutex::new(map)))
    }

    /// Sets count slot `slot` to `count`, then starts a new generation. The kernel bumps the
    /// generation by one at a phase change; this adds 2^32, so that a bump of the kernel's
    /// racing with this one still leaves a value no cache was filled under (the kernel's
    /// read-add-write could undo this write only within its few instructions).
    pub fn publish(&self, slot: u32, count: u64) -> Result<(), MapError> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.set(slot, count, 0)?;
        Self::next(&mut map)
    }

    /// Starts a new generation: every CPU's learn cache is dropped at its next call.
    pub fn bump(&self) -> Result<(), MapError> {
        Self::next(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn next(map: &mut Array<MapData, u64>) -> Result<(), MapError> {
        let generation = map.get(&GEN_SLOT, 0)?;
        map.set(GEN_SLOT, generation.wrapping_add(1 << 32), 0)
    }
}
