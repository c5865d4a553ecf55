//! The aborted-transaction index of one segment; Kafka's `TransactionIndex` with `AbortedTxn`.
//!
//! A read_committed Fetch returns, with its records, the aborted transactions whose records
//! it may hold, so the consumer can skip them; this index is where they are found. An entry is
//! written when an abort marker of a transaction with records in this partition lands in the
//! segment, so the entries are in marker order. Unlike the offset and time indexes the file is
//! written through, never mapped, and created only with its first entry: most segments never
//! see an abort. All entries are also kept in memory (a few per abort, 34 bytes each), so no
//! descriptor is kept: a write or sync opens the file briefly (aborts are rare), and a
//! partition's open files do not grow with the segments that saw one.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Result, StorageError};

/// Version of the entries written (Kafka's `AbortedTxn.CURRENT_VERSION`).
const VERSION: i16 = 0;

/// One aborted transaction (Kafka's `AbortedTxn`).
///
/// On disk: 34 bytes, big-endian `version i16 | producerId i64 | firstOffset i64 |
/// lastOffset i64 | lastStableOffset i64`; `lastOffset` is the abort marker's offset and
/// `lastStableOffset` the partition's last stable offset once the marker was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer whose transaction aborted.
    pub producer_id: i64,
    /// Offset of its first record in this partition.
    pub first_offset: i64,
    /// Offset of the abort marker.
    pub last_offset: i64,
    /// The last stable offset right after the marker: every transaction that began below it
    /// had ended, which lets a search stop early.
    pub last_stable_offset: i64,
}

/// Bytes of one entry on disk.
pub const ENTRY_SIZE: usize = 34;

impl AbortedTxn {
    fn encode(&self) -> [u8; ENTRY_SIZE] {
        let mut out = [0u8; ENTRY_SIZE];
        out[0..2].copy_from_slice(&VERSION.to_be_bytes());
        out[2..10].copy_from_slice(&self.producer_id.to_be_bytes());
        out[10..18].copy_from_slice(&self.first_offset.to_be_bytes());
        out[18..26].copy_from_slice(&self.last_offset.to_be_bytes());
        out[26..34].copy_from_slice(&self.last_stable_offset.to_be_bytes());
        out
    }

    fn decode(raw: &[u8]) -> Option<AbortedTxn> {
        let i64_at = |at: usize| raw.get(at..at + 8)?.try_into().ok().map(i64::from_be_bytes);
        let version = i16::from_be_bytes(raw.get(0..2)?.try_into().ok()?);
        if version != VERSION {
            return None;
        }
        let txn = AbortedTxn {
            producer_id: i64_at(2)?,
            first_offset: i64_at(10)?,
            last_offset: i64_at(18)?,
            last_stable_offset: i64_at(26)?,
        };
        (txn.first_offset <= txn.last_offset).then_some(txn)
    }
}

/// The file and its entries, under one lock.
#[derive(Debug)]
struct Inner {
    path: PathBuf,
    /// Whether the file exists (it is created with the first entry).
    exists: bool,
    entries: Vec<AbortedTxn>,
    /// Written since the last sync.
    dirty: bool,
}

/// The aborted transactions whose markers are in one segment.
///
/// On disk (`{base_offset:020}.txnindex`, present once a marker was indexed): 34-byte
/// [`AbortedTxn`] entries in marker order. Rebuilt from the log by replaying the producer state
/// when recovery cannot trust it (see `log_loader`).
#[derive(Debug)]
pub struct TransactionIndex {
    inner: Mutex<Inner>,
}

/// What a search of the indexes found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbortedTxnSearch {
    /// The aborted transactions found, in marker order.
    pub aborted: Vec<AbortedTxn>,
    /// Set once an entry showed every transaction that began below the bound had ended, so
    /// later segments need no search.
    pub complete: bool,
}

