//! The one way into the partitions; Kafka's `ReplicaManager` (single node: every partition is a
//! leader with no followers).
//!
//! Contract:
//! - **Appends** go through `append_records(origin, ...)` (or the coordinator's
//!   `append_coordinator_records_blocking`), never straight to a `PartitionLog`. In order: the origin
//!   guard (a client may not write an internal topic: INVALID_TOPIC_EXCEPTION, as Kafka's
//!   ReplicaManager answers), the partition lookup, validation from batch headers
//!   (`partition::validation`: parse, transactional/control batches, `max.message.bytes`,
//!   timestamps, LogAppendTime stamping), then the log append, which checks producer state
//!   (sequence, epoch) under its lock. Every refusal is a `KafkaError` for that partition only.
//! - **Blocking**: an append that may fsync, roll a segment or write a producer snapshot runs
//!   on the blocking pool, the others inline (`Partition::append`). No caller has to choose.
//! - **Offsets**: the high watermark and the last stable offset are the partition's
//!   (`Partition::high_watermark`, `Partition::last_stable_offset`); read_committed reads and
//!   ListOffsets stop at the last stable offset, read_uncommitted at the high watermark.
//! - **Fetch**: `fetch_messages` owns the read budget and the long poll (`partition::fetch`).
//! - **Admin**: `delete_records` (DeleteRecords: internal topics refused, the work on the
//!   blocking pool) and `describe_log_dir` (DescribeLogDirs: the one data dir, its file system's
//!   sizes and each partition's bytes).
//! - Handlers resolve topic names or ids (their error depends on the request version) and map
//!   requests and responses; they hold no partition logic.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use gregor_protocol::ResponseError;
use gregor_storage::file_store::{self, FileStoreSpace};
use gregor_storage::{LogManager, TopicPartition};

use crate::broker::now_ms;
use crate::error::KafkaError;
use crate::partition::fetch::{self, FetchParams, FetchPartition, FetchPartitionData};
use crate::partition::validation::{self, AppendOrigin, ValidRecords};
use crate::partition::Partition;
use crate::topics::{is_internal_topic, TopicMeta, TopicStore};

/// Where an append landed, as the Produce response reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
    /// The LogAppendTime the batches got, or -1 on a CreateTime log.
    pub log_append_time: i64,
}

/// The one log dir as DescribeLogDirs reports it.
#[derive(Debug)]
pub struct LogDirDescription {
    /// The data dir, absolute.
    pub path: PathBuf,
    /// Its file system's sizes, or why they could not be read.
    pub space: Result<FileStoreSpace, KafkaError>,
    /// The partitions asked for that have a log, sorted, each with its bytes on disk.
    pub partitions: Vec<(TopicPartition, u64)>,
}

/// The partitions of this broker, and every append, read and wait on them.
pub struct ReplicaManager {
    /// The logs, shared with the broker's upkeep and topic admin.
    logs: Arc<LogManager>,
    /// Topic metadata: each topic's `max.message.bytes` override, for the coordinator's
    /// appends (a Produce brings the topic it looked up).
    topics: Arc<TopicStore>,
    /// The broker's `message.max.bytes`, for topics without a `max.message.bytes` override.
    message_max_bytes: usize,
}

impl ReplicaManager {
    /// A replica manager over `logs`.
    pub fn new(
        logs: Arc<LogManager>,
        topics: Arc<TopicStore>,
        message_max_bytes: usize,
    ) -> ReplicaManager {
        ReplicaManager {
            logs,
            topics,
            message_max_bytes,
        }
    }

    /// The partition, if its topic and index exist.
    pub fn partition(&self, topic: &str, index: i32) -> Option<Partition> {
        let tp = TopicPartition::new(topic, index);
        let log = self.logs.get(&tp)?;
        Some(Partition::new(tp, log))
    }

    /// The partition, or UNKNOWN_TOPIC_OR_PARTITION.
    pub fn partition_or_error(&self, topic: &str, index: i32) -> Result<Partition, KafkaError> {
        self.partition(topic, index)
            .ok_or_else(|| KafkaError::new(ResponseError::UnknownTopicOrPartition))
    }

    /// Kafka's `isValidRequiredAcks`: 0, 1 or -1 (all). A Produce handler checks this for each
    /// partition before anything else, so a bad `acks` is the answer whatever the topic.
    pub fn check_required_acks(acks: i16) -> Result<(), KafkaError> {
        if matches!(acks, -1..=1) {
            Ok(())
        } else {
            Err(KafkaError::new(ResponseError::InvalidRequiredAcks))
        }
    }

    /// Validates and appends `records` (whole v2 batches) to `topic`'s partition `index` for
    /// `origin`. Async: the append moves to the blocking pool when it may block.
    pub async fn append_records(
        &self,
        origin: AppendOrigin,
        topic: &TopicMeta,
        index: i32,
        records: Option<Bytes>,
    ) -> Result<AppendResult, KafkaError> {
        let now = now_ms();
        let (partition, valid) = self.prepare(origin, topic, index, records, now)?;
        let appended = partition.append(valid.records, now).await;
        finish(&partition, appended, valid.log_append_time)
    }

