//! One cleaning of one log; Kafka's `Cleaner` (`doClean`, `buildOffsetMap`, `cleanSegments`).
//!
//! 1. Map the dirty part, `[first dirty, first uncleanable)`, key by key to its latest offset,
//!    as far as the map holds; that end is the new first dirty offset.
//! 2. Rewrite every segment below that end, in groups that fit one segment, keeping a record
//!    when no later record of its key is in the map and, for a tombstone, its batch's delete
//!    horizon has not passed. A tombstone cleaned for the first time gets a horizon of now
//!    plus `delete.retention.ms`. Keyless records stay. A batch that is a producer's newest
//!    stays, empty if need be, so the producer's sequence checks survive. Batches whose
//!    records all stay are copied byte for byte. Transactions as Kafka cleans them (see
//!    [`super::transactions`]): an aborted transaction's records are neither mapped nor kept,
//!    and a marker stays while its transaction has batches left, then gets a delete horizon
//!    and goes once that has passed (unless it is its producer's last record). Nothing at or
//!    past the last stable offset is cleaned.
//! 3. Each group's cleaned segment is written as `.cleaned` files, synced, renamed to `.swap`
//!    (the commit point) and swapped in by `PartitionLog::replace_segments`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::cleaner::offset_map::{key_hash, OffsetMap};
use crate::cleaner::throttler::Throttler;
use crate::cleaner::transactions::CleanedTransactions;
use crate::config::LogConfig;
use crate::error::Result;
use crate::file_names::{CLEANED_SUFFIX, SWAP_SUFFIX};
use crate::index::AbortedTxn;
use crate::log::{CleanerCheckpoint, PartitionLog};
use crate::log_segment::LogSegment;
use crate::producer_state::LastRecord;
use gregor_record::batch::{self, BatchHeader};
use gregor_record::rebuild::{empty_batch, rebuild_batch};
use gregor_record::record::{batch_records, BatchRecords, Record};

/// The most a batch's records may take decompressed: a bound against decompression bombs, far
/// above what a producer's batch (1 MiB by default) holds.
const MAX_DECOMPRESSED: usize = 256 << 20;

/// Bytes of kept batches gathered before the cleaned segment is written.
const WRITE_CHUNK: usize = 1 << 20;

/// One record as the cleaner judges it.
#[derive(Clone, Copy)]
struct Judged<'a> {
    record: Record<'a>,
    offset: i64,
    key: Option<&'a [u8]>,
    is_tombstone: bool,
}

/// The records of a batch with their offsets, keys and whether each is a tombstone.
fn judge<'a>(records: &'a BatchRecords<'_>) -> Result<Vec<Judged<'a>>, gregor_record::BatchError> {
    let header = records.header();
    records
        .iter()
        .map(|record| {
            let record = record?;
            let (key, value) = record.key_value()?;
            Ok(Judged {
                record,
                offset: header.base_offset.wrapping_add(record.offset_delta),
                key,
                is_tombstone: value.is_none(),
            })
        })
        .collect()
}

/// The part of a log a cleaning may touch, as the cleaner manager measured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogToClean {
    /// Below this, the log is clean.
    pub first_dirty_offset: i64,
    /// The cleaning stops before this: the active segment, uncommitted records and records
    /// younger than `min.compaction.lag.ms` are never cleaned.
    pub first_uncleanable_offset: i64,
    /// Bytes of whole segments below the first dirty offset.
    pub clean_bytes: u64,
    /// Bytes of segments in the dirty part.
    pub dirty_bytes: u64,
    /// `max.compaction.lag.ms` has passed for the oldest dirty record.
    pub needs_compaction_now: bool,
    /// A delete horizon written by an earlier cleaning has passed.
    pub horizon_passed: bool,
}

impl LogToClean {
    /// Dirty bytes over all cleanable bytes (Kafka's `cleanableRatio`).
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }
}

