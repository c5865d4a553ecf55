//! A view of Kafka v2 record-batch headers, to validate produced batches without decompressing:
//! length, magic, CRC32C over attributes..end, counts, offsets, timestamps and producer fields.
//!
//! Layout (big-endian): baseOffset i64 | batchLength i32 | partitionLeaderEpoch i32 | magic i8 |
//! crc u32 | attributes i16 | lastOffsetDelta i32 | baseTimestamp i64 | maxTimestamp i64 |
//! producerId i64 | producerEpoch i16 | baseSequence i32 | recordCount i32 | records...

/// Size of the fixed header.
pub const HEADER_SIZE: usize = 61;
const LOG_OVERHEAD: usize = 12;

/// Why a produced batch is refused (CORRUPT_MESSAGE or INVALID_RECORD in Kafka's terms).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than the header or `batchLength` announce.
    #[error("truncated record batch")]
    Truncated,
    /// `batchLength` is smaller than a header.
    #[error("record batch length {0} is too small")]
    BadLength(i32),
    /// Only magic 2 is accepted (Kafka 4 dropped v0/v1 message formats).
    #[error("unsupported magic {0}")]
    BadMagic(i8),
    /// The CRC does not match the bytes.
    #[error("record batch CRC mismatch")]
    BadCrc,
    /// Counts or deltas that cannot describe a batch.
    #[error("inconsistent record batch: {0}")]
    Inconsistent(&'static str),
}

/// One batch's header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// As sent by the producer (the broker rewrites it).
    pub base_offset: i64,
    /// Whole batch size in bytes.
    pub size: usize,
    /// Compression (bits 0-2), timestamp type (bit 3), transactional (bit 4), control (bit 5).
    pub attributes: i16,
    /// Offset of the last record relative to the first.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest record timestamp.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

impl BatchHeader {
    /// The compression codec id (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Whether the batch is a control batch (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

fn be<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    buf[at..at + N]
        .try_into()
        .expect("bounds checked by the caller")
}

/// Reads and checks the header of the batch at the start of `buf`, including its CRC.
pub fn parse_batch(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    if buf.len() < HEADER_SIZE {
        return Err(BatchError::Truncated);
    }
    let length = i32::from_be_bytes(be(buf, 8));
    if length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
        return Err(BatchError::BadLength(length));
    }
    let magic = buf[16] as i8;
    if magic != 2 {
        return Err(BatchError::BadMagic(magic));
    }
    let size = LOG_OVERHEAD + length as usize;
    if buf.len() < size {
        return Err(BatchError::Truncated);
    }
    let crc = u32::from_be_bytes(be(buf, 17));
    if crc32c::crc32c(&buf[21..size]) != crc {
        return Err(BatchError::BadCrc);
    }
    let header = BatchHeader {
        base_offset: i64::from_be_bytes(be(buf, 0)),
        size,
        attributes: i16::from_be_bytes(be(buf, 21)),
        last_offset_delta: i32::from_be_bytes(be(buf, 23)),
        base_timestamp: i64::from_be_bytes(be(buf, 27)),
        max_timestamp: i64::from_be_bytes(be(buf, 35)),
        producer_id: i64::from_be_bytes(be(buf, 43)),
        producer_epoch: i16::from_be_bytes(be(buf, 51)),
        base_sequence: i32::from_be_bytes(be(buf, 53)),
        record_count: i32::from_be_bytes(be(buf, 57)),
    };
    if header.record_count < 0 || header.last_offset_delta < 0 {
        return Err(BatchError::Inconsistent(
            "negative record count or offset delta",
        ));
    }
    if header.record_count == 0 && !header.is_control() {
        return Err(BatchError::Inconsistent("empty batch"));
    }
    if header.compression() > 4 {
        return Err(BatchError::Inconsistent("unknown compression codec"));
    }
    // An uncompressed batch carries its records in the clear: each needs at least a byte.
    if header.compression() == 0 && header.record_count as usize > size - HEADER_SIZE {
        return Err(BatchError::Inconsistent("more records than bytes"));
    }
    Ok(header)
}

/// Checks every batch in a produced records buffer, returning their headers in order.
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A valid uncompressed batch of `count` one-byte records (records are opaque here).
    fn batch(count: i32, base_offset: i64) -> Vec<u8> {
        let records = vec![1u8; count as usize * 8];
        let mut b = Vec::new();
        b.extend_from_slice(&base_offset.to_be_bytes());
        b.extend_from_slice(&((HEADER_SIZE - LOG_OVERHEAD + records.len()) as i32).to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.push(2);
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&0i16.to_be_bytes());
        b.extend_from_slice(&(count - 1).to_be_bytes());
        b.extend_from_slice(&1000i64.to_be_bytes());
        b.extend_from_slice(&1005i64.to_be_bytes());
        b.extend_from_slice(&7i64.to_be_bytes());
        b.extend_from_slice(&1i16.to_be_bytes());
        b.extend_from_slice(&42i32.to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&records);
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b
    }

    #[test]
    fn reads_header_fields() {
        let b = batch(3, 0);
        let h = parse_batch(&b).unwrap();
        assert_eq!(
            (
                h.size,
                h.record_count,
                h.last_offset_delta,
                h.producer_id,
                h.producer_epoch,
                h.base_sequence
            ),
            (b.len(), 3, 2, 7, 1, 42)
        );
        let mut two = b.clone();
        two.extend_from_slice(&batch(1, 0));
        assert_eq!(parse_batches(&two).unwrap().len(), 2);
    }

    proptest! {
        #[test]
        fn any_single_byte_change_under_the_crc_is_caught(count in 1..20i32, at in any::<usize>(), flip in 1..=255u8) {
            let mut b = batch(count, 0);
            let pos = 17 + at % (b.len() - 17);
            b[pos] ^= flip;
            prop_assert!(parse_batch(&b).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_batches(&bytes);
        }

        #[test]
        fn truncation_is_caught(count in 1..20i32, cut in any::<usize>()) {
            let b = batch(count, 0);
            let len = cut % b.len();
            prop_assert!(parse_batches(&b[..len]).is_err());
        }
    }
}