    /// `append_records` on the calling thread, which may block on the disk (an fsync, a roll):
    /// for callers already on a blocking thread, never for an async worker.
    pub fn append_records_blocking(
        &self,
        origin: AppendOrigin,
        topic: &TopicMeta,
        index: i32,
        records: Option<Bytes>,
    ) -> Result<AppendResult, KafkaError> {
        let now = now_ms();
        let (partition, valid) = self.prepare(origin, topic, index, records, now)?;
        let appended = partition.append_blocking(&valid.records, now);
        finish(&partition, appended, valid.log_append_time)
    }

    /// For a coordinator: appends already encoded batches to its internal topic's partition,
    /// validated as any append (size, timestamps, producer state) but allowed on internal
    /// topics. Returns once the batches are in the log (and durable with fsync-always). It may
    /// block on the disk, so it runs on the coordinator's writer thread (or at start-up), never
    /// on an async worker.
    pub fn append_coordinator_records_blocking(
        &self,
        tp: &TopicPartition,
        records: Bytes,
    ) -> Result<AppendResult, KafkaError> {
        let topic = self.topic(&tp.topic)?;
        self.append_records_blocking(
            AppendOrigin::Coordinator,
            &topic,
            tp.partition,
            Some(records),
        )
    }

    /// Reads the requested partitions for one Fetch, waiting up to `max_wait_ms` for
    /// `min_bytes` (Kafka's `fetchMessages` with its `DelayedFetch`).
    pub async fn fetch_messages(
        &self,
        params: FetchParams,
        partitions: &[FetchPartition],
    ) -> Vec<FetchPartitionData> {
        fetch::fetch_messages(params, partitions).await
    }

    /// DeleteRecords on one partition (Kafka's `ReplicaManager.deleteRecords`): the log start
    /// offset moves up to `offset` (-1: the high watermark) and the new low watermark is the
    /// answer. An unknown partition is UNKNOWN_TOPIC_OR_PARTITION; an internal topic
    /// INVALID_TOPIC_EXCEPTION, as Kafka refuses it. Deleting segments and writing the
    /// checkpoint run on the blocking pool.
    pub async fn delete_records(
        &self,
        topic: &str,
        index: i32,
        offset: i64,
    ) -> Result<i64, KafkaError> {
        let partition = self.partition_or_error(topic, index)?;
        if is_internal_topic(topic) {
            return Err(KafkaError::with_message(
                ResponseError::InvalidTopicException,
                format!("Cannot delete records of internal topic {topic}"),
            ));
        }
        let logs = self.logs.clone();
        let tp = partition.topic_partition().clone();
        match tokio::task::spawn_blocking(move || partition.delete_records_blocking(&logs, offset))
            .await
        {
            Ok(deleted) => deleted,
            Err(e) => {
                tracing::error!(partition = %tp, cause = %e, "the delete-records task failed");
                Err(KafkaError::new(ResponseError::UnknownServerError))
            }
        }
    }

    /// The data dir with the partitions in `wanted` (all when `None`) that have a log.
    pub fn describe_log_dir(&self, wanted: Option<&HashSet<TopicPartition>>) -> LogDirDescription {
        let dir = self.logs.data_dir();
        let path = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let space = file_store::space(dir).map_err(|e| {
            KafkaError::with_message(ResponseError::UnknownServerError, e.to_string())
        });
        let partitions = self
            .logs
            .partitions()
            .into_iter()
            .filter(|tp| wanted.is_none_or(|w| w.contains(tp)))
            .filter_map(|tp| {
                let size = self.logs.get(&tp)?.size_bytes();
                Some((tp, size))
            })
            .collect();
        LogDirDescription {
            path,
            space,
            partitions,
        }
    }

    fn topic(&self, name: &str) -> Result<TopicMeta, KafkaError> {
        self.topics
            .get(name)
            .ok_or_else(|| KafkaError::new(ResponseError::UnknownTopicOrPartition))
    }

    /// The checks before the log: origin guard, lookup, validation.
    fn prepare(
        &self,
        origin: AppendOrigin,
        topic: &TopicMeta,
        index: i32,
        records: Option<Bytes>,
        now: i64,
    ) -> Result<(Partition, ValidRecords), KafkaError> {
        // Kafka's ReplicaManager refuses a client's append to an internal topic; only its
        // coordinator writes there.
        if origin == AppendOrigin::Client && is_internal_topic(&topic.name) {
            return Err(KafkaError::new(ResponseError::InvalidTopicException));
        }
        let partition = self.partition_or_error(&topic.name, index)?;
        let Some(records) = records else {
            return Err(KafkaError::with_message(
                ResponseError::CorruptMessage,
                "no records",
            ));
        };
        let config = partition.log().config();
        let valid =
            validation::validate(origin, records, self.max_message_bytes(topic), &config, now)?;
        Ok((partition, valid))
    }

