//! The log cleaner with transactions, against a model: random keyed writes, plain and in the
//! transactions of three producers that commit, abort or stay open, a random clock, cleanings,
//! reopens and crashes at every step of a segment swap. After any sequence a read_committed
//! reader (Kafka's consumer logic over the log's aborted-transaction index) sees no record of
//! an aborted transaction, sees every key's latest committed record at its offset, and stops
//! at the last stable offset, which is the first offset of the oldest open transaction; the
//! producers' sequence checks survive.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use gregor_record::BatchBuilder;
use gregor_storage::cleaner::{self, OffsetMap, Throttler};
use gregor_storage::log_loader::{self, Checkpoints};
use gregor_storage::producer_state::Origin;
use gregor_storage::{CleanupPolicy, EndTxnMarker, LogConfig, PartitionLog, TxnResult};
use proptest::prelude::*;

const DELETE_RETENTION_MS: i64 = 1_000;
const PRODUCERS: i64 = 3;

#[derive(Debug, Clone)]
enum Op {
    /// Keyed records by producer `0` (plain, not idempotent) or in producer 1..=3's transaction.
    Append(i64, Vec<u8>),
    /// Producer 1..=3 ends its transaction: commit or abort.
    End(i64, bool),
    Clean,
    Tick(i64),
    Reopen,
    Crash(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..=PRODUCERS, proptest::collection::vec(0u8..8, 1..5)).prop_map(|(p, k)| Op::Append(p, k)),
        3 => (1..=PRODUCERS, any::<bool>()).prop_map(|(p, c)| Op::End(p, c)),
        3 => Just(Op::Clean),
        2 => (0i64..1_500).prop_map(Op::Tick),
        1 => Just(Op::Reopen),
        1 => (0..cleaner::CRASH_STEPS.len()).prop_map(Op::Crash),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 600,
        cleanup: CleanupPolicy::COMPACT,
        delete_retention_ms: DELETE_RETENTION_MS,
        min_cleanable_dirty_ratio: 0.0,
        message_timestamp_after_max_ms: i64::MAX,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean: bool, cleaned: Option<i64>) -> PartitionLog {
    let checkpoints = Checkpoints {
        recovery_point: None,
        log_start_offset: Some(0),
        cleaned,
    };
    log_loader::load(dir, config(), checkpoints, clean).unwrap()
}

/// What each record became.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fate {
    Committed,
    Aborted,
    Open,
}

#[derive(Default)]
struct Model {
    /// offset -> (key, producer, fate)
    written: BTreeMap<i64, (u8, i64, Fate)>,
    /// Open transactions: producer -> offsets of its records.
    open: HashMap<i64, Vec<i64>>,
    next_sequence: HashMap<i64, i32>,
    end: i64,
}

impl Model {
    fn last_stable_offset(&self) -> i64 {
        self.open
            .values()
            .filter_map(|offsets| offsets.first().copied())
            .min()
            .unwrap_or(self.end)
    }

    /// Each key's latest committed record below the last stable offset.
    fn latest_committed(&self) -> BTreeMap<u8, i64> {
        let lso = self.last_stable_offset();
        let mut latest = BTreeMap::new();
        for (offset, (key, _, fate)) in self.written.range(..lso) {
            if *fate == Fate::Committed {
                latest.insert(*key, *offset);
            }
        }
        latest
    }
}

/// Reads the log as a read_committed consumer does (Kafka's `Fetcher` with the fetch's
/// aborted transactions): (offset, key, producer) of every record it would hand out.
fn read_committed(log: &PartitionLog) -> Vec<(i64, u8, i64)> {
    let lso = log.last_stable_offset();
    let mut aborted: Vec<_> = log.aborted_transactions(log.log_start_offset(), lso);
    aborted.sort_by_key(|a| a.first_offset);
    let mut aborted = aborted.into_iter().peekable();
    let mut aborting: HashSet<i64> = HashSet::new();
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < lso {
        let read = log.read_up_to(offset, 1 << 20, lso).unwrap();
        if read.records.is_empty() {
            break;
        }
        for header in gregor_record::batch::headers(&read.records) {
            let (at, header) = header.unwrap();
            let bytes = &read.records[at..at + header.size];
            gregor_record::batch::parse_and_verify(bytes).expect("a valid CRC");
            while aborted
                .peek()
                .is_some_and(|a| a.first_offset <= header.last_offset())
            {
                aborting.insert(aborted.next().unwrap().producer_id);
            }
            offset = header.next_offset();
            if header.is_control() {
                let marker = EndTxnMarker::parse(bytes, &header);
                if marker.is_some_and(|m| m.result == TxnResult::Abort) {
                    aborting.remove(&header.producer_id);
                }
                continue;
            }
            if header.is_transactional() && aborting.contains(&header.producer_id) {
                continue;
            }
            for record in gregor_record::record::records(bytes, &header).unwrap() {
                let record = record.unwrap();
                let (key, _) = record.key_value().unwrap();
                out.push((
                    record.offset(header.base_offset).unwrap(),
                    key.unwrap()[0],
                    header.producer_id,
                ));
            }
        }
    }
    out
}