/// Measures what a cleaning of `log` could do at `now_ms`.
pub fn measure(log: &PartitionLog, state: &CleanerCheckpoint, now_ms: i64) -> LogToClean {
    let config = log.config();
    let start = log.log_start_offset();
    let end = log.log_end_offset();
    let first_dirty = match state.first_dirty_offset {
        Some(o) if o >= start && o <= end => o,
        _ => start,
    };
    let segments = log.segments();
    // Open transactions are not cleaned: whether their records stay is not known yet.
    let mut uncleanable = log
        .active_base_offset()
        .min(log.high_watermark())
        .min(log.last_stable_offset());
    if config.min_compaction_lag_ms > 0 {
        // The first dirty segment holding a record younger than the lag bounds the cleaning.
        if let Some(young) = segments.iter().find(|s| {
            s.next_offset() > first_dirty
                && s.largest_record_timestamp()
                    .is_some_and(|t| now_ms.saturating_sub(t) < config.min_compaction_lag_ms)
        }) {
            uncleanable = uncleanable.min(young.base_offset());
        }
    }
    uncleanable = uncleanable.max(first_dirty);
    let mut clean_bytes = 0;
    let mut dirty_bytes = 0;
    let mut oldest_dirty = None;
    for s in &segments {
        if s.next_offset() <= first_dirty && s.base_offset() < first_dirty {
            clean_bytes += s.size();
        } else if s.base_offset() < uncleanable && s.next_offset() > first_dirty {
            dirty_bytes += s.size();
            if oldest_dirty.is_none() {
                oldest_dirty = s.first_batch_timestamp();
            }
        }
    }
    let needs_compaction_now = config.max_compaction_lag_ms < i64::MAX
        && dirty_bytes > 0
        && oldest_dirty
            .filter(|t| *t >= 0)
            .is_some_and(|t| now_ms.saturating_sub(t) > config.max_compaction_lag_ms);
    LogToClean {
        first_dirty_offset: first_dirty,
        first_uncleanable_offset: uncleanable,
        clean_bytes,
        dirty_bytes,
        needs_compaction_now,
        horizon_passed: now_ms >= state.next_delete_horizon_ms,
    }
}

/// What one cleaning did, for its log line and the benchmark.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanStats {
    /// Bytes of the segments rewritten.
    pub bytes_read: u64,
    /// Bytes of the cleaned segments.
    pub bytes_written: u64,
    /// Records read while rewriting.
    pub records_read: u64,
    /// Records kept.
    pub records_written: u64,
    /// Keys in the offset map.
    pub keys: usize,
    /// Bytes of the dirty part mapped.
    pub map_bytes: u64,
    /// The new first dirty offset.
    pub end_offset: i64,
    /// Segments replaced and segments written.
    pub segments_replaced: usize,
    /// Segments written.
    pub segments_written: usize,
    /// Batches left as they were because the cleaner could not read them.
    pub batches_unreadable: u64,
}

/// The cleaner's working state for one log.
pub struct Cleaner<'a> {
    /// The log being cleaned.
    pub log: &'a PartitionLog,
    /// Its settings at the start of the cleaning.
    pub config: LogConfig,
    /// The cleaning's clock.
    pub now_ms: i64,
    /// Shared I/O budget.
    pub throttler: &'a Throttler,
    /// Makes the data dir's checkpoints durable.
    pub checkpoint: &'a dyn Fn() -> crate::error::Result<()>,
}

/// How one batch comes out of a cleaning.
enum Outcome {
    /// Copied as it is.
    Keep,
    /// Left out.
    Drop,
    /// Written again with fewer records, or with a delete horizon.
    Rewrite(Vec<u8>),
}

