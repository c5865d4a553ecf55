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
    Coordinator(#[from] crate::coordinator::loader::ReplayError),
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

/// An error a client is answered with: Kafka's error code and, where the response has room
/// for one, a message a person can act on. Handlers return `Result<T, KafkaError>` per topic,
/// partition or resource and write `code` and `message` into the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}", .code.code(), .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
pub struct KafkaError {
    /// Kafka's error code.
    pub code: ResponseError,
    /// Kafka's error message, where there is one.
    pub message: Option<String>,
}

impl KafkaError {
    /// The error `code` without a message.
    pub fn new(code: ResponseError) -> KafkaError {
        KafkaError {
            code,
            message: None,
        }
    }

    /// The error `code` with `message`.
    pub fn with_message(code: ResponseError, message: impl Into<String>) -> KafkaError {
        KafkaError {
            code,
            message: Some(message.into()),
        }
    }

    /// The numeric code for the response.
    pub fn code(&self) -> i16 {
        self.code.code()
    }
}

impl From<ResponseError> for KafkaError {
    fn from(code: ResponseError) -> KafkaError {
        KafkaError::new(code)
    }
}

impl From<StorageError> for KafkaError {
    fn from(err: StorageError) -> KafkaError {
        KafkaError::with_message(storage_error_code(&err), err.to_string())
    }
}

impl From<SequenceError> for KafkaError {
    fn from(err: SequenceError) -> KafkaError {
        StorageError::Sequence(err).into()
    }
}

impl From<gregor_protocol::record_batch::BatchError> for KafkaError {
    fn from(err: gregor_protocol::record_batch::BatchError) -> KafkaError {
        KafkaError::with_message(batch_error_code(&err), err.to_string())
    }
}

/// The numeric code of an outcome: 0 for success.
pub fn result_code<T>(result: &Result<T, KafkaError>) -> i16 {
    result.as_ref().map_or_else(KafkaError::code, |_| 0)
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
            SequenceError::InvalidTxnState { .. } => ResponseError::InvalidTxnState,
            SequenceError::CoordinatorFenced { .. } => ResponseError::TransactionCoordinatorFenced,
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
