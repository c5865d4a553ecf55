//! The log cleaner against a model: random keyed writes (tombstones included), idempotent
//! producers, a random clock, cleanings, reopens and crashes at every step of a segment swap.
//! After any sequence, reading the log gives the model's latest value of every key at its
//! offset, offsets only grow and are never reused, a tombstone is gone only once
//! `delete.retention.ms` has passed since it was written, and producers' sequence checks
//! survive.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gregor_record::BatchBuilder;
use gregor_storage::cleaner::{self, OffsetMap, Throttler};
use gregor_storage::log_loader::{self, Checkpoints};
use gregor_storage::{CleanupPolicy, LogConfig, PartitionLog};
use proptest::prelude::*;

const DELETE_RETENTION_MS: i64 = 1_000;

#[derive(Debug, Clone)]
enum Op {
    /// A batch of (key, value or tombstone) records, by an idempotent producer or not.
    Append(Vec<(u8, Option<u8>)>, bool),
    Clean,
    Tick(i64),
    Reopen,
    /// Flushes the log, which moves its recovery point on.
    Flush,
    /// A crash at a step of a cleaning; with `true`, the producer snapshots are lost too, so
    /// the restart replays the log from its start (through cleaned segments).
    Crash(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec((0u8..12, proptest::option::weighted(0.8, any::<u8>())), 1..6), any::<bool>())
            .prop_map(|(r, p)| Op::Append(r, p)),
        3 => Just(Op::Clean),
        2 => (0i64..1_500).prop_map(Op::Tick),
        1 => Just(Op::Reopen),
        1 => Just(Op::Flush),
        1 => (0..cleaner::CRASH_STEPS.len(), any::<bool>()).prop_map(|(s, l)| Op::Crash(s, l)),
    ]
}

fn config() -> LogConfig {
    LogConfig {
        // A few batches a segment, so logs roll and segments are cleaned in groups.
        segment_bytes: 700,
        cleanup: CleanupPolicy::COMPACT,
        delete_retention_ms: DELETE_RETENTION_MS,
        min_cleanable_dirty_ratio: 0.0,
        message_timestamp_after_max_ms: i64::MAX,
        ..LogConfig::default()
    }
}

fn open(dir: &Path, clean: bool, checkpoints: Checkpoints) -> PartitionLog {
    log_loader::load(dir, config(), checkpoints, clean).unwrap()
}

/// The checkpoints the log manager would write for `log` (the recovery point is the one its
/// last flush reached).
fn checkpoints_of(log: &PartitionLog) -> Checkpoints {
    Checkpoints {
        recovery_point: Some(log.recovery_point()),
        log_start_offset: Some(log.log_start_offset()),
        cleaned: log.cleaner_checkpoint(),
    }
}

/// The checkpoints of a new log.
fn fresh() -> Checkpoints {
    Checkpoints {
        recovery_point: None,
        log_start_offset: Some(0),
        cleaned: None,
    }
}

/// What was written, and the producer's next sequence.
#[derive(Default)]
struct Model {
    /// Every record written: offset -> (key, value, time written).
    written: BTreeMap<i64, (u8, Option<u8>, i64)>,
    /// Latest offset of each key.
    latest: BTreeMap<u8, i64>,
    next_sequence: i32,
}

fn batch(records: &[(u8, Option<u8>)], now: i64) -> Vec<u8> {
    let mut builder = BatchBuilder::new(now);
    for (key, value) in records {
        let value = value.map(|v| vec![v; 20]);
        builder.append(now, Some(&[*key]), value.as_deref());
    }
    builder.build()
}

/// Reads every record of the log: (offset, key, value first byte).
fn read_all(log: &PartitionLog) -> Vec<(i64, u8, Option<u8>)> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.high_watermark() {
        let read = log.read(offset, 1 << 20).unwrap();
        if read.records.is_empty() {
            break;
        }
        let mut next = offset;
        for header in gregor_record::batch::headers(&read.records) {
            let (at, header) = header.unwrap();
            let bytes = &read.records[at..at + header.size];
            gregor_record::batch::parse_and_verify(bytes).expect("a valid CRC");
            for record in gregor_record::record::records(bytes, &header).unwrap() {
                let record = record.unwrap();
                let (key, value) = record.key_value().unwrap();
                out.push((
                    record.offset(header.base_offset).unwrap(),
                    key.unwrap()[0],
                    value.map(|v| v[0]),
                ));
            }
            next = header.next_offset();
        }
        assert!(next > offset, "a read made no progress at {offset}");
        offset = next;
    }
    out
}

