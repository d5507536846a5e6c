//! The OTLP endpoint: a lazily connected tonic channel (plain, TLS or mTLS), the headers sent
//! with every request, and what a failed export means (retry it, or give it up).
use std::{path::PathBuf, time::Duration};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, logs_service_client::LogsServiceClient,
};
use tonic::{
    Code,
    metadata::{AsciiMetadataValue, MetadataKey, MetadataMap},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint as TonicEndpoint, Identity},
};

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("--otlp-endpoint {0}: {1}")]
    Url(String, String),
    #[error(
        "--otlp-header {0:?}: expected KEY=VALUE with a valid gRPC metadata key and an ASCII value"
    )]
    Header(String),
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("OTLP TLS setup: {0}")]
    Tls(String),
}

/// Where and how to export.
#[derive(Clone, Debug, Default)]
pub struct EndpointConfig {
    /// `http://host:4317` or `https://host:4317`.
    pub url: String,
    /// `KEY=VALUE`, sent as gRPC metadata with every export (e.g. an authorization token).
    pub headers: Vec<String>,
    /// The CA that signed the endpoint's certificate (needed for https).
    pub ca: Option<PathBuf>,
    /// A client certificate and key (mutual TLS).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// The name the endpoint's certificate is checked against [default: the URL's host].
    pub server_name: Option<String>,
    /// How long one export may take.
    pub timeout: Duration,
}

/// A ready client: nothing is connected until the first export (an endpoint that is down at
/// start is like one that goes down later).
pub struct Endpoint {
    client: LogsServiceClient<Channel>,
    headers: MetadataMap,
}

/// What an export that failed means.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Try again later (the endpoint is down, busy or timed out).
    Retry(String),
    /// The endpoint refused this batch; sending it again would not help.
    Rejected(String),
}

