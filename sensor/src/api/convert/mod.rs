//! Domain <-> wire: the only place that knows both `crate::event` and `sensor_proto`.
//! Requests (filters, resume points, profile selectors) are checked in [`request`].
mod request;

pub use self::request::{filter_from_wire, selector_from_wire, start_from_wire};
use sensor_proto::{encoded::EncodedEventsResponse, v1 as pb};

use super::Identity;
use crate::{
    enrich::{container::ContainerRef, cri::PodMeta, registry::SeenContainer},
    event::{Attribution, Body, DecodedArg, Event, Kind, LossReason, Outcome, Phase},
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
    }
}

pub fn profile_to_wire(b: &Built) -> pb::GetProfileResponse {
    pb::GetProfileResponse {
        oci_json: serde_json::to_string_pretty(&b.oci).unwrap_or_default(),
        spo_json: serde_json::to_string_pretty(&b.spo).unwrap_or_default(),
        syscalls: b
            .syscalls
            .iter()
            .map(|(nr, name, phase, containers)| pb::ProfileSyscall {
                name: (*name).to_owned(),
                number: *nr,
                phase: phase_to_wire(*phase).into(),
                containers: *containers,
            })
            .collect(),
        containers: b.containers,
        unnamed_numbers: b.unnamed.clone(),
    }
}

