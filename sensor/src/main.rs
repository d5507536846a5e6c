//! The `sensor` binary: parses the command line and hands over to the library.
use anyhow::Context as _;
use sensor::{
    api::security::TlsFiles,
    cli::{
        ClusterCommand, ClusterFormat, Command, EventsArgs, KindArg, OtlpArgs, PolicyCommand,
        ProfileArgs, ProfileCommand, RunArgs, SeverityArg,
    },
    client, daemon,
    policy::{Policy, file, reload},
    syscalls::Arch,
};
use sensor_proto::v1::GetEventsRequest;
use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match sensor::config::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(e) => match e.downcast::<clap::Error>() {
            Ok(clap_error) => clap_error.exit(),
            Err(e) => {
                eprintln!("error: {e:#}");
                return std::process::ExitCode::from(2);
            }
        },
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Command::Run(args) = &cli.command {
        daemon::one_malloc_arena();
        if let Some(n) = args.worker_threads {
            builder.worker_threads(n.into());
        }
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => daemon::run(run_config(*args)?).await,
            Command::Events(args) => events(args).await,
            Command::Containers(args) => client::list_containers(&args.connect, args.json).await,
            Command::Status(args) => client::print_status(&args.connect, args.json).await,
            Command::Policy(cmd) => policy_command(cmd),
            Command::Profile(args) => profile_command(*args).await,
            Command::Cluster(cmd) => cluster_command(cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_config(a: RunArgs) -> anyhow::Result<daemon::RunConfig> {
    let node_name = match a.node_name {
        Some(n) => n,
        None => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .context("reading the host name (or pass --node-name)")?
            .trim()
            .to_owned(),
    };
    Ok(daemon::RunConfig {
        grpc_addr: a.grpc_addr,
        insecure_listen_any: a.insecure_listen_any,
        grpc_unix: a.grpc_unix,
        tls: TlsFiles {
            cert: a.tls_cert,
            key: a.tls_key,
            client_ca: a.client_ca,
            client_allow: a.client_allow,
        },
        metrics_addr: (!a.no_metrics).then_some(a.metrics_addr),
        metrics_tls: a.metrics_tls,
        replay_buffer: a.replay_buffer,
        max_subscribers: a.max_subscribers,
        max_requests_per_second: a.max_requests_per_second,
        request_burst: a.request_burst,
        node_name,
        json: a.json,
        print_all: a.print_all,
        min_severity: a.min_severity.into(),
        quiet: a.quiet,
        ring_buffer_bytes: a.ring_buffer_bytes,
        pending_capacity: a.pending_capacity,
        flood_budget: a.flood_budget,
        process_event_delay: std::time::Duration::from_millis(a.process_event_delay_ms),
        reconcile_every: std::time::Duration::from_secs(a.reconcile_every),
        startup: std::time::Duration::from_secs(a.startup_seconds),
        wait: sensor::enrich::WaitBounds {
            max_wait: std::time::Duration::from_millis(a.metadata_wait_ms),
            max_events: a.max_waiting_events as usize,
        },
        exit_hook: a.exit_hook,
        subscriber_queue: a.subscriber_queue,
        ebpf_log: a.ebpf_log.map(Into::into),
        proc_root: a.proc_root,
        cgroup2_root: a.cgroup2_root,
        btf: a.btf,
        cri_socket: a.cri_socket,
        no_cri: a.no_cri,
        policy: a.policy,
        pin_dir: a.pin_dir,
        otlp: otlp_config(a.otlp)?,
    })
}

/// `--otlp-*`, with the filter checked as a subscriber's would be.
fn otlp_config(a: OtlpArgs) -> anyhow::Result<Option<sensor::export::OtlpConfig>> {
    let Some(url) = a.otlp_endpoint else {
        return Ok(None);
    };
    let kinds = if a.otlp_kinds.is_empty() {
        vec![KindArg::Flagged, KindArg::Deviation, KindArg::Exec]
    } else {
        a.otlp_kinds
    };
    let request = GetEventsRequest {
        kinds: kinds.iter().map(|k| k.wire()).collect(),
        cgroup_ids: a.otlp_cgroups,
        container_ids: a.otlp_containers,
        pod_namespaces: a.otlp_namespaces,
        pod_names: a.otlp_pods,
        syscalls: a.otlp_syscalls,
        min_severity: a.otlp_min_severity.map_or(0, SeverityArg::wire),
        exclude_host: a.otlp_no_host,
        ..Default::default()
    };
    let filter = sensor::api::convert::filter_from_wire(&request)
        .map_err(|s| anyhow::anyhow!("--otlp filter: {}", s.message()))?;
    Ok(Some(sensor::export::OtlpConfig {
        endpoint: sensor::export::EndpointConfig {
            url,
            headers: a.otlp_headers,
            ca: a.otlp_ca,
            client_cert: a.otlp_client_cert,
            client_key: a.otlp_client_key,
            server_name: a.otlp_server_name,
            timeout: std::time::Duration::from_secs(a.otlp_timeout_seconds),
        },
        filter,
        queue: a.otlp_queue as usize,
        batch: a.otlp_batch as usize,
        flush: std::time::Duration::from_millis(a.otlp_flush_ms),
        retry_for: std::time::Duration::from_secs(a.otlp_retry_seconds),
    }))
}

async fn events(a: EventsArgs) -> anyhow::Result<()> {
    let request = GetEventsRequest {
        resume_after_seq: a.resume_after.unwrap_or(0),
        resume_instance_id: a.resume_instance.unwrap_or_default(),
        ..a.filter.to_request()
    };
    client::stream_events(&a.connect, request, a.json).await
}

async fn cluster_command(cmd: ClusterCommand) -> anyhow::Result<()> {
    use sensor::cluster;
    match cmd {
        ClusterCommand::Events(a) => {
            let nodes = cluster::nodes(&a.sensors).await?;
            cluster::events::run(nodes, a.filter.to_request(), a.json).await
        }
        ClusterCommand::Profile(a) => {
            anyhow::ensure!(
                a.image.is_some()
                    || a.namespace.is_some()
                    || a.pod_glob.is_some()
                    || a.container.is_some(),
                "say which containers: --image, --namespace, --pod-glob or --container"
            );
            let nodes = cluster::nodes(&a.sensors).await?;
            let refused = match a.refused {
                sensor::cli::RefusedArg::Errno => sensor::profile::render::Refusal::Errno,
                sensor::cli::RefusedArg::Kill => sensor::profile::render::Refusal::KillProcess,
            };
            let request = sensor_proto::v1::GetProfileRequest {
                container_id: a.container.unwrap_or_default(),
                pod_namespace: a.namespace.unwrap_or_default(),
                pod_name: a.pod_glob.unwrap_or_default(),
                image: a.image.unwrap_or_default(),
                ..Default::default()
            };
            let timeout = std::time::Duration::from_secs(a.timeout_seconds);
            let merged =
                cluster::profile::merge(cluster::profile::ask_all(&nodes, &request, timeout).await);
            match a.format {
                ClusterFormat::Summary => println!("{}", merged.summary()),
                ClusterFormat::Json => println!("{:#}", merged.to_json(refused)),
                ClusterFormat::Oci => {
                    println!("{:#}", merged.oci(refused));
                    for (node, e) in &merged.failed {
                        eprintln!("did not answer: {node}: {e}");
                    }
                }
            }
            anyhow::ensure!(
                !merged.answered.is_empty() || !merged.without_match.is_empty(),
                "no sensor answered"
            );
            Ok(())
        }
    }
}

fn policy_command(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Check { file } => {
            let p = reload::load(&file)?;
            println!(
                "{}: ok: {} syscalls forbidden ({} on {}), {} exceptions, host processes {}",
                file.display(),
                p.syscalls.len(),
                p.names_on(Arch::NATIVE).count(),
                Arch::NATIVE.name(),
                p.exceptions.len(),
                if p.watch_host {
                    "watched"
                } else {
                    "not watched"
                }
            );
            Ok(())
        }
        PolicyCommand::Show => {
            print!("{}", file::to_toml(&Policy::builtin()));
            Ok(())
        }
    }
}

async fn profile_command(a: ProfileArgs) -> anyhow::Result<()> {
    match a.command {
        Some(ProfileCommand::Try { profile, command }) => {
            let code = sensor::profile::try_run::run(&profile, &command)?;
            std::process::exit(code);
        }
        Some(ProfileCommand::Bind(b)) => return sensor::drift_client::bind(b).await,
        Some(ProfileCommand::Unbind { connect, name }) => {
            return sensor::drift_client::unbind(&connect, name).await;
        }
        Some(ProfileCommand::Diff { connect, container }) => {
            return sensor::drift_client::diff(&connect, container).await;
        }
        None => {}
    }
    let (pod_namespace, pod_name) = match &a.pod {
        Some(p) => match p.split_once('/') {
            Some((ns, name)) => (ns.to_owned(), name.to_owned()),
            None => anyhow::bail!("--pod {p}: expected NAMESPACE/NAME"),
        },
        None => Default::default(),
    };
    let request = sensor_proto::v1::GetProfileRequest {
        container_id: a.container.unwrap_or_default(),
        pod_namespace,
        pod_name,
        image: a.image.unwrap_or_default(),
        cgroup_id: a.cgroup.unwrap_or_default(),
        always_allowed: a.always_allow,
        no_always_allowed: a.no_always_allow,
        steady_only: a.steady,
        refused: match a.refused {
            sensor::cli::RefusedArg::Errno => sensor_proto::v1::RefusedAction::Errno,
            sensor::cli::RefusedArg::Kill => sensor_proto::v1::RefusedAction::KillProcess,
        }
        .into(),
    };
    client::print_profile(&a.connect, request, a.format).await
}
