//! The client commands: `sensor events` (a collector that prints what it streams),
//! `containers`, `status`, `profile`; over TCP, TLS, mTLS or a unix socket.
use anyhow::Context as _;
use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use hyper_util::rt::TokioIo;
use sensor_proto::v1::{
    GetEventsRequest, GetProfileRequest, ListContainersRequest, StatusRequest,
    sensor_service_client::SensorServiceClient,
};
use tokio::net::UnixStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};

use crate::{cli::ConnectArgs, render};

type Client = SensorServiceClient<Channel>;

/// `127.0.0.1:50051` -> `http://...`, or `https://...` when TLS is asked for.
pub fn endpoint(addr: &str, tls: bool) -> String {
    match (addr.contains("://"), tls) {
        (true, _) => addr.to_owned(),
        (false, false) => format!("http://{addr}"),
        (false, true) => format!("https://{addr}"),
    }
}

fn read(what: &str, path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

/// HTTP/2 receive window of the connection and of each stream: large enough that flow control
/// does not pace a busy event stream (h2's default is 64 KiB, about a hundred events).
const WINDOW: u32 = 8 << 20;

fn with_windows(ep: Endpoint) -> Endpoint {
    ep.initial_stream_window_size(Some(WINDOW))
        .initial_connection_window_size(Some(WINDOW))
        .max_frame_size(Some(MAX_FRAME))
}

/// The largest HTTP/2 frame the sensor may send us (h2's default is 16 KiB): a burst of
/// events then comes as one frame, one write on the sensor's side instead of several.
const MAX_FRAME: u32 = 1 << 20;

/// Connects as `c` says: plain text, TLS (with `--ca`), mTLS (with a client certificate), or
/// a unix socket (`unix:/path`).
pub async fn connect(c: &ConnectArgs) -> anyhow::Result<Client> {
    if let Some(path) = c.addr.strip_prefix("unix:") {
        let path = PathBuf::from(path);
        let channel = with_windows(Endpoint::from_static("http://sensor.invalid"))
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = path.clone();
                async move { UnixStream::connect(path).await.map(TokioIo::new) }
            }))
            .await
            .with_context(|| format!("cannot connect to the sensor at {}", c.addr))?;
        return Ok(SensorServiceClient::new(channel));
    }
    let url = endpoint(&c.addr, c.tls.ca.is_some());
    let mut ep =
        Endpoint::from_shared(url.clone()).with_context(|| format!("bad address {url}"))?;
    if let Some(ca) = &c.tls.ca {
        let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("CA", ca)?));
        if let (Some(cert), Some(key)) = (&c.tls.client_cert, &c.tls.client_key) {
            tls = tls.identity(Identity::from_pem(
                read("client certificate", cert)?,
                read("client key", key)?,
            ));
        }
        if let Some(name) = &c.tls.server_name {
            tls = tls.domain_name(name.clone());
        }
        ep = ep.tls_config(tls).context("TLS setup")?;
    }
    let channel = with_windows(ep)
        .connect()
        .await
        .with_context(|| format!("cannot connect to the sensor at {url} (is `sensor run` up?)"))?;
    Ok(SensorServiceClient::new(channel))
}

/// `sensor status`: what the sensor is and its counters.
pub async fn print_status(c: &ConnectArgs, json: bool) -> anyhow::Result<()> {
    let s = connect(c)
        .await?
        .status(StatusRequest {})
        .await
        .context("the sensor refused Status")?
        .into_inner();
    if json {
        println!("{}", render::status_json(&s));
        return Ok(());
    }
    println!(
        "sensor {} on {} (kernel {}), instance {}, up {} s",
        s.version, s.node_name, s.kernel, s.sensor_instance_id, s.uptime_seconds
    );
    println!(
        "programs: {}; subscribers: {}; last event #{}",
        s.programs.join(", "),
        s.subscribers,
        s.last_seq
    );
    let mut settings: Vec<_> = s.settings.iter().collect();
    settings.sort();
    println!("settings:");
    for (name, value) in settings {
        println!("  --{name:<26} {value}");
    }
    println!("counters and gauges:");
    let mut all: Vec<_> = s.counters.iter().chain(s.gauges.iter()).collect();
    all.sort();
    for (name, value) in all {
        println!("  {name:<52} {value}");
    }
    Ok(())
}

