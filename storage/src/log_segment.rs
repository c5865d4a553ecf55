//! One segment of a partition log; Kafka's LogSegment.
//!
//! A segment is up to four files named after its base offset: the `.log` with record batches
//! exactly as they travel on the wire (base offsets rewritten to their place in the log), the
//! sparse `.index` and the `.timeindex`, and the `.txnindex` of aborted transactions once one
//! of their markers lands here. Only the log's single writer appends; readers see batches once
//! the segment's length is published.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;

use crate::batch::{self, BatchHeader};
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::file_names::{
    segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
};
use crate::index::{AbortedTxn, AbortedTxnSearch, OffsetIndex, TimeIndex, TransactionIndex};
use crate::log::TimestampOffset;
use crate::mapped_file::{MappedFile, WriteMode};

/// Whether a log's batches may leave offsets out between them. Only the log cleaner makes
/// such gaps, so a log it never cleaned must chain exactly: the base offset lies outside the
/// CRC, and a damaged one must be caught as damage, not taken for a compaction gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gaps {
    /// Each batch starts where the one before ended.
    Forbidden,
    /// A batch starts at or after where the one before ended (a compacted log).
    Allowed,
}

impl Gaps {
    /// Whether a batch at `base_offset` may follow one that ended before `expected`.
    pub fn follows(self, base_offset: i64, expected: i64) -> bool {
        match self {
            Gaps::Forbidden => base_offset == expected,
            Gaps::Allowed => base_offset >= expected,
        }
    }
}

/// What the writer keeps about the segment between appends.
#[derive(Debug, Default)]
struct WriterState {
    /// Log bytes appended since the last offset index entry (`index.interval.bytes`).
    bytes_since_index_entry: u64,
    /// The largest timestamp in the segment and the base offset of the batch that carried it.
    /// May be `NO_TIMESTAMP` when no batch has a timestamp.
    max_timestamp: Option<TimestampOffset>,
    /// The largest timestamp of the first append (the first batch's on reload), which
    /// `segment.ms` measures from when it is a timestamp (Kafka's `rollingBasedTimestamp`).
    rolling_timestamp: Option<i64>,
}

/// A segment's open files.
struct SegmentFiles {
    log: MappedFile,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Aborted transactions whose markers are in this segment.
    txn_index: TransactionIndex,
    /// Whether the `.txnindex` read at open held only whole, ordered entries.
    txn_index_sane: bool,
}

impl SegmentFiles {
    /// The files, with the `.log` read-ahead on for a bulk read.
    fn bulk(&self) -> &SegmentFiles {
        self.log.advise_bulk();
        self
    }

    /// Opens the files of the segment at `base_offset` in `dir` (named with `suffix`); the
    /// `.log` is created when missing only if `create` (a lazy open finds it or fails).
    fn open(
        dir: &Path,
        base_offset: i64,
        index_bytes: (u64, u64),
        capacity: u64,
        mode: WriteMode,
        suffix: &str,
        create: bool,
    ) -> Result<SegmentFiles> {
        let path = |name: &str| segment_file(dir, base_offset, &format!("{name}{suffix}"));
        let log = if create {
            MappedFile::open_with(&path(LOG_SUFFIX), None, capacity, mode)?
        } else {
            MappedFile::open_existing(&path(LOG_SUFFIX), capacity, mode)?
        };
        // What start-up and metadata reads (last batches, first header, largest timestamp)
        // touch is a page here and there; bulk reads ask for read-ahead (`bulk`).
        log.advise_random();
        let offset_index =
            OffsetIndex::open(&path(INDEX_SUFFIX), base_offset, None, index_bytes.0)?;
        let time_index =
            TimeIndex::open(&path(TIME_INDEX_SUFFIX), base_offset, None, index_bytes.1)?;
        let (txn_index, txn_index_sane) = TransactionIndex::open(&path(TXN_INDEX_SUFFIX))?;
        Ok(SegmentFiles {
            log,
            offset_index,
            time_index,
            txn_index,
            txn_index_sane,
        })
    }
}

/// A `.log` with its `.index` and `.timeindex`.
///
/// A closed segment a trusted start vouched for (`LogSegment::lazy`) is known at first only by
/// its base offset, from its file name, and the next segment's base offset; its files are
/// opened at their first use (Kafka's lazy segments and indexes), so a start costs no
/// syscall per closed segment: on a cold page cache each open reads an inode from the disk.
pub struct LogSegment {
    base_offset: i64,
    /// The partition folder, where a lazy segment's files are opened from.
    dir: PathBuf,
    /// Capacities of the offset and the time index in bytes, for a lazy open.
    index_bytes: (u64, u64),
    /// The files: opened at once for a new, active or recovered segment, at first use for a
    /// lazy one.
    files: OnceLock<SegmentFiles>,
    /// Held while a lazy segment's files are opened, so they are opened once.
    opening: Mutex<()>,
    /// Offset after the last published batch; written after the log length, so a reader who
    /// sees it also sees the bytes.
    next_offset: AtomicI64,
    /// Wall time when this segment object was made, also on reload (Kafka's `created`):
    /// `segment.ms` measures from it when the first batch has no timestamp.
    created_ms: i64,
    state: Mutex<WriterState>,
    /// The `.log` bytes a trusted load took without checking their CRCs (the segment's size
    /// then; 0 when every byte was checked or written by this run): the scrub checks them in
    /// the background, the read path checks each batch it serves from them meanwhile.
    unverified_end: AtomicU64,
    /// Where the scrub got to: batches before `position` passed their CRC and chain.
    scrub: Mutex<ScrubCursor>,
    /// `scrub.position`, readable by the read path without the lock.
    verified: AtomicU64,
    /// Whether the indexes passed the full sanity check; made at their first use for a
    /// segment loaded trusted (Kafka's lazy index), at once otherwise.
    index_checked: OnceLock<bool>,
    /// Set when an index entry was found not to point at its batch: lookups then scan from
    /// the segment start, and the next start rebuilds the index.
    index_distrusted: AtomicBool,
    /// Set by `load_deferred`: the largest timestamp is not known yet, and is read from the
    /// tail of the files at its first use (`tail_loaded`), so a start reads nothing of a
    /// closed segment (Kafka's lazy segments).
    deferred: AtomicBool,
    /// Done once the deferred tail was read.
    tail_loaded: OnceLock<()>,
    /// Set by `seal`: the segment takes no more appends, so once synced its `.log` needs no
    /// descriptor (reads go through the mapping).
    sealed: AtomicBool,
}

/// What the tail of a trusted segment says: its next offset and largest timestamp.
struct Tail {
    next_offset: i64,
    max_timestamp: Option<TimestampOffset>,
}

