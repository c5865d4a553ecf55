//! Time retention and time rolling with any record timestamp: -1 ("no timestamp"), far in the
//! past, far in the future, against a random clock. The rules are Kafka's: a segment's age for
//! `retention.ms` is its largest record timestamp, or its file's modification time when no record
//! has one (`LogSegment.largestTimestamp`); a segment rolls once the incoming batch's timestamp is
//! more than `segment.ms` past its first batch's, or, when that batch has none, once the segment
//! object is more than `segment.ms` old by the clock (`LogSegment.timeWaitedForRoll`).

use gregor_storage::batch::build_test_batch;
use gregor_storage::{LogConfig, LogManager, TopicPartition};
use proptest::prelude::*;

const HOUR: i64 = 3_600_000;
const RETENTION_MS: i64 = 6 * HOUR;
const SEGMENT_MS: i64 = HOUR;

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn config() -> LogConfig {
    LogConfig {
        segment_ms: SEGMENT_MS,
        retention_ms: RETENTION_MS,
        ..LogConfig::default()
    }
}

/// Which timestamp a batch carries, relative to the clock when it is appended.
#[derive(Debug, Clone)]
enum Stamp {
    None,
    Ancient(i64),
    Near(i64),
    Future(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Append(Stamp),
    Tick(i64),
    Retention,
}

fn op() -> impl Strategy<Value = Op> {
    let stamp = prop_oneof![
        3 => Just(Stamp::None),
        1 => (0..1_000_000i64).prop_map(Stamp::Ancient),
        3 => (-2 * RETENTION_MS..2 * RETENTION_MS).prop_map(Stamp::Near),
        1 => (RETENTION_MS..100 * RETENTION_MS).prop_map(Stamp::Future),
    ];
    prop_oneof![
        4 => stamp.prop_map(Op::Append),
        3 => (0..2 * RETENTION_MS).prop_map(Op::Tick),
        2 => Just(Op::Retention),
    ]
}

/// The model's view of the active segment, for the roll rule.
struct Active {
    base: i64,
    /// The first batch's timestamp, once a batch is in.
    first_timestamp: Option<i64>,
    created_ms: i64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn retention_and_rolling_follow_kafka_for_any_timestamp(
        clock_offset in -30 * RETENTION_MS..30 * RETENTION_MS,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let manager = LogManager::open(dir.path(), config()).unwrap();
        let log = manager.get_or_create(&TopicPartition::new("t", 0), config()).unwrap();
        let mut now = wall_clock_ms() + clock_offset;
        let first = log.segments()[0].clone();
        let mut active = Active { base: 0, first_timestamp: None, created_ms: first.created_ms() };
        for op in ops {
            match op {
                Op::Tick(ms) => now += ms,
                Op::Append(stamp) => {
                    let timestamp = match stamp {
                        Stamp::None => -1,
                        Stamp::Ancient(t) => t,
                        Stamp::Near(d) => now + d,
                        Stamp::Future(d) => now + d,
                    };
                    let waited = match active.first_timestamp {
                        Some(first) if first >= 0 => timestamp - first,
                        _ => now - active.created_ms,
                    };
                    let should_roll = active.first_timestamp.is_some() && waited > SEGMENT_MS;
                    let info = log.append(&build_test_batch(1, 10, timestamp), now).unwrap();
                    let rolled = log.segments().last().unwrap().base_offset() != active.base;
                    prop_assert_eq!(rolled, should_roll, "roll at offset {} (waited {})", info.base_offset, waited);
                    if rolled {
                        active = Active { base: info.base_offset, first_timestamp: None, created_ms: now };
                    }
                    active.first_timestamp.get_or_insert(timestamp);
                }
                Op::Retention => {
                    let before: Vec<_> = log
                        .segments()
                        .iter()
                        .map(|s| (s.base_offset(), s.next_offset(), s.retention_timestamp(), s.is_empty()))
                        .collect();
                    log.apply_retention(now).unwrap();
                    let start = log.log_start_offset();
                    for (base, next, age_from, empty) in before {
                        if empty || next > start {
                            continue;
                        }
                        // Deleted: it must have been older than retention.ms by Kafka's rule.
                        let age_from = age_from.expect("a deleted segment had an age");
                        prop_assert!(
                            now - age_from > RETENTION_MS,
                            "segment {} deleted at {} although its age counts from {}", base, now, age_from
                        );
                    }
                    let segments = log.segments();
                    let last = segments.last().unwrap();
                    if last.base_offset() != active.base {
                        // Everything expired: the log rolled to a fresh segment at the clock.
                        prop_assert!(last.is_empty());
                        active = Active { base: last.base_offset(), first_timestamp: None, created_ms: now };
                    }
                }
            }
        }
    }
}

/// The reproduction: batches without timestamps written now are all still there after
/// any number of retention checks within `retention.ms`.
#[test]
fn records_without_timestamp_survive_default_retention() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), LogConfig::default()).unwrap();
    let log = manager
        .get_or_create(&TopicPartition::new("t", 0), LogConfig::default())
        .unwrap();
    for _ in 0..400 {
        log.append(&build_test_batch(1, 10, -1), wall_clock_ms())
            .unwrap();
    }
    for _ in 0..5 {
        manager.maintain(wall_clock_ms()).unwrap();
    }
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.log_end_offset(), 400);
    assert_eq!(
        log.segment_count(),
        1,
        "no batch rolled into a segment of its own"
    );
    // A week and a bit later by the clock, the untouched file is old enough to go.
    let later = wall_clock_ms() + LogConfig::default().retention_ms + HOUR;
    manager.maintain(later).unwrap();
    assert_eq!(log.log_start_offset(), 400);
}
