//! A real gRPC subscriber (the tonic client generated from proto/), with awaited expectations.
use sensor_proto::v1::{
    self as pb, GetEventsRequest, GetEventsResponse, get_events_response::Item,
    sensor_service_client::SensorServiceClient,
};
use tonic::Streaming;

use crate::EVENT_TIMEOUT;

pub struct Subscriber {
    stream: Streaming<GetEventsResponse>,
    /// Everything received so far, for failure messages.
    pub seen: Vec<GetEventsResponse>,
}

impl Subscriber {
    pub async fn connect(addr: &str, request: GetEventsRequest) -> Result<Self, tonic::Status> {
        let mut client = SensorServiceClient::connect(addr.to_owned())
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let stream = client.get_events(request).await?.into_inner();
        Ok(Self {
            stream,
            seen: Vec::new(),
        })
    }

    /// A subscriber to the events of `kinds` in one cgroup.
    pub async fn for_cgroup(addr: &str, cgroup_id: u64, kinds: &[pb::EventKind]) -> Self {
        Self::connect(
            addr,
            GetEventsRequest {
                kinds: kinds.iter().map(|k| *k as i32).collect(),
                cgroup_ids: vec![cgroup_id],
                ..Default::default()
            },
        )
        .await
        .expect("subscribe")
    }

    /// The next message, or `None` if nothing arrives within `quiet` (or the stream ends).
    pub async fn next_within(&mut self, quiet: std::time::Duration) -> Option<GetEventsResponse> {
        tokio::time::timeout(quiet, self.stream.message())
            .await
            .ok()?
            .ok()?
    }

    /// Receives (and keeps) every message until none arrives for `quiet`.
    pub async fn drain_until_quiet(&mut self, quiet: std::time::Duration) {
        while let Some(m) = self.next_within(quiet).await {
            self.seen.push(m);
        }
    }

    /// Every message kept so far (events, losses, ...).
    pub fn messages(&self) -> impl Iterator<Item = &GetEventsResponse> {
        self.seen.iter()
    }

    /// The events among the messages received so far.
    pub fn events(&self) -> impl Iterator<Item = &pb::Event> {
        self.seen.iter().filter_map(|m| match &m.item {
            Some(Item::Event(ev)) => Some(ev),
            _ => None,
        })
    }

    /// Waits for the first event that matches `pred`, failing after [`EVENT_TIMEOUT`].
    pub async fn expect_event(
        &mut self,
        what: &str,
        pred: impl Fn(&pb::Event) -> bool,
    ) -> pb::Event {
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.message()).await;
            let msg = match msg {
                Err(_) => panic!(
                    "no {what} within {EVENT_TIMEOUT:?}; received: {:#?}",
                    self.seen
                ),
                Ok(Err(status)) => panic!("stream failed while waiting for {what}: {status}"),
                Ok(Ok(None)) => panic!("stream ended while waiting for {what}"),
                Ok(Ok(Some(m))) => m,
            };
            self.seen.push(msg.clone());
            if let Some(Item::Event(ev)) = msg.item
                && pred(&ev)
            {
                return ev;
            }
        }
    }
}

/// The flagged-syscall body of `ev`, if that is what it is.
pub fn flagged(ev: &pb::Event) -> Option<&pb::FlaggedSyscall> {
    match &ev.body {
        Some(pb::event::Body::FlaggedSyscall(s)) => Some(s),
        _ => None,
    }
}

/// Matches the flagged call `name` made by process `pid`.
pub fn flagged_by(pid: u32, name: &'static str) -> impl Fn(&pb::Event) -> bool {
    move |ev| header(ev).pid == pid && flagged(ev).is_some_and(|f| f.name == name)
}

/// The exec body of `ev`, if that is what it is.
pub fn exec(ev: &pb::Event) -> Option<&pb::Exec> {
    match &ev.body {
        Some(pb::event::Body::Exec(e)) => Some(e),
        _ => None,
    }
}

pub fn header(ev: &pb::Event) -> &pb::EventHeader {
    ev.header.as_ref().expect("every event has a header")
}

/// The decoded argument `name` of a flagged call, as (value, truncated).
pub fn arg<'a>(ev: &'a pb::Event, name: &str) -> Option<(&'a str, bool)> {
    flagged(ev)?
        .decoded_args
        .iter()
        .find(|a| a.name == name)
        .map(|a| (a.value.as_str(), a.truncated))
}

/// A flagged call's outcome as (kind, errno name).
pub fn outcome(ev: &pb::Event) -> (pb::OutcomeKind, String) {
    let o = flagged(ev)
        .and_then(|s| s.outcome.clone())
        .unwrap_or_default();
    (
        pb::OutcomeKind::try_from(o.kind).unwrap_or_default(),
        o.errno_name,
    )
}

/// Flagged syscalls of one cgroup: what most tests subscribe to.
pub fn flagged_in(cgroup_id: u64) -> GetEventsRequest {
    GetEventsRequest {
        kinds: vec![pb::EventKind::FlaggedSyscall as i32],
        cgroup_ids: vec![cgroup_id],
        ..Default::default()
    }
}
