//! TLS for the TCP listeners, terminated here (not inside tonic) so that the certificate, its
//! key and the client CA are reloaded when their files change, as cert-manager rotates them in
//! place, without dropping live streams: each new connection is accepted with the newest good
//! configuration, and connections already open keep theirs. A half-written rotation (a new
//! certificate with the old key) is refused, logged and counted; the old configuration stays.
use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        RootCertStore, ServerConfig,
        crypto::{CryptoProvider, ring},
        pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject as _},
        server::WebPkiClientVerifier,
    },
    server::TlsStream,
};

use super::security::SecurityError;

/// How often the files are checked for a new version.
const POLL: Duration = Duration::from_secs(2);
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const BACKLOG: usize = 64;

/// The files a configuration is built from (PEM).
#[derive(Clone, Debug)]
pub struct TlsPaths {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// The configurations in force, replaced whole on each good reload.
#[derive(Debug)]
pub struct Rotating {
    paths: TlsPaths,
    /// For the API: client certificates required when a client CA is given.
    api: RwLock<Arc<ServerConfig>>,
    /// For metrics and probes: the same certificate, no client certificate asked.
    open: RwLock<Arc<ServerConfig>>,
    /// The bytes the configurations were built from.
    loaded: RwLock<Vec<Vec<u8>>>,
    pub reloaded: AtomicU64,
    pub refused: AtomicU64,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn read_all(paths: &TlsPaths) -> Result<Vec<Vec<u8>>, SecurityError> {
    let read = |what, p: &PathBuf| {
        std::fs::read(p).map_err(|source| SecurityError::Read {
            what,
            path: p.clone(),
            source,
        })
    };
    let mut out = vec![
        read("TLS certificate", &paths.cert)?,
        read("TLS key", &paths.key)?,
    ];
    if let Some(ca) = &paths.client_ca {
        out.push(read("client CA", ca)?);
    }
    Ok(out)
}

fn config_error(what: &str, e: impl std::fmt::Display) -> SecurityError {
    SecurityError::Config(format!("{what}: {e}"))
}

/// Builds (api, open) from the files' bytes: [certificate, key, client CA?].
fn build(bytes: &[Vec<u8>]) -> Result<(ServerConfig, ServerConfig), SecurityError> {
    let certs = CertificateDer::pem_slice_iter(&bytes[0])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error("TLS certificate", e))?;
    if certs.is_empty() {
        return Err(SecurityError::Config(
            "TLS certificate: no PEM certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes[1]).map_err(|e| config_error("TLS key", e))?;
    let builder = || {
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error("TLS versions", e))
    };
    let api = match bytes.get(2) {
        None => builder()?.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca) {
                let c = c.map_err(|e| config_error("client CA", e))?;
                roots.add(c).map_err(|e| config_error("client CA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .map_err(|e| config_error("client CA", e))?;
            builder()?.with_client_cert_verifier(verifier)
        }
    };
    let finish = |b: tokio_rustls::rustls::ConfigBuilder<ServerConfig, _>| {
        let mut c = b
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| config_error("TLS certificate and key", e))?;
        c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok::<_, SecurityError>(c)
    };
    let api = finish(api)?;
    let mut open = finish(builder()?.with_no_client_auth())?;
    open.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((api, open))
}

impl Rotating {
    /// Loads the files; an error here stops the start.
    pub fn load(paths: TlsPaths) -> Result<Arc<Self>, SecurityError> {
        let bytes = read_all(&paths)?;
        let (api, open) = build(&bytes)?;
        Ok(Arc::new(Self {
            paths,
            api: RwLock::new(Arc::new(api)),
            open: RwLock::new(Arc::new(open)),
            loaded: RwLock::new(bytes),
            reloaded: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }))
    }

    fn current(&self, client_auth: bool) -> Arc<ServerConfig> {
        let slot = if client_auth { &self.api } else { &self.open };
        slot.read()
            .expect("never poisoned: no panics under the lock")
            .clone()
    }

    /// Reloads when the files' contents changed; the old configuration stays on any error.
    fn check(&self) {
        let bytes = match read_all(&self.paths) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!("TLS files unreadable ({e}); keeping the current certificate");
                return;
            }
        };
        if *self.loaded.read().expect("never poisoned") == bytes {
            return;
        }
        match build(&bytes) {
            Ok((api, open)) => {
                *self.api.write().expect("never poisoned") = Arc::new(api);
                *self.open.write().expect("never poisoned") = Arc::new(open);
                *self.loaded.write().expect("never poisoned") = bytes;
                self.reloaded.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    cert = %self.paths.cert.display(),
                    "TLS certificate reloaded: new connections use it, open streams go on"
                );
            }
            Err(e) => {
                // Remember the refused bytes so that the refusal is told once per version.
                *self.loaded.write().expect("never poisoned") = bytes;
                self.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("new TLS files refused ({e}); keeping the current certificate");
            }
        }
    }

    /// Checks the files every [`POLL`] until the task is dropped.
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = crate::clock::beat(POLL);
            loop {
                tick.tick().await;
                let m = me.clone();
                let _ = tokio::task::spawn_blocking(move || m.check()).await;
            }
        })
    }
}

/// Accepts on `listener` and hands over each connection once its TLS handshake (with the
/// configuration in force when it arrived) succeeded. Failed handshakes are logged at debug:
/// a port scan is not news.
pub fn accept(
    listener: TcpListener,
    tls: Arc<Rotating>,
    client_auth: bool,
) -> mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)> {
    let (tx, rx) = mpsc::channel(BACKLOG);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if tx.is_closed() {
                return;
            }
            super::listen::no_delay(&tcp);
            let acceptor = TlsAcceptor::from(tls.current(client_auth));
            let tx = tx.clone();
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let _ = tx.send((stream, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                }
            });
        }
    });
    rx
}

/// The metrics server's side of [`accept`].
pub struct TlsListener {
    pub rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    pub local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
