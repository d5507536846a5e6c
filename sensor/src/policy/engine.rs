//! Judging events against the policy in force: severities, exceptions and bound profiles per
//! cgroup. The first event of a cgroup decides its exceptions and its profile; they go into
//! the kernel so that the excepted calls of that cgroup, and the calls its profile allows,
//! cost no more events. A reload is installed by the reload task (see `reload.rs`), which
//! hands the new policy here before the kernel flags by it.
use std::sync::Arc;

use foldhash::HashMap;

use super::{
    BoundTo, Exemption, Policy, Target,
    apply::{Exemptions, contains},
    bound::BoundMaps,
};
use crate::{
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Attribution, Body, Deviation, Event},
    syscalls::Arch,
};

/// Does this exec start a workload? An exec of a program from the filesystem does. A
/// runtime's exec of its own copy in memory does not: runc and crun re-exec a memfd (or
/// unlinked) clone of themselves, sometimes already inside the container's cgroup, to
/// protect their binary (CVE-2019-5736). Such a file has no link; with no file information,
/// the fd paths the kernel gives an fexecve tell it.
fn starts_workload(e: &crate::event::Exec) -> bool {
    if e.errno.is_some() {
        return false;
    }
    match &e.exe_file {
        Some(file) => file.nlink > 0,
        None => !e.filename.starts_with(b"/dev/fd/") && !e.filename.starts_with(b"/proc/self/fd/"),
    }
}

/// Past this, a cgroup bound by a new policy is taken to run its workload (see `install`).
const SET_UP_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

pub struct PolicyEngine {
    exemptions: Exemptions,
    bound: BoundMaps,
    policy: Arc<Policy>,
    /// The decision for each cgroup seen, with what it was decided from (so that a new
    /// policy re-decides every cgroup at once, without a gap in its exceptions).
    decided: HashMap<u64, Decided>,
    /// Flagged events dropped because an exception covers them (before the kernel knew).
    pub excepted: u64,
}

struct Decided {
    exemption: Exemption,
    profile: BoundTo,
    /// Its calls are checked against its profile before a hand-over of its runtime's too.
    armed: bool,
    /// When its first event was judged.
    since: std::time::Instant,
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
    pub fn new(exemptions: Exemptions, bound: BoundMaps, policy: Arc<Policy>) -> Self {
        Self {
            exemptions,
            bound,
            policy,
            decided: HashMap::default(),
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
            let profile = self.policy.binding(&d.target());
            // A cgroup seen a while ago runs its workload by now (a runtime sets a container
            // up in well under a second): checked at once.
            let armed = d.armed || d.since.elapsed() >= SET_UP_WITHIN;
            self.write(id, &next);
            self.bind(id, &profile, armed);
            if let Some(d) = self.decided.get_mut(&id) {
                d.exemption = next;
                d.profile = profile;
                d.armed = armed;
            }
        }
    }

    /// Puts a cgroup's profile in the kernel (or takes it out).
    fn bind(&mut self, cgroup_id: u64, profile: &BoundTo, armed: bool) {
        match profile {
            BoundTo::To(b) => {
                if let Err(e) = self.bound.bind(cgroup_id, &b.allowed, armed) {
                    tracing::warn!(
                        cgroup = cgroup_id,
                        profile = b.name,
                        "{e}: its calls are not checked against the profile"
                    );
                }
            }
            BoundTo::None | BoundTo::Undecided => self.bound.unbind(cgroup_id),
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

    /// The cgroup's exceptions, decided (with its profile) at its first event, and again
    /// once its metadata comes if they waited for it. A bound container's first exec of a
    /// program (see [`starts_workload`]) arms its profile check: its workload runs, whether
    /// or not its runtime installed a filter.
    fn decide(&mut self, ev: &Event) -> Exemption {
        let (host, container, meta) = match &ev.attribution {
            Attribution::Host => (true, None, None),
            Attribution::Container {
                container, meta, ..
            } => (false, Some(container.clone()), meta.clone()),
            Attribution::Unknown => (false, None, None),
            Attribution::Pending => return Exemption::Undecided,
        };
        let exec = matches!(&ev.body, Body::Exec(e) if starts_workload(e));
        match self.decided.get_mut(&ev.cgroup_id) {
            Some(d)
                if meta.is_some()
                    && (matches!(d.exemption, Exemption::Undecided)
                        || matches!(d.profile, BoundTo::Undecided)) => {}
            Some(d) => {
                let (exemption, arm) = (d.exemption, exec && !d.armed);
                if arm {
                    d.armed = true;
                    let profile = d.profile.clone();
                    self.bind(ev.cgroup_id, &profile, true);
                }
                return exemption;
            }
            None => {}
        }
        let earlier = self.decided.get(&ev.cgroup_id);
        let armed = exec || earlier.is_some_and(|d| d.armed);
        let since = earlier.map_or_else(std::time::Instant::now, |d| d.since);
        let decided = Decided {
            exemption: Exemption::None,
            profile: BoundTo::None,
            armed,
            since,
            host,
            container,
            meta,
        };
        let d = self.policy.exemption(Arch::NATIVE, host, &decided.target());
        let profile = self.policy.binding(&decided.target());
        if matches!(d, Exemption::Some(_)) {
            self.write(ev.cgroup_id, &d);
        }
        if matches!(profile, BoundTo::To(_)) {
            self.bind(ev.cgroup_id, &profile, armed);
        }
        self.decided.insert(
            ev.cgroup_id,
            Decided {
                exemption: d,
                profile,
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
        let d = self.decide(ev);
        if let Body::ProfileDeviation(x) = &mut ev.body {
            x.call.severity = x.call.name.and_then(|n| self.policy.severity(n));
            x.profile = self.profile_name(ev.cgroup_id);
            return true;
        }
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

    /// The name of the profile `cgroup_id` is bound to.
    fn profile_name(&self, cgroup_id: u64) -> Option<Arc<str>> {
        match &self.decided.get(&cgroup_id)?.profile {
            BoundTo::To(b) => Some(Arc::from(b.name.as_str())),
            _ => None,
        }
    }

    /// A judged flagged call that is also outside its container's profile, as the deviation
    /// event that goes out with it (whether or not an exception dropped the flagged one).
    pub fn deviation_of(&self, ev: &Event) -> Option<Event> {
        let Body::FlaggedSyscall(s) = &ev.body else {
            return None;
        };
        if !s.deviation {
            return None;
        }
        let mut out = ev.clone();
        out.body = Body::ProfileDeviation(Box::new(Deviation {
            call: s.clone(),
            profile: self.profile_name(ev.cgroup_id),
            flagged: true,
        }));
        Some(out)
    }

    /// The binding a container's cgroup is under, if any.
    pub fn bound_profile(&self, cgroup_id: u64) -> Option<Arc<super::binding::Binding>> {
        match &self.decided.get(&cgroup_id)?.profile {
            BoundTo::To(b) => Some(b.clone()),
            _ => None,
        }
    }

    /// The cgroups with a decision.
    pub fn cgroup_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.decided.keys().copied()
    }

    /// The cgroup is gone.
    pub fn forget(&mut self, cgroup_id: u64) {
        let Some(d) = self.decided.remove(&cgroup_id) else {
            return;
        };
        if matches!(d.exemption, Exemption::Some(_)) {
            self.exemptions.forget(cgroup_id);
        }
        if matches!(d.profile, BoundTo::To(_)) {
            self.bound.unbind(cgroup_id);
        }
    }
}
