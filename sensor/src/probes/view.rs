//! What is loaded and attached, and what the kernel counted for each program: read for
//! `Status` and the metrics while the sensor runs.
use std::sync::{Mutex, PoisonError};

use sensor_common::{PROGRAM_SYS_EXIT, PROGRAM_SYS_EXIT_CALL};

use super::Loaded;

/// What is attached now, for Status: asks the loaded object each time, so exit hooks that a
/// policy reload added or removed are counted as they are.
#[derive(Clone)]
pub struct AttachedView(pub(super) std::sync::Weak<Mutex<Loaded>>);

impl std::fmt::Debug for AttachedView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.programs()).finish()
    }
}

/// What the kernel counted for one of our programs while `kernel.bpf_stats_enabled` was on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub program: &'static str,
    /// Time spent running it, in nanoseconds.
    pub run_ns: u64,
    pub runs: u64,
}

impl AttachedView {
    /// The kernel's run-time statistics of each loaded program (zero while
    /// `kernel.bpf_stats_enabled` is off: the kernel only counts with it on).
    pub fn run_stats(&self) -> Vec<RunStats> {
        let Some(loaded) = self.0.upgrade() else {
            return Vec::new();
        };
        let l = loaded.lock().unwrap_or_else(PoisonError::into_inner);
        sensor_common::PROGRAMS
            .iter()
            .filter_map(|spec| {
                let info = l.ebpf.program(spec.name)?.info().ok()?;
                Some(RunStats {
                    program: spec.name,
                    run_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
                    runs: info.run_count(),
                })
            })
            .collect()
    }

    /// `name: hook` of every attached program; the per-syscall exit program once, with the
    /// number of syscall exits it is on.
    pub fn programs(&self) -> Vec<String> {
        let Some(loaded) = self.0.upgrade() else {
            return Vec::new();
        };
        let l = loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = l.attached.clone();
        if l.all_exits {
            out.push(format!(
                "{PROGRAM_SYS_EXIT}: tp_btf/sys_exit (every syscall)"
            ));
        }
        if !l.exit_links.is_empty() {
            out.push(format!(
                "{PROGRAM_SYS_EXIT_CALL}: tracepoint/syscalls/sys_exit_* ({} syscalls)",
                l.exit_links.len()
            ));
        }
        out
    }
}
