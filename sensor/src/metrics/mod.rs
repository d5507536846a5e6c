//! What the sensor counts, read at scrape time from where it is kept (the hub, the kernel's
//! per-CPU counters, the enricher, the CRI client, the policy reloader). One snapshot feeds
//! both the Prometheus endpoint ([`http`]) and the `Status` RPC.
pub mod http;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Instant,
};

use sensor_common::Counter;

use crate::{
    api::limit::Refusals,
    enrich::{cri::CriHandle, registry::Registry},
    event::{Kind, LossReason},
    hub::Hub,
    profile::SharedStore,
};

/// The kernel's counters, summed over CPUs, as last polled (indexed like [`Counter::ALL`]).
pub type KernelTotals = Arc<[AtomicU64; Counter::ALL.len()]>;

/// Levels the reader task publishes after each batch of records.
#[derive(Debug, Default)]
pub struct Gauges {
    pub cgroups_cached: AtomicU64,
    /// cgroups found gone by reconciliation (their removal records were lost): a counter.
    pub cgroups_reconciled: Arc<AtomicU64>,
    pub processes_tracked: AtomicU64,
    /// Events waiting for their cgroup or pod metadata now.
    pub events_waiting: AtomicU64,
    /// Events that went out before the pod metadata (or the cgroup) they waited for: counters.
    pub late_metadata: AtomicU64,
    pub late_cgroup: AtomicU64,
    /// Rescans of the cgroup tree for a cache miss (a counter).
    pub cgroup_rescans: AtomicU64,
    /// Entries of the kernel's LEARNED map, and its capacity.
    pub learned_entries: AtomicU64,
    pub learned_capacity: AtomicU64,
    /// The programs are attached.
    pub attached: AtomicBool,
    /// The reader task is running (draining the ring buffer).
    pub draining: AtomicBool,
}

impl Gauges {
    /// Ready: attached, and the ring buffer is being drained.
    pub fn ready(&self) -> bool {
        self.attached.load(Ordering::Relaxed) && self.draining.load(Ordering::Relaxed)
    }
}

/// Sets `draining` while alive: the reader holds one.
pub struct DrainingGuard(Arc<Gauges>);

impl DrainingGuard {
    pub fn new(g: Arc<Gauges>) -> Self {
        g.draining.store(true, Ordering::Relaxed);
        Self(g)
    }
}

