//! Where the syscall arguments sit in `struct pt_regs`, per architecture (uapi layouts).
//! aya has no CO-RE for kernel structs, but these offsets are uapi and do not move.

/// x86_64 `struct pt_regs`: di, si, dx, r10, r8, r9 (the syscall ABI; r10 replaces cx).
#[cfg(any(bpf_target_arch = "x86_64", not(bpf_target_arch = "aarch64")))]
pub const SYSCALL_ARG_OFFSETS: [usize; 6] = [112, 104, 96, 56, 72, 64];

/// aarch64 `struct user_pt_regs`: regs[0..6] start the struct.
#[cfg(bpf_target_arch = "aarch64")]
pub const SYSCALL_ARG_OFFSETS: [usize; 6] = [0, 8, 16, 24, 32, 40];
