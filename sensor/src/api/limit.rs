//! How much each client may ask of the API: a request rate per client (a token bucket from
//! `governor`), checked before any service sees the request, on every listener and for every
//! service (events, status, health, reflection). The number of event streams open at once is
//! bounded separately, in the server (`--max-subscribers`).
//!
//! A client is its certificate's identity when it presented one (several collectors behind one
//! address stay apart), else its IP address, else (unix socket) its user id.
use std::{
    fmt,
    net::IpAddr,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::NoOpMiddleware,
    state::keyed::HashMapStateStore,
};
use tonic::{Request, Status, transport::server::UdsConnectInfo};

/// Clients remembered at once. Past this, idle clients are forgotten; if all are busy, the
/// newcomers share one budget (`Client::Others`), so a flood of addresses cannot grow memory.
pub const MAX_CLIENTS: usize = 4096;

/// API requests refused, by reason (exported as `sensor_api_refused_total`).
#[derive(Debug, Default)]
pub struct Refusals {
    /// Over the per-client request rate.
    pub rate: AtomicU64,
    /// Over `--max-subscribers` event streams.
    pub streams: AtomicU64,
}

/// Who is asking, as far as the rate limit is concerned.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub enum Client {
    Cert(String),
    Ip(IpAddr),
    Uid(u32),
    /// No address, no certificate, no credentials (should not happen on our listeners).
    Unknown,
    /// Clients past [`MAX_CLIENTS`].
    Others,
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Cert(id) => write!(f, "client {id}"),
            Client::Ip(ip) => write!(f, "client {ip}"),
            Client::Uid(uid) => write!(f, "local user {uid}"),
            Client::Unknown => f.write_str("an unidentified client"),
            Client::Others => write!(f, "clients past the first {MAX_CLIENTS}"),
        }
    }
}

impl Client {
    /// The client behind a request (certificate, then address, then unix credentials).
    pub fn of<T>(req: &Request<T>) -> Client {
        let cert = req
            .peer_certs()
            .and_then(|certs| certs.first().cloned())
            .and_then(|leaf| super::allow::identities(leaf.as_ref()).ok())
            .and_then(|ids| ids.into_iter().next())
            .map(|id| id.to_string());
        if let Some(id) = cert {
            return Client::Cert(id);
        }
        if let Some(addr) = req.remote_addr() {
            return Client::Ip(addr.ip().to_canonical());
        }
        match req
            .extensions()
            .get::<UdsConnectInfo>()
            .and_then(|i| i.peer_cred)
        {
            Some(cred) => Client::Uid(cred.uid()),
            None => Client::Unknown,
        }
    }
}

/// The per-client request rate limit.
pub struct RequestLimit<C: Clock = DefaultClock> {
    limiter: RateLimiter<Client, HashMapStateStore<Client>, C, NoOpMiddleware<C::Instant>>,
    clock: C,
    per_second: u32,
    burst: u32,
    refused: Arc<Refusals>,
}

impl RequestLimit {
    /// `per_second` requests a second per client, up to `burst` at once; `None` when
    /// `per_second` is 0 (no limit).
    pub fn new(per_second: u32, burst: u32, refused: Arc<Refusals>) -> Option<Self> {
        Self::with_clock(per_second, burst, refused, DefaultClock::default())
    }
}

impl<C: Clock + Clone> RequestLimit<C> {
    pub fn with_clock(
        per_second: u32,
        burst: u32,
        refused: Arc<Refusals>,
        clock: C,
    ) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Some(Self {
            limiter: RateLimiter::new(quota, HashMapStateStore::default(), clock.clone()),
            clock,
            per_second,
            burst: burst.get(),
            refused,
        })
    }

    /// Clients remembered now.
    pub fn clients(&self) -> usize {
        self.limiter.len()
    }

    /// Takes one request from `client`'s budget, or says when to come back.
    pub fn check(&self, client: Client) -> Result<(), Status> {
        let mut client = client;
        if self.limiter.len() >= MAX_CLIENTS {
            self.limiter.retain_recent();
            if self.limiter.len() >= MAX_CLIENTS {
                client = Client::Others;
            }
        }
        match self.limiter.check_key(&client) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                self.refused.rate.fetch_add(1, Ordering::Relaxed);
                let wait = not_until.wait_time_from(self.clock.now());
                tracing::debug!(%client, ?wait, "request over the rate limit");
                Err(Status::resource_exhausted(format!(
                    "{client} is over this sensor's request rate ({} a second, bursts of {}; \
                     --max-requests-per-second, --request-burst): retry in {} ms",
                    self.per_second,
                    self.burst,
                    wait.as_millis().max(1)
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn limit(per_second: u32, burst: u32) -> (RequestLimit<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let l = RequestLimit::with_clock(per_second, burst, Arc::default(), clock.clone());
        (l.expect("a limit"), clock)
    }

    #[test]
    fn a_burst_then_the_rate_per_client() {
        let (l, clock) = limit(2, 3);
        let a = Client::Ip("10.0.0.1".parse().unwrap());
        for _ in 0..3 {
            l.check(a.clone()).expect("within the burst");
        }
        let err = l.check(a.clone()).expect_err("past the burst");
        assert_eq!(err.code(), tonic::Code::ResourceExhausted);
        assert!(
            err.message().contains("client 10.0.0.1"),
            "{}",
            err.message()
        );
        assert!(
            err.message().contains("retry in 500 ms"),
            "{}",
            err.message()
        );
        // Another client has its own budget.
        l.check(Client::Uid(0)).expect("another client");
        // Half a second gives one request back, not two.
        clock.advance(Duration::from_millis(500));
        l.check(a.clone()).expect("refilled");
        assert!(l.check(a).is_err());
        assert_eq!(l.refused.rate.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RequestLimit::new(0, 10, Arc::default()).is_none());
    }

    #[test]
    fn many_clients_do_not_grow_memory() {
        let (l, clock) = limit(1, 1);
        let ip = |i: u32| Client::Ip(IpAddr::from(i.to_be_bytes()));
        for i in 0..MAX_CLIENTS as u32 {
            l.check(ip(i)).expect("first request of each");
        }
        assert_eq!(l.clients(), MAX_CLIENTS);
        // All are busy: a newcomer shares the others' budget.
        l.check(ip(u32::MAX))
            .expect("the shared budget's first request");
        assert!(
            l.check(ip(u32::MAX - 1)).is_err(),
            "the shared budget is spent"
        );
        // Once they are idle, they are forgotten and newcomers get their own budget again.
        clock.advance(Duration::from_secs(2));
        l.check(ip(u32::MAX)).expect("own budget");
        assert!(l.clients() < 10, "idle clients forgotten: {}", l.clients());
    }
}
