//! The containers seen on this node, with their event counts: what `ListContainers` and
//! `sensor containers` show. Written by the enricher, read by the API.
use std::sync::{Arc, Mutex};

use foldhash::HashMap;

use super::container::ContainerRef;
use crate::event::Kind;

/// Containers remembered at once; beyond that, gone ones are forgotten first.
const CAPACITY: usize = 16_384;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeenContainer {
    pub container: Arc<ContainerRef>,
    pub cgroup_id: u64,
    pub cgroup_path: Arc<str>,
    pub events: u64,
    pub first_seen_unix_nano: u64,
    pub last_seen_unix_nano: u64,
    /// False once its cgroup was removed.
    pub running: bool,
    /// Its records the kernel dropped (ring buffer full), by kind: flagged calls, execs,
    /// forks, exits.
    pub lost_in_kernel: KernelLosses,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLosses {
    pub flagged_syscalls: u64,
    pub execs: u64,
    pub forks: u64,
    pub exits: u64,
}

impl KernelLosses {
    fn add(&mut self, kind: Kind, n: u64) {
        let slot = match kind {
            Kind::FlaggedSyscall => &mut self.flagged_syscalls,
            Kind::Exec => &mut self.execs,
            Kind::Fork => &mut self.forks,
            Kind::Exit => &mut self.exits,
            Kind::SyscallSeen | Kind::ProfileDeviation => return,
        };
        *slot += n;
    }
}

/// The container's entry, made (with nothing counted yet) if it has none; `None` when the
/// registry is full of running containers.
fn entry<'a>(
    map: &'a mut HashMap<String, SeenContainer>,
    container: &Arc<ContainerRef>,
    cgroup_id: u64,
    cgroup_path: &Arc<str>,
) -> Option<&'a mut SeenContainer> {
    // Looked up first: the reader calls this for every event, and the id is cloned only for
    // a new entry.
    if !map.contains_key(&container.id) {
        if map.len() >= CAPACITY {
            map.retain(|_, s| s.running);
            if map.len() >= CAPACITY {
                return None;
            }
        }
        map.insert(
            container.id.clone(),
            SeenContainer {
                container: container.clone(),
                cgroup_id,
                cgroup_path: cgroup_path.clone(),
                events: 0,
                first_seen_unix_nano: 0,
                last_seen_unix_nano: 0,
                running: true,
                lost_in_kernel: KernelLosses::default(),
            },
        );
    }
    map.get_mut(&container.id)
}

#[derive(Clone, Debug, Default)]
pub struct Registry(Arc<Mutex<HashMap<String, SeenContainer>>>);

impl Registry {
    /// Counts one event of `container` (uncontended: only the reader writes).
    pub fn saw(
        &self,
        container: &Arc<ContainerRef>,
        cgroup_id: u64,
        cgroup_path: &Arc<str>,
        now: u64,
    ) {
        let Ok(mut map) = self.0.lock() else { return };
        if let Some(seen) = entry(&mut map, container, cgroup_id, cgroup_path) {
            seen.events += 1;
            if seen.first_seen_unix_nano == 0 {
                seen.first_seen_unix_nano = now;
            }
            seen.last_seen_unix_nano = now;
            seen.running = true;
        }
    }

    /// Counts `n` records of `container` of `kind` that the kernel dropped. A container
    /// whose every record was dropped is listed too, with no events.
    pub fn lost(
        &self,
        container: &Arc<ContainerRef>,
        cgroup_id: u64,
        cgroup_path: &Arc<str>,
        kind: Kind,
        n: u64,
    ) {
        let Ok(mut map) = self.0.lock() else { return };
        if let Some(seen) = entry(&mut map, container, cgroup_id, cgroup_path) {
            seen.lost_in_kernel.add(kind, n);
        }
    }

    /// The container's cgroup went away.
    pub fn gone(&self, container_id: &str) {
        if let Ok(mut map) = self.0.lock()
            && let Some(seen) = map.get_mut(container_id)
        {
            seen.running = false;
        }
    }

    /// Containers remembered (running or not).
    pub fn len(&self) -> usize {
        self.0.lock().map(|m| m.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Everything seen, most recent first.
    pub fn list(&self) -> Vec<SeenContainer> {
        let mut v: Vec<SeenContainer> = self
            .0
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        v.sort_by_key(|s| std::cmp::Reverse(s.last_seen_unix_nano));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::container::Runtime;

    #[test]
    fn counts_events_and_marks_gone() {
        let r = Registry::default();
        let c = Arc::new(ContainerRef {
            runtime: Runtime::Docker,
            id: "a".repeat(64),
            pod: None,
        });
        let path: Arc<str> = Arc::from("/docker/x");
        r.saw(&c, 7, &path, 10);
        r.saw(&c, 7, &path, 20);
        r.lost(&c, 7, &path, Kind::Exec, 3);
        r.lost(&c, 7, &path, Kind::Exec, 2);
        r.lost(&c, 7, &path, Kind::SyscallSeen, 9);
        r.gone(&c.id);
        let l = r.list();
        assert_eq!(l.len(), 1);
        assert_eq!(
            (
                l[0].events,
                l[0].first_seen_unix_nano,
                l[0].last_seen_unix_nano
            ),
            (2, 10, 20)
        );
        assert_eq!(
            l[0].lost_in_kernel,
            KernelLosses {
                execs: 5,
                ..Default::default()
            }
        );
        assert!(!l[0].running);
    }
}
