//! Every layout fact the eBPF programs are given at load: tracepoint field offsets from the
//! tracefs format files, and `task_struct` field offsets from the kernel's BTF. Nothing about
//! either is assumed at build time.
use std::path::Path;

use anyhow::Context as _;
use sensor_common::OFFSET_UNKNOWN;

use crate::{
    kernel_btf::{self, TaskOffsets},
    tracefs::{Tracefs, format},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offsets {
    /// `filename` and `old_pid` in sched_process_exec.
    pub exec_filename: u32,
    pub exec_old_pid: u32,
    /// `root`, `id`, `path` in cgroup_mkdir (and cgroup_rmdir, which must agree).
    pub cgroup_root: u32,
    pub cgroup_id: u32,
    pub cgroup_path: u32,
    /// `group_dead` in sched_process_exit, or OFFSET_UNKNOWN on kernels without it.
    pub exit_group_dead: u32,
    /// `__syscall_nr` and `ret` in the syscalls/sys_exit_* records (every one has this
    /// layout); the usual ones when this kernel has no such tracepoints.
    pub sys_exit_nr: u32,
    pub sys_exit_ret: u32,
    /// `opcode` in io_uring/io_uring_submit_req, or OFFSET_UNKNOWN on kernels without it.
    pub iouring_opcode: u32,
    pub task: TaskOffsets,
}

fn cgroup_fields(tracefs: &Tracefs, name: &str) -> anyhow::Result<(u32, u32, u32)> {
    let f = tracefs.format("cgroup", name)?;
    let ctx = || format!("tracepoint cgroup/{name} has an unexpected layout");
    Ok((
        format::offset(&f, "root", 4).with_context(ctx)?,
        format::offset(&f, "id", 8).with_context(ctx)?,
        format::data_loc_offset(&f, "path").with_context(ctx)?,
    ))
}

/// Reads every offset. A missing tracepoint field is an error (the program would misread);
/// missing BTF only turns off what needs it (ppid in the kernel, fork events, exit codes).
pub fn discover(tracefs: &Tracefs, btf: &Path) -> anyhow::Result<Offsets> {
    let exec = tracefs.format("sched", "sched_process_exec")?;
    let exec_ctx = "tracepoint sched/sched_process_exec has an unexpected layout";
    let exec_filename = format::data_loc_offset(&exec, "filename").context(exec_ctx)?;
    let exec_old_pid = format::offset(&exec, "old_pid", 4).context(exec_ctx)?;
    let (cgroup_root, cgroup_id, cgroup_path) = cgroup_fields(tracefs, "cgroup_mkdir")?;
    if cgroup_fields(tracefs, "cgroup_rmdir")? != (cgroup_root, cgroup_id, cgroup_path) {
        anyhow::bail!("tracepoints cgroup/cgroup_mkdir and cgroup_rmdir have different layouts");
    }
    let exit = tracefs.format("sched", "sched_process_exit")?;
    let exit_group_dead = format::offset(&exit, "group_dead", 1).unwrap_or(OFFSET_UNKNOWN);
    let (sys_exit_nr, sys_exit_ret) = match tracefs.format("syscalls", "sys_exit_execve") {
        Ok(f) => {
            let ctx = "tracepoint syscalls/sys_exit_execve has an unexpected layout";
            (
                format::offset(&f, "__syscall_nr", 4).context(ctx)?,
                format::offset(&f, "ret", 8).context(ctx)?,
            )
        }
        Err(_) => (8, 16), // unused: every exit is hooked at raw sys_exit instead
    };
    let iouring_opcode = match tracefs.format("io_uring", "io_uring_submit_req") {
        Ok(f) => format::offset(&f, "opcode", 1)
            .context("tracepoint io_uring/io_uring_submit_req has an unexpected layout")?,
        Err(_) => OFFSET_UNKNOWN, // no io_uring here: nothing to see
    };
    let task = kernel_btf::task_offsets(btf).unwrap_or_else(|e| {
        tracing::warn!(
            "{e}: parent pids come from /proc only, and fork events and exit codes are off"
        );
        TaskOffsets::UNKNOWN
    });
    Ok(Offsets {
        exec_filename,
        exec_old_pid,
        cgroup_root,
        cgroup_id,
        cgroup_path,
        exit_group_dead,
        sys_exit_nr,
        sys_exit_ret,
        iouring_opcode,
        task,
    })
}
