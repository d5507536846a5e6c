//! The gRPC API: the server ([`server`]) and the one domain <-> wire conversion ([`convert`]).
pub mod allow;
mod bind;
pub mod convert;
pub mod limit;
pub mod listen;
pub mod security;
pub mod server;
pub mod stream;
pub mod tls;

/// Who is speaking: stamped on every event this sensor sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub node_name: String,
    /// Random per run: a collector tells a restart (new id, seq from 1) from a gap.
    pub instance_id: String,
}

impl Identity {
    pub fn new(node_name: String) -> Self {
        Self {
            node_name,
            instance_id: random_id(),
        }
    }
}

fn random_id() -> String {
    let mut b = [0u8; 8];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    if !ok {
        // Fall back to something that still differs between runs.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        b = (t.as_nanos() as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
