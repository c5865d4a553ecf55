//! The offset index of one segment; Kafka's OffsetIndex.

use super::abstract_index::{relative_offset, u32_at, AbstractIndex, IndexEntry};
use crate::error::Result;

/// One offset index entry: an offset and the file position of the batch holding it.
///
/// On disk: 8 bytes, big-endian `relative offset u32` (the offset minus the segment's base
/// offset) and `file position u32`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetPosition {
    /// Absolute offset.
    pub offset: i64,
    /// Byte position of the batch in the `.log`.
    pub position: u32,
}

impl IndexEntry for OffsetPosition {
    type Pair = (i64, u32);
    const SIZE: u64 = 8;

    fn read(raw: &[u8], base_offset: i64) -> Self {
        OffsetPosition {
            offset: base_offset + i64::from(u32_at(raw, 0)),
            position: u32_at(raw, 4),
        }
    }

    fn write(&self, base_offset: i64, out: &mut [u8]) {
        out[0..4].copy_from_slice(&relative_offset(self.offset, base_offset).to_be_bytes());
        out[4..8].copy_from_slice(&self.position.to_be_bytes());
    }

    fn follows(&self, previous: &Self) -> bool {
        self.offset > previous.offset && self.position > previous.position
    }

    fn pair(&self) -> (i64, u32) {
        (self.offset, self.position)
    }
}

/// Maps offsets to file positions of one segment.
///
/// On disk (`{base_offset:020}.index`): 8-byte entries, relative offset u32 and file position
/// u32, big-endian ([`OffsetPosition`]). One entry per `index.interval.bytes` of log; entries
/// increase strictly in both fields. Rebuilt from the `.log` on recovery.
pub type OffsetIndex = AbstractIndex<OffsetPosition>;

impl AbstractIndex<OffsetPosition> {
    /// Records that `offset` is in the batch at `position`; ignored unless both grow.
    pub fn append(&self, offset: i64, position: u32) -> Result<()> {
        self.push(OffsetPosition { offset, position })
    }

    /// The position to start scanning from for `offset`: that of the largest entry at or below
    /// it, or the segment start.
    pub fn lookup(&self, offset: i64) -> u32 {
        self.floor(|e| e.offset <= offset).map_or(0, |e| e.position)
    }

    /// The largest entry at or below `offset`, as `lookup` finds it.
    pub fn lookup_entry(&self, offset: i64) -> Option<OffsetPosition> {
        self.floor(|e| e.offset <= offset)
    }

    /// Whether the entries are strictly increasing, positions lie below `log_size`, and offsets
    /// are not below the base offset: what a reopened index must satisfy to be trusted.
    pub fn is_sane(&self, log_size: u64) -> bool {
        let base_offset = self.base_offset();
        self.all_entries(|e| u64::from(e.position) < log_size && e.offset >= base_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn on_disk_format_is_kafkas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let index = OffsetIndex::open(&path, 100, None, 1024).unwrap();
        index.append(0x0102_0304 + 100, 0x0a0b_0c0d).unwrap();
        index.trim().unwrap();
        drop(index);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d]
        );
        // A torn entry at the end is cut on open.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[9, 9, 9]);
        std::fs::write(&path, bytes).unwrap();
        let index = OffsetIndex::open(&path, 100, None, 1024).unwrap();
        assert_eq!(index.entries(), 1);
        assert_eq!(index.entry(0), (0x0102_0304 + 100, 0x0a0b_0c0d));
    }

    proptest! {
        #[test]
        fn lookup_is_the_floor_of_what_was_appended(
            steps in proptest::collection::vec((1..50i64, 1..5000u32), 0..40),
            target in 0..3000i64,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let index = OffsetIndex::open(&dir.path().join("0.index"), 7, None, 4096).unwrap();
            let (mut offset, mut position, mut appended) = (7i64, 0u32, Vec::new());
            for (d_offset, d_position) in steps {
                offset += d_offset;
                position += d_position;
                index.append(offset, position).unwrap();
                appended.push((offset, position));
            }
            let expected = appended.iter().rev().find(|(o, _)| *o <= target).map_or(0, |e| e.1);
            prop_assert_eq!(index.lookup(target), expected);
            prop_assert!(index.is_sane(u64::from(position) + 1));
        }
    }
}
