//! The allow list of client identities: typed entries (`cn:`, `dn:`, `dns:`, `uri:`,
//! `email:`) matched against the same part of the client certificate only. A bare entry
//! matches the subject CN or a DNS name, never an email or URI name: `collector*` must not
//! admit a certificate whose email SAN is `collector@evil`.
use tonic::{Request, Status};
use wildmatch::WildMatch;
use x509_cert::{
    der::Decode,
    ext::pkix::{SubjectAltName, name::GeneralName},
};

/// What part of a certificate an identity comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// A subject common name.
    Cn,
    /// The whole subject distinguished name (RFC 4514 text).
    Dn,
    Dns,
    Uri,
    Email,
}

impl IdKind {
    const ALL: [IdKind; 5] = [
        IdKind::Cn,
        IdKind::Dn,
        IdKind::Dns,
        IdKind::Uri,
        IdKind::Email,
    ];

    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Cn => "cn",
            IdKind::Dn => "dn",
            IdKind::Dns => "dns",
            IdKind::Uri => "uri",
            IdKind::Email => "email",
        }
    }
}

/// One identity a certificate names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Id {
    pub kind: IdKind,
    pub value: String,
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.prefix(), self.value)
    }
}

/// What a certificate says its holder is: its subject CNs, its subject DN, and its DNS, URI
/// and email alternative names, each with its kind.
pub fn identities(der: &[u8]) -> Result<Vec<Id>, x509_cert::der::Error> {
    let cert = x509_cert::Certificate::from_der(der)?;
    let tbs = &cert.tbs_certificate;
    let dn = tbs.subject.to_string();
    let id = |kind, value: &str| Id {
        kind,
        value: value.to_owned(),
    };
    let mut ids: Vec<Id> = dn
        .split(',')
        .filter_map(|rdn| rdn.trim().strip_prefix("CN="))
        .map(|cn| id(IdKind::Cn, cn))
        .collect();
    ids.push(id(IdKind::Dn, &dn));
    if let Some((_, san)) = tbs.get::<SubjectAltName>()? {
        for name in san.0 {
            match name {
                GeneralName::DnsName(s) => ids.push(id(IdKind::Dns, s.as_str())),
                GeneralName::UniformResourceIdentifier(s) => ids.push(id(IdKind::Uri, s.as_str())),
                GeneralName::Rfc822Name(s) => ids.push(id(IdKind::Email, s.as_str())),
                _ => {}
            }
        }
    }
    Ok(ids)
}

/// One allow-list entry: a glob over identities of the given kinds.
#[derive(Clone, Debug)]
struct Entry {
    kinds: &'static [IdKind],
    glob: WildMatch,
}

/// Parses one `--client-allow` entry: `KIND:GLOB`, or a bare GLOB (CN or DNS name).
fn entry(text: &str) -> Result<Entry, String> {
    const BARE: &[IdKind] = &[IdKind::Cn, IdKind::Dns];
    let typed = text.split_once(':').and_then(|(prefix, glob)| {
        IdKind::ALL
            .iter()
            .position(|k| k.prefix().eq_ignore_ascii_case(prefix))
            .map(|i| (&IdKind::ALL[i..=i], glob))
    });
    let (kinds, glob) = typed.unwrap_or((BARE, text));
    if glob.is_empty() {
        return Err(format!(
            "--client-allow {text:?}: nothing to match after the kind"
        ));
    }
    Ok(Entry {
        kinds,
        glob: WildMatch::new(glob),
    })
}

/// Client identities that may use the API.
#[derive(Clone, Debug)]
pub struct AllowList {
    entries: Vec<Entry>,
}

impl AllowList {
    /// Parses the entries; an empty one is refused with its text.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        Ok(Self {
            entries: entries.iter().map(|e| entry(e)).collect::<Result<_, _>>()?,
        })
    }

    /// Does any entry admit one of `ids`?
    pub fn admits(&self, ids: &[Id]) -> bool {
        ids.iter().any(|id| {
            self.entries
                .iter()
                .any(|e| e.kinds.contains(&id.kind) && e.glob.matches(&id.value))
        })
    }

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
        if self.admits(&ids) {
            return Ok(());
        }
        let names: Vec<String> = ids.iter().map(Id::to_string).collect();
        tracing::warn!(client = ?names, "refused a client that is not on the allow list");
        Err(Status::permission_denied(format!(
            "client {} is not on this sensor's allow list",
            names.first().map_or("(no identity)", String::as_str)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: IdKind, value: &str) -> Id {
        Id {
            kind,
            value: value.into(),
        }
    }

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_bare_entry_matches_a_cn_or_a_dns_name_only() {
        let l = list(&["collector*"]);
        assert!(l.admits(&[id(IdKind::Cn, "collector-a")]));
        assert!(l.admits(&[id(IdKind::Dns, "collector.example")]));
        assert!(!l.admits(&[id(IdKind::Email, "collector@evil")]));
        assert!(!l.admits(&[id(IdKind::Uri, "collector://x")]));
        assert!(!l.admits(&[id(IdKind::Dn, "collector")]));
    }

    #[test]
    fn a_typed_entry_matches_its_kind_only() {
        let l = list(&[
            "email:ops@example.com",
            "URI:spiffe://cluster/ns/sec/*",
            "dn:CN=a,O=b",
        ]);
        assert!(l.admits(&[id(IdKind::Email, "ops@example.com")]));
        assert!(!l.admits(&[id(IdKind::Cn, "ops@example.com")]));
        assert!(l.admits(&[id(IdKind::Uri, "spiffe://cluster/ns/sec/collector")]));
        assert!(!l.admits(&[id(IdKind::Dns, "spiffe://cluster/ns/sec/collector")]));
        assert!(l.admits(&[id(IdKind::Dn, "CN=a,O=b")]));
        // An unknown prefix is part of a bare glob.
        let l = list(&["host:1"]);
        assert!(l.admits(&[id(IdKind::Cn, "host:1")]));
    }

    #[test]
    fn an_empty_glob_is_refused() {
        let e = AllowList::parse(&["dns:".to_owned()]).unwrap_err();
        assert!(e.contains("\"dns:\""), "{e}");
    }
}
