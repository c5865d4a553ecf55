//! The offset index of one segment; Kafka's OffsetIndex.
//!
//! On disk: 8-byte entries, big-endian `relative offset u32` (an offset minus the segment's base
//! offset) and `file position u32` of the batch holding it. One entry per `index.interval.bytes`
//! of log; entries increase strictly in both fields. Rebuilt from the `.log` on recovery.

use std::path::Path;

use crate::error::Result;
use crate::mapped_file::MappedFile;

const ENTRY_SIZE: u64 = 8;

/// Maps offsets to file positions of one segment.
pub struct OffsetIndex {
    file: MappedFile,
    base_offset: i64,
}

impl OffsetIndex {
    /// Opens the index at `path`, keeping its first `entries` entries (all when `None`).
    pub fn open(
        path: &Path,
        base_offset: i64,
        entries: Option<u64>,
        max_bytes: u64,
    ) -> Result<OffsetIndex> {
        let file = MappedFile::open(path, entries.map(|n| n * ENTRY_SIZE), max_bytes)?;
        let index = OffsetIndex { file, base_offset };
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

    /// The entry at `n`: (absolute offset, position).
    pub fn entry(&self, n: u64) -> (i64, u32) {
        let raw = self.file.bytes(n * ENTRY_SIZE, ENTRY_SIZE);
        let relative = u32::from_be_bytes(raw[0..4].try_into().expect("4 bytes"));
        let position = u32::from_be_bytes(raw[4..8].try_into().expect("4 bytes"));
        (self.base_offset + i64::from(relative), position)
    }

    /// The last entry, if any.
    pub fn last_entry(&self) -> Option<(i64, u32)> {
        self.entries().checked_sub(1).map(|n| self.entry(n))
    }

    /// Records that `offset` is in the batch at `position`; ignored unless both grow.
    pub fn append(&self, offset: i64, position: u32) -> Result<()> {
        if let Some((last_offset, last_position)) = self.last_entry() {
            if offset <= last_offset || position <= last_position {
                return Ok(());
            }
        }
        let relative = (offset - self.base_offset) as u32;
        let mut entry = [0u8; ENTRY_SIZE as usize];
        entry[0..4].copy_from_slice(&relative.to_be_bytes());
        entry[4..8].copy_from_slice(&position.to_be_bytes());
        self.file.append(&entry).map(|_| ())
    }

    /// The position to start scanning from for `offset`: that of the largest entry at or below
    /// it, or the segment start.
    pub fn lookup(&self, offset: i64) -> u32 {
        let (mut lo, mut hi) = (0, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid).0 <= offset {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        if lo == 0 {
            0
        } else {
            self.entry(lo - 1).1
        }
    }

    /// Whether the entries are strictly increasing, positions lie below `log_size`, and offsets
    /// lie below `next_offset`: what a reopened index must satisfy to be trusted.
    pub fn is_sane(&self, log_size: u64) -> bool {
        let mut previous: Option<(i64, u32)> = None;
        for n in 0..self.entries() {
            let (offset, position) = self.entry(n);
            if u64::from(position) >= log_size || offset < self.base_offset {
                return false;
            }
            if let Some((po, pp)) = previous {
                if offset <= po || position <= pp {
                    return false;
                }
            }
            previous = Some((offset, position));
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
    fn lookup_finds_floor_entry() {
        let dir = tempfile::tempdir().unwrap();
        let index = OffsetIndex::open(&dir.path().join("0.index"), 100, None, 1024).unwrap();
        assert_eq!(index.lookup(150), 0);
        index.append(110, 4000).unwrap();
        index.append(120, 8000).unwrap();
        index.append(115, 9000).unwrap(); // not increasing: ignored
        assert_eq!(index.entries(), 2);
        assert_eq!(index.lookup(105), 0);
        assert_eq!(index.lookup(110), 4000);
        assert_eq!(index.lookup(119), 4000);
        assert_eq!(index.lookup(500), 8000);
        assert!(index.is_sane(8001));
        assert!(!index.is_sane(8000));
    }
}
