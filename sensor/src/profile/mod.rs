//! Seccomp profiles from observed behaviour. The kernel learns, per cgroup, which syscalls it
//! makes and reports each one the first time ([`crate::event::SyscallSeen`]); the store here
//! keeps those per cgroup (with the container they belong to), merges what the kernel map
//! holds when a cgroup goes away, and selects what a profile request asks for. [`render`]
//! turns a selection into OCI/Docker seccomp JSON or a Security Profiles Operator resource.
pub mod always;
mod build;
mod calls;
pub mod learner;
pub mod render;
pub mod steady;
pub mod try_run;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use crate::{
    enrich::{container::ContainerRef, cri::PodMeta},
    event::{Attribution, Body, Event, Phase},
    syscalls::Arch,
};
use sensor_common::PHASE_SLOT;

pub use self::build::{BuildOptions, Built, Merged, ProfileCall, build, merge};
pub use self::calls::Calls;

/// The phases after the runtime's hand-over.
const AFTER_HANDOVER: u8 =
    sensor_common::PHASE_FILTERED | sensor_common::PHASE_WORKLOAD | sensor_common::PHASE_STEADY;

/// cgroups whose profiles are kept at once; past that, gone ones are forgotten first.
const CAPACITY: usize = 16_384;
/// Profiles of containers that are gone, kept for `GetProfile` (a pod's previous container,
/// an image's past replicas); past that, the oldest gone one is forgotten. A cgroup that was
/// not a container is forgotten as soon as it is gone.
pub const GONE_KEPT: usize = 1024;

/// What one cgroup was seen doing.
#[derive(Clone, Debug, Default)]
pub struct Learned {
    pub cgroup_id: u64,
    pub container: Option<Arc<ContainerRef>>,
    pub meta: Option<Arc<PodMeta>>,
    /// Syscall key (the number on the native ABI, [`Arch::key`] for the others) -> the
    /// phases it was made in ([`Phase::bit`]s).
    pub syscalls: Calls,
    /// The cgroup was removed.
    pub gone: bool,
}

impl Learned {
    /// Adds the phases of a kernel learned value of ABI `abi` (byte `nr`: the phases `nr`
    /// was made in; the phase slot is not a call).
    pub(crate) fn add_kernel_slots(&mut self, abi: Arch, slots: &[u8]) {
        let all = Phase::ALL.iter().fold(0, |b, p| b | p.bit());
        for (nr, bits) in slots.iter().enumerate().take(PHASE_SLOT) {
            if bits & all == 0 {
                continue;
            }
            if let Some(key) = abi.key(nr as u64) {
                self.syscalls.add(key, bits & all);
            }
        }
    }

    /// Did the runtime hand this cgroup over (install a seccomp filter), so that what it
    /// did before is known apart from what it and the workload did after?
    pub fn handed_over(&self) -> bool {
        self.syscalls.any_in(AFTER_HANDOVER)
    }

    /// Did its workload get past its start-up while the sensor watched?
    pub fn past_startup(&self) -> bool {
        self.syscalls.any_in(Phase::Steady.bit())
    }

    /// Does a profile of this cgroup need a call made in `bits`: made after the hand-over,
    /// or any call of a cgroup whose hand-over was not seen (`handed_over` false: its runtime
    /// installed no filter, so the setup cannot be told apart, and is kept).
    fn needs(handed_over: bool, bits: u8) -> bool {
        !handed_over || bits & AFTER_HANDOVER != 0
    }
}

/// Which cgroups a profile covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    ContainerId(String),
    /// Pods by namespace and name, each a glob (`*`: any).
    Pod {
        namespace: String,
        name: String,
    },
    /// Every container of an image (a glob, matched against the full reference and against
    /// its last path part, so `nginx:1.27` matches `docker.io/library/nginx:1.27`): one
    /// workload's replicas.
    Image(String),
    CgroupId(u64),
}

/// A selector's pattern: a glob (`*`, `?`); a plain name matches only itself.
fn glob(pattern: &str) -> wildmatch::WildMatch {
    wildmatch::WildMatch::new(pattern)
}

