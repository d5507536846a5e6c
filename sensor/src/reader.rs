//! Draining the ring buffer into the hub, and turning the kernel's loss counters into in-band
//! loss notices. Neither ever blocks on a subscriber.
use std::time::Duration;

use aya::maps::{MapData, RingBuf};
use sensor_common::Counter;
use tokio::io::{Interest, unix::AsyncFd};

use crate::{
    decode::{Record, decode},
    enrich::Enricher,
    event::LossReason,
    hub::Hub,
    policy::engine::PolicyEngine,
    probes::KernelCounters,
    profile::learner::Learner,
};

/// Reads records until the task is dropped. Each record is decoded (never trusting its
/// length); one that cannot be decoded is logged and reported as lost.
/// Each event is enriched, then judged by the policy (which may drop an excepted call).
pub async fn run(
    ring: RingBuf<MapData>,
    hub: Hub,
    mut enricher: Enricher,
    mut policy: PolicyEngine,
    mut learner: Learner,
) -> std::io::Result<()> {
    // SAFETY: the RingBuf owns its map fd and keeps it open, unchanged, until it is dropped,
    // which only happens together with this AsyncFd.
    let mut ring = unsafe { AsyncFd::register_with_interest(ring, Interest::READABLE) }?;
    loop {
        let mut guard = ring.readable_mut().await?;
        let rb = guard.get_inner_mut();
        let mut malformed = 0u64;
        // Drain completely before clearing readiness: the kernel only wakes us again once we
        // have caught up.
        while let Some(item) = rb.next() {
            match decode(&item) {
                Ok(record) => {
                    if let Record::CgroupRmdir { id } = &record {
                        policy.forget(*id);
                        learner.cgroup_gone(*id);
                    }
                    if let Some(mut event) = enricher.handle(record)
                        && policy.judge(&mut event)
                    {
                        learner.observe(&mut event);
                        hub.publish(event);
                    }
                }
                Err(e) => {
                    malformed += 1;
                    tracing::warn!(
                        "dropping a malformed kernel record ({} bytes): {e}",
                        item.len()
                    );
                }
            }
        }
        hub.report_loss(malformed, LossReason::MalformedRecord);
        guard.clear_ready();
    }
}

/// Polls the kernel's per-CPU counters and reports every new ring-buffer loss in-band.
pub async fn watch_kernel_losses(counters: KernelCounters, hub: Hub, every: Duration) {
    let mut seen = [0u64; Counter::ALL.len()];
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        for (i, counter) in Counter::ALL.into_iter().enumerate() {
            let total = match counters.read(counter) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!("reading kernel counter {}: {e:#}", counter.name());
                    continue;
                }
            };
            if total <= seen[i] {
                continue;
            }
            let new = total - seen[i];
            seen[i] = total;
            match counter {
                Counter::RingbufFull => {
                    tracing::warn!(
                        lost = new,
                        total,
                        "kernel ring buffer full: events lost (raise --ring-buffer-bytes?)"
                    );
                    hub.report_loss(new, LossReason::KernelRingBuffer);
                }
                Counter::LearnFull => tracing::warn!(
                    new,
                    total,
                    "learned-syscalls map full: some cgroups' syscalls are not learned"
                ),
                Counter::PendingFull => tracing::warn!(
                    new,
                    total,
                    "too many flagged calls in flight: some reported without their outcome"
                ),
                Counter::ReadError => {
                    tracing::debug!(new, total, "kernel-side reads failed (fields left empty)")
                }
            }
        }
    }
}
