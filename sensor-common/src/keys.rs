//! Syscall keys: how the kernel side names a call in its per-syscall maps (forbidden set,
//! exceptions, conditions, exit hooks). A call's identity is (ABI, number); each ABI's numbers
//! have a range of keys of their own, so no call is ever taken for another ABI's call with the
//! same number:
//!
//! | keys | ABI |
//! |---|---|
//! | `0..512` | native (x86_64 on x86_64), and x32 calls numbered like a common x86_64 call |
//! | `512..1024` | compat (i386: `int $0x80`, or a 32-bit process) |
//! | `1024..1088` | x32-only calls (x32 numbers 512..576) |
//! | `1088..1216` | io_uring operations (opcode), submitted through a ring |
//!
//! Kernel and userspace both use the functions below, so the two sides cannot disagree.

/// Numbers of each syscall ABI stay below this.
pub const ABI_NRS: u64 = 512;
/// 64-bit words of a bitmap over one ABI's numbers.
pub const ABI_WORDS: u32 = (ABI_NRS / 64) as u32;
/// The key of compat call `nr` is `COMPAT_KEY_BASE + nr`.
pub const COMPAT_KEY_BASE: u64 = ABI_NRS;

/// Bit 30 of a syscall number on x86_64: the call is an x32 one.
pub const X32_SYSCALL_BIT: u64 = 0x4000_0000;
/// x32 numbers from here on are x32's own calls (512..548 in the kernel's syscall_64.tbl).
pub const X32_ONLY_FIRST: u64 = 512;
/// Keys reserved for x32-only numbers.
pub const X32_ONLY_NRS: u64 = 64;
/// The key of x32-only call `nr` is `X32_KEY_BASE + nr - X32_ONLY_FIRST`.
pub const X32_KEY_BASE: u64 = 2 * ABI_NRS;
/// The x86_64 numbers that are 64-bit only ("64" in arch/x86/entry/syscalls/syscall_64.tbl;
/// copied into sensor/data/x32-syscalls.txt, which a test checks this against): the same
/// number with the x32 bit is no call at all.
pub const X32_NOT_CALLS: [u64; ABI_WORDS as usize] = bits(&[
    13, 15, 16, 19, 20, 45, 46, 47, 54, 55, 59, 101, 127, 128, 129, 131, 134, 156, 174, 177, 178,
    180, 205, 206, 209, 211, 214, 215, 222, 236, 244, 246, 247, 273, 274, 278, 279, 295, 296, 297,
    299, 307, 310, 311, 322, 327, 328,
]);

/// The key of io_uring operation `op` is `IOURING_KEY_BASE + op`.
pub const IOURING_KEY_BASE: u64 = X32_KEY_BASE + X32_ONLY_NRS;
/// io_uring opcodes with a key (6.18 has about 60).
pub const IOURING_OPS: u64 = 128;

/// Syscall keys: the highest plus one.
pub const FORBIDDEN_MAX_NR: u64 = IOURING_KEY_BASE + IOURING_OPS;
/// Keys past every syscall key, used only in the flood table (FLOOD) to count, per cgroup,
/// the exec, fork and exit records that found the ring buffer full.
pub const LOST_KEY_EXEC: u64 = FORBIDDEN_MAX_NR;
pub const LOST_KEY_FORK: u64 = FORBIDDEN_MAX_NR + 1;
pub const LOST_KEY_EXIT: u64 = FORBIDDEN_MAX_NR + 2;
/// 64-bit words of a bitmap over syscall keys (forbidden, exempt, exit-hooked).
pub const FORBIDDEN_WORDS: u32 = FORBIDDEN_MAX_NR.div_ceil(64) as u32;

const fn bits(nrs: &[u64]) -> [u64; ABI_WORDS as usize] {
    let mut out = [0u64; ABI_WORDS as usize];
    let mut i = 0;
    while i < nrs.len() {
        out[(nrs[i] / 64) as usize] |= 1 << (nrs[i] % 64);
        i += 1;
    }
    out
}

/// The key of native call `nr` (numbers past the table have none: they must not reach into
/// the compat keys).
#[inline(always)]
pub const fn native_key(nr: u64) -> Option<u64> {
    if nr < ABI_NRS { Some(nr) } else { None }
}

/// The key of compat (i386) call `nr`.
#[inline(always)]
pub const fn compat_key(nr: u64) -> Option<u64> {
    if nr < ABI_NRS {
        Some(COMPAT_KEY_BASE + nr)
    } else {
        None
    }
}

/// The key of x32 call `nr` (the x32 bit cleared): a common call's x86_64 key, an x32-only
/// call's own key; `None` for a number that is no x32 call.
#[inline(always)]
pub const fn x32_key(nr: u64) -> Option<u64> {
    if nr < ABI_NRS {
        if X32_NOT_CALLS[(nr / 64) as usize] >> (nr % 64) & 1 == 1 {
            None
        } else {
            Some(nr)
        }
    } else if nr >= X32_ONLY_FIRST && nr < X32_ONLY_FIRST + X32_ONLY_NRS {
        Some(X32_KEY_BASE + nr - X32_ONLY_FIRST)
    } else {
        None
    }
}

/// The key of io_uring operation `op`.
#[inline(always)]
pub const fn iouring_key(op: u64) -> Option<u64> {
    if op < IOURING_OPS {
        Some(IOURING_KEY_BASE + op)
    } else {
        None
    }
}

const _: () = assert!(FORBIDDEN_MAX_NR.is_multiple_of(64));
const _: () = assert!(X32_KEY_BASE == COMPAT_KEY_BASE + ABI_NRS);
