//! Names the maintained `syscalls` crate does not have: x32's own calls, and io_uring's
//! operations. Each table is copied from the kernel source named on it, and checked by tests
//! (the x32 one against `data/x32-syscalls.txt`, the kernel's table as shipped).

/// x32's own calls, numbered from [`sensor_common::X32_ONLY_FIRST`] (512): from Linux's
/// arch/x86/entry/syscalls/syscall_64.tbl, the "x32" rows (512-547; the range is closed to
/// new calls).
pub const X32_ONLY_NAMES: [&str; 36] = [
    "rt_sigaction",
    "rt_sigreturn",
    "ioctl",
    "readv",
    "writev",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "execve",
    "ptrace",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "timer_create",
    "mq_notify",
    "kexec_load",
    "waitid",
    "set_robust_list",
    "get_robust_list",
    "vmsplice",
    "move_pages",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "sendmmsg",
    "process_vm_readv",
    "process_vm_writev",
    "setsockopt",
    "getsockopt",
    "io_setup",
    "io_submit",
    "execveat",
    "preadv2",
    "pwritev2",
];

/// io_uring operations by opcode, as `io_uring:<op>`: Linux's include/uapi/linux/io_uring.h,
/// `enum io_uring_op` (IORING_OP_*) up to 6.18, named as the kernel's own
/// `io_uring_get_opcode()` names them, in lower case. The prefix keeps an operation apart
/// from the syscall of the same name in policies and profiles.
pub const IOURING_OP_NAMES: [&str; 63] = [
    "io_uring:nop",
    "io_uring:readv",
    "io_uring:writev",
    "io_uring:fsync",
    "io_uring:read_fixed",
    "io_uring:write_fixed",
    "io_uring:poll_add",
    "io_uring:poll_remove",
    "io_uring:sync_file_range",
    "io_uring:sendmsg",
    "io_uring:recvmsg",
    "io_uring:timeout",
    "io_uring:timeout_remove",
    "io_uring:accept",
    "io_uring:async_cancel",
    "io_uring:link_timeout",
    "io_uring:connect",
    "io_uring:fallocate",
    "io_uring:openat",
    "io_uring:close",
    "io_uring:files_update",
    "io_uring:statx",
    "io_uring:read",
    "io_uring:write",
    "io_uring:fadvise",
    "io_uring:madvise",
    "io_uring:send",
    "io_uring:recv",
    "io_uring:openat2",
    "io_uring:epoll_ctl",
    "io_uring:splice",
    "io_uring:provide_buffers",
    "io_uring:remove_buffers",
    "io_uring:tee",
    "io_uring:shutdown",
    "io_uring:renameat",
    "io_uring:unlinkat",
    "io_uring:mkdirat",
    "io_uring:symlinkat",
    "io_uring:linkat",
    "io_uring:msg_ring",
    "io_uring:fsetxattr",
    "io_uring:setxattr",
    "io_uring:fgetxattr",
    "io_uring:getxattr",
    "io_uring:socket",
    "io_uring:uring_cmd",
    "io_uring:send_zc",
    "io_uring:sendmsg_zc",
    "io_uring:read_multishot",
    "io_uring:waitid",
    "io_uring:futex_wait",
    "io_uring:futex_wake",
    "io_uring:futex_waitv",
    "io_uring:fixed_fd_install",
    "io_uring:ftruncate",
    "io_uring:bind",
    "io_uring:listen",
    "io_uring:recv_zc",
    "io_uring:epoll_wait",
    "io_uring:readv_fixed",
    "io_uring:writev_fixed",
    "io_uring:pipe",
];

#[cfg(test)]
mod tests {
    use super::*;
    use sensor_common::{X32_NOT_CALLS, X32_ONLY_FIRST};

    /// The kernel's table rows for the calls x86_64 and x32 do not share ("64" and "x32").
    const TABLE: &str = include_str!("../data/x32-syscalls.txt");

    fn rows(abi: &str) -> Vec<(u64, &'static str)> {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .filter(|f| f[1] == abi)
            .map(|f| (f[0].parse().unwrap(), f[2]))
            .collect()
    }

    #[test]
    fn x32_only_names_are_the_kernel_table() {
        let x32 = rows("x32");
        assert_eq!(x32.len(), X32_ONLY_NAMES.len());
        for (nr, name) in x32 {
            assert_eq!(X32_ONLY_NAMES[(nr - X32_ONLY_FIRST) as usize], name, "{nr}");
        }
    }

    #[test]
    fn x86_64_only_numbers_are_the_kernel_table() {
        let mut bits = [0u64; X32_NOT_CALLS.len()];
        for (nr, _) in rows("64") {
            bits[(nr / 64) as usize] |= 1 << (nr % 64);
        }
        assert_eq!(bits, X32_NOT_CALLS);
    }

    #[test]
    fn io_uring_names_are_distinct_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for n in IOURING_OP_NAMES {
            assert!(n.starts_with("io_uring:") && seen.insert(n), "{n}");
        }
    }
}
