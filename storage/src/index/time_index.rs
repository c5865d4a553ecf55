//! The time index of one segment; Kafka's TimeIndex.
//!
//! On disk: 12-byte entries, big-endian `timestamp i64` and `relative offset u32`: the largest
//! timestamp seen so far in the segment and the offset of the batch that carried it. Timestamps
//! increase strictly. The last entry holds the segment's largest timestamp once it has rolled.
//! Rebuilt from the `.log` on recovery.

use std::path::Path;

use crate::error::Result;
use crate::mapped_file::MappedFile;

const ENTRY_SIZE: u64 = 12;

/// Maps timestamps to offsets of one segment.
pub struct TimeIndex {
    file: MappedFile,
    base_offset: i64,
}

impl TimeIndex {
    /// Opens the index at `path`, keeping its first `entries` entries (all when `None`).
    pub fn open(
        path: &Path,
        base_offset: i64,
        entries: Option<u64>,
        max_bytes: u64,
    ) -> Result<TimeIndex> {
        let file = MappedFile::open(path, entries.map(|n| n * ENTRY_SIZE), max_bytes)?;
        let index = TimeIndex { file, base_offset };
        let whole = index.file.len() / ENTRY_SIZE * ENTRY_SIZE;
        if whole != index.file.len() {
            index.file.truncate(whole)?;
        }
        Ok(index)
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.file.len() / ENTRY_SIZE
    }

    /// Whether another entry fits.
    pub fn is_full(&self) -> bool {
        self.file.remaining() < ENTRY_SIZE
    }

    /// The entry at `n`: (timestamp, absolute offset).
    pub fn entry(&self, n: u64) -> (i64, i64) {
        let raw = self.file.bytes(n * ENTRY_SIZE, ENTRY_SIZE);
        let timestamp = i64::from_be_bytes(raw[0..8].try_into().expect("8 bytes"));
        let relative = u32::from_be_bytes(raw[8..12].try_into().expect("4 bytes"));
        (timestamp, self.base_offset + i64::from(relative))
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<(i64, i64)> {
        self.entries().checked_sub(1).map(|n| self.entry(n))
    }

    /// Records that the segment's largest timestamp is now `timestamp`, at `offset`; ignored
    /// unless the timestamp grows.
    pub fn append(&self, timestamp: i64, offset: i64) -> Result<()> {
        if let Some((last_ts, last_offset)) = self.last_entry() {
            if timestamp <= last_ts || offset < last_offset {
                return Ok(());
            }
        }
        let mut entry = [0u8; ENTRY_SIZE as usize];
        entry[0..8].copy_from_slice(&timestamp.to_be_bytes());
        entry[8..12].copy_from_slice(&((offset - self.base_offset) as u32).to_be_bytes());
        self.file.append(&entry).map(|_| ())
    }

    /// The offset to start searching from for the first record at or after `timestamp`: that of
    /// the largest entry whose timestamp is below it, or the segment's base offset.
    pub fn lookup(&self, timestamp: i64) -> i64 {
        let (mut lo, mut hi) = (0, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid).0 < timestamp {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            self.base_offset
        } else {
            self.entry(lo - 1).1
        }
    }

    /// Whether timestamps increase strictly and offsets do not decrease nor fall below the base.
    pub fn is_sane(&self, next_offset: i64) -> bool {
        let mut previous: Option<(i64, i64)> = None;
        for n in 0..self.entries() {
            let (ts, offset) = self.entry(n);
            if offset < self.base_offset || offset >= next_offset.max(self.base_offset + 1) {
                return false;
            }
            if let Some((pts, po)) = previous {
                if ts <= pts || offset < po {
                    return false;
                }
            }
            previous = Some((ts, offset));
        }
        true
    }

    /// Drops every entry.
    pub fn clear(&self) -> Result<()> {
        self.file.truncate(0)
    }

    /// Cuts the file to its entries.
    pub fn trim(&self) -> Result<()> {
        self.file.trim()
    }

    /// Forces the index to disk.
    pub fn sync(&self) -> Result<()> {
        self.file.sync()
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
}
