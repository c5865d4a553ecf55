//! The little of Kafka's v2 record-batch format the log needs: header fields, the CRC, and a walk
//! over uncompressed records for timestamp lookups. Full validation of produced batches is the
//! protocol crate's job; the log trusts what `append` is given but re-checks everything on
//! recovery.

/// Offset of `baseOffset` (i64) in a batch.
pub const BASE_OFFSET: usize = 0;
/// Offset of `batchLength` (i32): the number of bytes that follow this field.
pub const LENGTH: usize = 8;
/// Offset of `magic` (i8).
pub const MAGIC: usize = 16;
/// Offset of `crc` (u32): CRC32C of everything from `attributes` to the end of the batch.
pub const CRC: usize = 17;
/// Offset of `attributes` (i16).
pub const ATTRIBUTES: usize = 21;
/// The attributes bit that marks a LogAppendTime batch (its timestamp is the broker's).
pub const LOG_APPEND_TIME_FLAG: i16 = 0x08;
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

/// Why a sequence of bytes is not a whole v2 batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the header or than `batchLength` says.
    Truncated,
    /// `batchLength` is smaller than a header.
    BadLength,
    /// Not magic 2.
    BadMagic,
    /// The CRC does not match.
    BadCrc,
    /// `lastOffsetDelta` is negative.
    BadOffsetDelta,
}

impl BatchError {
    /// A short description for logs and errors.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchError::Truncated => "truncated batch",
            BatchError::BadLength => "batch length smaller than a header",
            BatchError::BadMagic => "magic is not 2",
            BatchError::BadCrc => "CRC mismatch",
            BatchError::BadOffsetDelta => "negative last offset delta",
        }
    }
}

/// The header fields of one batch the log uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Whole size of the batch in bytes, `LOG_OVERHEAD + batchLength`.
    pub size: usize,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// The largest record timestamp in the batch.
    pub max_timestamp: i64,
    /// The batch attributes (compression in bits 0-2).
    pub attributes: i16,
    /// The idempotent producer's id, -1 for none.
    pub producer_id: i64,
    /// The producer's epoch.
    pub producer_epoch: i16,
    /// Sequence number of the first record.
    pub base_sequence: i32,
}

impl BatchHeader {
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

fn i16_at(buf: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([buf[at], buf[at + 1]])
}

fn i32_at(buf: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn i64_at(buf: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the header of the batch at the start of `buf`, checking that the whole batch is there.
pub fn parse_header(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    if buf.len() < HEADER_SIZE {
        return Err(BatchError::Truncated);
    }
    let length = i32_at(buf, LENGTH);
    if length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength);
    }
    if buf[MAGIC] != 2 {
        return Err(BatchError::BadMagic);
    }
    let size = LOG_OVERHEAD + length as usize;
    if buf.len() < size {
        return Err(BatchError::Truncated);
    }
    let last_offset_delta = i32_at(buf, LAST_OFFSET_DELTA);
    if last_offset_delta < 0 {
        return Err(BatchError::BadOffsetDelta);
    }
    Ok(BatchHeader {
        base_offset: i64_at(buf, BASE_OFFSET),
        size,
        last_offset_delta,
        max_timestamp: i64_at(buf, MAX_TIMESTAMP),
        attributes: i16_at(buf, ATTRIBUTES),
        producer_id: i64_at(buf, PRODUCER_ID),
        producer_epoch: i16_at(buf, PRODUCER_EPOCH),
        base_sequence: i32_at(buf, BASE_SEQUENCE),
    })
}

/// Reads the header and verifies the CRC of the batch at the start of `buf`.
pub fn parse_and_verify(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = parse_header(buf)?;
    let stored = u32::from_be_bytes(buf[CRC..CRC + 4].try_into().expect("4 bytes"));
    if crc32c::crc32c(&buf[ATTRIBUTES..header.size]) != stored {
        return Err(BatchError::BadCrc);
    }
    Ok(header)
}

/// Overwrites the base offset of the batch at the start of `buf` (the CRC does not cover it).
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// The headers of consecutive batches in `buf`, with the position of each.
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

/// Reads a zig-zag varint (Kafka's record field encoding) at `*pos`, advancing it.
fn read_varlong(buf: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(((value >> 1) as i64) ^ -((value & 1) as i64));
        }
    }
    None
}

/// For an uncompressed batch, the timestamp and offset of the first record at or above
/// `min_offset` whose timestamp is at least `target`. `None` when the batch is compressed (the
/// log never decompresses), malformed, or has no such record.
pub fn first_offset_at_or_after(batch: &[u8], target: i64, min_offset: i64) -> Option<(i64, i64)> {
    let header = parse_header(batch).ok()?;
    if header.attributes & 0x07 != 0 {
        return None;
    }
    let base_timestamp = i64_at(batch, BASE_TIMESTAMP);
    let count = i32_at(batch, RECORD_COUNT);
    let mut pos = HEADER_SIZE;
    for _ in 0..count {
        let length = read_varlong(batch, &mut pos)?;
        let record_start = pos;
        pos += 1; // attributes
        let timestamp_delta = read_varlong(batch, &mut pos)?;
        let offset_delta = read_varlong(batch, &mut pos)?;
        // Producers choose the deltas and appends do not check them: one outside the batch's
        // range says nothing trustworthy (and base + delta could overflow).
        if !(0..=i64::from(header.last_offset_delta)).contains(&offset_delta) {
            return None;
        }
        let timestamp = base_timestamp.checked_add(timestamp_delta)?;
        let offset = header.base_offset.checked_add(offset_delta)?;
        if timestamp >= target && offset >= min_offset {
            return Some((timestamp, offset));
        }
        pos = record_start.checked_add(usize::try_from(length).ok()?)?;
    }
    None
}

