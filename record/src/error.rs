//! Why bytes are not a usable v2 batch; Kafka's `CorruptRecordException` and
//! `InvalidRecordException`, which the broker answers with CORRUPT_MESSAGE.

use crate::compression::CompressionError;

/// Why a sequence of bytes is not a whole, valid v2 batch (or its records cannot be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Fewer bytes than the header or `batchLength` announce.
    #[error("truncated record batch")]
    Truncated,
    /// `batchLength` is smaller than a header.
    #[error("record batch length {0} is too small")]
    BadLength(i32),
    /// Only magic 2 is accepted (Kafka 4 dropped the v0/v1 message formats).
    #[error("unsupported magic {0}")]
    BadMagic(i8),
    /// The CRC does not match the bytes it covers.
    #[error("record batch CRC mismatch")]
    BadCrc,
    /// Counts, deltas or record fields that cannot describe a batch.
    #[error("inconsistent record batch: {0}")]
    Inconsistent(&'static str),
    /// The records section does not decompress (only the cleaner decompresses).
    #[error("cannot decompress the records: {0}")]
    Decompression(#[from] CompressionError),
}

impl BatchError {
    /// A short description without the offending value, for errors that carry a `&'static str`
    /// (the storage crate's `InvalidRecords`).
    pub fn as_str(self) -> &'static str {
        match self {
            BatchError::Truncated => "truncated record batch",
            BatchError::BadLength(_) => "record batch length smaller than a header",
            BatchError::BadMagic(_) => "record batch magic is not 2",
            BatchError::BadCrc => "record batch CRC mismatch",
            BatchError::Inconsistent(why) => why,
            BatchError::Decompression(CompressionError::TooLarge { .. }) => {
                "record batch decompresses past the limit"
            }
            BatchError::Decompression(_) => "record batch records do not decompress",
        }
    }
}
