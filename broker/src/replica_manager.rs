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
//! - **Transaction markers**: `write_txn_markers` writes a commit or abort control batch into
//!   each partition of a transaction (Kafka's WriteTxnMarkers, which the broker does itself
//!   here), through the same validation and log append as a coordinator's records; the log's
//!   producer state ends the transaction and, for an abort, indexes it. Before a transactional
//!   Produce is appended, the `TxnVerifier` the transaction coordinator installs checks the
//!   partition is in the transaction (KIP-890 verification; everything passes until one is
//!   installed).
//! - **Fetch**: `fetch_messages` owns the read budget and the long poll (`partition::fetch`).
//! - **Admin**: `delete_records` (DeleteRecords: internal topics refused, the work on the
//!   blocking pool) and `describe_log_dir` (DescribeLogDirs: the one data dir, its file system's
//!   sizes and each partition's bytes).
//! - Handlers resolve topic names or ids (their error depends on the request version) and map
//!   requests and responses; they hold no partition logic.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use gregor_protocol::ResponseError;
use gregor_storage::file_store::{self, FileStoreSpace};
use gregor_storage::{EndTxnMarker, LogManager, TopicPartition};

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

/// How a transaction ended, as its control batch says (Kafka's TransactionResult).
pub use gregor_storage::TxnResult;

/// A transactional Produce to one partition, as the transaction coordinator verifies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnProduce<'a> {
    /// The request's transactional id.
    pub transactional_id: &'a str,
    /// Producer id and epoch of the partition's first batch.
    pub producer_id: i64,
    /// See `producer_id`.
    pub producer_epoch: i16,
    /// The partition written.
    pub topic: &'a str,
    /// See `topic`.
    pub partition: i32,
    /// The Produce version: from 12 on (with `transaction.version` 2) the coordinator adds the
    /// partition to the transaction itself; before, it only verifies it was added.
    pub produce_version: i16,
}

/// A boxed future, for the object-safe verifier.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Checks, before a transactional batch is appended, that its partition belongs to the
/// producer's ongoing transaction (KIP-890 part 1, `transaction.partition.verification.enable`;
/// Kafka's `ReplicaManager.maybeStartTransactionVerificationForPartition`). The transaction
/// coordinator installs one with `ReplicaManager::set_txn_verifier`; an error is the
/// partition's answer (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH, ...).
pub trait TxnVerifier: Send + Sync {
    /// Whether `produce` may be appended.
    fn verify<'a>(&'a self, produce: TxnProduce<'a>) -> BoxFuture<'a, Result<(), KafkaError>>;
}

/// The verifier until a coordinator installs its own: every transactional write passes.
struct AllowAll;

