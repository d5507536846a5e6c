//! The learn generation (`LEARN_GEN`), shared by what changes how the kernel learns or checks
//! a cgroup's calls: bound profiles (`policy/bound.rs`), start-up ends (`profile/steady.rs`)
//! and the forbidden set (`policy/apply.rs`: the cache tells the calls it knows apart by
//! whether they were forbidden). Each change says how many cgroups are in its map (0: the
//! kernel skips the lookup) and then drops every CPU's learn cache.
//!
//! `LEARN_GEN` is a global of the eBPF object in a data section of its own, which userspace
//! sees as a one-entry array map whose value is the whole `[u64; LEARN_GEN_SLOTS]`.
use std::sync::{Arc, Mutex, PoisonError};

use aya::maps::{Array, MapData, MapError};
use sensor_common::{GEN_SLOT, LEARN_GEN_SLOTS};

type Slots = [u64; LEARN_GEN_SLOTS as usize];

#[derive(Clone)]
pub struct LearnGen(Arc<Mutex<Array<MapData, Slots>>>);

impl LearnGen {
    pub fn new(map: Array<MapData, Slots>) -> Self {
        Self(Arc::new(Mutex::new(map)))
    }

    /// Sets count slot `slot` to `count`, then starts a new generation.
    pub fn publish(&self, slot: u32, count: u64) -> Result<(), MapError> {
        self.write(|slots| slots[slot as usize] = count)
    }

    /// Starts a new generation: every CPU's learn cache is dropped at its next call.
    pub fn bump(&self) -> Result<(), MapError> {
        self.write(|_| ())
    }

    /// Reads the slots, changes them with `change`, adds 2^32 to the generation and writes
    /// them back, under the lock (userspace's writers never race each other). The kernel
    /// bumps the generation by one at a phase change; this adds 2^32, so that a bump of the
    /// kernel's racing with this write still leaves a value no cache was filled under (the
    /// kernel's read-add-write could undo this write only within its few instructions, and
    /// this write could undo a kernel's +1 only with a value differing from both). The count
    /// slots are written by userspace alone.
    fn write(&self, change: impl FnOnce(&mut Slots)) -> Result<(), MapError> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut slots = map.get(&0, 0)?;
        change(&mut slots);
        let g = &mut slots[GEN_SLOT as usize];
        *g = g.wrapping_add(1 << 32);
        map.set(0, slots, 0)
    }
}
