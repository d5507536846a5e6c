//! Wire requests -> what they ask for. Every refusal is INVALID_ARGUMENT naming the field.
use sensor_proto::v1 as pb;
use tonic::Status;
use wildmatch::WildMatch;

use crate::{
    event::Kind,
    filter::Filter,
    hub::Start,
    policy::Severity,
    profile::Selector,
    syscalls::{self, Arch},
};

/// Entries a list filter may have: enough for any real selection, not a memory weapon.
pub const MAX_FILTER_ENTRIES: usize = 256;
/// The shortest container id prefix accepted (what `docker ps` and crictl print).
const MIN_ID_PREFIX: usize = 12;

fn invalid(field: &str, why: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {why}"))
}

pub fn kind_from_wire(v: i32) -> Result<Kind, Status> {
    match pb::EventKind::try_from(v) {
        Ok(pb::EventKind::FlaggedSyscall) => Ok(Kind::FlaggedSyscall),
        Ok(pb::EventKind::Exec) => Ok(Kind::Exec),
        Ok(pb::EventKind::Fork) => Ok(Kind::Fork),
        Ok(pb::EventKind::Exit) => Ok(Kind::Exit),
        Ok(pb::EventKind::SyscallSeen) => Ok(Kind::SyscallSeen),
        Ok(pb::EventKind::ProfileDeviation) => Ok(Kind::ProfileDeviation),
        Ok(pb::EventKind::Unspecified) => Err(invalid(
            "kinds",
            "EVENT_KIND_UNSPECIFIED is not a kind of event",
        )),
        Err(_) => Err(invalid("kinds", format_args!("unknown event kind {v}"))),
    }
}

pub fn severity_from_wire(field: &str, v: i32) -> Result<Option<Severity>, Status> {
    match pb::Severity::try_from(v) {
        Ok(pb::Severity::Unspecified) => Ok(None),
        Ok(pb::Severity::Low) => Ok(Some(Severity::Low)),
        Ok(pb::Severity::Medium) => Ok(Some(Severity::Medium)),
        Ok(pb::Severity::High) => Ok(Some(Severity::High)),
        Ok(pb::Severity::Critical) => Ok(Some(Severity::Critical)),
        Err(_) => Err(invalid(field, format_args!("unknown severity {v}"))),
    }
}

fn bounded<T>(field: &str, list: &[T]) -> Result<(), Status> {
    if list.len() > MAX_FILTER_ENTRIES {
        return Err(invalid(
            field,
            format_args!("{} entries, at most {MAX_FILTER_ENTRIES}", list.len()),
        ));
    }
    Ok(())
}

fn container_id(v: &str) -> Result<String, Status> {
    let ok_len = (MIN_ID_PREFIX..=64).contains(&v.len());
    if !ok_len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid(
            "container_ids",
            format_args!("{v:?} is not a container id (or a prefix of 12 to 64 hex digits)"),
        ));
    }
    Ok(v.to_ascii_lowercase())
}

fn globs(field: &str, list: &[String]) -> Result<Vec<WildMatch>, Status> {
    bounded(field, list)?;
    list.iter()
        .map(|g| match g.len() {
            1..=253 => Ok(WildMatch::new(g)),
            _ => Err(invalid(field, "a pattern must have 1 to 253 characters")),
        })
        .collect()
}

fn syscall_name(v: &str) -> Result<String, Status> {
    match syscalls::number(Arch::NATIVE, v) {
        Some(_) => Ok(v.to_owned()),
        None => Err(invalid(
            "syscalls",
            format_args!("{v:?} is not a syscall on {}", Arch::NATIVE.name()),
        )),
    }
}

/// A subscribe request -> the filter it asks for.
pub fn filter_from_wire(req: &pb::GetEventsRequest) -> Result<Filter, Status> {
    bounded("kinds", &req.kinds)?;
    bounded("cgroup_ids", &req.cgroup_ids)?;
    bounded("container_ids", &req.container_ids)?;
    bounded("syscalls", &req.syscalls)?;
    Ok(Filter {
        kinds: req
            .kinds
            .iter()
            .map(|&k| kind_from_wire(k))
            .collect::<Result<_, _>>()?,
        cgroup_ids: req.cgroup_ids.clone(),
        container_ids: req
            .container_ids
            .iter()
            .map(|c| container_id(c))
            .collect::<Result<_, _>>()?,
        pod_namespaces: globs("pod_namespaces", &req.pod_namespaces)?,
        pod_names: globs("pod_names", &req.pod_names)?,
        syscalls: req
            .syscalls
            .iter()
            .map(|s| syscall_name(s))
            .collect::<Result<_, _>>()?,
        min_severity: severity_from_wire("min_severity", req.min_severity)?,
        exclude_host: req.exclude_host,
    })
}

/// Where a subscribe request starts, given this run's id and last sequence number.
pub fn start_from_wire(
    req: &pb::GetEventsRequest,
    instance_id: &str,
    last_seq: u64,
) -> Result<Start, Status> {
    let other_run = !req.resume_instance_id.is_empty() && req.resume_instance_id != instance_id;
    if other_run {
        // Everything of this run is new to it.
        return Ok(Start::After(0));
    }
    match req.resume_after_seq {
        0 if req.resume_instance_id.is_empty() => Ok(Start::Live),
        n if n > last_seq => Err(invalid(
            "resume_after_seq",
            format_args!("{n} is ahead of this run's last event ({last_seq})"),
        )),
        n => Ok(Start::After(n)),
    }
}

