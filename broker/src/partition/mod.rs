//! One partition as the request path sees it; Kafka's `Partition` (leader side, single node).
//!
//! A `Partition` is a handle on one topic-partition's log, built per lookup by the
//! `ReplicaManager` (cheap: a name and an `Arc`). The state that outlives a request lives in the
//! log itself, so every handle on a partition agrees:
//! - **High watermark** (`high_watermark`): the offset up to which records are committed. On a
//!   single node it is the log end offset, and with `FsyncPolicy::Always` the part of it an
//!   fsync covers (the log advances it only after the group-commit fsync).
//! - **Last stable offset** (`last_stable_offset`): what read_committed readers are served up
//!   to: the high watermark, or the first offset of the oldest transaction whose marker is not
//!   yet below it (the log's producer state tracks them). A read_committed read also gets the
//!   aborted transactions in its range (`aborted_transactions`, from the transaction index).
//! - **Blocking policy** (`append`): an append that may block on the disk (an fsync, a segment
//!   roll with its seal, directory sync and producer snapshot) never runs on an async worker
//!   thread. The log decides under its append lock whether this append would
//!   (`PartitionLog::try_append_nonblocking`); only then is it handed to the blocking pool.
//!   Most appends are a copy into the page cache and stay inline, where a hand-off would cost
//!   more than the copy.
//!
//! - **Leader epoch** (`LEADER_EPOCH`): this node has led every partition since its creation,
//!   so the epoch is 0 for good: Metadata, ListOffsets and OffsetForLeaderEpoch all say so, and
//!   Kafka's leader-epoch cache would hold the one entry (0, log start offset).
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
use validation::AppendOrigin;

/// The leader epoch of every partition: one node, never a new leader. The log stamps it into
/// every batch it appends.
pub const LEADER_EPOCH: i32 = gregor_storage::log::LEADER_EPOCH;

/// Kafka's `UNDEFINED_EPOCH`: no epoch known.
const UNDEFINED_EPOCH: i32 = -1;

/// The answer of OffsetForLeaderEpoch for one partition: the largest epoch at or below the one
/// asked for and the offset where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEndOffset {
    /// The epoch found.
    pub leader_epoch: i32,
    /// The first offset after it.
    pub end_offset: i64,
}

