//! Opening a partition log from disk, with recovery; Kafka's LogLoader.
//!
//! What the checkpoints vouch for is trusted, as Kafka does, so start-up does not grow with the
//! data: after a clean shutdown every segment, after a crash every segment wholly below the
//! recovery point (the offset below which everything was fsynced), is taken without being
//! read. A closed one is not even opened: it is known by its file name and the next segment's
//! base offset, and its files are opened at first use (`LogSegment::lazy`), so the load costs
//! no syscall per closed segment. The newest is opened and the few batches after its last
//! offset index entry read, for the log end offset. The rest (after a crash:
//! the segment holding the recovery point and all later ones) is recovered as before: every
//! batch's CRC and offset chain is checked, the log is cut at the first torn, invalid or
//! out-of-order batch, later segments are dropped, and the indexes are rebuilt.
//!
//! Files may still have been damaged while the broker was down. The CRCs a trusted load did
//! not check are checked by the scrub in the background (`LogManager::start_scrub`), and until
//! it has reached a batch, by the read path for every batch it serves; a damaged batch found
//! by either is handled as recovery handles one here (`PartitionLog::repair_damage`).
//!
//! A segment's transaction index is rebuilt by the producer-state replay (see
//! `PartitionLog::load_producer_state`) when recovery cannot trust it: the segment was
//! recovered and reaches past the recovery point (its index may have missed entries the page
//! cache lost), was cut, came out of a cleaner swap finished here, or its `.txnindex` is torn.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::config::LogConfig;
use crate::error::{Result, StorageError};
use crate::file_names::{
    parse_base_offset, segment_file, CLEANED_SUFFIX, DELETED_SUFFIX, INDEX_SUFFIX, LOG_SUFFIX,
    SWAP_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX,
};
use crate::log::PartitionLog;
use crate::log_segment::{Gaps, LogSegment, SegmentRole};

/// What the data dir's checkpoints say about one partition.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checkpoints {
    /// Offset below which the log was flushed.
    pub recovery_point: Option<i64>,
    /// The log start offset last written.
    pub log_start_offset: Option<i64>,
    /// Where the log cleaner got to; present once it has cleaned the log (or was about to),
    /// which lets batches leave offsets out between them.
    pub cleaned: Option<i64>,
}

