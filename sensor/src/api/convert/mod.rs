//! Domain <-> wire: the only place that knows both `crate::event` and `sensor_proto`.
//! Requests (filters, resume points, profile selectors) are checked in [`request`].
mod request;
mod wire;

pub use self::request::{
    build_options_from_wire, filter_from_wire, selector_from_wire, start_from_wire,
};
use sensor_proto::{encoded::EncodedEventsResponse, v1 as pb};

use super::Identity;
use crate::{
    enrich::{container::ContainerRef, cri::PodMeta, registry::SeenContainer},
    event::{Event, Kind, LossReason, Outcome, Phase},
    hub::Item,
    policy::Severity,
    profile::Built,
};

pub fn loss_reason_to_wire(r: LossReason) -> pb::LossReason {
    match r {
        LossReason::KernelRingBuffer => pb::LossReason::KernelRingBuffer,
        LossReason::SubscriberQueue => pb::LossReason::SubscriberQueue,
        LossReason::MalformedRecord => pb::LossReason::MalformedRecord,
        LossReason::ReplayExpired => pb::LossReason::ReplayExpired,
    }
}

pub fn kind_to_wire(k: Option<Kind>) -> pb::EventKind {
    match k {
        None => pb::EventKind::Unspecified,
        Some(Kind::FlaggedSyscall) => pb::EventKind::FlaggedSyscall,
        Some(Kind::Exec) => pb::EventKind::Exec,
        Some(Kind::Fork) => pb::EventKind::Fork,
        Some(Kind::Exit) => pb::EventKind::Exit,
        Some(Kind::SyscallSeen) => pb::EventKind::SyscallSeen,
        Some(Kind::ProfileDeviation) => pb::EventKind::ProfileDeviation,
    }
}

pub fn profile_to_wire(b: &Built) -> pb::GetProfileResponse {
    pb::GetProfileResponse {
        oci_json: serde_json::to_string_pretty(&b.oci).unwrap_or_default(),
        spo_json: serde_json::to_string_pretty(&b.spo).unwrap_or_default(),
        syscalls: b.syscalls.iter().map(profile_call_to_wire).collect(),
        runtime_only: b.runtime_only.iter().map(profile_call_to_wire).collect(),
        containers_without_handover: b.without_handover,
        containers_steady: b.steady,
        left_out_startup_only: b
            .startup_left_out
            .iter()
            .map(profile_call_to_wire)
            .collect(),
        containers: b.containers,
        unnamed_numbers: b.unnamed.clone(),
        io_uring_ops: b.io_uring_ops.iter().map(|s| (*s).to_owned()).collect(),
    }
}

pub fn profile_call_to_wire(s: &crate::profile::ProfileCall) -> pb::ProfileSyscall {
    pb::ProfileSyscall {
        name: s.name.to_owned(),
        number: s.nr,
        phase: phase_to_wire(s.phase).into(),
        containers: s.containers,
        arch: s.arch.name().to_owned(),
        always_allowed: s.always,
        startup_only: s.startup_only,
    }
}

pub fn phase_to_wire(p: Phase) -> pb::Phase {
    match p {
        Phase::Runtime => pb::Phase::Runtime,
        Phase::Filtered => pb::Phase::Filtered,
        Phase::Workload => pb::Phase::Workload,
        Phase::Steady => pb::Phase::Steady,
    }
}

pub fn severity_to_wire(s: Option<Severity>) -> pb::Severity {
    match s {
        None => pb::Severity::Unspecified,
        Some(Severity::Low) => pb::Severity::Low,
        Some(Severity::Medium) => pb::Severity::Medium,
        Some(Severity::High) => pb::Severity::High,
        Some(Severity::Critical) => pb::Severity::Critical,
    }
}

pub fn errno_name(errno: i32) -> &'static str {
    syscalls::Errno::new(errno).name().unwrap_or("")
}

/// An outcome's kind, return value and errno, as the wire carries them.
fn outcome_parts(o: Outcome) -> (pb::OutcomeKind, i64, i32) {
    match o {
        Outcome::Succeeded(v) => (pb::OutcomeKind::Succeeded, v, 0),
        Outcome::Failed(e) => (pb::OutcomeKind::Failed, -i64::from(e), e),
        Outcome::BlockedBeforeEntry(e) => (pb::OutcomeKind::BlockedBeforeEntry, -i64::from(e), e),
        Outcome::Unknown => (pb::OutcomeKind::Unknown, 0, 0),
    }
}

/// Decodes bytes this module encoded (they always decode; the tests hold it to that).
fn decode_own<M: prost::Message + Default>(bytes: &[u8]) -> M {
    M::decode(bytes).unwrap_or_else(|e| {
        tracing::error!("the sensor's own encoding did not decode: {e}");
        M::default()
    })
}

pub fn container_to_wire(c: &ContainerRef, meta: Option<&PodMeta>) -> pb::Container {
    decode_own(&wire::container_bytes(c, meta))
}

pub fn seen_container_to_wire(s: &SeenContainer, meta: Option<&PodMeta>) -> pb::SeenContainer {
    pb::SeenContainer {
        container: Some(container_to_wire(&s.container, meta)),
        cgroup_id: s.cgroup_id,
        cgroup_path: s.cgroup_path.to_string(),
        events: s.events,
        first_seen_unix_nano: s.first_seen_unix_nano,
        last_seen_unix_nano: s.last_seen_unix_nano,
        running: s.running,
        lost_in_kernel: Some(pb::KernelLosses {
            flagged_syscalls: s.lost_in_kernel.flagged_syscalls,
            execs: s.lost_in_kernel.execs,
            forks: s.lost_in_kernel.forks,
            exits: s.lost_in_kernel.exits,
        }),
    }
}

/// The event as the generated struct (for the terminal and the tests; subscribers get
/// [`wire::event_response`]'s bytes).
pub fn event_to_wire(ev: &Event, id: &Identity) -> pb::Event {
    let msg: pb::GetEventsResponse = decode_own(&wire::event_response(ev, id));
    match msg.item {
        Some(pb::get_events_response::Item::Event(e)) => e,
        _ => pb::Event::default(),
    }
}

/// An item as one subscriber is sent it: an event's shared encoding, or its own loss notice.
pub fn item_to_encoded(item: &Item, id: &Identity) -> EncodedEventsResponse {
    match item {
        Item::Event(ev) => {
            ev.wire(|e| wire::event_response(e, id));
            EncodedEventsResponse(ev.clone())
        }
        Item::Lost { .. } => EncodedEventsResponse::encode(&item_to_wire(item, id)),
    }
}

pub fn item_to_wire(item: &Item, id: &Identity) -> pb::GetEventsResponse {
    let item = match item {
        Item::Event(ev) => pb::get_events_response::Item::Event(event_to_wire(ev, id)),
        Item::Lost {
            count,
            reason,
            kind,
        } => pb::get_events_response::Item::Lost(pb::Lost {
            count: *count,
            reason: loss_reason_to_wire(*reason).into(),
            kind: kind_to_wire(*kind).into(),
        }),
    };
    pb::GetEventsResponse { item: Some(item) }
}
