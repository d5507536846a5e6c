//! Command line: `sensor run` and the client commands (`events`, `containers`, `status`,
//! `profile`), and `policy`.
use std::{net::SocketAddr, path::PathBuf};

use clap::{Parser, Subcommand, ValueEnum};

use crate::probes::exits::ExitMode;

#[derive(Debug, Parser)]
#[command(
    name = "sensor",
    version,
    about = "Runtime security sensor for Kubernetes nodes"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load the eBPF programs, serve events over gRPC, and print flagged syscalls (needs root,
    /// or CAP_BPF + CAP_PERFMON).
    Run(Box<RunArgs>),
    /// Subscribe to a running sensor and print its events.
    Events(EventsArgs),
    /// List the containers a running sensor has seen, with their pods and event counts.
    Containers(ContainersArgs),
    /// A running sensor's version, programs, subscribers and counters.
    Status(ContainersArgs),
    /// The seccomp profile learned for a container, pod or image; or try one (`profile try`).
    Profile(Box<ProfileArgs>),
    /// Work with policy files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Ask every sensor of a cluster at once: merged profiles, one merged event stream.
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The learned profile of the matching containers on every node, merged: how many
    /// containers on how many nodes made each call, and which nodes did not answer.
    Profile(ClusterProfileArgs),
    /// Every sensor's events as one stream; each node is resumed after a reconnect and its
    /// gaps are announced.
    Events(ClusterEventsArgs),
}

/// Which sensors, and how to reach them.
#[derive(Clone, Debug, clap::Args)]
pub struct SensorsArgs {
    /// The sensors, HOST:PORT (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', required_unless_present = "dns")]
    pub sensors: Vec<String>,
    /// A DNS name whose every address is a sensor, NAME:PORT (the DaemonSet's headless
    /// Service: sensor.sensor-system.svc:50051).
    #[arg(long, conflicts_with = "sensors")]
    pub dns: Option<String>,
    #[command(flatten)]
    pub tls: TlsClientArgs,
}

#[derive(Debug, clap::Args)]
pub struct ClusterProfileArgs {
    #[command(flatten)]
    pub sensors: SensorsArgs,
    /// Containers of this image (a glob; `nginx:1.27` also matches `docker.io/library/nginx:1.27`).
    #[arg(long)]
    pub image: Option<String>,
    /// Pods in this namespace (a glob).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Pods with this name (a glob), in --namespace or any.
    #[arg(long)]
    pub pod_glob: Option<String>,
    /// One container id.
    #[arg(long)]
    pub container: Option<String>,
    /// What to print: a summary, the merged OCI profile, or everything as JSON.
    #[arg(long, value_enum, default_value = "summary")]
    pub format: ClusterFormat,
    /// What a call outside the profile gets (in the OCI profile).
    #[arg(long, value_enum, default_value = "errno")]
    pub refused: RefusedArg,
    /// Seconds each sensor has to answer.
    #[arg(long, default_value_t = 10)]
    pub timeout_seconds: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ClusterFormat {
    Summary,
    Oci,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct ClusterEventsArgs {
    #[command(flatten)]
    pub sensors: SensorsArgs,
    #[command(flatten)]
    pub filter: EventFilterArgs,
    /// Print one JSON object per line (each with `sensor`: the address it came from).
    #[arg(long)]
    pub json: bool,
}

/// How a client reaches the sensor.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ConnectArgs {
    /// The sensor's gRPC address: HOST:PORT, https://HOST:PORT, or unix:/PATH.
    #[arg(long, env = "SENSOR_ADDR", default_value = "127.0.0.1:50051")]
    pub addr: String,
    #[command(flatten)]
    pub tls: TlsClientArgs,
}

/// A client's TLS settings (`sensor events`, `sensor cluster`, ...).
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TlsClientArgs {
    /// Verify the sensor's TLS certificate against this CA (PEM); turns TLS on.
    #[arg(long, env = "SENSOR_CA")]
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(long, env = "SENSOR_CLIENT_CERT", requires = "client_key")]
    pub client_cert: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(long, env = "SENSOR_CLIENT_KEY", requires = "client_cert")]
    pub client_key: Option<PathBuf>,
    /// The name the sensor's certificate must carry [default: the host it is reached at;
    /// for `sensor cluster --dns`, that name].
    #[arg(long)]
    pub server_name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ContainersArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Print one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every option can also come from a config file (--config): its keys are \
