//! A view of the v2 record-batch header, batch iteration over a buffer, CRC verification and
//! the in-place rewrites the broker does (base offset, LogAppendTime); Kafka's
//! `DefaultRecordBatch`.
//!
//! Two levels of checking, for the two kinds of caller:
//! - [`parse_header`] / [`parse_and_verify`]: the structure (length, magic, offset delta) and,
//!   optionally, the CRC. What the log needs to walk its segments and to recover them.
//! - [`parse_batch`] / [`parse_batches`]: everything a produced batch must satisfy before the
//!   log takes it (CRC, counts, codec, enough bytes for the records), read from the header only.

use crate::error::BatchError;

/// Offset of `baseOffset` (i64) in a batch.
pub const BASE_OFFSET: usize = 0;
/// Offset of `batchLength` (i32): the number of bytes that follow this field.
pub const LENGTH: usize = 8;
/// Offset of `partitionLeaderEpoch` (i32).
pub const PARTITION_LEADER_EPOCH: usize = 12;
/// Offset of `magic` (i8).
pub const MAGIC: usize = 16;
/// Offset of `crc` (u32): CRC32C of everything from `attributes` to the end of the batch.
pub const CRC: usize = 17;
/// Offset of `attributes` (i16).
pub const ATTRIBUTES: usize = 21;
/// Offset of `lastOffsetDelta` (i32).
pub const LAST_OFFSET_DELTA: usize = 23;
/// Offset of `baseTimestamp` (i64).
pub const BASE_TIMESTAMP: usize = 27;
/// Offset of `maxTimestamp` (i64).
pub const MAX_TIMESTAMP: usize = 35;
/// Offset of `producerId` (i64).
pub const PRODUCER_ID: usize = 43;
/// Offset of `producerEpoch` (i16).
pub const PRODUCER_EPOCH: usize = 51;
/// Offset of `baseSequence` (i32).
pub const BASE_SEQUENCE: usize = 53;
/// Offset of `recordCount` (i32).
pub const RECORD_COUNT: usize = 57;
/// Size of the fixed batch header; records follow it.
pub const HEADER_SIZE: usize = 61;
/// Bytes before the CRC-covered part and outside `batchLength`: base offset and length.
pub const LOG_OVERHEAD: usize = 12;
/// The only magic (format version) Gregor reads and writes.
pub const MAGIC_V2: i8 = 2;

/// Attributes bits 0-2: the compression codec.
pub const COMPRESSION_MASK: i16 = 0x07;
/// Attributes bit 3: LogAppendTime (every record's timestamp is the batch's max timestamp).
pub const LOG_APPEND_TIME_FLAG: i16 = 0x08;
/// Attributes bit 4: the batch belongs to a transaction.
pub const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attributes bit 5: a control batch (transaction markers), see [`crate::control`].
pub const CONTROL_FLAG: i16 = 0x20;
/// Attributes bit 6: `baseTimestamp` holds the delete horizon the cleaner set (KIP-534), and
/// the record timestamp deltas are relative to it.
pub const DELETE_HORIZON_FLAG: i16 = 0x40;
/// `baseTimestamp` of a batch with no records (Kafka's `RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;

/// The compression codec of a batch (attributes bits 0-2); Kafka's `CompressionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Id 0: records in the clear.
    None,
    /// Id 1.
    Gzip,
    /// Id 2.
    Snappy,
    /// Id 3.
    Lz4,
    /// Id 4.
    Zstd,
}

impl Compression {
    /// The codec with wire id `id`, `None` for an id Kafka does not define (5-7).
    pub fn from_id(id: i16) -> Option<Compression> {
        Some(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }

    /// The wire id (attributes bits 0-2).
    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's name for the codec (`compression.type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl std::fmt::Display for Compression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whose clock a batch's timestamps come from (attributes bit 3); Kafka's `TimestampType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// The producer's (each record carries its own).
    CreateTime,
    /// The broker's at append: the batch's max timestamp stands for every record.
    LogAppendTime,
}

/// The fixed header of one v2 batch.
///
/// Layout (61 bytes, big-endian): baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 |
/// magic i8 | crc u32 | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 |
/// maxTimestamp i64 | producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32,
/// then the records. The CRC (CRC32C) covers attributes to the end of the batch, so the base
/// offset and the leader epoch can be rewritten without recomputing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record (as sent by a producer until the log rewrites it).
    pub base_offset: i64,
    /// Whole size of the batch in bytes, `LOG_OVERHEAD + batchLength`.
    pub size: usize,
    /// The leader epoch the batch was appended in (always 0 on a single node).
    pub partition_leader_epoch: i32,
    /// The stored CRC.
    pub crc: u32,
    /// Compression (bits 0-2), timestamp type (bit 3), transactional (bit 4), control (bit 5),
    /// delete horizon set (bit 6).
    pub attributes: i16,
    /// Offset of the last record relative to the first.
    pub last_offset_delta: i32,
    /// Timestamp of the first record, or the delete horizon when attributes bit 6 is set;
    /// record timestamps are deltas from it either way.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records, as the header says (not checked against the records).
    pub record_count: i32,
}

