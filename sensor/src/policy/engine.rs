//! Judging events against the policy in force: severities, and exceptions per cgroup. The
//! first event of a cgroup decides its exceptions; they go into the kernel so that the
//! excepted calls of that cgroup cost no more events. Reloads arrive over a watch channel and
//! replace everything at once.
use std::{collections::HashMap, sync::Arc};

use tokio::sync::watch;

use super::{
    Exemption, Policy, Target,
    apply::{ApplyError, PolicyMaps, contains},
};
use crate::{
    event::{Attribution, Body, Event},
    syscalls::Arch,
};

pub struct PolicyEngine {
    maps: PolicyMaps,
    policy: Arc<Policy>,
    updates: watch::Receiver<Arc<Policy>>,
    /// The decision for each cgroup seen since the last reload.
    decided: HashMap<u64, Exemption>,
    /// Flagged events dropped because an exception covers them (before the kernel knew).
    pub excepted: u64,
}

impl PolicyEngine {
    /// Installs the policy the channel holds now.
    pub fn new(
        mut maps: PolicyMaps,
        updates: watch::Receiver<Arc<Policy>>,
    ) -> Result<Self, ApplyError> {
        let policy = updates.borrow().clone();
        maps.apply(&policy, Arch::NATIVE)?;
        Ok(Self {
            maps,
            policy,
            updates,
            decided: HashMap::new(),
            excepted: 0,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    fn refresh(&mut self) {
        if !self.updates.has_changed().unwrap_or(false) {
            return;
        }
        let next = self.updates.borrow_and_update().clone();
        match self.maps.apply(&next, Arch::NATIVE) {
            Ok(()) => {
                self.policy = next;
                self.decided.clear();
            }
            // The maps are sized for any policy: this is not expected, but never fatal.
            Err(e) => tracing::error!("installing the new policy in the kernel failed: {e}"),
        }
    }

    fn decide(&mut self, ev: &Event) -> Exemption {
        let (host, target) = match &ev.attribution {
            Attribution::Host => (true, Target::default()),
            Attribution::Container { container, meta } => (
                false,
                Target {
                    container: Some(container),
                    meta: meta.as_deref(),
                },
            ),
            Attribution::Unknown => (false, Target::default()),
            Attribution::Pending => return Exemption::Undecided,
        };
        match self.decided.get(&ev.cgroup_id) {
            Some(Exemption::Undecided) if target.meta.is_some() => {}
            Some(d) => return *d,
            None => {}
        }
        let d = self.policy.exemption(Arch::NATIVE, host, &target);
        if let Exemption::Some(calls) = &d
            && let Err(e) = self.maps.exempt(ev.cgroup_id, calls)
        {
            tracing::warn!(
                cgroup = ev.cgroup_id,
                "{e}: its excepted calls are dropped in userspace"
            );
        }
        self.decided.insert(ev.cgroup_id, d);
        d
    }

    /// Sets the event's severity; returns false when an exception covers it (drop it).
    pub fn judge(&mut self, ev: &mut Event) -> bool {
        self.refresh();
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
        if let Some(Exemption::Some(_)) = self.decided.remove(&cgroup_id) {
            self.maps.forget(cgroup_id);
        }
    }
}
