//! The one error type of the storage crate.

use std::path::PathBuf;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed; `context` says what the log was doing.
    #[error("{context} ({path}): {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The requested offset is outside `[log start, log end]`.
    #[error("offset {offset} is out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// The bytes handed to `append` are not a sequence of whole v2 record batches.
    #[error("invalid record batch: {0}")]
    InvalidRecords(&'static str),
    /// A batch is larger than a segment may hold.
    #[error("record batch of {size} bytes exceeds segment.bytes {limit}")]
    RecordBatchTooLarge { size: usize, limit: u64 },
    /// The data directory is in use by another process.
    #[error("data directory {0} is locked by another Gregor process")]
    Locked(PathBuf),
    /// An earlier fsync failed: the log refuses writes, since the page cache can no longer be trusted.
    #[error("log {0} is offline after an earlier I/O failure")]
    LogOffline(PathBuf),
    /// An idempotent producer's batch does not fit its sequence or epoch.
    #[error(transparent)]
    Sequence(#[from] crate::producer_state::SequenceError),
    /// No such partition log.
    #[error("no log for {0}")]
    UnknownPartition(String),
}

/// Result alias of the storage crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    /// Wraps an I/O error with what was being done and to which file.
    pub fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| StorageError::Io {
            context,
            path,
            source,
        }
    }
}