/// `sensor containers`: one line (or JSON object) per container seen.
pub async fn list_containers(c: &ConnectArgs, json: bool) -> anyhow::Result<()> {
    let mut client = connect(c).await?;
    let list = client
        .list_containers(ListContainersRequest {})
        .await
        .context("the sensor refused ListContainers")?
        .into_inner();
    let mut out = std::io::stdout().lock();
    if !json {
        writeln!(out, "{}", render::CONTAINER_HEADER)?;
    }
    for c in &list.containers {
        let line = if json {
            render::container_json(c).to_string()
        } else {
            render::container_line(c)
        };
        writeln!(out, "{line}")?;
    }
    Ok(())
}

pub async fn stream_events(
    c: &ConnectArgs,
    request: GetEventsRequest,
    json: bool,
) -> anyhow::Result<()> {
    let url = &c.addr;
    let mut client = connect(c).await?;
    let mut stream = client
        .get_events(request)
        .await
        .with_context(|| format!("the sensor at {url} refused the subscription"))?
        .into_inner();
    let mut out = std::io::stdout().lock();
    while let Some(msg) = stream.message().await.context("the event stream broke")? {
        let printed = if json {
            writeln!(out, "{}", render::json(&msg))
        } else {
            writeln!(out, "{}", render::line(&msg))
        };
        if printed.and_then(|()| out.flush()).is_err() {
            return Ok(()); // stdout closed (e.g. `| head`): stop quietly.
        }
    }
    eprintln!("the sensor ended the stream (it is shutting down)");
    Ok(())
}

/// What a profile cannot say about io_uring.
fn io_uring_note(ops: &[String]) -> String {
    format!(
        "the workload submitted io_uring operations ({}); seccomp cannot filter inside a \
         ring, so a profile that allows io_uring_enter allows every one of them",
        ops.join(", ")
    )
}

/// `sensor profile`: prints the learned profile in the chosen format.
pub async fn print_profile(
    c: &ConnectArgs,
    request: GetProfileRequest,
    format: crate::cli::ProfileFormat,
) -> anyhow::Result<()> {
    let mut client = connect(c).await?;
    let p = client
        .get_profile(request)
        .await
        .context("the sensor has no such profile")?
        .into_inner();
    let rendered = match format {
        crate::cli::ProfileFormat::Oci => Some(&p.oci_json),
        crate::cli::ProfileFormat::Spo => Some(&p.spo_json),
        crate::cli::ProfileFormat::Summary => None,
    };
    if let Some(json) = rendered {
        println!("{json}");
        if !p.io_uring_ops.is_empty() {
            eprintln!("note: {}", io_uring_note(&p.io_uring_ops));
        }
    }
    match format {
        crate::cli::ProfileFormat::Oci | crate::cli::ProfileFormat::Spo => {}
        crate::cli::ProfileFormat::Summary => {
            println!(
                "{} syscalls from {} container(s)",
                p.syscalls.len(),
                p.containers
            );
            let row = |s: &sensor_proto::v1::ProfileSyscall| {
                let why = if s.always_allowed {
                    "always allowed (not seen)".to_owned()
                } else if s.startup_only {
                    format!("{} container(s), only while starting up", s.containers)
                } else {
                    format!("{} container(s)", s.containers)
                };
                println!(
                    "{:<24} {:>4}  {:<7} {:<8}  {why}",
                    s.name,
                    s.number,
                    s.arch,
                    crate::render::phase_name(s.phase),
                );
            };
            p.syscalls.iter().for_each(row);
            if !p.left_out_startup_only.is_empty() {
                println!("\nmade only while starting up (left out, as --steady asked):");
                p.left_out_startup_only.iter().for_each(row);
            }
            if !p.runtime_only.is_empty() {
                println!(
                    "\nmade only by the runtime before its seccomp filter (not in the profile):"
                );
                p.runtime_only.iter().for_each(row);
            }
            if p.containers_without_handover > 0 {
                println!(
                    "\nnote: {} container(s) ran without a seccomp filter, so their runtime's \
                     setup (mount, pivot_root, ...) could not be told apart and is in the \
                     profile; learn under any filter (one that allows everything will do) to \
                     leave it out",
                    p.containers_without_handover
                );
            }
            if !p.unnamed_numbers.is_empty() {
                println!(
                    "numbers without a name (not in the profile): {:?}",
                    p.unnamed_numbers
                );
            }
            if !p.io_uring_ops.is_empty() {
                println!("{}", io_uring_note(&p.io_uring_ops));
            }
        }
    }
    Ok(())
}
