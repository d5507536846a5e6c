//! The HTTP side: `/metrics` (OpenMetrics text, which Prometheus scrapes), `/healthz` (the
//! process answers) and `/readyz` (programs attached and the ring buffer drained).
use std::future::Future;

use axum::{
    Router, extract::State, http::StatusCode, http::header, response::IntoResponse, routing::get,
};
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use super::{Sources, Type};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Reads every family from [`Sources`] at each scrape.
#[derive(Debug)]
struct SensorCollector(Sources);

impl Collector for SensorCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for family in self.0.snapshot() {
            let metric_type = match family.kind {
                Type::Counter => MetricType::Counter,
                Type::Gauge => MetricType::Gauge,
            };
            let mut desc =
                encoder.encode_descriptor(family.name, family.help, None, metric_type)?;
            let encode = |m: MetricEncoder, value: u64| match family.kind {
                Type::Counter => ConstCounter::new(value).encode(m),
                Type::Gauge => ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(m),
            };
            for (label, value) in family.values {
                match label {
                    Some(pair) => encode(desc.encode_family(&[pair])?, value)?,
                    // An unlabelled family has exactly one value.
                    None => {
                        encode(desc, value)?;
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone)]
struct AppState {
    registry: std::sync::Arc<Registry>,
    sources: Sources,
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &s.registry) {
        Ok(()) => (StatusCode::OK, [(header::CONTENT_TYPE, OPENMETRICS)], body),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("encoding the metrics failed: {e}\n"),
        ),
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> (StatusCode, &'static str) {
    if s.sources.gauges.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: programs not attached or the ring buffer is not drained\n",
        )
    }
}

/// Serves the metrics and probes on `listener` until `shutdown` resolves.
pub async fn serve<L>(
    listener: L,
    sources: Sources,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SensorCollector(sources.clone())));
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(AppState {
            registry: std::sync::Arc::new(registry),
            sources,
        });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