impl Selector {
    fn matches(&self, l: &Learned) -> bool {
        let meta = l.meta.as_deref();
        match self {
            Selector::ContainerId(id) => l.container.as_ref().is_some_and(|c| &c.id == id),
            Selector::Pod { namespace, name } => meta.is_some_and(|m| {
                glob(namespace).matches(&m.pod_namespace) && glob(name).matches(&m.pod_name)
            }),
            Selector::Image(image) => meta.is_some_and(|m| {
                let short = m.image.rsplit('/').next().unwrap_or(&m.image);
                let g = glob(image);
                g.matches(&m.image) || g.matches(short)
            }),
            Selector::CgroupId(id) => l.cgroup_id == *id,
        }
    }
}

#[derive(Debug, Default)]
pub struct ProfileStore {
    by_cgroup: HashMap<u64, Learned>,
    /// Gone containers' cgroups, oldest first.
    gone: VecDeque<u64>,
}

/// Shared between the reader (writes) and the API (reads).
pub type SharedStore = Arc<Mutex<ProfileStore>>;

impl ProfileStore {
    fn entry(&mut self, cgroup_id: u64) -> Option<&mut Learned> {
        if !self.by_cgroup.contains_key(&cgroup_id) && self.by_cgroup.len() >= CAPACITY {
            self.by_cgroup.retain(|_, l| !l.gone);
            if self.by_cgroup.len() >= CAPACITY {
                return None;
            }
        }
        Some(self.by_cgroup.entry(cgroup_id).or_insert_with(|| Learned {
            cgroup_id,
            ..Default::default()
        }))
    }

    /// Whether [`ProfileStore::observe`] has anything to learn from `ev`.
    pub fn learns_from(ev: &Event) -> bool {
        matches!(&ev.body, Body::SyscallSeen(_))
    }

    /// Learns from an enriched event.
    pub fn observe(&mut self, ev: &mut Event) {
        if !Self::learns_from(ev) {
            return;
        }
        let Some(l) = self.entry(ev.cgroup_id) else {
            return;
        };
        if let Attribution::Container {
            container, meta, ..
        } = &ev.attribution
        {
            l.container = Some(container.clone());
            if meta.is_some() {
                l.meta = meta.clone();
            }
        }
        if let Body::SyscallSeen(s) = &ev.body
            && let Some(key) = s.arch.key(s.nr)
        {
            l.syscalls.add(key, s.phase.bit());
        }
    }

    /// The cgroup was removed. Adds what the kernel learned for it, per ABI (byte `nr`
    /// non-zero: syscall `nr` was made), that its events did not say (lost ones); keeps a
    /// container's profile (up to [`GONE_KEPT`] gone ones) and forgets any other cgroup's.
    pub fn cgroup_gone(&mut self, cgroup_id: u64, slots: &[(Arch, &[u8])]) {
        let Some(l) = self.by_cgroup.get_mut(&cgroup_id) else {
            return;
        };
        if l.container.is_none() {
            self.by_cgroup.remove(&cgroup_id);
            return;
        }
        for (abi, slots) in slots {
            l.add_kernel_slots(*abi, slots);
        }
        if !l.gone {
            l.gone = true;
            l.syscalls.shrink();
            self.gone.push_back(cgroup_id);
        }
        while self.gone.len() > GONE_KEPT {
            if let Some(old) = self.gone.pop_front()
                && self.by_cgroup.get(&old).is_some_and(|l| l.gone)
            {
                self.by_cgroup.remove(&old);
            }
        }
    }

    /// cgroups with a profile, and how many of them are gone.
    pub fn len(&self) -> (usize, usize) {
        (self.by_cgroup.len(), self.gone.len())
    }

    /// A cgroup learned by an earlier run of the sensor (from the pinned map).
    pub fn seed(
        &mut self,
        cgroup_id: u64,
        container: Option<Arc<ContainerRef>>,
        abi: Arch,
        slots: &[u8],
    ) {
        let Some(l) = self.entry(cgroup_id) else {
            return;
        };
        l.container = container;
        l.add_kernel_slots(abi, slots);
    }

