//! Certificates made by the test (rcgen): a CA, and server or client certificates it signs,
//! written as PEM files into a scratch directory that goes away with the test.
use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    SanType,
};
use sensor_proto::v1::sensor_service_client::SensorServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::cgroup::ScratchDir;

pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub pem: String,
}

/// A certificate and its key, as PEM.
pub struct Issued {
    pub cert: String,
    pub key: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).expect("self-sign the CA").pem();
        Self { params, key, pem }
    }

    /// A certificate for `cn`: a server's (SANs localhost and 127.0.0.1) or a client's (with
    /// `sans` as DNS names).
    /// A certificate for `cn`, with `sans` as DNS names, or as email names when they start
    /// with `email:`.
    pub fn issue(&self, cn: &str, server: bool, sans: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("key");
        let (emails, dns): (Vec<&str>, Vec<&str>) =
            sans.iter().partition(|s| s.starts_with("email:"));
        let mut names: Vec<String> = dns.iter().map(|s| (*s).to_owned()).collect();
        if server {
            names.push("localhost".into());
        }
        let mut params = CertificateParams::new(names).expect("params");
        for e in emails {
            let email = e
                .trim_start_matches("email:")
                .try_into()
                .expect("an email name");
            params.subject_alt_names.push(SanType::Rfc822Name(email));
        }
        params.distinguished_name.push(DnType::CommonName, cn);
        if server {
            params
                .subject_alt_names
                .push(SanType::IpAddress([127, 0, 0, 1].into()));
        }
        params.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign");
        Issued {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// PEM files in a scratch directory.
pub struct Files {
    dir: ScratchDir,
}

impl Files {
    pub fn new() -> Self {
        Self {
            dir: ScratchDir::new("pki"),
        }
    }

    pub fn write(&self, name: &str, pem: &str) -> String {
        let path: PathBuf = self.dir.path().join(name);
        std::fs::write(&path, pem).expect("write PEM");
        path.to_str().expect("utf-8 path").to_owned()
    }

    /// `sensor run` options for TLS with `server`'s certificate, and client certificates of
    /// `ca` (mTLS).
    pub fn mtls_args(&self, server: &Issued, ca: &Ca) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.write("server.pem", &server.cert),
            "--tls-key".into(),
            self.write("server.key", &server.key),
            "--client-ca".into(),
            self.write("ca.pem", &ca.pem),
        ]
    }
}

impl Default for Files {
    fn default() -> Self {
        Self::new()
    }
}

/// A TLS client of the sensor at `https://127.0.0.1:PORT` that trusts `ca` and presents
/// `identity`, if any. Errors are the connection's, as a Status.
pub async fn tls_client(
    addr: &str,
    ca: &str,
    identity: Option<&Issued>,
) -> Result<SensorServiceClient<Channel>, tonic::Status> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(&id.cert, &id.key));
    }
    let url = addr.replace("http://", "https://");
    let unavailable = |e: tonic::transport::Error| tonic::Status::unavailable(format!("{e:?}"));
    let channel = Endpoint::from_shared(url)
        .map_err(unavailable)?
        .tls_config(tls)
        .map_err(unavailable)?
        .connect()
        .await
        .map_err(unavailable)?;
    Ok(SensorServiceClient::new(channel))
}

type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A TLS connection to `addr` (trusting `ca`, presenting `identity`, offering `alpn`).
async fn connect_tls(
    addr: &str,
    ca: &str,
    identity: Option<&Issued>,
    alpn: &[&[u8]],
) -> Result<TlsStream, String> {
    use tokio_rustls::rustls::{
        self, ClientConfig, RootCertStore,
        pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject as _},
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.as_bytes()).expect("CA PEM"))
        .expect("a CA certificate");
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(id.cert.as_bytes()).expect("cert PEM")],
                PrivateKeyDer::from_pem_slice(id.key.as_bytes()).expect("key PEM"),
            )
            .expect("client identity"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let hostport = addr
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(hostport)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let name = ServerName::try_from("localhost").expect("a server name");
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("{e:?}"))
}

/// A raw TLS handshake with the server at `addr` (trusting `ca`, presenting `identity`),
/// then one read: `Err` with the TLS error when the server refuses the client (with TLS 1.3
/// the client learns of it from the server's alert, after its own side of the handshake).
pub async fn tls_handshake(addr: &str, ca: &str, identity: Option<&Issued>) -> Result<(), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tls = connect_tls(addr, ca, identity, &[b"h2"]).await?;
    // The HTTP/2 preface; the server answers with its SETTINGS, or with an alert.
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut buf = [0u8; 64];
    match tls.read(&mut buf).await {
        Ok(0) => Err("closed without a word".into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{e:?}")),
    }
}

/// `GET path` over HTTPS from `addr` (trusting `ca`): the status and the body.
pub async fn https_get(addr: &str, ca: &str, path: &str) -> Result<(u16, String), String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut tls = connect_tls(addr, ca, None, &[]).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut text = String::new();
    // The server closes after its answer; some close without TLS's close_notify.
    let _ = tls.read_to_string(&mut text).await;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}
