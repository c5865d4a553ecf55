//! One segment of a partition log; Kafka's LogSegment.
//!
//! A segment is up to four files named after its base offset: the `.log` with record batches
//! exactly as they travel on the wire (base offsets rewritten to their place in the log), the
//! sparse `.index` and the `.timeindex`, and the `.txnindex` of aborted transactions once one
//! of their markers lands here. Only the log's single writer appends; readers see batches once
//! the segment's length is published.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;

use crate::batch::{self, BatchHeader};
use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::file_names::{
    segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
};
use crate::index::{AbortedTxn, AbortedTxnSearch, OffsetIndex, TimeIndex, TransactionIndex};
use crate::log::TimestampOffset;

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

/// A `.log` with its `.index` and `.timeindex`.
pub struct LogSegment {
    base_offset: i64,
    log: crate::mapped_file::MappedFile,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Aborted transactions whose markers are in this segment.
    txn_index: TransactionIndex,
    /// Whether the `.txnindex` read at open held only whole, ordered entries.
    txn_index_sane: bool,
    /// Offset after the last published batch; written after the log length, so a reader who
    /// sees it also sees the bytes.
    next_offset: AtomicI64,
    /// Wall time when this segment object was made, also on reload (Kafka's `created`):
    /// `segment.ms` measures from it when the first batch has no timestamp.
    created_ms: i64,
    state: Mutex<WriterState>,
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
        let capacity = match role {
            SegmentRole::Active => config.segment_bytes,
            SegmentRole::Closed => 0,
        };
        Self::open_files(dir, base_offset, config, capacity, "")
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
        Self::open_files(dir, base_offset, config, capacity, suffix)
    }

    fn open_files(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        capacity: u64,
        suffix: &str,
    ) -> Result<LogSegment> {
        let path = |name: &str| segment_file(dir, base_offset, &format!("{name}{suffix}"));
        let log = crate::mapped_file::MappedFile::open(&path(LOG_SUFFIX), None, capacity)?;
        let offset_index = OffsetIndex::open(
            &path(INDEX_SUFFIX),
            base_offset,
            None,
            index_capacity(config, 8),
        )?;
        let time_index = TimeIndex::open(
            &path(TIME_INDEX_SUFFIX),
            base_offset,
            None,
            index_capacity(config, 12),
        )?;
        let (txn_index, txn_index_sane) = TransactionIndex::open(&path(TXN_INDEX_SUFFIX))?;
        Ok(LogSegment {
            base_offset,
            log,
            offset_index,
            time_index,
            txn_index,
            txn_index_sane,
            next_offset: AtomicI64::new(base_offset),
            created_ms: wall_clock_ms(),
            state: Mutex::new(WriterState::default()),
        })
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

    /// Bytes of batches in the segment.
    pub fn size(&self) -> u64 {
        self.log.len()
    }

    /// Whether the segment holds no batch.
    pub fn is_empty(&self) -> bool {
        self.log.is_empty()
    }

    /// The path of the `.log` file.
    pub fn log_path(&self) -> PathBuf {
        self.log.path()
    }

    /// The segment's largest timestamp and the base offset of the batch that carried it; the
    /// timestamp is `NO_TIMESTAMP` when no batch has one.
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
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
        self.log.modified_ms()
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
        size <= self.log.remaining()
            && last_offset - self.base_offset <= i64::from(u32::MAX)
            && !self.offset_index.is_full()
            && !self.time_index.is_full()
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
        let position = self.log.append_parts(&parts)?;
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
        let position = self.log.append(batches)?;
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
        let path = |name: &str, extra: &str| {
            segment_file(dir, self.base_offset, &format!("{name}{extra}"))
        };
        debug_assert_eq!(self.log.path(), path(LOG_SUFFIX, from));
        self.log.rename(&path(LOG_SUFFIX, to))?;
        self.offset_index.rename(&path(INDEX_SUFFIX, to))?;
        self.time_index.rename(&path(TIME_INDEX_SUFFIX, to))?;
        self.txn_index.rename(&path(TXN_INDEX_SUFFIX, to))
    }

    /// Records an aborted transaction whose marker was just appended here.
    pub fn append_aborted_txn(&self, txn: AbortedTxn) -> Result<()> {
        self.txn_index.append(txn)
    }

    /// Adds to `into` the aborted transactions indexed here that may hold records in
    /// `[fetch_offset, upper_bound)`.
    pub fn collect_aborted_txns(
        &self,
        fetch_offset: i64,
        upper_bound: i64,
        into: &mut AbortedTxnSearch,
    ) {
        self.txn_index.collect(fetch_offset, upper_bound, into);
    }

    /// Every aborted transaction indexed here, in marker order.
    pub fn aborted_txns(&self) -> Vec<AbortedTxn> {
        self.txn_index.all()
    }

    /// Whether the `.txnindex` found at open could be read whole.
    pub fn txn_index_sane(&self) -> bool {
        self.txn_index_sane
    }

    /// Empties the transaction index, for a rebuild from the log.
    pub fn reset_txn_index(&self) -> Result<()> {
        self.txn_index.reset()
    }

    /// Sets the `.log` file's modification time.
    pub fn set_last_modified_ms(&self, ms: i64) -> Result<()> {
        self.log.set_modified_ms(ms)
    }

    /// The largest timestamp of the segment's first batch (Kafka's `getFirstBatchTimestamp`,
    /// which `max.compaction.lag.ms` measures from), if the segment has a batch.
    pub fn first_batch_timestamp(&self) -> Option<i64> {
        let size = self.log.len();
        if size == 0 {
            return None;
        }
        batch::parse_header(self.log.bytes(0, size))
            .ok()
            .map(|h| h.max_timestamp)
    }

    /// The segment's whole `.log` content (for the cleaner, which reads it batch by batch).
    pub fn contents(&self) -> Bytes {
        self.log.slice(0, self.log.len())
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
        if state.bytes_since_index_entry > u64::from(config.index_interval_bytes) {
            let written = self
                .offset_index
                .append(last_offset, position as u32)
                .and_then(|()| match state.max_timestamp {
                    Some(m) => self.time_index.append(m.timestamp, m.offset),
                    None => Ok(()),
                });
            if let Err(e) = written {
                tracing::warn!(segment = %self.log.path().display(), cause = %e, "index entry not written");
            }
            state.bytes_since_index_entry = 0;
        }
    }

    /// Whole batches starting with the one that holds `offset`, up to `max_bytes` but at least
    /// one batch, none at or past `high_watermark` (written, but not yet committed). `None` when
    /// no committed batch of this segment reaches `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize, high_watermark: i64) -> Option<Bytes> {
        let end = self.log.len();
        let header_at =
            |position: u64| batch::parse_header(self.log.bytes(position, end - position)).ok();
        let mut position = u64::from(self.offset_index.lookup(offset)).min(end);
        let start = loop {
            if position >= end {
                return None;
            }
            let header = header_at(position)?;
            if header.base_offset >= high_watermark {
                return None;
            }
            if header.last_offset() >= offset {
                break position;
            }
            position += header.size as u64;
        };
        let mut stop = start;
        while stop < end {
            let Some(header) = header_at(stop) else { break };
            let next = stop + header.size as u64;
            if header.base_offset >= high_watermark
                || (stop > start && next - start > max_bytes as u64)
            {
                break;
            }
            stop = next;
        }
        Some(self.log.slice(start, stop - start))
    }

    /// The first record at or above `min_offset` whose timestamp is at least `timestamp`. For a
    /// compressed batch the answer is the batch's base offset (or `min_offset`) and its max
    /// timestamp, since the log does not decompress.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        min_offset: i64,
    ) -> Option<TimestampOffset> {
        let from_offset = self.time_index.lookup(timestamp).max(min_offset);
        let end = self.log.len();
        let mut position = u64::from(self.offset_index.lookup(from_offset));
        while position < end {
            let bytes = self.log.bytes(position, end - position);
            let header = batch::parse_header(bytes).ok()?;
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
            return Some(TimestampOffset {
                timestamp: ts,
                offset,
            });
        }
        None
    }

    /// The segment's largest timestamp and the offset of the first record carrying it (Kafka 4's
    /// ListOffsets MAX_TIMESTAMP, which reads the batch the time index names). For a compressed
    /// batch the log does not decompress, and answers the batch's base offset: a consumer that
    /// seeks there still gets the record (Kafka 4 decompresses and answers the record itself).
    pub fn offset_of_max_timestamp(&self) -> Option<TimestampOffset> {
        let max = self.max_timestamp()?;
        let end = self.log.len();
        let mut position = u64::from(self.offset_index.lookup(max.offset)).min(end);
        while position < end {
            let bytes = self.log.bytes(position, end - position);
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
        let size = self.log.len();
        let bytes = self.log.bytes(0, size);
        bytes.iter().rev().take_while(|b| **b == 0).count() as u64
    }

    /// Scans the whole `.log`, rebuilding both indexes and the writer's bookkeeping. With
    /// `verify_crc` every batch's CRC is checked. The log is cut at the first batch that is
    /// torn, invalid, or out of order; returns how many bytes were cut.
    pub fn recover(&self, verify_crc: bool, config: &LogConfig, gaps: Gaps) -> Result<u64> {
        self.offset_index.clear()?;
        self.time_index.clear()?;
        let mut state = self.state();
        *state = WriterState::default();
        let end = self.log.len();
        let mut position = 0u64;
        let mut expected = self.base_offset;
        while position < end {
            let bytes = self.log.bytes(position, end - position);
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
        if cut > 0 {
            self.log.truncate(position)?;
        }
        self.next_offset.store(expected, Ordering::Release);
        Ok(cut)
    }

    /// Whether the first `size` bytes are whole batches with valid CRCs whose offsets follow on
    /// as `gaps` allows.
    fn batches_chain_and_verify(&self, size: u64, gaps: Gaps) -> bool {
        let mut position = 0;
        let mut expected = self.base_offset;
        while position < size {
            match batch::parse_and_verify(self.log.bytes(position, size - position)) {
                Ok(h) if gaps.follows(h.base_offset, expected) => {
                    expected = h.next_offset();
                    position += h.size as u64;
                }
                _ => return false,
            }
        }
        true
    }

    /// Trusts the indexes of a cleanly closed segment when they look sane and every batch's CRC
    /// holds. Returns false when the segment needs `recover`.
    pub fn load_clean(&self, gaps: Gaps) -> Result<bool> {
        let size = self.log.len();
        if !self.offset_index.is_sane(size) || !self.index_points_at_batches(size) {
            return Ok(false);
        }
        // A clean shutdown says nothing about what happened to the files since: every batch's
        // CRC is checked once at start, so a damaged batch is cut off, never served.
        if !self.batches_chain_and_verify(size, gaps) {
            return Ok(false);
        }
        let mut position = self
            .offset_index
            .last_entry()
            .map_or(0, |(_, p)| u64::from(p));
        // The batch an index entry points at may start anywhere; from there on they chain.
        let mut expected = (position == 0).then_some(self.base_offset);
        let mut state = self.state();
        let mut last_ts = None;
        while position < size {
            let header = match batch::parse_header(self.log.bytes(position, size - position)) {
                Ok(h) if expected.is_none_or(|e| gaps.follows(h.base_offset, e)) => h,
                _ => return Ok(false),
            };
            if last_ts.is_none_or(|t: TimestampOffset| header.max_timestamp > t.timestamp) {
                last_ts = Some(TimestampOffset {
                    timestamp: header.max_timestamp,
                    offset: header.base_offset,
                });
            }
            expected = Some(header.next_offset());
            position += header.size as u64;
        }
        let next_offset = expected.unwrap_or(self.base_offset);
        if !self.time_index.is_sane(next_offset) {
            return Ok(false);
        }
        let indexed = self
            .time_index
            .last_entry()
            .map(|(timestamp, offset)| TimestampOffset { timestamp, offset });
        state.max_timestamp = match (indexed, last_ts) {
            (Some(a), Some(b)) if b.timestamp > a.timestamp => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        };
        if size > 0 {
            let first = batch::parse_header(self.log.bytes(0, size))
                .map_err(|e| StorageError::InvalidRecords(e.as_str()))?;
            state.rolling_timestamp = Some(first.max_timestamp);
        }
        state.bytes_since_index_entry = 0;
        self.next_offset.store(next_offset, Ordering::Release);
        Ok(true)
    }

    /// Whether every offset index entry names the last offset of a batch that starts at the
    /// entry's position: a scribbled index could otherwise send a reader into the middle of a
    /// batch, where garbage may pass for a header.
    fn index_points_at_batches(&self, size: u64) -> bool {
        (0..self.offset_index.entries()).all(|n| {
            let (offset, position) = self.offset_index.entry(n);
            let position = u64::from(position);
            batch::parse_header(self.log.bytes(position, size - position))
                .is_ok_and(|h| h.last_offset() == offset)
        })
    }

    /// Seals the segment when the log rolls past it or closes: the time index gets the final
    /// largest timestamp and the files are cut to size. Syncing is the caller's choice.
    pub fn seal(&self) -> Result<()> {
        if let Some(m) = self.max_timestamp() {
            // The index is sparse: a missing last entry (a full disk) costs lookups a little
            // scanning, and must not take the log offline.
            if let Err(e) = self.time_index.append(m.timestamp, m.offset) {
                tracing::warn!(segment = %self.log.path().display(), cause = %e, "final time index entry not written");
            }
        }
        self.log.trim()?;
        self.offset_index.trim()?;
        self.time_index.trim()
    }

    /// Forces the segment's log and indexes to disk.
    pub fn sync(&self) -> Result<()> {
        self.sync_log()?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    /// Forces the `.log` and the `.txnindex` to disk. The offset and time indexes are rebuilt
    /// on recovery anyway; the transaction index of a segment below the recovery point is
    /// trusted, so it must be as durable as the markers it indexes.
    pub fn sync_log(&self) -> Result<()> {
        self.log.sync()?;
        self.txn_index.sync()
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