fn read(what: &'static str, path: &PathBuf) -> Result<Vec<u8>, EndpointError> {
    std::fs::read(path).map_err(|source| EndpointError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

pub fn parse_headers(list: &[String]) -> Result<MetadataMap, EndpointError> {
    let mut map = MetadataMap::new();
    for h in list {
        let bad = || EndpointError::Header(h.clone());
        let (k, v) = h.split_once('=').ok_or_else(bad)?;
        if !v.is_ascii() {
            return Err(bad());
        }
        let key =
            MetadataKey::from_bytes(k.trim().to_ascii_lowercase().as_bytes()).map_err(|_| bad())?;
        let value = AsciiMetadataValue::try_from(v.trim()).map_err(|_| bad())?;
        map.append(key, value);
    }
    Ok(map)
}

impl Endpoint {
    /// Checks everything that can be checked before the first export: the URL, the headers,
    /// the TLS files.
    pub fn new(c: &EndpointConfig) -> Result<Self, EndpointError> {
        let url_err = |why: &str| EndpointError::Url(c.url.clone(), why.to_owned());
        let tls = match c.url.split_once("://") {
            Some(("http", _)) => false,
            Some(("https", _)) => true,
            _ => return Err(url_err("expected http://HOST:PORT or https://HOST:PORT")),
        };
        if tls && c.ca.is_none() {
            return Err(url_err(
                "https needs --otlp-ca (the CA that signed the endpoint's certificate)",
            ));
        }
        if !tls && (c.ca.is_some() || c.client_cert.is_some()) {
            return Err(url_err("TLS options were given: use an https:// URL"));
        }
        let mut ep = TonicEndpoint::from_shared(c.url.clone())
            .map_err(|e| url_err(&e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(c.timeout);
        if let Some(ca) = &c.ca {
            let mut cfg = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("the OTLP CA", ca)?));
            match (&c.client_cert, &c.client_key) {
                (Some(cert), Some(key)) => {
                    cfg = cfg.identity(Identity::from_pem(
                        read("the OTLP client certificate", cert)?,
                        read("the OTLP client key", key)?,
                    ));
                }
                (None, None) => {}
                _ => {
                    return Err(EndpointError::Tls(
                        "--otlp-client-cert and --otlp-client-key go together".into(),
                    ));
                }
            }
            if let Some(name) = &c.server_name {
                cfg = cfg.domain_name(name.clone());
            }
            ep = ep
                .tls_config(cfg)
                .map_err(|e| EndpointError::Tls(e.to_string()))?;
        }
        Ok(Self {
            client: LogsServiceClient::new(ep.connect_lazy()),
            headers: parse_headers(&c.headers)?,
        })
    }

    /// Sends one batch. `Ok(n)`: accepted, but for `n` records the endpoint rejected.
    pub async fn export(&mut self, req: ExportLogsServiceRequest) -> Result<u64, Failure> {
        let mut request = tonic::Request::new(req);
        *request.metadata_mut() = self.headers.clone();
        match self.client.export(request).await {
            Ok(resp) => Ok(resp
                .into_inner()
                .partial_success
                .map_or(0, |p| p.rejected_log_records.max(0) as u64)),
            Err(status) => Err(classify(&status)),
        }
    }
}

/// The OTLP specification's retryable codes (RESOURCE_EXHAUSTED too: the endpoint is
/// throttling), plus UNKNOWN, which is how a broken connection can surface.
fn classify(s: &tonic::Status) -> Failure {
    let what = format!("{:?}: {}", s.code(), s.message());
    match s.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss
        | Code::ResourceExhausted
        | Code::Unknown => Failure::Retry(what),
        _ => Failure::Rejected(what),
    }
}

/// Waits between tries: 250 ms doubling to 8 s, with up to a quarter added at random so that
/// the sensors of a cluster do not come back in step after the collector restarts.
pub fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250) * 2u32.saturating_pow(attempt.min(5));
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos()) as u64
        % (base.as_millis() as u64 / 4 + 1);
    base + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_checked() {
        let m = parse_headers(&["Authorization=Bearer x".into(), "x-tenant = a".into()]).unwrap();
        assert_eq!(m.get("authorization").unwrap(), "Bearer x");
        assert_eq!(m.get("x-tenant").unwrap(), "a");
        assert!(parse_headers(&["novalue".into()]).is_err());
        assert!(parse_headers(&["bad key=v".into()]).is_err());
        assert!(parse_headers(&["k=caf\u{e9}".into()]).is_err());
    }

    #[test]
    fn urls_and_tls_options_are_checked() {
        let c = |url: &str| EndpointConfig {
            url: url.into(),
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _g = rt.enter();
        assert!(Endpoint::new(&c("http://127.0.0.1:4317")).is_ok());
        let e = |c: EndpointConfig| Endpoint::new(&c).err().unwrap().to_string();
        assert!(e(c("127.0.0.1:4317")).contains("expected http://"));
        assert!(e(c("https://collector:4317")).contains("needs --otlp-ca"));
        let mut with_ca = c("http://collector:4317");
        with_ca.ca = Some("/nonexistent".into());
        assert!(e(with_ca).contains("use an https:// URL"));
        let mut missing = c("https://collector:4317");
        missing.ca = Some("/nonexistent/ca.pem".into());
        assert!(e(missing).contains("cannot read the OTLP CA /nonexistent/ca.pem"));
    }

    #[test]
    fn retryable_codes_follow_the_specification() {
        let f = |code| classify(&tonic::Status::new(code, "x"));
        assert!(matches!(f(Code::Unavailable), Failure::Retry(_)));
        assert!(matches!(f(Code::DeadlineExceeded), Failure::Retry(_)));
        assert!(matches!(f(Code::InvalidArgument), Failure::Rejected(_)));
        assert!(matches!(f(Code::Unauthenticated), Failure::Rejected(_)));
        assert!(backoff(0) >= Duration::from_millis(250));
        assert!(backoff(30) <= Duration::from_secs(10));
    }
}
