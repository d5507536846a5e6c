//! Execs: argv is read from user memory at `sys_enter` of execve/execveat (execsnoop's way,
//! since the new image's memory holds it no more) and parked by thread id. It is joined at
//! `tracepoint/sched/sched_process_exec` when the exec happens, or sent with the errno from
//! `sys_exit` when it fails.
use core::{ffi::c_void, mem::size_of};

use aya_ebpf::{
    EbpfContext as _,
    bindings::{BPF_ANY, BPF_NOEXIST},
    helpers::{
        bpf_get_current_task, bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes,
        bpf_probe_read_user, bpf_probe_read_user_str_bytes, generated,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use aya_log_ebpf::debug;
use sensor_common::{
    Counter, EXEC_ARGV_LEN, EXEC_FILENAME_LEN, EXEC_MAX_ARGS, ExecRecord, FLAG_ARGV_TRUNCATED,
    FLAG_ARGV_UNKNOWN, FLAG_COMPAT, FLAG_TRUNCATED, PHASE_FILTERED, PHASE_WORKLOAD, RecordKind,
};

use crate::{
    arch::{COMPAT_ARG_OFFSETS, SYSCALL_ARG_OFFSETS},
    learn::advance_phase,
    maps::{
        CRED_CAP_EFFECTIVE_OFF, CRED_EUID_OFF, DENTRY_NAME_OFF, EVENTS, EXEC_FILENAME_OFF,
        EXEC_OLD_PID_OFF, EXEC_PENDING, EXEC_SCRATCH, FDT_FD_OFF, FDT_MAX_FDS_OFF, FILE_DENTRY_OFF,
        FILE_INODE_OFF, FILES_FDT_OFF, INODE_NLINK_OFF, MM_EXE_FILE_OFF, PID_LEVEL_OFF,
        TASK_CRED_OFF, TASK_FILES_OFF, TASK_MM_OFF, TASK_THREAD_PID_OFF, count,
    },
    record::{fill_header, read_field},
};

/// Each argument is read into a window of this many bytes that starts before this offset,
/// so that the verifier sees every write inside `argv`.
const ARG_WINDOW: usize = EXEC_ARGV_LEN / 2;

const EEXIST: i32 = 17;

fn user_arg(regs: *const u8, offsets: &[usize; 6], i: usize) -> u64 {
    // SAFETY: the helper checks the address.
    unsafe { bpf_probe_read_kernel(regs.add(offsets[i]).cast::<u64>()) }.unwrap_or(0)
}

/// `sys_enter` of execve (filename, argv) or execveat (dirfd, filename, argv); a compat one
/// has its arguments in the compat registers and argv holds 32-bit pointers.
#[inline(always)]
pub fn exec_enter(regs: *const u8, execve: bool, compat: bool, tid: u32) {
    let (fname_arg, argv_arg) = if execve { (0, 1) } else { (1, 2) };
    let (offsets, ptr_mask) = if compat {
        (&COMPAT_ARG_OFFSETS, u64::from(u32::MAX))
    } else {
        (&SYSCALL_ARG_OFFSETS, u64::MAX)
    };
    let Some(a) = EXEC_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's scratch slot.
    let a = unsafe { &mut *a };
    a.flags = if compat { FLAG_COMPAT } else { 0 };
    a._pad = 0;
    let fname = (user_arg(regs, offsets, fname_arg) & ptr_mask) as *const u8;
    // SAFETY: user memory through the helper, bounded by the buffer.
    a.filename_len = match unsafe { bpf_probe_read_user_str_bytes(fname, &mut a.filename) } {
        Ok(s) => s.len() as u32,
        Err(_) => 0,
    };
    if a.filename_len as usize >= EXEC_FILENAME_LEN - 1 {
        a.flags |= FLAG_TRUNCATED;
    }
    let argv = (user_arg(regs, offsets, argv_arg) & ptr_mask) as *const u8;
    let ptr_size = if compat { 4 } else { 8 };
    let mut off = 0usize;
    let mut argc = 0u32;
    for i in 0..EXEC_MAX_ARGS {
        let slot = argv.wrapping_add(i as usize * ptr_size);
        // SAFETY: user memory through the helper.
        let arg = if compat {
            unsafe { bpf_probe_read_user(slot.cast::<u32>()) }.map(u64::from)
        } else {
            unsafe { bpf_probe_read_user(slot.cast::<u64>()) }
        };
        let Ok(arg) = arg else {
            break;
        };
        let arg = arg as *const u8;
        if arg.is_null() {
            break;
        }
        if off >= ARG_WINDOW {
            a.flags |= FLAG_ARGV_TRUNCATED;
            break;
        }
        // SAFETY: the destination window [off, off + ARG_WINDOW) lies inside `argv`.
        let n = unsafe {
            generated::bpf_probe_read_user_str(
                a.argv
                    .as_mut_ptr()
                    .add(off & (ARG_WINDOW - 1))
                    .cast::<c_void>(),
                ARG_WINDOW as u32,
                arg.cast::<c_void>(),
            )
        };
        if n <= 0 {
            break;
        }
        if n as usize == ARG_WINDOW {
            a.flags |= FLAG_ARGV_TRUNCATED;
        }
        off += n as usize;
        argc += 1;
        if i == EXEC_MAX_ARGS - 1 {
            a.flags |= FLAG_ARGV_TRUNCATED;
        }
    }
    a.argv_len = off as u32;
    a.argc = argc;
    match EXEC_PENDING.insert(&tid, &*a, u64::from(BPF_NOEXIST)) {
        Ok(()) => {}
        // An older exec of this thread that neither happened nor failed in our sight.
        Err(e) if e == -EEXIST => {
            count(Counter::ExecPendingStale);
            if EXEC_PENDING.insert(&tid, &*a, u64::from(BPF_ANY)).is_err() {
                count(Counter::ExecPendingFull);
            }
        }
        // Its record will say that argv is unknown.
        Err(_) => count(Counter::ExecPendingFull),
    }
}

/// Copies the parked argv into `rec`, or leaves it empty and says it is unknown.
#[inline(always)]
fn take_args(rec: &mut ExecRecord, tid: u32) -> u16 {
    rec.argv_len = 0;
    rec.argc = 0;
    let Some(a) = EXEC_PENDING.get_ptr(&tid) else {
        // Not parked (no room, or the exec began before the sensor did).
        return FLAG_ARGV_UNKNOWN;
    };
    // SAFETY: the map value stays valid while we copy (our own thread's entry).
    let a = unsafe { &*a };
    let copied = unsafe {
        generated::bpf_probe_read_kernel(
            rec.argv.as_mut_ptr().cast::<c_void>(),
            EXEC_ARGV_LEN as u32,
            a.argv.as_ptr().cast::<c_void>(),
        )
    };
    let mut flags = a.flags & (FLAG_ARGV_TRUNCATED | FLAG_COMPAT);
    if copied == 0 {
        rec.argv_len = a.argv_len.min(EXEC_ARGV_LEN as u32);
        rec.argc = a.argc;
    } else {
        flags |= FLAG_ARGV_UNKNOWN;
    }
    let _ = EXEC_PENDING.remove(&tid);
    flags
}

/// The effective uid and capabilities the process now runs with (`current->cred`).
#[inline(always)]
fn fill_privileges(rec: &mut ExecRecord) {
    // SAFETY: no arguments.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let cred: Option<*const u8> = read_field(task, TASK_CRED_OFF.load());
    rec.cap_effective = cred
        .and_then(|c| read_field::<u64>(c, CRED_CAP_EFFECTIVE_OFF.load()))
        .unwrap_or(0);
    rec.euid = cred
        .and_then(|c| read_field::<u32>(c, CRED_EUID_OFF.load()))
        .unwrap_or(u32::MAX);
}

/// The executed file: its link count (0: no name on any filesystem, as a memfd) and its
/// dentry name. Decided from the file, not from the path the caller passed: the file the
/// process now runs (`current->mm->exe_file`); but when that has a name on disk and the exec
/// was of an open file by number (`/dev/fd/N`, the kernel's own name for `execveat(fd, "",
/// AT_EMPTY_PATH)`, or `/proc/self/fd/N`) that has none, that file: a script, whose
/// interpreter the process runs and reads the script from that fd.
#[inline(always)]
fn fill_exe_file(rec: &mut ExecRecord) {
    rec.exe_nlink = u32::MAX;
    rec.exe_name_len = 0;
    // SAFETY: no arguments.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let exe = read_field::<*const u8>(task, TASK_MM_OFF.load())
        .and_then(|mm| read_field::<*const u8>(mm, MM_EXE_FILE_OFF.load()));
    let exe_nlink = exe.and_then(link_count);
    if exe_nlink != Some(0) {
        let fd = fd_in_path(&rec.filename);
        if let Some(script) = open_file(task, fd) {
            if link_count(script) == Some(0) {
                describe(rec, script, Some(0));
                return;
            }
        }
    }
    if let Some(exe) = exe {
        describe(rec, exe, exe_nlink);
    }
    rec.pid_ns_level = u32::MAX;
    if rec.exe_nlink == 0 {
        // Only for a file with no name: runc's memfd re-exec is told from a lookalike by it.
        rec.pid_ns_level = read_field::<*const u8>(task, TASK_THREAD_PID_OFF.load())
            .and_then(|pid| read_field::<u32>(pid, PID_LEVEL_OFF.load()))
            .unwrap_or(u32::MAX);
    }
}

/// Fills the executed file's link count and dentry name.
#[inline(always)]
fn describe(rec: &mut ExecRecord, file: *const u8, nlink: Option<u32>) {
    if let Some(n) = nlink {
        rec.exe_nlink = n;
    }
    let name = read_field::<*const u8>(file, FILE_DENTRY_OFF.load())
        .and_then(|d| read_field::<*const u8>(d, DENTRY_NAME_OFF.load()));
    if let Some(name) = name {
        // SAFETY: kernel memory through the helper, bounded by the buffer.
        if let Ok(s) = unsafe { bpf_probe_read_kernel_str_bytes(name, &mut rec.exe_name) } {
            rec.exe_name_len = s.len() as u32;
        }
    }
}

/// `file->f_inode->i_nlink`.
#[inline(always)]
fn link_count(file: *const u8) -> Option<u32> {
    read_field::<*const u8>(file, FILE_INODE_OFF.load())
        .and_then(|inode| read_field::<u32>(inode, INODE_NLINK_OFF.load()))
}

/// N of a path `/dev/fd/N` or `/proc/self/fd/N` (NUL-terminated in `name`), else
/// `u32::MAX`. (A function of its own: inlined, LLVM let an undefined register reach the
/// verifier on one of its paths.)
#[inline(never)]
fn fd_in_path(name: &[u8; EXEC_FILENAME_LEN]) -> u32 {
    const DEV_FD: &[u8; 8] = b"/dev/fd/";
    const PROC_SELF_FD: &[u8; 14] = b"/proc/self/fd/";
    let start = if name[..DEV_FD.len()] == *DEV_FD {
        DEV_FD.len()
    } else if name[..PROC_SELF_FD.len()] == *PROC_SELF_FD {
        PROC_SELF_FD.len()
    } else {
        return u32::MAX;
    };
    let mut fd: u32 = 0;
    for i in 0..8 {
        let c = name[start + i];
        if c == 0 {
            return if i > 0 { fd } else { u32::MAX };
        }
        if !c.is_ascii_digit() {
            return u32::MAX; // `/dev/fd/N/name`: a file under a directory fd, opened by name
        }
        fd = fd * 10 + u32::from(c - b'0');
    }
    u32::MAX
}

/// The file open as `fd` in `task` (`task->files->fdt->fd[fd]`), if any (none for
/// `u32::MAX`).
#[inline(always)]
fn open_file(task: *const u8, fd: u32) -> Option<*const u8> {
    if fd == u32::MAX {
        return None;
    }
    let fdt = read_field::<*const u8>(task, TASK_FILES_OFF.load())
        .and_then(|files| read_field::<*const u8>(files, FILES_FDT_OFF.load()))?;
    let max = read_field::<u32>(fdt, FDT_MAX_FDS_OFF.load())?;
    if fd >= max {
        return None;
    }
    let table = read_field::<*const u8>(fdt, FDT_FD_OFF.load())?;
    let file = read_field::<*const u8>(table, fd.checked_mul(8)?)?;
    (!file.is_null()).then_some(file)
}

/// The parts every exec record shares: the parked argv, the privileges, the header.
#[inline(always)]
fn complete(rec: &mut ExecRecord, tid: u32, flags: u16) {
    let flags = flags | take_args(rec, tid);
    fill_privileges(rec);
    fill_header(
        &mut rec.header,
        RecordKind::Exec,
        size_of::<ExecRecord>(),
        flags,
    );
}

/// `sys_exit` of execve/execveat: a failure is an exec event with its errno.
#[inline(always)]
pub fn exec_exit(ret: i64, tid: u32) {
    if ret >= 0 {
        let _ = EXEC_PENDING.remove(&tid); // normally consumed at sched_process_exec already
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<ExecRecord>(0) else {
        count(Counter::RingbufFullExec);
        crate::flood::lost(sensor_common::LOST_KEY_EXEC);
        let _ = EXEC_PENDING.remove(&tid);
        return;
    };
    // SAFETY: a reserved entry of exactly size_of::<ExecRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.errno = (-ret) as i32;
    rec.filename_len = 0;
    // The exec failed: the process still runs its old file, which says nothing.
    rec.exe_nlink = u32::MAX;
    rec.exe_name_len = 0;
    let mut flags = 0;
    if let Some(a) = EXEC_PENDING.get_ptr(&tid) {
        // SAFETY: as in take_args.
        let a = unsafe { &*a };
        let copied = unsafe {
            generated::bpf_probe_read_kernel(
                rec.filename.as_mut_ptr().cast::<c_void>(),
                EXEC_FILENAME_LEN as u32,
                a.filename.as_ptr().cast::<c_void>(),
            )
        };
        if copied == 0 {
            rec.filename_len = a.filename_len.min(EXEC_FILENAME_LEN as u32);
            flags = a.flags & (FLAG_TRUNCATED | FLAG_COMPAT);
        }
    }
    complete(rec, tid, flags);
    let now = rec.header.ktime_ns;
    entry.submit(crate::record::lazy_wakeup(now));
}

#[tracepoint(category = "sched", name = "sched_process_exec")]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    if try_sched_process_exec(&ctx).is_err() {
        count(Counter::ReadError);
        debug!(&ctx, "sched_process_exec: cannot read the record's fields");
    }
    0
}

#[inline(always)]
fn try_sched_process_exec(ctx: &TracePointContext) -> Result<(), i32> {
    // The exec after the runtime's seccomp filter starts the workload (whether or not its
    // record finds room).
    advance_phase(PHASE_FILTERED, PHASE_WORKLOAD);
    // `__data_loc char[] filename`: low 16 bits offset in the record, high 16 bits length
    // (with the NUL). The fields' own offsets come from the tracefs format file.
    // SAFETY: read through bpf_probe_read_kernel.
    let loc: u32 = unsafe { ctx.read_at(EXEC_FILENAME_OFF.load() as usize)? };
    // The thread that called execve (a non-leader thread takes over the leader's pid).
    let old_tid: i32 = unsafe { ctx.read_at(EXEC_OLD_PID_OFF.load() as usize)? };
    let Some(mut entry) = EVENTS.reserve::<ExecRecord>(0) else {
        count(Counter::RingbufFullExec);
        crate::flood::lost(sensor_common::LOST_KEY_EXEC);
        let _ = EXEC_PENDING.remove(&(old_tid as u32));
        return Ok(());
    };
    // SAFETY: `entry` is a reserved entry of exactly size_of::<ExecRecord>() bytes.
    let rec = unsafe { &mut *entry.as_mut_ptr() };
    rec.errno = 0;
    let flags = if (loc >> 16) as usize > EXEC_FILENAME_LEN {
        FLAG_TRUNCATED
    } else {
        0
    };
    // SAFETY: the source is inside the tracepoint record; the helper bounds the copy.
    let src = unsafe { ctx.as_ptr().cast::<u8>().add((loc & 0xffff) as usize) };
    rec.filename_len = match unsafe { bpf_probe_read_kernel_str_bytes(src, &mut rec.filename) } {
        Ok(s) => s.len() as u32,
        Err(_) => {
            count(Counter::ReadError);
            0
        }
    };
    complete(rec, old_tid as u32, flags);
    fill_exe_file(rec);
    let now = rec.header.ktime_ns;
    entry.submit(crate::record::lazy_wakeup(now));
    Ok(())
}
