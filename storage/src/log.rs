//! The partition log; Kafka's UnifiedLog (local part) for one topic-partition.
//!
//! An ordered map of segments, the newest of which takes appends. One writer at a time (the
//! append lock), any number of readers: a reader sees a batch only once the high watermark that
//! covers it is published, so it never meets a half-written batch. The log end offset is where
//! the next append goes; the high watermark is what readers are served up to. On a single node
//! they are equal with `FsyncPolicy::Os`; with `FsyncPolicy::Always` the high watermark moves
//! only once an fsync covers the batch (Kafka with `flush.messages=1`), so no reader ever sees
//! a record that a power cut could take back.
//!
//! The last stable offset (what read_committed readers are served up to) is the high watermark
//! or, if lower, the first offset of the earliest transaction not yet ended by a marker below
//! the high watermark (Kafka's `firstUnstableOffset`), which the producer state tracks under the
//! append lock and publishes before the high watermark moves past the transaction's records.
//! An abort marker's transaction goes into the segment's transaction index as it is appended.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::Bytes;
use tokio::sync::watch;

use crate::batch;
use crate::config::{FsyncPolicy, LogConfig};
use crate::error::{Result, StorageError};
use crate::file_names::{segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::index::{AbortedTxn, AbortedTxnSearch};
use crate::log_segment::{Gaps, LogSegment, ScrubStep, SegmentRead};
use crate::producer_state::{
    self, LastRecord, Origin, ProducerBatch, ProducerStateManager, SequenceCheck,
};

/// The leader epoch every appended batch is stamped with: one node leads every partition from
/// its creation, so the epoch is 0 for good (Metadata and OffsetForLeaderEpoch say the same).
pub const LEADER_EPOCH: i32 = 0;

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset given to the last record.
    pub last_offset: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// The batches were a retry of batches already in the log: nothing was appended and the
    /// offsets are those of the first append.
    pub duplicate: bool,
}

/// What a read returns: whole batches and the offsets a Fetch response reports with them.
#[derive(Debug, Clone)]
pub struct ReadInfo {
    /// Zero-copy slice of the segment mapping; empty at the log end.
    pub records: Bytes,
    /// The high watermark when the read happened.
    pub high_watermark: i64,
    /// The log start offset when the read happened.
    pub log_start_offset: i64,
}

/// A timestamp and the offset that carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    /// Record timestamp in milliseconds.
    pub timestamp: i64,
    /// The record's offset (for compressed batches, the batch's base offset).
    pub offset: i64,
}

/// What the log cleaner remembers of a log between cleanings.
#[derive(Debug, Clone, Copy)]
pub struct CleanerCheckpoint {
    /// Everything below is cleaned (Kafka's first dirty offset, kept in the data dir's
    /// `cleaner-offset-checkpoint`); `None` before the first cleaning.
    pub first_dirty_offset: Option<i64>,
    /// The earliest delete horizon a cleaning wrote: tombstones become removable then, so the
    /// log is worth cleaning again even without new writes. `i64::MAX` when none is pending.
    pub next_delete_horizon_ms: i64,
}

/// The writer's bookkeeping for the flush policy.
#[derive(Debug, Default)]
struct AppendState {
    /// Records appended since the last flush (`flush.messages`).
    unflushed_records: u64,
    /// When the oldest unflushed append happened (`flush.ms`).
    first_unflushed_ms: Option<i64>,
    /// Idempotent producers' sequences, checked and updated with every append.
    producers: ProducerStateManager,
    /// How much of the active segment the writeback thread was given.
    writeback: crate::writeback::Cursor,
}

/// The log of one topic-partition.
pub struct PartitionLog {
    dir: PathBuf,
    config: RwLock<LogConfig>,
    /// Keyed by base offset; the last one is the active segment. Written only under `append`.
    segments: RwLock<BTreeMap<i64, Arc<LogSegment>>>,
    /// Serializes writers (appends, rolls, retention) so offsets are assigned in order.
    append: Mutex<AppendState>,
    /// Held while syncing, so concurrent appenders wait for one fsync instead of each doing one.
    flush: Mutex<()>,
    log_start_offset: AtomicI64,
    /// Where the next append goes. Written only under `append`.
    log_end_offset: AtomicI64,
    /// What readers are served up to and the end-offset watch publishes; at most the log end
    /// offset, and with `FsyncPolicy::Always` at most the recovery point.
    high_watermark: AtomicI64,
    /// The producer state's first unstable offset as of the last append or high-watermark move
    /// (`i64::MAX`: none); stored before the high watermark moves past a new transaction's
    /// records, so a reader that loads the high watermark first never sees past it.
    first_unstable: AtomicI64,
    /// Everything below this offset is on disk.
    recovery_point: AtomicI64,
    /// Set when a write or fsync failed: the page cache may then hold data the disk lost, so
    /// the log takes no more writes (as raft-engine and Kafka do).
    offline: AtomicBool,
    /// A failure of the writeback thread on this log's files, which the next sync reports.
    writeback_failure: Arc<crate::writeback::Failure>,
    end_tx: watch::Sender<i64>,
    /// The log cleaner's bookkeeping of this log; held for the whole of a cleaning, so that
    /// deleting or closing the log waits for a cleaning in progress to stop.
    cleaner: Mutex<CleanerCheckpoint>,
    /// Set to make a cleaning in progress give up at its next batch.
    cleaning_aborted: AtomicBool,
    /// The cleaner's first dirty offset, readable while a cleaning holds `cleaner` (-1: none).
    cleaned_offset: AtomicI64,
    /// Runs just before an fsync, so a test can look at the log while the data is written but
    /// not yet durable.
    #[cfg(test)]
    before_sync: Mutex<Option<SyncHook>>,
}

