//! Which syscalls' exits run a program of ours, decided again at every policy change.
//!
//! A hook on every syscall's exit costs every syscall on the node about as much as the entry
//! hook does, yet only forbidden calls (for their outcome) and execs (for their failures) need
//! their exit. So by default the exit program is attached to the per-syscall tracepoints
//! `syscalls/sys_exit_<name>` of those calls only: the kernel tests one bit for the others.
//! A forbidden syscall without such a tracepoint on this kernel (one it does not implement) is
//! reported at entry, without its outcome. `--exit-hook all` hooks every exit instead.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Mutex, PoisonError, Weak},
};

use aya::{
    Ebpf,
    maps::{Array, MapData},
    programs::{BtfTracePoint, TracePoint, trace_point::TracePointLink},
};
use sensor_common::{ABI_NRS, FORBIDDEN_WORDS, PROGRAM_SYS_EXIT, PROGRAM_SYS_EXIT_CALL};

use super::{Loaded, ProbeError, explain};
use crate::{
    syscalls::{self, Arch},
    syscalls::{SyscallBitmap, contains},
};

/// How flagged calls get their outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExitMode {
    /// Hook the exits of forbidden calls and execs only, each on its own tracepoint.
    #[default]
    PerSyscall,
    /// Hook every syscall's exit: also sees seccomp refusals of calls this kernel has no
    /// per-syscall tracepoint for, at a cost to every syscall on the node.
    All,
}

/// Syscalls whose kernel definition (and so tracepoint) has another name than the table's.
const EVENT_NAMES: &[(&str, &str)] = &[
    ("umount2", "umount"),
    ("stat", "newstat"),
    ("lstat", "newlstat"),
    ("fstat", "newfstat"),
    ("fstatat", "newfstatat"),
    ("uname", "newuname"),
    ("sendfile", "sendfile64"),
];

/// The per-syscall exit tracepoint of syscall `name`.
pub fn exit_event(name: &str) -> String {
    let kernel = EVENT_NAMES
        .iter()
        .find(|(table, _)| *table == name)
        .map_or(name, |(_, kernel)| kernel);
    format!("sys_exit_{kernel}")
}

/// The per-syscall exit hooks attached now, by syscall number. They live next to the loaded
/// object, which detaches them all at once when it goes.
pub(super) type ExitLinks = BTreeMap<u64, TracePointLink>;

pub struct ExitHooks {
    loaded: Weak<Mutex<Loaded>>,
    hooked: Array<MapData, u64>,
    mode: ExitMode,
    /// `<tracefs>/events/syscalls`.
    events: PathBuf,
    arch: Arch,
    all_attached: bool,
}

impl ExitHooks {
    /// `mode` falls back to [`ExitMode::All`] when this kernel has no per-syscall exit
    /// tracepoints for execs (a kernel built without CONFIG_FTRACE_SYSCALLS).
    pub(super) fn new(
        loaded: Weak<Mutex<Loaded>>,
        hooked: Array<MapData, u64>,
        tracefs: &Path,
        mode: ExitMode,
        arch: Arch,
    ) -> Self {
        let events = tracefs.join("events").join("syscalls");
        let mut hooks = Self {
            loaded,
            hooked,
            mode,
            events,
            arch,
            all_attached: false,
        };
        if mode == ExitMode::PerSyscall
            && let Some(missing) = ["execve", "execveat"]
                .into_iter()
                .find(|name| !hooks.has_event(&exit_event(name)))
        {
            tracing::warn!(
                "this kernel has no tracepoint {}/{}: hooking every syscall's exit instead \
                 (as --exit-hook all), which costs every syscall on the node more",
                hooks.events.display(),
                exit_event(missing)
            );
            hooks.mode = ExitMode::All;
        }
        hooks
    }

    /// Does this kernel have the tracepoint `syscalls/<event>`?
    fn has_event(&self, event: &str) -> bool {
        self.events.join(event).join("id").is_file()
    }

