//! Summaries of what the kernel's flood budget held back (see `flood.rs` in sensor-ebpf):
//! each (cgroup, flagged call) sends at most `--flood-budget` records a second from each
//! CPU, and counts the rest; it also counts, per (cgroup, call), the records that found the
//! ring buffer full. Every second, the counts' growth goes out as one flagged-call event per
//! (cgroup, call) that stands for those calls (`suppressed`, `lost_in_kernel`), through the
//! same enrichment, policy and filters as the calls themselves. The exec, fork and exit
//! records a cgroup lost are counted the same way (`LOST_KEY_*`) and go to its container's
//! entry in `ListContainers`. Nothing is lost: a summary that
//! finds no room in the reader's queue is told at the next poll instead.
use std::time::Duration;

use aya::maps::{MapData, PerCpuHashMap};
use foldhash::HashMap;
use sensor_common::{FloodKey, FloodState, LOST_KEY_EXEC, LOST_KEY_EXIT, LOST_KEY_FORK};
use tokio::sync::mpsc;

use crate::{
    clock::monotonic_ns,
    decode::Record,
    event::{Body, Event, FlaggedSyscall, Kind, Outcome, Suppressed},
    reconcile::Made,
    syscalls::{self, Arch},
};

pub type FloodMap = PerCpuHashMap<MapData, FloodKey, FloodState>;

/// An entry whose windows all began this long ago and that has nothing new is removed
/// (its cgroup went quiet or away; it comes back on its next flagged call).
const IDLE_NS: u64 = 30_000_000_000;

pub struct FloodWatch {
    map: FloodMap,
    /// Suppressed calls and lost records already told, by entry.
    told: HashMap<FloodKey, (u64, u64)>,
    last_poll_ns: u64,
}

impl FloodWatch {
    pub fn new(map: FloodMap) -> Self {
        Self {
            map,
            told: HashMap::default(),
            last_poll_ns: monotonic_ns(),
        }
    }

    /// The summaries of what was suppressed since the last poll. `told` advances only for
    /// those `send` accepts.
    fn poll(&mut self, mut send: impl FnMut(Record) -> bool) {
        let now = monotonic_ns();
        let period = now.saturating_sub(self.last_poll_ns);
        let mut idle = Vec::new();
        for item in self.map.iter() {
            let Ok((key, values)) = item else {
                continue; // an entry removed while we walked
            };
            let total = (
                values.iter().map(|v| v.suppressed).sum::<u64>(),
                values.iter().map(|v| v.lost).sum::<u64>(),
            );
            let told = self.told.get(&key).copied().unwrap_or((0, 0));
            let newest = values.iter().map(|v| v.window_start_ns).max().unwrap_or(0);
            if total != told {
                let new = Suppressed {
                    count: total.0.saturating_sub(told.0),
                    lost: total.1.saturating_sub(told.1),
                    period_ns: period,
                };
                if send(summary(key, new, now)) {
                    self.told.insert(key, total);
                }
            } else if now.saturating_sub(newest) > IDLE_NS {
                idle.push(key);
            }
        }
        for key in idle {
            let _ = self.map.remove(&key);
            self.told.remove(&key);
        }
        self.last_poll_ns = now;
    }
}

/// One summary event of the entry's syscall from its cgroup, at `now`; for an exec, fork or
/// exit entry (`LOST_KEY_*`), the count of that cgroup's records the ring dropped.
fn summary(key: FloodKey, new: Suppressed, now: u64) -> Record {
    let lifecycle = match u64::from(key.key) {
        LOST_KEY_EXEC => Some(Kind::Exec),
        LOST_KEY_FORK => Some(Kind::Fork),
        LOST_KEY_EXIT => Some(Kind::Exit),
        _ => None,
    };
    if let Some(kind) = lifecycle {
        return Record::KernelLoss {
            cgroup_id: key.cgroup_id,
            kind,
            count: new.lost,
        };
    }
    let (arch, nr) = Arch::NATIVE.of_key(u64::from(key.key));
    let mut ev = Event::for_cgroup(key.cgroup_id, now);
    ev.body = Body::FlaggedSyscall(FlaggedSyscall {
        arch,
        nr,
        name: syscalls::name(arch, nr),
        args: [0; 6],
        outcome: Outcome::Unknown,
        severity: None,
        decoded: Vec::new(),
        args_at_exit: false,
        deviation: false,
        namespaces_at_fork: None,
        suppressed: Some(new),
    });
    Record::Event(ev)
}

/// Polls `watch` every `every` and hands the summaries to the reader.
pub async fn run(mut watch: FloodWatch, to_reader: mpsc::Sender<Made>, every: Duration) {
    let mut tick = crate::clock::beat(every);
    loop {
        tick.tick().await;
        watch.poll(|r| to_reader.try_send(Made::Record(Box::new(r))).is_ok());
    }
}