#[cfg(test)]
type SyncHook = Box<dyn Fn(&PartitionLog) + Send + Sync>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PartitionLog {
    /// Builds a log from segments the loader opened and checked.
    pub(crate) fn from_parts(
        dir: PathBuf,
        config: LogConfig,
        segments: BTreeMap<i64, Arc<LogSegment>>,
        log_start_offset: i64,
        recovery_point: i64,
    ) -> PartitionLog {
        let end = segments.values().next_back().map_or(0, |s| s.next_offset());
        let (end_tx, _) = watch::channel(end);
        PartitionLog {
            dir,
            config: RwLock::new(config),
            segments: RwLock::new(segments),
            append: Mutex::new(AppendState::default()),
            flush: Mutex::new(()),
            log_start_offset: AtomicI64::new(log_start_offset.min(end)),
            log_end_offset: AtomicI64::new(end),
            // What a previous run appended survived the restart, so it is all readable.
            high_watermark: AtomicI64::new(end),
            first_unstable: AtomicI64::new(i64::MAX),
            recovery_point: AtomicI64::new(recovery_point.min(end)),
            offline: AtomicBool::new(false),
            writeback_failure: Arc::default(),
            end_tx,
            cleaner: Mutex::new(CleanerCheckpoint {
                first_dirty_offset: None,
                next_delete_horizon_ms: i64::MAX,
            }),
            cleaning_aborted: AtomicBool::new(false),
            cleaned_offset: AtomicI64::new(-1),
            #[cfg(test)]
            before_sync: Mutex::new(None),
        }
    }

    /// The partition folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log's settings.
    pub fn config(&self) -> LogConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the settings; they apply to the next roll, flush and retention check.
    pub fn set_config(&self, config: LogConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// The first offset a reader may ask for.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// The offset the next record will get.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset.load(Ordering::Acquire)
    }

    /// The offset up to which records are committed and readable: the log end offset, or with
    /// `FsyncPolicy::Always` the part of it an fsync covers.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// The offset up to which read_committed readers are served: the high watermark, or the
    /// first offset of the earliest transaction whose marker is not yet below it.
    pub fn last_stable_offset(&self) -> i64 {
        // The high watermark first: the first unstable offset is published before it moves.
        let high_watermark = self.high_watermark();
        high_watermark.min(self.first_unstable.load(Ordering::Acquire))
    }

    /// Publishes the producer state's first unstable offset. Caller holds `append`.
    fn publish_unstable(&self, producers: &ProducerStateManager) {
        let first = producers.first_unstable_offset().unwrap_or(i64::MAX);
        self.first_unstable.store(first, Ordering::Release);
    }

    /// Moves the high watermark up to `offset` and tells waiting readers.
    fn advance_high_watermark(&self, offset: i64) {
        let mut state = lock(&self.append);
        self.advance_high_watermark_locked(offset, &mut state);
    }

    /// `advance_high_watermark` for a caller holding `append`: transactions whose markers are
    /// now committed become stable before readers are woken.
    fn advance_high_watermark_locked(&self, offset: i64, state: &mut AppendState) {
        let offset = offset.min(self.log_end_offset());
        if self.high_watermark.fetch_max(offset, Ordering::AcqRel) < offset {
            state.producers.on_high_watermark(self.high_watermark());
            self.publish_unstable(&state.producers);
            self.end_tx.send_if_modified(|published| {
                let moved = *published < offset;
                *published = (*published).max(offset);
                moved
            });
        }
    }

    /// The offset below which everything is known to be on disk.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point.load(Ordering::Acquire)
    }

    /// A receiver of the high watermark, updated whenever it moves (for long-poll fetches).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.end_tx.subscribe()
    }

    /// Bytes of all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments_read().values().map(|s| s.size()).sum()
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments_read().len()
    }

    /// The segments, oldest first (a snapshot; for tests and diagnostics).
    pub fn segments(&self) -> Vec<Arc<LogSegment>> {
        self.segments_read().values().cloned().collect()
    }

    fn segments_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<i64, Arc<LogSegment>>> {
        self.segments.read().unwrap_or_else(|e| e.into_inner())
    }

    fn segments_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<i64, Arc<LogSegment>>> {
        self.segments.write().unwrap_or_else(|e| e.into_inner())
    }

    fn active(&self) -> Arc<LogSegment> {
        self.segments_read()
            .values()
            .next_back()
            .cloned()
            .expect("a log always has a segment")
    }

    fn check_online(&self) -> Result<()> {
        if self.offline.load(Ordering::Acquire) {
            return Err(StorageError::LogOffline(self.dir.clone()));
        }
        Ok(())
    }

    /// Takes the log offline after a failed write or sync, passing the error on.
    fn fail<T>(&self, err: StorageError) -> Result<T> {
        if matches!(err, StorageError::Io { .. }) {
            tracing::error!(log = %self.dir.display(), cause = %err, "log write failed; the log is now offline");
            self.offline.store(true, Ordering::Release);
        }
        Err(err)
    }

    /// Appends one or more whole v2 batches that the caller has validated, giving them the next
    /// offsets (only each batch's base offset field is rewritten; records are never
    /// decompressed). With `FsyncPolicy::Always` it returns once an fsync covers the batches.
    pub fn append(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo> {
        self.append_as(records, now_ms, Origin::Client)
    }

    /// `append` for `origin`: a coordinator's batches (its records, transaction markers) carry
    /// no sequence numbers, so only their epochs are checked.
    pub fn append_as(&self, records: &[u8], now_ms: i64, origin: Origin) -> Result<AppendInfo> {
        self.append_inner(records, now_ms, true, origin)
            .map(|appended| appended.expect("a blocking append always appends"))
    }

    /// `append`, unless it would block on the disk: `Ok(None)`, with nothing changed, when the
    /// append would fsync (`FsyncPolicy::Always`, `flush.messages` reached) or roll a segment
    /// (which seals, syncs the directory and writes a producer snapshot). Decided under the
    /// append lock, so no concurrent appender can make an append roll that this one let
    /// through. An async caller runs the `None` case with `append` on a blocking thread.
    pub fn try_append_nonblocking(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<Option<AppendInfo>> {
        self.append_inner(records, now_ms, false, Origin::Client)
    }

    /// `try_append_nonblocking` for `origin` (see `append_as`).
    pub fn try_append_nonblocking_as(
        &self,
        records: &[u8],
        now_ms: i64,
        origin: Origin,
    ) -> Result<Option<AppendInfo>> {
        self.append_inner(records, now_ms, false, origin)
    }

    fn append_inner(
        &self,
        records: &[u8],
        now_ms: i64,
        may_block: bool,
        origin: Origin,
    ) -> Result<Option<AppendInfo>> {
        self.check_online()?;
        let headers = batch::headers(records)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StorageError::InvalidRecords(e.as_str()))?;
        if headers.is_empty() {
            return Err(StorageError::InvalidRecords("no record batch"));
        }
        let producer_batches: Vec<ProducerBatch> = headers
            .iter()
            .map(|(at, h)| ProducerBatch::of(&records[*at..], h))
            .collect();
        let config = self.config();
        if records.len() as u64 > config.segment_bytes {
            return Err(StorageError::RecordBatchTooLarge {
                size: records.len(),
                limit: config.segment_bytes,
            });
        }
        let record_count: i64 = headers
            .iter()
            .map(|(_, h)| i64::from(h.last_offset_delta) + 1)
            .sum();

        if !may_block && config.fsync == FsyncPolicy::Always {
            return Ok(None);
        }
        let mut state = lock(&self.append);
        self.check_online()?;
        match state.producers.check(&producer_batches, origin) {
            Ok(SequenceCheck::Append) => {}
            Ok(SequenceCheck::Duplicate(first)) => {
                drop(state);
                // The first append may still await its fsync: a retry is acknowledged only
                // once the batch is as durable as the first answer would have made it.
                if config.fsync == FsyncPolicy::Always {
                    self.flush_to(first.last_offset + 1)?;
                }
                return Ok(Some(AppendInfo {
                    base_offset: first.first_offset,
                    last_offset: first.last_offset,
                    log_start_offset: self.log_start_offset(),
                    duplicate: true,
                }));
            }
            Err(e) => return Err(StorageError::Sequence(e)),
        }
        let base_offset = self.log_end_offset();
        let last_offset = base_offset + record_count - 1;
        let mut active = self.active();
        let incoming_max_timestamp = headers
            .iter()
            .map(|(_, h)| h.max_timestamp)
            .max()
            .unwrap_or(crate::timestamps::NO_TIMESTAMP);
        // Kafka's `shouldRoll`: strictly older than `segment.ms`.
        let aged = active.time_waited_for_roll(now_ms, incoming_max_timestamp) > config.segment_ms;
        // The active segment may have been mapped under an older, larger `segment.bytes`.
        let full = active.size() + records.len() as u64 > config.segment_bytes;
        let must_roll = !active.is_empty()
            && (aged || full || !active.can_take(records.len() as u64, last_offset));
        let must_flush = state.unflushed_records + record_count as u64 >= config.flush_messages;
        if !may_block && (must_roll || must_flush) {
            return Ok(None);
        }
        if must_roll {
            active = self.roll(base_offset, now_ms, &config, &state.producers)?;
        }
        // A failed preallocation leaves nothing written: the log stays usable, and a full disk
        // is an error for this produce only.
        active.append(records, &headers, base_offset, &config)?;
        // Off the request path: this only queues the range for the writeback thread.
        state.writeback.appended(&active, &self.writeback_failure);
        let mut next = base_offset;
        let mut completed = Vec::new();
        for ((_, header), batch) in headers.iter().zip(&producer_batches) {
            let last = next + i64::from(header.last_offset_delta);
            completed.extend(
                state
                    .producers
                    .update(batch, next, last, header.max_timestamp),
            );
            next = last + 1;
        }
        for txn in completed.iter().filter(|t| t.aborted) {
            let entry = AbortedTxn {
                producer_id: txn.producer_id,
                first_offset: txn.first_offset,
                last_offset: txn.last_offset,
                last_stable_offset: state.producers.last_stable_offset_after(txn),
            };
            // Without its entry a read_committed reader would take the aborted records for
            // committed ones: the log cannot go on without it.
            if let Err(e) = active.append_aborted_txn(entry) {
                drop(state);
                self.offline.store(true, Ordering::Release);
                tracing::error!(log = %self.dir.display(), cause = %e, "transaction index write failed; the log is now offline");
                return Err(e);
            }
        }
        // Before the high watermark passes the records of a transaction begun here.
        self.publish_unstable(&state.producers);
        self.log_end_offset
            .store(last_offset + 1, Ordering::Release);
        let durable_first = config.fsync == FsyncPolicy::Always;
        if !durable_first {
            self.advance_high_watermark_locked(last_offset + 1, &mut state);
        }

        state.unflushed_records += record_count as u64;
        state.first_unflushed_ms.get_or_insert(now_ms);
        let flush_now = durable_first || state.unflushed_records >= config.flush_messages;
        drop(state);
        if flush_now {
            // With `Always` the high watermark moves here, once the fsync covers the batch.
            self.flush_to(last_offset + 1)?;
        }
        Ok(Some(AppendInfo {
            base_offset,
            last_offset,
            log_start_offset: self.log_start_offset(),
            duplicate: false,
        }))
    }

    /// Seals the active segment and starts a new one at `base_offset`, snapshotting the producer
    /// state there so a restart replays only the newest segment. Caller holds `append`.
    fn roll(
        &self,
        base_offset: i64,
        now_ms: i64,
        config: &LogConfig,
        producers: &ProducerStateManager,
    ) -> Result<Arc<LogSegment>> {
        // The new segment comes first: when the disk is full this fails before anything
        // changed, so the log stays writable and the next append retries once space frees.
        let segment = match LogSegment::create(&self.dir, base_offset, config, now_ms) {
            Ok(segment) => Arc::new(segment),
            Err(e) => {
                for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    remove_if_exists(&segment_file(&self.dir, base_offset, suffix))?;
                }
                return Err(e);
            }
        };
        // The old segment is synced later (`flush_rolled_segments`), as Kafka does, so an
        // append never waits for a whole segment to reach the disk. A failure from here on
        // leaves the files in a state the page cache may not match: the log goes offline.
        let sealed = self
            .active()
            .seal()
            .and_then(|()| crate::meta_files::sync_dir(&self.dir));
        if let Err(e) = sealed {
            return self.fail(e);
        }
        self.segments_write().insert(base_offset, segment.clone());
        tracing::debug!(log = %self.dir.display(), base_offset, "rolled segment");
        self.write_producer_snapshot_or_warn(base_offset, producers);
        Ok(segment)
    }

    /// Makes everything below `offset` durable and readable. The fsync covers all that was
    /// appended when it started, so appenders waiting on the flush lock meanwhile are usually
    /// covered too (group commit).
    fn flush_to(&self, offset: i64) -> Result<()> {
        if self.recovery_point() >= offset {
            self.advance_high_watermark(offset);
            return Ok(());
        }
        let _flushing = lock(&self.flush);
        if self.recovery_point() >= offset {
            self.advance_high_watermark(offset);
            return Ok(());
        }
        let end = self.log_end_offset();
        {
            let mut state = lock(&self.append);
            if self.log_end_offset() == end {
                state.unflushed_records = 0;
                state.first_unflushed_ms = None;
            }
        }
        self.sync_up_to(end)?;
        self.advance_high_watermark(end);
        Ok(())
    }

    /// Syncs every segment holding offsets in `[recovery point, target)`. Caller holds `flush`.
    fn sync_up_to(&self, target: i64) -> Result<()> {
        self.check_online()?;
        if let Some(failure) = self.writeback_failure.get() {
            // The kernel reported the error to the writeback thread, not to the fsync below.
            let lost = std::io::Error::other(failure);
            return self.fail(StorageError::io("writing back", &self.dir)(lost));
        }
        let recovery_point = self.recovery_point();
        let dirty: Vec<_> = self
            .segments_read()
            .values()
            .filter(|s| s.next_offset() > recovery_point && s.base_offset() < target)
            .cloned()
            .collect();
        #[cfg(test)]
        if let Some(hook) = lock(&self.before_sync).as_ref() {
            hook(self);
        }
        let active_base = self.active().base_offset();
        for segment in dirty {
            // A closed segment below the recovery point is trusted at the next start without
            // being read: its indexes must be on disk too (Kafka flushes all four files).
            let synced = if segment.base_offset() < active_base {
                segment.sync()
            } else {
                segment.sync_log()
            };
            if let Err(e) = synced {
                return self.fail(e);
            }
        }
        self.recovery_point.fetch_max(target, Ordering::AcqRel);
        Ok(())
    }

    /// Syncs segments that rolled since the last flush (Kafka flushes them in the background
    /// right after the roll); the broker's upkeep calls this.
    pub fn flush_rolled_segments(&self) -> Result<()> {
        let active_base = self.active().base_offset();
        if self.recovery_point() >= active_base {
            return Ok(());
        }
        let _flushing = lock(&self.flush);
        self.sync_up_to(active_base)
    }

    /// Forces every appended batch to disk.
    pub fn flush(&self) -> Result<()> {
        self.flush_to(self.log_end_offset())
    }

    /// Flushes if the oldest unflushed append is older than `flush.ms`.
    pub fn flush_if_due(&self, now_ms: i64) -> Result<()> {
        let flush_ms = self.config().flush_ms;
        let due = lock(&self.append)
            .first_unflushed_ms
            .is_some_and(|t| now_ms.saturating_sub(t) >= flush_ms);
        if due {
            self.flush()?;
        }
        Ok(())
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` but at least one batch,
    /// all from one segment (as Kafka reads). Empty at the log end.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadInfo> {
        self.read_up_to(offset, max_bytes, i64::MAX)
    }

    /// `read`, serving no batch that reaches `max_offset` or beyond (a read_committed Fetch
    /// passes the last stable offset). The offset is still checked against the high watermark.
    pub fn read_up_to(&self, offset: i64, max_bytes: usize, max_offset: i64) -> Result<ReadInfo> {
        let (read, damaged) = self.read_checked(offset, max_bytes, max_offset)?;
        let Some(base) = damaged else {
            return Ok(read);
        };
        self.repair_damage(base, "a fetch")?;
        if read.records.is_empty() {
            // What the log holds now: its end where the damaged batch was.
            return self.read_up_to(offset, max_bytes, max_offset);
        }
        Ok(ReadInfo {
            high_watermark: self.high_watermark(),
            log_start_offset: self.log_start_offset(),
            ..read
        })
    }

    /// `read_up_to` without repairing: a damaged batch ends the records (the batches before it
    /// are returned) and the damaged segment's base offset comes with them.
    fn read_checked(
        &self,
        offset: i64,
        max_bytes: usize,
        max_offset: i64,
    ) -> Result<(ReadInfo, Option<i64>)> {
        // Bounds under the segments guard: a swap landing between a high watermark read first
        // and the segments could drop every batch in [offset, watermark) as superseded by
        // later records, and the read came back empty before the log end. The cleaner drops
        // only records superseded below the watermark it saw, so this one keeps them.
        let segments = self.segments_read();
        let high_watermark = self.high_watermark();
        let log_start_offset = self.log_start_offset();
        if offset < log_start_offset || offset > high_watermark {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset: high_watermark,
            });
        }
        let mut records = Bytes::new();
        let upper = high_watermark.min(max_offset);
        let mut damaged = None;
        if offset < upper {
            let first = segments
                .range(..=offset)
                .next_back()
                .map_or(i64::MIN, |(base, _)| *base);
            let gaps = self.gaps();
            for segment in segments.range(first..).map(|(_, s)| s) {
                match segment.read(offset, max_bytes, upper, gaps)? {
                    SegmentRead::Nothing => continue,
                    SegmentRead::Batches(found) => records = found,
                    SegmentRead::Damaged { served, .. } => {
                        records = served.unwrap_or_default();
                        damaged = Some(segment.base_offset());
                    }
                }
                break;
            }
        }
        let read = ReadInfo {
            records,
            high_watermark,
            log_start_offset,
        };
        Ok((read, damaged))
    }

    /// Whether batches may leave offsets out between them: only once the cleaner has been.
    fn gaps(&self) -> Gaps {
        if self.cleaner_checkpoint().is_some() {
            Gaps::Allowed
        } else {
            Gaps::Forbidden
        }
    }

    /// Whether some segment still has bytes a trusted load did not check.
    pub fn needs_scrub(&self) -> bool {
        self.segments_read().values().any(|s| s.needs_scrub())
    }

    /// Bytes the scrub has still to check in this log.
    pub fn unscrubbed_bytes(&self) -> u64 {
        self.segments_read()
            .values()
            .map(|s| s.unscrubbed_bytes())
            .sum()
    }

    /// Scrubs whole segments, newest first, while their unchecked bytes fit in `budget`;
    /// returns the bytes checked, and whether it stopped at a lazy segment it opened to learn
    /// its size (the caller then stops: each such open is a start-up cost per segment). A
    /// damaged batch is repaired as the scrub repairs one.
    pub fn scrub_newest(&self, budget: u64) -> Result<(u64, bool)> {
        let mut left = budget;
        let pending: Vec<Arc<LogSegment>> = self
            .segments_read()
            .values()
            .rev()
            .filter(|s| s.needs_scrub())
            .cloned()
            .collect();
        for segment in pending {
            let lazy = !segment.is_open();
            let bytes = segment.unscrubbed_bytes();
            if bytes > left {
                return Ok((budget - left, lazy));
            }
            left -= bytes;
            if segment.scrub_all(self.gaps())?.is_some() {
                self.repair_damage(segment.base_offset(), "the start-up check")?;
            }
        }
        Ok((budget - left, false))
    }

    /// Checks up to `max_bytes` of the oldest segment the scrub has not finished, repairing
    /// the log if a batch there is damaged. Returns the bytes checked (0: nothing left).
    pub fn scrub_step(&self, max_bytes: u64) -> Result<u64> {
        let Some(segment) = self
            .segments_read()
            .values()
            .find(|s| s.needs_scrub())
            .cloned()
        else {
            return Ok(0);
        };
        let before = segment.verified();
        match segment.scrub_step(max_bytes, self.gaps())? {
            ScrubStep::Checked(_) | ScrubStep::Done => {
                Ok(segment.verified().saturating_sub(before).max(1))
            }
            ScrubStep::Damaged(position) => {
                tracing::debug!(segment = %segment.log_path().display(), position, "the scrub found a damaged batch");
                self.repair_damage(segment.base_offset(), "the scrub")?;
                Ok(1)
            }
        }
    }

    /// Handles a damaged batch found after load (by the scrub or a fetch) as recovery at
    /// start-up handles one: the log is cut at the first batch of the segment based at `base`
    /// that is torn, fails its CRC or breaks the offset chain, the segments after it are
    /// deleted, and the producer state is rebuilt for the shorter log. The log end offset, the
    /// high watermark and the recovery point move back to the cut: consumers past it get
    /// OFFSET_OUT_OF_RANGE, and new appends reuse the offsets, exactly what a restart that
    /// found the damage would give. Later segments go too because the offsets after a cut are
    /// no longer the log's (Kafka's LogLoader deletes them for the same reason).
    ///
    /// Bytes other readers may still be sending are never cut off a file: the damaged tail is
    /// zeroed (hole-punched) and the segment reopened over it, deleted segments stay mapped
    /// until their last reader lets go.
    pub fn repair_damage(&self, base: i64, found_by: &str) -> Result<()> {
        // A cleaning holds the cleaner lock while it reads segments: wait for it.
        let mut cleaner = self.cleaner_state();
        let mut state = lock(&self.append);
        let Some(segment) = self.segments_read().get(&base).cloned() else {
            return Ok(());
        };
        let gaps = self.gaps();
        let Some(position) = segment.scrub_all(gaps)? else {
            // Nothing wrong from the start of the segment (the hint came from a wrong index
            // entry, which the segment no longer uses).
            tracing::debug!(segment = %segment.log_path().display(), found_by, "no damaged batch found");
            return Ok(());
        };
        let config = self.config();
        let size = segment.size();
        tracing::warn!(log = %self.dir.display(), segment = %segment.log_path().display(), found_by, valid_bytes = position, truncated_bytes = size - position, "damaged batch: truncating the log there, as recovery does");
        // Reopen the segment over the same file with a new mapping: the old one stays valid
        // for readers holding slices of it.
        let reopened = LogSegment::open(
            &self.dir,
            base,
            &config,
            crate::log_segment::SegmentRole::Active,
        )?;
        let cut = reopened.recover_live(&config, gaps);
        let cut = match cut {
            Ok(cut) => cut,
            Err(e) => return self.fail(e),
        };
        debug_assert!(cut > 0 || position == size);
        let reopened = Arc::new(reopened);
        let end = reopened.next_offset();
        let removed: Vec<Arc<LogSegment>> = {
            let mut segments = self.segments_write();
            let later: Vec<i64> = segments.range(base + 1..).map(|(b, _)| *b).collect();
            let removed = later.iter().filter_map(|b| segments.remove(b)).collect();
            segments.insert(base, reopened.clone());
            removed
        };
        for dropped in &removed {
            tracing::warn!(log = %self.dir.display(), base_offset = dropped.base_offset(), "deleting segment after the end of the valid log");
            for path in dropped.files(&self.dir) {
                remove_if_exists(&path)?;
            }
        }
        if let Err(e) = crate::meta_files::sync_dir(&self.dir) {
            return self.fail(e);
        }
        self.log_end_offset.store(end, Ordering::Release);
        self.high_watermark.fetch_min(end, Ordering::AcqRel);
        self.recovery_point.fetch_min(end, Ordering::AcqRel);
        self.log_start_offset.fetch_min(end, Ordering::AcqRel);
        self.cleaned_offset.fetch_min(end, Ordering::AcqRel);
        cleaner.first_dirty_offset = cleaner.first_dirty_offset.map(|o| o.min(end));
        drop(cleaner);
        self.end_tx
            .send_modify(|published| *published = (*published).min(end));
        state.unflushed_records = 0;
        state.first_unflushed_ms = None;
        // A second damaged batch before this one stops the replay there; the scrub finds it.
        state.producers = self.rebuild_producer_state(&[base])?.0;
        self.publish_unstable(&state.producers);
        Ok(())
    }

    /// The first record whose timestamp is at least `timestamp` (Kafka's ListOffsets by time),
    /// among those below the high watermark.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<TimestampOffset>> {
        // Bounds after the segments, for the reason `read_up_to` gives.
        let segments: Vec<_> = self.segments_read().values().cloned().collect();
        let high_watermark = self.high_watermark();
        let start = self.log_start_offset();
        for segment in segments {
            if segment.next_offset() <= start
                || segment
                    .max_timestamp()
                    .is_none_or(|m| m.timestamp < timestamp)
            {
                continue;
            }
            if let Some(found) = segment.find_offset_by_timestamp(timestamp, start)? {
                return Ok((found.offset < high_watermark).then_some(found));
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the first record carrying it (Kafka
    /// 4's ListOffsets MAX_TIMESTAMP: the first segment with the largest timestamp, then the
    /// record inside its batch; see `LogSegment::offset_of_max_timestamp` for compressed
    /// batches). When no record has a timestamp, Kafka answers `NO_TIMESTAMP` with the first
    /// record's offset, and so does this. `None` for an empty log or an uncommitted answer.
    pub fn max_timestamp(&self) -> Option<TimestampOffset> {
        let high_watermark = self.high_watermark();
        let mut best: Option<(i64, Arc<LogSegment>)> = None;
        for segment in self.segments_read().values() {
            if let Some(m) = segment.max_timestamp() {
                if best.as_ref().is_none_or(|(b, _)| m.timestamp > *b) {
                    best = Some((m.timestamp, segment.clone()));
                }
            }
        }
        best?
            .1
            .offset_of_max_timestamp()
            .filter(|found| found.offset < high_watermark)
    }

    /// Moves the log start offset up to `offset` (DeleteRecords), deleting segments that lie
    /// wholly below it. Returns the new log start offset.
    pub fn advance_log_start(&self, offset: i64) -> Result<i64> {
        let mut writer = lock(&self.append);
        // DeleteRecords may not pass what readers can see (Kafka checks the high watermark).
        let end = self.high_watermark();
        let start = self.log_start_offset();
        if offset > end || offset < 0 {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start_offset: start,
                log_end_offset: end,
            });
        }
        if offset > start {
            self.log_start_offset.store(offset, Ordering::Release);
            self.delete_segments_while(|segment, next_base| {
                next_base.is_some_and(|n| n <= offset) && segment.next_offset() <= offset
            })?;
            writer.producers.truncate_head(offset);
            self.publish_unstable(&writer.producers);
        }
        Ok(self.log_start_offset())
    }

    /// Applies `retention.ms` and `retention.bytes` at `now_ms`, deleting whole old segments.
    /// Returns how many segments were deleted.
    ///
    /// A segment's age is measured from its largest record timestamp, or from its file's
    /// modification time when no record has a timestamp (Kafka's `LogSegment.largestTimestamp`):
    /// records sent with timestamp -1 are kept for `retention.ms` after their last write, and a
    /// timestamp in the future keeps its segment until that future has passed too.
    pub fn apply_retention(&self, now_ms: i64) -> Result<usize> {
        let config = self.config();
        // A compacted log without `delete` in its policy keeps every segment: only the cleaner
        // takes records from it.
        if !config.cleanup.delete {
            return Ok(0);
        }
        let mut writer = lock(&self.append);
        let mut deleted = 0;
        if config.retention_ms >= 0 {
            let expired = |s: &LogSegment| {
                !s.is_empty()
                    && s.retention_timestamp()
                        .is_some_and(|t| now_ms.saturating_sub(t) > config.retention_ms)
            };
            let active = self.active();
            let all_expired = self.segments_read().values().all(|s| expired(s));
            // Only committed records may go: the active segment holds none above the high
            // watermark when it is rolled here.
            if all_expired && !active.is_empty() && self.high_watermark() == self.log_end_offset() {
                // Kafka deletes an expired active segment too; roll first so the log keeps one.
                self.roll(self.log_end_offset(), now_ms, &config, &writer.producers)?;
            }
            deleted += self.delete_segments_while(|s, next| next.is_some() && expired(s))?;
        }
        if config.retention_bytes >= 0 {
            let mut size = self.size_bytes();
            let limit = config.retention_bytes as u64;
            deleted += self.delete_segments_while(|s, next| {
                let drop = next.is_some() && size.saturating_sub(s.size()) >= limit && size > limit;
                if drop {
                    size -= s.size();
                }
                drop
            })?;
        }
        if deleted > 0 {
            writer.producers.truncate_head(self.log_start_offset());
            self.publish_unstable(&writer.producers);
        }
        Ok(deleted)
    }

    /// Deletes the oldest segments while `pred(segment, base of the next segment)` holds, moving
    /// the log start offset past them. Caller holds `append`. A segment holding records above
    /// the high watermark stays (as in Kafka's `deletableSegments`): the log start offset must
    /// never pass what readers can see.
    fn delete_segments_while(
        &self,
        mut pred: impl FnMut(&LogSegment, Option<i64>) -> bool,
    ) -> Result<usize> {
        let high_watermark = self.high_watermark();
        let mut removed = Vec::new();
        {
            let mut segments = self.segments_write();
            loop {
                let mut iter = segments.iter();
                let Some((&base, first)) = iter.next() else {
                    break;
                };
                let next = iter.next().map(|(b, _)| *b);
                if first.next_offset() > high_watermark || !pred(first, next) {
                    break;
                }
                removed.push(segments.remove(&base).expect("present"));
            }
            if let Some(first) = segments.values().next() {
                self.log_start_offset
                    .fetch_max(first.base_offset(), Ordering::AcqRel);
            }
        }
        for segment in &removed {
            // Readers holding slices keep the unlinked file's pages through their mapping.
            for path in segment.files(&self.dir) {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StorageError::io("deleting segment", path)(e)),
                }
            }
            tracing::info!(log = %self.dir.display(), base_offset = segment.base_offset(), "deleted segment");
        }
        if !removed.is_empty() {
            crate::meta_files::sync_dir(&self.dir)?;
        }
        Ok(removed.len())
    }

    /// Flushes and seals the active segment (files cut to their size). The log takes no more
    /// appends afterwards.
    pub fn close(&self) -> Result<()> {
        let writer = lock(&self.append);
        self.check_online()?;
        if let Some(failure) = self.writeback_failure.get() {
            let lost = std::io::Error::other(failure);
            return self.fail(StorageError::io("writing back", &self.dir)(lost));
        }
        let active = self.active();
        if let Err(e) = active.seal().and_then(|()| active.sync()) {
            return self.fail(e);
        }
        self.write_producer_snapshot_or_warn(self.log_end_offset(), &writer.producers);
        self.recovery_point
            .fetch_max(self.log_end_offset(), Ordering::AcqRel);
        self.offline.store(true, Ordering::Release);
        Ok(())
    }
}

/// What the log cleaner needs: the segments it may clean, the swap of cleaned segments, and its
/// checkpoint. Kafka's `UnifiedLog.replaceSegments` and the cleaner's view of the log.
impl PartitionLog {
    /// Locks the cleaner's bookkeeping; the cleaner holds it through a cleaning.
    pub(crate) fn cleaner_state(&self) -> MutexGuard<'_, CleanerCheckpoint> {
        lock(&self.cleaner)
    }

    /// The cleaner's bookkeeping if no cleaning holds it right now.
    pub(crate) fn try_cleaner_state(&self) -> Option<MutexGuard<'_, CleanerCheckpoint>> {
        match self.cleaner.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Everything below this offset is cleaned, as the data dir's checkpoint said or the last
    /// cleaning left it.
    pub fn cleaner_checkpoint(&self) -> Option<i64> {
        let offset = self.cleaned_offset.load(Ordering::Acquire);
        (offset >= 0).then_some(offset)
    }

    /// Sets the cleaned offset read from the data dir's checkpoint at load.
    pub(crate) fn set_cleaner_checkpoint(&self, offset: Option<i64>) {
        self.cleaner_state().first_dirty_offset = offset;
        self.cleaned_offset
            .store(offset.unwrap_or(-1), Ordering::Release);
    }

    /// Makes a cleaning in progress stop at its next batch and waits for it; cleanings stay
    /// off afterwards. Used before the log is deleted or closed.
    pub fn abort_cleaning(&self) {
        self.cleaning_aborted.store(true, Ordering::Release);
        drop(self.cleaner_state());
    }

    /// Whether cleanings of this log were aborted.
    pub(crate) fn cleaning_aborted(&self) -> bool {
        self.cleaning_aborted.load(Ordering::Acquire) || self.offline.load(Ordering::Acquire)
    }

    /// The active segment's base offset: the cleaner never touches it or anything after.
    pub(crate) fn active_base_offset(&self) -> i64 {
        self.active().base_offset()
    }

    /// Rolls the idle active segment of a compacted log once `segment.ms` or
    /// `max.compaction.lag.ms` has made it due, so the cleaner reaches its records without
    /// waiting for another append. Only committed records are rolled past.
    pub fn roll_if_due(&self, now_ms: i64) -> Result<bool> {
        let config = self.config();
        if !config.cleanup.compact {
            // Other logs roll at their next append, as Kafka's do.
            return Ok(false);
        }
        let limit = config.segment_ms.min(config.max_compaction_lag_ms);
        let writer = lock(&self.append);
        self.check_online()?;
        let active = self.active();
        let due = !active.is_empty()
            && self.high_watermark() == self.log_end_offset()
            && active.time_waited_for_roll(now_ms, now_ms) > limit;
        if due {
            self.roll(self.log_end_offset(), now_ms, &config, &writer.producers)?;
        }
        Ok(due)
    }

    /// The last offset of each producer's newest batch: the cleaner keeps those batches (empty
    /// if need be) so an idempotent producer's sequence checks survive a cleaning.
    pub(crate) fn producer_last_records(&self) -> std::collections::HashMap<i64, LastRecord> {
        lock(&self.append).producers.last_records()
    }

    /// The aborted transactions that may hold records in `[fetch_offset, upper_bound)`, from
    /// the transaction indexes of the segment holding `fetch_offset` on (Kafka's
    /// `collectAbortedTransactions`): what a read_committed Fetch returns with its records.
    pub fn aborted_transactions(&self, fetch_offset: i64, upper_bound: i64) -> Vec<AbortedTxn> {
        let mut found = AbortedTxnSearch::default();
        if upper_bound <= fetch_offset {
            return found.aborted;
        }
        let segments = self.segments_read();
        let first = segments
            .range(..=fetch_offset)
            .next_back()
            .map_or(i64::MIN, |(base, _)| *base);
        for segment in segments.range(first..).map(|(_, s)| s) {
            segment.collect_aborted_txns(fetch_offset, upper_bound, &mut found);
            if found.complete {
                break;
            }
        }
        found.aborted
    }

    /// Swaps `new` in for the consecutive segments `old` (Kafka's `replaceSegments`). `new`'s
    /// files carry the `.swap` suffix, are complete and synced: from that commit point a crash
    /// finishes the swap at load. Here the old files become `.deleted`, the swap files take
    /// their plain names, the directory is synced, and readers see `new` from then on; readers
    /// holding slices of the old segments keep their mappings. Returns false, changing nothing,
    /// when the log no longer holds all of `old` (retention or DeleteRecords removed one
    /// meanwhile): the caller then discards `new`.
    pub(crate) fn replace_segments(
        &self,
        old: &[Arc<LogSegment>],
        new: Arc<LogSegment>,
    ) -> Result<bool> {
        use crate::file_names::{DELETED_SUFFIX, SWAP_SUFFIX};
        let _writer = lock(&self.append);
        self.check_online()?;
        let present = {
            let segments = self.segments_read();
            old.iter().all(|s| {
                segments
                    .get(&s.base_offset())
                    .is_some_and(|held| Arc::ptr_eq(held, s))
            })
        };
        if !present || old.is_empty() || self.cleaning_aborted() {
            return Ok(false);
        }
        let renamed = (|| {
            for segment in old {
                segment.rename_files(&self.dir, "", DELETED_SUFFIX)?;
                crate::cleaner::failpoint("first_old_deleted");
            }
            new.rename_files(&self.dir, SWAP_SUFFIX, "")?;
            crate::meta_files::sync_dir(&self.dir)?;
            crate::cleaner::failpoint("swap_in_place");
            Ok(())
        })();
        if let Err(e) = renamed {
            // The files are in a state the loader sorts out (a `.swap` finishes, `.deleted`
            // goes), but not one this process should keep writing into.
            return self.fail(e);
        }
        {
            let mut segments = self.segments_write();
            for segment in old {
                segments.remove(&segment.base_offset());
            }
            segments.insert(new.base_offset(), new);
        }
        crate::cleaner::failpoint("old_removed");
        for segment in old {
            for path in segment.files(&self.dir) {
                let mut doomed = path.into_os_string();
                doomed.push(DELETED_SUFFIX);
                remove_if_exists(Path::new(&doomed))?;
            }
        }
        Ok(true)
    }

    /// Records what a cleaning achieved: everything below `first_dirty_offset` is clean, and
    /// the earliest delete horizon it wrote.
    pub(crate) fn cleaned(
        &self,
        state: &mut CleanerCheckpoint,
        first_dirty_offset: i64,
        next_delete_horizon_ms: i64,
    ) {
        state.first_dirty_offset = Some(first_dirty_offset);
        state.next_delete_horizon_ms = next_delete_horizon_ms;
        self.cleaned_offset
            .store(first_dirty_offset, Ordering::Release);
    }
}

/// Producer state: snapshots, rebuilding at load, expiry.
impl PartitionLog {
    /// Writes the producer state below `offset` and removes the snapshots no start can use: all
    /// but the newest two, except the one a start after a crash would replay from. That start
    /// rebuilds the transaction index of the segment holding the recovery point and of every
    /// later one, so its replay begins at the newest snapshot at or below that segment's base;
    /// when it was gone, every crash replayed (and checked) the whole log.
    fn write_producer_snapshot(&self, offset: i64, producers: &ProducerStateManager) -> Result<()> {
        let path = producer_state::snapshot_path(&self.dir, offset);
        crate::meta_files::write_atomically(&path, &producers.encode_snapshot())?;
        let snapshots = producer_state::list_snapshots(&self.dir)?;
        let recovering_from = self
            .segments_read()
            .range(..=self.recovery_point())
            .next_back()
            .map(|(base, _)| *base);
        let replay_from =
            recovering_from.and_then(|base| snapshots.iter().rev().find(|s| **s <= base).copied());
        for old in snapshots.iter().rev().skip(2) {
            if replay_from.is_some_and(|keep| *old >= keep) {
                continue;
            }
            remove_if_exists(&producer_state::snapshot_path(&self.dir, *old))?;
        }
        Ok(())
    }

    /// A snapshot only shortens the replay at the next start, so failing to write one (a full
    /// disk) costs start-up time, never data: it is logged, not returned.
    fn write_producer_snapshot_or_warn(&self, offset: i64, producers: &ProducerStateManager) {
        if let Err(e) = self.write_producer_snapshot(offset, producers) {
            tracing::warn!(log = %self.dir.display(), offset, cause = %e, "could not write producer snapshot; the next start replays the log instead");
        }
    }

    /// Rebuilds the producer state after load: the newest readable snapshot at or below the log
    /// end, then a replay of the batch headers (and markers) after it (the whole log without a
    /// snapshot). Snapshots past the log end (the recovery cut the log) are removed. The
    /// transaction indexes of the segments based at `rebuild_txn_index` (which recovery could
    /// not trust) are emptied and rebuilt by the replay, which then starts at a snapshot no
    /// later than the first of them.
    pub(crate) fn load_producer_state(&self, rebuild_txn_index: &[i64]) -> Result<()> {
        let (producers, damaged) = self.rebuild_producer_state(rebuild_txn_index)?;
        {
            let mut state = lock(&self.append);
            state.producers = producers;
            self.publish_unstable(&state.producers);
        }
        match damaged {
            Some(base) => self.repair_damage(base, "the producer-state replay"),
            None => Ok(()),
        }
    }

    /// The producer state `load_producer_state` rebuilds, and the base offset of a segment
    /// whose damaged batch stopped the replay (its batches up to there are counted).
    fn rebuild_producer_state(
        &self,
        rebuild_txn_index: &[i64],
    ) -> Result<(ProducerStateManager, Option<i64>)> {
        let end = self.log_end_offset();
        let start = self.log_start_offset();
        let rebuild: std::collections::BTreeSet<i64> = rebuild_txn_index.iter().copied().collect();
        for base in &rebuild {
            if let Some(segment) = self.segments_read().get(base) {
                segment.reset_txn_index()?;
            }
        }
        let latest_usable = rebuild.first().map_or(end, |first| (*first).min(end));
        let mut producers = None;
        let mut from = start;
        for offset in producer_state::list_snapshots(&self.dir)?.into_iter().rev() {
            let path = producer_state::snapshot_path(&self.dir, offset);
            if offset > end {
                remove_if_exists(&path)?;
                continue;
            }
            if producers.is_some() || offset > latest_usable {
                continue;
            }
            let bytes =
                std::fs::read(&path).map_err(StorageError::io("reading snapshot", &path))?;
            match ProducerStateManager::decode_snapshot(&bytes) {
                Some(state) => {
                    producers = Some(state);
                    from = offset.max(start);
                }
                None => {
                    tracing::warn!(snapshot = %path.display(), "unreadable producer snapshot; rebuilding from the log");
                    remove_if_exists(&path)?;
                }
            }
        }
        let mut producers = producers.unwrap_or_default();
        let mut offset = from;
        let mut damaged = None;
        while offset < end && damaged.is_none() {
            let (read, damage) = self.read_checked(offset, 1 << 20, i64::MAX)?;
            damaged = damage;
            if read.records.is_empty() {
                break;
            }
            for header in batch::headers(&read.records) {
                let (at, header) = header.map_err(|e| StorageError::InvalidRecords(e.as_str()))?;
                if header.last_offset() < offset {
                    continue;
                }
                let completed = producers.update(
                    &ProducerBatch::of(&read.records[at..], &header),
                    header.base_offset,
                    header.last_offset(),
                    header.max_timestamp,
                );
                if let Some(txn) = completed.filter(|t| t.aborted) {
                    let segment = self
                        .segments_read()
                        .range(..=txn.last_offset)
                        .next_back()
                        .filter(|(base, _)| rebuild.contains(base))
                        .map(|(_, s)| s.clone());
                    if let Some(segment) = segment {
                        segment.append_aborted_txn(AbortedTxn {
                            producer_id: txn.producer_id,
                            first_offset: txn.first_offset,
                            last_offset: txn.last_offset,
                            last_stable_offset: producers.last_stable_offset_after(&txn),
                        })?;
                    }
                }
                offset = header.next_offset();
            }
        }
        for base in &rebuild {
            if let Some(segment) = self.segments_read().get(base) {
                segment.sync_log()?;
            }
        }
        // Everything that survived the restart is committed: the high watermark is the end.
        producers.on_high_watermark(end);
        producers.truncate_head(start);
        Ok((producers, damaged))
    }

    /// Forgets producers whose newest batch is older than `expiration_ms`.
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) {
        lock(&self.append).producers.expire(now_ms, expiration_ms);
    }

    /// The largest producer id with batches in the log.
    pub fn max_producer_id(&self) -> Option<i64> {
        lock(&self.append).producers.max_producer_id()
    }

    /// The producers this log tracks, by producer id (DescribeProducers).
    pub fn active_producers(&self) -> Vec<crate::producer_state::ActiveProducer> {
        lock(&self.append).producers.active_producers()
    }

    /// A copy of the producer state (for tests and diagnostics).
    pub fn producer_state(&self) -> ProducerStateManager {
        lock(&self.append).producers.clone()
    }
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("removing file", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::batch::build_test_batch;
    use crate::log_loader::{self, Checkpoints};

    fn open_log(dir: &Path, fsync: FsyncPolicy) -> PartitionLog {
        let config = LogConfig {
            fsync,
            ..LogConfig::default()
        };
        log_loader::load(dir, config, Checkpoints::default(), true).unwrap()
    }

    /// Issue 13, defect 10: with fsync-always a reader must not see a batch before the fsync
    /// that makes it durable, or a power cut could take back a record a consumer has read.
    /// The hook runs in the appending thread after the batch is written and before the fsync.
    #[test]
    fn fsync_always_serves_a_batch_only_after_its_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(open_log(dir.path(), FsyncPolicy::Always));
        log.append(&build_test_batch(3, 10, 0), 0).unwrap();
        let watch = log.subscribe();
        let checked = Arc::new(AtomicUsize::new(0));
        let seen = checked.clone();
        *lock(&log.before_sync) = Some(Box::new(move |log: &PartitionLog| {
            assert_eq!(log.log_end_offset(), 5, "the batch is written");
            assert_eq!(log.high_watermark(), 3, "but not yet committed");
            assert_eq!(*watch.borrow(), 3, "nor published to long polls");
            let read = log.read(3, 1 << 20).unwrap();
            assert!(read.records.is_empty(), "a reader got unsynced records");
            assert_eq!(read.high_watermark, 3);
            let all = log.read(0, 1 << 20).unwrap().records;
            assert_eq!(crate::batch::parse_header(&all).unwrap().base_offset, 0);
            assert_eq!(
                all.len(),
                build_test_batch(3, 10, 0).len(),
                "only the synced batch"
            );
            assert!(
                log.read(4, 100).is_err(),
                "past the high watermark is out of range"
            );
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        log.append(&build_test_batch(2, 10, 0), 0).unwrap();
        assert_eq!(checked.load(Ordering::SeqCst), 1, "the hook ran once");
        assert_eq!(log.high_watermark(), 5, "committed once synced");
        assert_eq!(*log.subscribe().borrow(), 5);
        assert!(!log.read(3, 1 << 20).unwrap().records.is_empty());
    }

    /// With fsync-always a transaction's marker is not yet committed while it awaits its
    /// fsync: the transaction stays unstable until then, so a read_committed reader never
    /// sees its records before the marker that says what became of them.
    #[test]
    fn a_marker_frees_the_last_stable_offset_only_once_durable() {
        use crate::batch::build_test_txn_batch;
        use gregor_record::control::{EndTxnMarker, TxnResult};
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(open_log(dir.path(), FsyncPolicy::Always));
        log.append(&build_test_txn_batch(9, 0, 0, 3, 0), 0).unwrap();
        assert_eq!((log.high_watermark(), log.last_stable_offset()), (3, 0));
        let checked = Arc::new(AtomicUsize::new(0));
        let seen = checked.clone();
        *lock(&log.before_sync) = Some(Box::new(move |log: &PartitionLog| {
            assert_eq!(log.log_end_offset(), 4, "the marker is written");
            assert_eq!(
                log.last_stable_offset(),
                0,
                "but the transaction is not stable yet"
            );
            seen.fetch_add(1, Ordering::SeqCst);
        }));
        let marker = EndTxnMarker {
            result: TxnResult::Abort,
            coordinator_epoch: 0,
        }
        .batch(9, 0, 0);
        log.append_as(&marker, 0, Origin::Coordinator).unwrap();
        assert_eq!(checked.load(Ordering::SeqCst), 1);
        assert_eq!((log.high_watermark(), log.last_stable_offset()), (4, 4));
        assert_eq!(log.aborted_transactions(0, 4).len(), 1);
    }

    /// Without fsync-always the high watermark is the log end offset after every append.
    #[test]
    fn os_policy_commits_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path(), FsyncPolicy::Os);
        *lock(&log.before_sync) = Some(Box::new(|_: &PartitionLog| {
            panic!("no fsync with the OS policy and default flush settings")
        }));
        log.append(&build_test_batch(2, 10, 0), 0).unwrap();
        assert_eq!(log.high_watermark(), 2);
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(*log.subscribe().borrow(), 2);
    }

    /// The non-blocking append appends only what needs no fsync and no roll, and leaves the
    /// log untouched otherwise, so the caller can redo it on a blocking thread.
    #[test]
    fn a_nonblocking_append_refuses_what_would_block() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path(), FsyncPolicy::Os);
        let batch = build_test_batch(2, 10, 0);
        let appended = log.try_append_nonblocking(&batch, 0).unwrap();
        assert_eq!(appended.map(|a| a.base_offset), Some(0));
        // A segment that cannot take the next batch must roll.
        log.set_config(LogConfig {
            segment_bytes: batch.len() as u64,
            ..log.config()
        });
        assert_eq!(log.try_append_nonblocking(&batch, 0).unwrap(), None);
        assert_eq!((log.log_end_offset(), log.segment_count()), (2, 1));
        assert_eq!(log.append(&batch, 0).unwrap().base_offset, 2);
        assert_eq!(log.segment_count(), 2);
        // flush.messages reached: the append would fsync.
        log.set_config(LogConfig {
            flush_messages: 3,
            ..LogConfig::default()
        });
        assert_eq!(log.try_append_nonblocking(&batch, 0).unwrap(), None);
        assert_eq!(log.log_end_offset(), 4);

        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path(), FsyncPolicy::Always);
        assert_eq!(log.try_append_nonblocking(&batch, 0).unwrap(), None);
        assert_eq!(log.log_end_offset(), 0);
    }

    /// A read bounded below the high watermark (the last stable offset) serves no batch at or
    /// past the bound, but still accepts offsets up to the high watermark.
    #[test]
    fn a_bounded_read_stops_before_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path(), FsyncPolicy::Os);
        let batch = build_test_batch(2, 10, 0);
        log.append(&batch, 0).unwrap();
        log.append(&batch, 0).unwrap();
        assert_eq!(
            log.read_up_to(0, 1 << 20, 2).unwrap().records.len(),
            batch.len()
        );
        assert_eq!(
            log.read_up_to(0, 1 << 20, 4).unwrap().records.len(),
            2 * batch.len()
        );
        assert!(log.read_up_to(2, 1 << 20, 2).unwrap().records.is_empty());
        assert!(log.read_up_to(5, 1 << 20, 2).is_err());
    }

    /// ListOffsets -3 names the record with the largest timestamp, not its batch (Kafka 4).
    #[test]
    fn max_timestamp_names_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path(), FsyncPolicy::Os);
        log.append(&build_test_batch(3, 10, 1000), 0).unwrap();
        // Records at 2000..=2004: the largest is the last record, offset 7.
        log.append(&build_test_batch(5, 10, 2000), 0).unwrap();
        log.append(&build_test_batch(2, 10, 1500), 0).unwrap();
        let found = log.max_timestamp().unwrap();
        assert_eq!((found.timestamp, found.offset), (2004, 7));
    }

    /// With no timestamps at all, Kafka answers -1 and the first record.
    #[test]
    fn max_timestamp_without_timestamps_is_the_first_record() {
        let dir = tempfile::tempdir().unwrap();
        let log = open_log(dir.path(), FsyncPolicy::Os);
        assert_eq!(log.max_timestamp(), None);
        let mut batch = build_test_batch(1, 10, -1);
        log.append(&batch, 0).unwrap();
        batch = build_test_batch(1, 10, -1);
        log.append(&batch, 0).unwrap();
        let found = log.max_timestamp().unwrap();
        assert_eq!((found.timestamp, found.offset), (-1, 0));
    }
}