fn check(log: &PartitionLog, model: &Model) {
    assert_eq!(
        log.log_end_offset(),
        model.end,
        "the log end never moves back"
    );
    assert_eq!(
        log.last_stable_offset(),
        model.last_stable_offset(),
        "the last stable offset is the oldest open transaction's start"
    );
    let seen = read_committed(log);
    let mut latest_seen = BTreeMap::new();
    for (offset, key, _) in &seen {
        let (k, _, fate) = model.written.get(offset).expect("only written offsets");
        assert_eq!(k, key, "the record at {offset}");
        assert_eq!(
            *fate,
            Fate::Committed,
            "read_committed saw the {fate:?} record at {offset}"
        );
        latest_seen.insert(*key, *offset);
    }
    assert_eq!(
        latest_seen,
        model.latest_committed(),
        "every key's latest committed record, and nothing later"
    );
}

fn batch(keys: &[u8], now: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(now);
    for key in keys {
        builder.append(now, Some(&[*key]), Some(&[1u8; 20]));
    }
    builder.build()
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Arc::new(open(dir.path(), true, None));
    let mut model = Model::default();
    let mut now = 1_000_000i64;
    let throttler = Throttler::new(f64::MAX);
    let mut map = OffsetMap::new(1_000);
    for op in ops {
        match op {
            Op::Append(producer, keys) => {
                let bytes = if producer == 0 {
                    batch(&keys, now)
                } else {
                    let seq = model.next_sequence.entry(producer).or_insert(0);
                    let mut bytes = gregor_storage::batch::build_test_txn_batch(
                        producer,
                        0,
                        *seq,
                        keys.len() as i32,
                        now,
                    );
                    // Keyed records instead of the test batch's keyless ones.
                    let keyed = batch(&keys, now);
                    bytes.truncate(gregor_record::batch::HEADER_SIZE);
                    bytes.extend_from_slice(&keyed[gregor_record::batch::HEADER_SIZE..]);
                    let length = (bytes.len() - 12) as i32;
                    bytes[8..12].copy_from_slice(&length.to_be_bytes());
                    gregor_record::batch::write_crc(&mut bytes);
                    *seq += keys.len() as i32;
                    bytes
                };
                let info = log.append(&bytes, now).unwrap();
                for (i, key) in keys.iter().enumerate() {
                    let offset = info.base_offset + i as i64;
                    let fate = if producer == 0 {
                        Fate::Committed
                    } else {
                        model.open.entry(producer).or_default().push(offset);
                        Fate::Open
                    };
                    model.written.insert(offset, (*key, producer, fate));
                }
                model.end = info.last_offset + 1;
            }
            Op::End(producer, commit) => {
                let result = if commit {
                    TxnResult::Commit
                } else {
                    TxnResult::Abort
                };
                let marker = EndTxnMarker {
                    result,
                    coordinator_epoch: 0,
                }
                .batch(producer, 0, now);
                let info = log.append_as(&marker, now, Origin::Coordinator).unwrap();
                model.end = info.last_offset + 1;
                let fate = if commit {
                    Fate::Committed
                } else {
                    Fate::Aborted
                };
                for offset in model.open.remove(&producer).unwrap_or_default() {
                    model.written.get_mut(&offset).unwrap().2 = fate;
                }
            }
            Op::Clean => {
                cleaner::clean_log(&log, now, &mut map, &throttler, &|| Ok(())).unwrap();
            }
            Op::Tick(ms) => now += ms,
            Op::Reopen => {
                let cleaned = log.cleaner_checkpoint();
                log.close().unwrap();
                drop(log);
                log = Arc::new(open(dir.path(), true, cleaned));
            }
            Op::Crash(step) => {
                cleaner::crash_at(Some(cleaner::CRASH_STEPS[step]));
                let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    cleaner::clean_log(&log, now, &mut map, &throttler, &|| Ok(()))
                }));
                cleaner::crash_at(None);
                drop(crashed);
                let cleaned = log.cleaner_checkpoint();
                drop(log);
                log = Arc::new(open(dir.path(), false, cleaned));
            }
        }
        check(&log, &model);
    }
    // Every producer's next batch follows on: its sequence survived every cleaning.
    for producer in 1..=PRODUCERS {
        let seq = model.next_sequence.get(&producer).copied().unwrap_or(0);
        let bytes = gregor_storage::batch::build_test_txn_batch(producer, 0, seq, 1, now);
        log.append(&bytes, now).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn read_committed_sees_what_the_model_committed(ops in proptest::collection::vec(op(), 1..70)) {
        run(ops);
    }
}

