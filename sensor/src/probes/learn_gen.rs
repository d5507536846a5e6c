//! The learn generation (`LEARN_GEN`) and the counts beside it (`LEARN_COUNTS`), shared by
//! what changes how the kernel learns or checks a cgroup's calls: bound profiles
//! (`policy/bound.rs`), start-up ends (`profile/steady.rs`) and the forbidden set
//! (`policy/apply.rs`: the cache tells the calls it knows apart by whether they were
//! forbidden). Each change says how many cgroups are in its map (0: the kernel skips the
//! lookup) and then drops every CPU's learn cache.
//!
//! `LEARN_GEN` is a `u64` global of the eBPF object in a data section of its own (the kernel
//! reads it on every syscall), which userspace sees as a one-entry array map.
use std::sync::{Arc, Mutex, PoisonError};

use aya::maps::{Array, MapData, MapError};

#[derive(Clone)]
pub struct LearnGen(Arc<Mutex<Maps>>);

struct Maps {
    generation: Array<MapData, u64>,
    counts: Array<MapData, u64>,
}

impl LearnGen {
    pub fn new(generation: Array<MapData, u64>, counts: Array<MapData, u64>) -> Self {
        Self(Arc::new(Mutex::new(Maps { generation, counts })))
    }

    /// Sets count slot `slot` to `count`, then starts a new generation (in this order: a
    /// cache filled under the new generation was filled with the new count).
    pub fn publish(&self, slot: u32, count: u64) -> Result<(), MapError> {
        let mut maps = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        maps.counts.set(slot, count, 0)?;
        Self::next(&mut maps.generation)
    }

    /// Starts a new generation: every CPU's learn cache is dropped at its next call.
    pub fn bump(&self) -> Result<(), MapError> {
        Self::next(
            &mut self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .generation,
        )
    }

    /// The kernel bumps the generation by one at a phase change; this adds 2^32, so that a
    /// bump of the kernel's racing with this one still leaves a value no cache was filled
    /// under (the kernel's read-add-write could undo this write only within its few
    /// instructions).
    fn next(generation: &mut Array<MapData, u64>) -> Result<(), MapError> {
        let now = generation.get(&0, 0)?;
        generation.set(0, now.wrapping_add(1 << 32), 0)
    }
}
