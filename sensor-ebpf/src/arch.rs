//! Where the syscall number and arguments sit in `struct pt_regs`, per architecture (uapi
//! layouts). aya has no CO-RE for kernel structs, but these offsets do not move.

/// x86_64 `struct pt_regs`: di, si, dx, r10, r8, r9 (the syscall ABI; r10 replaces cx).
#[cfg(not(bpf_target_arch = "aarch64"))]
pub const SYSCALL_ARG_OFFSETS: [usize; 6] = [112, 104, 96, 56, 72, 64];
/// A compat (i386) call's arguments: bx, cx, dx, si, di, bp.
#[cfg(not(bpf_target_arch = "aarch64"))]
pub const COMPAT_ARG_OFFSETS: [usize; 6] = [40, 88, 96, 104, 112, 32];
/// At `sys_exit` the first argument's register is unchanged on x86_64 (the result is in ax).
#[cfg(not(bpf_target_arch = "aarch64"))]
pub const EXIT_ARG_OFFSETS: [usize; 6] = SYSCALL_ARG_OFFSETS;
/// `orig_ax`: the syscall number, 8 bytes.
#[cfg(not(bpf_target_arch = "aarch64"))]
pub const SYSCALL_NR_OFFSET: usize = 120;
#[cfg(not(bpf_target_arch = "aarch64"))]
pub type SyscallNr = u64;

/// aarch64 `struct pt_regs`: regs[0..6] start the struct.
#[cfg(bpf_target_arch = "aarch64")]
pub const SYSCALL_ARG_OFFSETS: [usize; 6] = [0, 8, 16, 24, 32, 40];
/// Compat calls are not told apart on aarch64 (TS_COMPAT is 0 there): never used.
#[cfg(bpf_target_arch = "aarch64")]
pub const COMPAT_ARG_OFFSETS: [usize; 6] = SYSCALL_ARG_OFFSETS;
/// At `sys_exit` x0 holds the result; the first argument survives in `orig_x0`.
#[cfg(bpf_target_arch = "aarch64")]
pub const EXIT_ARG_OFFSETS: [usize; 6] = [272, 8, 16, 24, 32, 40];
/// `syscallno`, an s32.
#[cfg(bpf_target_arch = "aarch64")]
pub const SYSCALL_NR_OFFSET: usize = 280;
#[cfg(bpf_target_arch = "aarch64")]
pub type SyscallNr = i32;

/// Native `clone` (x86_64).
#[cfg(not(bpf_target_arch = "aarch64"))]
pub const NR_CLONE: u64 = 56;
/// Native `clone` (aarch64).
#[cfg(bpf_target_arch = "aarch64")]
pub const NR_CLONE: u64 = 220;
/// `clone3`: the same number in every table, the compat one included.
pub const NR_CLONE3: u64 = 435;
/// The compat (i386) `clone`.
pub const COMPAT_NR_CLONE: u64 = 120;
