//! Who may talk to the API: TLS for the TCP listener (rustls through tonic), client
//! certificates checked against a CA (mTLS), and an allow list of client identities.
use std::path::{Path, PathBuf};

use tonic::{
    Request, Status,
    transport::{Certificate, Identity, ServerTlsConfig},
};
use wildmatch::WildMatch;
use x509_cert::{
    der::Decode,
    ext::pkix::{SubjectAltName, name::GeneralName},
};

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
}

/// TLS material, as files (PEM).
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Client certificates must chain to this CA (mTLS).
    pub client_ca: Option<PathBuf>,
    /// Client identities (globs over the subject CN, the subject DN, and DNS/URI/email SANs)
    /// that may use the API. Empty: any client the CA vouches for.
    pub client_allow: Vec<String>,
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, SecurityError> {
    std::fs::read(path).map_err(|source| SecurityError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

impl TlsFiles {
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }

    /// The server's TLS configuration, or `None` for plain text. Refuses half-given settings.
    pub fn server_config(&self) -> Result<Option<ServerTlsConfig>, SecurityError> {
        let (cert, key) = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => (c, k),
            (None, None) => {
                if self.client_ca.is_some() || !self.client_allow.is_empty() {
                    return Err(SecurityError::Config(
                        "--client-ca and --client-allow need TLS: give --tls-cert and --tls-key"
                            .into(),
                    ));
                }
                return Ok(None);
            }
            _ => {
                return Err(SecurityError::Config(
                    "give both --tls-cert and --tls-key, or neither".into(),
                ));
            }
        };
        if !self.client_allow.is_empty() && self.client_ca.is_none() {
            return Err(SecurityError::Config(
                "--client-allow needs client certificates: give --client-ca".into(),
            ));
        }
        let identity = Identity::from_pem(read("TLS certificate", cert)?, read("TLS key", key)?);
        let mut tls = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(read("client CA", ca)?));
        }
        Ok(Some(tls))
    }

    pub fn allow_list(&self) -> Option<AllowList> {
        (!self.client_allow.is_empty()).then(|| AllowList {
            patterns: self
                .client_allow
                .iter()
                .map(|p| WildMatch::new(p))
                .collect(),
        })
    }
}

/// Client identities that may use the API.
#[derive(Clone, Debug)]
pub struct AllowList {
    patterns: Vec<WildMatch>,
}

impl AllowList {
    /// Lets the request through when its client certificate names an allowed identity.
    pub fn check<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let certs = req.peer_certs().ok_or_else(|| {
            Status::unauthenticated("a client certificate is required on this listener")
        })?;
        let leaf = certs
            .first()
            .ok_or_else(|| Status::unauthenticated("a client certificate is required"))?;
        let ids = identities(leaf.as_ref())
            .map_err(|e| Status::unauthenticated(format!("unreadable client certificate: {e}")))?;
        if ids
            .iter()
            .any(|id| self.patterns.iter().any(|p| p.matches(id)))
        {
            return Ok(());
        }
        tracing::warn!(client = ?ids, "refused a client that is not on the allow list");
        Err(Status::permission_denied(format!(
            "client {} is not on this sensor's allow list",
            ids.first().map_or("(no identity)", String::as_str)
        )))
    }
}

/// What a certificate says its holder is: the subject CN, the subject DN, and its DNS, URI
/// and email alternative names.
pub fn identities(der: &[u8]) -> Result<Vec<String>, x509_cert::der::Error> {
    let cert = x509_cert::Certificate::from_der(der)?;
    let tbs = &cert.tbs_certificate;
    let dn = tbs.subject.to_string();
    let mut ids: Vec<String> = dn
        .split(',')
        .filter_map(|rdn| rdn.trim().strip_prefix("CN="))
        .map(str::to_owned)
        .collect();
    ids.push(dn);
    if let Some((_, san)) = tbs.get::<SubjectAltName>()? {
        for name in san.0 {
            match name {
                GeneralName::DnsName(s)
                | GeneralName::UniformResourceIdentifier(s)
                | GeneralName::Rfc822Name(s) => ids.push(s.to_string()),
                _ => {}
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_given_tls_settings_are_refused() {
        let f = |cert: bool, key: bool, ca: bool, allow: bool| TlsFiles {
            cert: cert.then(|| "/c".into()),
            key: key.then(|| "/k".into()),
            client_ca: ca.then(|| "/ca".into()),
            client_allow: if allow { vec!["x".into()] } else { vec![] },
        };
        assert!(
            f(false, false, false, false)
                .server_config()
                .unwrap()
                .is_none()
        );
        for bad in [
            f(true, false, false, false),
            f(false, false, true, false),
            f(true, true, false, true),
        ] {
            assert!(matches!(bad.server_config(), Err(SecurityError::Config(_))));
        }
        let missing = f(true, true, false, false).server_config().unwrap_err();
        assert!(
            missing.to_string().contains("TLS certificate /c"),
            "{missing}"
        );
    }
}
