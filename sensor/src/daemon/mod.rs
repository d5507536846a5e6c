//! `sensor run`: checks what it needs, loads and attaches the programs, then runs the pipeline
//! ring buffer -> reader -> hub -> (gRPC subscribers, terminal) until SIGINT/SIGTERM.
mod settings;
mod terminal;

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    api::{
        Identity,
        limit::{Refusals, RequestLimit},
        listen::{Access, Listeners, Servers},
        security::TlsFiles,
        server,
        tls::Rotating,
    },
    caps,
    enrich::{Enricher, HostPaths, cgroups, cri, registry::Registry},
    hub::Hub,
    metrics::{Gauges, KernelTotals, Sources},
    offsets, pins,
    policy::{Policy, engine::PolicyEngine, reload},
    probes::{self, LoadConfig, Probes, exits::ExitMode},
    profile::{
        SharedStore,
        learner::{KernelLearned, Learner, Profiles},
    },
    reader::{self, KernelPoll},
    syscalls::Arch,
    tracefs::Tracefs,
};

#[derive(Clone, Debug)]
pub struct RunConfig {
    pub grpc_addr: SocketAddr,
    /// Serve plain-text gRPC on a non-loopback address.
    pub insecure_listen_any: bool,
    /// Also serve the API on this unix socket (mode 0600, plain text).
    pub grpc_unix: Option<PathBuf>,
    /// TLS, mTLS and the client allow list for the TCP listener.
    pub tls: TlsFiles,
    /// Prometheus metrics, /healthz and /readyz; `None`: not served.
    pub metrics_addr: Option<SocketAddr>,
    /// Serve them over TLS, with the API's certificate.
    pub metrics_tls: bool,
    /// Events kept for subscribers that resume.
    pub replay_buffer: usize,
    /// Event streams served at once.
    pub max_subscribers: usize,
    /// API requests per second per client (0: unlimited), and the burst allowed.
    pub max_requests_per_second: u32,
    pub request_burst: u32,
    pub node_name: String,
    /// Print events as JSON lines instead of readable lines.
    pub json: bool,
    /// Print every event (exec, fork, exit; flagged calls of any severity).
    pub print_all: bool,
    /// Otherwise: flagged calls at least this severe.
    pub min_severity: crate::policy::Severity,
    /// Print nothing to the terminal; only serve gRPC.
    pub quiet: bool,
    pub ring_buffer_bytes: u32,
    /// Flagged calls the kernel parks between entry and exit at once.
    pub pending_capacity: u32,
    /// Flagged calls of one syscall one cgroup may send per second per CPU (0: no budget).
    pub flood_budget: u64,
    /// How late lazy records (process events, first uses, cgroups) may be read: the kernel
    /// wakes the reader for one of them at most once in this long.
    pub process_event_delay: Duration,
    /// How often the cgroups the sensor tracks are checked against the cgroup tree.
    pub reconcile_every: Duration,
    /// How long a workload's start-up lasts (zero: no steady phase).
    pub startup: Duration,
    /// How long and how many events may wait for their pod metadata or cgroup.
    pub wait: crate::enrich::WaitBounds,
    /// Which syscalls' exits are hooked (for the outcome of flagged calls).
    pub exit_hook: ExitMode,
    pub subscriber_queue: usize,
    pub ebpf_log: Option<aya_log::Level>,
    /// The host's /proc (a host mount inside a pod).
    pub proc_root: PathBuf,
    /// The host's cgroup2 mount; found in /proc/self/mountinfo when not given.
    pub cgroup2_root: Option<PathBuf>,
    /// The kernel's BTF, for task_struct offsets.
    pub btf: PathBuf,
    /// The CRI socket; found among the usual places when not given.
    pub cri_socket: Option<PathBuf>,
    /// Do not ask the container runtime for pod metadata.
    pub no_cri: bool,
    /// The policy file (reloaded on change and SIGHUP); the built-in policy when absent.
    pub policy: Option<PathBuf>,
    /// Keep learned syscalls pinned here (bpffs) across restarts.
    pub pin_dir: Option<PathBuf>,
    /// Export events as OTLP logs (`--otlp-endpoint`).
    pub otlp: Option<crate::export::OtlpConfig>,
}

/// The CRI socket to ask: the one given, else the first of the usual places that exists.
fn cri_socket(cfg: &RunConfig) -> Option<PathBuf> {
    cfg.cri_socket
        .clone()
        .or_else(|| cri::detect_socket(std::path::Path::new("/")))
}