the long option names, e.g. `grpc-addr = \"0.0.0.0:50051\"`. Precedence: command line, then \
environment variables, then the config file, then the defaults shown."
)]
pub struct RunArgs {
    /// A TOML file of settings, keyed by these options' long names (see below).
    #[arg(long, env = "SENSOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the gRPC server.
    #[arg(long, env = "SENSOR_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,
    /// Allow plain-text gRPC on a non-loopback address (logs a warning; prefer --tls-cert).
    #[arg(long)]
    pub insecure_listen_any: bool,
    /// Also serve the API on this unix socket, created with mode 0600 (plain text: the file
    /// mode is the access control; the client allow list does not apply there).
    #[arg(long, env = "SENSOR_GRPC_UNIX")]
    pub grpc_unix: Option<PathBuf>,
    /// The server's TLS certificate (PEM) for the TCP listener. It, its key and the client CA
    /// are reloaded when their files change (cert-manager's rotation): new connections use
    /// the new certificate, open streams go on.
    #[arg(long, env = "SENSOR_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The server's TLS private key (PEM).
    #[arg(long, env = "SENSOR_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS.
    #[arg(long, env = "SENSOR_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Only clients whose certificate names this identity may use the API (repeatable; needs
    /// --client-ca). `cn:GLOB`, `dn:GLOB`, `dns:GLOB`, `uri:GLOB` or `email:GLOB` match that
    /// part of the certificate only; a bare GLOB matches the subject CN or a DNS name.
    #[arg(
        long,
        env = "SENSOR_CLIENT_ALLOW",
        value_delimiter = ',',
        requires = "client_ca"
    )]
    pub client_allow: Vec<String>,
    /// Serve Prometheus metrics (/metrics), /healthz and /readyz over HTTP here (loopback by
    /// default; on another address, prefer --metrics-tls).
    #[arg(long, env = "SENSOR_METRICS_ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Serve the metrics and probes over HTTPS with the API's certificate (no client
    /// certificate asked: Prometheus and kubelet probes connect as they are).
    #[arg(long, env = "SENSOR_METRICS_TLS", requires = "tls_cert")]
    pub metrics_tls: bool,
    /// Do not serve metrics and probes.
    #[arg(long)]
    pub no_metrics: bool,
    /// Events kept in memory for subscribers that reconnect and resume (0: no replay).
    #[arg(long, default_value_t = 4096)]
    pub replay_buffer: usize,
    /// Event streams served at once; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 64)]
    pub max_subscribers: usize,
    /// API requests each client may make per second (0: no limit); more are refused with
    /// RESOURCE_EXHAUSTED. A client is its certificate's identity, else its address (TCP),
    /// else its user id (unix socket).
    #[arg(long, env = "SENSOR_MAX_REQUESTS_PER_SECOND", default_value_t = 50)]
    pub max_requests_per_second: u32,
    /// API requests a client may make at once before --max-requests-per-second applies.
    #[arg(long, default_value_t = 100)]
    pub request_burst: u32,
    /// Node name stamped on every event [default: the host name].
    #[arg(long, env = "NODE_NAME")]
    pub node_name: Option<String>,
    /// Print one JSON object per line instead of readable lines.
    #[arg(long)]
    pub json: bool,
    /// Print every event: exec, fork and exit too, and flagged calls of any severity.
    #[arg(long)]
    pub print_all: bool,
    /// The least severe flagged call the terminal shows (subscribers and metrics get every
    /// one); `low` shows what is flagged only for the record (e.g. `personality`).
    #[arg(long, value_enum, default_value_t = SeverityArg::Medium)]
    pub min_severity: SeverityArg,
    /// Print no events to the terminal (gRPC only).
    #[arg(long, short)]
    pub quiet: bool,
    /// Size of the kernel ring buffer, in bytes (rounded up to a power of two pages).
    #[arg(long, default_value_t = 1 << 20)]
    pub ring_buffer_bytes: u32,
    /// Threads that run the sensor's work: reading the kernel's records and serving the API
    /// [default: one per CPU this process may use]. One costs fewest CPU cycles per event
    /// on an exec-heavy node (no hand-over between threads); more serve many subscribers
    /// and event storms faster.
    #[arg(long, env = "SENSOR_WORKER_THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: Option<u16>,
    /// Flagged calls the kernel keeps between their entry and their exit at once (threads
    /// inside a forbidden call). Past that, a call's record is built at its exit, with its
    /// arguments as they are then (counted as `pending_full`); nothing is lost.
    #[arg(long, default_value_t = sensor_common::PENDING_CAPACITY,
          value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    pub pending_capacity: u32,
    /// Flagged calls of one syscall that one cgroup may send per second from each CPU; past
    /// that, the kernel counts them and a summary event says how many ("umount2 x 184233
    /// in the last 1.0 s"), so one flooding container cannot crowd out the others' events.
    /// 0: no budget.
    #[arg(long, default_value_t = 500)]
    pub flood_budget: u64,
    /// Milliseconds by which process events (exec, fork, exit), first uses of a syscall and
    /// cgroup records may be late: within that long, only the first of them wakes the
    /// sensor, and the rest of a burst is read at once that long after. Longer costs less
    /// CPU on an exec-heavy node (each wake-up costs far more than the events it brings);
    /// shorter delivers the tail of a burst sooner. A flagged call is never held back by it,
    /// nor are the process events before it.
    #[arg(long, env = "SENSOR_PROCESS_EVENT_DELAY_MS",
          default_value_t = sensor_common::LAZY_WAKE_NS_DEFAULT / 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub process_event_delay_ms: u64,
    /// Seconds between checks of the cgroups the sensor tracks against the cgroup2 tree: one
    /// that is gone (its removal record was lost) is forgotten, in userspace and in the
    /// kernel's maps (`sensor_cgroups_reconciled_total`).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub reconcile_every: u64,
    /// Seconds a workload's start-up lasts, from its first call: its calls after that are
    /// learned as `steady`, so that a call made only while starting up is marked
    /// (`sensor profile --steady` leaves those out). 0: no steady phase.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub startup_seconds: u64,
    /// Milliseconds a new container's events wait for its pod metadata (the CRI runtime's
    /// answer), and an unknown cgroup's events for the rescan that finds it, so that pod
    /// filters, exceptions and profiles see them whole. Past that they go out marked
    /// `metadata_pending` and counted (`sensor_events_late_total`). 0: nothing waits.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub metadata_wait_ms: u64,
    /// Events that may wait at once (for metadata or a rescan); past that, the container
    /// that has waited longest goes out first, marked.
    #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_waiting_events: u64,
    /// Which syscalls' exits are hooked, for the outcome of flagged calls (a forbidden call
    /// this kernel has no exit tracepoint for is reported without outcome unless `all`).
    #[arg(long, value_enum, env = "SENSOR_EXIT_HOOK", default_value_t = ExitMode::PerSyscall)]
    pub exit_hook: ExitMode,
    /// Items each subscriber may have queued before it loses its oldest.
    #[arg(long, default_value_t = 16_384)]
    pub subscriber_queue: usize,
    /// Forward kernel-side (aya-log) messages at this level into the log.
    #[arg(long, value_enum)]
    pub ebpf_log: Option<EbpfLogLevel>,
    #[command(flatten)]
    pub otlp: OtlpArgs,
    /// The host's /proc (in a pod: where the host's /proc is mounted).
    #[arg(long, env = "SENSOR_HOST_PROC", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// The host's cgroup2 mount [default: found in /proc/self/mountinfo].
    #[arg(long, env = "SENSOR_CGROUP2_ROOT")]
    pub cgroup2_root: Option<PathBuf>,
    /// The kernel's BTF, read for task_struct field offsets.
    #[arg(long, default_value = "/sys/kernel/btf/vmlinux")]
    pub btf: PathBuf,
    /// The container runtime's CRI socket, for pod metadata [default: the first of
    /// /run/containerd/containerd.sock, /run/crio/crio.sock that exists].
    #[arg(long, env = "SENSOR_CRI_SOCKET")]
    pub cri_socket: Option<PathBuf>,
    /// Do not ask the container runtime for pod metadata.
    #[arg(long, conflicts_with = "cri_socket")]
    pub no_cri: bool,
    /// Keep what the sensor learned (syscalls per container) pinned in this bpffs directory,
    /// so that a restart or an upgrade carries on from it (e.g. /sys/fs/bpf/sensor).
    #[arg(long, env = "SENSOR_PIN_DIR")]
    pub pin_dir: Option<PathBuf>,
    /// The policy file (TOML; see examples/policy.toml), reloaded when it changes and on
    /// SIGHUP [default: the built-in policy].
    #[arg(long, env = "SENSOR_POLICY")]
    pub policy: Option<PathBuf>,
}

