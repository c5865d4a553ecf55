//! Writing a batch again after the log cleaner dropped some of its records; Kafka's
//! `MemoryRecords.buildRetainedRecordsInto` (through `MemoryRecordsBuilder`) and
//! `DefaultRecordBatch.writeEmptyHeader`.
//!
//! What survives a rebuild, as in Kafka: the base offset and `lastOffsetDelta` (so the
//! producer's sequence range, which the log reloads its producer state from, stays whole), the
//! leader epoch, the producer id, epoch and base sequence, the codec, the timestamp type and
//! the transactional and control bits; each kept record's offset delta, timestamp as consumers
//! read it, key, value, headers and attributes. What is recomputed: the record count, the base
//! and max timestamps, the length and the CRC.

use crate::batch::{
    write_crc, write_header, BatchHeader, COMPRESSION_MASK, CONTROL_FLAG, DELETE_HORIZON_FLAG,
    HEADER_SIZE, LOG_APPEND_TIME_FLAG, NO_TIMESTAMP, TRANSACTIONAL_FLAG,
};
use crate::compression::compress;
use crate::error::BatchError;
use crate::record::{write_record_parts, Record};

/// The attribute bits a rebuild keeps (Kafka's `computeAttributes` writes only these and the
/// delete-horizon bit, whatever else the original held).
const KEPT_FLAGS: i16 = COMPRESSION_MASK | LOG_APPEND_TIME_FLAG | TRANSACTIONAL_FLAG | CONTROL_FLAG;

