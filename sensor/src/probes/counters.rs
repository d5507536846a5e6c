//! The kernel's own counters and the learned map's fill level, polled while the sensor
//! runs.
use aya::maps::{HashMap, MapData, PerCpuArray};
use sensor_common::{Counter, LEARNED_SLOTS};

/// Counts the entries of the learned-syscalls map.
pub struct LearnedCounter {
    pub(super) map: HashMap<MapData, u64, [u8; LEARNED_SLOTS]>,
    pub capacity: u64,
}

impl LearnedCounter {
    pub fn entries(&self) -> u64 {
        self.map.keys().filter(Result::is_ok).count() as u64
    }
}

/// Read access to the per-CPU `COUNTERS` map.
pub struct KernelCounters(pub(super) PerCpuArray<MapData, sensor_common::Counts>);

impl KernelCounters {
    /// Every counter, each summed over every possible CPU: one lookup.
    pub fn read(&self) -> Result<[u64; Counter::ALL.len()], aya::maps::MapError> {
        let per_cpu = self.0.get(&0, 0)?;
        Ok(std::array::from_fn(|i| {
            per_cpu
                .iter()
                .filter_map(|counts| counts.get(Counter::ALL[i] as usize))
                .sum()
        }))
    }
}
