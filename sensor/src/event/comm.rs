//! A task's `comm`, kept inline: every event carries one, and a heap copy of at most 16
//! bytes was one allocation and one free per event on the reader's path.
use std::{fmt, ops::Deref};

use sensor_common::COMM_LEN;

/// `task->comm` without its NUL padding (at most `COMM_LEN` bytes). Raw bytes: not
/// necessarily UTF-8.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Comm {
    len: u8,
    bytes: [u8; COMM_LEN],
}

impl Comm {
    /// The first `COMM_LEN` bytes of `name` (the kernel never makes a longer one).
    pub fn new(name: &[u8]) -> Self {
        let len = name.len().min(COMM_LEN);
        let mut bytes = [0; COMM_LEN];
        bytes[..len].copy_from_slice(&name[..len]);
        Self {
            len: len as u8,
            bytes,
        }
    }

    /// The kernel's NUL-padded field: up to its first NUL.
    pub fn from_padded(field: &[u8; COMM_LEN]) -> Self {
        let len = field.iter().position(|&b| b == 0).unwrap_or(COMM_LEN);
        Self::new(&field[..len])
    }
}

impl Deref for Comm {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Comm {
    fn eq(&self, other: &[u8; N]) -> bool {
        **self == other[..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_bytes_up_to_the_first_nul() {
        let mut field = [0u8; COMM_LEN];
        field[..5].copy_from_slice(b"mo\xffnt");
        let c = Comm::from_padded(&field);
        assert_eq!(&*c, b"mo\xffnt");
        assert_eq!(c, *b"mo\xffnt");
        assert_eq!(
            &*Comm::from_padded(&[b'a'; COMM_LEN]),
            &[b'a'; COMM_LEN][..]
        );
        assert!(Comm::default().is_empty());
        // Longer input (never from the kernel) is cut, not a panic.
        assert_eq!(Comm::new(&[b'x'; 40]).len(), COMM_LEN);
    }
}
