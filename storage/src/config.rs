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

/// Settings of one partition log; defaults are Apache Kafka's.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        }
    }
}
