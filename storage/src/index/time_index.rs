//! The time index of one segment; Kafka's TimeIndex.

use super::abstract_index::{i64_at, relative_offset, u32_at, AbstractIndex, IndexEntry};
use crate::error::Result;

/// One time index entry (Kafka's `TimestampOffset`): a timestamp and the offset of the batch
/// that carried it.
///
/// On disk: 12 bytes, big-endian `timestamp i64` and `relative offset u32` (the offset minus
/// the segment's base offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeIndexEntry {
    /// Largest timestamp so far.
    pub timestamp: i64,
    /// Absolute offset.
    pub offset: i64,
}

impl IndexEntry for TimeIndexEntry {
    type Pair = (i64, i64);
    const SIZE: u64 = 12;

    fn read(raw: &[u8], base_offset: i64) -> Self {
        TimeIndexEntry {
            timestamp: i64_at(raw, 0),
            offset: base_offset + i64::from(u32_at(raw, 8)),
        }
    }

    fn write(&self, base_offset: i64, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&relative_offset(self.offset, base_offset).to_be_bytes());
    }

    fn follows(&self, previous: &Self) -> bool {
        self.timestamp > previous.timestamp && self.offset >= previous.offset
    }

    fn pair(&self) -> (i64, i64) {
        (self.timestamp, self.offset)
    }
}

/// Maps timestamps to offsets of one segment.
///
/// On disk (`{base_offset:020}.timeindex`): 12-byte entries, timestamp i64 and relative offset
/// u32, big-endian ([`TimeIndexEntry`]): the largest timestamp seen so far in the segment and
/// the offset of the batch that carried it. Timestamps increase strictly. The last entry holds
/// the segment's largest timestamp once it has rolled. Rebuilt from the `.log` on recovery.
pub type TimeIndex = AbstractIndex<TimeIndexEntry>;

impl AbstractIndex<TimeIndexEntry> {
    /// Records that the segment's largest timestamp is now `timestamp`, at `offset`; ignored
    /// unless the timestamp grows.
    pub fn append(&self, timestamp: i64, offset: i64) -> Result<()> {
        self.push(TimeIndexEntry { timestamp, offset })
    }

    /// The offset to start searching from for the first record at or after `timestamp`: that of
    /// the largest entry whose timestamp is below it, or the segment's base offset.
    pub fn lookup(&self, timestamp: i64) -> i64 {
        self.floor(|e| e.timestamp < timestamp)
            .map_or(self.base_offset(), |e| e.offset)
    }

    /// Whether timestamps increase strictly and offsets do not decrease, nor fall below the
    /// base or at or past `next_offset`.
    pub fn is_sane(&self, next_offset: i64) -> bool {
        let base_offset = self.base_offset();
        let end = next_offset.max(base_offset + 1);
        self.all_entries(|e| e.offset >= base_offset && e.offset < end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_starts_before_target() {
        let dir = tempfile::tempdir().unwrap();
        let index = TimeIndex::open(&dir.path().join("0.timeindex"), 10, None, 1200).unwrap();
        index.append(1000, 12).unwrap();
        index.append(900, 13).unwrap(); // older timestamp: ignored
        index.append(2000, 20).unwrap();
        assert_eq!(index.entries(), 2);
        assert_eq!(index.lookup(500), 10);
        assert_eq!(index.lookup(1000), 10);
        assert_eq!(index.lookup(1001), 12);
        assert_eq!(index.lookup(5000), 20);
        assert!(index.is_sane(21));
        assert!(!index.is_sane(20));
    }

    #[test]
    fn on_disk_format_is_kafkas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let index = TimeIndex::open(&path, 10, None, 1200).unwrap();
        index
            .append(0x0102_0304_0506_0708, 10 + 0x0a0b_0c0d)
            .unwrap();
        index.trim().unwrap();
        drop(index);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x0c, 0x0d]
        );
    }
}