/// `sensor run --otlp-*`: export events as OpenTelemetry logs.
#[derive(Debug, clap::Args)]
pub struct OtlpArgs {
    /// Export events as OTLP logs over gRPC to this endpoint (an OpenTelemetry Collector):
    /// `http://HOST:4317`, or `https://HOST:4317` with --otlp-ca.
    #[arg(long, env = "SENSOR_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// A header sent with every export, `KEY=VALUE` (e.g. `authorization=Bearer ...`);
    /// repeatable, or comma-separated in the environment variable.
    #[arg(
        long = "otlp-header",
        env = "SENSOR_OTLP_HEADERS",
        value_delimiter = ',',
        requires = "otlp_endpoint"
    )]
    pub otlp_headers: Vec<String>,
    /// The CA (PEM) that signed the endpoint's certificate (https).
    #[arg(long, env = "SENSOR_OTLP_CA", requires = "otlp_endpoint")]
    pub otlp_ca: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS with the endpoint.
    #[arg(long, env = "SENSOR_OTLP_CLIENT_CERT", requires = "otlp_client_key")]
    pub otlp_client_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, env = "SENSOR_OTLP_CLIENT_KEY", requires = "otlp_client_cert")]
    pub otlp_client_key: Option<PathBuf>,
    /// The name the endpoint's certificate must carry [default: the URL's host].
    #[arg(long, requires = "otlp_ca")]
    pub otlp_server_name: Option<String>,
    /// Only these kinds of event are exported (repeatable) [default: flagged, deviation,
    /// exec].
    #[arg(long = "otlp-kind", value_enum, requires = "otlp_endpoint")]
    pub otlp_kinds: Vec<KindArg>,
    /// Only pods in this namespace (glob, repeatable).
    #[arg(long = "otlp-namespace", requires = "otlp_endpoint")]
    pub otlp_namespaces: Vec<String>,
    /// Only pods with this name (glob, repeatable).
    #[arg(long = "otlp-pod", requires = "otlp_endpoint")]
    pub otlp_pods: Vec<String>,
    /// Only this container: an id or a prefix of at least 12 hex digits (repeatable).
    #[arg(long = "otlp-container", requires = "otlp_endpoint")]
    pub otlp_containers: Vec<String>,
    /// Only this cgroup id (repeatable).
    #[arg(long = "otlp-cgroup", requires = "otlp_endpoint")]
    pub otlp_cgroups: Vec<u64>,
    /// Only flagged calls (and first uses) of this syscall (repeatable).
    #[arg(long = "otlp-syscall", requires = "otlp_endpoint")]
    pub otlp_syscalls: Vec<String>,
    /// Only flagged calls at least this severe.
    #[arg(long, value_enum, requires = "otlp_endpoint")]
    pub otlp_min_severity: Option<SeverityArg>,
    /// Leave out the host's own processes.
    #[arg(long, requires = "otlp_endpoint")]
    pub otlp_no_host: bool,
    /// Events that may wait for the endpoint (down or slow); past that the oldest are dropped,
    /// counted (sensor_export_lost_total{reason="queue_full"}) and announced in-band.
    #[arg(long, default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..=1 << 22))]
    pub otlp_queue: u64,
    /// Records per export, at most.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub otlp_batch: u64,
    /// Milliseconds an event waits for others to fill its batch.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub otlp_flush_ms: u64,
    /// Seconds one export may take before it counts as failed (and is retried).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub otlp_timeout_seconds: u64,
    /// Seconds a batch is retried (with backoff, 250 ms to 8 s) before its events are given
    /// up (counted in sensor_export_lost_total and announced in the next batch). Meanwhile
    /// new events wait in the exporter's queue (--otlp-queue).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub otlp_retry_seconds: u64,
}

