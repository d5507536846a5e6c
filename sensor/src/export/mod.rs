//! OTLP export (`sensor run --otlp-endpoint`): events as OpenTelemetry log records, pushed
//! to a Collector (or any OTLP/gRPC logs receiver).
//!
//! The exporter is one more hub subscriber with its own filter: it never slows the reader or
//! the gRPC subscribers. While the endpoint is down or slow, the events the filter keeps wait
//! in its queue (`--otlp-queue`, [`queue`]); past that the oldest are dropped. A batch is retried
//! with backoff for `--otlp-retry-seconds`, then given up. Every loss (queue full, endpoint
//! unavailable, batch rejected, and the node-wide kernel losses) is counted
//! (`sensor_export_lost_total{reason}`) and announced in-band by a `sensor.lost` record in
//! the next batch that gets through.
mod endpoint;
mod queue;
mod record;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use opentelemetry_proto::tonic::{
    collector::logs::v1::ExportLogsServiceRequest,
    logs::v1::{LogRecord, ResourceLogs, ScopeLogs},
};
use sensor_proto::v1 as pb;
use tokio::time::Instant;

pub use self::endpoint::{EndpointConfig, EndpointError};
use self::{
    endpoint::{Endpoint, Failure},
    queue::Queue,
};
use crate::{
    api::{Identity, convert},
    filter::Filter,
    hub::{Published, Subscription},
};

/// `sensor run --otlp-*`.
#[derive(Clone, Debug)]
pub struct OtlpConfig {
    pub endpoint: EndpointConfig,
    pub filter: Filter,
    /// Events waiting for the endpoint, at most (the oldest are dropped past it).
    pub queue: usize,
    /// Records per export, at most.
    pub batch: usize,
    /// How long the first event of a batch waits for others.
    pub flush: Duration,
    /// How long a batch is retried before it is given up.
    pub retry_for: Duration,
}

/// Losses on the way to the endpoint (the metric's `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExportLoss {
    /// The exporter fell behind (endpoint down or slow) and its queue overflowed.
    QueueFull,
    /// A batch was retried for `--otlp-retry-seconds` without getting through.
    EndpointUnavailable,
    /// The endpoint refused records (an error that retrying does not fix, or a partial
    /// success).
    Rejected,
    /// The exporter's feeder fell behind the hub itself (--subscriber-queue): the count may
    /// include events the filter would have left out.
    Hub,
}

impl ExportLoss {
    pub const ALL: [ExportLoss; 4] = [
        ExportLoss::QueueFull,
        ExportLoss::EndpointUnavailable,
        ExportLoss::Rejected,
        ExportLoss::Hub,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExportLoss::QueueFull => "queue_full",
            ExportLoss::EndpointUnavailable => "endpoint_unavailable",
            ExportLoss::Rejected => "rejected",
            ExportLoss::Hub => "hub_queue",
        }
    }
}

/// The exporter's counters, for metrics and Status.
#[derive(Debug, Default)]
pub struct ExportStats {
    /// Records the endpoint accepted (events and loss notices).
    pub exported: AtomicU64,
    /// Events lost on the way, by [`ExportLoss`].
    pub lost: [AtomicU64; ExportLoss::ALL.len()],
    pub retries: AtomicU64,
}

/// Why records are announced lost in-band: an export loss, or a node-wide one the hub
/// reported (kernel ring buffer, malformed record), with the kind when known.
pub(crate) type LossKey = (&'static str, Option<&'static str>);

struct Exporter {
    endpoint: Endpoint,
    endpoint_url: String,
    identity: Arc<Identity>,
    cfg: OtlpConfig,
    stats: Arc<ExportStats>,
    /// Losses not announced yet.
    pending: BTreeMap<LossKey, u64>,
    /// The last `sensor.export.seq` given.
    export_seq: u64,
    /// The endpoint took the last batch (for logging outages once).
    healthy: bool,
}

/// An exporter whose configuration was checked (URL, headers, TLS files), not started yet.
pub struct Prepared {
    endpoint: Endpoint,
    cfg: OtlpConfig,
}

/// Checks everything that can be checked before the first export.
pub fn prepare(cfg: OtlpConfig) -> Result<Prepared, EndpointError> {
    Ok(Prepared {
        endpoint: Endpoint::new(&cfg.endpoint)?,
        cfg,
    })
}

impl Prepared {
    /// Starts exporting what `sub` gets; the task ends when the hub closes, after one last
    /// short try to send what it holds.
    pub fn start(
        self,
        sub: Subscription,
        identity: Arc<Identity>,
        stats: Arc<ExportStats>,
    ) -> tokio::task::JoinHandle<()> {
        let exporter = Exporter {
            endpoint: self.endpoint,
            endpoint_url: self.cfg.endpoint.url.clone(),
            identity,
            cfg: self.cfg,
            stats,
            pending: BTreeMap::new(),
            export_seq: 0,
            healthy: true,
        };
        let queue = Queue::new(exporter.cfg.queue);
        tokio::spawn(
            queue
                .clone()
                .feed(sub, exporter.cfg.filter.clone(), exporter.stats.clone()),
        );
        tokio::spawn(exporter.run(queue))
    }
}

