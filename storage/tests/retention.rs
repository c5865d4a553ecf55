//! Time-driven behaviour with an injected clock: `segment.ms` rolls, `retention.ms` and
//! `retention.bytes` delete whole old segments, `flush.ms` and `flush.messages` flush.

use gregor_storage::batch::build_test_batch;
use gregor_storage::{LogConfig, LogManager, TopicPartition};

const HOUR: i64 = 3_600_000;

#[test]
fn segment_ms_rolls_and_retention_ms_deletes() {
    let dir = tempfile::tempdir().unwrap();
    // Kafka rolls once a batch is strictly more than `segment.ms` younger than the first.
    let config = LogConfig {
        segment_ms: HOUR - 1,
        retention_ms: 3 * HOUR,
        ..LogConfig::default()
    };
    let manager = LogManager::open(dir.path(), config.clone()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("r", 0), config)
        .unwrap();
    // One batch an hour, each stamped with its append time: every append after the first rolls.
    for hour in 0..6 {
        log.append(&build_test_batch(2, 10, hour * HOUR), hour * HOUR)
            .unwrap();
    }
    assert_eq!(log.segment_count(), 6);
    assert_eq!(log.log_start_offset(), 0);
    // At hour 6, batches older than 3 hours (hours 0, 1 and 2) are expired.
    manager.maintain(6 * HOUR).unwrap();
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.log_start_offset(), 6);
    assert!(log.read(5, 100).is_err());
    assert!(!log.read(6, 1 << 20).unwrap().records.is_empty());
    // Far in the future everything expires, the active segment included: the log keeps an empty
    // segment at its end offset.
    manager.maintain(100 * HOUR).unwrap();
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 12);
    assert_eq!(log.log_end_offset(), 12);
    log.append(&build_test_batch(1, 10, 100 * HOUR), 100 * HOUR)
        .unwrap();
    assert_eq!(log.log_end_offset(), 13);
}

#[test]
fn retention_bytes_keeps_the_newest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let batch = build_test_batch(1, 1000, 0);
    let config = LogConfig {
        segment_bytes: 3 * batch.len() as u64,
        retention_ms: -1,
        retention_bytes: 4 * batch.len() as i64,
        ..LogConfig::default()
    };
    let manager = LogManager::open(dir.path(), config.clone()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("r", 0), config)
        .unwrap();
    for _ in 0..12 {
        log.append(&batch, 0).unwrap();
    }
    assert_eq!(log.segment_count(), 4);
    manager.maintain(0).unwrap();
    // 12 batches in segments of 3: dropping the oldest segments while at least 4 batches remain.
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.log_start_offset(), 6);
    assert!(log.size_bytes() >= 4 * batch.len() as u64);
}

#[test]
fn flush_policies_advance_the_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        flush_ms: 1000,
        flush_messages: 10,
        ..LogConfig::default()
    };
    let manager = LogManager::open(dir.path(), config.clone()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("f", 0), config)
        .unwrap();
    log.append(&build_test_batch(3, 10, 0), 0).unwrap();
    assert_eq!(log.recovery_point(), 0);
    manager.maintain(999).unwrap();
    assert_eq!(log.recovery_point(), 0);
    manager.maintain(1000).unwrap();
    assert_eq!(log.recovery_point(), 3);
    log.append(&build_test_batch(9, 10, 0), 2000).unwrap();
    assert_eq!(
        log.recovery_point(),
        3,
        "9 unflushed records are below flush.messages"
    );
    log.append(&build_test_batch(1, 10, 0), 2000).unwrap();
    assert_eq!(log.recovery_point(), 13, "flush.messages=10 reached");
}

#[test]
fn clean_reopen_with_default_config_reads_everything() {
    use gregor_storage::batch::parse_and_verify;
    let dir = tempfile::tempdir().unwrap();
    let tp = TopicPartition::new("d", 0);
    {
        let manager = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        let log = manager.get_or_create(&tp, LogConfig::default()).unwrap();
        for i in 0..300 {
            log.append(&build_test_batch(10, 20, i), 0).unwrap();
        }
        manager.shutdown().unwrap();
    }
    let manager = LogManager::open(dir.path(), LogConfig::default()).unwrap();
    let log = manager.get(&tp).unwrap();
    assert_eq!(log.log_end_offset(), 3000);
    let mut offset = 0;
    while offset < 3000 {
        let read = log.read(offset, 4096).unwrap();
        assert!(!read.records.is_empty(), "nothing at offset {offset}");
        let mut pos = 0;
        while pos < read.records.len() {
            let h = parse_and_verify(&read.records[pos..]).unwrap();
            pos += h.size;
            offset = h.next_offset();
        }
    }
}