    /// The topic's `max.message.bytes`, else the broker's `message.max.bytes`.
    fn max_message_bytes(&self, topic: &TopicMeta) -> usize {
        topic
            .configs
            .get("max.message.bytes")
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(self.message_max_bytes)
    }
}

/// Logs the outcome of an append and shapes it for the response.
fn finish(
    partition: &Partition,
    appended: Result<gregor_storage::AppendInfo, KafkaError>,
    log_append_time: i64,
) -> Result<AppendResult, KafkaError> {
    let tp = partition.topic_partition();
    match appended {
        Ok(info) => {
            if info.duplicate {
                // A retry of a batch already stored: answered with the offsets it got then.
                tracing::debug!(partition = %tp, base_offset = info.base_offset, "duplicate batch from an idempotent producer");
            }
            Ok(AppendResult {
                base_offset: info.base_offset,
                last_offset: info.last_offset,
                log_start_offset: info.log_start_offset,
                log_append_time,
            })
        }
        Err(e) => {
            if is_producer_state_error(e.code) {
                tracing::debug!(partition = %tp, cause = %e, "refused batch of an idempotent producer");
            } else {
                tracing::warn!(partition = %tp, cause = %e, "append failed");
            }
            Err(e)
        }
    }
}

/// Codes of a producer's sequence or epoch refused by the log: the client's doing, not the
/// broker's, so not worth a warning.
fn is_producer_state_error(code: ResponseError) -> bool {
    matches!(
        code,
        ResponseError::OutOfOrderSequenceNumber
            | ResponseError::InvalidProducerEpoch
            | ResponseError::InvalidRecord
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use gregor_storage::batch::build_test_batch;
    use gregor_storage::LogConfig;

    use super::*;

    fn topic(name: &str, configs: &[(&str, &str)]) -> TopicMeta {
        TopicMeta {
            name: name.to_string(),
            id: uuid::Uuid::new_v4(),
            partitions: 1,
            configs: configs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    /// A replica manager over a temp dir holding `t`, with one partition.
    fn manager(dir: &std::path::Path, t: &TopicMeta, config: LogConfig) -> ReplicaManager {
        let logs = Arc::new(LogManager::open(dir, config.clone()).unwrap());
        let store = Arc::new(TopicStore::load(dir).unwrap());
        store.create(t.clone()).unwrap();
        logs.get_or_create(&TopicPartition::new(&t.name, 0), config)
            .unwrap();
        ReplicaManager::new(logs, store, 1 << 20)
    }

    fn batch() -> Bytes {
        Bytes::from(build_test_batch(2, 10, now_ms()))
    }

    #[tokio::test]
    async fn only_a_coordinator_writes_an_internal_topic() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = topic("__consumer_offsets", &[]);
        let rm = manager(dir.path(), &offsets, LogConfig::default());
        let refused = rm
            .append_records(AppendOrigin::Client, &offsets, 0, Some(batch()))
            .await;
        assert_eq!(
            refused.map_err(|e| e.code),
            Err(ResponseError::InvalidTopicException)
        );
        let tp = TopicPartition::new("__consumer_offsets", 0);
        let appended = rm
            .append_coordinator_records_blocking(&tp, batch())
            .unwrap();
        assert_eq!((appended.base_offset, appended.last_offset), (0, 1));
    }

    #[tokio::test]
    async fn a_topics_max_message_bytes_wins_over_the_brokers() {
        let dir = tempfile::tempdir().unwrap();
        let small = topic("small", &[("max.message.bytes", "50")]);
        let rm = manager(dir.path(), &small, LogConfig::default());
        let refused = rm
            .append_records(AppendOrigin::Client, &small, 0, Some(batch()))
            .await;
        assert_eq!(
            refused.map_err(|e| e.code),
            Err(ResponseError::MessageTooLarge)
        );
        let missing = rm
            .append_records(AppendOrigin::Client, &small, 1, Some(batch()))
            .await;
        assert_eq!(
            missing.map_err(|e| e.code),
            Err(ResponseError::UnknownTopicOrPartition)
        );
    }

    /// Appends that roll a segment (handed to the blocking pool) and those that do not (inline)
    /// land in order, with the high watermark and last stable offset at the end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn appends_that_roll_and_appends_that_do_not_land_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let t = topic("t", &[]);
        let one = batch().len() as u64;
        let config = LogConfig {
            segment_bytes: 3 * one,
            ..LogConfig::default()
        };
        let rm = manager(dir.path(), &t, config);
        for i in 0..10 {
            let appended = rm
                .append_records(AppendOrigin::Client, &t, 0, Some(batch()))
                .await
                .unwrap();
            assert_eq!(appended.base_offset, 2 * i);
        }
        let partition = rm.partition("t", 0).unwrap();
        assert_eq!(partition.log().segment_count(), 4);
        assert_eq!(partition.high_watermark(), 20);
        assert_eq!(partition.last_stable_offset(), 20);
    }
}
