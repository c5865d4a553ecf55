//! Crash tests: damage segment and index files at random places, reopen, and check that the log
//! keeps every batch before the damage and never returns a batch whose CRC fails.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use gregor_storage::batch::{build_test_batch, parse_and_verify, parse_header, set_base_offset};
use gregor_storage::file_names::{
    CLEAN_SHUTDOWN_FILE, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use gregor_storage::{LogConfig, LogManager, TopicPartition};
use proptest::prelude::*;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 6 * 1024,
        index_interval_bytes: 300,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("crash", 0)
}

/// Writes `sizes.len()` batches and returns them as stored (base offsets and leader epoch set).
fn fill(dir: &Path, sizes: &[(i32, usize)], clean: bool) -> Vec<Vec<u8>> {
    let manager = LogManager::open(dir, config()).unwrap();
    let log = manager.get_or_create(&tp(), config()).unwrap();
    let mut out = Vec::new();
    for (i, (records, value_len)) in sizes.iter().enumerate() {
        let mut batch = build_test_batch(*records, *value_len, 1_000 + i as i64 * 10);
        let info = log.append(&batch, 0).unwrap();
        set_base_offset(&mut batch, info.base_offset);
        // The leader stamps its epoch, as Kafka's does.
        batch[12..16].copy_from_slice(&gregor_storage::log::LEADER_EPOCH.to_be_bytes());
        out.push(batch);
    }
    if clean {
        manager.shutdown().unwrap();
    }
    out
}

/// The partition's files with `suffix`, oldest first.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir.join("crash-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(suffix))
        .collect();
    v.sort();
    v
}

/// Length of the valid batches at the start of a segment file (the rest is preallocated zeros).
fn data_len(path: &Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let mut pos = 0;
    while let Ok(h) = parse_header(&bytes[pos..]) {
        pos += h.size;
    }
    pos
}

/// Reads the whole log back batch by batch, checking every CRC.
fn read_all(dir: &Path) -> Vec<Vec<u8>> {
    let manager = LogManager::open(dir, config()).unwrap();
    let log = manager.get(&tp()).expect("partition reloaded");
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let read = log.read(offset, 1).unwrap();
        let h = parse_and_verify(&read.records).expect("a served batch always passes its CRC");
        assert_eq!(h.size, read.records.len());
        assert!(h.base_offset <= offset && offset <= h.last_offset());
        out.push(read.records.to_vec());
        offset = h.next_offset();
    }
    manager.shutdown().unwrap();
    out
}

/// Index of the batch (in append order) holding byte `pos` of segment `segment`.
fn batch_at(all_segments: &[PathBuf], batches: &[Vec<u8>], segment: usize, pos: usize) -> usize {
    let mut before = 0;
    for path in &all_segments[..segment] {
        let len = data_len(path);
        let mut seen = 0;
        while seen < len {
            seen += batches[before].len();
            before += 1;
        }
    }
    let mut offset = 0;
    let mut i = before;
    while offset + batches[i].len() <= pos {
        offset += batches[i].len();
        i += 1;
    }
    i
}

fn sizes() -> impl Strategy<Value = Vec<(i32, usize)>> {
    proptest::collection::vec((1..10i32, 0..400usize), 5..60)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 120, ..ProptestConfig::default() })]

    /// Truncate a segment at a random byte after an unclean shutdown.
    #[test]
    fn truncated_segment_keeps_prefix(sizes in sizes(), pick in any::<usize>(), at in any::<usize>()) {
        let dir = tempfile::tempdir().unwrap();
        let batches = fill(dir.path(), &sizes, false);
        let segments = files(dir.path(), LOG_SUFFIX);
        let segment = pick % segments.len();
        let len = data_len(&segments[segment]);
        prop_assume!(len > 0);
        let pos = at % len;
        let first_damaged = batch_at(&segments, &batches, segment, pos);
        // Cutting exactly at a batch boundary keeps that batch's predecessors only.
        OpenOptions::new().write(true).open(&segments[segment]).unwrap().set_len(pos as u64).unwrap();
        let kept = read_all(dir.path());
        prop_assert_eq!(kept.len(), first_damaged);
        prop_assert_eq!(&kept[..], &batches[..first_damaged]);
    }

    /// Flip one byte of a segment at a random place after an unclean shutdown.
    #[test]
    fn corrupted_segment_never_serves_bad_batch(sizes in sizes(), pick in any::<usize>(), at in any::<usize>(), flip in 1..=255u8) {
        let dir = tempfile::tempdir().unwrap();
        let batches = fill(dir.path(), &sizes, false);
        let segments = files(dir.path(), LOG_SUFFIX);
        let segment = pick % segments.len();
        let len = data_len(&segments[segment]);
        prop_assume!(len > 0);
        let pos = at % len;
        let damaged = batch_at(&segments, &batches, segment, pos);
        let mut file = OpenOptions::new().read(true).write(true).open(&segments[segment]).unwrap();
        let mut bytes = std::fs::read(&segments[segment]).unwrap();
        bytes[pos] ^= flip;
        file.seek(SeekFrom::Start(pos as u64)).unwrap();
        file.write_all(&bytes[pos..=pos]).unwrap();
        drop(file);
        let kept = read_all(dir.path());
        prop_assert!(kept.len() >= damaged, "lost batches before the damage: kept {} of {}", kept.len(), damaged);
        prop_assert_eq!(&kept[..damaged], &batches[..damaged]);
        for (i, batch) in kept.iter().enumerate().skip(damaged) {
            // Only the partition leader epoch (bytes 12..16) is outside both the CRC and the
            // offset chain; any other change must have cut the log at the damaged batch.
            let mut expected = batches[i].clone();
            expected[12..16].copy_from_slice(&batch[12..16]);
            prop_assert_eq!(batch, &expected);
        }
    }

    /// Delete or scribble over index files, after a clean or an unclean shutdown.
    #[test]
    fn damaged_indexes_are_rebuilt(sizes in sizes(), clean in any::<bool>(), pick in any::<usize>(), at in any::<usize>(), delete in any::<bool>(), time in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let batches = fill(dir.path(), &sizes, clean);
        let indexes = files(dir.path(), if time { TIME_INDEX_SUFFIX } else { INDEX_SUFFIX });
        let index = &indexes[pick % indexes.len()];
        if delete {
            std::fs::remove_file(index).unwrap();
        } else {
            let mut bytes = std::fs::read(index).unwrap();
            if bytes.is_empty() {
                bytes = vec![0xff; 24];
            } else {
                let pos = at % bytes.len();
                let end = (pos + 8).min(bytes.len());
                for b in &mut bytes[pos..end] {
                    *b ^= 0xa5;
                }
            }
            std::fs::write(index, &bytes).unwrap();
        }
        prop_assert_eq!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists(), clean);
        let kept = read_all(dir.path());
        prop_assert_eq!(&kept[..], &batches[..]);
        // Every offset still finds its batch, and timestamps still find theirs.
        let manager = LogManager::open(dir.path(), config()).unwrap();
        let log = manager.get(&tp()).unwrap();
        for offset in 0..log.log_end_offset() {
            let read = log.read(offset, 1).unwrap();
            let h = parse_and_verify(&read.records).unwrap();
            prop_assert!(h.base_offset <= offset && offset <= h.last_offset());
        }
        for (i, b) in batches.iter().enumerate() {
            let h = parse_and_verify(b).unwrap();
            let found = log.offset_for_timestamp(1_000 + i as i64 * 10).unwrap().unwrap();
            prop_assert_eq!(found.offset, h.base_offset);
        }
    }
}