/// How far the scrub of one segment got.
#[derive(Debug, Clone, Copy)]
struct ScrubCursor {
    /// Bytes from the start whose batches passed.
    position: u64,
    /// The base offset the batch at `position` must have (or exceed, in a compacted log).
    expected: i64,
    /// The next offset index entry to compare with the batches walked.
    next_entry: u64,
}

/// What one step of the scrub found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrubStep {
    /// This many more bytes passed; there is more to check.
    Checked(u64),
    /// Every byte the load did not check has now passed.
    Done,
    /// The batch at this `.log` position is torn, fails its CRC, or breaks the offset chain.
    Damaged(u64),
}

/// What a segment read found.
#[derive(Debug)]
pub enum SegmentRead {
    /// No committed batch of this segment reaches the offset.
    Nothing,
    /// Whole batches, each checked.
    Batches(Bytes),
    /// A batch not yet scrubbed is damaged at `position`; `served` are the whole batches
    /// before it that the read reached, if any.
    Damaged {
        /// Batches before the damaged one.
        served: Option<Bytes>,
        /// The damaged batch's `.log` position.
        position: u64,
    },
}

/// How a segment is opened: as the active one that keeps growing, or as a closed one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentRole {
    /// The newest segment: mapped for `segment.bytes`.
    Active,
    /// An older segment: mapped for its size.
    Closed,
}

fn index_capacity(config: &LogConfig, entry: u64) -> u64 {
    (u64::from(config.segment_index_bytes) / entry * entry).max(entry)
}

impl LogSegment {
    /// Creates an empty segment in `dir` starting at `base_offset`, made at `now_ms`.
    pub fn create(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<LogSegment> {
        let mut segment =
            Self::create_with_suffix(dir, base_offset, config, config.segment_bytes, "")?;
        segment.created_ms = now_ms;
        segment.mark_checked();
        Ok(segment)
    }

    /// Opens the segment's files as they are, without checking them (see `recover`). The
    /// segment counts as made now, by the wall clock, as Kafka's reloaded segments do.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        role: SegmentRole,
    ) -> Result<LogSegment> {
        let (capacity, mode) = match role {
            SegmentRole::Active => (config.segment_bytes, WriteMode::Descriptor),
            // Read through the mapping only: a closed segment holds no descriptor.
            SegmentRole::Closed => (0, WriteMode::Closed),
        };
        Self::open_files(dir, base_offset, config, capacity, mode, "")
    }

