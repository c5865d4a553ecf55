//! What every per-segment index shares: a memory-mapped file of fixed-size entries, offsets
//! stored relative to the segment's base offset, binary search, trim and truncation; Kafka's
//! `AbstractIndex`. `OffsetIndex` and `TimeIndex` (and, later, the transaction index) differ
//! only in their entry type and their sanity rules.

use std::marker::PhantomData;
use std::path::Path;

use crate::error::Result;
use crate::mapped_file::{MappedFile, WriteMode};

/// One fixed-size entry of an index file, with its on-disk encoding.
pub trait IndexEntry: Copy {
    /// Bytes per entry on disk.
    const SIZE: u64;
    /// Decodes `raw` (exactly `SIZE` bytes) in a segment at `base_offset`.
    fn read(raw: &[u8], base_offset: i64) -> Self;
    /// Encodes the entry into `out` (exactly `SIZE` bytes) for a segment at `base_offset`.
    fn write(&self, base_offset: i64, out: &mut [u8]);
    /// Whether this entry may follow `previous`: the order an index keeps (what makes binary
    /// search valid), checked on append and on a reopened file.
    fn follows(&self, previous: &Self) -> bool;
    /// The entry as the tuple the log segment reads, in on-disk field order.
    type Pair;
    /// This entry as a [`Self::Pair`].
    fn pair(&self) -> Self::Pair;
}

/// An offset as stored in an index: relative to the segment's base offset, in 4 bytes. Callers
/// keep offsets within the segment (a segment rolls before its relative offsets overflow), so
/// this cast is what Kafka's `relativeOffset` computes.
pub fn relative_offset(offset: i64, base_offset: i64) -> u32 {
    (offset - base_offset) as u32
}

/// A big-endian `u32` at `at` in an entry.
pub fn u32_at(raw: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&raw[at..at + 4]);
    u32::from_be_bytes(b)
}

/// A big-endian `i64` at `at` in an entry.
pub fn i64_at(raw: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&raw[at..at + 8]);
    i64::from_be_bytes(b)
}

/// A file of `E` entries, appended in increasing order and never rewritten in place; it
/// holds a mapping but no file descriptor (entries are written through the mapping, as in
/// Kafka, which closes an index's file once it is mapped).
/// [`super::OffsetIndex`] and [`super::TimeIndex`] are this with their entry type; each adds
/// its `append` (what "in order" means), `lookup` and `is_sane` in its own module.
pub struct AbstractIndex<E> {
    /// The mapping; its length is a whole number of entries (a torn tail is cut on open).
    file: MappedFile,
    /// The segment's base offset: entries store offsets relative to it.
    base_offset: i64,
    _entry: PhantomData<E>,
}

impl<E: IndexEntry> AbstractIndex<E> {
    /// Opens the index at `path`, keeping its first `entries` entries (all when `None`), with
    /// room for `max_bytes`. A partial entry at the end (a torn write) is cut off.
    pub fn open(
        path: &Path,
        base_offset: i64,
        entries: Option<u64>,
        max_bytes: u64,
    ) -> Result<AbstractIndex<E>> {
        // No descriptor is kept: entries are stored through a writable mapping, so a
        // partition's indexes cost no open files (see `MappedFile`).
        let file = MappedFile::open_with(
            path,
            entries.map(|n| n * E::SIZE),
            max_bytes,
            WriteMode::Mapping,
        )?;
        let index = AbstractIndex {
            file,
            base_offset,
            _entry: PhantomData,
        };
        let whole = index.file.len() / E::SIZE * E::SIZE;
        if whole != index.file.len() {
            index.file.truncate(whole)?;
        }
        Ok(index)
    }

    /// Renames the index file; the mapping stays valid.
    pub fn rename(&self, to: &std::path::Path) -> Result<()> {
        self.file.rename(to)
    }

    /// The segment's base offset.
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.file.len() / E::SIZE
    }

    /// Whether another entry fits.
    pub fn is_full(&self) -> bool {
        self.file.remaining() < E::SIZE
    }

    /// The entry at `n` (below [`Self::entries`]).
    pub fn get(&self, n: u64) -> E {
        E::read(self.file.bytes(n * E::SIZE, E::SIZE), self.base_offset)
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<E> {
        self.entries().checked_sub(1).map(|n| self.get(n))
    }

    /// The entry at `n` as a tuple.
    pub fn entry(&self, n: u64) -> E::Pair {
        self.get(n).pair()
    }

    /// The last entry as a tuple, if any.
    pub fn last_entry(&self) -> Option<E::Pair> {
        self.last().map(|e| e.pair())
    }

    /// Every entry, in order.
    pub fn iter(&self) -> impl Iterator<Item = E> + '_ {
        (0..self.entries()).map(|n| self.get(n))
    }

    /// Appends `entry` unless it does not [`IndexEntry::follows`] the last one (then it is
    /// dropped: a sparse index may skip entries, never hold them out of order).
    pub fn push(&self, entry: E) -> Result<()> {
        if self.last().is_some_and(|last| !entry.follows(&last)) {
            return Ok(());
        }
        let mut raw = vec![0u8; E::SIZE as usize];
        entry.write(self.base_offset, &mut raw);
        self.file.append(&raw).map(|_| ())
    }

    /// The last entry for which `below` holds, where `below` holds for a prefix of the entries
    /// (they are sorted): Kafka's `largestLowerBoundSlotFor`. `None` when it holds for none.
    pub fn floor(&self, below: impl Fn(&E) -> bool) -> Option<E> {
        self.prefix_len(below).checked_sub(1).map(|n| self.get(n))
    }

    /// How many entries, from the first, `below` holds for (it holds for a prefix).
    pub fn prefix_len(&self, below: impl Fn(&E) -> bool) -> u64 {
        let (mut lo, mut hi) = (0, self.entries());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(&self.get(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// How many entries, from the first, pass `valid` and follow their predecessors: the part
    /// of an index reopened after a crash that holds together (it may end in preallocated
    /// zeros or torn entries).
    pub fn sane_prefix_len(&self, valid: impl Fn(&E) -> bool) -> u64 {
        let mut previous: Option<E> = None;
        let mut n = 0;
        for entry in self.iter() {
            if !valid(&entry) || previous.is_some_and(|p| !entry.follows(&p)) {
                break;
            }
            previous = Some(entry);
            n += 1;
        }
        n
    }

    /// Keeps the first `entries` entries, dropping the rest (recovery, before readers exist).
    pub fn truncate_entries(&self, entries: u64) -> Result<()> {
        self.file.truncate(entries.min(self.entries()) * E::SIZE)
    }

    /// Whether every entry passes `valid` and follows its predecessor: the shape of every
    /// index's sanity check on a reopened file (Kafka's `sanityCheck`).
    pub fn all_entries(&self, valid: impl Fn(&E) -> bool) -> bool {
        let mut previous: Option<E> = None;
        for entry in self.iter() {
            if !valid(&entry) || previous.is_some_and(|p| !entry.follows(&p)) {
                return false;
            }
            previous = Some(entry);
        }
        true
    }

    /// Drops every entry.
    pub fn clear(&self) -> Result<()> {
        self.file.truncate(0)
    }

    /// Drops every entry while readers may still hold the old mapping: the file keeps its
    /// size (see `MappedFile::forget_from`).
    pub fn forget_all(&self) -> Result<()> {
        self.file.forget_from(0)
    }

    /// Cuts the file to its entries (when the segment rolls or closes).
    pub fn trim(&self) -> Result<()> {
        self.file.trim()
    }

    /// Forces the index to disk.
    pub fn sync(&self) -> Result<()> {
        self.file.sync()
    }
}
