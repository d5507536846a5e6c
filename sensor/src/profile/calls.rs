//! What one cgroup was seen calling: each syscall key (see `sensor_common::keys`) with the
//! phases it was made in. A node keeps one of these per watched cgroup (10,000 and more on a
//! dense node), so it is a sorted vector of (key, phases), 4 bytes a call, rather than a
//! `BTreeMap<u64, u8>`: the calls of a `sleep` in its own cgroup took 544 bytes of tree
//! nodes, and take 144 here (spare capacity included; README, "Memory per watched cgroup").
use sensor_common::FORBIDDEN_MAX_NR;

/// Every syscall key fits the compact form.
const _: () = assert!(FORBIDDEN_MAX_NR <= u16::MAX as u64);

/// Syscall key -> the phases it was made in ([`crate::event::Phase::bit`]s), by key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calls(Vec<(u16, u8)>);

impl Calls {
    /// Adds phases `bits` to call `key`. A key no ABI has (at or past `FORBIDDEN_MAX_NR`)
    /// is not a call: nothing is added, and false says so.
    pub fn add(&mut self, key: u64, bits: u8) -> bool {
        if key >= FORBIDDEN_MAX_NR {
            return false;
        }
        let key = key as u16;
        match self.0.binary_search_by_key(&key, |&(k, _)| k) {
            Ok(i) => self.0[i].1 |= bits,
            Err(i) => {
                // Grown by half, not doubled: past its first 8 calls, at most a third of the
                // vector is spare.
                if self.0.len() == self.0.capacity() {
                    self.0.reserve_exact((self.0.len() / 2).max(8));
                }
                self.0.insert(i, (key, bits));
            }
        }
        true
    }

    /// The phases call `key` was made in (0: never seen).
    pub fn get(&self, key: u64) -> u8 {
        u16::try_from(key)
            .ok()
            .and_then(|key| self.0.binary_search_by_key(&key, |&(k, _)| k).ok())
            .map_or(0, |i| self.0[i].1)
    }

    /// Each call and its phases, by key.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u8)> + '_ {
        self.0.iter().map(|&(k, bits)| (u64::from(k), bits))
    }

    /// Was any call made in one of phases `bits`?
    pub fn any_in(&self, bits: u8) -> bool {
        self.0.iter().any(|&(_, b)| b & bits != 0)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives back the spare capacity (a cgroup that is gone learns nothing more).
    pub fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_calls_sorted_with_their_phases_merged() {
        let mut c = Calls::default();
        for (key, bits) in [(288, 4), (0, 2), (59, 1), (0, 8), (1100, 4)] {
            assert!(c.add(key, bits));
        }
        let all: Vec<(u64, u8)> = c.iter().collect();
        assert_eq!(all, [(0, 10), (59, 1), (288, 4), (1100, 4)]);
        assert_eq!((c.get(0), c.get(59), c.get(60)), (10, 1, 0));
        assert!(c.any_in(8) && !c.any_in(16));
    }

    #[test]
    fn refuses_keys_no_abi_has() {
        let mut c = Calls::default();
        assert!(!c.add(FORBIDDEN_MAX_NR, 1));
        assert!(!c.add(u64::from(u16::MAX) + 1, 1));
        assert!(c.is_empty());
        assert_eq!(c.get(u64::MAX), 0);
    }
}
