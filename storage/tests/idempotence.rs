//! Idempotent producers: retried batches are answered with their first offsets and never stored
//! twice, sequence and epoch violations are refused, and all of it survives a restart, clean or
//! not, with or without a usable snapshot.

use std::path::Path;

use gregor_storage::batch::{build_test_batch, set_test_producer};
use gregor_storage::producer_state::{list_snapshots, SequenceError};
use gregor_storage::{LogConfig, LogManager, StorageError, TopicPartition};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4 * 1024,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("idem", 0)
}

/// A batch of `count` records from producer `pid` at `epoch` starting at sequence `seq`.
fn batch(pid: i64, epoch: i16, seq: i32, count: i32) -> Vec<u8> {
    let mut b = build_test_batch(count, 100, 1_000);
    set_test_producer(&mut b, pid, epoch, seq);
    b
}

fn open(dir: &Path) -> (LogManager, std::sync::Arc<gregor_storage::PartitionLog>) {
    let manager = LogManager::open(dir, config()).unwrap();
    let log = manager.get_or_create(&tp(), config()).unwrap();
    (manager, log)
}

#[test]
fn a_retry_is_stored_once_and_answered_with_the_first_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path());
    log.append(&batch(-1, -1, -1, 2), 0).unwrap();
    let first = log.append(&batch(5, 0, 0, 3), 0).unwrap();
    assert_eq!(
        (first.base_offset, first.last_offset, first.duplicate),
        (2, 4, false)
    );
    let retry = log.append(&batch(5, 0, 0, 3), 0).unwrap();
    assert_eq!(
        (retry.base_offset, retry.last_offset, retry.duplicate),
        (2, 4, true)
    );
    assert_eq!(log.log_end_offset(), 5);
    let next = log.append(&batch(5, 0, 3, 1), 0).unwrap();
    assert_eq!(next.base_offset, 5);
}

#[test]
fn gaps_and_stale_epochs_are_refused_and_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_m, log) = open(dir.path());
    log.append(&batch(5, 1, 0, 3), 0).unwrap();
    let gap = log.append(&batch(5, 1, 4, 1), 0).unwrap_err();
    assert!(matches!(
        gap,
        StorageError::Sequence(SequenceError::OutOfOrderSequence { last_seq: 2, .. })
    ));
    let stale = log.append(&batch(5, 0, 3, 1), 0).unwrap_err();
    assert!(matches!(
        stale,
        StorageError::Sequence(SequenceError::InvalidProducerEpoch { current: 1, .. })
    ));
    // A bumped epoch starts again at sequence 0 (the Java producer's KIP-360 recovery).
    assert!(log.append(&batch(5, 2, 7, 1), 0).is_err());
    assert_eq!(log.append(&batch(5, 2, 0, 1), 0).unwrap().base_offset, 3);
    assert_eq!(log.log_end_offset(), 4);
}

/// Writes enough to roll a few segments, then a last batch whose retry must be a duplicate.
fn fill(dir: &Path, clean: bool) -> (i64, i64) {
    let (manager, log) = open(dir);
    let mut seq = 0;
    for _ in 0..80 {
        log.append(&batch(9, 0, seq, 2), 0).unwrap();
        seq += 2;
    }
    let last = log.append(&batch(9, 0, seq, 2), 0).unwrap();
    assert!(log.segment_count() > 3);
    if clean {
        manager.shutdown().unwrap();
    }
    (last.base_offset, i64::from(seq))
}

fn retry_after_reopen(dir: &Path, expected_offset: i64, seq: i64) {
    let (_m, log) = open(dir);
    let retry = log.append(&batch(9, 0, seq as i32, 2), 0).unwrap();
    assert!(retry.duplicate, "retry after restart appended again");
    assert_eq!(retry.base_offset, expected_offset);
    assert!(matches!(
        log.append(&batch(9, 0, seq as i32 + 5, 1), 0),
        Err(StorageError::Sequence(_))
    ));
    let next = log.append(&batch(9, 0, seq as i32 + 2, 1), 0).unwrap();
    assert_eq!(next.base_offset, expected_offset + 2);
}

#[test]
fn state_survives_a_clean_restart_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (offset, seq) = fill(dir.path(), true);
    let snapshots = list_snapshots(&dir.path().join("idem-0")).unwrap();
    assert!(
        snapshots.len() <= 2,
        "old snapshots are removed: {snapshots:?}"
    );
    assert_eq!(snapshots.last(), Some(&(offset + 2)));
    retry_after_reopen(dir.path(), offset, seq);
}

#[test]
fn state_survives_a_crash_by_replaying_after_the_last_roll() {
    let dir = tempfile::tempdir().unwrap();
    let (offset, seq) = fill(dir.path(), false);
    retry_after_reopen(dir.path(), offset, seq);
}

#[test]
fn state_is_rebuilt_from_the_log_without_usable_snapshots() {
    for damage in ["delete", "scribble"] {
        let dir = tempfile::tempdir().unwrap();
        let (offset, seq) = fill(dir.path(), true);
        let part = dir.path().join("idem-0");
        for snapshot in list_snapshots(&part).unwrap() {
            let path = gregor_storage::producer_state::snapshot_path(&part, snapshot);
            if damage == "delete" {
                std::fs::remove_file(path).unwrap();
            } else {
                std::fs::write(path, b"\x01garbage").unwrap();
            }
        }
        retry_after_reopen(dir.path(), offset, seq);
    }
}

#[test]
fn producers_whose_records_are_deleted_are_forgotten() {
    let dir = tempfile::tempdir().unwrap();
    let (manager, log) = open(dir.path());
    log.append(&batch(3, 0, 0, 1), 0).unwrap();
    for i in 0..40 {
        log.append(&batch(4, 0, i, 1), 0).unwrap();
    }
    manager.advance_log_start(&tp(), 30).unwrap();
    assert!(log.producer_state().get(3).is_none());
    assert!(log.producer_state().get(4).is_some());
    // Unknown again: the producer may go on at any sequence, as with Kafka.
    assert!(!log.append(&batch(3, 0, 1, 1), 0).unwrap().duplicate);
    assert_eq!(manager.max_producer_id(), Some(4));
}