fn cri_handle(cfg: &RunConfig) -> Option<cri::CriHandle> {
    if cfg.no_cri {
        return None;
    }
    match cri_socket(cfg) {
        Some(s) => {
            tracing::info!(socket = %s.display(), "pod metadata from the CRI runtime");
            Some(cri::spawn(s))
        }
        None => {
            tracing::info!("no CRI socket found (give one with --cri-socket): no pod metadata");
            None
        }
    }
}

/// How often the kernel's loss counters are read (and losses told to subscribers).
const KERNEL_POLL: Duration = Duration::from_millis(250);
/// How often flood summaries are made: each covers this long.
const FLOOD_POLL: Duration = Duration::from_secs(1);

/// cgroups remembered at once (entries leave on cgroup_rmdir).
const CGROUP_CACHE_CAPACITY: usize = 65_536;
/// Processes tracked at once (entries leave on exit).
const PROCESS_TABLE_CAPACITY: usize = 262_144;

fn host_paths(cfg: &RunConfig) -> anyhow::Result<HostPaths> {
    let cgroup2 = match &cfg.cgroup2_root {
        Some(p) => p.clone(),
        None => {
            let info = std::fs::read_to_string("/proc/self/mountinfo")
                .context("reading /proc/self/mountinfo")?;
            cgroups::cgroup2_mount(&info).context(
                "no cgroup2 mount in /proc/self/mountinfo: mount cgroup2, or pass --cgroup2-root",
            )?
        }
    };
    Ok(HostPaths {
        proc: cfg.proc_root.clone(),
        cgroup2,
    })
}