    pub fn select(&self, sel: &Selector) -> Vec<Learned> {
        self.by_cgroup
            .values()
            .filter(|l| sel.matches(l))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{enrich::container::Runtime, event::SyscallSeen, syscalls::Arch};

    /// Options that add nothing to what was seen.
    fn bare() -> BuildOptions {
        BuildOptions {
            always_allowed: Vec::new(),
            refused: render::Refusal::Errno,
            steady_only: false,
        }
    }

    #[test]
    fn calls_made_only_while_starting_up_are_marked_and_can_be_left_out() {
        let mut s = ProfileStore::default();
        // execve (59) and bind (49) only at start; read (0) at start and while serving;
        // accept4 (288) first while serving.
        for (nr, phase) in [
            (165, Phase::Runtime),
            (59, Phase::Filtered),
            (49, Phase::Workload),
            (0, Phase::Workload),
            (0, Phase::Steady),
            (288, Phase::Steady),
        ] {
            s.observe(&mut seen_in(9, nr, phase));
        }
        let sel = Selector::CgroupId(9);
        let all = build(&s.select(&sel), &sel, Arch::X86_64, &bare());
        let marked: Vec<(&str, bool)> = all
            .syscalls
            .iter()
            .map(|c| (c.name, c.startup_only))
            .collect();
        assert_eq!(
            marked,
            [
                ("read", false),
                ("bind", true),
                ("execve", true),
                ("accept4", false)
            ]
        );
        assert_eq!(all.steady, 1);
        let steady = build(
            &s.select(&sel),
            &sel,
            Arch::X86_64,
            &BuildOptions {
                steady_only: true,
                ..bare()
            },
        );
        let names: Vec<&str> = steady.syscalls.iter().map(|c| c.name).collect();
        assert_eq!(names, ["read", "accept4"]);
        let left: Vec<&str> = steady.startup_left_out.iter().map(|c| c.name).collect();
        assert_eq!(left, ["bind", "execve"]);
        let runtime: Vec<&str> = steady.runtime_only.iter().map(|c| c.name).collect();
        assert_eq!(runtime, ["mount"]);
    }

    #[test]
    fn always_allowed_calls_are_added_and_said_to_be() {
        let mut s = ProfileStore::default();
        s.observe(&mut seen_in(11, 0, Phase::Workload)); // read
        s.observe(&mut seen_in(11, 231, Phase::Workload)); // exit_group, seen
        let sel = Selector::CgroupId(11);
        let b = build(
            &s.select(&sel),
            &sel,
            Arch::X86_64,
            &BuildOptions::default(),
        );
        let get = |n: &str| b.syscalls.iter().find(|c| c.name == n).cloned();
        assert!(get("rt_sigsuspend").is_some_and(|c| c.always && c.containers == 0));
        assert!(
            get("exit_group").is_some_and(|c| !c.always),
            "seen beats always"
        );
        assert!(
            get("sigreturn").is_none(),
            "no i386 in a 64-bit-only profile"
        );
        let names = b.oci["syscalls"][0]["names"].as_array().unwrap().clone();
        assert!(names.contains(&serde_json::json!("rt_sigsuspend")));
    }

    fn seen_in(cgroup: u64, nr: u64, phase: Phase) -> Event {
        let mut ev = Event::for_test(
            cgroup,
            Body::SyscallSeen(SyscallSeen {
                arch: Arch::X86_64,
                nr,
                name: None,
                phase,
            }),
        );
        ev.attribution = in_container(&cgroup.to_string());
        ev
    }

    /// A workload's first use, in a cgroup that is no container.
    fn seen(cgroup: u64, nr: u64) -> Event {
        let mut ev = seen_in(cgroup, nr, Phase::Workload);
        ev.attribution = Attribution::default();
        ev
    }

    #[test]
    fn a_profile_leaves_out_what_only_the_runtime_did_before_its_filter() {
        let mut s = ProfileStore::default();
        // The runtime mounts and writes; under its filter it opens; the workload writes.
        for (nr, phase) in [
            (165, Phase::Runtime),
            (1, Phase::Runtime),
            (2, Phase::Filtered),
            (1, Phase::Workload),
        ] {
            s.observe(&mut seen_in(7, nr, phase));
        }
        // The kernel map holds a workload call whose event was lost.
        let mut slots = [0u8; 8];
        slots[3] = Phase::Workload.bit();
        s.cgroup_gone(7, &[(Arch::X86_64, &slots)]);
        let sel = Selector::CgroupId(7);
        let b = build(&s.select(&sel), &sel, Arch::X86_64, &bare());
        let names: Vec<&str> = b.syscalls.iter().map(|c| c.name).collect();
        assert_eq!(names, ["write", "open", "close"]);
        assert_eq!(b.syscalls[0].phase, Phase::Runtime, "earliest phase");
        let runtime: Vec<&str> = b.runtime_only.iter().map(|c| c.name).collect();
        assert_eq!(runtime, ["mount"]);
        assert_eq!(b.without_handover, 0);

        // Without a filter the hand-over is not seen: everything stays, and it says so.
        s.observe(&mut seen_in(8, 165, Phase::Runtime));
        let sel = Selector::CgroupId(8);
        let b = build(&s.select(&sel), &sel, Arch::X86_64, &bare());
        assert_eq!(b.syscalls.len(), 1);
        assert!(b.runtime_only.is_empty());
        assert_eq!(b.without_handover, 1);

        // Merged: each container's needs count.
        let both: Vec<Learned> = [7, 8]
            .iter()
            .flat_map(|c| s.select(&Selector::CgroupId(*c)))
            .collect();
        let m = merge(&both, false);
        assert_eq!(m[&165].made_by, 2);
        assert_eq!(m[&165].needed_by, 1, "needed by the unfiltered one only");
    }

    #[test]
    fn profiles_are_per_abi() {
        let mut s = ProfileStore::default();
        let mut ev = seen(9, 165); // x86_64 mount
        ev.attribution = in_container("f");
        s.observe(&mut ev);
        let mut compat = [0u8; 64];
        compat[21] = Phase::Workload.bit(); // i386 mount
        compat[20] = Phase::Workload.bit(); // i386 getpid
        s.cgroup_gone(9, &[(Arch::I386, &compat)]);
        let b = build(
            &s.select(&Selector::CgroupId(9)),
            &Selector::CgroupId(9),
            Arch::X86_64,
            &bare(),
        );
        let calls: Vec<(Arch, u64, &str)> =
            b.syscalls.iter().map(|c| (c.arch, c.nr, c.name)).collect();
        assert_eq!(
            calls,
            [
                (Arch::X86_64, 165, "mount"),
                (Arch::I386, 20, "getpid"),
                (Arch::I386, 21, "mount")
            ]
        );
        assert_eq!(
            b.oci["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"])
        );
        // Without a compat call, the profile allows no i386 call at all.
        let mut s = ProfileStore::default();
        let mut ev = seen(10, 165);
        ev.attribution = in_container("g");
        s.observe(&mut ev);
        let b = build(
            &s.select(&Selector::CgroupId(10)),
            &Selector::CgroupId(10),
            Arch::X86_64,
            &bare(),
        );
        assert_eq!(
            b.oci["architectures"],
            serde_json::json!(["SCMP_ARCH_X86_64"])
        );
    }