/// A profile request -> which cgroups it covers; exactly one selector must be given.
/// What a profile request asks for besides its selection.
pub fn build_options_from_wire(
    r: &pb::GetProfileRequest,
) -> Result<crate::profile::BuildOptions, Status> {
    use crate::profile::{always, render::Refusal};
    let always_allowed = always::resolve(&r.always_allowed, r.no_always_allowed)
        .map_err(|e| Status::invalid_argument(format!("always_allowed: {e}")))?;
    let refused = match pb::RefusedAction::try_from(r.refused) {
        Ok(pb::RefusedAction::Errno) => Refusal::Errno,
        Ok(pb::RefusedAction::KillProcess) => Refusal::KillProcess,
        Err(_) => {
            return Err(Status::invalid_argument(format!(
                "refused: {} is no RefusedAction",
                r.refused
            )));
        }
    };
    Ok(crate::profile::BuildOptions {
        always_allowed,
        refused,
        steady_only: r.steady_only,
    })
}

pub fn selector_from_wire(r: &pb::GetProfileRequest) -> Result<Selector, Status> {
    let mut given = Vec::new();
    if !r.container_id.is_empty() {
        given.push(Selector::ContainerId(r.container_id.clone()));
    }
    if !r.pod_namespace.is_empty() || !r.pod_name.is_empty() {
        // Either alone: the other is any.
        let or_any = |v: &str| {
            if v.is_empty() {
                "*".to_owned()
            } else {
                v.to_owned()
            }
        };
        given.push(Selector::Pod {
            namespace: or_any(&r.pod_namespace),
            name: or_any(&r.pod_name),
        });
    }
    if !r.image.is_empty() {
        given.push(Selector::Image(r.image.clone()));
    }
    if r.cgroup_id != 0 {
        given.push(Selector::CgroupId(r.cgroup_id));
    }
    match given.len() {
        1 => Ok(given.remove(0)),
        0 => Err(Status::invalid_argument(
            "give one of container_id, pod_namespace+pod_name, image, cgroup_id",
        )),
        _ => Err(Status::invalid_argument(
            "give only one of container_id, pod_namespace+pod_name, image, cgroup_id",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(req: pb::GetEventsRequest) -> String {
        let e = filter_from_wire(&req).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        e.message().to_owned()
    }

    #[test]
    fn invalid_filters_name_the_field() {
        let m = refused(pb::GetEventsRequest {
            kinds: vec![1, 0],
            ..Default::default()
        });
        assert!(m.starts_with("kinds:"), "{m}");
        let m = refused(pb::GetEventsRequest {
            kinds: vec![77],
            ..Default::default()
        });
        assert!(m.contains("77"), "{m}");
        let m = refused(pb::GetEventsRequest {
            container_ids: vec!["abc".into()],
            ..Default::default()
        });
        assert!(m.starts_with("container_ids:"), "{m}");
        let m = refused(pb::GetEventsRequest {
            syscalls: vec!["mount".into(), "mountt".into()],
            ..Default::default()
        });
        assert!(m.starts_with("syscalls:") && m.contains("mountt"), "{m}");
        let m = refused(pb::GetEventsRequest {
            min_severity: 9,
            ..Default::default()
        });
        assert!(m.starts_with("min_severity:"), "{m}");
        let m = refused(pb::GetEventsRequest {
            pod_names: vec![String::new()],
            ..Default::default()
        });
        assert!(m.starts_with("pod_names:"), "{m}");
        let m = refused(pb::GetEventsRequest {
            cgroup_ids: vec![1; MAX_FILTER_ENTRIES + 1],
            ..Default::default()
        });
        assert!(m.starts_with("cgroup_ids:"), "{m}");
    }

    #[test]
    fn a_valid_filter_keeps_every_field() {
        let f = filter_from_wire(&pb::GetEventsRequest {
            kinds: vec![pb::EventKind::FlaggedSyscall as i32],
            container_ids: vec!["3F1D2C4B5A69".into()],
            pod_namespaces: vec!["kube-*".into()],
            syscalls: vec!["mount".into()],
            min_severity: pb::Severity::High as i32,
            exclude_host: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(f.kinds, vec![Kind::FlaggedSyscall]);
        assert_eq!(f.container_ids, vec!["3f1d2c4b5a69".to_owned()]);
        assert_eq!((f.pod_namespaces.len(), f.syscalls.len()), (1, 1));
        assert_eq!(f.min_severity, Some(Severity::High));
        assert!(f.exclude_host);
    }

    #[test]
    fn resume_requests_start_where_they_say() {
        let req = |seq, id: &str| pb::GetEventsRequest {
            resume_after_seq: seq,
            resume_instance_id: id.into(),
            ..Default::default()
        };
        assert_eq!(start_from_wire(&req(0, ""), "me", 10).unwrap(), Start::Live);
        assert_eq!(
            start_from_wire(&req(7, ""), "me", 10).unwrap(),
            Start::After(7)
        );
        assert_eq!(
            start_from_wire(&req(7, "me"), "me", 10).unwrap(),
            Start::After(7)
        );
        assert_eq!(
            start_from_wire(&req(7, "old"), "me", 10).unwrap(),
            Start::After(0)
        );
        let e = start_from_wire(&req(11, "me"), "me", 10).unwrap_err();
        assert!(
            e.message().starts_with("resume_after_seq:"),
            "{}",
            e.message()
        );
    }
}