fn check(log: &PartitionLog, model: &Model, now: i64) {
    let records = read_all(log);
    for pair in records.windows(2) {
        assert!(pair[0].0 < pair[1].0, "offsets grow: {pair:?}");
    }
    let end = model.written.keys().next_back().map_or(0, |o| o + 1);
    assert_eq!(
        log.log_end_offset(),
        end,
        "cleaning never moves the log end"
    );
    let mut seen = BTreeMap::new();
    for (offset, key, value) in &records {
        let written = model.written.get(offset).expect("only written offsets");
        assert_eq!(
            (written.0, written.1),
            (*key, *value),
            "the record at {offset}"
        );
        seen.insert(*key, *offset);
    }
    for (key, latest) in &model.latest {
        let (_, value, written_at) = model.written[latest];
        match seen.get(key) {
            Some(offset) => assert_eq!(offset, latest, "key {key}: its latest record"),
            None => {
                assert!(value.is_none(), "key {key}: a live latest value is gone");
                assert!(
                    now >= written_at + DELETE_RETENTION_MS,
                    "key {key}: tombstone at {latest} removed before delete.retention.ms"
                );
            }
        }
    }
}

fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Arc::new(open(dir.path(), true, fresh()));
    let mut model = Model::default();
    let mut now = 1_000_000i64;
    let throttler = Throttler::new(f64::MAX);
    let mut map = OffsetMap::new(1_000);
    for op in ops {
        match op {
            Op::Append(records, idempotent) => {
                let mut bytes = batch(&records, now);
                if idempotent {
                    gregor_record::batch::set_producer(&mut bytes, 7, 0, model.next_sequence);
                }
                let info = log.append(&bytes, now).unwrap();
                assert!(!info.duplicate);
                if idempotent {
                    model.next_sequence += records.len() as i32;
                    // A retry of the newest batch is still known as one.
                    let again = log.append(&bytes, now).unwrap();
                    assert!(again.duplicate, "the retry was appended again");
                }
                for (i, (key, value)) in records.iter().enumerate() {
                    let offset = info.base_offset + i as i64;
                    model.written.insert(offset, (*key, *value, now));
                    model.latest.insert(*key, offset);
                }
            }
            Op::Clean => {
                cleaner::clean_log(&log, now, &mut map, &throttler, &|| Ok(())).unwrap();
            }
            Op::Tick(ms) => now += ms,
            Op::Reopen => {
                let checkpoints = checkpoints_of(&log);
                log.close().unwrap();
                drop(log);
                log = Arc::new(open(dir.path(), true, checkpoints));
            }
            Op::Flush => log.flush().unwrap(),
            Op::Crash(step, lose_snapshots) => {
                let step = cleaner::CRASH_STEPS[step];
                cleaner::crash_at(Some(step));
                let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    cleaner::clean_log(&log, now, &mut map, &throttler, &|| Ok(()))
                }));
                cleaner::crash_at(None);
                // Whether or not the cleaning reached the step, the process dies here: no
                // close, no flush, recovery at the next open.
                drop(crashed);
                let checkpoints = checkpoints_of(&log);
                drop(log);
                if lose_snapshots {
                    for entry in std::fs::read_dir(dir.path()).unwrap() {
                        let path = entry.unwrap().path();
                        if path.extension().is_some_and(|e| e == "snapshot") {
                            std::fs::remove_file(path).unwrap();
                        }
                    }
                }
                log = Arc::new(open(dir.path(), false, checkpoints));
            }
        }
        check(&log, &model, now);
    }
    // The producer's next batch follows on: its state survived every cleaning.
    let mut bytes = batch(&[(0, Some(1))], now);
    gregor_record::batch::set_producer(&mut bytes, 7, 0, model.next_sequence);
    log.append(&bytes, now).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_cleaner_keeps_what_the_model_keeps(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops);
    }
}