impl Cleaner<'_> {
    /// Cleans `log` as `to_clean` measured; the caller holds the log's cleaner state and
    /// records the result in it. `Ok(None)` when the cleaning was aborted or raced with a
    /// segment deletion (nothing changed).
    pub fn clean(
        &self,
        to_clean: &LogToClean,
        map: &mut OffsetMap,
        state: &mut CleanerCheckpoint,
    ) -> Result<Option<CleanStats>> {
        map.clear();
        let mut stats = CleanStats::default();
        let segments = self.log.segments();
        let end_offset = self.build_offset_map(&segments, to_clean, map, &mut stats)?;
        let Some(end_offset) = end_offset else {
            return Ok(None);
        };
        stats.end_offset = end_offset;
        stats.keys = map.len();
        if state.first_dirty_offset.is_none() {
            // The first swap makes offset gaps, which a restart accepts only in a log the
            // checkpoint names as cleaned: name it before anything is swapped.
            let horizon = state.next_delete_horizon_ms;
            self.log
                .cleaned(state, to_clean.first_dirty_offset, horizon);
            (self.checkpoint)()?;
        }
        let producers = self.log.producer_last_records();
        let mut txns = CleanedTransactions::default();
        let mut next_horizon = i64::MAX;
        let to_rewrite: Vec<Arc<LogSegment>> = segments
            .iter()
            .filter(|s| s.base_offset() < end_offset)
            .cloned()
            .collect();
        for group in group_by_size(&to_rewrite, self.config.segment_bytes) {
            match self.clean_group(&group, end_offset, map, &producers, &mut txns, &mut stats)? {
                Some(horizon) => next_horizon = next_horizon.min(horizon),
                None => return Ok(None),
            }
        }
        self.log.cleaned(state, end_offset, next_horizon);
        Ok(Some(stats))
    }

    /// Maps keys of the dirty part to their latest offsets. Returns the offset the mapping
    /// reached (the new first dirty offset), or `None` if aborted.
    fn build_offset_map(
        &self,
        segments: &[Arc<LogSegment>],
        to_clean: &LogToClean,
        map: &mut OffsetMap,
        stats: &mut CleanStats,
    ) -> Result<Option<i64>> {
        let from = to_clean.first_dirty_offset;
        let until = to_clean.first_uncleanable_offset;
        let mut reached = from;
        let mut txns = CleanedTransactions::default();
        txns.add_aborted(self.log.aborted_transactions(from, until));
        for segment in segments
            .iter()
            .filter(|s| s.next_offset() > from && s.base_offset() < until)
        {
            let data = segment.contents()?;
            let mut position = 0;
            while position < data.len() {
                if self.log.cleaning_aborted() {
                    return Ok(None);
                }
                let Ok(header) = batch::parse_header(&data[position..]) else {
                    break;
                };
                let bytes = &data[position..position + header.size];
                position += header.size;
                if header.next_offset() <= from {
                    continue;
                }
                if header.base_offset >= until {
                    return Ok(Some(reached.max(from)));
                }
                self.throttler.spend(header.size as u64);
                stats.map_bytes += header.size as u64;
                if header.is_control() {
                    txns.on_control_batch(bytes, &header);
                } else if !txns.on_batch(&header) {
                    let section = batch_records(bytes, &header, MAX_DECOMPRESSED);
                    match section.as_ref().map_err(|e| *e).and_then(judge) {
                        Ok(records) => {
                            for record in records.iter().filter(|r| r.offset >= from) {
                                if let Some(key) = record.key {
                                    if !map.put(key_hash(key), record.offset) {
                                        // Full: clean up to here; the rest waits for the next
                                        // cleaning.
                                        return Ok(Some(record.offset.max(from)));
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            tracing::debug!(log = %self.log.dir().display(), cause = %e, "batch kept unread by the cleaner");
                        }
                    }
                }
                reached = header.next_offset();
            }
            reached = reached.max(segment.next_offset().min(until));
        }
        Ok(Some(reached.min(until).max(from)))
    }

    /// Cleans one group of consecutive segments into one. Returns the earliest delete horizon
    /// written (`i64::MAX` for none), or `None` when the swap did not happen.
    fn clean_group(
        &self,
        group: &[Arc<LogSegment>],
        end_offset: i64,
        map: &OffsetMap,
        producers: &HashMap<i64, LastRecord>,
        txns: &mut CleanedTransactions,
        stats: &mut CleanStats,
    ) -> Result<Option<i64>> {
        let dir = self.log.dir();
        let base = group[0].base_offset();
        let capacity: u64 = group.iter().map(|s| s.size()).sum::<u64>() + (1 << 20);
        let cleaned =
            LogSegment::create_with_suffix(dir, base, &self.config, capacity, CLEANED_SUFFIX)?;
        let discard = |cleaned: &LogSegment| {
            for path in cleaned.files(dir) {
                for suffix in [CLEANED_SUFFIX, SWAP_SUFFIX] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    let _ = std::fs::remove_file(p);
                }
            }
        };
        let mut horizon = i64::MAX;
        let mut last_modified = None;
        // Kept batches are gathered and written a chunk at a time: one write per batch would
        // cost a syscall for each of the many small batches a cleaning leaves.
        let mut pending: Vec<u8> = Vec::with_capacity(WRITE_CHUNK + (1 << 16));
        let flush = |pending: &mut Vec<u8>| -> Result<()> {
            if !pending.is_empty() {
                cleaned.append_batches_as_is(pending, &self.config)?;
                pending.clear();
            }
            Ok(())
        };
        let mut kept_aborts = Vec::new();
        for (i, segment) in group.iter().enumerate() {
            last_modified = last_modified.max(segment.last_modified_ms());
            // The whole segment's range: the cleaned segment's index is rebuilt from it.
            let upper = group
                .get(i + 1)
                .map_or_else(|| segment.next_offset(), |next| next.base_offset());
            txns.add_aborted(
                self.log.aborted_transactions(
                    segment.base_offset(),
                    upper.max(segment.base_offset() + 1),
                ),
            );
            let data = segment.contents()?;
            let mut position = 0;
            while position < data.len() {
                if self.log.cleaning_aborted() {
                    discard(&cleaned);
                    return Ok(None);
                }
                let Ok(header) = batch::parse_header(&data[position..]) else {
                    break;
                };
                let bytes = &data[position..position + header.size];
                position += header.size;
                self.throttler.spend(header.size as u64);
                stats.bytes_read += header.size as u64;
                stats.records_read += header.record_count.max(0) as u64;
                let outcome = self.filter_batch(
                    bytes,
                    &header,
                    end_offset,
                    map,
                    producers,
                    txns,
                    &mut kept_aborts,
                    stats,
                    &mut horizon,
                );
                let written = match &outcome {
                    Outcome::Keep => Some(bytes),
                    Outcome::Drop => None,
                    Outcome::Rewrite(batch) => Some(batch.as_slice()),
                };
                if let Some(batch) = written {
                    pending.extend_from_slice(batch);
                    stats.bytes_written += batch.len() as u64;
                }
                if pending.len() >= WRITE_CHUNK {
                    if let Err(e) = flush(&mut pending) {
                        discard(&cleaned);
                        return Err(e);
                    }
                }
            }
        }
        if let Err(e) = flush(&mut pending) {
            discard(&cleaned);
            return Err(e);
        }
        let finished = (|| {
            for txn in kept_aborts {
                cleaned.append_aborted_txn(txn)?;
            }
            cleaned.seal()?;
            if let Some(ms) = last_modified {
                cleaned.set_last_modified_ms(ms)?;
            }
            // Indexes too: below the recovery point a crash trusts them without a rebuild.
            cleaned.sync()?;
            crate::cleaner::failpoint("cleaned_synced");
            cleaned.rename_files(dir, CLEANED_SUFFIX, SWAP_SUFFIX)?;
            crate::meta_files::sync_dir(dir)?;
            crate::cleaner::failpoint("swap_renamed");
            Ok(())
        })();
        if let Err(e) = finished {
            discard(&cleaned);
            return Err(e);
        }
        let cleaned = Arc::new(cleaned);
        if !self.log.replace_segments(group, cleaned.clone())? {
            discard(&cleaned);
            return Ok(None);
        }
        stats.segments_replaced += group.len();
        stats.segments_written += 1;
        Ok(Some(horizon))
    }

    /// Decides what becomes of one batch.
    #[allow(clippy::too_many_arguments)]
    fn filter_batch(
        &self,
        bytes: &[u8],
        header: &BatchHeader,
        end_offset: i64,
        map: &OffsetMap,
        producers: &HashMap<i64, LastRecord>,
        txns: &mut CleanedTransactions,
        kept_aborts: &mut Vec<AbortedTxn>,
        stats: &mut CleanStats,
        horizon: &mut i64,
    ) -> Outcome {
        // Batches past the mapped part (a map that filled mid-segment) are not cleaned yet,
        // but the walk through their transactions goes on: an abort marker there keeps its
        // index entry in the cleaned segment.
        if header.last_offset() >= end_offset {
            if header.is_control() {
                kept_aborts.extend(txns.on_control_batch(bytes, header).1);
            } else {
                txns.on_batch(header);
            }
            stats.records_written += header.record_count.max(0) as u64;
            return Outcome::Keep;
        }
        // Kafka's `isBatchLastRecordOfProducer`: a producer's newest data batch holds its last
        // sequence; with none of its epoch, its marker holds the epoch fencing depends on.
        let producers_last = header.producer_id >= 0
            && producers
                .get(&header.producer_id)
                .is_some_and(|r| match r.last_data_offset {
                    Some(offset) => header.last_offset() == offset,
                    None => header.is_control() && header.producer_epoch == r.epoch,
                });
        // Every record goes: the batch too, unless it is its producer's last.
        let emptied = || {
            if !producers_last {
                Outcome::Drop
            } else if header.record_count == 0 {
                Outcome::Keep
            } else {
                Outcome::Rewrite(empty_batch(header))
            }
        };
        if header.is_control() {
            let (removable, keep_entry) = txns.on_control_batch(bytes, header);
            kept_aborts.extend(keep_entry);
            if !removable {
                stats.records_written += header.record_count.max(0) as u64;
                return Outcome::Keep;
            }
            // A removable marker waits out `delete.retention.ms`, as a tombstone does, so a
            // consumer reading slowly still sees its transaction end.
            return match header.delete_horizon_ms() {
                Some(h) if self.now_ms >= h => emptied(),
                None if header.record_count == 0 => emptied(),
                Some(h) => {
                    *horizon = (*horizon).min(h);
                    stats.records_written += header.record_count.max(0) as u64;
                    Outcome::Keep
                }
                None => {
                    let h = self.now_ms.saturating_add(self.config.delete_retention_ms);
                    *horizon = (*horizon).min(h);
                    stats.records_written += header.record_count.max(0) as u64;
                    match self.with_horizon(bytes, header, h) {
                        Ok(batch) => Outcome::Rewrite(batch),
                        Err(e) => {
                            tracing::debug!(log = %self.log.dir().display(), cause = %e, "marker kept as it was");
                            Outcome::Keep
                        }
                    }
                }
            };
        }
        if txns.on_batch(header) {
            // An aborted transaction's records: none stays.
            return emptied();
        }
        let unreadable = |stats: &mut CleanStats, e: &dyn std::fmt::Display| {
            tracing::debug!(log = %self.log.dir().display(), cause = %e, "batch kept unread by the cleaner");
            stats.batches_unreadable += 1;
            stats.records_written += header.record_count.max(0) as u64;
            Outcome::Keep
        };
        let section = match batch_records(bytes, header, MAX_DECOMPRESSED) {
            Ok(section) => section,
            Err(e) => return unreadable(stats, &e),
        };
        let records = match judge(&section) {
            Ok(records) => records,
            Err(e) => return unreadable(stats, &e),
        };
        let existing_horizon = header.delete_horizon_ms();
        let horizon_passed = existing_horizon.is_some_and(|h| self.now_ms >= h);
        let kept: Vec<Judged<'_>> = records
            .iter()
            .filter(|r| self.retain(r, map, horizon_passed))
            .copied()
            .collect();
        let has_tombstone = kept.iter().any(|r| r.is_tombstone);
        let new_horizon = match existing_horizon {
            Some(h) => Some(h),
            None if has_tombstone => {
                Some(self.now_ms.saturating_add(self.config.delete_retention_ms))
            }
            None => None,
        };
        if has_tombstone {
            if let Some(h) = new_horizon {
                *horizon = (*horizon).min(h);
            }
        }
        stats.records_written += kept.len() as u64;
        if kept.len() == records.len() && new_horizon == existing_horizon {
            return Outcome::Keep;
        }
        if kept.is_empty() {
            return if producers_last {
                Outcome::Rewrite(empty_batch(header))
            } else {
                Outcome::Drop
            };
        }
        let kept: Vec<Record<'_>> = kept.iter().map(|j| j.record).collect();
        match rebuild_batch(header, &kept, new_horizon) {
            Ok(batch) => Outcome::Rewrite(batch),
            Err(e) => {
                tracing::debug!(log = %self.log.dir().display(), cause = %e, "batch kept as it was");
                stats.records_written += (records.len() - kept.len()) as u64;
                stats.batches_unreadable += 1;
                Outcome::Keep
            }
        }
    }

    /// The control batch `bytes` again, with delete horizon `horizon_ms`.
    fn with_horizon(
        &self,
        bytes: &[u8],
        header: &BatchHeader,
        horizon_ms: i64,
    ) -> Result<Vec<u8>, gregor_record::BatchError> {
        let section = batch_records(bytes, header, MAX_DECOMPRESSED)?;
        let records: Vec<Record<'_>> = section.iter().collect::<Result<_, _>>()?;
        rebuild_batch(header, &records, Some(horizon_ms))
    }

    /// Whether a record survives: it has a key, no later record of its key is mapped, and it
    /// is not a tombstone whose horizon has passed.
    fn retain(&self, record: &Judged<'_>, map: &OffsetMap, horizon_passed: bool) -> bool {
        let Some(key) = record.key else {
            // Kafka refuses keyless records on compacted topics and its cleaner drops them;
            // Gregor refuses them only in uncompressed batches, so the cleaner keeps them
            // rather than lose records it acknowledged.
            return true;
        };
        let latest = map.get(key_hash(key)).is_none_or(|o| record.offset >= o);
        latest && !(record.is_tombstone && horizon_passed)
    }
}

/// Consecutive segments in groups whose sizes add up to at most `max_bytes` and whose offsets
/// fit one segment's 32-bit relative offsets (Kafka's `groupSegmentsBySize`).
fn group_by_size(segments: &[Arc<LogSegment>], max_bytes: u64) -> Vec<Vec<Arc<LogSegment>>> {
    let mut groups: Vec<Vec<Arc<LogSegment>>> = Vec::new();
    for segment in segments {
        let fits = groups.last().is_some_and(|g| {
            let size: u64 = g.iter().map(|s| s.size()).sum();
            size + segment.size() <= max_bytes
                && segment.next_offset().max(segment.base_offset()) - g[0].base_offset()
                    <= i64::from(u32::MAX >> 1)
        });
        if fits {
            groups.last_mut().expect("checked").push(segment.clone());
        } else {
            groups.push(vec![segment.clone()]);
        }
    }
    groups
}

/// A log line per cleaning, as Kafka's cleaner logs its stats.
pub fn log_stats(log: &PartitionLog, stats: &CleanStats, started: Instant) {
    tracing::info!(
        log = %log.dir().display(),
        bytes_before = stats.bytes_read,
        bytes_after = stats.bytes_written,
        records_before = stats.records_read,
        records_after = stats.records_written,
        keys = stats.keys,
        end_offset = stats.end_offset,
        segments = stats.segments_replaced,
        duration_ms = started.elapsed().as_millis() as u64,
        "cleaned log"
    );
}
