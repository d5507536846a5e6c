//! The common header, filled in place in a reserved ring-buffer entry.
use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_uid_gid, bpf_ktime_get_ns,
};
use sensor_common::{COMM_LEN, Header, RecordKind};

/// Writes every field of the header (ring-buffer memory is not zeroed by the kernel).
#[inline(always)]
pub fn fill_header(h: &mut Header, kind: RecordKind, size: usize, flags: u16) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    h.kind = kind as u16;
    h.flags = flags;
    h.size = size as u32;
    // SAFETY: helpers without arguments.
    h.ktime_ns = unsafe { bpf_ktime_get_ns() };
    h.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    h.pid = (pid_tgid >> 32) as u32;
    h.tid = pid_tgid as u32;
    h.uid = uid_gid as u32;
    h.gid = (uid_gid >> 32) as u32;
    h.comm = bpf_get_current_comm().unwrap_or([0u8; COMM_LEN]);
}
