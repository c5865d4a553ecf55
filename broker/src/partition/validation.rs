//! What an append must pass before it reaches the log; Kafka's `LogValidator` and
//! `UnifiedLog.analyzeAndValidateRecords`, from batch headers only.
//!
//! The produce path never decompresses: every check reads the v2 batch headers (and the CRC over
//! the rest, in `parse_batches`). In order, as Kafka runs them: the batches parse; a client
//! sends no control batch (transaction markers are the broker's own; Kafka refuses control
//! batches from clients always); no batch is larger than `max.message.bytes`; CreateTime
//! timestamps lie in the `message.timestamp.before/after.max.ms` window; a LogAppendTime log
//! stamps each batch with the broker's clock; a compacted topic takes no keyless record (in
//! uncompressed batches, where they can be seen without decompressing). Producer state (sequence and epoch) is checked by
//! the log under its append lock, where the sequence it compares against cannot move.

use bytes::Bytes;
use gregor_protocol::record_batch::{parse_batches, set_log_append_time, BatchHeader};
use gregor_protocol::ResponseError;
use gregor_storage::timestamps::check_create_time;
use gregor_storage::{LogConfig, TimestampType};

use crate::error::KafkaError;

/// Who is appending (Kafka's `AppendOrigin`): it decides which topics and batches are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOrigin {
    /// A Produce request. May not write internal topics, nor control batches.
    Client,
    /// A coordinator writing its own internal topic (`__consumer_offsets`,
    /// `__transaction_state`), or transaction markers into any partition.
    Coordinator,
    /// The broker itself, for anything that is neither a client's nor a coordinator's.
    Internal,
}

/// Batches that passed validation, ready for the log.
#[derive(Debug)]
pub struct ValidRecords {
    /// The bytes to append: the caller's, or a stamped copy for a LogAppendTime log.
    pub records: Bytes,
    /// The LogAppendTime given to every batch, or -1 for CreateTime (the Produce response's
    /// `log_append_time_ms`).
    pub log_append_time: i64,
}

/// Validates `records` for a log with `config` and `max_message_bytes` at `now_ms`.
pub fn validate(
    origin: AppendOrigin,
    records: Bytes,
    max_message_bytes: usize,
    config: &LogConfig,
    now_ms: i64,
) -> Result<ValidRecords, KafkaError> {
    let headers = parse_batches(&records)?;
    if origin == AppendOrigin::Client && headers.iter().any(BatchHeader::is_control) {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRecord,
            "Clients are not allowed to write control records",
        ));
    }
    if let Some(h) = headers
        .iter()
        .find(|h| h.is_transactional() && h.producer_id < 0)
    {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRecord,
            format!(
                "A transactional batch needs a producer id, not {}",
                h.producer_id
            ),
        ));
    }
    if origin == AppendOrigin::Client && config.cleanup.compact {
        refuse_keyless(&records, &headers)?;
    }
    if let Some(big) = headers.iter().find(|h| h.size > max_message_bytes) {
        return Err(KafkaError::with_message(
            ResponseError::MessageTooLarge,
            format!(
                "The record batch is {} bytes, larger than max.message.bytes {max_message_bytes}",
                big.size
            ),
        ));
    }
    // From the batch headers only (base and max timestamp): Kafka's LogValidator checks each
    // record, which would mean decompressing.
    for h in &headers {
        check_create_time(h.base_timestamp, h.max_timestamp, now_ms, config).map_err(|e| {
            KafkaError::with_message(ResponseError::InvalidTimestamp, e.to_string())
        })?;
    }
    if config.message_timestamp_type != TimestampType::LogAppendTime {
        return Ok(ValidRecords {
            records,
            log_append_time: -1,
        });
    }
    // The only copy of appended bytes: stamping rewrites each batch header and its CRC.
    let mut stamped = records.to_vec();
    set_log_append_time(&mut stamped, now_ms)?;
    Ok(ValidRecords {
        records: Bytes::from(stamped),
        log_append_time: now_ms,
    })
}

/// A compacted topic keeps records by key, so Kafka refuses records without one. Read from
/// uncompressed batches only: the produce path does not decompress, so a keyless record in a
/// compressed batch is taken, and the cleaner keeps it (it never drops an acknowledged record
/// for want of a key).
fn refuse_keyless(records: &[u8], headers: &[BatchHeader]) -> Result<(), KafkaError> {
    let mut at = 0;
    for h in headers {
        let batch = &records[at..at + h.size];
        at += h.size;
        if h.is_compressed() {
            continue;
        }
        let keyless = gregor_protocol::record_batch::records(batch, h)
            .into_iter()
            .flatten()
            .any(|r| {
                r.and_then(|r| r.key_value())
                    .is_ok_and(|(key, _)| key.is_none())
            });
        if keyless {
            return Err(KafkaError::with_message(
                ResponseError::InvalidRecord,
                "Compacted topic cannot accept message without key.",
            ));
        }
    }
    Ok(())
}