/// ListOffsets' special timestamps (Kafka's `ListOffsetsRequest` constants).
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;
/// DeleteRecords' offset meaning "up to the high watermark" (`DeleteRecordsRequest.HIGH_WATERMARK`).
const DELETE_TO_HIGH_WATERMARK: i64 = -1;
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

    /// The offset up to which read_committed readers are served: the high watermark, or the
    /// first offset of the oldest transaction not yet ended by a committed marker.
    pub fn last_stable_offset(&self) -> i64 {
        self.log.last_stable_offset()
    }

    /// The aborted transactions that may hold records in `[fetch_offset, upper_bound)`, in
    /// marker order (a read_committed Fetch's `aborted_transactions`).
    pub fn aborted_transactions(
        &self,
        fetch_offset: i64,
        upper_bound: i64,
    ) -> Vec<gregor_storage::AbortedTxn> {
        self.log.aborted_transactions(fetch_offset, upper_bound)
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

    /// The end offset of `leader_epoch` (Kafka's `Partition.lastOffsetForLeaderEpoch` over
    /// `LeaderEpochFileCache.endOffsetFor`, whose one entry here is epoch 0 from the log start):
    /// the current epoch ends at the log end offset (what a consumer validating its position
    /// needs), a later or undefined epoch is unknown (`None`, answered as -1/-1), an earlier
    /// one ends where epoch 0 starts. `current_leader_epoch` (-1: not checked) must be ours:
    /// older is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.
    pub fn last_offset_for_leader_epoch(
        &self,
        current_leader_epoch: i32,
        leader_epoch: i32,
    ) -> Result<Option<EpochEndOffset>, KafkaError> {
        if current_leader_epoch != UNDEFINED_EPOCH {
            if current_leader_epoch < LEADER_EPOCH {
                return Err(KafkaError::new(ResponseError::FencedLeaderEpoch));
            }
            if current_leader_epoch > LEADER_EPOCH {
                return Err(KafkaError::new(ResponseError::UnknownLeaderEpoch));
            }
        }
        Ok(match leader_epoch {
            UNDEFINED_EPOCH => None,
            LEADER_EPOCH => Some(EpochEndOffset {
                leader_epoch,
                end_offset: self.log.log_end_offset(),
            }),
            e if e > LEADER_EPOCH => None,
            // Below every known epoch: the requested epoch, ending where the first known begins.
            e => Some(EpochEndOffset {
                leader_epoch: e,
                end_offset: self.log_start_offset(),
            }),
        })
    }

    /// Moves the log start offset to `offset` (DeleteRecords; Kafka's
    /// `Partition.deleteRecordsOnLeader`), -1 meaning the high watermark, and checkpoints it.
    /// Refused with POLICY_VIOLATION on a log whose cleanup policy lacks `delete`, and with
    /// OFFSET_OUT_OF_RANGE below 0 or past the high watermark. Returns the new low watermark
    /// (the log start offset). May block: deletes segments and writes the checkpoint.
    pub fn delete_records_blocking(
        &self,
        logs: &gregor_storage::LogManager,
        offset: i64,
    ) -> Result<i64, KafkaError> {
        if !self.log.config().cleanup.delete {
            return Err(KafkaError::with_message(
                ResponseError::PolicyViolation,
                format!(
                    "Records of partition {} can not be deleted due to the configured policy",
                    self.tp
                ),
            ));
        }
        let offset = if offset == DELETE_TO_HIGH_WATERMARK {
            self.high_watermark()
        } else {
            offset
        };
        if offset < 0 {
            return Err(KafkaError::with_message(
                ResponseError::OffsetOutOfRange,
                format!("The offset {offset} for partition {} is not valid", self.tp),
            ));
        }
        let high_watermark = self.high_watermark();
        if offset > high_watermark {
            return Err(KafkaError::with_message(
                ResponseError::OffsetOutOfRange,
                format!(
                    "Cannot increment the log start offset to {offset} of partition {} since it \
                     is larger than the high watermark {high_watermark}",
                    self.tp
                ),
            ));
        }
        Ok(logs.advance_log_start(&self.tp, offset)?)
    }

    /// The producers the log tracks (DescribeProducers), by producer id.
    pub fn active_producers(&self) -> Vec<gregor_storage::producer_state::ActiveProducer> {
        self.log.active_producers()
    }

    /// Appends already validated batches, off the async worker threads when the append may
    /// block (see the module doc). Must be called from within a tokio runtime.
    pub async fn append(
        &self,
        records: bytes::Bytes,
        now_ms: i64,
        origin: AppendOrigin,
    ) -> Result<AppendInfo, KafkaError> {
        let origin = validation::storage_origin(origin);
        if let Some(info) = self
            .log
            .try_append_nonblocking_as(&records, now_ms, origin)?
        {
            return Ok(info);
        }
        let log = self.log.clone();
        match tokio::task::spawn_blocking(move || log.append_as(&records, now_ms, origin)).await {
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
    pub fn append_blocking(
        &self,
        records: &[u8],
        now_ms: i64,
        origin: AppendOrigin,
    ) -> Result<AppendInfo, KafkaError> {
        Ok(self
            .log
            .append_as(records, now_ms, validation::storage_origin(origin))?)
    }
}

#[cfg(test)]
mod tests {
    use gregor_storage::batch::build_test_batch;
    use gregor_storage::{CleanupPolicy, LogConfig, LogManager};

    use super::*;

    /// A partition `t-0` holding `records` records, in a fresh log manager.
    fn partition(
        dir: &std::path::Path,
        config: LogConfig,
        records: i32,
    ) -> (LogManager, Partition) {
        let logs = LogManager::open(dir, config.clone()).unwrap();
        let tp = TopicPartition::new("t", 0);
        let log = logs.get_or_create(&tp, config).unwrap();
        if records > 0 {
            log.append(&build_test_batch(records, 10, 1_000), 1_000)
                .unwrap();
        }
        (logs, Partition::new(tp, log))
    }

    fn end(leader_epoch: i32, end_offset: i64) -> Option<EpochEndOffset> {
        Some(EpochEndOffset {
            leader_epoch,
            end_offset,
        })
    }

    #[test]
    fn the_one_epoch_ends_at_the_log_end_and_later_ones_are_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let (_logs, p) = partition(dir.path(), LogConfig::default(), 5);
        let ask = |current, epoch| p.last_offset_for_leader_epoch(current, epoch);
        assert_eq!(ask(-1, 0), Ok(end(0, 5)));
        assert_eq!(ask(0, 0), Ok(end(0, 5)));
        assert_eq!(ask(-1, 3), Ok(None));
        assert_eq!(ask(-1, -1), Ok(None));
        // Older than any epoch: it ends where epoch 0 begins, the log start.
        assert_eq!(ask(-1, -7), Ok(end(-7, 0)));
        let code = |r: Result<_, KafkaError>| r.map_err(|e| e.code);
        assert_eq!(code(ask(1, 0)), Err(ResponseError::UnknownLeaderEpoch));
        assert_eq!(code(ask(-3, 0)), Err(ResponseError::FencedLeaderEpoch));
    }

    #[test]
    fn delete_records_moves_the_log_start_up_to_the_high_watermark_only() {
        let dir = tempfile::tempdir().unwrap();
        let (logs, p) = partition(dir.path(), LogConfig::default(), 10);
        let code = |r: Result<i64, KafkaError>| r.map_err(|e| e.code);
        assert_eq!(p.delete_records_blocking(&logs, 4), Ok(4));
        // Lower than the log start: nothing moves, the answer is where it is.
        assert_eq!(p.delete_records_blocking(&logs, 2), Ok(4));
        assert_eq!(
            code(p.delete_records_blocking(&logs, 11)),
            Err(ResponseError::OffsetOutOfRange)
        );
        assert_eq!(
            code(p.delete_records_blocking(&logs, -2)),
            Err(ResponseError::OffsetOutOfRange)
        );
        // -1 is the high watermark.
        assert_eq!(p.delete_records_blocking(&logs, -1), Ok(10));
        assert_eq!(p.log_start_offset(), 10);
    }

    #[test]
    fn delete_records_is_refused_on_a_compacted_log() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            cleanup: CleanupPolicy::COMPACT,
            ..LogConfig::default()
        };
        let (logs, p) = partition(dir.path(), config, 3);
        assert_eq!(
            p.delete_records_blocking(&logs, 1).map_err(|e| e.code),
            Err(ResponseError::PolicyViolation)
        );
    }
}
