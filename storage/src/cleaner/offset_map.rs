//! The key-to-latest-offset map a cleaning builds over the dirty part of a log; Kafka's
//! `SkimpyOffsetMap`.
//!
//! Keys are stored as a 128-bit hash (XXH3), as Kafka stores an MD5: 16 bytes a key whatever
//! its length, and a collision between two live keys is as unlikely as in Kafka. The map holds
//! at most `capacity` keys, sized from `log.cleaner.dedupe.buffer.size` at 24 bytes a key as
//! Kafka counts; a cleaning whose dirty part has more keys cleans only up to where the map
//! filled, and the next cleaning goes on from there.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The 128-bit hash that stands for a key.
pub fn key_hash(key: &[u8]) -> u128 {
    xxhash_rust::xxh3::xxh3_128(key)
}

/// Hashes an already-hashed key by taking its low bits.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes.iter().take(8) {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// Latest offset of each key hash, bounded in size.
#[derive(Debug)]
pub struct OffsetMap {
    offsets: HashMap<u128, i64, BuildHasherDefault<PassThrough>>,
    capacity: usize,
}

/// Bytes Kafka counts per entry when sizing the map from the dedupe buffer.
pub const BYTES_PER_ENTRY: u64 = 24;

impl OffsetMap {
    /// An empty map for at most `capacity` keys.
    pub fn new(capacity: usize) -> OffsetMap {
        OffsetMap {
            offsets: HashMap::default(),
            capacity: capacity.max(1),
        }
    }

    /// A map sized from a dedupe buffer of `bytes`, filled to Kafka's load factor of 0.9.
    pub fn with_buffer(bytes: u64) -> OffsetMap {
        OffsetMap::new((bytes / BYTES_PER_ENTRY * 9 / 10) as usize)
    }

    /// Records `offset` as the latest of `key`; false, changing nothing, when the key is new
    /// and the map is full.
    pub fn put(&mut self, key: u128, offset: i64) -> bool {
        if let Some(latest) = self.offsets.get_mut(&key) {
            *latest = (*latest).max(offset);
            return true;
        }
        if self.offsets.len() >= self.capacity {
            return false;
        }
        self.offsets.insert(key, offset);
        true
    }

    /// The latest offset of `key`, if the dirty part has it.
    pub fn get(&self, key: u128) -> Option<i64> {
        self.offsets.get(&key).copied()
    }

    /// Keys in the map.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether the map has no key.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Forgets every key, keeping the allocation for the next cleaning.
    pub fn clear(&mut self) {
        self.offsets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_offset_and_its_bound() {
        let mut map = OffsetMap::new(2);
        assert!(map.put(key_hash(b"a"), 3));
        assert!(map.put(key_hash(b"a"), 7));
        assert!(map.put(key_hash(b"b"), 5));
        assert!(!map.put(key_hash(b"c"), 9), "full");
        assert!(map.put(key_hash(b"b"), 8), "a known key still updates");
        assert_eq!(map.get(key_hash(b"a")), Some(7));
        assert_eq!(map.get(key_hash(b"b")), Some(8));
        assert_eq!(map.get(key_hash(b"c")), None);
        assert_ne!(key_hash(b""), key_hash(b"\0"));
    }
}
