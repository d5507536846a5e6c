//! Loading the embedded eBPF object, configuring it, and attaching its programs.
//!
//! Dropping [`Probes`] detaches and unloads everything; nothing of ours stays in the kernel
//! (but the learned map, when it is pinned). [`exits`] decides which syscalls' exits are
//! hooked.
mod counters;
mod error;
pub mod exits;
pub mod inflight;
pub mod learn_gen;
mod view;

use std::{
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData, PerCpuArray, RingBuf},
    programs::{BtfTracePoint, RawTracePoint, TracePoint},
};
use sensor_common::{
    GLOBAL_CGROUP_ID_OFF, GLOBAL_CGROUP_PATH_OFF, GLOBAL_CGROUP_ROOT_OFF,
    GLOBAL_CRED_CAP_EFFECTIVE_OFF, GLOBAL_CRED_EUID_OFF, GLOBAL_DENTRY_NAME_OFF,
    GLOBAL_EXEC_FILENAME_OFF, GLOBAL_EXEC_OLD_PID_OFF, GLOBAL_EXIT_GROUP_DEAD_OFF,
    GLOBAL_FDT_FD_OFF, GLOBAL_FDT_MAX_FDS_OFF, GLOBAL_FILE_DENTRY_OFF, GLOBAL_FILE_INODE_OFF,
    GLOBAL_FILES_FDT_OFF, GLOBAL_FLOOD_BUDGET, GLOBAL_INODE_NLINK_OFF, GLOBAL_IOURING_OPCODE_OFF,
    GLOBAL_LAZY_WAKE_NS, GLOBAL_MM_EXE_FILE_OFF, GLOBAL_NR_EXECVE, GLOBAL_NR_EXECVE_COMPAT,
    GLOBAL_NR_EXECVEAT, GLOBAL_NR_EXECVEAT_COMPAT, GLOBAL_NR_PRCTL, GLOBAL_NR_SECCOMP,
    GLOBAL_NS_OFFS, GLOBAL_PID_LEVEL_OFF, GLOBAL_SELF_TGID, GLOBAL_SYS_EXIT_NR_OFF,
    GLOBAL_SYS_EXIT_RET_OFF, GLOBAL_TASK_CRED_OFF, GLOBAL_TASK_EXIT_CODE_OFF,
    GLOBAL_TASK_FILES_OFF, GLOBAL_TASK_MM_OFF, GLOBAL_TASK_PID_OFF, GLOBAL_TASK_REAL_PARENT_OFF,
    GLOBAL_TASK_SECCOMP_MODE_OFF, GLOBAL_TASK_START_TIME_OFF, GLOBAL_TASK_TGID_OFF,
    GLOBAL_TASK_THREAD_PID_OFF, GLOBAL_TASK_TI_STATUS_OFF, GLOBAL_TS_COMPAT, GLOBAL_WAKE_BYTES,
    Hook, LEARNED_SLOTS, MAP_BOUND, MAP_CONDITIONS, MAP_COUNTERS, MAP_EVENTS, MAP_EXEMPT,
    MAP_EXIT_HOOKED, MAP_FLOOD, MAP_FORBIDDEN, MAP_LEARN_COUNTS, MAP_LEARN_GEN, MAP_LEARNED,
    MAP_LEARNED_COMPAT, MAP_LEARNED_IOURING, MAP_PENDING, MAP_STEADY, MAP_STRING_ARGS,
    MAP_UNPARKED, PROGRAMS,
};

pub(crate) use self::error::explain;
use self::exits::{ExitHooks, ExitLinks, ExitMode};
pub use self::{
    counters::{KernelCounters, LearnedCounter},
    error::ProbeError,
    view::{AttachedView, RunStats},
};
use crate::{
    offsets::Offsets,
    syscalls::{self, Arch},
};

/// A per-cgroup learned map: one byte per syscall number (or io_uring opcode).
pub type LearnedMap = HashMap<MapData, u64, [u8; LEARNED_SLOTS]>;

/// The object built by `cargo xtask build`; empty when built without it.
pub fn ebpf_object() -> &'static [u8] {
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sensor-ebpf.o"))
}