/// A record's key and value, borrowed (`None` is null).
pub type RecordRef<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);
/// A record's key and value, owned.
pub type OwnedRecord = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Kafka's zig-zag varint, as records encode their fields.
fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn get_varint(buf: &[u8], pos: &mut usize) -> Option<i64> {
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

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// Builds one uncompressed v2 batch of key/value records (no headers, no producer), for the
/// broker's own internal logs.
pub fn encode_records(timestamp: i64, records: &[RecordRef<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (key, value)) in records.iter().enumerate() {
        let mut r = vec![0u8];
        put_varint(&mut r, 0);
        put_varint(&mut r, i as i64);
        put_bytes(&mut r, *key);
        put_bytes(&mut r, *value);
        put_varint(&mut r, 0);
        put_varint(&mut body, r.len() as i64);
        body.extend_from_slice(&r);
    }
    let count = records.len() as i32;
    let mut b = Vec::with_capacity(HEADER_SIZE + body.len());
    b.extend_from_slice(&0i64.to_be_bytes());
    b.extend_from_slice(&((HEADER_SIZE - LOG_OVERHEAD + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes());
    b.push(2);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&0i16.to_be_bytes());
    b.extend_from_slice(&(count - 1).max(0).to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes());
    b.extend_from_slice(&(-1i16).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes());
    b.extend_from_slice(&count.to_be_bytes());
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// The key and value of every record of an uncompressed batch (the broker's own records).
pub fn decode_records(batch: &[u8]) -> Result<Vec<OwnedRecord>, BatchError> {
    let header = parse_batch(batch)?;
    if header.compression() != 0 {
        return Err(BatchError::Inconsistent(
            "compressed batch in an internal log",
        ));
    }
    let bad = BatchError::Inconsistent("malformed record");
    let end = header.size;
    let mut pos = HEADER_SIZE;
    let mut out = Vec::new();
    let bytes_at = |pos: &mut usize| -> Result<Option<Vec<u8>>, BatchError> {
        let len = get_varint(&batch[..end], pos).ok_or(bad.clone())?;
        if len < 0 {
            return Ok(None);
        }
        let stop = pos
            .checked_add(len as usize)
            .filter(|s| *s <= end)
            .ok_or(bad.clone())?;
        let v = batch[*pos..stop].to_vec();
        *pos = stop;
        Ok(Some(v))
    };
    for _ in 0..header.record_count {
        let _len = get_varint(&batch[..end], &mut pos).ok_or(bad.clone())?;
        pos += 1; // attributes
        get_varint(&batch[..end], &mut pos).ok_or(bad.clone())?; // timestamp delta
        get_varint(&batch[..end], &mut pos).ok_or(bad.clone())?; // offset delta
        let key = bytes_at(&mut pos)?;
        let value = bytes_at(&mut pos)?;
        let headers = get_varint(&batch[..end], &mut pos).ok_or(bad.clone())?;
        for _ in 0..headers.max(0) {
            let klen = get_varint(&batch[..end], &mut pos).ok_or(bad.clone())?;
            pos = pos.checked_add(klen.max(0) as usize).ok_or(bad.clone())?;
            bytes_at(&mut pos)?;
        }
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod codec_tests {
    use super::*;

    #[test]
    fn internal_records_round_trip() {
        let batch = encode_records(5, &[(Some(b"k1"), Some(b"v1")), (Some(b"k2"), None)]);
        assert_eq!(parse_batch(&batch).unwrap().record_count, 2);
        let records = decode_records(&batch).unwrap();
        assert_eq!(
            records,
            vec![
                (Some(b"k1".to_vec()), Some(b"v1".to_vec())),
                (Some(b"k2".to_vec()), None)
            ]
        );
    }
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
        let attributes = header.attributes | 0x08;
        batch[21..23].copy_from_slice(&attributes.to_be_bytes());
        batch[35..43].copy_from_slice(&now_ms.to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
        pos += header.size;
    }
    Ok(())
}

#[cfg(test)]
mod log_append_time_tests {
    use super::*;

    #[test]
    fn stamping_keeps_the_batch_valid() {
        let mut batch = encode_records(5, &[(Some(b"k"), Some(b"v"))]);
        set_log_append_time(&mut batch, 1234).unwrap();
        let h = parse_batch(&batch).unwrap();
        assert_eq!((h.max_timestamp, h.attributes & 0x08), (1234, 0x08));
    }
}
