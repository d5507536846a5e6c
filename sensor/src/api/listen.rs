//! Where and how the API is served: the TCP listener (TLS, mTLS and the allow list when
//! configured), an optional unix socket (plain text; its file mode is the access control), and
//! beside the sensor's service the standard health service and server reflection (v1 and
//! v1alpha, which older grpcurl builds use), all behind the per-client request limit. The
//! metrics endpoint is started and stopped with them ([`Servers`]).
use std::{
    future::Future,
    net::SocketAddr,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use sensor_proto::{encoded::sensor_service_server::SensorServiceServer, v1::FILE_DESCRIPTOR_SET};
use tokio::{
    net::{TcpListener, UnixListener},
    sync::watch,
    task::JoinHandle,
};
use tokio_stream::{
    StreamExt as _,
    wrappers::{ReceiverStream, TcpListenerStream, UnixListenerStream},
};
use tonic::{
    Request, Status,
    service::{InterceptorLayer, Routes},
    transport::Server,
};
use tonic_health::ServingStatus;

use super::{
    allow::AllowList,
    limit::{Client, RequestLimit},
    server::EventService,
    tls::{self, Rotating, TlsListener},
};
use crate::metrics::{self, Sources};

/// The name health checks ask about.
pub const SERVICE_NAME: &str = "sensor.v1.SensorService";

/// Creates the unix socket at `path` with mode 0600. It is bound inside a fresh directory of
/// mode 0700 next to `path`, given its mode there, then renamed into place: at no moment can
/// anyone else reach it with a looser mode (connecting needs search permission on the
/// directory), whatever the process's umask.
pub fn bind_unix(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a socket: not replacing it",
                path.display()
            )));
        }
        std::fs::remove_file(path)?; // a stale socket from an earlier run
    }
    let private = path.with_extension(format!("bind{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new().mode(0o700).create(&private)?;
    let tmp = private.join("socket");
    let bound = UnixListener::bind(&tmp).and_then(|listener| {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir(&private);
    bound
}

/// Server reflection, v1 and v1alpha, for the sensor's API and the health service.
fn reflection_routes() -> Result<Routes, tonic_reflection::server::Error> {
    let v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    Ok(Routes::new(v1).add_service(v1alpha))
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen for gRPC on {addr}: {source}")]
    BindApi {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot serve metrics on {addr} (in use? give another --metrics-addr): {source}")]
    BindMetrics {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Security(#[from] super::security::SecurityError),
    #[error("building server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("metrics server: {0}")]
    Metrics(std::io::Error),
}

/// Who may use the API, and how the TCP listeners are secured.
pub struct Access {
    /// TLS for the API's TCP listener (reloaded when its files change); `None`: plain text.
    pub tls: Option<Arc<Rotating>>,
    /// Client identities that may call (with mTLS).
    pub allow: Option<AllowList>,
    /// Serve the metrics and probes over TLS too (same certificate, no client certificate).
    pub metrics_tls: bool,
}

/// Where the API and the metrics are served. Bound before anything is spawned, so that a
/// taken port fails the start with a clear message.
pub struct Listeners {
    pub tcp: TcpListener,
    pub unix: Option<(UnixListener, PathBuf)>,
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    pub async fn bind(
        grpc: SocketAddr,
        unix: Option<&Path>,
        metrics: Option<SocketAddr>,
    ) -> Result<Self, ServeError> {
        let tcp = TcpListener::bind(grpc)
            .await
            .map_err(|source| ServeError::BindApi {
                addr: grpc.to_string(),
                source,
            })?;
        let unix = match unix {
            Some(path) => Some((
                bind_unix(path).map_err(|source| ServeError::BindApi {
                    addr: path.display().to_string(),
                    source,
                })?,
                path.to_owned(),
            )),
            None => None,
        };
        let metrics = match metrics {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::BindMetrics { addr, source })?,
            ),
            None => None,
        };
        Ok(Self { tcp, unix, metrics })
    }

    /// The API's TCP address and the metrics address, as bound (port 0 resolved).
    pub fn local_addrs(&self) -> std::io::Result<(SocketAddr, Option<SocketAddr>)> {
        let metrics = self
            .metrics
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()?;
        Ok((self.tcp.local_addr()?, metrics))
    }
}

/// Tells every server to stop; each [`Shutdown::signal`] resolves once [`Shutdown::stop`] is
/// called (also when it was called before).
#[derive(Clone)]
pub struct Shutdown(Arc<watch::Sender<bool>>);

impl Default for Shutdown {
    fn default() -> Self {
        Self(Arc::new(watch::channel(false).0))
    }
}

impl Shutdown {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    pub fn signal(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|stopped| *stopped).await;
        }
    }
}

/// The running API and metrics servers.
pub struct Servers {
    shutdown: Shutdown,
    api: JoinHandle<Result<(), ServeError>>,
    metrics: Option<JoinHandle<std::io::Result<()>>>,
}

impl Servers {
    /// Serves the API (and the metrics, when bound) until [`Servers::stop`]. With `tls`, the
    /// TCP listener speaks TLS (mTLS with a client CA; `allow` then names who may call), and
    /// so do the metrics when `metrics_tls`.
    pub fn start(
        listeners: Listeners,
        service: EventService,
        access: Access,
        limit: Option<Arc<RequestLimit>>,
        sources: Sources,
    ) -> Self {
        let shutdown = Shutdown::default();
        let metrics = listeners.metrics.map(|l| {
            let stop = shutdown.signal();
            match (&access.tls, access.metrics_tls) {
                (Some(tls), true) => {
                    let local = l.local_addr().expect("a bound listener has an address");
                    let rx = tls::accept(l, tls.clone(), false);
                    let l = TlsListener { rx, local };
                    tokio::spawn(metrics::http::serve(l, sources, stop))
                }
                _ => tokio::spawn(metrics::http::serve(l, sources, stop)),
            }
        });
        let api_listeners = (listeners.tcp, listeners.unix);
        let stop = shutdown.signal();
        let api =
            tokio::spawn(async move { serve(api_listeners, service, access, limit, stop).await });
        Self {
            shutdown,
            api,
            metrics,
        }
    }

    /// Stops both, waiting a little for streams to end; says what did not stop cleanly.
    pub async fn stop(self) {
        self.shutdown.stop();
        match tokio::time::timeout(Duration::from_secs(3), self.api).await {
            Ok(Ok(Err(e))) => tracing::warn!("{e}"),
            Err(_) => tracing::warn!("gRPC server did not stop within 3 s"),
            _ => {}
        }
        if let Some(t) = self.metrics
            && let Ok(Ok(Err(e))) = tokio::time::timeout(Duration::from_secs(1), t).await
        {
            tracing::warn!("{}", ServeError::Metrics(e));
        }
    }
}

/// Small writes go out at once. An event stream is a run of small messages: under Nagle's
/// algorithm one could wait for the client's delayed acknowledgement (40 ms on Linux), which
/// is what the latency bench's tail showed (tonic sets this only on listeners it binds).
pub(super) fn no_delay(tcp: &tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY: {e}");
    }
}

/// Serves the API until `shutdown` resolves; health says NOT_SERVING from then on.
async fn serve(
    (tcp, unix): (TcpListener, Option<(UnixListener, PathBuf)>),
    service: EventService,
    access: Access,
    limit: Option<Arc<RequestLimit>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(SERVICE_NAME, ServingStatus::Serving)
        .await;
    let Access { tls, allow, .. } = access;
    let routes = reflection_routes()?.add_service(health_service);
    // Every request, to every service on every listener, is counted against its client first.
    let limited = InterceptorLayer::new(move |req: Request<()>| match &limit {
        Some(l) => l.check(Client::of(&req)).map(|()| req),
        None => Ok(req),
    });
    let servers_stop = Shutdown::default();

    let tcp_routes = routes
        .clone()
        .add_service(SensorServiceServer::with_interceptor(
            service.clone(),
            move |req: Request<()>| check(allow.as_ref(), req),
        ));
    let tcp_server = Server::builder()
        .layer(limited.clone())
        .add_routes(tcp_routes);
    let tcp_stop = servers_stop.signal();
    let tcp = async move {
        match tls {
            Some(tls) => {
                let incoming = ReceiverStream::new(tls::accept(tcp, tls, true))
                    .map(|(stream, _)| Ok::<_, std::io::Error>(stream));
                tcp_server
                    .serve_with_incoming_shutdown(incoming, tcp_stop)
                    .await
            }
            None => {
                let incoming =
                    TcpListenerStream::new(tcp).map(|accepted| accepted.inspect(no_delay));
                tcp_server
                    .serve_with_incoming_shutdown(incoming, tcp_stop)
                    .await
            }
        }
    };
    let unix = unix.map(|(l, path)| {
        let server = Server::builder()
            .layer(limited)
            .add_routes(routes.add_service(SensorServiceServer::new(service)))
            .serve_with_incoming_shutdown(UnixListenerStream::new(l), servers_stop.signal());
        (server, path)
    });

    let stop = async move {
        shutdown.await;
        health
            .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
            .await;
        servers_stop.stop();
    };
    let result = match unix {
        None => tokio::join!(tcp, stop).0,
        Some((server, path)) => {
            let (t, u, ()) = tokio::join!(tcp, server, stop);
            let _ = std::fs::remove_file(&path);
            t.and(u)
        }
    };
    Ok(result?)
}

fn check(allow: Option<&AllowList>, req: Request<()>) -> Result<Request<()>, Status> {
    match allow {
        Some(a) => a.check(&req).map(|()| req),
        None => Ok(req),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};

    /// Even under umask 0, the socket appears with mode 0600 and nothing else is left next
    /// to it (the 0700 directory it was bound in is gone).
    #[tokio::test]
    async fn the_socket_is_private_whatever_the_umask() {
        let dir = std::env::temp_dir().join(format!("sensor-bind-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("api.sock");
        // SAFETY: umask has no preconditions; the old mask is put back at once.
        let old = unsafe { libc::umask(0) };
        let bound = super::bind_unix(&path);
        unsafe { libc::umask(old) };
        let _listener = bound.expect("bind");
        let meta = std::fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["api.sock"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