impl KindArg {
    /// The kind as the API's `EventKind`.
    pub fn wire(self) -> i32 {
        use sensor_proto::v1::EventKind as K;
        (match self {
            KindArg::Flagged => K::FlaggedSyscall,
            KindArg::Exec => K::Exec,
            KindArg::Fork => K::Fork,
            KindArg::Exit => K::Exit,
            KindArg::Seen => K::SyscallSeen,
            KindArg::Deviation => K::ProfileDeviation,
        }) as i32
    }
}

impl SeverityArg {
    /// The severity as the API's `Severity`.
    pub fn wire(self) -> i32 {
        use sensor_proto::v1::Severity as S;
        (match self {
            SeverityArg::Low => S::Low,
            SeverityArg::Medium => S::Medium,
            SeverityArg::High => S::High,
            SeverityArg::Critical => S::Critical,
        }) as i32
    }
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Check a policy file; prints what it forbids, or the line and what is wrong.
    Check { file: PathBuf },
    /// Print the built-in policy as a file to start from.
    Show,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EbpfLogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<EbpfLogLevel> for aya_log::Level {
    fn from(l: EbpfLogLevel) -> Self {
        match l {
            EbpfLogLevel::Error => aya_log::Level::Error,
            EbpfLogLevel::Warn => aya_log::Level::Warn,
            EbpfLogLevel::Info => aya_log::Level::Info,
            EbpfLogLevel::Debug => aya_log::Level::Debug,
            EbpfLogLevel::Trace => aya_log::Level::Trace,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KindArg {
    Flagged,
    Exec,
    Fork,
    Exit,
    /// A container's first use of a syscall (what profiles are learned from).
    Seen,
    /// A call outside the profile bound to its container.
    Deviation,
}

/// What a subscriber asks to see (`sensor events`, `sensor cluster events`).
#[derive(Clone, Debug, clap::Args)]
pub struct EventFilterArgs {
    /// Only these kinds of event (repeatable).
    #[arg(long = "kind", value_enum)]
    pub kinds: Vec<KindArg>,
    /// Only events from this cgroup id (repeatable).
    #[arg(long = "cgroup")]
    pub cgroup_ids: Vec<u64>,
    /// Only events of this container: an id or a prefix of at least 12 hex digits (repeatable).
    #[arg(long = "container")]
    pub container_ids: Vec<String>,
    /// Only pods in this namespace (glob, repeatable).
    #[arg(long = "namespace")]
    pub pod_namespaces: Vec<String>,
    /// Only pods with this name (glob, repeatable).
    #[arg(long = "pod")]
    pub pod_names: Vec<String>,
    /// Only flagged calls (and first uses) of this syscall (repeatable).
    #[arg(long = "syscall")]
    pub syscalls: Vec<String>,
    /// Only flagged calls at least this severe.
    #[arg(long, value_enum)]
    pub min_severity: Option<SeverityArg>,
    /// Leave out the host's own processes.
    #[arg(long)]
    pub no_host: bool,
}

impl EventFilterArgs {
    /// The subscription request (live: no resume point).
    pub fn to_request(&self) -> sensor_proto::v1::GetEventsRequest {
        sensor_proto::v1::GetEventsRequest {
            kinds: self.kinds.iter().map(|k| k.wire()).collect(),
            cgroup_ids: self.cgroup_ids.clone(),
            container_ids: self.container_ids.clone(),
            pod_namespaces: self.pod_namespaces.clone(),
            pod_names: self.pod_names.clone(),
            syscalls: self.syscalls.clone(),
            min_severity: self.min_severity.map_or(0, SeverityArg::wire),
            exclude_host: self.no_host,
            ..Default::default()
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub filter: EventFilterArgs,
    /// Resume after this sequence number (replayed from the sensor's buffer while it lasts).
    #[arg(long)]
    pub resume_after: Option<u64>,
    /// The sensor instance id the --resume-after number belongs to.
    #[arg(long, requires = "resume_after")]
    pub resume_instance: Option<String>,
    /// Print one JSON object per line.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

impl From<SeverityArg> for crate::policy::Severity {
    fn from(s: SeverityArg) -> Self {
        match s {
            SeverityArg::Low => Self::Low,
            SeverityArg::Medium => Self::Medium,
            SeverityArg::High => Self::High,
            SeverityArg::Critical => Self::Critical,
        }
    }
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ProfileArgs {
    #[command(subcommand)]
    pub command: Option<ProfileCommand>,
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// A container id.
    #[arg(long, group = "which")]
    pub container: Option<String>,
    /// A pod, as NAMESPACE/NAME (its containers merged).
    #[arg(long, group = "which")]
    pub pod: Option<String>,
    /// Every container of an image (one workload's replicas, merged).
    #[arg(long, group = "which")]
    pub image: Option<String>,
    /// A cgroup id.
    #[arg(long, group = "which")]
    pub cgroup: Option<u64>,
    /// What to print.
    #[arg(long, value_enum, default_value = "oci")]
    pub format: ProfileFormat,
    /// Calls to allow whether seen or not, replacing the built-in set of harmless calls whose
    /// use depends on timing (comma-separated).
    #[arg(long, value_delimiter = ',', conflicts_with = "no_always_allow")]
    pub always_allow: Vec<String>,
    /// Allow only what was seen (no always-allowed calls).
    #[arg(long)]
    pub no_always_allow: bool,
    /// What a call outside the profile gets: errno (EPERM) or kill (the process dies, loudly,
    /// instead of retrying a refused call).
    #[arg(long, value_enum, default_value = "errno")]
    pub refused: RefusedArg,
    /// Leave out what the workload made only while starting up (for a filter applied once it
    /// serves; see `sensor run --startup-seconds`).
    #[arg(long)]
    pub steady: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RefusedArg {
    Errno,
    Kill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileFormat {
    /// OCI/Docker seccomp JSON.
    Oci,
    /// The Security Profiles Operator SeccompProfile resource.
    Spo,
    /// One line per syscall: name, phase, how many containers made it.
    Summary,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Run a command under an OCI seccomp profile (applied for real) and report the outcome.
    Try {
        profile: PathBuf,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Bind a profile to workloads: from then on each of their calls outside it is a
    /// profile-deviation event (see `sensor events --kind deviation`).
    Bind(BindArgs),
    /// Remove a binding made with `sensor profile bind`.
    Unbind {
        #[command(flatten)]
        connect: ConnectArgs,
        name: String,
    },
    /// What a running container did beyond the profile bound to it.
    Diff {
        #[command(flatten)]
        connect: ConnectArgs,
        /// A container id (or a prefix of at least 12 hex digits).
        container: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct BindArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Names the binding in events and for `unbind` (binding a name again replaces it).
    pub name: String,
    /// Which containers (every one given must match; globs allow * and ?): a full container id.
    #[arg(long)]
    pub container_id: Option<String>,
    /// Pods in this namespace (glob).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Pods with this name (glob).
    #[arg(long)]
    pub pod: Option<String>,
    /// Containers with this name in their pod (glob).
    #[arg(long)]
    pub container_name: Option<String>,
    /// Containers of this image (glob, e.g. "nginx:1.27*").
    #[arg(long)]
    pub image: Option<String>,
    /// The profile: an OCI seccomp profile file.
    #[arg(long, group = "source", required = true)]
    pub file: Option<PathBuf>,
    /// The profile: what this container (id or 12+ hex digit prefix) was learned doing, now.
    #[arg(long, group = "source")]
    pub freeze: Option<String>,
}