impl TransactionIndex {
    /// Opens the index at `path`, reading its entries if the file exists; the flag is false
    /// when the file holds something other than whole valid entries in marker order (the
    /// entries before the first bad one are kept), and the caller then rebuilds it.
    pub fn open(path: &Path) -> Result<(TransactionIndex, bool)> {
        let mut entries = Vec::new();
        let mut exists = false;
        let mut sane = true;
        match OpenOptions::new().read(true).open(path) {
            Ok(mut f) => {
                let mut raw = Vec::new();
                f.read_to_end(&mut raw)
                    .map_err(StorageError::io("reading transaction index", path))?;
                sane = raw.len() % ENTRY_SIZE == 0;
                for chunk in raw.chunks_exact(ENTRY_SIZE) {
                    match AbortedTxn::decode(chunk) {
                        Some(txn)
                            if entries
                                .last()
                                .is_none_or(|l: &AbortedTxn| l.last_offset < txn.last_offset) =>
                        {
                            entries.push(txn)
                        }
                        _ => {
                            sane = false;
                            break;
                        }
                    }
                }
                exists = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io("opening transaction index", path)(e)),
        }
        let index = TransactionIndex {
            inner: Mutex::new(Inner {
                path: path.to_path_buf(),
                exists,
                entries,
                dirty: false,
            }),
        };
        Ok((index, sane))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file's path (whether or not it exists yet).
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// Appends one entry, creating the file with the first. Markers come in offset order, so
    /// each entry's marker follows the last one's (an out-of-order entry is refused).
    pub fn append(&self, txn: AbortedTxn) -> Result<()> {
        let mut inner = self.lock();
        if inner
            .entries
            .last()
            .is_some_and(|l| l.last_offset >= txn.last_offset)
        {
            return Err(StorageError::InvalidRecords(
                "an aborted transaction's marker does not follow the indexed ones",
            ));
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&inner.path)
            .map_err(StorageError::io("opening transaction index", &inner.path))?;
        inner.exists = true;
        file.write_all(&txn.encode())
            .map_err(StorageError::io("writing transaction index", &inner.path))?;
        inner.entries.push(txn);
        inner.dirty = true;
        Ok(())
    }

    /// Every entry, in marker order.
    pub fn all(&self) -> Vec<AbortedTxn> {
        self.lock().entries.clone()
    }

    /// Whether the index has no entry.
    pub fn is_empty(&self) -> bool {
        self.lock().entries.is_empty()
    }

    /// The aborted transactions that may hold records in `[fetch_offset, upper_bound)`
    /// (Kafka's `collectAbortedTxns`): marker at or after the fetch offset, first record
    /// before the bound.
    pub fn collect(&self, fetch_offset: i64, upper_bound: i64, into: &mut AbortedTxnSearch) {
        for txn in &self.lock().entries {
            if txn.last_offset >= fetch_offset && txn.first_offset < upper_bound {
                into.aborted.push(*txn);
            }
            if txn.last_stable_offset >= upper_bound {
                into.complete = true;
                return;
            }
        }
    }

    /// Drops every entry (recovery rebuilds them); the file is emptied.
    pub fn reset(&self) -> Result<()> {
        let mut inner = self.lock();
        inner.entries.clear();
        if inner.exists {
            OpenOptions::new()
                .write(true)
                .open(&inner.path)
                .and_then(|f| f.set_len(0))
                .map_err(StorageError::io(
                    "truncating transaction index",
                    &inner.path,
                ))?;
            inner.dirty = true;
        }
        Ok(())
    }

    /// Renames the file (if it exists) to `to`; later writes go there.
    pub fn rename(&self, to: &Path) -> Result<()> {
        let mut inner = self.lock();
        if inner.exists {
            std::fs::rename(&inner.path, to)
                .map_err(StorageError::io("renaming transaction index", &inner.path))?;
        }
        inner.path = to.to_path_buf();
        Ok(())
    }

    /// Forces what was written to disk, if anything was since the last sync.
    pub fn sync(&self) -> Result<()> {
        let mut inner = self.lock();
        if !inner.dirty {
            return Ok(());
        }
        // An fsync through any descriptor of the file syncs what every write put there.
        match OpenOptions::new().read(true).open(&inner.path) {
            Ok(f) => f
                .sync_data()
                .map_err(StorageError::io("syncing transaction index", &inner.path))?,
            // Deleted with its segment meanwhile: nothing is left to make durable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StorageError::io("syncing transaction index", &inner.path)(
                    e,
                ))
            }
        }
        inner.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    #[test]
    fn entries_survive_a_reopen_in_kafkas_layout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let (index, sane) = TransactionIndex::open(&path).unwrap();
        assert!(sane && index.is_empty() && !path.exists(), "created lazily");
        index.append(txn(7, 0, 10, 11)).unwrap();
        index.append(txn(8, 5, 20, 21)).unwrap();
        assert!(
            index.append(txn(9, 1, 15, 16)).is_err(),
            "markers come in order"
        );
        index.sync().unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw.len(), 2 * ENTRY_SIZE);
        assert_eq!(&raw[0..2], &[0, 0]);
        assert_eq!(i64::from_be_bytes(raw[2..10].try_into().unwrap()), 7);
        let (reopened, sane) = TransactionIndex::open(&path).unwrap();
        assert!(sane);
        assert_eq!(reopened.all(), index.all());
        // A torn entry makes the file untrusted; the whole entries before it are still read.
        std::fs::write(&path, &raw[..ENTRY_SIZE + 5]).unwrap();
        let (torn, sane) = TransactionIndex::open(&path).unwrap();
        assert!(!sane);
        assert_eq!(torn.all(), vec![txn(7, 0, 10, 11)]);
    }

    #[test]
    fn collect_finds_overlapping_aborts_and_stops_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let (index, _) = TransactionIndex::open(&dir.path().join("x.txnindex")).unwrap();
        index.append(txn(1, 0, 4, 2)).unwrap();
        index.append(txn(2, 2, 9, 10)).unwrap();
        index.append(txn(3, 12, 15, 16)).unwrap();
        let mut found = AbortedTxnSearch::default();
        index.collect(5, 8, &mut found);
        assert_eq!(found.aborted, vec![txn(2, 2, 9, 10)]);
        assert!(found.complete, "the entry at 9 says all below 10 had ended");
        let mut found = AbortedTxnSearch::default();
        index.collect(0, 20, &mut found);
        assert_eq!(found.aborted.len(), 3);
        assert!(!found.complete);
    }
}
