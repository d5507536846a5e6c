//! Draining the ring buffer into the hub, and turning the kernel's loss counters into in-band
//! loss notices. Neither ever blocks on a subscriber.
use std::{
    collections::HashSet,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use aya::maps::{MapData, RingBuf};
use sensor_common::Counter;
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::mpsc,
    time::Instant,
};

use crate::{
    decode::{Record, decode},
    enrich::Enricher,
    event::{Event, Kind, LossReason},
    hub::Hub,
    metrics::{DrainingGuard, Gauges, KernelTotals},
    policy::engine::PolicyEngine,
    probes::{KernelCounters, LearnedCounter},
    profile::learner::Learner,
    reconcile::Made,
};

mod alarm;
mod redrain;
use alarm::Alarm;
use redrain::{Read, Redrain};

/// What every record goes through once decoded: enrichment, then the policy (which may drop
/// an excepted call), then learning and the hub.
pub struct Pipeline {
    pub hub: Hub,
    pub enricher: Enricher,
    pub policy: PolicyEngine,
    pub learner: Learner,
    /// Events judged and learned from, published together by [`Pipeline::flush`]: a
    /// subscriber woken by the first then finds the others waiting, instead of being woken
    /// (on the other worker thread) once per event while the reader decodes the next.
    outbox: Vec<Event>,
}

impl Pipeline {
    pub fn new(hub: Hub, enricher: Enricher, policy: PolicyEngine, learner: Learner) -> Self {
        Self {
            hub,
            enricher,
            policy,
            learner,
            outbox: Vec::new(),
        }
    }

    /// Publishes what [`Pipeline::pass_ready`] made, in order.
    fn flush(&mut self) {
        for event in self.outbox.drain(..) {
            self.hub.publish(event);
        }
    }

    /// Every cgroup something here holds state for.
    fn tracked(&self) -> HashSet<u64> {
        let mut ids: HashSet<u64> = self.enricher.cgroup_ids().collect();
        ids.extend(self.policy.cgroup_ids());
        ids.extend(self.learner.kernel_cgroup_ids());
        ids
    }

    fn handle_made(&mut self, made: Made) {
        match made {
            Made::Record(record) => self.handle(*record),
            Made::Tracked(reply) => {
                let _ = reply.send(self.tracked());
            }
            Made::Policy(policy, done) => {
                self.policy.install(policy);
                let _ = done.send(());
            }
            Made::Tick => self.learner.tick(std::time::Instant::now()),
        }
    }

    /// The reader's table sizes, for the metrics.
    fn show(&self, gauges: &Gauges) {
        gauges
            .cgroups_cached
            .store(self.enricher.cgroups() as u64, Ordering::Relaxed);
        gauges
            .processes_tracked
            .store(self.enricher.processes() as u64, Ordering::Relaxed);
        gauges
            .events_waiting
            .store(self.enricher.waiting() as u64, Ordering::Relaxed);
        let late = self.enricher.late;
        gauges.late_metadata.store(late.metadata, Ordering::Relaxed);
        gauges.late_cgroup.store(late.cgroup, Ordering::Relaxed);
        gauges
            .cgroup_rescans
            .store(self.enricher.rescans, Ordering::Relaxed);
    }

    fn handle(&mut self, record: Record) {
        if let Record::CgroupRmdir { id } = &record {
            self.policy.forget(*id);
            self.learner.cgroup_gone(*id);
        }
        self.enricher.handle(record);
        self.pass_ready();
    }

    /// Judges, learns from and publishes every event the enricher has ready.
    fn pass_ready(&mut self) {
        while let Some(mut event) = self.enricher.next_ready() {
            let keep = self.policy.judge(&mut event);
            // A flagged call outside its container's profile is a deviation too, even when
            // an exception drops the flagged event.
            let deviation = self.policy.deviation_of(&event);
            if keep {
                self.learner.observe(&mut event);
                self.outbox.push(event);
            }
            if let Some(d) = deviation {
                self.outbox.push(d);
            }
        }
    }
}

/// Reads records until the task is dropped. Each record is decoded (never trusting its
/// length); one that cannot be decoded is logged and reported as lost. Records the sensor
/// makes itself (flood summaries, removals found by reconciliation) come in through `made`
/// and take the same way.
pub async fn run(
    ring: RingBuf<MapData>,
    mut pipeline: Pipeline,
    made: mpsc::Receiver<Made>,
    gauges: Arc<Gauges>,
    lazy_interval: std::time::Duration,
) -> std::io::Result<()> {
    let _draining = DrainingGuard::new(gauges.clone());
    // SAFETY: the RingBuf owns its map fd and keeps it open, unchanged, until it is dropped,
    // which only happens together with this AsyncFd.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }?;
    let mut made = Some(made);
    // Drains that no wakeup asks for (see `redrain`), at the alarm's ring.
    let mut redrain = Redrain::new(lazy_interval);
    let mut alarm = Alarm::new()?;
    loop {
        alarm.set(redrain.next())?;
        let rang = tokio::select! {
            r = async { made.as_mut()?.recv().await }, if made.is_some() => {
                match r {
                    Some(m) => pipeline.handle_made(m),
                    None => made = None,
                }
                pipeline.flush();
                pipeline.show(&gauges);
                continue;
            }
            () = pipeline.enricher.wake() => {
                pipeline.enricher.settle();
                pipeline.pass_ready();
                pipeline.flush();
                pipeline.show(&gauges);
                continue;
            }
            r = alarm.rung(), if alarm.armed() && !redrain.more() => r,
            () = std::future::ready(()), if redrain.more() => Ok(()),
            r = ring.readable_mut() => {
                let mut guard = r?;
                let (read, caught_up) = drain(guard.get_inner_mut(), &mut pipeline, &gauges);
                redrain.drained(read, caught_up, Instant::now());
                if caught_up {
                    guard.clear_ready();
                } else {
                    drop(guard);
                    tokio::task::yield_now().await;
                }
                continue;
            }
        };
        // The alarm rang, or the last drain left records behind. Readiness stays as it is:
        // a wakeup that came meanwhile is still served.
        rang?;
        redrain.due(Instant::now());
        let (read, caught_up) = drain(ring.get_mut(), &mut pipeline, &gauges);
        redrain.drained(read, caught_up, Instant::now());
        if !caught_up {
            // More than a batch was waiting: the rest right after other tasks ran.
            tokio::task::yield_now().await;
        }
    }
}