impl Exporter {
    async fn run(mut self, queue: Arc<Queue>) {
        loop {
            let owed = !self.pending.is_empty();
            let taken = queue.take(self.cfg.batch, self.cfg.flush, owed).await;
            for (key, count) in taken.losses {
                *self.pending.entry(key).or_default() += count;
            }
            if !taken.events.is_empty() || !self.pending.is_empty() {
                self.send(&taken.events, taken.closing).await;
            }
            if taken.closed {
                return;
            }
        }
    }

    fn count_lost(&mut self, why: ExportLoss, count: u64) {
        if count == 0 {
            return;
        }
        self.stats.lost[why as usize].fetch_add(count, Ordering::Relaxed);
        *self.pending.entry((why.name(), None)).or_default() += count;
    }

    fn next_seq(&mut self) -> u64 {
        self.export_seq += 1;
        self.export_seq
    }

    /// Builds the batch (loss notices first), sends it, and accounts for the outcome.
    async fn send(&mut self, events: &[Arc<Published>], closing: bool) {
        let carried = std::mem::take(&mut self.pending);
        let numbered_before = self.export_seq;
        let mut records: Vec<LogRecord> = Vec::with_capacity(carried.len() + events.len());
        for (&(reason, kind), &count) in &carried {
            let seq = self.next_seq();
            records.push(self.loss_record(reason, kind, count, seq));
        }
        for ev in events {
            let seq = self.next_seq();
            records.push(self.event_record(ev, seq));
        }
        let total = records.len() as u64;
        let result = self.send_with_retries(records, closing).await;
        match result {
            Ok(rejected) => {
                self.stats
                    .exported
                    .fetch_add(total.saturating_sub(rejected), Ordering::Relaxed);
                self.count_lost(ExportLoss::Rejected, rejected);
            }
            Err(why) => {
                // The batch never arrived as far as we know: its numbers are given again, so
                // that `sensor.export.seq` has no gap for what the sensor itself lost (that is
                // announced). The notices it carried are owed again; its events are lost.
                self.export_seq = numbered_before;
                for (key, count) in carried {
                    *self.pending.entry(key).or_default() += count;
                }
                self.count_lost(why, events.len() as u64);
            }
        }
    }

    async fn send_with_retries(
        &mut self,
        records: Vec<LogRecord>,
        closing: bool,
    ) -> Result<u64, ExportLoss> {
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(record::resource(
                    &self.identity.node_name,
                    &self.identity.instance_id,
                )),
                scope_logs: vec![ScopeLogs {
                    scope: Some(record::scope()),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        // At shutdown, one short try: the daemon waits for nobody.
        let give_up_at = Instant::now()
            + if closing {
                Duration::from_secs(2)
            } else {
                self.cfg.retry_for
            };
        let mut attempt = 0;
        loop {
            let why = match self.endpoint.export(request.clone()).await {
                Ok(rejected) => {
                    if !self.healthy {
                        tracing::info!(endpoint = %self.endpoint_url, "OTLP export works again");
                        self.healthy = true;
                    }
                    return Ok(rejected);
                }
                Err(Failure::Rejected(why)) => {
                    tracing::warn!(endpoint = %self.endpoint_url, "OTLP endpoint refused a batch ({why}): its records are lost (counted, announced in the next batch)");
                    return Err(ExportLoss::Rejected);
                }
                Err(Failure::Retry(why)) => why,
            };
            if self.healthy {
                tracing::warn!(endpoint = %self.endpoint_url, "OTLP export failed ({why}): retrying; events wait in the exporter's queue (--otlp-queue)");
                self.healthy = false;
            }
            let wait = endpoint::backoff(attempt);
            if Instant::now() + wait > give_up_at {
                tracing::warn!(endpoint = %self.endpoint_url, "OTLP batch given up after retrying ({why}): its events are lost (counted, announced in the next batch)");
                return Err(ExportLoss::EndpointUnavailable);
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    fn event_record(&self, ev: &Published, seq: u64) -> LogRecord {
        let wire = convert::event_to_wire(ev, &self.identity);
        let (name, severity, attrs) = record::event_attrs(&wire);
        let time = ev.time_unix_nano;
        let body = crate::render::line(&pb::GetEventsResponse {
            item: Some(pb::get_events_response::Item::Event(wire)),
        });
        record::record(
            name,
            severity,
            time,
            body,
            attrs,
            &self.identity.instance_id,
            seq,
        )
    }

    fn loss_record(&self, reason: &str, kind: Option<&str>, count: u64, seq: u64) -> LogRecord {
        let mut a = record::Attrs::default();
        a.int("sensor.lost.count", count as i64);
        a.str("sensor.lost.reason", reason);
        if let Some(k) = kind {
            a.str("sensor.lost.kind", k);
        }
        let what = kind.map_or(String::new(), |k| format!(" {k}"));
        record::record(
            "sensor.lost",
            pb::Severity::Medium as i32,
            crate::clock::wall_now_ns(),
            format!("LOST {count}{what} events ({reason})"),
            a,
            &self.identity.instance_id,
            seq,
        )
    }
}
