//! Putting bound profiles into the kernel (`BOUND`), owned by the policy engine in the
//! reader. Each change also drops every CPU's learn cache (which only remembers calls that
//! need no check) and says how many cgroups are bound (none: the check is skipped), through
//! [`LearnGen`].
use std::collections::HashSet;

use aya::maps::{HashMap, MapData, MapError};
use sensor_common::{BOUND_ARMED, BOUND_SLOT, BOUND_WORDS, FORBIDDEN_WORDS};

use crate::{probes::learn_gen::LearnGen, syscalls::SyscallBitmap};

pub struct BoundMaps {
    bound: HashMap<MapData, u64, [u64; BOUND_WORDS]>,
    learn_gen: LearnGen,
    cgroups: HashSet<u64>,
}

impl BoundMaps {
    pub fn new(bound: HashMap<MapData, u64, [u64; BOUND_WORDS]>, learn_gen: LearnGen) -> Self {
        Self {
            bound,
            learn_gen,
            cgroups: HashSet::new(),
        }
    }

    /// Checks `cgroup`'s calls against `allowed` from now on: from its runtime's hand-over,
    /// or at once when `armed`.
    pub fn bind(
        &mut self,
        cgroup: u64,
        allowed: &SyscallBitmap,
        armed: bool,
    ) -> Result<(), MapError> {
        let mut value = [0u64; BOUND_WORDS];
        value[..FORBIDDEN_WORDS as usize].copy_from_slice(allowed);
        if armed {
            value[BOUND_WORDS - 1] = BOUND_ARMED;
        }
        self.bound.insert(cgroup, value, 0)?;
        self.cgroups.insert(cgroup);
        self.publish()
    }

    /// Stops checking `cgroup`.
    pub fn unbind(&mut self, cgroup: u64) {
        if self.cgroups.remove(&cgroup) {
            let _ = self.bound.remove(&cgroup);
            if let Err(e) = self.publish() {
                tracing::warn!("{e}: the kernel may check a cgroup that is no longer bound");
            }
        }
    }

    fn publish(&mut self) -> Result<(), MapError> {
        self.learn_gen
            .publish(BOUND_SLOT, self.cgroups.len() as u64)
    }
}