impl TxnVerifier for AllowAll {
    fn verify<'a>(&'a self, _: TxnProduce<'a>) -> BoxFuture<'a, Result<(), KafkaError>> {
        Box::pin(async { Ok(()) })
    }
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
    /// Verifies transactional Produce requests; the transaction coordinator replaces it.
    txn_verifier: RwLock<Arc<dyn TxnVerifier>>,
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
            txn_verifier: RwLock::new(Arc::new(AllowAll)),
        }
    }

    /// Installs the transaction coordinator's verifier of transactional Produce requests.
    pub fn set_txn_verifier(&self, verifier: Arc<dyn TxnVerifier>) {
        *self.txn_verifier.write().unwrap_or_else(|e| e.into_inner()) = verifier;
    }

    /// Asks the installed verifier whether `produce` may be appended.
    pub async fn verify_txn_produce(&self, produce: TxnProduce<'_>) -> Result<(), KafkaError> {
        let verifier = self
            .txn_verifier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        verifier.verify(produce).await
    }

    /// Writes the commit or abort marker of `producer_id`'s transaction into each partition
    /// (Kafka's WriteTxnMarkers, done by the broker itself), durably as the partition's flush
    /// policy says; each partition's last stable offset then moves past the transaction.
    /// Partitions are written concurrently; each gets its own outcome, in the order asked:
    /// UNKNOWN_TOPIC_OR_PARTITION for one that does not exist, INVALID_PRODUCER_EPOCH for an
    /// epoch older than the producer's in that log, TRANSACTION_COORDINATOR_FENCED for a
    /// coordinator epoch older than the last marker's. A marker for a partition the producer
    /// never wrote is written all the same (as Kafka does) and ends nothing.
    pub async fn write_txn_markers(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        result: TxnResult,
        partitions: &[(String, i32)],
    ) -> Vec<((String, i32), Result<(), KafkaError>)> {
        let now = now_ms();
        let marker = Bytes::from(
            EndTxnMarker {
                result,
                coordinator_epoch,
            }
            .batch(producer_id, producer_epoch, now),
        );
        let writes = partitions.iter().map(|(topic, index)| {
            let marker = marker.clone();
            async move {
                let written = async {
                    let topic = self.topic(topic)?;
                    let (partition, valid) =
                        self.prepare(AppendOrigin::Coordinator, &topic, *index, Some(marker), now)?;
                    let appended = partition
                        .append(valid.records, now, AppendOrigin::Coordinator)
                        .await;
                    finish(&partition, appended, valid.log_append_time).map(|_| ())
                }
                .await;
                ((topic.clone(), *index), written)
            }
        });
        futures_util::future::join_all(writes).await
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
        let appended = partition.append(valid.records, now, origin).await;
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
        let appended = partition.append_blocking(&valid.records, now, origin);
        finish(&partition, appended, valid.log_append_time)
    }

    /// For a coordinator: appends already encoded batches to its internal topic's partition,
    /// validated as any append (size, timestamps, producer state) but allowed on internal
    /// topics. Returns once the batches are in the log (and durable with fsync-always). Where
    /// every append is fsynced it runs on the coordinator's writer thread; otherwise it is a
    /// page-cache write and runs on the coordinator's task (`coordinator::writer::WriteMode`).
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
            | ResponseError::InvalidTxnState
            | ResponseError::TransactionCoordinatorFenced
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

    #[tokio::test]
    async fn markers_end_transactions_and_move_the_last_stable_offset() {
        use gregor_storage::batch::build_test_txn_batch;
        let dir = tempfile::tempdir().unwrap();
        let t = topic("t", &[]);
        let rm = manager(dir.path(), &t, LogConfig::default());
        let now = now_ms();
        let produce = |records: Vec<u8>| {
            rm.append_records(AppendOrigin::Client, &t, 0, Some(Bytes::from(records)))
        };
        produce(build_test_batch(2, 10, now)).await.unwrap();
        let appended = produce(build_test_txn_batch(5, 0, 0, 3, now))
            .await
            .unwrap();
        assert_eq!(appended.base_offset, 2);
        let p = rm.partition("t", 0).unwrap();
        assert_eq!((p.high_watermark(), p.last_stable_offset()), (5, 2));
        // The open transaction holds read_committed readers and ListOffsets at its start.
        let latest = p
            .fetch_offset_for_timestamp(-1, crate::partition::IsolationLevel::ReadCommitted)
            .unwrap();
        assert_eq!(latest.map(|l| l.offset), Some(2));

        let parts = [("t".to_string(), 0), ("missing".to_string(), 0)];
        let written = rm
            .write_txn_markers(5, 0, 3, TxnResult::Abort, &parts)
            .await;
        assert!(written[0].1.is_ok());
        assert_eq!(
            written[1].1.as_ref().map_err(|e| e.code),
            Err(ResponseError::UnknownTopicOrPartition)
        );
        assert_eq!((p.high_watermark(), p.last_stable_offset()), (6, 6));
        let aborted = p.aborted_transactions(0, 6);
        assert_eq!(aborted.len(), 1);
        assert_eq!(
            (
                aborted[0].producer_id,
                aborted[0].first_offset,
                aborted[0].last_offset
            ),
            (5, 2, 5)
        );
        assert!(p.aborted_transactions(6, 7).is_empty());

        produce(build_test_txn_batch(5, 0, 3, 1, now))
            .await
            .unwrap();
        let t0 = [("t".to_string(), 0)];
        let code = |w: Vec<((String, i32), Result<(), KafkaError>)>| {
            w[0].1.as_ref().map_err(|e| e.code).err()
        };
        let stale = rm.write_txn_markers(5, 0, 2, TxnResult::Commit, &t0).await;
        assert_eq!(
            code(stale),
            Some(ResponseError::TransactionCoordinatorFenced)
        );
        // A non-transactional batch while the transaction is open.
        let mut plain = build_test_batch(1, 10, now);
        gregor_storage::batch::set_test_producer(&mut plain, 5, 0, 4);
        assert_eq!(
            produce(plain).await.map_err(|e| e.code),
            Err(ResponseError::InvalidTxnState)
        );
        let commit = rm.write_txn_markers(5, 1, 3, TxnResult::Commit, &t0).await;
        assert_eq!(code(commit), None);
        assert_eq!((p.high_watermark(), p.last_stable_offset()), (8, 8));
        let zombie = rm.write_txn_markers(5, 0, 3, TxnResult::Commit, &t0).await;
        assert_eq!(code(zombie), Some(ResponseError::InvalidProducerEpoch));
        // A client may not write a marker itself.
        let marker = gregor_storage::EndTxnMarker {
            result: TxnResult::Commit,
            coordinator_epoch: 3,
        }
        .batch(5, 1, now);
        assert_eq!(
            produce(marker).await.map_err(|e| e.code),
            Err(ResponseError::InvalidRecord)
        );
    }

    /// The coordinator writes transactional offset commits and their marker into
    /// `__consumer_offsets` through its own writer: without sequences, ended as markers
    /// written through `write_txn_markers` end them.
    #[tokio::test]
    async fn the_coordinators_writer_appends_transactional_batches_and_markers() {
        let dir = tempfile::tempdir().unwrap();
        let offsets = topic("__consumer_offsets", &[]);
        let rm = manager(dir.path(), &offsets, LogConfig::default());
        let tp = TopicPartition::new("__consumer_offsets", 0);
        rm.append_coordinator_records_blocking(&tp, batch())
            .unwrap();
        let commit = gregor_storage::batch::build_test_txn_batch(11, 2, -1, 1, now_ms());
        let appended = rm
            .append_coordinator_records_blocking(&tp, Bytes::from(commit))
            .unwrap();
        assert_eq!(appended.base_offset, 2);
        let p = rm.partition("__consumer_offsets", 0).unwrap();
        assert_eq!(p.last_stable_offset(), 2);
        let marker = gregor_storage::EndTxnMarker {
            result: TxnResult::Commit,
            coordinator_epoch: 0,
        }
        .batch(11, 2, now_ms());
        rm.append_coordinator_records_blocking(&tp, Bytes::from(marker))
            .unwrap();
        assert_eq!((p.high_watermark(), p.last_stable_offset()), (4, 4));
    }
}