/// UNPARKED entries for every thread id the kernel hands out now (`kernel.pid_max`; the
/// object's default, which covers the largest pid_max there is, when unreadable). A pid_max
/// raised later leaves higher thread ids without a mark: their refused-or-not calls are
/// then reported with the outcome unknown, never as blocked.
fn unparked_entries() -> u32 {
    let per = sensor_common::UNPARKED_TIDS_PER_ENTRY;
    match std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
    {
        Some(max) => max.div_ceil(per).max(1),
        None => {
            tracing::warn!("cannot read /proc/sys/kernel/pid_max: sizing UNPARKED for 4M threads");
            (4 << 20) / per
        }
    }
}

/// Values the object is configured with at load time.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Layout facts of this kernel (tracefs formats, BTF).
    pub offsets: Offsets,
    /// Ring buffer size; the kernel wants a power of two times the page size (aya rounds up).
    pub ring_buffer_bytes: u32,
    /// Flagged calls parked between entry and exit at once (beyond: built at exit).
    pub pending_capacity: u32,
    /// Flagged calls of one key a cgroup may send per second per CPU (0: no budget).
    pub flood_budget: u64,
    /// A lazy record wakes the reader if no lazy record did in this long.
    pub lazy_wake: std::time::Duration,
    /// Kernel-side log level forwarded to `tracing`; `None` compiles the log calls out.
    pub ebpf_log: Option<aya_log::Level>,
    /// Pin the learned-syscalls map here (bpffs), so that it outlives the sensor.
    pub learned_pin: Option<std::path::PathBuf>,
    /// The kernel's BTF (`tp_btf` programs are checked against it).
    pub btf: std::path::PathBuf,
}

/// The loaded object and the exit hooks attached to it while the sensor runs.
struct Loaded {
    ebpf: Ebpf,
    exit_links: ExitLinks,
    /// The programs attached by [`Probes::attach_all`], as `name: hook`.
    attached: Vec<String>,
    /// The exit program is on every syscall's exit (`--exit-hook all`).
    all_exits: bool,
}

pub struct Probes {
    /// Shared with [`ExitHooks`], which attaches and detaches exit hooks while we run; this
    /// is the one strong reference, so dropping `Probes` still unloads everything.
    loaded: Arc<Mutex<Loaded>>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    /// The learn generation, once taken (the policy and the learn maps share it).
    learn_gen: Option<learn_gen::LearnGen>,
}