impl BatchHeader {
    /// The compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd; 5-7 undefined).
    pub fn compression_id(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    /// The compression codec, `None` for an undefined id.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_id(self.compression_id())
    }

    /// Whether the records are compressed (or use an undefined codec): then only the cleaner
    /// reads them, through [`crate::record::batch_records`].
    pub fn is_compressed(&self) -> bool {
        self.compression_id() != 0
    }

    /// Whose clock the timestamps come from.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & LOG_APPEND_TIME_FLAG != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    /// Whether the batch is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    /// The time after which the cleaner may remove this batch's tombstones and transaction
    /// markers (KIP-534), when it has set one (attributes bit 6); Kafka's
    /// `RecordBatch.deleteHorizonMs`.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_FLAG != 0).then_some(self.base_timestamp)
    }

    /// Offset of the last record in the batch. Saturating: the base offset is outside the CRC,
    /// so a damaged file can hold any value there.
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Offset just past the batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }
}

/// `N` bytes at `at`; the callers have checked `buf` holds a whole header.
fn be<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

/// The header fields, after checking only what locating the batch needs: a whole header, a
/// plausible length, magic 2, and all `size` bytes present.
fn read_header(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    if buf.len() < HEADER_SIZE {
        return Err(BatchError::Truncated);
    }
    let length = i32::from_be_bytes(be(buf, LENGTH));
    if length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength(length));
    }
    let magic = buf[MAGIC] as i8;
    if magic != MAGIC_V2 {
        return Err(BatchError::BadMagic(magic));
    }
    let size = LOG_OVERHEAD + length as usize;
    if buf.len() < size {
        return Err(BatchError::Truncated);
    }
    Ok(BatchHeader {
        base_offset: i64::from_be_bytes(be(buf, BASE_OFFSET)),
        size,
        partition_leader_epoch: i32::from_be_bytes(be(buf, PARTITION_LEADER_EPOCH)),
        crc: u32::from_be_bytes(be(buf, CRC)),
        attributes: i16::from_be_bytes(be(buf, ATTRIBUTES)),
        last_offset_delta: i32::from_be_bytes(be(buf, LAST_OFFSET_DELTA)),
        base_timestamp: i64::from_be_bytes(be(buf, BASE_TIMESTAMP)),
        max_timestamp: i64::from_be_bytes(be(buf, MAX_TIMESTAMP)),
        producer_id: i64::from_be_bytes(be(buf, PRODUCER_ID)),
        producer_epoch: i16::from_be_bytes(be(buf, PRODUCER_EPOCH)),
        base_sequence: i32::from_be_bytes(be(buf, BASE_SEQUENCE)),
        record_count: i32::from_be_bytes(be(buf, RECORD_COUNT)),
    })
}

/// Appends the 61-byte header `header` describes, with a zero CRC: the caller appends the
/// records (`header.size - HEADER_SIZE` bytes) and then calls [`write_crc`].
pub(crate) fn write_header(out: &mut Vec<u8>, header: &BatchHeader) {
    let length = header.size.saturating_sub(LOG_OVERHEAD);
    out.extend_from_slice(&header.base_offset.to_be_bytes());
    out.extend_from_slice(&i32::try_from(length).unwrap_or(i32::MAX).to_be_bytes());
    out.extend_from_slice(&header.partition_leader_epoch.to_be_bytes());
    out.push(MAGIC_V2 as u8);
    out.extend_from_slice(&[0; 4]); // crc, written last
    out.extend_from_slice(&header.attributes.to_be_bytes());
    out.extend_from_slice(&header.last_offset_delta.to_be_bytes());
    out.extend_from_slice(&header.base_timestamp.to_be_bytes());
    out.extend_from_slice(&header.max_timestamp.to_be_bytes());
    out.extend_from_slice(&header.producer_id.to_be_bytes());
    out.extend_from_slice(&header.producer_epoch.to_be_bytes());
    out.extend_from_slice(&header.base_sequence.to_be_bytes());
    out.extend_from_slice(&header.record_count.to_be_bytes());
}