/// Every key's latest record survives a cleaning that sees all of them, older ones go, and a
/// tombstone goes at the first cleaning after its horizon.
#[test]
fn a_cleaning_keeps_the_latest_record_of_each_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true, fresh());
    let now = 1_000_000;
    for round in 0..20u8 {
        let tombstone = round == 19;
        let records: Vec<_> = (0..4u8)
            .map(|k| {
                (
                    k,
                    if tombstone && k == 0 {
                        None
                    } else {
                        Some(round)
                    },
                )
            })
            .collect();
        log.append(&batch(&records, now), now).unwrap();
    }
    let before = log.size_bytes();
    let mut map = OffsetMap::new(100);
    let throttler = Throttler::new(f64::MAX);
    let stats = cleaner::clean_log(&log, now, &mut map, &throttler, &|| Ok(()))
        .unwrap()
        .expect("a cleaning");
    assert!(log.size_bytes() < before, "the log shrank: {stats:?}");
    let records = read_all(&log);
    // The active segment is not cleaned: whatever is left below it holds each key once.
    let active_base = log.segments().last().unwrap().base_offset();
    let cleaned: Vec<_> = records.iter().filter(|r| r.0 < active_base).collect();
    let mut keys: Vec<_> = cleaned.iter().map(|r| r.1).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(
        keys.len(),
        cleaned.len(),
        "one record per key below the active segment"
    );

    // The tombstone, rolled out of the active segment, gets its delete horizon at the cleaning
    // that first reaches it, stays until the horizon, and goes at the first cleaning after it.
    let tombstone = |log: &PartitionLog| read_all(log).iter().any(|r| r.1 == 0 && r.2.is_none());
    assert!(
        log.roll_if_due(now + 1_000_000_000).unwrap(),
        "the idle segment rolls"
    );
    cleaner::clean_log(&log, now, &mut map, &throttler, &|| Ok(())).unwrap();
    assert!(
        tombstone(&log),
        "the tombstone stays for delete.retention.ms"
    );
    let later = now + DELETE_RETENTION_MS - 1;
    cleaner::clean_log(&log, later, &mut map, &throttler, &|| Ok(())).unwrap();
    assert!(tombstone(&log), "the tombstone stays until its horizon");
    cleaner::clean_log(&log, later + 1, &mut map, &throttler, &|| Ok(()))
        .unwrap()
        .expect("a cleaning once the horizon has passed");
    assert!(!tombstone(&log), "the tombstone is gone after its horizon");
    let left: std::collections::BTreeSet<u8> = read_all(&log).iter().map(|r| r.1).collect();
    assert_eq!(left, (1..4).collect(), "the other keys stay");
}

/// Readers racing cleanings (Fetch and ListOffsets while segments are swapped) always see a
/// consistent log: whole batches with valid CRCs, offsets growing, every key's latest record.
#[test]
fn readers_racing_cleanings_see_a_consistent_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path(), true, fresh()));
    let now = 1_000_000;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let log = log.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let records = read_all(&log);
                    for pair in records.windows(2) {
                        assert!(pair[0].0 < pair[1].0, "offsets grow");
                    }
                    // Every key written so far still has a record.
                    let keys: std::collections::BTreeSet<u8> =
                        records.iter().map(|r| r.1).collect();
                    if !records.is_empty() {
                        assert_eq!(keys.len(), 8, "a key vanished mid-swap: read {records:?}");
                    }
                    log.offset_for_timestamp(now).unwrap();
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    let mut map = OffsetMap::new(100);
    let throttler = Throttler::new(f64::MAX);
    for round in 0..250u8 {
        // Key 0 is written once, so it lives on in the oldest segment that every cleaning
        // rewrites; the others move on.
        let first = if round == 0 { 0 } else { 1 };
        let records: Vec<_> = (first..8u8).map(|k| (k, Some(round))).collect();
        log.append(&batch(&records, now), now).unwrap();
        if round % 3 == 0 {
            cleaner::clean_log(&log, now, &mut map, &throttler, &|| Ok(())).unwrap();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        assert!(reader.join().expect("a reader panicked") > 0);
    }
}

/// `min.compaction.lag.ms` keeps young records out of a cleaning; `max.compaction.lag.ms`
/// makes a log due whatever its dirty ratio.
#[test]
fn compaction_lags_bound_and_force_cleanings() {
    use gregor_storage::cleaner::clean::measure;
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), true, fresh());
    let t0 = 1_000_000;
    for round in 0..30u8 {
        log.append(
            &batch(
                &[(0, Some(round)), (1, Some(round))],
                t0 + i64::from(round) * 100,
            ),
            t0,
        )
        .unwrap();
    }
    assert!(log.segment_count() > 3, "several segments");
    let state = gregor_storage::log::CleanerCheckpoint {
        first_dirty_offset: None,
        next_delete_horizon_ms: i64::MAX,
    };
    let now = t0 + 3_000;
    let free = measure(&log, &state, now);
    assert_eq!(
        free.first_uncleanable_offset,
        log.segments().last().unwrap().base_offset()
    );

    // Records of the last 1.5 s are too young: the cleaning stops at the first segment holding one.
    log.set_config(LogConfig {
        min_compaction_lag_ms: 1_500,
        ..config()
    });
    let lagged = measure(&log, &state, now);
    let young = log
        .segments()
        .into_iter()
        .find(|s| s.largest_record_timestamp().unwrap() > now - 1_500)
        .unwrap();
    assert_eq!(lagged.first_uncleanable_offset, young.base_offset());
    assert!(lagged.dirty_bytes < free.dirty_bytes);

    // With a high ratio the log is not due, unless its oldest dirty record is past the max lag.
    log.set_config(LogConfig {
        min_cleanable_dirty_ratio: 1.0,
        max_compaction_lag_ms: 10_000,
        ..config()
    });
    assert!(!measure(&log, &state, now).needs_compaction_now);
    assert!(measure(&log, &state, t0 + 20_000).needs_compaction_now);
}
