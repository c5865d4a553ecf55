//! The timestamp rules of an append: which CreateTime timestamps a log accepts (Kafka's
//! `LogValidator.validateTimestamp`, with `message.timestamp.before.max.ms` and
//! `message.timestamp.after.max.ms`), and what "no timestamp" means.

use crate::config::{LogConfig, TimestampType};

/// Kafka's `RecordBatch.NO_TIMESTAMP`: a record without a timestamp. A negative value never
/// counts as a timestamp for retention or rolling (`LogSegment.largestRecordTimestamp` and
/// `timeWaitedForRoll` test for `>= 0`).
pub const NO_TIMESTAMP: i64 = -1;

/// A timestamp outside the window a log accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Timestamp {timestamp} of message is out of range. The timestamp should be within [{earliest}, {latest}]")]
pub struct TimestampOutOfRange {
    /// The offending timestamp.
    pub timestamp: i64,
    /// The earliest timestamp accepted at the time of the append.
    pub earliest: i64,
    /// The latest timestamp accepted at the time of the append.
    pub latest: i64,
}

/// Checks a batch's timestamps at `now_ms`, from its header only: `base_timestamp` (the first
/// record's) and `max_timestamp`. Kafka checks every record, which for a compressed batch means
/// decompressing it; the produce path never decompresses, so the header's two timestamps stand
/// for the records between them (producers write records in timestamp order, so they bound the
/// batch). CreateTime only: a LogAppendTime log stamps batches itself, and `NO_TIMESTAMP` is
/// always accepted, as in Kafka.
pub fn check_create_time(
    base_timestamp: i64,
    max_timestamp: i64,
    now_ms: i64,
    config: &LogConfig,
) -> Result<(), TimestampOutOfRange> {
    if config.message_timestamp_type != TimestampType::CreateTime {
        return Ok(());
    }
    let earliest = now_ms.saturating_sub(config.message_timestamp_before_max_ms.max(0));
    let latest = now_ms.saturating_add(config.message_timestamp_after_max_ms.max(0));
    for timestamp in [base_timestamp, max_timestamp] {
        if timestamp != NO_TIMESTAMP && !(earliest..=latest).contains(&timestamp) {
            return Err(TimestampOutOfRange {
                timestamp,
                earliest,
                latest,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn config(before: i64, after: i64) -> LogConfig {
        LogConfig {
            message_timestamp_before_max_ms: before,
            message_timestamp_after_max_ms: after,
            ..LogConfig::default()
        }
    }

    #[test]
    fn kafka_4_defaults_refuse_only_more_than_an_hour_ahead() {
        let c = LogConfig::default();
        assert!(check_create_time(0, 0, NOW, &c).is_ok(), "ancient is fine");
        assert!(check_create_time(NOW, NOW + 3_600_000, NOW, &c).is_ok());
        let err = check_create_time(NOW, NOW + 3_600_001, NOW, &c).unwrap_err();
        assert_eq!(err.timestamp, NOW + 3_600_001);
    }

    #[test]
    fn no_timestamp_is_always_accepted() {
        let c = config(0, 0);
        assert!(check_create_time(NO_TIMESTAMP, NO_TIMESTAMP, NOW, &c).is_ok());
        assert!(check_create_time(NO_TIMESTAMP, NOW, NOW, &c).is_ok());
    }

    #[test]
    fn before_max_refuses_old_base_timestamps() {
        let c = config(1000, i64::MAX);
        assert!(check_create_time(NOW - 1000, NOW, NOW, &c).is_ok());
        assert!(check_create_time(NOW - 1001, NOW, NOW, &c).is_err());
        assert!(
            check_create_time(NOW, i64::MAX, NOW, &c).is_ok(),
            "no overflow"
        );
    }

    #[test]
    fn log_append_time_logs_take_anything() {
        let c = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..config(0, 0)
        };
        assert!(check_create_time(0, i64::MAX, NOW, &c).is_ok());
    }
}
