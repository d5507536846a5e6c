//! Enrichment: who an event belongs to. cgroup id -> path ([`cgroups`]) -> container
//! ([`container`]); pid -> parent and binaries ([`processes`]). The [`Enricher`] owns both
//! caches and is driven by the reader alone, so nothing here takes a lock.
pub mod cgroups;
pub mod container;
pub mod cri;
pub mod processes;
pub mod registry;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use self::{
    cgroups::CgroupCache, container::Owner, cri::CriHandle, processes::ProcessTable,
    registry::Registry,
};
use crate::{
    clock::Clock,
    decode::Record,
    event::{Attribution, Body, Event},
};

/// How soon a container still without metadata is asked about again.
const CRI_RETRY: Duration = Duration::from_secs(2);

/// Where the host's /proc and cgroup2 tree are, as this process sees them.
#[derive(Clone, Debug)]
pub struct HostPaths {
    pub proc: PathBuf,
    pub cgroup2: PathBuf,
}

#[derive(Debug)]
pub struct Enricher {
    cgroups: CgroupCache,
    procs: ProcessTable,
    clock: Clock,
    registry: Registry,
    cri: Option<CriHandle>,
    /// When each container without metadata was last asked about.
    asked: HashMap<String, Instant>,
}

impl Enricher {
    /// Scans the cgroup2 tree and /proc once.
    pub fn new(
        paths: &HostPaths,
        cgroup_capacity: usize,
        process_capacity: usize,
        registry: Registry,
        cri: Option<CriHandle>,
    ) -> Self {
        let mut cgroups = CgroupCache::new(paths.cgroup2.clone(), cgroup_capacity);
        match cgroups.scan() {
            Ok(n) => tracing::debug!(cgroups = n, "scanned {}", paths.cgroup2.display()),
            Err(e) => tracing::warn!(
                "cannot scan the cgroup2 tree at {}: {e}",
                paths.cgroup2.display()
            ),
        }
        let mut procs = ProcessTable::new(process_capacity);
        match procs.scan(&paths.proc) {
            Ok(n) => tracing::debug!(processes = n, "scanned {}", paths.proc.display()),
            Err(e) => tracing::warn!("cannot scan {}: {e}", paths.proc.display()),
        }
        Self {
            cgroups,
            procs,
            clock: Clock::new(),
            registry,
            cri,
            asked: HashMap::new(),
        }
    }

    /// For a cgroup the start-up scan found: the container it belongs to, if any
    /// (`None` when the cgroup is not known).
    pub fn container_of(&self, cgroup_id: u64) -> Option<Option<Arc<container::ContainerRef>>> {
        let info = self.cgroups.resolve_cached(cgroup_id)?;
        Some(match &*info.owner {
            Owner::Container(c) => Some(c.clone()),
            Owner::Host | Owner::Unknown => None,
        })
    }

    pub fn cgroups(&self) -> usize {
        self.cgroups.len()
    }

    /// The cgroups the attribution cache holds.
    pub fn cgroup_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.cgroups.ids()
    }

    pub fn processes(&self) -> usize {
        self.procs.len()
    }

    /// Updates the caches from a record; returns the enriched event, if it is one.
    pub fn handle(&mut self, record: Record) -> Option<Event> {
        match record {
            Record::CgroupMkdir {
                id,
                path,
                truncated,
            } => {
                // A cut path would be misread: leave it to the rescan a lookup miss triggers.
                if !truncated {
                    self.cgroups.insert(id, &path);
                }
                None
            }
            Record::CgroupRmdir { id } => {
                if let Some(info) = self.cgroups.remove(id)
                    && let Owner::Container(c) = &*info.owner
                {
                    self.registry.gone(&c.id);
                    self.asked.remove(&c.id);
                    if let Some(cri) = &self.cri {
                        cri.forget(&c.id);
                    }
                }
                None
            }
            Record::Event(mut ev) => {
                ev.time_unix_nano = self.clock.wall_ns(ev.ktime_ns);
                self.enrich(&mut ev);
                let pid = ev.process.pid;
                match &ev.body {
                    Body::Fork { child_pid } => self.procs.fork(pid, *child_pid),
                    Body::Exec(e) if e.errno.is_none() => {
                        self.procs.exec(pid, ev.process.ppid, &e.filename, &e.argv)
                    }
                    Body::Exec(_) | Body::SyscallSeen(_) => {}
                    Body::Exit { .. } => self.procs.exit(pid),
                    Body::FlaggedSyscall(_) => {}
                }
                Some(ev)
            }
        }
    }

    /// The runtime's answer for a container, asking for one (without waiting) if there is none.
    fn metadata(&mut self, container_id: &str) -> Option<std::sync::Arc<cri::PodMeta>> {
        let cri = self.cri.as_ref()?;
        if let Some(meta) = cri.get(container_id) {
            self.asked.remove(container_id);
            return Some(meta);
        }
        let due = self
            .asked
            .get(container_id)
            .is_none_or(|t| t.elapsed() >= CRI_RETRY);
        if due {
            cri.request(container_id);
            self.asked.insert(container_id.to_owned(), Instant::now());
        }
        None
    }

    fn enrich(&mut self, ev: &mut Event) {
        if let Some(info) = self.cgroups.resolve(ev.cgroup_id) {
            ev.attribution = match &*info.owner {
                Owner::Container(c) => {
                    self.registry
                        .saw(c, ev.cgroup_id, &info.path, ev.time_unix_nano);
                    Attribution::Container {
                        container: c.clone(),
                        meta: self.metadata(&c.id),
                    }
                }
                Owner::Host => Attribution::Host,
                Owner::Unknown => Attribution::Unknown,
            };
            ev.cgroup_path = Some(info.path);
        }
        let p = &mut ev.process;
        if p.ppid == 0 {
            p.ppid = self.procs.ppid(p.pid).unwrap_or(0);
        }
        p.argv = match &ev.body {
            Body::Exec(e) if e.errno.is_none() => Some(Arc::from(e.argv.as_slice())),
            _ => self.procs.argv(p.pid),
        };
        p.parent_exe = self.procs.exe(p.ppid);
        p.grandparent_exe = self.procs.ppid(p.ppid).and_then(|gp| self.procs.exe(gp));
    }
}
