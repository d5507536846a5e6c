//! Judging events against the policy in force: severities, and exceptions per cgroup. The
//! first event of a cgroup decides its exceptions; they go into the kernel so that the
//! excepted calls of that cgroup cost no more events. A reload is installed by the reload
//! task (see `reload.rs`), which hands the new policy here before the kernel flags by it.
use std::{collections::HashMap, sync::Arc};

use super::{
    Exemption, Policy, Target,
    apply::{Exemptions, contains},
};
use crate::{
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Attribution, Body, Event},
    syscalls::Arch,
};

pub struct PolicyEngine {
    exemptions: Exemptions,
    policy: Arc<Policy>,
    /// The decision for each cgroup seen, with what it was decided from (so that a new
    /// policy re-decides every cgroup at once, without a gap in its exceptions).
    decided: HashMap<u64, Decided>,
    /// Flagged events dropped because an exception covers them (before the kernel knew).
    pub excepted: u64,
}

struct Decided {
    exemption: Exemption,
    host: bool,
    container: Option<Arc<ContainerRef>>,
    meta: Option<Arc<PodMeta>>,
}

impl Decided {
    fn target(&self) -> Target<'_> {
        Target {
            container: self.container.as_deref(),
            meta: self.meta.as_deref(),
        }
    }
}

impl PolicyEngine {
    /// Judges by `policy`, which the kernel has already (the caller applied it).
    pub fn new(exemptions: Exemptions, policy: Arc<Policy>) -> Self {
        Self {
            exemptions,
            policy,
            decided: HashMap::new(),
            excepted: 0,
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// A new policy: every cgroup's exceptions are decided again and replaced in the kernel
    /// entry by entry, so an excepted pod is never flagged in between.
    pub fn install(&mut self, policy: Arc<Policy>) {
        self.policy = policy;
        let ids: Vec<u64> = self.decided.keys().copied().collect();
        for id in ids {
            let Some(d) = self.decided.get(&id) else {
                continue;
            };
            let next = self.policy.exemption(Arch::NATIVE, d.host, &d.target());
            self.write(id, &next);
            if let Some(d) = self.decided.get_mut(&id) {
                d.exemption = next;
            }
        }
    }

    /// Puts a cgroup's exceptions in the kernel (or takes them out).
    fn write(&mut self, cgroup_id: u64, d: &Exemption) {
        match d {
            Exemption::Some(calls) => {
                if let Err(e) = self.exemptions.exempt(cgroup_id, calls) {
                    tracing::warn!(
                        cgroup = cgroup_id,
                        "{e}: its excepted calls are dropped in userspace"
                    );
                }
            }
            Exemption::None | Exemption::Undecided => self.exemptions.forget(cgroup_id),
        }
    }

    fn decide(&mut self, ev: &Event) -> Exemption {
        let (host, container, meta) = match &ev.attribution {
            Attribution::Host => (true, None, None),
            Attribution::Container {
                container, meta, ..
            } => (false, Some(container.clone()), meta.clone()),
            Attribution::Unknown => (false, None, None),
            Attribution::Pending => return Exemption::Undecided,
        };
        match self.decided.get(&ev.cgroup_id) {
            Some(d) if matches!(d.exemption, Exemption::Undecided) && meta.is_some() => {}
            Some(d) => return d.exemption,
            None => {}
        }
        let decided = Decided {
            exemption: Exemption::None,
            host,
            container,
            meta,
        };
        let d = self.policy.exemption(Arch::NATIVE, host, &decided.target());
        if matches!(d, Exemption::Some(_)) {
            self.write(ev.cgroup_id, &d);
        }
        self.decided.insert(
            ev.cgroup_id,
            Decided {
                exemption: d,
                ..decided
            },
        );
        d
    }

    /// Sets the event's severity; returns false when an exception covers it (drop it).
    pub fn judge(&mut self, ev: &mut Event) -> bool {
        if let (Body::Exec(e), Attribution::Container { .. }) = (&mut ev.body, &ev.attribution)
            && e.errno.is_none()
            && let Some(p) = &e.privileges
        {
            e.findings = self.policy.least_privilege.findings(p);
        }
        if let Body::Exec(e) = &mut ev.body
            && let Some(f) = super::fileless::finding(e, ev.process.parent_exe.as_deref())
        {
            e.findings.push(f);
        }
        if !matches!(ev.body, Body::FlaggedSyscall(_)) {
            return true;
        }
        let d = self.decide(ev);
        let Body::FlaggedSyscall(s) = &mut ev.body else {
            return true;
        };
        s.severity = s.name.and_then(|n| self.policy.severity(n));
        if let Exemption::Some(calls) = d
            && s.arch.key(s.nr).is_some_and(|key| contains(&calls, key))
        {
            self.excepted += 1;
            return false;
        }
        true
    }

    /// The cgroups with a decision.
    pub fn cgroup_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.decided.keys().copied()
    }

    /// The cgroup is gone.
    pub fn forget(&mut self, cgroup_id: u64) {
        if let Some(Decided {
            exemption: Exemption::Some(_),
            ..
        }) = self.decided.remove(&cgroup_id)
        {
            self.exemptions.forget(cgroup_id);
        }
    }
}
