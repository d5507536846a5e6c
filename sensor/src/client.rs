//! `sensor events`: a collector that subscribes to a sensor and prints what it streams.
use anyhow::Context as _;
use sensor_proto::v1::{GetEventsRequest, sensor_service_client::SensorServiceClient};
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

pub async fn stream_events(
    addr: &str,
    request: GetEventsRequest,
    json: bool,
) -> anyhow::Result<()> {
    let url = endpoint(addr);
    let mut client = SensorServiceClient::connect(url.clone())
        .await
        .with_context(|| format!("cannot connect to the sensor at {url} (is `sensor run` up?)"))?;
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