/// Starts everything, runs until a signal, and tears down. Programs are detached before this
/// returns, on every path.
pub async fn run(cfg: RunConfig) -> anyhow::Result<()> {
    let started = Instant::now();
    // First: a SIGTERM sent as soon as the sensor answers (or while it loads) must find the
    // handler, and then shuts it down cleanly rather than killing it.
    let signals = Signals::install()?;
    if !cfg.grpc_addr.ip().is_loopback() && !cfg.tls.enabled() {
        if !cfg.insecure_listen_any {
            bail!(
                "refusing to serve unencrypted gRPC on {}, which is not a loopback address: \
                 give --tls-cert and --tls-key, or pass --insecure-listen-any to do it anyway",
                cfg.grpc_addr
            );
        }
        tracing::warn!(
            addr = %cfg.grpc_addr,
            "serving gRPC WITHOUT TLS on a non-loopback address: anyone who can reach it reads every event"
        );
    }
    // Refuse half-given TLS settings and unreadable or mismatched files before touching the
    // kernel.
    let tls = cfg.tls.paths()?.map(Rotating::load).transpose()?;
    let otlp = cfg.otlp.clone().map(crate::export::prepare).transpose()?;
    let allow = cfg.tls.allow_list()?;
    let eff = caps::effective().context("reading this process's capabilities")?;
    if let Some(cap) = caps::first_missing(eff) {
        bail!("{cap} is missing: run the sensor as root, or grant it CAP_BPF and CAP_PERFMON");
    }
    for cap in caps::missing_optional(eff) {
        tracing::warn!(
            "CAP_{} is missing: running without it; it is needed to {}",
            cap.name,
            cap.why
        );
    }

    let host = host_paths(&cfg)?;
    let tracefs = Tracefs::ensure()?;
    let offsets = offsets::discover(&tracefs, &cfg.btf)?;
    let policy = match &cfg.policy {
        Some(path) => reload::load(path)?,
        None => Policy::builtin(),
    };
    let forbidden_count = policy.names_on(Arch::NATIVE).count();
    let policy = Arc::new(policy);

    let load = LoadConfig {
        offsets,
        ring_buffer_bytes: cfg.ring_buffer_bytes,
        pending_capacity: cfg.pending_capacity,
        flood_budget: cfg.flood_budget,
        lazy_wake: cfg.process_event_delay,
        ebpf_log: cfg.ebpf_log,
        learned_pin: cfg.pin_dir.as_deref().map(pins::prepare).transpose()?,
        btf: cfg.btf.clone(),
    };
    let mut probes = Probes::load(probes::ebpf_object(), &load)?;
    if let Some(logger) = probes.take_logger() {
        tokio::spawn(terminal::forward_kernel_logs(logger));
    }
    let (mut policy_maps, exemptions) = crate::policy::apply::PolicyMaps::new(
        probes.take_policy_maps(tracefs.root(), cfg.exit_hook)?,
    );
    policy_maps.apply(&policy, Arch::NATIVE)?;
    let (bound, steady) = probes.take_learn_maps()?;
    let engine = PolicyEngine::new(exemptions, bound, policy.clone());
    let profiles = SharedStore::default();
    let learned_counter = probes.learned_counter()?;
    let kernel_learned = Arc::new(std::sync::Mutex::new(KernelLearned::new(
        probes.take_learned(sensor_common::MAP_LEARNED)?,
        probes.take_other_learned()?,
    )));
    let mut learner = Learner::new(
        profiles.clone(),
        kernel_learned.clone(),
        crate::profile::steady::Startups::new(steady, cfg.startup),
    );
    let ring = probes.take_events()?;
    let counters = probes.take_counters()?;
    let flood = probes.take_flood()?;
    let attached = probes.attach_all()?;
    // Now that entries are seen: the forbidden calls threads are inside already.
    let in_flight = policy_maps.entries_seen(&host.proc);
    tracing::debug!(
        threads = in_flight,
        "flagged calls in flight at start, marked"
    );
    let gauges = Arc::new(Gauges::default());
    gauges.attached.store(true, Ordering::Relaxed);
    // Scanned after attaching, so that nothing falls between the scan and the first record.
    let registry = Registry::default();
    let cri = cri_handle(&cfg);
    let enricher = Enricher::new(
        &host,
        CGROUP_CACHE_CAPACITY,
        PROCESS_TABLE_CAPACITY,
        registry.clone(),
        cri.clone(),
        cfg.wait,
    );
    if cfg.pin_dir.is_some() {
        let adopted = learner.adopt(|id| enricher.container_of(id));
        tracing::info!(
            cgroups = adopted,
            "learned syscalls taken over from the pinned map"
        );
    }
    tracing::debug!(
        cgroups = enricher.cgroups(),
        processes = enricher.processes(),
        "enrichment ready"
    );

    let hub = Hub::new(cfg.subscriber_queue, cfg.replay_buffer);
    let identity = Identity::new(cfg.node_name.clone());
    // Subscribed before the reader starts: the exporter sees the first event too.
    let export_stats = Arc::new(crate::export::ExportStats::default());
    let export_task = otlp.map(|o| {
        o.start(
            hub.subscribe(),
            Arc::new(identity.clone()),
            export_stats.clone(),
        )
    });
    let listeners =
        Listeners::bind(cfg.grpc_addr, cfg.grpc_unix.as_deref(), cfg.metrics_addr).await?;
    let (local, metrics_local) = listeners.local_addrs()?;

    // What the reader is handed besides the ring: flood summaries (a full queue keeps them
    // for the next poll), removals found by reconciliation, new policies.
    let (made_tx, made_rx) = tokio::sync::mpsc::channel(1024);
    let reloads = Arc::new(reload::ReloadCounts::default());
    let installer = Arc::new(tokio::sync::Mutex::new(reload::Installer::new(
        policy_maps,
        policy.clone(),
        made_tx.clone(),
    )));
    if let Some(path) = &cfg.policy {
        reload::spawn(path.clone(), installer.clone(), reloads.clone())?;
    }
    let kernel_totals = KernelTotals::default();
    let api_refused = Arc::new(Refusals::default());
    let sources = Sources {
        hub: hub.clone(),
        kernel: kernel_totals.clone(),
        gauges: gauges.clone(),
        registry: registry.clone(),
        cri: cri.clone(),
        reloads: reloads.clone(),
        api_refused: api_refused.clone(),
        tls: tls.clone(),
        profiles: profiles.clone(),
        started,
        programs: Some(probes.attached_view()),
        export: export_stats,
    };
    let reconcile_task = tokio::spawn(crate::reconcile::run(
        host.cgroup2.clone(),
        made_tx.clone(),
        cfg.reconcile_every,
        gauges.cgroups_reconciled.clone(),
    ));
    let tick_task = tokio::spawn(crate::reconcile::tick(made_tx.clone()));
    let flood_task = tokio::spawn(crate::flood::run(
        crate::flood::FloodWatch::new(flood),
        made_tx,
        FLOOD_POLL,
    ));
    let pipeline = reader::Pipeline::new(hub.clone(), enricher, engine, learner);
    let reader_task = tokio::spawn(reader::run(
        ring,
        pipeline,
        made_rx,
        gauges.clone(),
        cfg.process_event_delay,
    ));
    let losses_task = tokio::spawn(reader::watch_kernel(
        KernelPoll {
            counters,
            learned: learned_counter,
            totals: kernel_totals,
            gauges,
        },
        hub.clone(),
        KERNEL_POLL,
    ));
    let printer_task = (!cfg.quiet).then(|| {
        tokio::spawn(terminal::print_events(
            hub.clone(),
            identity.clone(),
            cfg.clone(),
        ))
    });
    let about = server::About {
        programs: probes.attached_view(),
        kernel: kernel_release(),
        max_subscribers: cfg.max_subscribers,
        settings: settings::in_effect(&cfg),
    };
    let limit = RequestLimit::new(cfg.max_requests_per_second, cfg.request_burst, api_refused)
        .map(Arc::new);
    let profiles = Profiles {
        store: profiles,
        kernel: Some(kernel_learned),
    };
    let service = server::EventService::new(
        identity.clone(),
        sources.clone(),
        profiles,
        about,
        installer,
    );
    if let Some(t) = &tls {
        t.watch();
    }
    let access = Access {
        tls,
        allow,
        metrics_tls: cfg.metrics_tls,
    };
    let servers = Servers::start(listeners, service, access, limit, sources);

    tracing::info!(
        programs = attached,
        grpc = %local,
        tls = cfg.tls.enabled(),
        mtls = cfg.tls.client_ca.is_some(),
        unix = ?cfg.grpc_unix,
        metrics = ?metrics_local,
        instance = %identity.instance_id,
        "sensor ready: flagging {forbidden_count} syscalls"
    );
    release_startup_memory();

    let outcome = tokio::select! {
        name = signals.recv() => {
            tracing::info!("{name} received, shutting down");
            Ok(())
        }
        r = reader_task => Err(anyhow::anyhow!("the ring-buffer reader stopped: {r:?}")),
    };

    // Detach first: whatever happens next, nothing of ours stays in the kernel. Each exit
    // hook waits for the kernel's grace periods as it goes (seconds for dozens), so the
    // servers close meanwhile.
    let detaching = Instant::now();
    let detached = tokio::task::spawn_blocking(move || drop(probes));
    losses_task.abort();
    flood_task.abort();
    reconcile_task.abort();
    tick_task.abort();
    hub.close();
    servers.stop().await;
    if let Some(t) = printer_task {
        let _ = tokio::time::timeout(Duration::from_secs(1), t).await;
    }
    // The exporter makes one short last try with what it holds.
    if let Some(t) = export_task {
        let _ = tokio::time::timeout(Duration::from_secs(3), t).await;
    }
    if let Err(e) = detached.await {
        tracing::error!("detaching the programs failed: {e}");
    }
    tracing::debug!(
        took_ms = detaching.elapsed().as_millis() as u64,
        "programs detached"
    );
    // Exit hooks follow the policy, so tracefs was needed until now. Leave the node as found.
    tracefs.release();
    tracing::info!(
        "all programs detached; {} events published",
        hub.published()
    );
    outcome
}

