//! Syscall names and numbers, from the maintained `syscalls` crate's tables (and, for what it
//! lacks, x32's own calls and io_uring's operations, from [`crate::abi_tables`]).
use std::str::FromStr;

pub use sensor_common::X32_SYSCALL_BIT;
use sensor_common::{
    COMPAT_KEY_BASE, FORBIDDEN_MAX_NR, FORBIDDEN_WORDS, IOURING_KEY_BASE, X32_KEY_BASE,
    X32_NOT_CALLS, X32_ONLY_FIRST, compat_key, iouring_key, native_key, x32_key,
};

use crate::abi_tables::{IOURING_OP_NAMES, X32_ONLY_NAMES};

/// The architecture whose syscall table names a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    /// The x32 ABI on an x86_64 kernel (numbers carry [`X32_SYSCALL_BIT`]).
    X32,
    /// The i386 ABI on an x86_64 kernel: `int $0x80` from any process, or a 32-bit process.
    I386,
    Aarch64,
    /// Not a syscall ABI: an operation submitted through an io_uring ring, by opcode (named
    /// `io_uring:<op>`). It is kept by the same maps, so it is a "way in" of its own.
    IoUring,
}

impl Arch {
    /// The architecture this binary runs on.
    pub const NATIVE: Arch = if cfg!(target_arch = "aarch64") {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };

    /// The ABI a raw number from the native kernel belongs to.
    pub fn of_native_nr(nr: u64) -> Arch {
        if Self::NATIVE == Arch::X86_64 && nr & X32_SYSCALL_BIT != 0 {
            Arch::X32
        } else {
            Self::NATIVE
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::X32 => "x32",
            Arch::I386 => "i386",
            Arch::Aarch64 => "aarch64",
            Arch::IoUring => "io_uring",
        }
    }

    /// The compat ABI the kernel of this native architecture runs, whose calls the sensor
    /// tells apart (i386 on x86_64).
    pub fn compat(self) -> Option<Arch> {
        match self {
            Arch::X86_64 => Some(Arch::I386),
            _ => None,
        }
    }

    /// x32, where this native architecture has it (x86_64).
    pub fn x32(self) -> Option<Arch> {
        (self == Arch::X86_64).then_some(Arch::X32)
    }

    /// The ABIs whose calls the kernel maps of this native architecture hold: the native
    /// one, its compat and x32 ABIs, and io_uring operations.
    pub fn abis(self) -> impl Iterator<Item = Arch> {
        std::iter::once(self)
            .chain(self.compat())
            .chain(self.x32())
            .chain(std::iter::once(Arch::IoUring))
    }

    /// The ABI and number of syscall key `key` on this native architecture (the inverse of
    /// [`Arch::key`]; a key x32 shares with the native ABI is the native call's).
    pub fn of_key(self, key: u64) -> (Arch, u64) {
        if key >= IOURING_KEY_BASE {
            return (Arch::IoUring, key - IOURING_KEY_BASE);
        }
        match (self.compat(), self.x32()) {
            (_, Some(x32)) if key >= X32_KEY_BASE => (x32, key - X32_KEY_BASE + X32_ONLY_FIRST),
            (Some(compat), _) if key >= COMPAT_KEY_BASE => (compat, key - COMPAT_KEY_BASE),
            _ => (self, key),
        }
    }

    /// The kernel's syscall key of call `nr` of this ABI (see `sensor_common::keys`), if it
    /// has one. x32 numbers are given without the x32 bit.
    pub fn key(self, nr: u64) -> Option<u64> {
        match self {
            Arch::I386 => compat_key(nr),
            Arch::X32 => x32_key(nr),
            Arch::IoUring => iouring_key(nr),
            Arch::X86_64 | Arch::Aarch64 => native_key(nr),
        }
    }
}

/// The in-kernel form of a set of syscalls: the bit of each one's syscall key (native
/// numbers, then compat ones; see [`Arch::key`]) set.
pub type SyscallBitmap = [u64; FORBIDDEN_WORDS as usize];

