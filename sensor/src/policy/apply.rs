//! Putting a policy into the kernel: the forbidden bitmap, which arguments to read as strings,
//! the argument conditions and the exit hooks, and the marks of threads already inside a
//! newly forbidden call ([`PolicyMaps`], owned by the reload task: an
//! apply attaches tracepoints, which takes seconds, and never runs in the reader), and the
//! per-cgroup exceptions ([`Exemptions`], owned by the policy engine in the reader).
use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use aya::maps::{Array, HashMap, MapData, MapError};
use sensor_common::{
    ArgCondition, FORBIDDEN_MAX_NR, MAP_CONDITIONS, MAP_EXEMPT, MAP_FORBIDDEN, MAP_LEARN_GEN,
    MAP_STRING_ARGS,
};

use super::{Policy, SyscallBitmap};
use crate::{
    args,
    probes::{PolicyMapHandles, ProbeError, exits::ExitHooks, inflight, learn_gen::LearnGen},
    syscalls::{self, Arch},
};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("kernel map {map}: {source}")]
    Map {
        map: &'static str,
        #[source]
        source: Box<MapError>,
    },
    #[error("exit hooks: {0}")]
    Exits(#[from] ProbeError),
}

fn err(map: &'static str) -> impl Fn(MapError) -> ApplyError {
    move |source| ApplyError::Map {
        map,
        source: Box::new(source),
    }
}

pub struct PolicyMaps {
    forbidden: Array<MapData, u64>,
    string_args: Array<MapData, u16>,
    conditions: Array<MapData, ArgCondition>,
    exits: ExitHooks,
    unparked: Array<MapData, [u8; 64]>,
    learn_gen: LearnGen,
    /// The native syscall numbers forbidden now.
    applied: HashSet<u64>,
    /// Where the host's /proc is, once entries are seen (`sys_enter` attached): from then on
    /// each apply marks the threads inside a call it newly forbids.
    proc_root: Option<PathBuf>,
}

/// The kernel's per-cgroup exceptions.
pub struct Exemptions {
    exempt: HashMap<MapData, u64, SyscallBitmap>,
}

impl PolicyMaps {
    /// The policy maps, and the exceptions apart (they go to the engine).
    pub fn new(handles: PolicyMapHandles) -> (Self, Exemptions) {
        let PolicyMapHandles {
            forbidden,
            string_args,
            conditions,
            exempt,
            exits,
            unparked,
            learn_gen,
        } = handles;
        (
            Self {
                forbidden,
                string_args,
                conditions,
                exits,
                unparked,
                learn_gen,
                applied: HashSet::new(),
                proc_root: None,
            },
            Exemptions { exempt },
        )
    }

    /// Installs `policy`'s forbidden set, conditions and string arguments, and hooks the exits
    /// of those calls. The forbidden bits go last: a newly forbidden call is flagged only once
    /// its condition, its strings and its exit hook are in place.
    pub fn apply(&mut self, policy: &Policy, arch: Arch) -> Result<(), ApplyError> {
        // What the kernel reads of every call's arguments (strings, clone3's flags): a
        // deviation may be any call.
        for abi in arch.abis() {
            let names: Vec<&str> = (0..sensor_common::ABI_NRS)
                .filter_map(|nr| syscalls::name(abi, nr))
                .collect();
            for (nr, mask) in args::read_masks(abi, &names) {
                let Some(key) = abi.key(nr) else { continue };
                self.string_args
                    .set(key as u32, mask, 0)
                    .map_err(err(MAP_STRING_ARGS))?;
            }
        }
        // Every key's condition, before the forbidden bits: a call newly forbidden with a
        // condition is never flagged without it.
        let mut conditions = vec![ArgCondition::default(); FORBIDDEN_MAX_NR as usize];
        for (name, c) in &policy.conditions {
            for abi in arch.abis() {
                if let Some(key) = syscalls::number(abi, name).and_then(|nr| abi.key(nr)) {
                    conditions[key as usize] = c.to_kernel();
                }
            }
        }
        for (key, c) in conditions.iter().enumerate() {
            self.conditions
                .set(key as u32, c, 0)
                .map_err(err(MAP_CONDITIONS))?;
        }
        let forbidden = policy.forbidden_bitmap(arch);
        // The exits of forbidden calls (for their outcome), and of the calls some bound
        // profile refuses (a seccomp refusal never reaches the entry hook).
        let mut hooked = forbidden;
        for (h, o) in hooked
            .iter_mut()
            .zip(super::binding::outside_intersection(&policy.bindings, arch))
        {
            *h |= o;
        }
        let mut unhooked = self.exits.sync(&hooked)?;
        unhooked.retain(|n| policy.names_on(arch).any(|f| f == *n));
        if !unhooked.is_empty() {
            tracing::info!(
                "this kernel has no exit tracepoint for {} (it does not implement them): \
                 those calls are reported when made, without their outcome \
                 (--exit-hook all also sees seccomp refusals of them)",
                unhooked.join(", ")
            );
        }
        for (i, w) in forbidden.iter().enumerate() {
            self.forbidden
                .set(i as u32, w, 0)
                .map_err(err(MAP_FORBIDDEN))?;
        }
        // Each CPU's learn cache ends the entry of a call that was not forbidden when it
        // learned it: drop them all.
        self.learn_gen.bump().map_err(err(MAP_LEARN_GEN))?;
        let now: HashSet<u64> = policy
            .names_on(Arch::NATIVE)
            .filter_map(|n| syscalls::number(Arch::NATIVE, n))
            .collect();
        let newly: HashSet<u64> = now.difference(&self.applied).copied().collect();
        self.applied = now;
        if let Some(root) = &self.proc_root
            && !newly.is_empty()
        {
            let n = inflight::mark(root, &newly, &mut self.unparked);
            tracing::debug!(threads = n, "newly forbidden calls in flight, marked");
        }
        Ok(())
    }

    /// `sys_enter` is attached: marks the threads inside a forbidden call now (their exits
    /// come without an entry), and from now on those inside a call a reload newly forbids.
    /// Returns how many threads were marked.
    pub fn entries_seen(&mut self, proc_root: &Path) -> usize {
        self.proc_root = Some(proc_root.to_owned());
        inflight::mark(proc_root, &self.applied, &mut self.unparked)
    }
}

impl Exemptions {
    /// Excepts calls in one cgroup (replacing what it had).
    pub fn exempt(&mut self, cgroup_id: u64, calls: &SyscallBitmap) -> Result<(), ApplyError> {
        self.exempt
            .insert(cgroup_id, calls, 0)
            .map_err(err(MAP_EXEMPT))
    }

    /// The cgroup is gone (or its exceptions changed).
    pub fn forget(&mut self, cgroup_id: u64) {
        let _ = self.exempt.remove(&cgroup_id);
    }
}

pub use crate::syscalls::contains;

/// Is the syscall called `name` of ABI `arch` in `bitmap`?
pub fn contains_name(bitmap: &SyscallBitmap, arch: Arch, name: &str) -> bool {
    syscalls::number(arch, name)
        .and_then(|nr| arch.key(nr))
        .is_some_and(|key| contains(bitmap, key))
}
