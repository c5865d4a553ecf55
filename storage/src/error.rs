//! The one error type of the storage crate.

use std::path::PathBuf;

/// Everything that can go wrong in the log.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An I/O call failed; `context` says what the log was doing.
    #[error("{context} ({path}): {source}{}", limit_hint(context, source))]
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

/// What to raise when an I/O error is a process limit rather than a fault: the open-file
/// limit (`EMFILE`, `ENFILE`) or the number of memory mappings (`ENOMEM` from `mmap`, whose
/// usual cause is `vm.max_map_count`). Empty for any other error.
fn limit_hint(context: &str, source: &std::io::Error) -> String {
    match source.raw_os_error() {
        Some(libc::EMFILE) => {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit writes only into `limit`.
            let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
            let now = if known {
                format!(" (now {}, hard limit {})", limit.rlim_cur, limit.rlim_max)
            } else {
                String::new()
            };
            format!(
                "; the process's open-file limit{now} is reached: raise it with `ulimit -n` \
                 (or LimitNOFILE= in a systemd unit, nofile in /etc/security/limits.conf)"
            )
        }
        Some(libc::ENFILE) => "; the system-wide open-file limit is reached: raise it with \
                               `sysctl -w fs.file-max=N`"
            .to_string(),
        Some(libc::ENOMEM) if context.contains("mapping") => {
            let max = std::fs::read_to_string("/proc/sys/vm/max_map_count")
                .map(|s| format!(" (now {})", s.trim()))
                .unwrap_or_default();
            format!(
                "; the process may have reached its number of memory mappings, \
                 vm.max_map_count{max}, each segment taking three: raise it with \
                 `sysctl -w vm.max_map_count=262144`"
            )
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_errors_say_which_limit_and_how_to_raise_it() {
        let emfile = StorageError::io("opening file", "/d/0.timeindex")(
            std::io::Error::from_raw_os_error(libc::EMFILE),
        );
        let text = emfile.to_string();
        assert!(
            text.contains("ulimit -n") && text.contains("hard limit"),
            "{text}"
        );
        let enomem = StorageError::io("mapping file", "/d/0.log")(
            std::io::Error::from_raw_os_error(libc::ENOMEM),
        );
        assert!(enomem.to_string().contains("vm.max_map_count"), "{enomem}");
        let other = StorageError::io("opening file", "/d/0.log")(
            std::io::Error::from_raw_os_error(libc::ENOENT),
        );
        assert!(!other.to_string().contains(';'), "{other}");
    }
}