/// Is syscall key `key` in `bitmap`?
pub fn contains(bitmap: &SyscallBitmap, key: u64) -> bool {
    key < FORBIDDEN_MAX_NR && bitmap[(key / 64) as usize] >> (key % 64) & 1 == 1
}

/// The name of syscall `nr` on `arch` (x32: without the x32 bit), or `None` when the table
/// has no such number.
pub fn name(arch: Arch, nr: u64) -> Option<&'static str> {
    let index = usize::try_from(nr).ok()?;
    match arch {
        Arch::X86_64 => syscalls::x86_64::Sysno::new(index).map(|s| s.name()),
        Arch::Aarch64 => syscalls::aarch64::Sysno::new(index).map(|s| s.name()),
        Arch::I386 => syscalls::x86::Sysno::new(index).map(|s| s.name()),
        Arch::X32 if nr >= X32_ONLY_FIRST => X32_ONLY_NAMES
            .get(usize::try_from(nr - X32_ONLY_FIRST).ok()?)
            .copied(),
        Arch::X32 if x32_shares(nr) => name(Arch::X86_64, nr),
        Arch::X32 => None,
        Arch::IoUring => IOURING_OP_NAMES.get(index).copied(),
    }
}

/// Is x86_64 call `nr` also x32's call `nr` (a "common" row of the kernel's table)?
fn x32_shares(nr: u64) -> bool {
    nr < 64 * X32_NOT_CALLS.len() as u64 && X32_NOT_CALLS[(nr / 64) as usize] >> (nr % 64) & 1 == 0
}

/// The table's own `&'static` spelling of `name`, if it is a syscall on x86_64, i386 or
/// aarch64, or an io_uring operation (`io_uring:<op>`).
pub fn known_name(name: &str) -> Option<&'static str> {
    [Arch::X86_64, Arch::I386, Arch::Aarch64, Arch::IoUring]
        .into_iter()
        .find_map(|arch| self::name(arch, number(arch, name)?))
}

