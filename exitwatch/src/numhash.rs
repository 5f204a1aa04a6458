//! The hasher of the event path's maps, whose keys are numbers the kernel assigns: pids, start
//! times, cgroup ids (and signal numbers beside them). std's SipHash resists keys chosen to
//! collide, which costs ~4% of the daemon's CPU per event at 100k/s and buys nothing here: no
//! sender chooses those numbers. Maps keyed by names (strings from processes or runtimes) keep
//! SipHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` keyed by kernel-assigned numbers.
pub type NumMap<K, V> = HashMap<K, V, BuildHasherDefault<NumHasher>>;

/// Each word of the key is mixed in by a full 64x64 -> 128-bit multiply whose two halves are
/// folded together: every input bit reaches every output bit (a plain 64-bit multiply carries
/// bits only upwards, so keys differing in their top bits, a cgroup id with bit 63 set, would
/// share a bucket).
#[derive(Clone, Copy, Debug, Default)]
pub struct NumHasher(u64);

/// Odd, with its bits spread (a multiplier of the golden-ratio kind).
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

impl NumHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(MULTIPLIER);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for NumHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        // The length too, so that "ab" + "c" and "a" + "bc" differ.
        self.add(bytes.len() as u64);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    use super::*;

    fn hash<T: std::hash::Hash>(v: T) -> u64 {
        BuildHasherDefault::<NumHasher>::default().hash_one(v)
    }

    #[test]
    fn consecutive_pids_spread_over_the_low_bits() {
        // hashbrown picks the bucket from the low bits: 4096 pids in a row must not pile up in
        // a few of 1024 buckets.
        let buckets: HashSet<u64> = (300_000u32..304_096).map(|p| hash(p) & 1023).collect();
        assert!(buckets.len() > 900, "{} of 1024 buckets", buckets.len());
        // Keys that differ only in high bits (start times in ns, cgroup ids) too, up to the
        // top ones.
        for shift in [32, 48, 52] {
            let buckets: HashSet<u64> = (0u64..4096).map(|i| hash(i << shift) & 1023).collect();
            assert!(
                buckets.len() > 900,
                "<< {shift}: {} of 1024 buckets",
                buckets.len()
            );
        }
        // The assembler's memory-cgroup key is the id with bit 63 set: another bucket, and
        // another top-7-bit tag (what hashbrown compares first).
        for id in [1u64, 4026531835, 123_456] {
            let (a, b) = (hash(id), hash(id | 1 << 63));
            assert_ne!(a & 1023, b & 1023, "{id}");
            assert_ne!(a >> 57, b >> 57, "{id}");
        }
    }

    #[test]
    fn tuples_and_bytes_hash_by_all_their_parts() {
        assert_ne!(hash((1u32, 2u64)), hash((2u32, 1u64)));
        assert_ne!(hash((7u32, 0u64)), hash((7u32, 1u64)));
        assert_ne!(hash("ab"), hash("abc"));
        let mut m: NumMap<(u32, u64), u8> = NumMap::default();
        m.insert((1, 2), 3);
        assert_eq!(m.get(&(1, 2)), Some(&3));
        assert_eq!(m.get(&(2, 1)), None);
    }
}