impl Drop for DrainingGuard {
    fn drop(&mut self) {
        self.0.draining.store(false, Ordering::Relaxed);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Counter,
    Gauge,
}

/// One metric family: a name, and values by one optional label.
#[derive(Debug)]
pub struct Family {
    /// Without the `_total` that counters get on the wire.
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Type,
    pub values: Vec<(Option<(&'static str, &'static str)>, u64)>,
}

impl Family {
    fn one(name: &'static str, help: &'static str, kind: Type, v: u64) -> Self {
        Family {
            name,
            help,
            kind,
            values: vec![(None, v)],
        }
    }
}

/// Everything the metrics are read from.
#[derive(Clone, Debug)]
pub struct Sources {
    pub hub: Hub,
    pub kernel: KernelTotals,
    pub gauges: Arc<Gauges>,
    pub registry: Registry,
    pub cri: Option<CriHandle>,
    pub reloads: Arc<crate::policy::reload::ReloadCounts>,
    pub api_refused: Arc<Refusals>,
    /// The TLS configuration in force (for its reload counts), when TLS is on.
    pub tls: Option<Arc<crate::api::tls::Rotating>>,
    pub profiles: SharedStore,
    pub started: Instant,
    /// The loaded programs, for the kernel's run-time statistics of each.
    pub programs: Option<crate::probes::AttachedView>,
    /// The OTLP exporter's counters (zero when it is off).
    pub export: Arc<crate::export::ExportStats>,
}

fn load(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl Sources {
    pub fn snapshot(&self) -> Vec<Family> {
        use Type::{Counter as C, Gauge as G};
        let hub = &self.hub;
        let by_kind = Kind::ALL
            .iter()
            .map(|&k| (Some(("kind", k.name())), hub.published_of(k)))
            .collect();
        let lost = LossReason::ALL
            .iter()
            .map(|&r| (Some(("reason", r.name())), hub.lost(r)))
            .collect();
        let kernel = Counter::ALL
            .iter()
            .zip(self.kernel.iter())
            .map(|(c, v)| (Some(("counter", c.name())), load(v)))
            .collect();
        let cri = |f: fn(&CriHandle) -> &AtomicU64| self.cri.as_ref().map_or(0, |c| load(f(c)));
        let runs = self
            .programs
            .as_ref()
            .map(crate::probes::AttachedView::run_stats)
            .unwrap_or_default();
        let g = &self.gauges;
        vec![
            Family {
                name: "sensor_events",
                help: "Events published, by kind.",
                kind: C,
                values: by_kind,
            },
            Family {
                name: "sensor_events_lost",
                help: "Events lost, by reason (subscriber losses summed over subscribers).",
                kind: C,
                values: lost,
            },
            Family {
                name: "sensor_program_run_nanoseconds",
                help: "Time the kernel spent in each of the sensor's eBPF programs (counted only while the sysctl kernel.bpf_stats_enabled is 1).",
                kind: C,
                values: runs
                    .iter()
                    .map(|r| (Some(("program", r.program)), r.run_ns))
                    .collect(),
            },
            Family {
                name: "sensor_program_runs",
                help: "Runs of each of the sensor's eBPF programs (counted only while kernel.bpf_stats_enabled is 1).",
                kind: C,
                values: runs
                    .iter()
                    .map(|r| (Some(("program", r.program)), r.runs))
                    .collect(),
            },
            Family {
                name: "sensor_kernel",
                help: "The eBPF programs' own counters (ring buffer full by record, read errors, maps full).",
                kind: C,
                values: kernel,
            },
            Family::one(
                "sensor_export_records",
                "Records the OTLP endpoint accepted (events and loss notices).",
                C,
                load(&self.export.exported),
            ),
            Family {
                name: "sensor_export_lost",
                help: "Events lost on the way to the OTLP endpoint, by reason (queue_full: the exporter fell behind; endpoint_unavailable: retried for --otlp-retry-seconds; rejected: refused by the endpoint). Each is announced in-band by a sensor.lost record.",
                kind: C,
                values: crate::export::ExportLoss::ALL
                    .iter()
                    .map(|&r| {
                        (
                            Some(("reason", r.name())),
                            load(&self.export.lost[r as usize]),
                        )
                    })
                    .collect(),
            },
            Family::one(
                "sensor_export_retries",
                "OTLP exports tried again after a retryable failure.",
                C,
                load(&self.export.retries),
            ),
            Family::one(
                "sensor_enrichment_errors",
                "CRI lookups that failed (the runtime did not answer).",
                C,
                cri(|c| &c.errors),
            ),
            Family::one(
                "sensor_enrichment_dropped",
                "CRI lookups not queued (queue full; retried on a later event).",
                C,
                cri(|c| &c.dropped),
            ),
            Family::one(
                "sensor_policy_reloads_refused",
                "Policy files refused on reload: invalid, or not installable in the kernel (the old policy stayed).",
                C,
                load(&self.reloads.refused),
            ),
            Family::one(
                "sensor_policy_reloads",
                "Policy reloads put in force (in the kernel and the engine).",
                C,
                load(&self.reloads.in_force),
            ),
            Family {
                name: "sensor_tls_reloads",
                help: "TLS certificate, key and client CA reloads after their files changed (refused: unreadable or mismatched; the old ones stayed).",
                kind: C,
                values: vec![
                    (
                        Some(("result", "in_force")),
                        self.tls.as_ref().map_or(0, |t| load(&t.reloaded)),
                    ),
                    (
                        Some(("result", "refused")),
                        self.tls.as_ref().map_or(0, |t| load(&t.refused)),
                    ),
                ],
            },
            Family {
                name: "sensor_api_refused",
                help: "API requests refused, by reason (rate: over the per-client request rate; streams: over --max-subscribers).",
                kind: C,
                values: vec![
                    (Some(("reason", "rate")), load(&self.api_refused.rate)),
                    (Some(("reason", "streams")), load(&self.api_refused.streams)),
                ],
            },
            Family::one(
                "sensor_subscribers",
                "gRPC event subscribers (and the terminal view).",
                G,
                hub.subscribers() as u64,
            ),
            Family::one(
                "sensor_containers_tracked",
                "Containers seen since start.",
                G,
                self.registry.len() as u64,
            ),
            Family::one(
                "sensor_cgroups_reconciled",
                "cgroups found gone by reconciliation with the cgroup tree (their removal records were lost).",
                C,
                load(&g.cgroups_reconciled),
            ),
            Family {
                name: "sensor_events_late",
                help: "Events that went out before what they waited for (metadata: the CRI runtime's answer, marked metadata_pending; cgroup: a rescan that found their cgroup, attribution pending).",
                kind: C,
                values: vec![
                    (Some(("waited_for", "metadata")), load(&g.late_metadata)),
                    (Some(("waited_for", "cgroup")), load(&g.late_cgroup)),
                ],
            },
            Family::one(
                "sensor_events_waiting",
                "Events waiting now for their cgroup or pod metadata (bounded by --metadata-wait-ms and --max-waiting-events).",
                G,
                load(&g.events_waiting),
            ),
            Family::one(
                "sensor_cgroup_rescans",
                "Walks of the cgroup2 tree for an event whose cgroup the cache did not know (off the reader; at most one a second).",
                C,
                load(&g.cgroup_rescans),
            ),
            Family::one(
                "sensor_cgroups_cached",
                "cgroups in the attribution cache.",
                G,
                load(&g.cgroups_cached),
            ),
            Family::one(
                "sensor_processes_tracked",
                "Processes in the process table.",
                G,
                load(&g.processes_tracked),
            ),
            Family::one(
                "sensor_profiles_tracked",
                "cgroups with a learned profile (gone containers included, up to 1024).",
                G,
                self.profiles.lock().map_or(0, |p| p.len().0 as u64),
            ),
            Family {
                name: "sensor_map_entries",
                help: "Entries of the kernel's per-cgroup maps.",
                kind: G,
                values: vec![(Some(("map", "LEARNED")), load(&g.learned_entries))],
            },
            Family {
                name: "sensor_map_capacity",
                help: "Capacity of the kernel's per-cgroup maps.",
                kind: G,
                values: vec![(Some(("map", "LEARNED")), load(&g.learned_capacity))],
            },
            Family::one(
                "sensor_ready",
                "1 when the programs are attached and the ring buffer is drained.",
                G,
                u64::from(g.ready()),
            ),
            Family::one(
                "sensor_uptime_seconds",
                "Seconds since start.",
                G,
                self.started.elapsed().as_secs(),
            ),
        ]
    }
}

/// `name{label=value}` -> value, for the Status RPC (counters get their `_total`).
pub fn flatten(families: &[Family], kind: Type) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for f in families.iter().filter(|f| f.kind == kind) {
        let name = match kind {
            Type::Counter => format!("{}_total", f.name),
            Type::Gauge => f.name.to_owned(),
        };
        for (label, v) in &f.values {
            let key = match label {
                Some((k, val)) => format!("{name}{{{k}={val}}}"),
                None => name.clone(),
            };
            out.push((key, *v));
        }
    }
    out
}
