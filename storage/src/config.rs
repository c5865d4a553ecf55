//! Per-log settings, named after Kafka's topic configs (`segment.bytes`, `retention.ms`, ...).

/// When appended data is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Leave it to the OS, bounded by `flush_messages` and `flush_ms` (Kafka's default).
    #[default]
    Os,
    /// `append` returns only after an fsync covers the batch; concurrent appends share one fsync.
    Always,
}

/// Which timestamp a batch carries (`message.timestamp.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// The producer's timestamps are kept, if they lie within the accepted window.
    #[default]
    CreateTime,
    /// The broker stamps each batch with the time it appended it.
    LogAppendTime,
}

impl TimestampType {
    /// Kafka's name of the type, as topic configs spell it.
    pub fn name(self) -> &'static str {
        match self {
            TimestampType::CreateTime => "CreateTime",
            TimestampType::LogAppendTime => "LogAppendTime",
        }
    }

    /// The type Kafka names `name`, if any.
    pub fn from_name(name: &str) -> Option<TimestampType> {
        match name {
            "CreateTime" => Some(TimestampType::CreateTime),
            "LogAppendTime" => Some(TimestampType::LogAppendTime),
            _ => None,
        }
    }
}

/// Settings of one partition log; defaults are Apache Kafka's.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// `segment.bytes`: roll to a new segment once the active one would exceed this size.
    pub segment_bytes: u64,
    /// `segment.ms`: roll once the active segment's first batch is this old.
    pub segment_ms: i64,
    /// `retention.ms`: delete whole segments whose newest record is older; -1 keeps forever.
    pub retention_ms: i64,
    /// `retention.bytes`: delete the oldest segments while the log is larger; -1 means no limit.
    pub retention_bytes: i64,
    /// `flush.messages`: fsync after this many records (with `FsyncPolicy::Os`).
    pub flush_messages: u64,
    /// `flush.ms`: fsync when the oldest unflushed append is this old (with `FsyncPolicy::Os`).
    pub flush_ms: i64,
    /// `index.interval.bytes`: bytes of log between two offset index entries.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: the largest size an offset or time index may reach.
    pub segment_index_bytes: u32,
    /// Whether appends wait for an fsync.
    pub fsync: FsyncPolicy,
    /// `message.timestamp.type`.
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime timestamp may lie.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime timestamp may lie.
    /// Kafka 4 lowered the default to an hour (KIP-1030): a clock far ahead would otherwise
    /// keep its records from time retention until that future arrives.
    pub message_timestamp_after_max_ms: i64,
    /// `cleanup.policy`: which of compaction and deletion apply to old segments.
    pub cleanup: CleanupPolicy,
    /// `delete.retention.ms`: how long a tombstone stays once it is in the cleaned part.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`: the share of the log not yet cleaned above which the
    /// cleaner takes the log.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are never compacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a log whose oldest uncleaned record is older than this is
    /// cleaned whatever its dirty ratio.
    pub max_compaction_lag_ms: i64,
}

/// `cleanup.policy`: `delete`, `compact`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Old records are compacted: the log cleaner keeps the latest record of each key.
    pub compact: bool,
    /// Old segments are deleted by `retention.ms` and `retention.bytes`.
    pub delete: bool,
}

impl CleanupPolicy {
    /// Kafka's default, `delete`.
    pub const DELETE: CleanupPolicy = CleanupPolicy {
        compact: false,
        delete: true,
    };
    /// `compact` only, as Kafka's internal topics are.
    pub const COMPACT: CleanupPolicy = CleanupPolicy {
        compact: true,
        delete: false,
    };

    /// The policy a `cleanup.policy` list names (items already checked to be `compact` or
    /// `delete`).
    pub fn from_items<'a>(items: impl IntoIterator<Item = &'a str>) -> CleanupPolicy {
        let mut policy = CleanupPolicy {
            compact: false,
            delete: false,
        };
        for item in items {
            match item.trim() {
                "compact" => policy.compact = true,
                "delete" => policy.delete = true,
                _ => {}
            }
        }
        policy
    }
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy::DELETE
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            segment_index_bytes: 10 * 1024 * 1024,
            fsync: FsyncPolicy::Os,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: 60 * 60 * 1000,
            cleanup: CleanupPolicy::DELETE,
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
        }
    }
}

/// Settings of the log cleaner (Kafka's `CleanerConfig`, from the `log.cleaner.*` broker keys).
#[derive(Debug, Clone, PartialEq)]
pub struct CleanerConfig {
    /// `log.cleaner.enable`.
    pub enable: bool,
    /// `log.cleaner.threads`.
    pub threads: usize,
    /// `log.cleaner.backoff.ms`: a thread's sleep when no log needs cleaning.
    pub backoff_ms: u64,
    /// `log.cleaner.io.max.bytes.per.second`, shared by all threads.
    pub max_io_bytes_per_second: f64,
    /// `log.cleaner.dedupe.buffer.size`, shared by all threads: bounds the keys one pass maps.
    pub dedupe_buffer_size: u64,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            enable: true,
            threads: 1,
            backoff_ms: 15_000,
            max_io_bytes_per_second: f64::MAX,
            dedupe_buffer_size: 128 << 20,
        }
    }
}
