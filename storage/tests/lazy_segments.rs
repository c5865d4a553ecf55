//! Lazy closed segments: after a clean stop the loader opens no closed segment's files, and a
//! lazily opened log answers exactly as one recovery opened and checked whole; damage found at
//! the late open is handled as recovery handles it.

use std::path::Path;

use gregor_storage::batch::build_test_batch;
use gregor_storage::file_names::{CLEAN_SHUTDOWN_FILE, LOG_SUFFIX, RECOVERY_POINT_CHECKPOINT};
use gregor_storage::{LogConfig, LogManager, PartitionLog, TopicPartition};
use proptest::prelude::*;

mod common;

fn config() -> LogConfig {
    common::small_segments()
}

fn tp() -> TopicPartition {
    TopicPartition::new("lazy", 0)
}

/// Appends batches of `(records, value bytes)`, each a millisecond later, and stops cleanly.
fn fill(dir: &Path, batches: &[(i32, usize)]) {
    let manager = LogManager::open(dir, config()).unwrap();
    let log = manager.get_or_create(&tp(), config()).unwrap();
    for (i, (records, value)) in batches.iter().enumerate() {
        log.append(&build_test_batch(*records, *value, 1_000 + i as i64), 0)
            .unwrap();
    }
    manager.shutdown().unwrap();
}

/// Opens as after a clean stop (no start-up check, so nothing is read before the test reads).
fn open_lazily(dir: &Path) -> LogManager {
    LogManager::open_checking(dir, config(), 0).unwrap()
}

