//! Field offsets of kernel structs, read from the running kernel's BTF at start and handed to
//! the eBPF programs as globals. Rust eBPF has no CO-RE; this is the same idea done in
//! userspace: nothing about `task_struct` is assumed at build time.
use std::path::Path;

use btf_rs::{Backend, Btf, Struct, Type};
use sensor_common::{NS_OFFS_LEN, NSPROXY_NAMESPACES};

/// The default place of the kernel's BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Offsets (in bytes) of the `task_struct` fields the programs read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskOffsets {
    pub pid: u32,
    pub tgid: u32,
    pub real_parent: u32,
    pub exit_code: u32,
    pub cred: u32,
    /// Offsets in `struct cred`.
    pub cred_euid: u32,
    pub cred_cap_effective: u32,
    /// `thread_info.status` inside task_struct (x86: its `TS_COMPAT` bit says the current
    /// syscall is a compat one); `u32::MAX` where the kernel has no such field.
    pub ti_status: u32,
    /// `seccomp.mode` inside task_struct (2: the thread runs under a filter); `u32::MAX`
    /// where unknown (an exit without an entry is then never called "blocked").
    pub seccomp_mode: u32,
    /// `start_time` (u64 ns): with the task's address, it names a task for good (an address
    /// is reused, a start time with it is not); keys each CPU's learn cache. `u32::MAX`
    /// where unknown (the cache is then keyed by the cgroup id alone).
    pub start_time: u32,
    /// The path to the executed file: `task_struct.mm`, `mm_struct.exe_file`,
    /// `file.f_inode`, `inode.i_nlink`, `file.f_path.dentry`, `dentry.d_name.name`
    /// (`u32::MAX` each where the kernel has no such field).
    pub exe: [u32; 6],
    /// The path to an open file by number: `task_struct.files`, `files_struct.fdt`,
    /// `fdtable.fd`, `fdtable.max_fds` (`u32::MAX` each where unknown).
    pub fds: [u32; 4],
    /// The path to the task's pid namespace level: `task_struct.thread_pid`, `pid.level`
    /// (`u32::MAX` each where unknown).
    pub pid_level: [u32; 2],
    /// See `sensor_common::GLOBAL_NS_OFFS`.
    pub namespaces: [u32; NS_OFFS_LEN],
}

