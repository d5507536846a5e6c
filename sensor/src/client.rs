//! `sensor events`: a collector that subscribes to a sensor and prints what it streams.
use anyhow::Context as _;
use sensor_proto::v1::{
    GetEventsRequest, GetProfileRequest, ListContainersRequest, Phase,
    sensor_service_client::SensorServiceClient,
};
use std::io::Write as _;

use crate::render;

/// `127.0.0.1:50051` or `http://127.0.0.1:50051`.
pub fn endpoint(addr: &str) -> String {
    if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    }
}

async fn connect(addr: &str) -> anyhow::Result<SensorServiceClient<tonic::transport::Channel>> {
    let url = endpoint(addr);
    SensorServiceClient::connect(url.clone())
        .await
        .with_context(|| format!("cannot connect to the sensor at {url} (is `sensor run` up?)"))
}

/// `sensor containers`: one line (or JSON object) per container seen.
pub async fn list_containers(addr: &str, json: bool) -> anyhow::Result<()> {
    let mut client = connect(addr).await?;
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
    addr: &str,
    request: GetEventsRequest,
    json: bool,
) -> anyhow::Result<()> {
    let url = endpoint(addr);
    let mut client = connect(addr).await?;
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

/// `sensor profile`: prints the learned profile in the chosen format.
pub async fn print_profile(
    addr: &str,
    request: GetProfileRequest,
    format: crate::cli::ProfileFormat,
) -> anyhow::Result<()> {
    let mut client = connect(addr).await?;
    let p = client
        .get_profile(request)
        .await
        .context("the sensor has no such profile")?
        .into_inner();
    match format {
        crate::cli::ProfileFormat::Oci => println!("{}", p.oci_json),
        crate::cli::ProfileFormat::Spo => println!("{}", p.spo_json),
        crate::cli::ProfileFormat::Summary => {
            println!(
                "{} syscalls from {} container(s)",
                p.syscalls.len(),
                p.containers
            );
            for s in &p.syscalls {
                let phase = if s.phase == Phase::Runtime as i32 {
                    "runtime"
                } else {
                    "workload"
                };
                println!(
                    "{:<24} {:>4}  {phase:<8}  {} container(s)",
                    s.name, s.number, s.containers
                );
            }
            if !p.unnamed_numbers.is_empty() {
                println!(
                    "numbers without a name (not in the profile): {:?}",
                    p.unnamed_numbers
                );
            }
        }
    }
    Ok(())
}
