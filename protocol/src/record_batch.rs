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