pub fn phase_to_wire(p: Phase) -> pb::Phase {
    match p {
        Phase::Runtime => pb::Phase::Runtime,
        Phase::Workload => pb::Phase::Workload,
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

pub fn outcome_to_wire(o: Outcome) -> pb::Outcome {
    let (kind, return_value, errno) = match o {
        Outcome::Succeeded(v) => (pb::OutcomeKind::Succeeded, v, 0),
        Outcome::Failed(e) => (pb::OutcomeKind::Failed, -i64::from(e), e),
        Outcome::BlockedBeforeEntry(e) => (pb::OutcomeKind::BlockedBeforeEntry, -i64::from(e), e),
        Outcome::Unknown => (pb::OutcomeKind::Unknown, 0, 0),
    };
    let errno_name = if errno == 0 {
        String::new()
    } else {
        errno_name(errno).to_owned()
    };
    pb::Outcome {
        kind: kind.into(),
        return_value,
        errno,
        errno_name,
    }
}

fn arg_to_wire(a: &DecodedArg) -> pb::Argument {
    pb::Argument {
        name: a.name.to_owned(),
        value: a.value.clone(),
        raw: a.raw.clone().unwrap_or_default(),
        truncated: a.truncated,
    }
}

pub fn container_to_wire(c: &ContainerRef, meta: Option<&PodMeta>) -> pb::Container {
    let meta = meta.cloned().unwrap_or_default();
    pb::Container {
        runtime: c.runtime.name().to_owned(),
        id: c.id.clone(),
        pod_uid: c
            .pod
            .as_ref()
            .map(|(uid, _)| uid.clone())
            .unwrap_or(meta.pod_uid),
        qos_class: c
            .pod
            .as_ref()
            .map(|(_, q)| q.name().to_owned())
            .unwrap_or_default(),
        pod_name: meta.pod_name,
        pod_namespace: meta.pod_namespace,
        container_name: meta.container_name,
        image: meta.image,
        labels: meta.labels.into_iter().collect(),
    }
}

pub fn attribution_to_wire(a: &Attribution) -> pb::Attribution {
    let (state, container) = match a {
        Attribution::Pending => (pb::AttributionState::Pending, None),
        Attribution::Host => (pb::AttributionState::Host, None),
        Attribution::Unknown => (pb::AttributionState::Unknown, None),
        Attribution::Container { container, meta } => (
            pb::AttributionState::Container,
            Some(container_to_wire(container, meta.as_deref())),
        ),
    };
    pb::Attribution {
        state: state.into(),
        container,
    }
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
    }
}

pub fn event_to_wire(ev: &Event, id: &Identity) -> pb::Event {
    let header = pb::EventHeader {
        seq: ev.seq,
        sensor_instance_id: id.instance_id.clone(),
        node_name: id.node_name.clone(),
        time_unix_nano: ev.time_unix_nano,
        ktime_ns: ev.ktime_ns,
        cgroup_id: ev.cgroup_id,
        pid: ev.process.pid,
        tid: ev.process.tid,
        uid: ev.process.uid,
        gid: ev.process.gid,
        comm: ev.process.comm.clone(),
        ppid: ev.process.ppid,
        parent_exe: ev
            .process
            .parent_exe
            .as_deref()
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        grandparent_exe: ev
            .process
            .grandparent_exe
            .as_deref()
            .map(<[u8]>::to_vec)
            .unwrap_or_default(),
        cgroup_path: ev.cgroup_path.as_deref().unwrap_or_default().to_owned(),
        attribution: Some(attribution_to_wire(&ev.attribution)),
        argv: ev
            .process
            .argv
            .as_deref()
            .map(<[Vec<u8>]>::to_vec)
            .unwrap_or_default(),
    };
    let body = match &ev.body {
        Body::FlaggedSyscall(s) => pb::event::Body::FlaggedSyscall(pb::FlaggedSyscall {
            name: s.name.unwrap_or_default().to_owned(),
            number: s.nr,
            args: s.args.to_vec(),
            arch: s.arch.name().to_owned(),
            outcome: Some(outcome_to_wire(s.outcome)),
            severity: severity_to_wire(s.severity).into(),
            decoded_args: s.decoded.iter().map(arg_to_wire).collect(),
        }),
        Body::Exec(e) => pb::event::Body::Exec(pb::Exec {
            filename: e.filename.clone(),
            filename_truncated: e.filename_truncated,
            argv: e.argv.clone(),
            argv_truncated: e.argv_truncated,
            errno: e.errno.unwrap_or(0),
            errno_name: e
                .errno
                .map(|n| errno_name(n).to_owned())
                .unwrap_or_default(),
            findings: e
                .findings
                .iter()
                .map(|f| pb::Finding {
                    what: f.what.clone(),
                    severity: severity_to_wire(Some(f.severity)).into(),
                })
                .collect(),
            privileges_known: e.privileges.is_some(),
            euid: e.privileges.map_or(0, |p| p.euid),
            cap_effective: e.privileges.map_or(0, |p| p.cap_effective),
        }),
        Body::SyscallSeen(x) => pb::event::Body::SyscallSeen(pb::SyscallSeen {
            name: x.name.unwrap_or_default().to_owned(),
            number: x.nr,
            arch: x.arch.name().to_owned(),
            phase: phase_to_wire(x.phase).into(),
        }),
        Body::Fork { child_pid } => pb::event::Body::Fork(pb::Fork {
            child_pid: *child_pid,
        }),
        Body::Exit { exit_code } => {
            // The kernel's wait status: low 7 bits the signal, the next 8 the exit status.
            let signal = (exit_code & 0x7f) as i32;
            let status = if signal == 0 {
                ((exit_code >> 8) & 0xff) as i32
            } else {
                0
            };
            pb::event::Body::Exit(pb::Exit {
                status,
                signal,
                raw: *exit_code,
            })
        }
    };
    pb::Event {
        header: Some(header),
        body: Some(body),
    }
}

/// An event's `GetEventsResponse`, encoded: what every subscriber of it is sent.
pub fn event_response_bytes(ev: &Event, id: &Identity) -> prost::bytes::Bytes {
    let msg = pb::GetEventsResponse {
        item: Some(pb::get_events_response::Item::Event(event_to_wire(ev, id))),
    };
    prost::Message::encode_to_vec(&msg).into()
}

/// An item as one subscriber is sent it: an event's shared encoding, or its own loss notice.
pub fn item_to_encoded(item: &Item, id: &Identity) -> EncodedEventsResponse {
    match item {
        Item::Event(ev) => EncodedEventsResponse(ev.wire(|e| event_response_bytes(e, id))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        event::{FlaggedSyscall, Process},
        syscalls::Arch,
    };

    #[test]
    fn flagged_syscall_keeps_every_field() {
        let ev = Event {
            seq: 9,
            ktime_ns: 5,
            time_unix_nano: 6,
            cgroup_id: 7,
            cgroup_path: None,
            attribution: Attribution::Host,
            process: Process {
                pid: 1,
                tid: 2,
                uid: 3,
                gid: 4,
                comm: b"sh".to_vec(),
                ppid: 5,
                argv: None,
                parent_exe: Some(b"/bin/sh".as_slice().into()),
                grandparent_exe: None,
            },
            body: Body::FlaggedSyscall(FlaggedSyscall {
                arch: Arch::X86_64,
                nr: 165,
                name: Some("mount"),
                args: [1, 2, 3, 4, 5, 6],
                outcome: Outcome::Failed(libc::EPERM),
                severity: Some(Severity::High),
                decoded: vec![DecodedArg {
                    name: "target",
                    value: "/mnt".into(),
                    raw: Some(b"/mnt".to_vec()),
                    truncated: false,
                }],
            }),
        };
        let id = Identity {
            node_name: "n".into(),
            instance_id: "i".into(),
        };
        let w = event_to_wire(&ev, &id);
        let h = w.header.unwrap();
        assert_eq!(
            (h.seq, h.cgroup_id, h.pid, h.tid, h.uid, h.gid),
            (9, 7, 1, 2, 3, 4)
        );
        assert_eq!(
            (h.node_name.as_str(), h.sensor_instance_id.as_str()),
            ("n", "i")
        );
        let Some(pb::event::Body::FlaggedSyscall(s)) = w.body else {
            panic!()
        };
        assert_eq!(
            (s.name.as_str(), s.number, s.arch.as_str()),
            ("mount", 165, "x86_64")
        );
        assert_eq!(s.args, vec![1, 2, 3, 4, 5, 6]);
        let o = s.outcome.unwrap();
        assert_eq!(
            (o.kind, o.errno, o.errno_name.as_str()),
            (pb::OutcomeKind::Failed as i32, 1, "EPERM")
        );
        assert_eq!(s.decoded_args[0].raw, b"/mnt");
    }
}
