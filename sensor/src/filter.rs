//! What a subscriber asked to see. Applied by the server, per subscriber; built (and checked)
//! from the wire in `api::convert`.
use wildmatch::WildMatch;

use crate::{
    event::{Attribution, Body, Event, Kind},
    policy::Severity,
};

/// An event passes when it passes every filter that is set. Empty lists match everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub kinds: Vec<Kind>,
    pub cgroup_ids: Vec<u64>,
    /// Full ids or prefixes (checked to be at least 12 hex digits).
    pub container_ids: Vec<String>,
    pub pod_namespaces: Vec<WildMatch>,
    pub pod_names: Vec<WildMatch>,
    /// Narrows flagged calls and first uses; other kinds pass.
    pub syscalls: Vec<String>,
    /// Narrows flagged calls; other kinds pass.
    pub min_severity: Option<Severity>,
    pub exclude_host: bool,
}

impl Filter {
    pub fn matches(&self, event: &Event) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&event.body.kind()))
            && (self.cgroup_ids.is_empty() || self.cgroup_ids.contains(&event.cgroup_id))
            && !(self.exclude_host && event.attribution == Attribution::Host)
            && self.matches_container(&event.attribution)
            && self.matches_body(&event.body)
    }

    fn matches_container(&self, a: &Attribution) -> bool {
        if self.container_ids.is_empty()
            && self.pod_namespaces.is_empty()
            && self.pod_names.is_empty()
        {
            return true;
        }
        let Attribution::Container {
            container,
            meta,
            meta_pending,
        } = a
        else {
            return false;
        };
        let id_ok = self.container_ids.is_empty()
            || self
                .container_ids
                .iter()
                .any(|p| container.id.starts_with(p.as_str()));
        // An event whose pod is not known yet (the runtime did not answer in time) passes pod
        // filters, marked: dropping it would lose it silently for the subscriber it concerns.
        let pod = |globs: &[WildMatch], value: Option<&str>| {
            globs.is_empty()
                || *meta_pending
                || value.is_some_and(|v| globs.iter().any(|g| g.matches(v)))
        };
        id_ok
            && pod(
                &self.pod_namespaces,
                meta.as_ref().map(|m| m.pod_namespace.as_str()),
            )
            && pod(&self.pod_names, meta.as_ref().map(|m| m.pod_name.as_str()))
    }

    fn matches_body(&self, body: &Body) -> bool {
        let name = match body {
            Body::FlaggedSyscall(s) => {
                if let Some(min) = self.min_severity
                    && s.severity.is_none_or(|sev| sev < min)
                {
                    return false;
                }
                s.name
            }
            Body::SyscallSeen(s) => s.name,
            // A deviation is not judged by severity (the policy may not flag the call).
            Body::ProfileDeviation(d) => d.call.name,
            _ => return true,
        };
        self.syscalls.is_empty() || name.is_some_and(|n| self.syscalls.iter().any(|s| s == n))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        enrich::{
            container::{ContainerRef, Runtime},
            cri::PodMeta,
        },
        event::{Exec, FlaggedSyscall, Outcome},
        syscalls::Arch,
    };

    fn exec() -> Event {
        Event::for_test(42, Body::Exec(Exec::default()))
    }

    fn mount(severity: Severity) -> Event {
        Event::for_test(
            42,
            Body::FlaggedSyscall(FlaggedSyscall {
                arch: Arch::NATIVE,
                nr: 165,
                name: Some("mount"),
                args: [0; 6],
                outcome: Outcome::Unknown,
                severity: Some(severity),
                decoded: vec![],
                args_at_exit: false,
                suppressed: None,
                deviation: false,
                namespaces_at_fork: None,
            }),
        )
    }

    fn in_pod(mut ev: Event, ns: &str, name: &str) -> Event {
        ev.attribution = Attribution::Container {
            container: Arc::new(ContainerRef {
                runtime: Runtime::Containerd,
                id: "3f1d2c4b5a69".repeat(5) + "abcd",
                pod: None,
            }),
            meta: Some(Arc::new(PodMeta {
                pod_name: name.into(),
                pod_namespace: ns.into(),
                ..Default::default()
            })),
            meta_pending: false,
        };
        ev
    }

    #[test]
    fn lists_narrow_and_empty_lists_match_all() {
        let ev = exec();
        assert!(Filter::default().matches(&ev));
        let f = |kinds, cgroup_ids| Filter {
            kinds,
            cgroup_ids,
            ..Default::default()
        };
        assert!(f(vec![Kind::Exec], vec![42]).matches(&ev));
        assert!(!f(vec![Kind::FlaggedSyscall], vec![]).matches(&ev));
        assert!(!f(vec![], vec![7]).matches(&ev));
    }

    #[test]
    fn syscall_and_severity_narrow_flagged_calls_only() {
        let by_name = Filter {
            syscalls: vec!["chroot".into()],
            ..Default::default()
        };
        assert!(!by_name.matches(&mount(Severity::High)));
        assert!(by_name.matches(&exec()), "other kinds pass");
        let severe = Filter {
            min_severity: Some(Severity::High),
            ..Default::default()
        };
        assert!(severe.matches(&mount(Severity::Critical)));
        assert!(severe.matches(&mount(Severity::High)));
        assert!(!severe.matches(&mount(Severity::Medium)));
    }

    #[test]
    fn pods_match_by_glob_and_containers_by_prefix() {
        let ev = in_pod(mount(Severity::High), "payments", "api-7d9f");
        let pods = Filter {
            pod_namespaces: vec![WildMatch::new("pay*")],
            pod_names: vec![WildMatch::new("api-*"), WildMatch::new("web")],
            ..Default::default()
        };
        assert!(pods.matches(&ev));
        assert!(!pods.matches(&in_pod(mount(Severity::High), "default", "api-1")));
        assert!(!pods.matches(&mount(Severity::High)), "not a container");
        let id = |p: &str| Filter {
            container_ids: vec![p.into()],
            ..Default::default()
        };
        assert!(id("3f1d2c4b5a69").matches(&ev));
        assert!(!id("3f1d2c4b5a6a").matches(&ev));
    }

    #[test]
    fn an_event_whose_pod_is_not_known_yet_passes_pod_filters() {
        let pending = |pending: bool| {
            let mut ev = in_pod(exec(), "other", "x");
            if let Attribution::Container {
                meta, meta_pending, ..
            } = &mut ev.attribution
            {
                *meta = None;
                *meta_pending = pending;
            }
            ev
        };
        let pods = Filter {
            pod_namespaces: vec![WildMatch::new("payments")],
            ..Default::default()
        };
        assert!(
            !pods.matches(&pending(false)),
            "no metadata, not pending: left out"
        );
        assert!(pods.matches(&pending(true)), "pending: passes, marked");
    }

    #[test]
    fn host_processes_can_be_left_out() {
        let mut ev = exec();
        ev.attribution = Attribution::Host;
        let f = Filter {
            exclude_host: true,
            ..Default::default()
        };
        assert!(!f.matches(&ev));
        assert!(f.matches(&in_pod(exec(), "a", "b")));
    }
}
