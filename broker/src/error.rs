//! The broker's errors, and the one place where errors become Kafka error codes.

use gregor_protocol::ResponseError;
use gregor_storage::producer_state::SequenceError;
use gregor_storage::StorageError;

/// Failures of the broker process itself (start-up, metadata files, I/O).
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The log failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The group coordinator could not replay `__consumer_offsets`.
    #[error(transparent)]
    Coordinator(#[from] crate::coordinator::runtime::ReplayError),
    /// The topic metadata files could not be read or written.
    #[error("topic metadata: {0}")]
    Metadata(String),
    /// A socket failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// The Kafka error code a storage failure is answered with, as Apache Kafka answers it.
pub fn storage_error_code(err: &StorageError) -> ResponseError {
    match err {
        StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        StorageError::InvalidRecords(_) => ResponseError::CorruptMessage,
        StorageError::RecordBatchTooLarge { .. } => ResponseError::RecordListTooLarge,
        StorageError::UnknownPartition(_) => ResponseError::UnknownTopicOrPartition,
        StorageError::Sequence(e) => match e {
            SequenceError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            SequenceError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            SequenceError::MissingSequence { .. } => ResponseError::InvalidRecord,
        },
        StorageError::Io { .. } | StorageError::LogOffline(_) | StorageError::Locked(_) => {
            ResponseError::KafkaStorageError
        }
    }
}

/// The code of a record-batch validation failure (Kafka: CorruptRecordException).
pub fn batch_error_code(_err: &gregor_protocol::record_batch::BatchError) -> ResponseError {
    ResponseError::CorruptMessage
}

/// Shorthand: the numeric code, 0 for none.
pub fn code(err: Option<ResponseError>) -> i16 {
    err.map_or(0, |e| e.code())
}