/// Handles what the ring holds, at most `BATCH` records: which classes of records it read,
/// and whether it caught up (the ring was empty at the end). Drain completely before
/// clearing readiness: the kernel only wakes us again once we have caught up. But yield
/// every BATCH records: under a storm the ring never empties, and the subscriber tasks this
/// task wakes wait for this worker until it yields.
fn drain(rb: &mut RingBuf<MapData>, pipeline: &mut Pipeline, gauges: &Gauges) -> (Read, bool) {
    let mut malformed = 0u64;
    let mut taken = 0usize;
    let mut caught_up = true;
    let mut read = Read::default();
    while let Some(item) = rb.next() {
        taken += 1;
        read.note(&item);
        match decode(&item) {
            Ok(record) => pipeline.handle(record),
            Err(e) => {
                malformed += 1;
                tracing::warn!(
                    "dropping a malformed kernel record ({} bytes): {e}",
                    item.len()
                );
            }
        }
        drop(item);
        if taken == BATCH {
            caught_up = false;
            break;
        }
    }
    pipeline.flush();
    pipeline
        .hub
        .report_loss(malformed, LossReason::MalformedRecord, None);
    if taken > 0 {
        pipeline.show(gauges);
    }
    (read, caught_up)
}

/// Records handled before the reader lets other tasks run.
const BATCH: usize = 1024;

/// Kernel state polled besides the ring buffer.
pub struct KernelPoll {
    pub counters: KernelCounters,
    pub learned: LearnedCounter,
    /// Where the totals go, for the metrics.
    pub totals: KernelTotals,
    pub gauges: Arc<Gauges>,
}

/// Polls the kernel's per-CPU counters, reports every new ring-buffer loss in-band, and
/// refreshes the map fill level every `MAP_EVERY` polls.
pub async fn watch_kernel(k: KernelPoll, hub: Hub, every: Duration) {
    const MAP_EVERY: u64 = 40;
    let mut seen = [0u64; Counter::ALL.len()];
    let mut tick = crate::clock::beat(every);
    k.gauges
        .learned_capacity
        .store(k.learned.capacity, Ordering::Relaxed);
    for round in 0u64.. {
        tick.tick().await;
        if round % MAP_EVERY == 0 {
            let entries = k.learned.entries();
            k.gauges.learned_entries.store(entries, Ordering::Relaxed);
        }
        let totals = match k.counters.read() {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!("reading the kernel counters: {e:#}");
                continue;
            }
        };
        for (i, (counter, total)) in Counter::ALL.into_iter().zip(totals).enumerate() {
            if total <= seen[i] {
                continue;
            }
            let new = total - seen[i];
            seen[i] = total;
            k.totals[i].store(total, Ordering::Relaxed);
            if let Some(kind) = ring_buffer_loss(counter) {
                tracing::warn!(
                    lost = new,
                    total,
                    records = counter.name(),
                    "kernel ring buffer full: events lost (raise --ring-buffer-bytes?)"
                );
                hub.report_loss(new, LossReason::KernelRingBuffer, kind);
                continue;
            }
            match counter {
                Counter::LearnFull => tracing::warn!(
                    new,
                    total,
                    "learned-syscalls map full: some cgroups' syscalls are not learned"
                ),
                Counter::PendingFull => tracing::warn!(
                    new,
                    total,
                    "too many flagged calls in flight: some records built at their exit, \
                     arguments read then (raise --pending-capacity?)"
                ),
                Counter::PendingStale => tracing::info!(
                    new,
                    total,
                    "flagged calls whose exit never came: sent without an outcome"
                ),
                Counter::FloodFull => tracing::warn!(
                    new,
                    total,
                    "flood-budget table full: some flagged calls sent without a budget"
                ),
                Counter::ExecPendingFull => tracing::warn!(
                    new,
                    total,
                    "too many execs in flight: some reported with argv unknown"
                ),
                Counter::ReadError => {
                    tracing::debug!(new, total, "kernel-side reads failed (fields left empty)")
                }
                _ => {}
            }
        }
    }
}

/// For a ring-buffer loss counter, the kind of the records it counts (`Some(None)`: the
/// sensor's own cgroup bookkeeping records); `None` for other counters.
#[allow(clippy::option_option)]
pub fn ring_buffer_loss(counter: Counter) -> Option<Option<Kind>> {
    match counter {
        Counter::RingbufFullFlagged => Some(Some(Kind::FlaggedSyscall)),
        Counter::RingbufFullExec => Some(Some(Kind::Exec)),
        Counter::RingbufFullFork => Some(Some(Kind::Fork)),
        Counter::RingbufFullExit => Some(Some(Kind::Exit)),
        Counter::RingbufFullSeen => Some(Some(Kind::SyscallSeen)),
        Counter::RingbufFullCgroup => Some(None),
        Counter::ReadError
        | Counter::PendingFull
        | Counter::PendingStale
        | Counter::ExecPendingFull
        | Counter::ExecPendingStale
        | Counter::FloodFull
        | Counter::LearnFull => None,
    }
}