/// An aborted transaction's records go at the first cleaning; its marker stays through that
/// cleaning (its records were there), gets a delete horizon at the next one and goes at the
/// first cleaning after the horizon. A commit marker stays while its records do.
#[test]
fn aborted_records_go_and_markers_wait_out_their_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true, None);
    let now = 1_000_000;
    let txn = |p: i64, seq: i32, keys: &[u8]| {
        let mut bytes =
            gregor_storage::batch::build_test_txn_batch(p, 0, seq, keys.len() as i32, now);
        let keyed = batch(keys, now);
        bytes.truncate(gregor_record::batch::HEADER_SIZE);
        bytes.extend_from_slice(&keyed[gregor_record::batch::HEADER_SIZE..]);
        let length = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&length.to_be_bytes());
        gregor_record::batch::write_crc(&mut bytes);
        log.append(&bytes, now).unwrap();
    };
    let end = |p: i64, result| {
        let marker = EndTxnMarker {
            result,
            coordinator_epoch: 0,
        }
        .batch(p, 0, now);
        log.append_as(&marker, now, Origin::Coordinator).unwrap();
    };
    // Plain writes of other keys make dirty segments and roll the rest out of the active one.
    let roll = || {
        for _ in 0..12 {
            log.append(&batch(&[5, 6, 7], now), now).unwrap();
        }
    };
    txn(1, 0, &[0, 1]);
    txn(2, 0, &[2]);
    end(1, TxnResult::Abort);
    end(2, TxnResult::Commit);
    // Producer 1 goes on, so its aborted batch is not its last.
    txn(1, 2, &[3]);
    end(1, TxnResult::Commit);
    roll();
    let markers = |log: &PartitionLog| -> Vec<(i64, i64)> {
        let mut out = Vec::new();
        for segment in log.segments() {
            let data = segment.contents().unwrap();
            for header in gregor_record::batch::headers(&data) {
                let (_, h) = header.unwrap();
                if h.is_control() && h.base_offset < 10 {
                    out.push((h.producer_id, h.base_offset));
                }
            }
        }
        out
    };
    let keys = |log: &PartitionLog| -> Vec<u8> {
        let mut k: Vec<u8> = read_committed(log)
            .iter()
            .map(|r| r.1)
            .filter(|k| *k < 5)
            .collect();
        k.sort_unstable();
        k
    };
    let throttler = Throttler::new(f64::MAX);
    let mut map = OffsetMap::new(1_000);
    let mut clean = |at: i64| {
        cleaner::clean_log(&log, at, &mut map, &throttler, &|| Ok(()))
            .unwrap()
            .expect("a cleaning");
    };
    let all = vec![(1, 3), (2, 4), (1, 6)];
    clean(now);
    assert_eq!(keys(&log), vec![2, 3]);
    assert_eq!(
        markers(&log),
        all,
        "the abort marker stays while its records were there"
    );
    assert_eq!(
        log.aborted_transactions(0, log.last_stable_offset()).len(),
        1
    );
    roll();
    clean(now + 10);
    assert_eq!(markers(&log), all, "now it waits out its delete horizon");
    assert!(log
        .aborted_transactions(0, log.last_stable_offset())
        .is_empty());
    roll();
    clean(now + 10 + DELETE_RETENTION_MS - 1);
    assert_eq!(markers(&log), all);
    roll();
    clean(now + 10 + DELETE_RETENTION_MS);
    // The abort marker went; the commit markers stay with their records (and producer 1's
    // last one holds its epoch).
    assert_eq!(markers(&log), vec![(2, 4), (1, 6)]);
    assert_eq!(keys(&log), vec![2, 3]);
}