/// SIGTERM and SIGINT, caught from the moment they are installed.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn recv(mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

/// `uname -r`.
fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Makes every thread allocate from one malloc arena, unless `MALLOC_ARENA_MAX` says
/// otherwise; called before any thread starts. glibc gives each thread an arena of its own
/// (up to 8 per CPU), and each keeps what is freed into it for its own threads, so the free
/// part of the heap is split many ways (an event is made on the reader's thread and dropped
/// on whichever thread runs a stream). With 10,000 watched cgroups
/// (`--only footprint`, four runs each, 2026-12-01 04:42-04:53 UTC) RSS was 45.7-47.6 MiB
/// with one arena, 47.0-56.9 MiB with glibc's default and 49.2-56.4 with two; the exec loop
/// and the flagged storm showed no CPU difference (small blocks come from each thread's own
/// cache, without the arena's lock).
pub fn one_malloc_arena() {
    #[cfg(target_env = "gnu")]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: sets a malloc parameter; no other thread runs yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// Gives back the heap that start-up used and freed (parsing the kernel's BTF takes tens of
/// MiB for a moment): glibc's malloc otherwise keeps the freed pages below its top chunk
/// resident for good, about 9 MiB of an idle sensor's RSS.
fn release_startup_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free memory to the kernel; it takes malloc's own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