    /// Creates an empty segment whose files carry `suffix` after their usual names (the
    /// cleaner's `.cleaned`), with room for `capacity` bytes of batches. Leftover files of
    /// that name are replaced.
    pub fn create_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        capacity: u64,
        suffix: &str,
    ) -> Result<LogSegment> {
        for name in [
            LOG_SUFFIX,
            INDEX_SUFFIX,
            TIME_INDEX_SUFFIX,
            TXN_INDEX_SUFFIX,
        ] {
            let path = segment_file(dir, base_offset, &format!("{name}{suffix}"));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("removing stale segment file", path)(e)),
            }
        }
        let segment = Self::open_files(
            dir,
            base_offset,
            config,
            capacity,
            WriteMode::Descriptor,
            suffix,
        )?;
        segment.mark_checked();
        Ok(segment)
    }

    /// Marks the indexes as checked and every byte as verified (a new or recovered segment).
    fn mark_checked(&self) {
        let _ = self.index_checked.set(true);
        self.unverified_end.store(0, Ordering::Release);
    }

    fn open_files(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        capacity: u64,
        mode: WriteMode,
        suffix: &str,
    ) -> Result<LogSegment> {
        let segment = Self::unopened(dir, base_offset, config);
        let files = SegmentFiles::open(
            dir,
            base_offset,
            segment.index_bytes,
            capacity,
            mode,
            suffix,
            true,
        )?;
        let _ = segment.files.set(files);
        Ok(segment)
    }

    /// A segment whose files are not open yet.
    fn unopened(dir: &Path, base_offset: i64, config: &LogConfig) -> LogSegment {
        LogSegment {
            base_offset,
            dir: dir.to_path_buf(),
            index_bytes: (index_capacity(config, 8), index_capacity(config, 12)),
            files: OnceLock::new(),
            opening: Mutex::new(()),
            next_offset: AtomicI64::new(base_offset),
            created_ms: wall_clock_ms(),
            state: Mutex::new(WriterState::default()),
            unverified_end: AtomicU64::new(0),
            scrub: Mutex::new(ScrubCursor {
                position: 0,
                expected: base_offset,
                next_entry: 0,
            }),
            verified: AtomicU64::new(0),
            index_checked: OnceLock::new(),
            index_distrusted: AtomicBool::new(false),
            deferred: AtomicBool::new(false),
            tail_loaded: OnceLock::new(),
            sealed: AtomicBool::new(false),
        }
    }

    /// A closed segment a trusted start vouched for (after a clean shutdown, or wholly below
    /// the recovery point after a crash, and without a `.txnindex`, which the producer state
    /// needs at load), taken without touching its files: its next offset is `next_base`, the
    /// base offset of the segment after it (a roll starts the next segment where this one
    /// ends; in a compacted log the offsets between are absent either way). Its files are
    /// opened at first use (a fetch, the scrub, the cleaner, retention, a size or timestamp
    /// asked for); its largest timestamp is read then from their tail, and its CRCs are left
    /// to the scrub and the read path, as for `load_trusted`. A `.log` gone by then is an
    /// error of that use; a damaged one is found by the checks as at a trusted load.
    pub fn lazy(dir: &Path, base_offset: i64, config: &LogConfig, next_base: i64) -> LogSegment {
        let segment = Self::unopened(dir, base_offset, config);
        segment
            .next_offset
            .store(next_base.max(base_offset), Ordering::Release);
        segment.deferred.store(true, Ordering::Release);
        segment
    }

    /// The segment's files, opened now if this is their first use (a lazy segment). A failed
    /// open is returned to the caller and tried again at the next use.
    fn opened(&self) -> Result<&SegmentFiles> {
        if let Some(files) = self.files.get() {
            return Ok(files);
        }
        let _opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(files) = self.files.get() {
            return Ok(files);
        }
        let files = SegmentFiles::open(
            &self.dir,
            self.base_offset,
            self.index_bytes,
            0,
            WriteMode::Closed,
            "",
            false,
        )?;
        // Everything in the file is left to the scrub and the read path's checks.
        self.unverified_end
            .store(files.log.len(), Ordering::Release);
        Ok(self.files.get_or_init(|| files))
    }

    /// `opened` for a caller with no error to return: a failure is logged, and the caller
    /// answers as for a segment it cannot know anything about.
    fn opened_or_warn(&self, what: &str) -> Option<&SegmentFiles> {
        match self.opened() {
            Ok(files) => Some(files),
            Err(e) => {
                tracing::warn!(segment = %self.log_path().display(), cause = %e, what, "could not open a segment's files");
                None
            }
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, WriterState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The offset of the segment's first record (as named in its file names).
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }

    /// The offset after the segment's last batch.
    pub fn next_offset(&self) -> i64 {
        self.next_offset.load(Ordering::Acquire)
    }

    /// Bytes of batches in the segment (a lazy segment's files are opened for it; 0 when
    /// that fails, which is logged).
    pub fn size(&self) -> u64 {
        self.opened_or_warn("its size").map_or(0, |f| f.log.len())
    }

    /// Whether the segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.size() == 0
    }

    /// Whether the segment's files are open (a lazy one's are not until first used).
    pub fn is_open(&self) -> bool {
        self.files.get().is_some()
    }

    /// The path of the `.log` file.
    pub fn log_path(&self) -> PathBuf {
        match self.files.get() {
            Some(f) => f.log.path(),
            None => segment_file(&self.dir, self.base_offset, LOG_SUFFIX),
        }
    }

    /// The segment's largest timestamp and the base offset of the batch that carried it; the
    /// timestamp is `NO_TIMESTAMP` when no batch has one.
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        self.load_deferred_tail();
        self.state().max_timestamp
    }

    /// The largest timestamp of a record in the segment, if any record has one (Kafka's
    /// `largestRecordTimestamp`).
    pub fn largest_record_timestamp(&self) -> Option<i64> {
        self.max_timestamp()
            .map(|m| m.timestamp)
            .filter(|t| *t >= 0)
    }

    /// What `retention.ms` measures the segment's age from (Kafka's `largestTimestamp`): its
    /// largest record timestamp, or the `.log` file's modification time when no record has
    /// one. `None` when neither is known (the file's time cannot be read): such a segment is
    /// kept, since deleting records is the one mistake retention cannot undo.
    pub fn retention_timestamp(&self) -> Option<i64> {
        self.largest_record_timestamp()
            .or_else(|| self.last_modified_ms())
    }

    /// The `.log` file's modification time in ms since the epoch.
    pub fn last_modified_ms(&self) -> Option<i64> {
        match self.files.get() {
            Some(f) => f.log.modified_ms(),
            // No need to open the files for it.
            None => std::fs::metadata(self.log_path())
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_millis()).ok()),
        }
    }

    /// When this segment object was made (wall time, or the caller's clock for a new one).
    pub fn created_ms(&self) -> i64 {
        self.created_ms
    }

    /// How long the segment has waited to be rolled, as Kafka's `timeWaitedForRoll` measures
    /// it: when its first append carried a timestamp, from that to `incoming_max_timestamp`
    /// (the largest timestamp of the batches about to be appended; record time, so a replay of
    /// old records rolls as they were first written); else wall time since `created_ms`.
    pub fn time_waited_for_roll(&self, now_ms: i64, incoming_max_timestamp: i64) -> i64 {
        match self.state().rolling_timestamp {
            Some(first) if first >= 0 => incoming_max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Whether `size` more bytes of batches, ending at `last_offset`, fit without a roll.
    pub fn can_take(&self, size: u64, last_offset: i64) -> bool {
        let Some(f) = self.files.get() else {
            return false;
        };
        size <= f.log.remaining()
            && last_offset - self.base_offset <= i64::from(u32::MAX)
            && !f.offset_index.is_full()
            && !f.time_index.is_full()
    }

    /// Appends already-checked batches (`headers` are theirs, in order), giving them offsets
    /// from `base_offset` on. Returns the offset of the last record.
    pub fn append(
        &self,
        data: &[u8],
        headers: &[(usize, BatchHeader)],
        base_offset: i64,
        config: &LogConfig,
    ) -> Result<i64> {
        let f = self.opened()?;
        let mut state = self.state();
        let mut next = base_offset;
        let mut placed = Vec::with_capacity(headers.len());
        for (at, h) in headers {
            placed.push((*at, next, *h, leader_prefix(&data[*at..], next)));
            next += i64::from(h.last_offset_delta) + 1;
        }
        // Each batch goes out as its new base offset, its length and the leader epoch,
        // followed by the caller's bytes after those: offsets are assigned without copying or
        // touching the records (the CRC covers neither field).
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * placed.len());
        for (at, _, h, prefix) in &placed {
            parts.push(prefix);
            parts.push(&data[at + LEADER_PREFIX..at + h.size]);
        }
        let position = f.log.append_parts(&parts)?;
        for (at, offset, h, _) in &placed {
            self.track_batch(&mut state, position + *at as u64, *offset, h, config);
        }
        if state.rolling_timestamp.is_none() {
            state.rolling_timestamp = headers.iter().map(|(_, h)| h.max_timestamp).max();
        }
        self.next_offset.store(next, Ordering::Release);
        Ok(next - 1)
    }

    /// Appends whole batches that already carry their offsets, with one write (the cleaner
    /// copies batches with their offsets, leaving the gaps compaction made). Offsets must grow.
    pub fn append_batches_as_is(&self, batches: &[u8], config: &LogConfig) -> Result<()> {
        let f = self.opened()?;
        let headers = batch::headers(batches)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| StorageError::InvalidRecords(e.as_str()))?;
        let mut next = self.next_offset();
        for (_, h) in &headers {
            if h.base_offset < next {
                return Err(StorageError::InvalidRecords(
                    "a cleaned batch does not follow the one before",
                ));
            }
            next = h.next_offset();
        }
        let mut state = self.state();
        let position = f.log.append(batches)?;
        for (at, header) in &headers {
            self.track_batch(
                &mut state,
                position + *at as u64,
                header.base_offset,
                header,
                config,
            );
            if state.rolling_timestamp.is_none() {
                state.rolling_timestamp = Some(header.max_timestamp);
            }
        }
        self.next_offset.store(next, Ordering::Release);
        Ok(())
    }

    /// Renames the segment's three files to their names with `from` replaced by `to` as the
    /// suffix after `.log`/`.index`/`.timeindex` (`""` is the plain name). Mappings stay
    /// valid, so readers holding slices are unaffected.
    pub fn rename_files(&self, dir: &Path, from: &str, to: &str) -> Result<()> {
        let f = self.opened()?;
        let path = |name: &str, extra: &str| {
            segment_file(dir, self.base_offset, &format!("{name}{extra}"))
        };
        debug_assert_eq!(f.log.path(), path(LOG_SUFFIX, from));
        f.log.rename(&path(LOG_SUFFIX, to))?;
        f.offset_index.rename(&path(INDEX_SUFFIX, to))?;
        f.time_index.rename(&path(TIME_INDEX_SUFFIX, to))?;
        f.txn_index.rename(&path(TXN_INDEX_SUFFIX, to))
    }

    /// Records an aborted transaction whose marker was just appended here.
    pub fn append_aborted_txn(&self, txn: AbortedTxn) -> Result<()> {
        let f = self.opened()?;
        f.txn_index.append(txn)
    }

    /// Adds to `into` the aborted transactions indexed here that may hold records in
    /// `[fetch_offset, upper_bound)`.
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound: i64,
        into: &mut AbortedTxnSearch,
    ) {
        let Some(f) = self.files.get() else { return };
        f.txn_index.collect(fetch_offset, upper_bound, into);
    }

    /// Every aborted transaction indexed here, in marker order.
    pub fn aborted_txns(&self) -> Vec<AbortedTxn> {
        let Some(f) = self.files.get() else {
            return Vec::new();
        };
        f.txn_index.all()
    }

    /// Whether the `.txnindex` found at open could be read whole.
    pub fn txn_index_sane(&self) -> bool {
        // A lazy segment has no `.txnindex` (one with it is opened at load).
        self.files.get().is_none_or(|f| f.txn_index_sane)
    }

    /// Empties the transaction index, for a rebuild from the log.
    pub fn reset_txn_index(&self) -> Result<()> {
        let f = self.opened()?;
        f.txn_index.reset()
    }

    /// Sets the `.log` file's modification time.
    pub fn set_last_modified_ms(&self, ms: i64) -> Result<()> {
        let f = self.opened()?;
        f.log.set_modified_ms(ms)
    }

    /// The largest timestamp of the segment's first batch (Kafka's `getFirstBatchTimestamp`,
    /// which `max.compaction.lag.ms` measures from), if the segment has a batch.
    pub fn first_batch_timestamp(&self) -> Option<i64> {
        let f = self.opened_or_warn("its first batch's timestamp")?;
        let size = f.log.len();
        if size == 0 {
            return None;
        }
        batch::parse_header(f.log.bytes(0, size))
            .ok()
            .map(|h| h.max_timestamp)
    }

    /// The segment's whole `.log` content (for the cleaner, which reads it batch by batch).
    pub fn contents(&self) -> Result<Bytes> {
        let f = self.opened()?.bulk();
        Ok(f.log.slice(0, f.log.len()))
    }

    /// Updates indexes and the writer's bookkeeping for one batch at `position`. The batch is
    /// already published, so a failed index write only leaves the sparse index sparser: a
    /// lookup then scans a little more, and recovery rebuilds it.
    fn track_batch(
        &self,
        state: &mut WriterState,
        position: u64,
        base_offset: i64,
        h: &BatchHeader,
        config: &LogConfig,
    ) {
        let Some(f) = self.files.get() else { return };
        let last_offset = base_offset + i64::from(h.last_offset_delta);
        if state
            .max_timestamp
            .is_none_or(|m| h.max_timestamp > m.timestamp)
        {
            state.max_timestamp = Some(TimestampOffset {
                timestamp: h.max_timestamp,
                offset: base_offset,
            });
        }
        state.bytes_since_index_entry += h.size as u64;
        // A distrusted index is unused and its file removed (the next start rebuilds it).
        if state.bytes_since_index_entry > u64::from(config.index_interval_bytes)
            && !self.index_distrusted.load(Ordering::Acquire)
        {
            let written = f
                .offset_index
                .append(last_offset, position as u32)
                .and_then(|()| match state.max_timestamp {
                    Some(m) => f.time_index.append(m.timestamp, m.offset),
                    None => Ok(()),
                });
            if let Err(e) = written {
                tracing::warn!(segment = %f.log.path().display(), cause = %e, "index entry not written");
            }
            state.bytes_since_index_entry = 0;
        }
    }

    /// Whole batches starting with the one that holds `offset`, up to `max_bytes` but at least
    /// one batch, none at or past `high_watermark` (written, but not yet committed).
    /// `SegmentRead::Nothing` when no committed batch of this segment reaches `offset`.
    ///
    /// Batches the scrub has not reached yet are checked as they are served (CRC and offset
    /// chain, on the mapped bytes: the copy to the socket reads them anyway), so a batch
    /// damaged while the broker was down is never served.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        high_watermark: i64,
        gaps: Gaps,
    ) -> Result<SegmentRead> {
        let f = self.opened()?.bulk();
        let end = f.log.len();
        let unchecked = self.verified.load(Ordering::Acquire)..self.unverified_end();
        let header_at = |position: u64| batch::parse_header(f.log.bytes(position, end - position));
        // An unscrubbed batch must also follow its predecessor: its base offset lies outside
        // the CRC. `None`: not known (the walk started at an index entry).
        let chained = |h: &BatchHeader, expected: Option<i64>| {
            expected.is_none_or(|e| gaps.follows(h.base_offset, e))
        };
        let (mut position, mut expected) = self.start_position(f, offset, end);
        let start = loop {
            if position >= end {
                // A lazy segment took the next one's base offset for its end without reading
                // its tail: batches that stop short of it were lost, which is damage (the
                // loader's chain check finds the same), not a reason to serve later offsets.
                let short = self.deferred.load(Ordering::Acquire)
                    && end <= self.unverified_end()
                    && offset < self.next_offset()
                    && expected.is_some_and(|e| !gaps.follows(self.next_offset(), e));
                if short {
                    return Ok(SegmentRead::Damaged {
                        served: None,
                        position: end,
                    });
                }
                return Ok(SegmentRead::Nothing);
            }
            let header = match header_at(position) {
                Ok(h) if !unchecked.contains(&position) || chained(&h, expected) => h,
                _ if unchecked.contains(&position) => {
                    return Ok(SegmentRead::Damaged {
                        served: None,
                        position,
                    })
                }
                _ => return Ok(SegmentRead::Nothing),
            };
            if header.base_offset >= high_watermark {
                return Ok(SegmentRead::Nothing);
            }
            if header.last_offset() >= offset {
                break position;
            }
            expected = Some(header.next_offset());
            position += header.size as u64;
        };
        let mut stop = start;
        while stop < end {
            let check = unchecked.contains(&stop);
            let header = match header_at(stop) {
                Ok(h) if !check || chained(&h, expected) => h,
                Ok(_) | Err(_) if check => return Ok(damaged(f, start, stop)),
                _ => break,
            };
            let next = stop + header.size as u64;
            if header.base_offset >= high_watermark
                || (stop > start && next - start > max_bytes as u64)
            {
                break;
            }
            if check && batch::parse_and_verify(f.log.bytes(stop, header.size as u64)).is_err() {
                return Ok(damaged(f, start, stop));
            }
            expected = Some(header.next_offset());
            stop = next;
        }
        Ok(SegmentRead::Batches(f.log.slice(start, stop - start)))
    }

    /// Where to start scanning for `offset`, and the base offset the batch there must have
    /// when known: the offset index's entry for it, if the index is usable and the entry names
    /// the last offset of a batch starting at its position; else the segment start.
    fn start_position(&self, f: &SegmentFiles, offset: i64, end: u64) -> (u64, Option<i64>) {
        let from_start = (0, Some(self.base_offset));
        if !self.index_usable() {
            return from_start;
        }
        let Some(entry) = f.offset_index.lookup_entry(offset) else {
            return from_start;
        };
        let position = u64::from(entry.position);
        let points_at_batch = position < end
            && batch::parse_header(f.log.bytes(position, end - position))
                .is_ok_and(|h| h.last_offset() == entry.offset);
        if points_at_batch {
            (position, None)
        } else {
            self.distrust_index("an index entry does not point at its batch");
            from_start
        }
    }

    /// Whether lookups may use the indexes: the full sanity check (run once, at first use,
    /// for a segment loaded trusted) passed and no entry was found wrong since.
    fn index_usable(&self) -> bool {
        let Some(f) = self.files.get() else {
            return false;
        };
        if self.index_distrusted.load(Ordering::Acquire) {
            return false;
        }
        let sane = *self.index_checked.get_or_init(|| {
            f.offset_index.is_sane(f.log.len()) && f.time_index.is_sane(self.next_offset())
        });
        if !sane {
            self.distrust_index("an index fails its sanity check");
        }
        sane
    }

    /// Stops using the indexes (lookups scan from the segment start) and removes the
    /// `.index`, so the next start rebuilds both (the mappings stay valid for this run).
    fn distrust_index(&self, why: &str) {
        if !self.index_distrusted.swap(true, Ordering::AcqRel) {
            let path = self.log_path().with_extension("index");
            tracing::warn!(segment = %self.log_path().display(), why, "not using this segment's indexes; the next start rebuilds them");
            let _ = std::fs::remove_file(path);
        }
    }

    /// The `.log` bytes a trusted load left for the scrub (0 when none).
    pub fn unverified_end(&self) -> u64 {
        self.unverified_end.load(Ordering::Acquire)
    }

    /// Bytes from the start of the `.log` the scrub has checked.
    pub fn verified(&self) -> u64 {
        self.verified.load(Ordering::Acquire)
    }

    /// Whether the scrub still has bytes of this segment to check (a lazy segment not opened
    /// yet has all of them).
    pub fn needs_scrub(&self) -> bool {
        (!self.is_open() && self.deferred.load(Ordering::Acquire))
            || self.verified.load(Ordering::Acquire) < self.unverified_end()
    }

    /// Bytes the scrub has still to check here; a lazy segment's files are opened for it (0
    /// when that fails, which is logged).
    pub fn unscrubbed_bytes(&self) -> u64 {
        if !self.needs_scrub() || self.opened_or_warn("the bytes left to scrub").is_none() {
            return 0;
        }
        self.unverified_end().saturating_sub(self.verified())
    }

    /// Checks up to `max_bytes` more of the bytes the load did not check (whole batches, at
    /// least one), continuing where the last step stopped. Index entries met on the way are
    /// compared with the batches: a wrong one makes the segment stop using its indexes.
    pub fn scrub_step(&self, max_bytes: u64, gaps: Gaps) -> Result<ScrubStep> {
        let f = self.opened()?.bulk();
        let mut cursor = self.scrub.lock().unwrap_or_else(|e| e.into_inner());
        let target = self.unverified_end().min(f.log.len());
        let from = cursor.position;
        let entries = f.offset_index.entries();
        while cursor.position < target {
            if cursor.position > from && cursor.position - from >= max_bytes {
                break;
            }
            let at = cursor.position;
            let header = match batch::parse_and_verify(f.log.bytes(at, f.log.len() - at)) {
                Ok(h) if gaps.follows(h.base_offset, cursor.expected) => h,
                _ => return Ok(ScrubStep::Damaged(at)),
            };
            while cursor.next_entry < entries {
                let (offset, position) = f.offset_index.entry(cursor.next_entry);
                let position = u64::from(position);
                if position > at {
                    break;
                }
                if position < at || offset != header.last_offset() {
                    self.distrust_index("an index entry does not point at its batch");
                }
                cursor.next_entry += 1;
            }
            cursor.expected = header.next_offset();
            cursor.position = at + header.size as u64;
            self.verified.store(cursor.position, Ordering::Release);
        }
        // A segment loaded deferred took the next segment's base for its end: its batches
        // must reach it (a lost tail is damage, as the loader's chain check finds it).
        let short = self.deferred.load(Ordering::Acquire)
            && !gaps.follows(self.next_offset(), cursor.expected);
        Ok(if cursor.position >= target && short {
            ScrubStep::Damaged(cursor.position)
        } else if cursor.position >= target {
            ScrubStep::Done
        } else {
            ScrubStep::Checked(cursor.position - from)
        })
    }

    /// Scrubs the rest of the segment at once; `Some(position)` of the first damaged batch.
    /// An error when a lazy segment's files cannot be opened.
    pub fn scrub_all(&self, gaps: Gaps) -> Result<Option<u64>> {
        loop {
            match self.scrub_step(u64::MAX, gaps)? {
                ScrubStep::Checked(_) => continue,
                ScrubStep::Done => return Ok(None),
                ScrubStep::Damaged(at) => return Ok(Some(at)),
            }
        }
    }

    /// The first record at or above `min_offset` whose timestamp is at least `timestamp`. For a
    /// compressed batch the answer is the batch's base offset (or `min_offset`) and its max
    /// timestamp, since the log does not decompress.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        min_offset: i64,
    ) -> Result<Option<TimestampOffset>> {
        let f = self.opened()?.bulk();
        let indexed = if self.index_usable() {
            f.time_index.lookup(timestamp)
        } else {
            self.base_offset
        };
        let from_offset = indexed.max(min_offset);
        let end = f.log.len();
        let mut position = self.start_position(f, from_offset, end).0;
        while position < end {
            let bytes = f.log.bytes(position, end - position);
            let Ok(header) = batch::parse_header(bytes) else {
                return Ok(None);
            };
            position += header.size as u64;
            if header.max_timestamp < timestamp || header.last_offset() < min_offset {
                continue;
            }
            let (ts, offset) =
                match batch::first_offset_at_or_after(&bytes[..header.size], timestamp, min_offset)
                {
                    Some(found) => found,
                    None if header.is_compressed() => {
                        (header.max_timestamp, header.base_offset.max(min_offset))
                    }
                    None => continue,
                };
            return Ok(Some(TimestampOffset {
                timestamp: ts,
                offset,
            }));
        }
        Ok(None)
    }

    /// The segment's largest timestamp and the offset of the first record carrying it (Kafka 4's
    /// ListOffsets MAX_TIMESTAMP, which reads the batch the time index names). For a compressed
    /// batch the log does not decompress, and answers the batch's base offset: a consumer that
    /// seeks there still gets the record (Kafka 4 decompresses and answers the record itself).
    pub fn offset_of_max_timestamp(&self) -> Option<TimestampOffset> {
        let f = self.opened_or_warn("the offset of its largest timestamp")?;
        let max = self.max_timestamp()?;
        let end = f.log.len();
        let mut position = self.start_position(f, max.offset, end).0;
        while position < end {
            let bytes = f.log.bytes(position, end - position);
            let header = batch::parse_header(bytes).ok()?;
            if header.max_timestamp == max.timestamp && header.last_offset() >= max.offset {
                let offset = batch::offset_of_max_timestamp(&bytes[..header.size])
                    .unwrap_or(header.base_offset);
                return Some(TimestampOffset {
                    timestamp: max.timestamp,
                    offset,
                });
            }
            position += header.size as u64;
        }
        None
    }

    /// How many bytes at the end of the `.log` are zero: preallocated space a crash left behind.
    pub fn zero_tail_len(&self) -> u64 {
        let Some(f) = self.files.get() else { return 0 };
        let size = f.log.len();
        let bytes = f.log.bytes(0, size);
        bytes.iter().rev().take_while(|b| **b == 0).count() as u64
    }

    /// Scans the whole `.log`, rebuilding both indexes and the writer's bookkeeping. With
    /// `verify_crc` every batch's CRC is checked. The log is cut at the first batch that is
    /// torn, invalid, or out of order; returns how many bytes were cut.
    pub fn recover(&self, verify_crc: bool, config: &LogConfig, gaps: Gaps) -> Result<u64> {
        self.recover_with(verify_crc, config, gaps, false)
    }

    /// `recover` of a segment holding the recovery point, reading only what lies past it.
    /// Everything below the recovery point was fsynced, its index entries with it, before a
    /// checkpoint named it: the batch the last offset index entry below it names, and every
    /// byte before, are trusted as a clean start trusts a closed segment (their CRCs left to
    /// the scrub and the read path), and the scan with CRCs starts after that batch. Index
    /// entries past it are dropped and rebuilt by the scan. Without such an entry, or when it
    /// does not name its batch, the whole segment is recovered. Returns the bytes cut.
    pub fn recover_from(&self, recovery_point: i64, config: &LogConfig, gaps: Gaps) -> Result<u64> {
        let f = self.opened()?.bulk();
        let size = f.log.len();
        // The entries that hold together, up to the recovery point: after a crash the index
        // may end in space preallocated and never written (zeros), or in torn entries.
        let keep = f.offset_index.sane_prefix_len(|e| {
            e.offset < recovery_point
                && e.offset >= self.base_offset
                && u64::from(e.position) < size
        });
        let Some(entry) = keep.checked_sub(1).map(|n| f.offset_index.get(n)) else {
            return self.recover(true, config, gaps);
        };
        let at = u64::from(entry.position);
        let trusted = (at < size)
            .then(|| batch::parse_header(f.log.bytes(at, size - at)).ok())
            .flatten()
            .filter(|h| h.last_offset() == entry.offset && entry.offset >= self.base_offset);
        let Some(last_trusted) = trusted else {
            return self.recover(true, config, gaps);
        };
        let from = at + last_trusted.size as u64;
        let mut expected = last_trusted.next_offset();
        f.offset_index.truncate_entries(keep)?;
        // Time index entries are written with the offset index's, each the largest timestamp
        // so far: the last one kept is the trusted bytes' largest.
        let keep_times = f
            .time_index
            .sane_prefix_len(|e| e.offset < expected && e.offset >= self.base_offset);
        f.time_index.truncate_entries(keep_times)?;
        let mut state = self.state();
        *state = WriterState::default();
        state.max_timestamp = f
            .time_index
            .last_entry()
            .map(|(timestamp, offset)| TimestampOffset { timestamp, offset });
        state.rolling_timestamp = batch::parse_header(f.log.bytes(0, size))
            .ok()
            .map(|h| h.max_timestamp);
        let mut position = from;
        while position < size {
            let header = match batch::parse_and_verify(f.log.bytes(position, size - position)) {
                Ok(h) if gaps.follows(h.base_offset, expected) => h,
                _ => break,
            };
            self.track_batch(&mut state, position, header.base_offset, &header, config);
            expected = header.next_offset();
            position += header.size as u64;
        }
        drop(state);
        let cut = size - position;
        if cut > 0 {
            f.log.truncate(position)?;
        }
        self.next_offset.store(expected, Ordering::Release);
        self.unverified_end.store(from, Ordering::Release);
        Ok(cut)
    }

    /// `recover` for a segment whose files other mappings may still be reading (a damaged
    /// batch found at run time): cut bytes are zeroed, never cut off the file, so no mapping
    /// points past a file's end.
    pub fn recover_live(&self, config: &LogConfig, gaps: Gaps) -> Result<u64> {
        self.recover_with(true, config, gaps, true)
    }

    fn recover_with(
        &self,
        verify_crc: bool,
        config: &LogConfig,
        gaps: Gaps,
        live: bool,
    ) -> Result<u64> {
        let f = self.opened()?.bulk();
        if live {
            f.offset_index.forget_all()?;
            f.time_index.forget_all()?;
        } else {
            f.offset_index.clear()?;
            f.time_index.clear()?;
        }
        let mut state = self.state();
        *state = WriterState::default();
        let end = f.log.len();
        let mut position = 0u64;
        let mut expected = self.base_offset;
        while position < end {
            let bytes = f.log.bytes(position, end - position);
            let parsed = if verify_crc {
                batch::parse_and_verify(bytes)
            } else {
                batch::parse_header(bytes)
            };
            let header = match parsed {
                Ok(h) if gaps.follows(h.base_offset, expected) => h,
                _ => break,
            };
            if state.rolling_timestamp.is_none() {
                state.rolling_timestamp = Some(header.max_timestamp);
            }
            self.track_batch(&mut state, position, header.base_offset, &header, config);
            expected = header.next_offset();
            position += header.size as u64;
        }
        drop(state);
        let cut = end - position;
        if cut > 0 && live {
            f.log.forget_from(position)?;
        } else if cut > 0 {
            f.log.truncate(position)?;
        }
        self.next_offset.store(expected, Ordering::Release);
        if verify_crc {
            self.mark_checked();
        } else {
            let _ = self.index_checked.set(true);
        }
        Ok(cut)
    }

    /// Trusts a segment without reading it (after a clean shutdown, or below the recovery
    /// point after a crash, as Kafka does): only the tail after the last offset index entry is
    /// walked, for the segment's next offset and largest timestamp. Its CRCs are left to the
    /// scrub and the read path, the full index check to the indexes' first use. Returns false
    /// when even that much does not hold together; the segment then needs `recover`.
    pub fn load_trusted(&self, config: &LogConfig, gaps: Gaps) -> Result<bool> {
        let f = self.opened()?;
        let size = f.log.len();
        // An index much shorter than its log was lost or cut: rebuilding it is cheaper than
        // scanning the segment at every lookup.
        if f.offset_index.last_entry().is_none()
            && size > 2 * u64::from(config.index_interval_bytes.max(1))
        {
            return Ok(false);
        }
        let Some(tail) = self.read_tail(gaps) else {
            return Ok(false);
        };
        let mut state = self.state();
        state.max_timestamp = tail.max_timestamp;
        state.rolling_timestamp = (size > 0)
            .then(|| batch::parse_header(f.log.bytes(0, size)).ok())
            .flatten()
            .map(|h| h.max_timestamp);
        state.bytes_since_index_entry = 0;
        drop(state);
        self.next_offset.store(tail.next_offset, Ordering::Release);
        self.unverified_end.store(size, Ordering::Release);
        Ok(true)
    }

    /// Trusts a closed segment without reading anything of it: its next offset is
    /// `next_base`, the base offset of the segment after it (a roll starts the next segment
    /// where this one ends; in a compacted log the offsets between are absent either way),
    /// and its largest timestamp is read at its first use. The CRCs are left to the scrub and
    /// the read path, as for `load_trusted`.
    pub fn load_deferred(&self, next_base: i64) {
        self.next_offset
            .store(next_base.max(self.base_offset), Ordering::Release);
        let len = self.files.get().map_or(0, |f| f.log.len());
        self.unverified_end.store(len, Ordering::Release);
        self.deferred.store(true, Ordering::Release);
    }

    /// Reads what `load_deferred` left out, once. A tail that does not hold together (a
    /// damaged or lost index) makes the segment stop using its indexes and take its largest
    /// timestamp from every batch header; the scrub then finds what is wrong with its batches.
    fn load_deferred_tail(&self) {
        if !self.deferred.load(Ordering::Acquire) || self.tail_loaded.get().is_some() {
            return;
        }
        let Some(f) = self.opened_or_warn("its largest timestamp") else {
            return;
        };
        self.tail_loaded.get_or_init(|| {
            let max_timestamp = match self.read_tail(Gaps::Allowed) {
                Some(tail) => tail.max_timestamp,
                None => {
                    self.distrust_index("its last entries do not match the log's tail");
                    let size = f.log.len();
                    let mut position = 0;
                    let mut max: Option<TimestampOffset> = None;
                    while let Ok(h) = batch::parse_header(f.log.bytes(position, size - position)) {
                        if max.is_none_or(|m| h.max_timestamp > m.timestamp) {
                            max = Some(TimestampOffset {
                                timestamp: h.max_timestamp,
                                offset: h.base_offset,
                            });
                        }
                        position += h.size as u64;
                    }
                    max
                }
            };
            let mut state = self.state();
            if state
                .max_timestamp
                .is_none_or(|m| max_timestamp.is_some_and(|t| t.timestamp > m.timestamp))
            {
                state.max_timestamp = max_timestamp.or(state.max_timestamp);
            }
        });
    }

    /// The next offset and largest timestamp from the last offset and time index entries and
    /// the batches after the last offset index entry; `None` when they do not hold together.
    fn read_tail(&self, gaps: Gaps) -> Option<Tail> {
        let f = self.files.get()?;
        let size = f.log.len();
        let header_at = |position: u64| {
            (position < size)
                .then(|| batch::parse_header(f.log.bytes(position, size - position)).ok())
                .flatten()
        };
        let (mut position, mut expected) = match f.offset_index.last_entry() {
            Some((offset, position)) => {
                let position = u64::from(position);
                match header_at(position) {
                    Some(h) if h.last_offset() == offset && offset >= self.base_offset => {
                        (position, None)
                    }
                    _ => return None,
                }
            }
            None => (0, Some(self.base_offset)),
        };
        let mut last_ts: Option<TimestampOffset> = None;
        while position < size {
            let header = match header_at(position) {
                Some(h) if expected.is_none_or(|e| gaps.follows(h.base_offset, e)) => h,
                _ => return None,
            };
            if last_ts.is_none_or(|t| header.max_timestamp > t.timestamp) {
                last_ts = Some(TimestampOffset {
                    timestamp: header.max_timestamp,
                    offset: header.base_offset,
                });
            }
            expected = Some(header.next_offset());
            position += header.size as u64;
        }
        let next_offset = expected.unwrap_or(self.base_offset);
        let indexed = f
            .time_index
            .last_entry()
            .map(|(timestamp, offset)| TimestampOffset { timestamp, offset });
        if indexed.is_some_and(|t| {
            t.offset < self.base_offset || t.offset >= next_offset.max(self.base_offset + 1)
        }) {
            return None;
        }
        let max_timestamp = match (indexed, last_ts) {
            (Some(a), Some(b)) if b.timestamp > a.timestamp => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        };
        Some(Tail {
            next_offset,
            max_timestamp,
        })
    }

    /// Seals the segment when the log rolls past it or closes: the time index gets the final
    /// largest timestamp and the files are cut to size. Syncing is the caller's choice.
    pub fn seal(&self) -> Result<()> {
        let f = self.opened()?;
        let distrusted = self.index_distrusted.load(Ordering::Acquire);
        if let Some(m) = self.max_timestamp().filter(|_| !distrusted) {
            // The index is sparse: a missing last entry (a full disk) costs lookups a little
            // scanning, and must not take the log offline.
            if let Err(e) = f.time_index.append(m.timestamp, m.offset) {
                tracing::warn!(segment = %f.log.path().display(), cause = %e, "final time index entry not written");
            }
        }
        f.log.trim()?;
        f.offset_index.trim()?;
        f.time_index.trim()?;
        self.sealed.store(true, Ordering::Release);
        Ok(())
    }

    /// Forces the segment's log and indexes to disk. A sealed segment then closes its
    /// `.log` descriptor, as a closed segment opened at start-up never holds one, so the
    /// open-file limit bounds active segments rather than all of them.
    pub fn sync(&self) -> Result<()> {
        let f = self.opened()?;
        self.sync_log()?;
        f.offset_index.sync()?;
        f.time_index.sync()?;
        if self.sealed.load(Ordering::Acquire) {
            f.log.release_descriptor();
        }
        Ok(())
    }

    /// How many file descriptors the segment keeps open: its `.log`'s while it takes appends,
    /// none once sealed and synced (indexes never keep one).
    pub fn open_descriptors(&self) -> usize {
        self.files
            .get()
            .map_or(0, |f| usize::from(f.log.holds_descriptor()))
    }

    /// Forces the `.log` and the `.txnindex` to disk. The offset and time indexes are rebuilt
    /// on recovery anyway; the transaction index of a segment below the recovery point is
    /// trusted, so it must be as durable as the markers it indexes.
    pub fn sync_log(&self) -> Result<()> {
        let f = self.opened()?;
        f.log.sync()?;
        f.txn_index.sync()
    }

    /// `sync_file_range` of the `.log` bytes `[start, end)` (the `writeback` thread's).
    pub fn start_writeback(
        &self,
        start: u64,
        end: u64,
        flags: libc::c_uint,
    ) -> std::io::Result<()> {
        let Some(f) = self.files.get() else {
            return Ok(());
        };
        f.log.sync_range(start, end, flags)
    }

    /// The paths of the segment's files (the `.txnindex` may not exist).
    pub fn files(&self, dir: &Path) -> [PathBuf; 4] {
        [
            LOG_SUFFIX,
            INDEX_SUFFIX,
            TIME_INDEX_SUFFIX,
            TXN_INDEX_SUFFIX,
        ]
        .map(|s| segment_file(dir, self.base_offset, s))
    }
}

