//! Trusted start-up: what a clean stop (or the recovery point) vouches for is not read at load,
//! and a batch damaged while the broker was down is found by the read path or the scrub and
//! handled as recovery handles it, never served.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gregor_storage::batch::{build_test_batch, parse_and_verify};
use gregor_storage::file_names::LOG_SUFFIX;
use gregor_storage::{LogConfig, LogManager, TopicPartition};

mod common;

fn config() -> LogConfig {
    common::small_segments()
}

/// Opens without the start-up check of the newest segments, so every segment is left to the
/// read path and the scrub.
fn open(dir: &Path) -> LogManager {
    LogManager::open_checking(dir, config(), 0).unwrap()
}

fn tp() -> TopicPartition {
    TopicPartition::new("scrub", 0)
}

/// Appends `batches` batches of 3 records (one offset each 3), then stops cleanly or not.
fn fill(dir: &Path, batches: usize, clean: bool) {
    let manager = LogManager::open(dir, config()).unwrap();
    let log = manager.get_or_create(&tp(), config()).unwrap();
    for i in 0..batches {
        log.append(&build_test_batch(3, 200, 1_000 + i as i64), 0)
            .unwrap();
    }
    if clean {
        manager.shutdown().unwrap();
    } else {
        // Rolled segments reach the disk and the checkpoint, as upkeep does.
        manager.maintain(0).unwrap();
        drop(manager); // no marker: the next open is unclean
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("scrub-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(LOG_SUFFIX))
        .collect();
    v.sort();
    v
}

/// Flips a byte inside the records of the batch at `position` of `path` (under its CRC).
fn damage(path: &Path, position: u64) {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .read(true)
        .open(path)
        .unwrap();
    let bytes = std::fs::read(path).unwrap();
    let at = position + 70;
    file.seek(SeekFrom::Start(at)).unwrap();
    file.write_all(&[bytes[at as usize] ^ 0x5a]).unwrap();
}

/// The base offset and position of the second batch of a segment file.
fn second_batch(path: &Path) -> (i64, u64) {
    let bytes = std::fs::read(path).unwrap();
    let first = parse_and_verify(&bytes).unwrap();
    let second = parse_and_verify(&bytes[first.size..]).unwrap();
    (second.base_offset, first.size as u64)
}

/// Reads from `from` to the end, checking every served batch; returns the offset reached.
fn read_to_end(manager: &LogManager, from: i64) -> i64 {
    common::read_checked(&manager.get(&tp()).unwrap(), from, 1 << 20).1
}

#[test]
fn a_clean_start_reads_no_closed_segment_and_a_fetch_never_serves_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 120, true);
    let files = segments(dir.path());
    assert!(files.len() >= 4, "{} segments", files.len());
    let (damaged_offset, position) = second_batch(&files[1]);
    damage(&files[1], position);

    let manager = open(dir.path());
    let log = manager.get(&tp()).unwrap();
    // Nothing was read at load: the end is still there, the damage not yet found.
    assert_eq!(log.log_end_offset(), 360);
    assert!(log.needs_scrub());
    assert!(manager.scrub_pending_bytes() > 0);
    // A fetch over the damage gets the batches before it, then the end recovery would give.
    let reached = read_to_end(&manager, 0);
    assert_eq!(reached, damaged_offset);
    assert_eq!(log.log_end_offset(), damaged_offset);
    assert_eq!(log.high_watermark(), damaged_offset);
    assert_eq!(
        log.segment_count(),
        2,
        "later segments are deleted, as recovery does"
    );
    // Appends go on from the cut, and survive a restart.
    log.append(&build_test_batch(2, 10, 5_000), 0).unwrap();
    manager.shutdown().unwrap();
    drop(manager);
    let manager = open(dir.path());
    assert_eq!(read_to_end(&manager, 0), damaged_offset + 2);
}

#[test]
fn the_scrub_finds_damage_no_fetch_reached() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 120, true);
    let files = segments(dir.path());
    let (damaged_offset, position) = second_batch(&files[2]);
    damage(&files[2], position);

    let manager = open(dir.path());
    let log = manager.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), 360);
    while log.scrub_step(1024).unwrap() > 0 {}
    assert!(!log.needs_scrub());
    assert_eq!(manager.scrub_pending_bytes(), 0);
    assert_eq!(log.log_end_offset(), damaged_offset);
    assert_eq!(read_to_end(&manager, 0), damaged_offset);
}

#[test]
fn the_scrub_thread_checks_everything_and_leaves_a_sound_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 120, true);
    let manager = open(dir.path());
    assert!(manager.scrub_pending_bytes() > 0);
    manager.start_scrub(u64::MAX / 2);
    let log = manager.get(&tp()).unwrap();
    // The thread's progress is the pending count; wait for it to reach zero.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while manager.scrub_pending_bytes() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the scrub never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(log.log_end_offset(), 360);
    assert_eq!(read_to_end(&manager, 0), 360);
    manager.shutdown().unwrap();
}