/// Opens the log in `dir`, recovering it unless the last shutdown was clean.
pub fn load(
    dir: &Path,
    config: LogConfig,
    checkpoints: Checkpoints,
    clean: bool,
) -> Result<PartitionLog> {
    let Scanned {
        bases,
        swapped,
        indexed,
        txn_indexed,
    } = scan_files(dir)?;
    let mut rebuild_txn_index: Vec<i64> = swapped.clone();
    let gaps = if checkpoints.cleaned.is_some() {
        Gaps::Allowed
    } else {
        Gaps::Forbidden
    };
    let mut segments: Vec<Arc<LogSegment>> = Vec::new();
    let last = bases.last().copied();
    let recovery_point = checkpoints.recovery_point.unwrap_or(0);
    for (i, base) in bases.iter().enumerate() {
        let next = bases.get(i + 1).copied();
        // Kafka recovers from the segment holding the recovery point on: one wholly below it
        // was fsynced, indexes included, before the checkpoint named a later offset.
        let vouched = clean || next.is_some_and(|n| n <= recovery_point);
        // A closed segment the checkpoints vouch for is not touched at all, not even opened
        // (on a cold cache every open reads an inode from the disk, and start-up grew with
        // the segment count). Opened still: one with a `.txnindex` (the producer state's
        // replay and the sanity check below read it), and one whose `.index` is gone or that
        // a cleaner swap just put in place, whose indexes are rebuilt now.
        let lazy = vouched
            && indexed.binary_search(base).is_ok()
            && txn_indexed.binary_search(base).is_err()
            && !swapped.contains(base);
        let segment = match next {
            Some(next) if lazy => LogSegment::lazy(dir, *base, &config, next),
            _ => {
                let role = if Some(*base) == last {
                    SegmentRole::Active
                } else {
                    SegmentRole::Closed
                };
                LogSegment::open(dir, *base, &config, role)?
            }
        };
        segments.push(Arc::new(segment));
    }

    let mut keep = segments.len();
    let mut expected_base: Option<i64> = None;
    for (i, segment) in segments.iter().enumerate() {
        // A segment starts where its predecessor ends, or after it in a compacted log.
        if expected_base.is_some_and(|e| !gaps.follows(segment.base_offset(), e)) {
            tracing::warn!(log = %dir.display(), base_offset = segment.base_offset(), "segment does not follow its predecessor; dropping it and later segments");
            keep = i;
            break;
        }
        let below_recovery_point = bases.get(i + 1).is_some_and(|next| *next <= recovery_point);
        // A closed trusted segment is not read at all (Kafka's lazy segments); the newest one
        // is, for the log's end offset and the writer's bookkeeping.
        let trusted = match bases.get(i + 1) {
            Some(_) if !segment.is_open() => true,
            Some(&next)
                if (clean || below_recovery_point)
                    && indexed.binary_search(&segment.base_offset()).is_ok() =>
            {
                segment.load_deferred(next);
                true
            }
            _ => (clean || below_recovery_point) && segment.load_trusted(&config, gaps)?,
        };
        if !segment.txn_index_sane() {
            rebuild_txn_index.push(segment.base_offset());
        }
        if !trusted {
            let size = segment.size();
            let zeros = segment.zero_tail_len();
            // Within the segment holding the recovery point, only what lies past it is read.
            let cut = match checkpoints.recovery_point {
                Some(point) if point > segment.base_offset() => {
                    segment.recover_from(point, &config, gaps)?
                }
                _ => segment.recover(true, &config, gaps)?,
            };
            if cut > 0 || segment.next_offset() > checkpoints.recovery_point.unwrap_or(0) {
                rebuild_txn_index.push(segment.base_offset());
            }
            if cut > 0 && cut <= zeros {
                // Space preallocated ahead of the writer, never written: nothing was lost.
                tracing::debug!(log = %dir.display(), segment = %segment.log_path().display(), bytes = cut, "released preallocated space after an unclean shutdown");
            } else if cut > 0 {
                tracing::warn!(log = %dir.display(), segment = %segment.log_path().display(), valid_bytes = size - cut, truncated_bytes = cut, "truncated invalid or torn tail");
                if i + 1 < segments.len() {
                    keep = i + 1;
                    expected_base = Some(segment.next_offset());
                    break;
                }
            }
        }
        expected_base = Some(segment.next_offset());
    }
    for dropped in segments.drain(keep..) {
        tracing::warn!(log = %dir.display(), base_offset = dropped.base_offset(), "deleting segment after the end of the valid log");
        for path in dropped.files(dir) {
            remove_if_exists(&path)?;
        }
    }

    // The newest surviving segment takes appends: it must be mapped for a whole segment.
    if let Some(last) = segments.last() {
        if last.size() < config.segment_bytes && Some(last.base_offset()) != bases.last().copied() {
            let base = last.base_offset();
            let reopened = LogSegment::open(dir, base, &config, SegmentRole::Active)?;
            if !reopened.load_trusted(&config, gaps)? {
                reopened.recover(true, &config, gaps)?;
            }
            *segments.last_mut().expect("non-empty") = Arc::new(reopened);
        }
    }
    if segments.is_empty() {
        let base = checkpoints
            .log_start_offset
            .unwrap_or(0)
            .max(expected_base.unwrap_or(0));
        // A new segment of a reloaded log counts as made now, as the segments opened beside it.
        let now = crate::log_segment::wall_clock_ms();
        segments.push(Arc::new(LogSegment::create(dir, base, &config, now)?));
    }

    let first_base = segments[0].base_offset();
    let end = segments.last().map_or(first_base, |s| s.next_offset());
    let log_start = checkpoints
        .log_start_offset
        .unwrap_or(first_base)
        .max(first_base)
        .min(end);
    let recovery_point = if clean {
        end
    } else {
        checkpoints.recovery_point.unwrap_or(0).min(end)
    };
    let map: BTreeMap<i64, Arc<LogSegment>> =
        segments.into_iter().map(|s| (s.base_offset(), s)).collect();
    let log = PartitionLog::from_parts(dir.to_path_buf(), config, map, log_start, recovery_point);
    // Before the replay: it reads the log, and a cleaned log's batches leave offsets out.
    log.set_cleaner_checkpoint(checkpoints.cleaned);
    log.load_producer_state(&rebuild_txn_index)?;
    Ok(log)
}