impl Probes {
    /// Parses `object`, sets its globals and creates its maps. Nothing is attached yet.
    pub fn load(object: &[u8], cfg: &LoadConfig) -> Result<Self, ProbeError> {
        if object.is_empty() {
            return Err(ProbeError::NotEmbedded);
        }
        let self_tgid = std::process::id();
        // Lazy records wake the reader once a quarter of the ring waits (see
        // `sensor-ebpf`'s `record::lazy_wakeup`): the rest is drained on `reader::POLL`.
        let wake_bytes = u64::from(cfg.ring_buffer_bytes / 4);
        let lazy_wake_ns = u64::try_from(cfg.lazy_wake.as_nanos()).unwrap_or(u64::MAX);
        let log_level: u8 = cfg.ebpf_log.map_or(0, |l| l as u8);
        let o = &cfg.offsets;
        let nr = |name| syscalls::number(Arch::NATIVE, name).map_or(u32::MAX, |n| n as u32);
        let (nr_execve, nr_execveat) = (nr("execve"), nr("execveat"));
        let (nr_seccomp, nr_prctl) = (nr("seccomp"), nr("prctl"));
        // Compat calls are told apart where the native ABI has one and BTF says where the
        // task's status word is (x86: TS_COMPAT, 0x0002).
        let compat = Arch::NATIVE
            .compat()
            .filter(|_| o.task.ti_status != u32::MAX);
        let ts_compat: u32 = if compat.is_some() { 0x0002 } else { 0 };
        let compat_nr = |name| {
            compat
                .and_then(|a| syscalls::number(a, name))
                .map_or(u32::MAX, |n| n as u32)
        };
        let (nr_execve_compat, nr_execveat_compat) = (compat_nr("execve"), compat_nr("execveat"));
        if compat.is_none() && Arch::NATIVE.compat().is_some() {
            tracing::warn!(
                "the kernel's BTF has no task_struct.thread_info.status: compat (i386) calls \
                 cannot be told apart and are taken for native ones"
            );
        }
        let mut loader = EbpfLoader::new();
        loader
            .override_global(GLOBAL_EXEC_FILENAME_OFF, &o.exec_filename, true)
            .override_global(GLOBAL_CGROUP_ROOT_OFF, &o.cgroup_root, true)
            .override_global(GLOBAL_CGROUP_ID_OFF, &o.cgroup_id, true)
            .override_global(GLOBAL_CGROUP_PATH_OFF, &o.cgroup_path, true)
            .override_global(GLOBAL_EXIT_GROUP_DEAD_OFF, &o.exit_group_dead, true)
            .override_global(GLOBAL_TASK_PID_OFF, &o.task.pid, true)
            .override_global(GLOBAL_TASK_TGID_OFF, &o.task.tgid, true)
            .override_global(GLOBAL_TASK_REAL_PARENT_OFF, &o.task.real_parent, true)
            .override_global(GLOBAL_TASK_EXIT_CODE_OFF, &o.task.exit_code, true)
            .override_global(GLOBAL_TASK_CRED_OFF, &o.task.cred, true)
            .override_global(GLOBAL_CRED_EUID_OFF, &o.task.cred_euid, true)
            .override_global(
                GLOBAL_CRED_CAP_EFFECTIVE_OFF,
                &o.task.cred_cap_effective,
                true,
            )
            .override_global(GLOBAL_EXEC_OLD_PID_OFF, &o.exec_old_pid, true)
            .override_global(GLOBAL_SYS_EXIT_NR_OFF, &o.sys_exit_nr, true)
            .override_global(GLOBAL_SYS_EXIT_RET_OFF, &o.sys_exit_ret, true)
            .override_global(GLOBAL_NR_EXECVE, &nr_execve, true)
            .override_global(GLOBAL_NR_EXECVEAT, &nr_execveat, true)
            .override_global(GLOBAL_NR_SECCOMP, &nr_seccomp, true)
            .override_global(GLOBAL_NR_PRCTL, &nr_prctl, true)
            .override_global(GLOBAL_NR_EXECVE_COMPAT, &nr_execve_compat, true)
            .override_global(GLOBAL_NR_EXECVEAT_COMPAT, &nr_execveat_compat, true)
            .override_global(GLOBAL_TASK_TI_STATUS_OFF, &o.task.ti_status, true)
            .override_global(GLOBAL_TS_COMPAT, &ts_compat, true)
            .override_global(GLOBAL_TASK_SECCOMP_MODE_OFF, &o.task.seccomp_mode, true)
            .override_global(GLOBAL_TASK_START_TIME_OFF, &o.task.start_time, true)
            .override_global(GLOBAL_FLOOD_BUDGET, &cfg.flood_budget, true)
            .override_global(GLOBAL_WAKE_BYTES, &wake_bytes, true)
            .override_global(GLOBAL_LAZY_WAKE_NS, &lazy_wake_ns, true)
            .override_global(GLOBAL_TASK_MM_OFF, &o.task.exe[0], true)
            .override_global(GLOBAL_MM_EXE_FILE_OFF, &o.task.exe[1], true)
            .override_global(GLOBAL_TASK_FILES_OFF, &o.task.fds[0], true)
            .override_global(GLOBAL_FILES_FDT_OFF, &o.task.fds[1], true)
            .override_global(GLOBAL_FDT_FD_OFF, &o.task.fds[2], true)
            .override_global(GLOBAL_FDT_MAX_FDS_OFF, &o.task.fds[3], true)
            .override_global(GLOBAL_FILE_INODE_OFF, &o.task.exe[2], true)
            .override_global(GLOBAL_INODE_NLINK_OFF, &o.task.exe[3], true)
            .override_global(GLOBAL_FILE_DENTRY_OFF, &o.task.exe[4], true)
            .override_global(GLOBAL_DENTRY_NAME_OFF, &o.task.exe[5], true)
            .override_global(GLOBAL_TASK_THREAD_PID_OFF, &o.task.pid_level[0], true)
            .override_global(GLOBAL_PID_LEVEL_OFF, &o.task.pid_level[1], true)
            .override_global(GLOBAL_NS_OFFS, &o.task.namespaces, true)
            .override_global(GLOBAL_IOURING_OPCODE_OFF, &o.iouring_opcode, true)
            .override_global(GLOBAL_SELF_TGID, &self_tgid, true)
            .override_global(aya_log::LEVEL, &log_level, false)
            .map_max_entries(MAP_EVENTS, cfg.ring_buffer_bytes)
            .map_max_entries(MAP_PENDING, cfg.pending_capacity)
            .map_max_entries(MAP_UNPARKED, unparked_entries());
        if let Some(path) = &cfg.learned_pin {
            loader.map_pin_path(MAP_LEARNED, path.as_path());
        }
        let mut ebpf = loader.load(object).map_err(|source| ProbeError::Object {
            reason: explain(&source),
            source: Box::new(source),
        })?;
        let logger = match cfg.ebpf_log {
            None => None,
            Some(_) => match aya_log::EbpfLogger::init(&mut ebpf) {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!("kernel-side logging is unavailable: {e:#}");
                    None
                }
            },
        };
        let btf = aya::Btf::parse_file(&cfg.btf, aya::Endianness::default()).map_err(|e| {
            ProbeError::Btf {
                path: cfg.btf.clone(),
                source: Box::new(e),
            }
        })?;
        for spec in PROGRAMS {
            let prog = ebpf
                .program_mut(spec.name)
                .ok_or(ProbeError::MissingProgram(spec.name))?;
            let loaded = match spec.hook {
                Hook::RawTracepoint(_) => {
                    <&mut RawTracePoint>::try_from(prog).and_then(|p| p.load())
                }
                Hook::Tracepoint(..) | Hook::SyscallExits => {
                    <&mut TracePoint>::try_from(prog).and_then(|p| p.load())
                }
                Hook::BtfTracepoint(tp) => {
                    <&mut BtfTracePoint>::try_from(prog).and_then(|p| p.load(tp, &btf))
                }
            };
            loaded.map_err(|source| ProbeError::Load {
                program: spec.name,
                reason: explain(&source),
                source: Box::new(source),
            })?;
        }
        let loaded = Loaded {
            ebpf,
            exit_links: ExitLinks::new(),
            attached: Vec::new(),
            all_exits: false,
        };
        Ok(Self {
            loaded: Arc::new(Mutex::new(loaded)),
            logger,
            learn_gen: None,
        })
    }

    fn loaded(&self) -> MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The kernel-side logger, when `LoadConfig::ebpf_log` asked for one. Poll it to print.
    pub fn take_logger(&mut self) -> Option<aya_log::EbpfLogger<&'static dyn log::Log>> {
        self.logger.take()
    }

    /// The per-cgroup learned syscalls of one ABI (`MAP_LEARNED`: the native one).
    /// Each can be taken once.
    pub fn take_learned(&mut self, name: &'static str) -> Result<LearnedMap, ProbeError> {
        let map = self
            .loaded()
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::MissingMap(name))?;
        HashMap::try_from(map).map_err(|source| ProbeError::Map {
            map: name,
            source: Box::new(source),
        })
    }

    /// The learned maps of the other ABIs: the compat one (where the native ABI has one) and
    /// io_uring operations. Each can be taken once.
    pub fn take_other_learned(&mut self) -> Result<Vec<(Arch, LearnedMap)>, ProbeError> {
        let mut out = Vec::new();
        if let Some(compat) = Arch::NATIVE.compat() {
            out.push((compat, self.take_learned(MAP_LEARNED_COMPAT)?));
        }
        out.push((Arch::IoUring, self.take_learned(MAP_LEARNED_IOURING)?));
        Ok(out)
    }

    /// A second handle on the learned-syscalls map, to count its entries (map fill level).
    /// Take it before [`Probes::take_learned`].
    pub fn learned_counter(&self) -> Result<LearnedCounter, ProbeError> {
        let err = |source: aya::maps::MapError| ProbeError::Map {
            map: MAP_LEARNED,
            source: Box::new(source),
        };
        let loaded = self.loaded();
        let Some(aya::maps::Map::HashMap(data)) = loaded.ebpf.map(MAP_LEARNED) else {
            return Err(ProbeError::MissingMap(MAP_LEARNED));
        };
        let info = data.info().map_err(err)?;
        // A duplicate of our own fd: opening the map by id would need CAP_SYS_ADMIN.
        let fd = std::os::fd::AsFd::as_fd(data.fd())
            .try_clone_to_owned()
            .map_err(|e| {
                err(aya::maps::MapError::SyscallError(aya::sys::SyscallError {
                    call: "dup",
                    io_error: e,
                }))
            })?;
        let copy = MapData::from_fd(fd).map_err(err)?;
        let map = HashMap::try_from(aya::maps::Map::HashMap(copy)).map_err(err)?;
        Ok(LearnedCounter {
            map,
            capacity: u64::from(info.max_entries()),
        })
    }

    /// The maps a policy is written to, and the exit hooks it decides. Can be taken once.
    /// `tracefs` is where the per-syscall exit tracepoints are looked for.
    pub fn take_policy_maps(
        &mut self,
        tracefs: &Path,
        exit_mode: ExitMode,
    ) -> Result<PolicyMapHandles, ProbeError> {
        let forbidden = self.take_as(MAP_FORBIDDEN)?;
        let string_args = self.take_as(MAP_STRING_ARGS)?;
        let conditions = self.take_as(MAP_CONDITIONS)?;
        let exempt = self.take_as(MAP_EXEMPT)?;
        let hooked = self.take_as(MAP_EXIT_HOOKED)?;
        let unparked = self.take_as(MAP_UNPARKED)?;
        let learn_gen = self.learn_gen()?;
        let exits = ExitHooks::new(
            Arc::downgrade(&self.loaded),
            hooked,
            tracefs,
            exit_mode,
            Arch::NATIVE,
        );
        Ok(PolicyMapHandles {
            forbidden,
            string_args,
            conditions,
            exempt,
            exits,
            unparked,
            learn_gen,
        })
    }

    /// The learn generation, shared by whoever takes it.
    fn learn_gen(&mut self) -> Result<learn_gen::LearnGen, ProbeError> {
        if let Some(shared) = &self.learn_gen {
            return Ok(shared.clone());
        }
        let taken = learn_gen::LearnGen::new(
            self.take_as(MAP_LEARN_GEN)?,
            self.take_as(MAP_LEARN_COUNTS)?,
        );
        self.learn_gen = Some(taken.clone());
        Ok(taken)
    }

    /// Attaches every program but the exit side (see [`exits`]), in [`PROGRAMS`] order; an
    /// optional one whose hook this kernel lacks is skipped with a warning. Returns how many
    /// are attached.
    pub fn attach_all(&mut self) -> Result<usize, ProbeError> {
        let mut loaded = self.loaded();
        let Loaded { ebpf, attached, .. } = &mut *loaded;
        for spec in PROGRAMS.iter().filter(|p| !p.exit_side) {
            let prog = ebpf
                .program_mut(spec.name)
                .ok_or(ProbeError::MissingProgram(spec.name))?;
            let (hook, res) = match spec.hook {
                Hook::RawTracepoint(tp) => (
                    format!("raw_tp/{tp}"),
                    <&mut RawTracePoint>::try_from(prog).and_then(|p| p.attach(tp).map(drop)),
                ),
                Hook::Tracepoint(cat, name) => (
                    format!("tracepoint/{cat}/{name}"),
                    <&mut TracePoint>::try_from(prog).and_then(|p| p.attach(cat, name).map(drop)),
                ),
                Hook::BtfTracepoint(tp) => (
                    format!("tp_btf/{tp}"),
                    <&mut BtfTracePoint>::try_from(prog).and_then(|p| p.attach().map(drop)),
                ),
                // One attachment per syscall, made by `exits`.
                Hook::SyscallExits => continue,
            };
            match res {
                Ok(()) => tracing::debug!(program = spec.name, "attached"),
                Err(e) if spec.optional => {
                    tracing::warn!(
                        "{hook} is not available on this kernel ({}): what it watches is not \
                         seen",
                        explain(&e)
                    );
                    continue;
                }
                Err(source) => {
                    return Err(ProbeError::Attach {
                        program: spec.name,
                        reason: explain(&source),
                        hook,
                        source: Box::new(source),
                    });
                }
            }
            attached.push(format!("{}: {hook}", spec.name));
        }
        Ok(attached.len())
    }

    /// A view of what is attached, for Status.
    pub fn attached_view(&self) -> AttachedView {
        AttachedView(Arc::downgrade(&self.loaded))
    }

    /// The ring buffer every record goes through. Can be taken once.
    pub fn take_events(&mut self) -> Result<RingBuf<MapData>, ProbeError> {
        let map = self
            .loaded()
            .ebpf
            .take_map(MAP_EVENTS)
            .ok_or(ProbeError::MissingMap(MAP_EVENTS))?;
        RingBuf::try_from(map).map_err(|source| ProbeError::Map {
            map: MAP_EVENTS,
            source: Box::new(source),
        })
    }

    /// The flood-budget map (see [`crate::flood`]). Can be taken once.
    /// The bound profiles (drift) and the cgroups past their start-up, with the learn
    /// generation they share. Can be taken once.
    pub fn take_learn_maps(
        &mut self,
    ) -> Result<
        (
            crate::policy::bound::BoundMaps,
            crate::profile::steady::SteadyMaps,
        ),
        ProbeError,
    > {
        let bound = self.take_as(MAP_BOUND)?;
        let steady = self.take_as(MAP_STEADY)?;
        let generation = self.learn_gen()?;
        Ok((
            crate::policy::bound::BoundMaps::new(bound, generation.clone()),
            crate::profile::steady::SteadyMaps::new(steady, generation),
        ))
    }

    pub fn take_flood(&mut self) -> Result<crate::flood::FloodMap, ProbeError> {
        self.take_as(MAP_FLOOD)
    }

    /// Takes map `name` out of the loaded object as an aya map of type `T`.
    fn take_as<T>(&mut self, name: &'static str) -> Result<T, ProbeError>
    where
        T: TryFrom<aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self
            .loaded()
            .ebpf
            .take_map(name)
            .ok_or(ProbeError::MissingMap(name))?;
        T::try_from(map).map_err(|source| ProbeError::Map {
            map: name,
            source: Box::new(source),
        })
    }

    /// The kernel-side counters. Can be taken once.
    pub fn take_counters(&mut self) -> Result<KernelCounters, ProbeError> {
        let map = self
            .loaded()
            .ebpf
            .take_map(MAP_COUNTERS)
            .ok_or(ProbeError::MissingMap(MAP_COUNTERS))?;
        PerCpuArray::try_from(map)
            .map(KernelCounters)
            .map_err(|source| ProbeError::Map {
                map: MAP_COUNTERS,
                source: Box::new(source),
            })
    }
}

/// The maps a policy is written to, and the exit hooks it decides: what `policy::apply`
/// takes over (policy depends on probes, never the reverse).
pub struct PolicyMapHandles {
    pub forbidden: Array<MapData, u64>,
    pub string_args: Array<MapData, u16>,
    pub conditions: Array<MapData, sensor_common::ArgCondition>,
    pub exempt: HashMap<MapData, u64, crate::syscalls::SyscallBitmap>,
    pub exits: ExitHooks,
    /// Marks of threads inside a flagged call without a parked entry (`inflight.rs`).
    pub unparked: Array<MapData, [u8; 64]>,
    /// Bumped once the forbidden set is written: the learn cache holds no forbidden call.
    pub learn_gen: learn_gen::LearnGen,
}

impl Drop for Probes {
    /// Detaches the exit hooks side by side (see [`exits::detach_together`]); the rest goes
    /// with the object.
    fn drop(&mut self) {
        let links = std::mem::take(&mut self.loaded().exit_links);
        exits::detach_together(links.into_values().collect());
    }
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes").finish_non_exhaustive()
    }
}
