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
    pub fn issue(&self, cn: &str, server: bool, sans: &[&str]) -> Issued {
        let key = KeyPair::generate().expect("key");
        let mut names: Vec<String> = sans.iter().map(|s| (*s).to_owned()).collect();
        if server {
            names.push("localhost".into());
        }
        let mut params = CertificateParams::new(names).expect("params");
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