/// The offset of the first record whose timestamp is the batch's max timestamp (Kafka's
/// `RecordBatch.offsetOfMaxTimestamp`). In a LogAppendTime batch every record has the batch's
/// timestamp, so that is the first record. `None` when the batch is compressed (the log never
/// decompresses), malformed, or no record has the max timestamp.
pub fn offset_of_max_timestamp(batch: &[u8]) -> Option<i64> {
    let header = parse_header(batch).ok()?;
    if header.attributes & LOG_APPEND_TIME_FLAG != 0 {
        return Some(header.base_offset);
    }
    if header.attributes & 0x07 != 0 {
        return None;
    }
    first_offset_at_or_after(batch, header.max_timestamp, header.base_offset)
        .filter(|(timestamp, _)| *timestamp == header.max_timestamp)
        .map(|(_, offset)| offset)
}

/// Builds valid v2 batches for tests and benchmarks (uncompressed, `count` records of `value_len`
/// bytes, timestamps starting at `timestamp`).
pub fn build_test_batch(count: i32, value_len: usize, timestamp: i64) -> Vec<u8> {
    fn put_varlong(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    let mut records = Vec::new();
    for i in 0..count {
        let mut body = vec![0u8]; // attributes
        put_varlong(&mut body, i64::from(i)); // timestamp delta
        put_varlong(&mut body, i64::from(i)); // offset delta
        put_varlong(&mut body, -1); // null key
        put_varlong(&mut body, value_len as i64);
        body.extend(std::iter::repeat_n(b'v', value_len));
        put_varlong(&mut body, 0); // no headers
        put_varlong(&mut records, body.len() as i64);
        records.extend_from_slice(&body);
    }
    let mut batch = Vec::with_capacity(HEADER_SIZE + records.len());
    batch.extend_from_slice(&0i64.to_be_bytes());
    batch.extend_from_slice(&((HEADER_SIZE - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes()); // partition leader epoch
    batch.push(2);
    batch.extend_from_slice(&0u32.to_be_bytes()); // crc, filled below
    batch.extend_from_slice(&0i16.to_be_bytes());
    batch.extend_from_slice(&(count - 1).max(0).to_be_bytes());
    batch.extend_from_slice(&timestamp.to_be_bytes());
    batch.extend_from_slice(&(timestamp + i64::from(count - 1).max(0)).to_be_bytes());
    batch.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    batch.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    batch.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    batch.extend_from_slice(&count.to_be_bytes());
    batch.extend_from_slice(&records);
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// Sets the producer id, epoch and base sequence of a batch built for tests, fixing its CRC.
pub fn set_test_producer(batch: &mut [u8], producer_id: i64, epoch: i16, base_sequence: i32) {
    batch[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
    batch[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
    batch[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    /// One uncompressed record whose offset delta is `offset_delta`, in a batch at `base_offset`.
    fn batch_with_offset_delta(base_offset: i64, offset_delta: i64) -> Vec<u8> {
        fn put_varlong(out: &mut Vec<u8>, v: i64) {
            let mut z = ((v << 1) ^ (v >> 63)) as u64;
            while z >= 0x80 {
                out.push((z as u8) | 0x80);
                z >>= 7;
            }
            out.push(z as u8);
        }
        let mut record = vec![0u8]; // attributes
        put_varlong(&mut record, 0); // timestamp delta
        put_varlong(&mut record, offset_delta);
        put_varlong(&mut record, -1); // null key
        put_varlong(&mut record, -1); // null value
        put_varlong(&mut record, 0); // no headers
        let mut records = Vec::new();
        put_varlong(&mut records, record.len() as i64);
        records.extend_from_slice(&record);
        let mut b = build_test_batch(1, 0, 1000);
        b.truncate(HEADER_SIZE);
        b.extend_from_slice(&records);
        let length = (b.len() - LOG_OVERHEAD) as i32;
        b[LENGTH..LENGTH + 4].copy_from_slice(&length.to_be_bytes());
        set_base_offset(&mut b, base_offset);
        let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
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
        m[MAGIC] = 1;
        assert_eq!(parse_header(&m), Err(BatchError::BadMagic));
        assert_eq!(parse_header(&[0u8; 80]), Err(BatchError::BadLength));
    }

    #[test]
    fn base_offset_rewrite_keeps_crc() {
        let mut b = build_test_batch(3, 10, 0);
        set_base_offset(&mut b, 77);
        assert_eq!(parse_and_verify(&b).unwrap().base_offset, 77);
    }
}