/// What the listing of a partition folder found.
struct Scanned {
    /// The segments' base offsets, in order.
    bases: Vec<i64>,
    /// Those of the segments a finished swap put in place.
    swapped: Vec<i64>,
    /// Those of the segments with a `.index`, in order.
    indexed: Vec<i64>,
    /// Those of the segments with a `.txnindex`, in order.
    txn_indexed: Vec<i64>,
}

/// Lists the segment base offsets in `dir`, removing leftovers that belong to no segment and
/// finishing or rolling back a swap the log cleaner left half done (Kafka's LogLoader does the
/// same with the same suffixes):
/// - `.cleaned` files are a cleaning that had not reached its commit point: removed, the old
///   segments stay;
/// - a `.log.swap` is a cleaned segment past its commit point: every segment it replaces (each
///   `.log` whose base offset lies in the swap's offset range) is removed, then the swap is
///   renamed into place; its indexes are rebuilt;
/// - `.deleted` files are replaced segments not yet removed.
///
/// The segments are found from the file names alone: no segment file is opened or stat'ed.
fn scan_files(dir: &Path) -> Result<Scanned> {
    let mut swaps = Vec::new();
    for entry in read_dir(dir)? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(CLEANED_SUFFIX) || name.ends_with(DELETED_SUFFIX) {
            remove_if_exists(&entry.path())?;
        } else if let Some(stem) = name.strip_suffix(SWAP_SUFFIX) {
            match parse_base_offset(stem, LOG_SUFFIX) {
                Some(base) => swaps.push(base),
                // A swapped index is rebuilt from its log instead.
                None => remove_if_exists(&entry.path())?,
            }
        }
    }
    swaps.sort_unstable();
    for &base in &swaps {
        let swap = segment_file(dir, base, &format!("{LOG_SUFFIX}{SWAP_SUFFIX}"));
        let end = swap_end_offset(&swap, base)?;
        for entry in read_dir(dir)? {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let replaced = [
                LOG_SUFFIX,
                INDEX_SUFFIX,
                TIME_INDEX_SUFFIX,
                TXN_INDEX_SUFFIX,
            ]
            .iter()
            .filter_map(|suffix| parse_base_offset(name, suffix))
            .any(|b| b == base || (b > base && b < end));
            if replaced {
                remove_if_exists(&entry.path())?;
            }
        }
        let log = segment_file(dir, base, LOG_SUFFIX);
        std::fs::rename(&swap, &log)
            .map_err(StorageError::io("finishing a cleaner swap", &swap))?;
        crate::meta_files::sync_dir(dir)?;
        tracing::info!(log = %dir.display(), base_offset = base, end_offset = end, "finished a log cleaner swap left by a crash");
    }

    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for entry in read_dir(dir)? {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_base_offset(name, LOG_SUFFIX) {
            logs.push(base);
        } else if let Some(base) = parse_base_offset(name, INDEX_SUFFIX)
            .or_else(|| parse_base_offset(name, TIME_INDEX_SUFFIX))
            .or_else(|| parse_base_offset(name, TXN_INDEX_SUFFIX))
        {
            indexes.push((base, entry.path()));
        } else if name.ends_with(".tmp") {
            remove_if_exists(&entry.path())?;
        }
    }
    logs.sort_unstable();
    let mut indexed = Vec::new();
    let mut txn_indexed = Vec::new();
    for (base, path) in indexes {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if logs.binary_search(&base).is_err() {
            remove_if_exists(&path)?;
        } else if name.ends_with(TXN_INDEX_SUFFIX) {
            txn_indexed.push(base);
        } else if name.ends_with(INDEX_SUFFIX) {
            indexed.push(base);
        }
    }
    indexed.sort_unstable();
    txn_indexed.sort_unstable();
    Ok(Scanned {
        bases: logs,
        swapped: swaps,
        indexed,
        txn_indexed,
    })
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    std::fs::read_dir(dir)
        .and_then(|entries| entries.collect())
        .map_err(StorageError::io("listing partition folder", dir))
}

/// The offset after the last whole, valid batch of a swap file (its batches passed their CRC
/// when the cleaner wrote and synced them; a damaged tail is cut later, as for any segment).
fn swap_end_offset(path: &Path, base: i64) -> Result<i64> {
    let bytes = std::fs::read(path).map_err(StorageError::io("reading a cleaner swap", path))?;
    let mut end = base;
    for header in crate::batch::headers(&bytes) {
        match header {
            Ok((_, h)) => end = end.max(h.next_offset()),
            Err(_) => break,
        }
    }
    Ok(end)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("removing file", path)(e)),
    }
}