#[test]
fn after_a_crash_only_segments_past_the_recovery_point_are_read() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 120, false);
    let files = segments(dir.path());
    // A segment below the recovery point: trusted, its damage found on the read path.
    let (damaged_offset, position) = second_batch(&files[0]);
    damage(&files[0], position);
    let manager = open(dir.path());
    let log = manager.get(&tp()).unwrap();
    assert!(!manager.was_clean_shutdown());
    assert_eq!(
        log.log_end_offset(),
        360,
        "the trusted segment was not read"
    );
    assert!(log.needs_scrub());
    assert_eq!(read_to_end(&manager, 0), damaged_offset);
    assert_eq!(log.log_end_offset(), damaged_offset);
}

#[test]
fn after_a_crash_damage_past_the_recovery_point_is_cut_at_load() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 120, false);
    let files = segments(dir.path());
    // The active segment holds the recovery point: it is recovered at load.
    let last = files.last().unwrap();
    let (damaged_offset, position) = second_batch(last);
    damage(last, position);
    let manager = LogManager::open(dir.path(), config()).unwrap();
    let log = manager.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), damaged_offset);
    assert_eq!(read_to_end(&manager, 0), damaged_offset);
}

#[test]
fn a_small_data_dir_is_checked_whole_at_start() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 120, true);
    let files = segments(dir.path());
    let (damaged_offset, position) = second_batch(&files[1]);
    damage(&files[1], position);
    let manager = LogManager::open(dir.path(), config()).unwrap();
    let log = manager.get(&tp()).unwrap();
    assert_eq!(
        log.log_end_offset(),
        damaged_offset,
        "cut before the first answer"
    );
    assert_eq!(manager.scrub_pending_bytes(), 0);
}

/// A mapping of a sparse 1 GiB segment (Kafka's default `segment.bytes`) costs no resident
/// memory until its pages are touched.
#[test]
fn an_idle_segment_mapping_costs_no_resident_memory() {
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1 << 30,
        ..LogConfig::default()
    };
    let manager = LogManager::open(dir.path(), config.clone()).unwrap();
    let before = rss_kib();
    let mut logs = Vec::new();
    for p in 0..16 {
        let log = manager
            .get_or_create(&TopicPartition::new("idle", p), config.clone())
            .unwrap();
        log.append(&build_test_batch(1, 100, 1_000), 0).unwrap();
        logs.push(log);
    }
    let grown = rss_kib().saturating_sub(before);
    // 16 GiB mapped; what is resident is a few pages per partition, not the mappings.
    assert!(
        grown < 16 * 1024,
        "16 idle 1 GiB segments made RSS grow by {grown} KiB"
    );
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mapped = maps.lines().filter(|l| l.contains("idle-")).count();
    assert!(mapped >= 16, "the segments are mapped ({mapped} mappings)");
}

#[test]
fn a_closed_segment_that_lost_its_tail_is_cut_there_by_the_scrub() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path(), 120, true);
    let files = segments(dir.path());
    // Its last batches gone while the broker was down, whole batches left: only the offset
    // chain into the next segment tells.
    let (kept_end, position) = second_batch(&files[1]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&files[1])
        .unwrap()
        .set_len(position)
        .unwrap();

    let manager = open(dir.path());
    let log = manager.get(&tp()).unwrap();
    // The load read nothing of the closed segment.
    assert_eq!(log.log_end_offset(), 360);
    while log.scrub_step(1024).unwrap() > 0 {}
    assert_eq!(log.log_end_offset(), kept_end);
    assert_eq!(read_to_end(&manager, 0), kept_end);
}

#[test]
fn after_a_crash_damage_on_either_side_of_a_recovery_point_inside_a_segment_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    {
        let manager = LogManager::open(dir.path(), config()).unwrap();
        let log = manager.get_or_create(&tp(), config()).unwrap();
        for i in 0..125 {
            log.append(&build_test_batch(3, 200, 1_000 + i), 0).unwrap();
            if i == 121 {
                log.flush().unwrap();
            }
        }
        manager.maintain(0).unwrap();
        assert_eq!(log.recovery_point(), 366);
    }
    let last = segments(dir.path()).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let mut batches = Vec::new();
    let mut at = 0;
    // Up to the space preallocated for the writer.
    while let Ok(h) = parse_and_verify(&bytes[at..]) {
        batches.push((h.base_offset, at as u64));
        at += h.size;
    }
    let (first_base, first_position) = batches[0];
    assert!(
        first_base + 2 < 366,
        "the recovery point is inside the last segment"
    );
    let after = batches.iter().find(|(base, _)| *base == 369).unwrap();
    // One batch below the recovery point, one past it.
    damage(&last, first_position);
    damage(&last, after.1);

    // Recovery scans past the recovery point and cuts at 369; the producer-state replay,
    // which reads the segment from its start (the snapshot at its base), finds the other.
    let manager = open(dir.path());
    let log = manager.get(&tp()).unwrap();
    assert_eq!(log.log_end_offset(), first_base);
    assert_eq!(read_to_end(&manager, 0), first_base);
}
