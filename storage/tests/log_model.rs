//! Property test: random appends, reads, rolls, retention, log-start moves and reopens (clean and
//! unclean) agree with a simple in-memory model of the log.

use gregor_storage::batch::{build_test_batch, parse_and_verify};
use gregor_storage::{LogConfig, LogManager, PartitionLog, TopicPartition};
use proptest::prelude::*;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Op {
    Append { records: i32, value_len: usize },
    Read { at: u16, max_bytes: usize },
    Retain { bytes: i64 },
    AdvanceStart { at: u16 },
    Reopen { clean: bool },
    Timestamp { at: u16 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1..20i32, 0..300usize).prop_map(|(records, value_len)| Op::Append { records, value_len }),
        4 => (any::<u16>(), 1..5000usize).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => (0..20_000i64).prop_map(|bytes| Op::Retain { bytes }),
        1 => any::<u16>().prop_map(|at| Op::AdvanceStart { at }),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => any::<u16>().prop_map(|at| Op::Timestamp { at }),
    ]
}

/// The model: every batch ever appended (base offset, bytes as stored) and the log start.
struct Model {
    batches: Vec<(i64, Vec<u8>)>,
    start: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches.last().map_or(0, |(base, b)| {
            base + i64::from(parse_and_verify(b).unwrap().last_offset_delta) + 1
        })
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 8 * 1024,
        index_interval_bytes: 512,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn open(dir: &std::path::Path) -> (LogManager, Arc<PartitionLog>) {
    let manager = LogManager::open(dir, config()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("t", 0), config())
        .unwrap();
    (manager, log)
}

fn check_read(model: &Model, log: &PartitionLog, offset: i64, max_bytes: usize) {
    let end = model.end();
    match log.read(offset, max_bytes) {
        Ok(read) => {
            assert!(
                offset >= model.start && offset <= end,
                "read {offset} outside [{}, {end}] succeeded",
                model.start
            );
            assert_eq!(read.high_watermark, end);
            if offset == end {
                assert!(read.records.is_empty());
                return;
            }
            let first = model.batches.iter().position(|(base, b)| {
                let h = parse_and_verify(b).unwrap();
                *base <= offset && offset <= base + i64::from(h.last_offset_delta)
            });
            let first = first.expect("model has the batch");
            let mut expected = Vec::new();
            for (_, b) in &model.batches[first..] {
                if !expected.is_empty() && expected.len() + b.len() > max_bytes {
                    break;
                }
                expected.extend_from_slice(b);
            }
            // The log reads from one segment only, so it may return a prefix of `expected`,
            // but always whole batches and at least the first.
            assert!(!read.records.is_empty());
            assert!(read.records.len() <= expected.len());
            assert_eq!(&read.records[..], &expected[..read.records.len()]);
            let mut pos = 0;
            while pos < read.records.len() {
                let h = parse_and_verify(&read.records[pos..]).expect("whole, valid batches");
                pos += h.size;
            }
        }
        Err(_) => assert!(
            offset < model.start || offset > end,
            "read {offset} in [{}, {end}] failed",
            model.start
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn log_agrees_with_model(ops in proptest::collection::vec(op(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let (mut manager, mut log) = open(dir.path());
        let mut model = Model { batches: Vec::new(), start: 0 };
        let mut ts = 1_000_000i64;
        for op in ops {
            match op {
                Op::Append { records, value_len } => {
                    let mut batch = build_test_batch(records, value_len, ts);
                    ts += 100;
                    let info = log.append(&batch, 0).unwrap();
                    prop_assert_eq!(info.base_offset, model.end());
                    prop_assert_eq!(info.last_offset, model.end() + i64::from(records) - 1);
                    gregor_storage::batch::set_base_offset(&mut batch, info.base_offset);
                    model.batches.push((info.base_offset, batch));
                }
                Op::Read { at, max_bytes } => {
                    let span = (model.end() - model.start + 2).max(1);
                    let offset = model.start - 1 + i64::from(at) % span;
                    check_read(&model, &log, offset, max_bytes);
                }
                Op::Retain { bytes } => {
                    let mut cfg = config();
                    cfg.retention_bytes = bytes;
                    log.set_config(cfg);
                    log.apply_retention(0).unwrap();
                    log.set_config(config());
                    let new_start = log.log_start_offset();
                    prop_assert!(new_start >= model.start && new_start <= model.end());
                    prop_assert!(model.batches.iter().any(|(b, _)| *b == new_start) || new_start == model.start || new_start == model.end());
                    model.start = new_start;
                }
                Op::AdvanceStart { at } => {
                    let span = model.end() - model.start + 1;
                    let target = model.start + i64::from(at) % span;
                    prop_assert_eq!(manager.advance_log_start(&TopicPartition::new("t", 0), target).unwrap(), target);
                    model.start = target;
                }
                Op::Reopen { clean } => {
                    if clean {
                        manager.shutdown().unwrap();
                    }
                    drop(log);
                    drop(manager);
                    (manager, log) = open(dir.path());
                    prop_assert_eq!(manager.was_clean_shutdown(), clean);
                    prop_assert_eq!(log.log_end_offset(), model.end());
                    prop_assert_eq!(log.log_start_offset(), model.start);
                }
                Op::Timestamp { at } => {
                    let target = 1_000_000 + i64::from(at) % ((ts - 1_000_000).max(1) + 50);
                    let found = log.offset_for_timestamp(target).unwrap();
                    // Batch i has timestamps 1_000_000 + 100 i + k for its k-th record; only
                    // records at or above the log start count.
                    let expected = model.batches.iter().find_map(|(base, b)| {
                        let h = parse_and_verify(b).unwrap();
                        let first_ts = h.max_timestamp - i64::from(h.last_offset_delta);
                        (0..=i64::from(h.last_offset_delta))
                            .map(|k| (first_ts + k, base + k))
                            .find(|(t, o)| *t >= target && *o >= model.start)
                    });
                    prop_assert_eq!(found.map(|f| (f.timestamp, f.offset)), expected);
                }
            }
        }
    }
}