    /// Hooks the exit of every call in `forbidden`, and of execve and execveat; unhooks the
    /// rest. New hooks are in place before the kernel is told to wait for them, and old ones
    /// go after it stops (in the background: see [`detach_together`]). Calls that cannot be
    /// hooked are returned; they are reported at entry.
    pub fn sync(&mut self, forbidden: &SyscallBitmap) -> Result<Vec<&'static str>, ProbeError> {
        let Some(loaded) = self.loaded.upgrade() else {
            return Ok(Vec::new()); // shutting down: everything is detached already
        };
        let mut loaded = loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let Loaded {
            ebpf,
            exit_links,
            all_exits,
            ..
        } = &mut *loaded;
        if self.mode == ExitMode::All {
            if !self.all_attached {
                attach_all_exits(ebpf)?;
                self.all_attached = true;
                *all_exits = true;
            }
            self.write_bitmap(&[u64::MAX; FORBIDDEN_WORDS as usize])?;
            return Ok(Vec::new());
        }
        let started = std::time::Instant::now();
        let wanted = self.wanted(forbidden);
        let prog = tracepoint_program(ebpf)?;
        let mut unhooked = Vec::new();
        for (&nr, &name) in &wanted {
            if exit_links.contains_key(&nr) {
                continue;
            }
            let event = exit_event(name);
            if !self.has_event(&event) {
                unhooked.push(name);
                continue;
            }
            match prog
                .attach("syscalls", &event)
                .and_then(|id| prog.take_link(id))
            {
                Ok(link) => {
                    exit_links.insert(nr, link);
                }
                Err(e) => {
                    tracing::warn!(
                        "attaching {PROGRAM_SYS_EXIT_CALL} to syscalls/{event} failed: {}; \
                         {name} calls are reported without their outcome",
                        explain(&e)
                    );
                    unhooked.push(name);
                }
            }
        }
        let mut bitmap = [0u64; FORBIDDEN_WORDS as usize];
        for &nr in exit_links.keys().filter(|nr| wanted.contains_key(nr)) {
            bitmap[(nr / 64) as usize] |= 1 << (nr % 64);
        }
        self.write_bitmap(&bitmap)?;
        let stale: Vec<TracePointLink> = exit_links
            .extract_if(.., |nr, _| !wanted.contains_key(nr))
            .map(|(_, link)| link)
            .collect();
        if !stale.is_empty() {
            let detach = move || detach_together(stale);
            if let Err(e) = std::thread::Builder::new()
                .name("exit-unhook".into())
                .spawn(detach)
            {
                // The closure came back with the links and was dropped: detached here.
                tracing::warn!("old exit hooks detached in place (no background thread: {e})");
            }
        }
        tracing::debug!(
            hooked = exit_links.len(),
            took_ms = started.elapsed().as_millis() as u64,
            "exit hooks on their own tracepoints"
        );
        Ok(unhooked)
    }

    /// The forbidden native calls and the execs, by number, with their table names (the
    /// kernel's per-syscall exit tracepoints skip compat calls: none is hooked for them).
    fn wanted(&self, forbidden: &SyscallBitmap) -> BTreeMap<u64, &'static str> {
        let execs = ["execve", "execveat"]
            .into_iter()
            .filter_map(|n| syscalls::number(self.arch, n));
        (0..ABI_NRS)
            .filter(|&nr| contains(forbidden, nr))
            .chain(execs)
            .filter_map(|nr| Some((nr, syscalls::name(self.arch, nr)?)))
            .collect()
    }

    fn write_bitmap(&mut self, bitmap: &SyscallBitmap) -> Result<(), ProbeError> {
        for (i, w) in bitmap.iter().enumerate() {
            self.hooked
                .set(i as u32, w, 0)
                .map_err(|source| ProbeError::Map {
                    map: sensor_common::MAP_EXIT_HOOKED,
                    source: Box::new(source),
                })?;
        }
        Ok(())
    }
}

/// Detaches `links`, many at a time. Detaching a syscall tracepoint waits for the kernel's
/// grace periods, partly under a kernel-wide lock: measured here, 50 of them took 3.8 s one
/// after another and 2.1 s side by side.
pub(super) fn detach_together(links: Vec<TracePointLink>) {
    const THREADS: usize = 32;
    let per_thread = links.len().div_ceil(THREADS).max(1);
    let mut links = links;
    std::thread::scope(|s| {
        while !links.is_empty() {
            let batch: Vec<TracePointLink> = links.drain(..per_thread.min(links.len())).collect();
            if let Err(e) = std::thread::Builder::new().spawn_scoped(s, move || drop(batch)) {
                tracing::debug!("detaching exit hooks on this thread: {e}");
            }
        }
    });
}

fn tracepoint_program(ebpf: &mut Ebpf) -> Result<&mut TracePoint, ProbeError> {
    let prog = ebpf
        .program_mut(PROGRAM_SYS_EXIT_CALL)
        .ok_or(ProbeError::MissingProgram(PROGRAM_SYS_EXIT_CALL))?;
    <&mut TracePoint>::try_from(prog).map_err(|source| ProbeError::Load {
        program: PROGRAM_SYS_EXIT_CALL,
        reason: explain(&source),
        source: Box::new(source),
    })
}

/// Attaches the program that runs at every syscall's exit.
fn attach_all_exits(ebpf: &mut Ebpf) -> Result<(), ProbeError> {
    let prog = ebpf
        .program_mut(PROGRAM_SYS_EXIT)
        .ok_or(ProbeError::MissingProgram(PROGRAM_SYS_EXIT))?;
    <&mut BtfTracePoint>::try_from(prog)
        .and_then(|p| p.attach().map(drop))
        .map_err(|source| ProbeError::Attach {
            program: PROGRAM_SYS_EXIT,
            hook: "tp_btf/sys_exit".to_owned(),
            reason: explain(&source),
            source: Box::new(source),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracepoints_are_named_as_the_kernel_defines_the_call() {
        assert_eq!(exit_event("mount"), "sys_exit_mount");
        assert_eq!(exit_event("umount2"), "sys_exit_umount");
        assert_eq!(exit_event("uname"), "sys_exit_newuname");
    }
}