/// Whether the CRC of the batch `header` describes, at the start of `buf`, matches its bytes.
fn crc_matches(buf: &[u8], header: &BatchHeader) -> bool {
    crc32c::crc32c(&buf[ATTRIBUTES..header.size]) == header.crc
}

/// Reads the header of the batch at the start of `buf`, checking that the whole batch is there
/// and its offset delta is not negative; the CRC is not checked (see [`parse_and_verify`]).
pub fn parse_header(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = read_header(buf)?;
    if header.last_offset_delta < 0 {
        return Err(BatchError::Inconsistent("negative last offset delta"));
    }
    Ok(header)
}

/// [`parse_header`], then the CRC: what recovery trusts.
pub fn parse_and_verify(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse_header(buf)?;
    if !crc_matches(buf, &header) {
        return Err(BatchError::BadCrc);
    }
    Ok(header)
}

/// Reads and checks the batch at the start of `buf` as a produced batch must be (Kafka's
/// `LogValidator` checks that need no decompression): the structure, the CRC, non-negative
/// counts, at least one record unless a control batch, a defined codec, and for an uncompressed
/// batch at least one byte per record.
pub fn parse_batch(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = read_header(buf)?;
    if !crc_matches(buf, &header) {
        return Err(BatchError::BadCrc);
    }
    if header.record_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::Inconsistent(
            "negative record count or offset delta",
        ));
    }
    if header.record_count == 0 && !header.is_control() {
        return Err(BatchError::Inconsistent("empty batch"));
    }
    if header.compression().is_none() {
        return Err(BatchError::Inconsistent("unknown compression codec"));
    }
    // An uncompressed batch carries its records in the clear: each needs at least a byte.
    if !header.is_compressed() && header.record_count as usize > header.size - HEADER_SIZE {
        return Err(BatchError::Inconsistent("more records than bytes"));
    }
    Ok(header)
}

/// [`parse_batch`] on every batch of a produced records buffer, which must hold at least one;
/// their headers in order.
pub fn parse_batches(mut buf: &[u8]) -> Result<Vec<BatchHeader>, BatchError> {
    let mut out = Vec::new();
    if buf.is_empty() {
        return Err(BatchError::Truncated);
    }
    while !buf.is_empty() {
        let header = parse_batch(buf)?;
        buf = &buf[header.size..];
        out.push(header);
    }
    Ok(out)
}

/// The headers ([`parse_header`]) of consecutive batches in `buf`, with the position of each;
/// the first error ends the walk. No CRC check: the log walks its own, already verified bytes.
pub fn headers(buf: &[u8]) -> impl Iterator<Item = Result<(usize, BatchHeader), BatchError>> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        match parse_header(&buf[pos..]) {
            Ok(h) => {
                let at = pos;
                pos += h.size;
                Some(Ok((at, h)))
            }
            Err(e) => {
                pos = buf.len();
                Some(Err(e))
            }
        }
    })
}

