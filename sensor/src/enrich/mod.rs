//! Enrichment: who an event belongs to. cgroup id -> path ([`cgroups`]) -> container
//! ([`container`]) -> pod metadata ([`cri`]); pid -> parent and binaries ([`processes`]).
//! Events whose cgroup or pod metadata is being looked up wait for the answer ([`wait`]).
//! The [`Enricher`] owns the caches and is driven by the reader alone, so nothing here takes
//! a lock (but the CRI answers' cache, shared with the resolver task).
mod attribute;
pub mod cgroups;
pub mod container;
pub mod cri;
pub mod processes;
pub mod registry;
pub mod wait;

use std::{
    collections::{HashMap, VecDeque},
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use self::{
    attribute::Awaits, cgroups::CgroupCache, container::Owner, cri::CriHandle,
    processes::ProcessTable, registry::Registry, wait::WaitRoom,
};
use crate::{
    clock::Clock,
    decode::Record,
    event::{Body, Event, Kind},
};

/// How soon a container still without metadata is asked about again.
const CRI_RETRY: Duration = Duration::from_secs(2);

/// Where the host's /proc and cgroup2 tree are, as this process sees them.
#[derive(Clone, Debug)]
pub struct HostPaths {
    pub proc: PathBuf,
    pub cgroup2: PathBuf,
}

/// How long, and how many, events may wait for their cgroup or pod metadata.
#[derive(Clone, Copy, Debug)]
pub struct WaitBounds {
    pub max_wait: Duration,
    pub max_events: usize,
}

/// Events that went out without the answer they waited for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Late {
    pub metadata: u64,
    pub cgroup: u64,
}

type Rescan = oneshot::Receiver<std::io::Result<Vec<(u64, String)>>>;

#[derive(Debug)]
pub struct Enricher {
    cgroups: CgroupCache,
    procs: ProcessTable,
    clock: Clock,
    registry: Registry,
    cri: Option<CriHandle>,
    /// When each container without metadata was last asked about.
    asked: HashMap<String, Instant>,
    room: WaitRoom,
    /// A rescan of the cgroup2 tree running off the reader.
    rescan: Option<Rescan>,
    /// Events ready to go on, in order.
    ready: VecDeque<Event>,
    pub late: Late,
    /// Rescans of the cgroup tree started for a miss.
    pub rescans: u64,
}

impl Enricher {
    /// Scans the cgroup2 tree and /proc once.
    pub fn new(
        paths: &HostPaths,
        cgroup_capacity: usize,
        process_capacity: usize,
        registry: Registry,
        cri: Option<CriHandle>,
        wait: WaitBounds,
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
            room: WaitRoom::new(wait.max_wait, wait.max_events),
            rescan: None,
            ready: VecDeque::new(),
            late: Late::default(),
            rescans: 0,
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

    /// Events waiting for their cgroup or pod metadata now.
    pub fn waiting(&self) -> usize {
        self.room.len()
    }

    /// The next event ready to go on (attributed, or done waiting).
    pub fn next_ready(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    /// Updates the caches from a record; an event it makes is ready ([`Self::next_ready`])
    /// now or once what it waits for is known.
    pub fn handle(&mut self, record: Record) {
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
            }
            Record::KernelLoss {
                cgroup_id,
                kind,
                count,
            } => self.lost(cgroup_id, kind, count),
            Record::Event(mut ev) => {
                ev.time_unix_nano = self.clock.wall_ns(ev.ktime_ns);
                let awaits = self.attribute(&mut ev);
                self.track_process(&mut ev);
                // A flood summary tells what the ring dropped of this cgroup's flagged calls.
                if let Body::FlaggedSyscall(f) = &ev.body
                    && let Some(s) = &f.suppressed
                    && s.lost > 0
                {
                    self.lost(ev.cgroup_id, Kind::FlaggedSyscall, s.lost);
                }
                if awaits == Awaits::Nothing && !self.room.is_waiting(ev.cgroup_id) {
                    self.ready.push_back(ev);
                } else if let Some(first) = self.room.hold(ev) {
                    self.release(first, true);
                }
            }
        }
    }

    /// Counts records of a container that the kernel dropped (other cgroups' losses are
    /// told node-wide only).
    fn lost(&mut self, cgroup_id: u64, kind: Kind, count: u64) {
        if let Some(info) = self.cgroups.resolve_cached(cgroup_id)
            && let Owner::Container(c) = &*info.owner
        {
            self.registry.lost(c, cgroup_id, &info.path, kind, count);
        }
    }

    /// Keeps the process table and the event's process fields current.
    fn track_process(&mut self, ev: &mut Event) {
        let pid = ev.process.pid;
        match &ev.body {
            Body::Fork { child_pid } => self.procs.fork(pid, *child_pid),
            Body::Exec(e) if e.errno.is_none() => {
                self.procs.exec(pid, ev.process.ppid, &e.filename, &e.argv)
            }
            Body::Exec(_)
            | Body::SyscallSeen(_)
            | Body::FlaggedSyscall(_)
            | Body::ProfileDeviation(_) => {}
            Body::Exit { .. } => self.procs.exit(pid),
        }
        let p = &mut ev.process;
        if p.ppid == 0 {
            p.ppid = self.procs.ppid(p.pid).unwrap_or(0);
        }
        p.argv = match &ev.body {
            Body::Exec(e) if e.errno.is_none() => Some(e.argv.clone()),
            _ => self.procs.argv(p.pid),
        };
        p.parent_exe = self.procs.exe(p.ppid);
        p.grandparent_exe = self.procs.ppid(p.ppid).and_then(|gp| self.procs.exe(gp));
    }
}
