//! One partition as the request path sees it; Kafka's `Partition` (leader side, single node).
//!
//! A `Partition` is a handle on one topic-partition's log, built per lookup by the
//! `ReplicaManager` (cheap: a name and an `Arc`). The state that outlives a request lives in the
//! log itself, so every handle on a partition agrees:
//! - **High watermark** (`high_watermark`): the offset up to which records are committed. On a
//!   single node it is the log end offset, and with `FsyncPolicy::Always` the part of it an
//!   fsync covers (the log advances it only after the group-commit fsync).
//! - **Last stable offset** (`last_stable_offset`): what read_committed readers are served up
//!   to. Without transactions it is the high watermark; with them it becomes the first offset
//!   of the oldest open transaction (which the log's producer state will track), and only this
//!   method changes.
//! - **Blocking policy** (`append`): an append that may block on the disk (an fsync, a segment
//!   roll with its seal, directory sync and producer snapshot) never runs on an async worker
//!   thread. The log decides under its append lock whether this append would
//!   (`PartitionLog::try_append_nonblocking`); only then is it handed to the blocking pool.
//!   Most appends are a copy into the page cache and stay inline, where a hand-off would cost
//!   more than the copy.
//!
//! Validation of what is appended is in `validation` (Kafka's `LogValidator`); the reads of a
//! Fetch and the long poll are in `fetch` (Kafka's `DelayedFetch`).

pub mod fetch;
pub mod validation;

use std::sync::Arc;

use gregor_protocol::ResponseError;
use gregor_storage::{AppendInfo, PartitionLog, ReadInfo, TimestampOffset, TopicPartition};
use tokio::sync::watch;

use crate::error::KafkaError;

/// ListOffsets' special timestamps (Kafka's `ListOffsetsRequest` constants).
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;
/// The timestamp ListOffsets answers a special timestamp with.
const NO_TIMESTAMP: i64 = -1;

/// Which offsets a reader may see (the Fetch and ListOffsets `isolation_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IsolationLevel {
    /// Everything below the high watermark.
    ReadUncommitted,
    /// Everything below the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// From the wire: 1 is read_committed, anything else read_uncommitted (as Kafka reads it).
    pub fn from_wire(level: i8) -> IsolationLevel {
        if level == 1 {
            IsolationLevel::ReadCommitted
        } else {
            IsolationLevel::ReadUncommitted
        }
    }
}

/// A handle on one topic-partition's log.
#[derive(Clone)]
pub struct Partition {
    /// Topic and index, for logs and errors.
    tp: TopicPartition,
    /// The log; shared with the log manager, retention and the coordinator.
    log: Arc<PartitionLog>,
}

impl Partition {
    /// A handle on `log`, which holds `tp`.
    pub fn new(tp: TopicPartition, log: Arc<PartitionLog>) -> Partition {
        Partition { tp, log }
    }

    /// The topic and partition index.
    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }

    /// The log underneath (for the reads no request path owns: retention, replay, sizes).
    pub fn log(&self) -> &Arc<PartitionLog> {
        &self.log
    }

    /// The first offset a reader may ask for.
    pub fn log_start_offset(&self) -> i64 {
        self.log.log_start_offset()
    }

    /// The offset up to which records are committed and readable by read_uncommitted readers.
    pub fn high_watermark(&self) -> i64 {
        self.log.high_watermark()
    }

    /// The offset up to which read_committed readers are served: the high watermark until
    /// transactions exist, then the first offset of the oldest open transaction.
    pub fn last_stable_offset(&self) -> i64 {
        self.high_watermark()
    }

    /// The end of what a reader at `isolation` may see.
    pub fn fetch_upper_bound(&self, isolation: IsolationLevel) -> i64 {
        match isolation {
            IsolationLevel::ReadUncommitted => self.high_watermark(),
            IsolationLevel::ReadCommitted => self.last_stable_offset(),
        }
    }

    /// A receiver of the high watermark, updated whenever it moves (the long poll's wake-up).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.log.subscribe()
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes` but at least one, none
    /// at or past what `isolation` may see. Offsets are checked against the high watermark
    /// whatever the isolation, as Kafka checks them against the log end.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        isolation: IsolationLevel,
    ) -> gregor_storage::Result<ReadInfo> {
        let upper = self.fetch_upper_bound(isolation);
        self.log.read_up_to(offset, max_bytes, upper)
    }

    /// The offset ListOffsets answers for `timestamp` at `isolation` (Kafka's
    /// `Partition.fetchOffsetForTimestamp`): -1 and -5 the end of what the reader may see,
    /// -2 and -4 the log start (no tiered storage), -3 the record with the largest timestamp,
    /// else the first record at or after `timestamp`; never an offset the reader may not see.
    pub fn fetch_offset_for_timestamp(
        &self,
        timestamp: i64,
        isolation: IsolationLevel,
    ) -> gregor_storage::Result<Option<TimestampOffset>> {
        let upper = self.fetch_upper_bound(isolation);
        let special = |offset| {
            Some(TimestampOffset {
                timestamp: NO_TIMESTAMP,
                offset,
            })
        };
        Ok(match timestamp {
            LATEST_TIMESTAMP | LATEST_TIERED_TIMESTAMP => special(upper),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => special(self.log_start_offset()),
            MAX_TIMESTAMP => self.log.max_timestamp().filter(|f| f.offset < upper),
            ts => self
                .log
                .offset_for_timestamp(ts)?
                .filter(|f| f.offset < upper),
        })
    }

    /// Appends already validated batches, off the async worker threads when the append may
    /// block (see the module doc). Must be called from within a tokio runtime.
    pub async fn append(
        &self,
        records: bytes::Bytes,
        now_ms: i64,
    ) -> Result<AppendInfo, KafkaError> {
        if let Some(info) = self.log.try_append_nonblocking(&records, now_ms)? {
            return Ok(info);
        }
        let log = self.log.clone();
        match tokio::task::spawn_blocking(move || log.append(&records, now_ms)).await {
            Ok(appended) => Ok(appended?),
            Err(e) => {
                tracing::error!(partition = %self.tp, cause = %e, "the blocking append task failed");
                Err(KafkaError::with_message(
                    ResponseError::UnknownServerError,
                    "the append did not complete",
                ))
            }
        }
    }

    /// Appends already validated batches on the calling thread, which may block on the disk:
    /// for callers that are on a blocking thread already.
    pub fn append_blocking(&self, records: &[u8], now_ms: i64) -> Result<AppendInfo, KafkaError> {
        Ok(self.log.append(records, now_ms)?)
    }
}