/// Recomputes the CRC of `batch`, a whole batch (its length is not checked), after a rewrite
/// of the bytes the CRC covers. Does nothing to fewer bytes than a header.
pub fn write_crc(batch: &mut [u8]) {
    if batch.len() < HEADER_SIZE {
        return;
    }
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Overwrites the base offset of the batch at the start of `buf` (the CRC does not cover it).
/// Does nothing to fewer bytes than a header.
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    if buf.len() < HEADER_SIZE {
        return;
    }
    buf[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Stamps every batch in `records` with the broker's time, as a topic with
/// `message.timestamp.type=LogAppendTime` requires: the timestamp-type attribute bit is set, the
/// max timestamp becomes `now_ms`, and the CRC is recomputed. Per batch, never per record: with
/// that bit set, consumers take every record's timestamp from the batch.
pub fn set_log_append_time(records: &mut [u8], now_ms: i64) -> Result<(), BatchError> {
    let mut pos = 0;
    while pos < records.len() {
        let header = parse_batch(&records[pos..])?;
        let batch = &mut records[pos..pos + header.size];
        let attributes = header.attributes | LOG_APPEND_TIME_FLAG;
        batch[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        batch[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
        write_crc(batch);
        pos += header.size;
    }
    Ok(())
}

/// Sets the producer id, epoch and base sequence of the whole batch `batch`, fixing its CRC
/// (tests and tools that play an idempotent producer). Does nothing to fewer bytes than a
/// header.
pub fn set_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    if batch.len() < HEADER_SIZE {
        return;
    }
    batch[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
    batch[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    write_crc(batch);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::BatchBuilder;
    use proptest::prelude::*;

    /// A valid uncompressed batch of `count` records with 8-byte values.
    fn batch(count: i32) -> Vec<u8> {
        let mut b = BatchBuilder::new(1000);
        for i in 0..count {
            b.append(1000 + i64::from(i), None, Some(&[1u8; 8]));
        }
        let mut batch = b.build();
        set_producer(&mut batch, 7, 1, 42);
        batch
    }

    #[test]
    fn reads_header_fields() {
        let b = batch(3);
        let h = parse_batch(&b).unwrap();
        assert_eq!(
            (
                h.size,
                h.record_count,
                h.last_offset_delta,
                h.producer_id,
                h.producer_epoch,
                h.base_sequence,
                h.base_timestamp,
                h.max_timestamp,
            ),
            (b.len(), 3, 2, 7, 1, 42, 1000, 1002)
        );
        assert_eq!(parse_and_verify(&b), Ok(h));
        assert_eq!(h.compression(), Some(Compression::None));
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
        assert!(!h.is_transactional() && !h.is_control());
        let mut two = b.clone();
        two.extend_from_slice(&batch(1));
        assert_eq!(parse_batches(&two).unwrap().len(), 2);
        let positions: Vec<usize> = headers(&two).map(|h| h.unwrap().0).collect();
        assert_eq!(positions, vec![0, b.len()]);
    }

    #[test]
    fn damage_is_detected() {
        let b = batch(3);
        assert_eq!(parse_header(&b[..b.len() - 1]), Err(BatchError::Truncated));
        let mut c = b.clone();
        let last = c.len() - 1;
        c[last] ^= 1;
        assert_eq!(parse_and_verify(&c), Err(BatchError::BadCrc));
        assert_eq!(parse_batch(&c), Err(BatchError::BadCrc));
        let mut m = b.clone();
        m[MAGIC] = 1;
        assert_eq!(parse_header(&m), Err(BatchError::BadMagic(1)));
        assert_eq!(parse_header(&[0u8; 80]), Err(BatchError::BadLength(0)));
    }

    #[test]
    fn base_offset_rewrite_keeps_crc() {
        let mut b = batch(3);
        set_base_offset(&mut b, 77);
        assert_eq!(parse_and_verify(&b).unwrap().base_offset, 77);
        let h = parse_header(&b).unwrap();
        assert_eq!((h.last_offset(), h.next_offset()), (79, 80));
    }

    #[test]
    fn stamping_keeps_the_batch_valid() {
        let mut b = batch(2);
        set_log_append_time(&mut b, 1234).unwrap();
        let h = parse_batch(&b).unwrap();
        assert_eq!(h.max_timestamp, 1234);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    }

    #[test]
    fn a_damaged_base_offset_saturates() {
        let mut b = batch(2);
        set_base_offset(&mut b, i64::MAX - 1);
        assert_eq!(parse_header(&b).unwrap().next_offset(), i64::MAX);
    }

    #[test]
    fn produced_batches_are_checked_beyond_the_structure() {
        let mut empty = BatchBuilder::new(0).build();
        assert!(parse_and_verify(&empty).is_ok(), "the log can walk it");
        assert_eq!(
            parse_batch(&empty),
            Err(BatchError::Inconsistent("empty batch"))
        );
        // A control batch may be empty.
        empty[ATTRIBUTES + 1] |= CONTROL_FLAG as u8;
        write_crc(&mut empty);
        assert!(parse_batch(&empty).unwrap().is_control());
        let mut codec = batch(1);
        codec[ATTRIBUTES + 1] |= 0x05;
        write_crc(&mut codec);
        assert_eq!(
            parse_batch(&codec),
            Err(BatchError::Inconsistent("unknown compression codec"))
        );
    }

    proptest! {
        #[test]
        fn any_single_byte_change_under_the_crc_is_caught(count in 1..20i32, at in any::<usize>(), flip in 1..=255u8) {
            let mut b = batch(count);
            let pos = MAGIC + at % (b.len() - MAGIC);
            b[pos] ^= flip;
            prop_assert!(parse_batch(&b).is_err());
            prop_assert!(parse_and_verify(&b).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_batches(&bytes);
            let _ = headers(&bytes).count();
            let mut copy = bytes.clone();
            let _ = set_log_append_time(&mut copy, 1);
            set_base_offset(&mut copy, 1);
            set_producer(&mut copy, 1, 1, 1);
        }

        #[test]
        fn truncation_is_caught(count in 1..20i32, cut in any::<usize>()) {
            let b = batch(count);
            let len = cut % b.len();
            prop_assert!(parse_batches(&b[..len]).is_err());
            prop_assert!(parse_header(&b[..len]).is_err());
        }
    }
}
