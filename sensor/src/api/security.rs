//! Who may talk to the API: TLS for the TCP listener (rustls, reloaded when the files change:
//! `tls.rs`), client certificates checked against a CA (mTLS), and an allow list of client
//! identities (`allow.rs`).
use std::path::PathBuf;

use super::{allow::AllowList, tls::TlsPaths};

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
    /// Client identities that may use the API (`cn:`, `dn:`, `dns:`, `uri:` or `email:`
    /// followed by a glob; a bare glob matches the CN or a DNS name; see `allow.rs`).
    /// Empty: any client the CA vouches for.
    pub client_allow: Vec<String>,
}

impl TlsFiles {
    pub fn enabled(&self) -> bool {
        self.cert.is_some()
    }

    /// The files of the server's TLS configuration, or `None` for plain text. Refuses
    /// half-given settings (the files are read by `tls::Rotating::load`).
    pub fn paths(&self) -> Result<Option<TlsPaths>, SecurityError> {
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
        self.allow_list()?;
        Ok(Some(TlsPaths {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: self.client_ca.clone(),
        }))
    }

    /// The allow list, if one was given (its entries were checked by `paths`).
    pub fn allow_list(&self) -> Result<Option<AllowList>, SecurityError> {
        if self.client_allow.is_empty() {
            return Ok(None);
        }
        AllowList::parse(&self.client_allow)
            .map(Some)
            .map_err(SecurityError::Config)
    }
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
        assert!(f(false, false, false, false).paths().unwrap().is_none());
        for bad in [
            f(true, false, false, false),
            f(false, false, true, false),
            f(true, true, false, true),
        ] {
            assert!(matches!(bad.paths(), Err(SecurityError::Config(_))));
        }
        let paths = f(true, true, false, false).paths().unwrap().unwrap();
        let missing = super::super::tls::Rotating::load(paths).unwrap_err();
        assert!(
            missing.to_string().contains("TLS certificate /c"),
            "{missing}"
        );
    }
}
