//! What the log reads from record batches beyond their headers: the timestamp lookups over the
//! records of an uncompressed batch (ListOffsets by timestamp and MAX_TIMESTAMP; Kafka's
//! `LogSegment.findOffsetByTimestamp` and `RecordBatch.offsetOfMaxTimestamp`), plus test
//! batches. The v2 header view itself is `gregor-record`'s (re-exported here for the log and its
//! tests). Full validation of produced batches happens before `append`; the log trusts what it
//! is given but re-checks the structure and CRC on recovery.

pub use gregor_record::batch::{
    headers, parse_and_verify, parse_header, set_base_offset, BatchHeader, ATTRIBUTES, CRC,
    HEADER_SIZE, LENGTH, LOG_OVERHEAD,
};
pub use gregor_record::BatchError;
use gregor_record::{record::records, BatchBuilder, TimestampType};

/// For an uncompressed batch, the timestamp and offset of the first record at or above
/// `min_offset` whose timestamp is at least `target`. `None` when the batch is compressed (the
/// log never decompresses), malformed, or has no such record.
pub fn first_offset_at_or_after(batch: &[u8], target: i64, min_offset: i64) -> Option<(i64, i64)> {
    let header = parse_header(batch).ok()?;
    for record in records(batch, &header).ok()? {
        let record = record.ok()?;
        // Producers choose the deltas and appends do not check them: one outside the batch's
        // range says nothing trustworthy (and base + delta could overflow).
        if !(0..=i64::from(header.last_offset_delta)).contains(&record.offset_delta) {
            return None;
        }
        let timestamp = record.timestamp(header.base_timestamp)?;
        let offset = record.offset(header.base_offset)?;
        if timestamp >= target && offset >= min_offset {
            return Some((timestamp, offset));
        }
    }
    None
}

/// The offset of the first record whose timestamp is the batch's max timestamp (Kafka's
/// `RecordBatch.offsetOfMaxTimestamp`). In a LogAppendTime batch every record has the batch's
/// timestamp, so that is the first record. `None` when the batch is compressed (the log never
/// decompresses), malformed, or no record has the max timestamp.
pub fn offset_of_max_timestamp(batch: &[u8]) -> Option<i64> {
    let header = parse_header(batch).ok()?;
    if header.timestamp_type() == TimestampType::LogAppendTime {
        return Some(header.base_offset);
    }
    if header.is_compressed() {
        return None;
    }
    first_offset_at_or_after(batch, header.max_timestamp, header.base_offset)
        .filter(|(timestamp, _)| *timestamp == header.max_timestamp)
        .map(|(_, offset)| offset)
}

/// Builds valid v2 batches for tests and benchmarks (uncompressed, `count` records of `value_len`
/// bytes, timestamps starting at `timestamp`).
pub fn build_test_batch(count: i32, value_len: usize, timestamp: i64) -> Vec<u8> {
    let value = vec![b'v'; value_len];
    let mut builder = BatchBuilder::new(timestamp);
    for i in 0..count {
        builder.append(timestamp + i64::from(i), None, Some(&value));
    }
    builder.build()
}

/// Sets the producer id, epoch and base sequence of a batch built for tests, fixing its CRC.
pub fn set_test_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    gregor_record::batch::set_producer(batch, producer_id, epoch, base_sequence);
}

/// A test batch of `count` records from transactional producer `producer_id` at `epoch`,
/// sequences from `base_sequence` (attributes bit 4 set, CRC fixed).
pub fn build_test_txn_batch(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    count: i32,
    timestamp: i64,
) -> Vec<u8> {
    let mut batch = build_test_batch(count, 10, timestamp);
    let attributes = i16::from_be_bytes([batch[ATTRIBUTES], batch[ATTRIBUTES + 1]])
        | gregor_record::batch::TRANSACTIONAL_FLAG;
    batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    set_test_producer(&mut batch, producer_id, epoch, base_sequence);
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_record::batch::write_crc;
    use gregor_record::record::write_record;

    #[test]
    fn built_batches_parse_and_verify() {
        let b = build_test_batch(5, 10, 1000);
        let h = parse_and_verify(&b).unwrap();
        assert_eq!(h.size, b.len());
        assert_eq!(h.last_offset_delta, 4);
        assert_eq!(h.max_timestamp, 1004);
        assert_eq!(first_offset_at_or_after(&b, 1002, 0), Some((1002, 2)));
        assert_eq!(first_offset_at_or_after(&b, 1002, 3), Some((1003, 3)));
        assert_eq!(first_offset_at_or_after(&b, 2000, 0), None);
        assert_eq!(offset_of_max_timestamp(&b), Some(4));
    }

    /// One uncompressed record whose offset delta is `offset_delta`, in a batch at `base_offset`.
    fn batch_with_offset_delta(base_offset: i64, offset_delta: i64) -> Vec<u8> {
        let mut b = build_test_batch(1, 0, 1000);
        b.truncate(HEADER_SIZE);
        write_record(&mut b, 0, offset_delta, None, None);
        let length = (b.len() - LOG_OVERHEAD) as i32;
        b[LENGTH..LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        set_base_offset(&mut b, base_offset);
        write_crc(&mut b);
        b
    }

    /// A producer chooses the offset deltas of its records and the log does not check them on
    /// append: a delta of i64::MAX at base offset 5 overflowed (a panic in debug builds, a
    /// wrapped offset in release) when ListOffsets looked the record up by timestamp.
    #[test]
    fn record_offset_deltas_outside_the_batch_are_not_trusted() {
        let b = batch_with_offset_delta(5, i64::MAX);
        assert!(parse_and_verify(&b).is_ok());
        assert_eq!(first_offset_at_or_after(&b, 0, 0), None);
        let b = batch_with_offset_delta(5, -3);
        assert_eq!(first_offset_at_or_after(&b, 0, 0), None);
        let b = batch_with_offset_delta(5, 0);
        assert_eq!(first_offset_at_or_after(&b, 0, 0), Some((1000, 5)));
        // A damaged base offset (outside the CRC) near i64::MAX.
        let h = parse_header(&batch_with_offset_delta(i64::MAX - 1, 0)).unwrap();
        assert_eq!(h.next_offset(), i64::MAX);
    }

    #[test]
    fn damage_is_detected() {
        let b = build_test_batch(3, 10, 0);
        assert_eq!(parse_header(&b[..b.len() - 1]), Err(BatchError::Truncated));
        let mut c = b.clone();
        let last = c.len() - 1;
        c[last] ^= 1;
        assert_eq!(parse_and_verify(&c), Err(BatchError::BadCrc));
        let mut m = b.clone();
        m[gregor_record::batch::MAGIC] = 1;
        assert_eq!(parse_header(&m), Err(BatchError::BadMagic(1)));
        assert_eq!(parse_header(&[0u8; 80]), Err(BatchError::BadLength(0)));
    }

    #[test]
    fn base_offset_rewrite_keeps_crc() {
        let mut b = build_test_batch(3, 10, 0);
        set_base_offset(&mut b, 77);
        assert_eq!(parse_and_verify(&b).unwrap().base_offset, 77);
    }
}