/// The number of syscall `name` on `arch` (x32: without the x32 bit), or `None` when `arch`
/// has no such syscall.
pub fn number(arch: Arch, name: &str) -> Option<u64> {
    let id = match arch {
        Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name).ok()?.id(),
        Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name).ok()?.id(),
        Arch::I386 => syscalls::x86::Sysno::from_str(name).ok()?.id(),
        Arch::X32 => {
            return match X32_ONLY_NAMES.iter().position(|n| *n == name) {
                Some(i) => Some(X32_ONLY_FIRST + i as u64),
                None => number(Arch::X86_64, name).filter(|nr| x32_shares(*nr)),
            };
        }
        Arch::IoUring => {
            return IOURING_OP_NAMES
                .iter()
                .position(|n| *n == name)
                .map(|i| i as u64);
        }
    };
    u64::try_from(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_well_known_numbers() {
        assert_eq!(name(Arch::X86_64, 165), Some("mount"));
        assert_eq!(name(Arch::X86_64, 161), Some("chroot"));
        assert_eq!(name(Arch::X86_64, 321), Some("bpf"));
        assert_eq!(name(Arch::Aarch64, 40), Some("mount"));
        assert_eq!(name(Arch::Aarch64, 51), Some("chroot"));
    }

    #[test]
    fn i386_numbers_are_named_from_the_i386_table() {
        assert_eq!(name(Arch::I386, 21), Some("mount"));
        assert_eq!(name(Arch::I386, 165), Some("getresuid"));
        assert_eq!(name(Arch::I386, 310), Some("unshare"));
        assert_eq!(name(Arch::I386, 11), Some("execve"));
        assert_eq!(number(Arch::I386, "umount"), Some(22));
        // The numbers the kernel side demultiplexes socketcall by: each SYS_* call runs as
        // the i386 call of the same name (accept, send and recv as accept4, sendto and
        // recvfrom, as the kernel runs them).
        assert_eq!(
            name(Arch::I386, sensor_common::I386_SOCKETCALL),
            Some("socketcall")
        );
        let runs_as = [
            "socket",
            "bind",
            "connect",
            "listen",
            "accept4",
            "getsockname",
            "getpeername",
            "socketpair",
            "sendto",
            "recvfrom",
            "sendto",
            "recvfrom",
            "shutdown",
            "setsockopt",
            "getsockopt",
            "sendmsg",
            "recvmsg",
            "accept4",
            "recvmmsg",
            "sendmmsg",
        ];
        for (call, expected) in (1u64..).zip(runs_as) {
            let (nr, _) = sensor_common::socketcall::socketcall(call).unwrap();
            assert_eq!(name(Arch::I386, nr), Some(expected), "SYS_* {call}");
        }
        assert_eq!(sensor_common::socketcall::socketcall(0), None);
        assert_eq!(sensor_common::socketcall::socketcall(21), None);
        // i386 getresuid and x86_64 mount share a number, never a key.
        assert_ne!(Arch::I386.key(165), Arch::X86_64.key(165));
        assert_eq!(Arch::X86_64.key(sensor_common::ABI_NRS), None);
    }

    #[test]
    fn unknown_numbers_have_no_name() {
        assert_eq!(name(Arch::X86_64, 100_000), None);
        assert_eq!(name(Arch::X86_64, u64::MAX), None);
        assert_eq!(name(Arch::X32, 165 | X32_SYSCALL_BIT), None);
        assert_eq!(name(Arch::IoUring, 200), None);
    }

    #[test]
    fn x32_numbers_are_named_from_the_x32_table() {
        // A common call keeps its x86_64 number and name (and key).
        assert_eq!(name(Arch::X32, 165), Some("mount"));
        assert_eq!(Arch::X32.key(165), Arch::X86_64.key(165));
        // An x86_64-only number is no x32 call; x32 has its own execve and ptrace.
        assert_eq!(name(Arch::X32, 59), None);
        assert_eq!(Arch::X32.key(59), None);
        assert_eq!(name(Arch::X32, 520), Some("execve"));
        assert_eq!(number(Arch::X32, "ptrace"), Some(521));
        assert_eq!(number(Arch::X32, "mount"), Some(165));
        let key = Arch::X32.key(521).unwrap();
        assert_eq!(Arch::X86_64.of_key(key), (Arch::X32, 521));
        assert_eq!(name(Arch::X32, 548), None);
    }

    #[test]
    fn io_uring_operations_have_keys_of_their_own() {
        assert_eq!(name(Arch::IoUring, 45), Some("io_uring:socket"));
        assert_eq!(number(Arch::IoUring, "io_uring:connect"), Some(16));
        assert_eq!(number(Arch::IoUring, "socket"), None);
        let key = Arch::IoUring.key(16).unwrap();
        assert_eq!(Arch::X86_64.of_key(key), (Arch::IoUring, 16));
        assert_eq!(known_name("io_uring:openat"), Some("io_uring:openat"));
        for abi in Arch::X86_64.abis() {
            assert_ne!(abi.key(0), Some(key));
        }
    }

    #[test]
    fn x32_numbers_are_recognised_as_x32() {
        if Arch::NATIVE == Arch::X86_64 {
            assert_eq!(Arch::of_native_nr(165 | X32_SYSCALL_BIT), Arch::X32);
            assert_eq!(Arch::of_native_nr(165), Arch::X86_64);
        }
    }

    #[test]
    fn numbers_round_trip() {
        for arch in [Arch::X86_64, Arch::Aarch64] {
            for n in [
                "mount",
                "umount2",
                "chroot",
                "pivot_root",
                "unshare",
                "setns",
                "bpf",
            ] {
                let nr = number(arch, n).unwrap_or_else(|| panic!("{n} on {arch:?}"));
                assert_eq!(name(arch, nr), Some(n));
            }
        }
        assert_eq!(number(Arch::X86_64, "no_such_call"), None);
    }
}