/// The storage's origin of an append from `origin`: only a client's batches carry sequences.
pub fn storage_origin(origin: AppendOrigin) -> gregor_storage::producer_state::Origin {
    match origin {
        AppendOrigin::Client => gregor_storage::producer_state::Origin::Client,
        AppendOrigin::Coordinator | AppendOrigin::Internal => {
            gregor_storage::producer_state::Origin::Coordinator
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_storage::batch::build_test_batch;

    const NOW: i64 = 1_700_000_000_000;

    fn batch(timestamp: i64) -> Bytes {
        Bytes::from(build_test_batch(2, 10, timestamp))
    }

    fn code(result: Result<ValidRecords, KafkaError>) -> Option<ResponseError> {
        result.err().map(|e| e.code)
    }

    #[test]
    fn a_good_batch_passes_unchanged() {
        let records = batch(NOW);
        let valid = validate(
            AppendOrigin::Client,
            records.clone(),
            1 << 20,
            &LogConfig::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(valid.records, records);
        assert_eq!(valid.log_append_time, -1);
    }

    #[test]
    fn garbage_is_corrupt() {
        let result = validate(
            AppendOrigin::Client,
            Bytes::from_static(b"not a batch at all, not even close"),
            1 << 20,
            &LogConfig::default(),
            NOW,
        );
        assert_eq!(code(result), Some(ResponseError::CorruptMessage));
    }

    #[test]
    fn a_batch_over_max_message_bytes_is_too_large() {
        let records = batch(NOW);
        let limit = records.len() - 1;
        let result = validate(
            AppendOrigin::Coordinator,
            records,
            limit,
            &LogConfig::default(),
            NOW,
        );
        assert_eq!(code(result), Some(ResponseError::MessageTooLarge));
    }

    #[test]
    fn timestamps_outside_the_window_are_refused() {
        let config = LogConfig {
            message_timestamp_after_max_ms: 1_000,
            ..LogConfig::default()
        };
        let result = validate(
            AppendOrigin::Client,
            batch(NOW + 5_000),
            1 << 20,
            &config,
            NOW,
        );
        assert_eq!(code(result), Some(ResponseError::InvalidTimestamp));
    }

    #[test]
    fn a_compacted_topic_refuses_keyless_records() {
        let config = LogConfig {
            cleanup: gregor_storage::CleanupPolicy::COMPACT,
            ..LogConfig::default()
        };
        let result = validate(AppendOrigin::Client, batch(NOW), 1 << 20, &config, NOW);
        assert_eq!(code(result), Some(ResponseError::InvalidRecord));
        let keyed = Bytes::from(gregor_protocol::record_batch::encode_records(
            NOW,
            &[(Some(b"k"), Some(b"v"))],
        ));
        assert!(validate(AppendOrigin::Client, keyed.clone(), 1 << 20, &config, NOW).is_ok());
        // The coordinator's own records always have keys; its origin is not checked.
        assert!(validate(AppendOrigin::Coordinator, batch(NOW), 1 << 20, &config, NOW).is_ok());
    }

    #[test]
    fn log_append_time_stamps_the_batch() {
        let config = LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..LogConfig::default()
        };
        // A LogAppendTime log takes any client timestamp: it replaces them.
        let records = batch(1);
        let valid = validate(AppendOrigin::Client, records.clone(), 1 << 20, &config, NOW).unwrap();
        assert_eq!(valid.log_append_time, NOW);
        assert_ne!(valid.records, records);
        let header = &parse_batches(&valid.records).unwrap()[0];
        assert_eq!(header.max_timestamp, NOW);
    }

    #[test]
    fn transactional_batches_pass_and_only_a_coordinator_writes_markers() {
        let config = LogConfig::default();
        let txn = Bytes::from(gregor_storage::batch::build_test_txn_batch(7, 0, 0, 2, NOW));
        assert!(validate(AppendOrigin::Client, txn, 1 << 20, &config, NOW).is_ok());
        // Transactional without a producer id is nonsense.
        let orphan = Bytes::from(gregor_storage::batch::build_test_txn_batch(
            -1, -1, -1, 1, NOW,
        ));
        assert_eq!(
            code(validate(
                AppendOrigin::Client,
                orphan,
                1 << 20,
                &config,
                NOW
            )),
            Some(ResponseError::InvalidRecord)
        );
        let marker = Bytes::from(
            gregor_storage::EndTxnMarker {
                result: gregor_storage::TxnResult::Abort,
                coordinator_epoch: 0,
            }
            .batch(7, 0, NOW),
        );
        assert_eq!(
            code(validate(
                AppendOrigin::Client,
                marker.clone(),
                1 << 20,
                &config,
                NOW
            )),
            Some(ResponseError::InvalidRecord)
        );
        assert!(validate(AppendOrigin::Coordinator, marker, 1 << 20, &config, NOW).is_ok());
    }
}