/// A read that found the batch at `position` damaged, serving the batches from `start` to it.
fn damaged(f: &SegmentFiles, start: u64, position: u64) -> SegmentRead {
    SegmentRead::Damaged {
        served: (position > start).then(|| f.log.slice(start, position - start)),
        position,
    }
}

/// Bytes of a v2 batch header before its magic byte: base offset (8), batch length (4),
/// partition leader epoch (4); the CRC covers none of them.
const LEADER_PREFIX: usize = 16;

/// The first `LEADER_PREFIX` bytes of `batch` as the leader writes them: the base offset it
/// assigns, the batch's own length, and the leader epoch (`LEADER_EPOCH`), which producers
/// leave at -1 and Kafka's leader stamps (`MemoryRecords.setPartitionLeaderEpoch`).
fn leader_prefix(batch: &[u8], base_offset: i64) -> [u8; LEADER_PREFIX] {
    let mut prefix = [0u8; LEADER_PREFIX];
    prefix[..8].copy_from_slice(&base_offset.to_be_bytes());
    prefix[8..12].copy_from_slice(&batch[8..12]);
    prefix[12..].copy_from_slice(&crate::log::LEADER_EPOCH.to_be_bytes());
    prefix
}

/// Milliseconds since the Unix epoch by the system clock.
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> LogConfig {
        LogConfig {
            segment_bytes: 1 << 20,
            index_interval_bytes: 500,
            ..LogConfig::default()
        }
    }

    /// Ten batches of 3 records (offsets 0..30), written and closed as a crash leaves them;
    /// returns the size of one batch.
    fn write_batches(dir: &Path) -> u64 {
        let segment = LogSegment::create(dir, 0, &config(), 0).unwrap();
        let mut size = 0;
        for i in 0..10i64 {
            let mut b = batch::build_test_batch(3, 200, 1_000 + i);
            b[..8].copy_from_slice(&(3 * i).to_be_bytes());
            size = b.len() as u64;
            segment.append_batches_as_is(&b, &config()).unwrap();
        }
        size
    }

    /// Flips a byte under the CRC of the batch at `position`.
    fn damage(dir: &Path, position: u64) {
        let path = segment_file(dir, 0, LOG_SUFFIX);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[position as usize + 70] ^= 0x5a;
        std::fs::write(&path, bytes).unwrap();
    }

    #[test]
    fn only_an_unsealed_log_holds_a_descriptor() {
        let dir = tempfile::tempdir().unwrap();
        let segment = LogSegment::create(dir.path(), 0, &config(), 0).unwrap();
        let mut b = batch::build_test_batch(3, 2000, 1_000);
        b[..8].copy_from_slice(&0i64.to_be_bytes());
        segment.append_batches_as_is(&b, &config()).unwrap();
        assert_eq!(segment.open_descriptors(), 1, "the active .log, no index");
        let f = segment.files.get().unwrap();
        assert!(f.offset_index.entries() > 0 || f.time_index.entries() > 0);
        segment.sync().unwrap();
        assert_eq!(segment.open_descriptors(), 1, "not sealed yet");
        segment.seal().unwrap();
        segment.sync().unwrap();
        assert_eq!(segment.open_descriptors(), 0);
        assert_eq!(&segment.contents().unwrap()[..], &b[..]);
        let closed = LogSegment::open(dir.path(), 0, &config(), SegmentRole::Closed).unwrap();
        assert_eq!(closed.open_descriptors(), 0);
        assert_eq!(&closed.contents().unwrap()[..], &b[..]);
    }

    #[test]
    fn recovery_from_the_recovery_point_reads_only_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let size = write_batches(dir.path());
        // Below the recovery point (offset 9: batches 0 to 2) and past it (batch 4).
        damage(dir.path(), 0);
        damage(dir.path(), 4 * size);
        let segment = LogSegment::open(dir.path(), 0, &config(), SegmentRole::Active).unwrap();
        let cut = segment.recover_from(9, &config(), Gaps::Forbidden).unwrap();
        // The cut also takes the space preallocated ahead of the writer.
        assert!(cut >= 6 * size);
        assert_eq!(
            segment.size(),
            4 * size,
            "cut at the damaged batch past the recovery point"
        );
        assert_eq!(segment.next_offset(), 12);
        // The trusted bytes are left to the scrub, which finds the other damage.
        assert_eq!(segment.unverified_end(), 3 * size);
        assert_eq!(segment.scrub_all(Gaps::Forbidden).unwrap(), Some(0));
        assert_eq!(
            segment.max_timestamp().map(|m| m.timestamp),
            Some(1_005),
            "the largest timestamp of the kept batches (batch 3 has 1003 to 1005)"
        );
    }

    #[test]
    fn recovery_from_a_point_no_index_entry_reaches_reads_the_whole_segment() {
        let dir = tempfile::tempdir().unwrap();
        let size = write_batches(dir.path());
        damage(dir.path(), 0);
        let segment = LogSegment::open(dir.path(), 0, &config(), SegmentRole::Active).unwrap();
        // No entry below offset 2: the first batch ends there.
        let cut = segment.recover_from(2, &config(), Gaps::Forbidden).unwrap();
        assert!(cut >= 10 * size);
        assert_eq!(segment.size(), 0);
        assert_eq!(segment.next_offset(), 0);
    }
}