/// The batch `original` describes, holding only `retained` (records read from it, in order),
/// recompressed with its codec.
///
/// `baseTimestamp` is the first kept record's timestamp, or `delete_horizon_ms` when given:
/// then attributes bit 6 is set and the record deltas are relative to the horizon (KIP-534),
/// so consumers read the same record timestamps either way. Kafka's cleaner passes the new
/// horizon when the batch holds tombstones or a marker and has none yet, else the original's
/// ([`BatchHeader::delete_horizon_ms`]). `maxTimestamp` is the original's under LogAppendTime,
/// else the largest kept timestamp (at least -1, as Kafka's builder starts there).
///
/// With no record kept this is [`empty_batch`]. Refused for an undefined codec.
pub fn rebuild_batch(
    original: &BatchHeader,
    retained: &[Record<'_>],
    delete_horizon_ms: Option<i64>,
) -> Result<Vec<u8>, BatchError> {
    let Some(first) = retained.first() else {
        return Ok(empty_batch(original));
    };
    let codec = original
        .compression()
        .ok_or(BatchError::Inconsistent("unknown compression codec"))?;
    let base_timestamp = delete_horizon_ms.unwrap_or_else(|| first.timestamp_in(original));
    let mut max_timestamp = NO_TIMESTAMP;
    let mut records = Vec::new();
    for record in retained {
        let timestamp = record.timestamp_in(original);
        max_timestamp = max_timestamp.max(timestamp);
        // Wrapping both ways, as Java's longs do: a reader adds the delta back and gets the
        // timestamp it read before.
        let delta = timestamp.wrapping_sub(base_timestamp);
        write_record_parts(
            &mut records,
            record.attributes,
            delta,
            record.offset_delta,
            record.rest,
        );
    }
    if original.timestamp_type() == crate::TimestampType::LogAppendTime {
        max_timestamp = original.max_timestamp;
    }
    let records = compress(codec, &records)?;
    let mut attributes = original.attributes & KEPT_FLAGS;
    if delete_horizon_ms.is_some() {
        attributes |= DELETE_HORIZON_FLAG;
    }
    let header = BatchHeader {
        size: HEADER_SIZE + records.len(),
        crc: 0,
        attributes,
        base_timestamp,
        max_timestamp,
        record_count: i32::try_from(retained.len()).unwrap_or(i32::MAX),
        ..*original
    };
    let mut batch = Vec::with_capacity(header.size);
    write_header(&mut batch, &header);
    batch.extend_from_slice(&records);
    write_crc(&mut batch);
    Ok(batch)
}

/// The header-only batch Kafka keeps when the cleaner removes every record of a batch whose
/// producer state must survive (the producer's last batch, or a transaction's): no records,
/// the same base offset and `lastOffsetDelta`, leader epoch, producer id, epoch and base
/// sequence, timestamp type and transactional and control bits; no codec, `baseTimestamp` -1
/// and `maxTimestamp` the original's. Kafka's `DefaultRecordBatch.writeEmptyHeader`.
pub fn empty_batch(original: &BatchHeader) -> Vec<u8> {
    let header = BatchHeader {
        size: HEADER_SIZE,
        crc: 0,
        attributes: original.attributes
            & (LOG_APPEND_TIME_FLAG | TRANSACTIONAL_FLAG | CONTROL_FLAG),
        base_timestamp: NO_TIMESTAMP,
        record_count: 0,
        ..*original
    };
    let mut batch = Vec::with_capacity(HEADER_SIZE);
    write_header(&mut batch, &header);
    write_crc(&mut batch);
    batch
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{parse_and_verify, parse_header, ATTRIBUTES};
    use crate::record::{batch_records, put_bytes};
    use crate::varint::write_varlong;
    use crate::{Compression, TimestampType};
    use proptest::prelude::*;

    /// A record as a test writes it and reads it back.
    #[derive(Debug, Clone, PartialEq)]
    struct Rec {
        offset_delta: i64,
        timestamp: i64,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    }

    /// Header fields a test batch starts from.
    fn original(codec: Compression, attributes: i16) -> BatchHeader {
        BatchHeader {
            base_offset: 1_000,
            size: 0,
            partition_leader_epoch: 7,
            crc: 0,
            attributes: attributes | codec.id(),
            last_offset_delta: 0,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: 4_242,
            producer_epoch: 3,
            base_sequence: 99,
            record_count: 0,
        }
    }

    /// A whole batch of `recs` (offset deltas increasing), as a Kafka producer would write it.
    fn build(mut header: BatchHeader, recs: &[Rec]) -> Vec<u8> {
        header.base_timestamp = recs.first().map_or(NO_TIMESTAMP, |r| r.timestamp);
        header.max_timestamp = recs
            .iter()
            .map(|r| r.timestamp)
            .max()
            .unwrap_or(NO_TIMESTAMP);
        header.last_offset_delta = recs.last().map_or(0, |r| r.offset_delta as i32);
        header.record_count = recs.len() as i32;
        let mut body = Vec::new();
        for r in recs {
            let mut rest = Vec::new();
            put_bytes(&mut rest, r.key.as_deref());
            put_bytes(&mut rest, r.value.as_deref());
            write_varlong(&mut rest, r.headers.len() as i64);
            for (k, v) in &r.headers {
                put_bytes(&mut rest, Some(k));
                put_bytes(&mut rest, v.as_deref());
            }
            let delta = r.timestamp - header.base_timestamp;
            write_record_parts(&mut body, 0, delta, r.offset_delta, &rest);
        }
        let body = compress(header.compression().unwrap(), &body).unwrap();
        header.size = HEADER_SIZE + body.len();
        let mut b = Vec::new();
        write_header(&mut b, &header);
        b.extend_from_slice(&body);
        write_crc(&mut b);
        b
    }

    /// Every record of `batch`, read as a consumer would.
    fn read(batch: &[u8]) -> Vec<Rec> {
        let header = parse_and_verify(batch).unwrap();
        let section = batch_records(batch, &header, 1 << 24).unwrap();
        section
            .iter()
            .map(|r| {
                let r = r.unwrap();
                let (key, value) = r.key_value().unwrap();
                Rec {
                    offset_delta: r.offset_delta,
                    timestamp: r.timestamp_in(&header),
                    key: key.map(<[u8]>::to_vec),
                    value: value.map(<[u8]>::to_vec),
                    headers: r
                        .headers()
                        .unwrap()
                        .into_iter()
                        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                        .collect(),
                }
            })
            .collect()
    }

    /// Rebuilds `batch` keeping the records whose index `keep` accepts.
    fn rebuild(batch: &[u8], keep: impl Fn(usize) -> bool, horizon: Option<i64>) -> Vec<u8> {
        let header = parse_header(batch).unwrap();
        let section = batch_records(batch, &header, 1 << 24).unwrap();
        let kept: Vec<Record<'_>> = section
            .iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, r)| r.unwrap())
            .collect();
        rebuild_batch(&header, &kept, horizon).unwrap()
    }

    fn recs(n: i64) -> Vec<Rec> {
        (0..n)
            .map(|i| Rec {
                offset_delta: i,
                timestamp: 5_000 + (i * 37) % 11,
                key: Some(format!("key-{}", i % 3).into_bytes()),
                value: (i % 4 != 3).then(|| vec![b'v'; i as usize * 10]),
                headers: vec![
                    (b"h".to_vec(), Some(i.to_string().into_bytes())),
                    (b"n".to_vec(), None),
                ],
            })
            .collect()
    }

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn kept_records_and_producer_fields_survive() {
        for codec in CODECS {
            let all = recs(10);
            let batch = build(original(codec, TRANSACTIONAL_FLAG), &all);
            let keep = |i: usize| i % 3 == 1; // 1, 4, 7
            let rebuilt = rebuild(&batch, keep, None);
            let (before, after) = (
                parse_and_verify(&batch).unwrap(),
                parse_and_verify(&rebuilt).unwrap(),
            );
            let kept: Vec<Rec> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, r)| r.clone())
                .collect();
            assert_eq!(read(&rebuilt), kept, "{codec}");
            assert_eq!(after.compression(), Some(codec));
            assert_eq!(after.record_count, 3);
            assert_eq!(after.base_timestamp, kept[0].timestamp);
            assert_eq!(
                after.max_timestamp,
                kept.iter().map(|r| r.timestamp).max().unwrap()
            );
            assert_eq!(after.delete_horizon_ms(), None);
            assert_eq!(
                (
                    after.base_offset,
                    after.last_offset_delta,
                    after.partition_leader_epoch,
                    after.attributes
                ),
                (
                    before.base_offset,
                    before.last_offset_delta,
                    before.partition_leader_epoch,
                    before.attributes
                )
            );
            assert_eq!(
                (after.producer_id, after.producer_epoch, after.base_sequence),
                (4_242, 3, 99)
            );
        }
    }

    #[test]
    fn a_delete_horizon_moves_the_base_timestamp_not_the_records() {
        for codec in CODECS {
            let all = recs(6);
            let batch = build(original(codec, 0), &all);
            let rebuilt = rebuild(&batch, |i| i != 0, Some(9_000));
            let header = parse_and_verify(&rebuilt).unwrap();
            assert_eq!(header.delete_horizon_ms(), Some(9_000));
            assert_eq!(header.base_timestamp, 9_000);
            assert_eq!(header.attributes & DELETE_HORIZON_FLAG, DELETE_HORIZON_FLAG);
            assert_eq!(read(&rebuilt), all[1..].to_vec(), "{codec}");
            assert_eq!(
                header.max_timestamp,
                all[1..].iter().map(|r| r.timestamp).max().unwrap()
            );
            // Rebuilt again, keeping the horizon as Kafka's cleaner does: still the same records.
            let again = rebuild(&rebuilt, |i| i % 2 == 0, header.delete_horizon_ms());
            assert_eq!(
                parse_and_verify(&again).unwrap().delete_horizon_ms(),
                Some(9_000)
            );
            let expect: Vec<Rec> = all[1..].iter().step_by(2).cloned().collect();
            assert_eq!(read(&again), expect);
        }
    }

    #[test]
    fn log_append_time_keeps_the_broker_timestamp() {
        let mut batch = build(original(Compression::Lz4, 0), &recs(4));
        crate::batch::set_log_append_time(&mut batch, 77_777).unwrap();
        let rebuilt = rebuild(&batch, |i| i >= 2, None);
        let header = parse_and_verify(&rebuilt).unwrap();
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(
            (header.base_timestamp, header.max_timestamp),
            (77_777, 77_777)
        );
        assert!(read(&rebuilt).iter().all(|r| r.timestamp == 77_777));
    }

    #[test]
    fn an_emptied_batch_keeps_the_producer_state() {
        let batch = build(
            original(Compression::Zstd, TRANSACTIONAL_FLAG | LOG_APPEND_TIME_FLAG),
            &recs(5),
        );
        let before = parse_header(&batch).unwrap();
        for empty in [empty_batch(&before), rebuild(&batch, |_| false, Some(1))] {
            let h = parse_and_verify(&empty).unwrap();
            assert_eq!(empty.len(), HEADER_SIZE);
            assert_eq!(
                (
                    h.base_offset,
                    h.last_offset_delta,
                    h.record_count,
                    h.base_timestamp,
                    h.max_timestamp
                ),
                (1_000, 4, 0, NO_TIMESTAMP, before.max_timestamp)
            );
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (4_242, 3, 99)
            );
            assert_eq!(h.compression(), Some(Compression::None));
            assert!(h.is_transactional() && h.timestamp_type() == TimestampType::LogAppendTime);
            assert_eq!(h.partition_leader_epoch, 7);
            assert_eq!(batch_records(&empty, &h, 0).unwrap().iter().count(), 0);
        }
    }

    #[test]
    fn unused_attribute_bits_are_dropped_as_kafka_does() {
        let mut batch = build(original(Compression::None, CONTROL_FLAG), &recs(2));
        batch[ATTRIBUTES] |= 0x01; // bit 8
        write_crc(&mut batch);
        let rebuilt = rebuild(&batch, |_| true, None);
        assert_eq!(parse_header(&rebuilt).unwrap().attributes, CONTROL_FLAG);
    }

    fn arb_recs() -> impl Strategy<Value = Vec<Rec>> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40);
        proptest::collection::vec(
            (
                1..5i64,
                0..1_000_000i64,
                proptest::option::of(bytes()),
                proptest::option::of(bytes()),
                proptest::collection::vec((bytes(), proptest::option::of(bytes())), 0..3),
            ),
            1..30,
        )
        .prop_map(|raw| {
            let mut offset = -1;
            raw.into_iter()
                .map(|(gap, timestamp, key, value, headers)| {
                    offset += gap; // compaction leaves holes in the offsets
                    Rec {
                        offset_delta: offset,
                        timestamp: 1_700_000_000_000 + timestamp,
                        key,
                        value,
                        headers,
                    }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn rebuilds_keep_what_they_keep(
            codec in 0..5i16,
            all in arb_recs(),
            keep in proptest::collection::vec(any::<bool>(), 30),
            horizon in proptest::option::of(0..2_000_000_000_000i64),
        ) {
            let codec = Compression::from_id(codec).unwrap();
            let batch = build(original(codec, 0), &all);
            let before = parse_header(&batch).unwrap();
            let rebuilt = rebuild(&batch, |i| keep[i], horizon);
            let after = parse_and_verify(&rebuilt).unwrap();
            let kept: Vec<Rec> = all.iter().zip(&keep).filter(|(_, k)| **k).map(|(r, _)| r.clone()).collect();
            prop_assert_eq!(read(&rebuilt), kept.clone());
            prop_assert_eq!(after.record_count as usize, kept.len());
            prop_assert_eq!(after.last_offset_delta, before.last_offset_delta);
            prop_assert_eq!((after.producer_id, after.producer_epoch, after.base_sequence), (4_242, 3, 99));
            if !kept.is_empty() {
                prop_assert_eq!(after.compression(), Some(codec));
                prop_assert_eq!(after.delete_horizon_ms(), horizon);
                prop_assert_eq!(after.max_timestamp, kept.iter().map(|r| r.timestamp).max().unwrap());
            }
        }
    }
}
