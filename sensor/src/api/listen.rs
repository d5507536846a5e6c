//! Where and how the API is served: the TCP listener (TLS, mTLS and the allow list when
//! configured), an optional unix socket (plain text; its file mode is the access control), and
//! beside the sensor's service the standard health service and server reflection (v1 and
//! v1alpha, which older grpcurl builds use).
use std::{
    future::Future,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use sensor_proto::v1::{FILE_DESCRIPTOR_SET, sensor_service_server::SensorServiceServer};
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::{Request, Status, service::Routes, transport::Server};
use tonic_health::ServingStatus;

use super::{
    security::{AllowList, TlsFiles},
    server::EventService,
};

/// The name health checks ask about.
pub const SERVICE_NAME: &str = "sensor.v1.SensorService";

/// Creates the unix socket at `path` with mode 0600. The socket is bound under a temporary
/// name and renamed once its mode is set, so nobody can connect while it is still open to all.
pub fn bind_unix(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::FileTypeExt as _;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::other(format!(
                "{} exists and is not a socket: not replacing it",
                path.display()
            )));
        }
        std::fs::remove_file(path)?; // a stale socket from an earlier run
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener = UnixListener::bind(&tmp)?;
    let ready = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = ready {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(listener)
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
    #[error(transparent)]
    Security(#[from] super::security::SecurityError),
    #[error("building server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("TLS setup: {0}")]
    Tls(tonic::transport::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Where the API is served.
pub struct Listeners {
    pub tcp: TcpListener,
    pub unix: Option<(UnixListener, PathBuf)>,
}

/// Serves the API until `shutdown` resolves; health says NOT_SERVING from then on.
pub async fn serve(
    listeners: Listeners,
    service: EventService,
    tls: &TlsFiles,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status(SERVICE_NAME, ServingStatus::Serving)
        .await;
    let tls_config = tls.server_config()?;
    let allow = tls.allow_list();
    let routes = reflection_routes()?.add_service(health_service);

    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let stopped = |tx: &tokio::sync::broadcast::Sender<()>| {
        let mut rx = tx.subscribe();
        async move {
            let _ = rx.recv().await;
        }
    };

    let mut tcp_server = Server::builder();
    if let Some(cfg) = tls_config {
        tcp_server = tcp_server.tls_config(cfg).map_err(ServeError::Tls)?;
    }
    let tcp_routes = routes
        .clone()
        .add_service(SensorServiceServer::with_interceptor(
            service.clone(),
            move |req: Request<()>| check(allow.as_ref(), req),
        ));
    let tcp = tcp_server
        .add_routes(tcp_routes)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listeners.tcp), stopped(&stop_tx));
    let unix = listeners.unix.map(|(l, path)| {
        let server = Server::builder()
            .add_routes(routes.add_service(SensorServiceServer::new(service)))
            .serve_with_incoming_shutdown(UnixListenerStream::new(l), stopped(&stop_tx));
        (server, path)
    });

    let stop = async move {
        shutdown.await;
        health
            .set_service_status(SERVICE_NAME, ServingStatus::NotServing)
            .await;
        let _ = stop_tx.send(());
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