    fn in_container(id: &str) -> Attribution {
        Attribution::Container {
            container: Arc::new(ContainerRef {
                runtime: Runtime::Docker,
                id: id.repeat(64),
                pod: None,
            }),
            meta: None,
            meta_pending: false,
        }
    }

    #[test]
    fn gone_cgroups_are_forgotten_or_bounded() {
        let mut s = ProfileStore::default();
        s.observe(&mut seen(1, 5));
        s.cgroup_gone(1, &[]);
        assert_eq!(
            s.len(),
            (0, 0),
            "a cgroup that was no container is forgotten"
        );
        for cg in 0..(GONE_KEPT as u64 + 10) {
            let mut ev = seen(100 + cg, 5);
            ev.attribution = in_container("f");
            s.observe(&mut ev);
            s.cgroup_gone(100 + cg, &[]);
        }
        assert_eq!(s.len(), (GONE_KEPT, GONE_KEPT));
        assert!(
            s.select(&Selector::CgroupId(100)).is_empty(),
            "the oldest went first"
        );
        assert_eq!(
            s.select(&Selector::CgroupId(100 + GONE_KEPT as u64 + 9))
                .len(),
            1
        );
    }

    #[test]
    fn selects_by_container() {
        let mut s = ProfileStore::default();
        let c = Arc::new(ContainerRef {
            runtime: Runtime::Docker,
            id: "d".repeat(64),
            pod: None,
        });
        let mut ev = seen(9, 5);
        ev.attribution = Attribution::Container {
            container: c.clone(),
            meta: None,
            meta_pending: false,
        };
        s.observe(&mut ev);
        assert_eq!(s.select(&Selector::ContainerId(c.id.clone())).len(), 1);
        assert!(s.select(&Selector::ContainerId("x".into())).is_empty());
    }
}
