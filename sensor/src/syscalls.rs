//! Syscall names and numbers, from the maintained `syscalls` crate's tables.
use std::str::FromStr;

use sensor_common::{ABI_NRS, COMPAT_KEY_BASE, FORBIDDEN_MAX_NR, FORBIDDEN_WORDS};

/// Bit that marks an x32 ABI syscall number on x86_64.
pub const X32_SYSCALL_BIT: u64 = 0x4000_0000;

/// The architecture whose syscall table names a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    X86_64,
    /// The x32 ABI on an x86_64 kernel (numbers carry [`X32_SYSCALL_BIT`]).
    X32,
    /// The i386 ABI on an x86_64 kernel: `int $0x80` from any process, or a 32-bit process.
    I386,
    Aarch64,
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

    /// The ABIs whose calls the kernel maps of this native architecture hold.
    pub fn abis(self) -> impl Iterator<Item = Arch> {
        std::iter::once(self).chain(self.compat())
    }

    /// The ABI and number of syscall key `key` on this native architecture (the inverse of
    /// [`Arch::key`]).
    pub fn of_key(self, key: u64) -> (Arch, u64) {
        match self.compat() {
            Some(compat) if key >= COMPAT_KEY_BASE => (compat, key - COMPAT_KEY_BASE),
            _ => (self, key),
        }
    }

    /// The kernel's syscall key of call `nr` of this ABI (native numbers, then compat ones at
    /// [`COMPAT_KEY_BASE`]), if it has one.
    pub fn key(self, nr: u64) -> Option<u64> {
        if nr >= ABI_NRS {
            return None;
        }
        match self {
            Arch::I386 => Some(COMPAT_KEY_BASE + nr),
            Arch::X32 => None,
            _ => Some(nr),
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

/// The name of syscall `nr` on `arch`, or `None` when the table has no such number.
/// x32 numbers are not named yet rather than mis-named with their x86_64 neighbours.
pub fn name(arch: Arch, nr: u64) -> Option<&'static str> {
    let nr = usize::try_from(nr).ok()?;
    match arch {
        Arch::X86_64 => syscalls::x86_64::Sysno::new(nr).map(|s| s.name()),
        Arch::Aarch64 => syscalls::aarch64::Sysno::new(nr).map(|s| s.name()),
        Arch::I386 => syscalls::x86::Sysno::new(nr).map(|s| s.name()),
        Arch::X32 => None,
    }
}

/// The table's own `&'static` spelling of `name`, if it is a syscall on x86_64, i386 or
/// aarch64.
pub fn known_name(name: &str) -> Option<&'static str> {
    [Arch::X86_64, Arch::I386, Arch::Aarch64]
        .into_iter()
        .find_map(|arch| self::name(arch, number(arch, name)?))
}

/// The number of syscall `name` on `arch`, or `None` when `arch` has no such syscall.
pub fn number(arch: Arch, name: &str) -> Option<u64> {
    let id = match arch {
        Arch::X86_64 => syscalls::x86_64::Sysno::from_str(name).ok()?.id(),
        Arch::Aarch64 => syscalls::aarch64::Sysno::from_str(name).ok()?.id(),
        Arch::I386 => syscalls::x86::Sysno::from_str(name).ok()?.id(),
        Arch::X32 => return None,
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
        // i386 getresuid and x86_64 mount share a number, never a key.
        assert_ne!(Arch::I386.key(165), Arch::X86_64.key(165));
        assert_eq!(Arch::X86_64.key(ABI_NRS), None);
    }

    #[test]
    fn unknown_numbers_have_no_name() {
        assert_eq!(name(Arch::X86_64, 100_000), None);
        assert_eq!(name(Arch::X86_64, u64::MAX), None);
        assert_eq!(name(Arch::X32, 165 | X32_SYSCALL_BIT), None);
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