impl TaskOffsets {
    /// Tells the programs that the offsets are unknown: they then skip what needs them.
    pub const UNKNOWN: TaskOffsets = TaskOffsets {
        pid: u32::MAX,
        tgid: u32::MAX,
        real_parent: u32::MAX,
        exit_code: u32::MAX,
        cred: u32::MAX,
        cred_euid: u32::MAX,
        cred_cap_effective: u32::MAX,
        ti_status: u32::MAX,
        seccomp_mode: u32::MAX,
        start_time: u32::MAX,
        exe: [u32::MAX; 6],
        fds: [u32::MAX; 4],
        pid_level: [u32::MAX; 2],
        namespaces: [u32::MAX; NS_OFFS_LEN],
    };
}

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("reading kernel BTF from {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("kernel BTF has no struct {0}")]
    NoStruct(&'static str),
    #[error("kernel BTF: struct {strukt} has no field {field}")]
    NoField {
        strukt: &'static str,
        field: &'static str,
    },
}

/// Finds `field` in `s`, looking into anonymous struct and union members (task_struct keeps
/// most fields in an anonymous struct when its layout is randomised). Returns bits.
fn find(btf: &Btf, s: &Struct, field: &str, base_bits: u32) -> Option<u32> {
    for m in &s.members {
        let name = btf.resolve_name(m).unwrap_or_default();
        let off = base_bits + m.bit_offset();
        if name == field {
            return Some(off);
        }
        if name.is_empty()
            && let Ok(Type::Struct(inner) | Type::Union(inner)) = btf.resolve_chained_type(m)
            && let Some(found) = find(btf, &inner, field, off)
        {
            return Some(found);
        }
    }
    None
}

fn offset(btf: &Btf, strukt: &'static str, field: &'static str) -> Result<u32, BtfError> {
    let types = btf
        .resolve_types_by_name(strukt)
        .map_err(|_| BtfError::NoStruct(strukt))?;
    let s = types
        .iter()
        .find_map(|t| match t {
            Type::Struct(s) => Some(s),
            _ => None,
        })
        .ok_or(BtfError::NoStruct(strukt))?;
    let bits = find(btf, s, field, 0).ok_or(BtfError::NoField { strukt, field })?;
    Ok(bits / 8)
}

/// Opens the BTF at `path` without parsing all of it: the few structs needed are looked up by
/// name in the mapped file. Parsing every type first (btf-rs's default) took a third of the
/// start-up's CPU, with one `lseek` per field read. Where the file cannot be mapped (sysfs
/// allows it since Linux 6.16), it is read whole and parsed from memory.
fn open(path: &Path) -> Result<Btf, BtfError> {
    let read_error = |e: &dyn std::fmt::Display| BtfError::Read {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    match Btf::from_file_with_backend(path, Backend::Mmap) {
        Ok(btf) => Ok(btf),
        Err(mapped) => {
            tracing::debug!(path = %path.display(), "BTF not mapped ({mapped}): reading it whole");
            let bytes = std::fs::read(path).map_err(|e| read_error(&e))?;
            Btf::from_bytes(&bytes).map_err(|e| read_error(&e))
        }
    }
}

/// Reads the `task_struct` offsets from the BTF file at `path`.
pub fn task_offsets(path: &Path) -> Result<TaskOffsets, BtfError> {
    offsets_in(&open(path)?)
}

fn offsets_in(btf: &Btf) -> Result<TaskOffsets, BtfError> {
    Ok(TaskOffsets {
        pid: offset(btf, "task_struct", "pid")?,
        tgid: offset(btf, "task_struct", "tgid")?,
        real_parent: offset(btf, "task_struct", "real_parent")?,
        exit_code: offset(btf, "task_struct", "exit_code")?,
        cred: offset(btf, "task_struct", "cred")?,
        cred_euid: offset(btf, "cred", "euid")?,
        cred_cap_effective: offset(btf, "cred", "cap_effective")?,
        ti_status: offset(btf, "task_struct", "thread_info")
            .and_then(|ti| Ok(ti + offset(btf, "thread_info", "status")?))
            .unwrap_or(u32::MAX),
        seccomp_mode: offset(btf, "task_struct", "seccomp")
            .and_then(|s| Ok(s + offset(btf, "seccomp", "mode")?))
            .unwrap_or(u32::MAX),
        start_time: offset(btf, "task_struct", "start_time").unwrap_or(u32::MAX),
        exe: exe_offsets(btf).unwrap_or([u32::MAX; 6]),
        fds: fd_offsets(btf).unwrap_or([u32::MAX; 4]),
        pid_level: offset(btf, "task_struct", "thread_pid")
            .and_then(|p| Ok([p, offset(btf, "pid", "level")?]))
            .unwrap_or([u32::MAX; 2]),
        namespaces: namespace_offsets(btf).unwrap_or([u32::MAX; NS_OFFS_LEN]),
    })
}

/// `struct nsproxy`'s members, in the order of `sensor_common::FORK_NAMESPACES`.
const NSPROXY_MEMBERS: [&str; NSPROXY_NAMESPACES] = [
    "uts_ns",
    "ipc_ns",
    "mnt_ns",
    "pid_ns_for_children",
    "net_ns",
    "time_ns_for_children",
    "cgroup_ns",
];

/// See `sensor_common::GLOBAL_NS_OFFS`. A member this kernel does not have (no time
/// namespaces without CONFIG_TIME_NS) is left unknown; the path to them must be there.
fn namespace_offsets(btf: &Btf) -> Result<[u32; NS_OFFS_LEN], BtfError> {
    let mut o = [u32::MAX; NS_OFFS_LEN];
    o[0] = offset(btf, "task_struct", "nsproxy")?;
    o[1] = offset(btf, "task_struct", "real_cred")?;
    o[2] = offset(btf, "cred", "user_ns")?;
    for (slot, member) in o[3..].iter_mut().zip(NSPROXY_MEMBERS) {
        *slot = offset(btf, "nsproxy", member).unwrap_or(u32::MAX);
    }
    Ok(o)
}

/// See [`TaskOffsets::fds`]; an error turns off only the reading of a script's fd.
fn fd_offsets(btf: &Btf) -> Result<[u32; 4], BtfError> {
    Ok([
        offset(btf, "task_struct", "files")?,
        offset(btf, "files_struct", "fdt")?,
        offset(btf, "fdtable", "fd")?,
        offset(btf, "fdtable", "max_fds")?,
    ])
}

/// See [`TaskOffsets::exe`]; an error turns off only the executed-file reading.
fn exe_offsets(btf: &Btf) -> Result<[u32; 6], BtfError> {
    let nlink = offset(btf, "inode", "__i_nlink").or_else(|_| offset(btf, "inode", "i_nlink"))?;
    Ok([
        offset(btf, "task_struct", "mm")?,
        offset(btf, "mm_struct", "exe_file")?,
        offset(btf, "file", "f_inode")?,
        nlink,
        offset(btf, "file", "f_path")? + offset(btf, "path", "dentry")?,
        offset(btf, "dentry", "d_name")? + offset(btf, "qstr", "name")?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This machine's BTF when it has one (every kernel the sensor supports does).
    fn this_kernel() -> Option<&'static Path> {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            eprintln!("no {VMLINUX_BTF} on this machine; nothing to check");
            return None;
        }
        Some(path)
    }

    /// Reads this machine's BTF when it has one (every kernel the sensor supports does).
    #[test]
    fn reads_task_struct_offsets_from_this_kernel() {
        let Some(path) = this_kernel() else {
            return;
        };
        let o = task_offsets(path).unwrap();
        // pid and tgid are adjacent pid_t fields; the others are somewhere after them.
        assert_eq!(o.tgid, o.pid + 4, "{o:?}");
        // The fd table: pointers 8-aligned, and all known here.
        assert!(o.fds[..3].iter().all(|f| f.is_multiple_of(8)), "{o:?}");
        assert!(o.fds[3] != u32::MAX, "{o:?}");
        // The pid namespace's level: thread_pid a pointer, level a u32 inside struct pid.
        assert!(o.pid_level[0].is_multiple_of(8), "{o:?}");
        assert!(o.pid_level[1] != u32::MAX, "{o:?}");
        // Every namespace's path is known here, each a pointer (8-aligned), no two alike.
        let ns = o.namespaces;
        assert!(ns.iter().all(|f| f.is_multiple_of(8)), "{o:?}");
        let mut members = ns[3..].to_vec();
        members.sort_unstable();
        members.dedup();
        assert_eq!(members.len(), NSPROXY_NAMESPACES, "{o:?}");
        assert!(o.real_parent > o.tgid && o.exit_code > 0, "{o:?}");
        assert_eq!(o.real_parent % 8, 0, "a pointer is 8-aligned: {o:?}");
        assert!(
            o.seccomp_mode != u32::MAX && o.seccomp_mode.is_multiple_of(4),
            "{o:?}"
        );
        // start_time is a u64: the learn cache reads it with one 8-byte load.
        assert!(
            o.start_time != u32::MAX && o.start_time.is_multiple_of(8),
            "{o:?}"
        );
    }

    /// The mapped file and the fully parsed one give the same offsets (the fallback is not a
    /// different answer).
    #[test]
    fn mapped_and_parsed_btf_agree() {
        let Some(path) = this_kernel() else {
            return;
        };
        let parsed = Btf::from_bytes(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(task_offsets(path).unwrap(), offsets_in(&parsed).unwrap());
    }

    #[test]
    fn a_missing_file_is_a_clear_error() {
        let e = task_offsets(Path::new("/nonexistent/vmlinux")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("reading kernel BTF from /nonexistent/vmlinux"),
            "{e}"
        );
    }
}
