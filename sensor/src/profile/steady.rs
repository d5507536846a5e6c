//! Start-up and steady phases (temporal specialisation, after Ghavamnia et al., USENIX
//! Security 2020): a workload's calls are learned as `workload` while it starts up, and as
//! `steady` from `--startup-seconds` after its first call on. The kernel tells them apart
//! once the cgroup is in `STEADY`: it then reports each call's first use in the steady phase
//! again, so a call made only while starting up (an `execve`, a `bind`, reading its config)
//! is known, and a profile for a filter applied once the workload serves can leave it out.
use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use aya::maps::{HashMap as BpfHashMap, MapData, MapError};
use sensor_common::STEADY_SLOT;

use crate::{
    event::{Body, Event, Phase},
    probes::learn_gen::LearnGen,
};

/// The kernel's set of cgroups past their start-up.
pub struct SteadyMaps {
    steady: BpfHashMap<MapData, u64, u8>,
    learn_gen: LearnGen,
    cgroups: HashSet<u64>,
}

impl SteadyMaps {
    pub fn new(steady: BpfHashMap<MapData, u64, u8>, learn_gen: LearnGen) -> Self {
        Self {
            steady,
            learn_gen,
            cgroups: HashSet::new(),
        }
    }

    fn mark(&mut self, cgroup: u64) -> Result<(), MapError> {
        self.steady.insert(cgroup, 1, 0)?;
        self.cgroups.insert(cgroup);
        self.learn_gen
            .publish(STEADY_SLOT, self.cgroups.len() as u64)
    }

    fn forget(&mut self, cgroup: u64) {
        if self.cgroups.remove(&cgroup) {
            let _ = self.steady.remove(&cgroup);
            if let Err(e) = self
                .learn_gen
                .publish(STEADY_SLOT, self.cgroups.len() as u64)
            {
                tracing::debug!("{e}: the steady count may be stale");
            }
        }
    }
}

/// When each workload started, until its start-up is over.
pub struct Startups {
    maps: SteadyMaps,
    /// How long a start-up lasts; zero: no steady phase.
    window: Duration,
    started: HashMap<u64, Instant>,
    /// cgroups the kernel map had no room for (counted, logged once).
    pub full: u64,
}

impl Startups {
    pub fn new(maps: SteadyMaps, window: Duration) -> Self {
        Self {
            maps,
            window,
            started: HashMap::new(),
            full: 0,
        }
    }

    /// A workload's first call starts its start-up.
    pub fn observe(&mut self, ev: &Event) {
        if self.window.is_zero() {
            return;
        }
        if let Body::SyscallSeen(s) = &ev.body
            && s.phase == Phase::Workload
            && !self.maps.cgroups.contains(&ev.cgroup_id)
        {
            self.started
                .entry(ev.cgroup_id)
                .or_insert_with(Instant::now);
        }
    }

    /// Moves the workloads whose start-up is over to the steady phase.
    pub fn tick(&mut self, now: Instant) {
        let due: Vec<u64> = self
            .started
            .iter()
            .filter(|(_, t)| now.duration_since(**t) >= self.window)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.started.remove(&id);
            if let Err(e) = self.maps.mark(id) {
                self.full += 1;
                if self.full == 1 {
                    tracing::warn!(
                        cgroup = id,
                        "{e}: this workload's start-up and steady calls are not told apart"
                    );
                }
            }
        }
    }

    pub fn cgroup_gone(&mut self, id: u64) {
        self.started.remove(&id);
        self.maps.forget(id);
    }
}