/// Opens as after a crash with no recovery point: every segment opened and checked whole.
fn open_recovered(dir: &Path) -> LogManager {
    let _ = std::fs::remove_file(dir.join(CLEAN_SHUTDOWN_FILE));
    let _ = std::fs::remove_file(dir.join(RECOVERY_POINT_CHECKPOINT));
    LogManager::open_checking(dir, config(), 0).unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != ".lock" {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every batch served from `from` on, in order, checked.
fn read_all(log: &PartitionLog, from: i64, max_bytes: usize) -> Vec<u8> {
    common::read_checked(log, from, max_bytes).0
}

/// The batches most tests write: 120 of 3 records, several segments' worth.
fn batches() -> Vec<(i32, usize)> {
    (0..120).map(|_| (3, 200)).collect()
}

/// `dir` filled with [`batches`], stopped cleanly and opened again lazily.
fn filled_lazily(dir: &Path) -> (LogManager, std::sync::Arc<PartitionLog>) {
    fill(dir, &batches());
    let manager = open_lazily(dir);
    let log = manager.get(&tp()).unwrap();
    (manager, log)
}

/// Cuts `by` bytes off the end of `file`, as a tail lost while the broker was down.
fn cut_short(file: &Path, by: u64) {
    let len = std::fs::metadata(file).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.set_len(len - by).unwrap();
}

fn log_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("lazy-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(LOG_SUFFIX))
        .collect();
    v.sort();
    v
}

#[test]
fn a_clean_start_opens_no_closed_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (_manager, log) = filled_lazily(dir.path());
    let segments = log.segments();
    assert!(segments.len() >= 4, "{} segments", segments.len());
    let (active, closed) = segments.split_last().unwrap();
    assert!(active.is_open());
    assert!(
        closed.iter().all(|s| !s.is_open()),
        "closed segments stay unopened"
    );
    assert_eq!(log.log_end_offset(), 360);
    // A fetch opens just the segment it reads.
    log.read(0, 100).unwrap();
    assert!(closed[0].is_open() && closed[1..].iter().all(|s| !s.is_open()));
    // Sizes are learned when asked for.
    assert!(log.size_bytes() > 0);
    assert!(closed.iter().all(|s| s.is_open()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A lazily opened log reads the same batches, from every offset, as one recovery opened
    /// and checked whole; sizes and timestamps agree too.
    #[test]
    fn a_lazily_opened_log_reads_as_an_eagerly_opened_one(
        batches in prop::collection::vec((1i32..6, 1usize..900), 1..80),
        max_bytes in 1usize..5_000,
        probes in prop::collection::vec(0u16..u16::MAX, 1..8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let lazy_dir = dir.path().join("lazy");
        let eager_dir = dir.path().join("eager");
        fill(&lazy_dir, &batches);
        copy_dir(&lazy_dir, &eager_dir);
        let lazy = open_lazily(&lazy_dir);
        let eager = open_recovered(&eager_dir);
        let (l, e) = (lazy.get(&tp()).unwrap(), eager.get(&tp()).unwrap());
        prop_assert_eq!(l.log_end_offset(), e.log_end_offset());
        let end = l.log_end_offset();
        for probe in probes {
            let from = i64::from(probe) % end.max(1);
            prop_assert_eq!(read_all(&l, from, max_bytes), read_all(&e, from, max_bytes));
            let ts = 1_000 + i64::from(probe) % (batches.len() as i64 + 1);
            prop_assert_eq!(
                l.offset_for_timestamp(ts).unwrap(),
                e.offset_for_timestamp(ts).unwrap()
            );
        }
        prop_assert_eq!(l.max_timestamp(), e.max_timestamp());
        prop_assert_eq!(l.size_bytes(), e.size_bytes());
        prop_assert_eq!(l.segment_count(), e.segment_count());
    }
}

/// A closed segment whose tail was lost while the broker was down (the `.log` cut short) is
/// found at its late open, and the log ends where recovery of the same files ends it.
#[test]
fn a_closed_segment_cut_short_is_handled_as_recovery_handles_it() {
    let dir = tempfile::tempdir().unwrap();
    let lazy_dir = dir.path().join("lazy");
    fill(&lazy_dir, &batches());
    let files = log_files(&lazy_dir);
    assert!(files.len() >= 4);
    cut_short(&files[1], 100);
    let eager_dir = dir.path().join("eager");
    copy_dir(&lazy_dir, &eager_dir);

    let recovered = open_recovered(&eager_dir);
    let expected = recovered.get(&tp()).unwrap();
    let lazy = open_lazily(&lazy_dir);
    let log = lazy.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 360, "nothing read at load");
    // A fetch over the lost tail gets the batches before it and then the end recovery gives.
    assert_eq!(read_all(&log, 0, 1 << 20), read_all(&expected, 0, 1 << 20));
    assert_eq!(log.log_end_offset(), expected.log_end_offset());
    assert_eq!(log.segment_count(), expected.segment_count());
    // And so does the scrub, when no fetch got there first.
    let again = dir.path().join("again");
    fill(&again, &batches());
    cut_short(&log_files(&again)[1], 100);
    let manager = open_lazily(&again);
    let log = manager.get(&tp()).unwrap();
    while log.needs_scrub() {
        log.scrub_step(1 << 20).unwrap();
    }
    assert_eq!(log.log_end_offset(), expected.log_end_offset());
    assert_eq!(read_all(&log, 0, 1 << 20), read_all(&expected, 0, 1 << 20));
}

/// A closed segment's `.log` gone while the broker runs: the late open fails, and the fetch
/// gets a storage error instead of a panic or an empty file created in its place.
#[test]
fn a_late_open_that_fails_is_an_error_of_that_read() {
    let dir = tempfile::tempdir().unwrap();
    let (_manager, log) = filled_lazily(dir.path());
    let files = log_files(dir.path());
    std::fs::remove_file(&files[0]).unwrap();
    assert!(log.read(0, 1 << 20).is_err());
    assert!(!files[0].exists(), "not created again");
    // The other segments still serve.
    let later = log.segments()[1].base_offset();
    assert!(!log.read(later, 1 << 20).unwrap().records.is_empty());
}

/// Appends `n` batches of 3 records of 200 bytes to the partition of `manager`.
fn append(manager: &LogManager, n: usize) {
    let log = manager.get(&tp()).unwrap();
    for i in 0..n {
        log.append(&build_test_batch(3, 200, 5_000 + i as i64), 0)
            .unwrap();
    }
}

/// Crash after crash: a load after a kill -9 trusts what the recovery point vouches for, so the
/// next one (the broker killed again after writing more) still reads only past it, however
/// often it happens. The producer-state replay used to start from the log start offset here
/// (the snapshot it needed was gone), which read and checked the whole log at every start.
#[test]
fn a_second_crash_reads_only_past_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), &batches());
    // (appended before the checkpoints, appended after them): the second rolls unflushed.
    for (cycle, (before, after)) in [(2, 0), (20, 0), (2, 15), (15, 15), (0, 0)]
        .into_iter()
        .enumerate()
    {
        let manager = open_lazily(dir.path());
        let log = manager.get(&tp()).unwrap();
        let segments = log.segments();
        let closed = &segments[..segments.len() - 1];
        let below = closed
            .iter()
            .filter(|s| s.next_offset() <= log.recovery_point())
            .count();
        assert!(
            below >= 3,
            "cycle {cycle}: {below} segments below the recovery point"
        );
        assert!(
            segments[..below].iter().all(|s| !s.is_open()),
            "cycle {cycle}: a load after a crash opened segments below the recovery point"
        );
        append(&manager, before);
        manager.maintain(now_ms()).unwrap();
        append(&manager, after);
        // Killed: no shutdown, no clean-shutdown marker.
        drop(log);
        drop(manager);
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
