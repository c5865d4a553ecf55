//! Transactional offset commits in the group coordinator; the transactional half of Kafka's
//! OffsetMetadataManager (`pendingTransactionalOffsets`, `replayEndTransactionMarker`).
//!
//! A TxnOffsetCommit is checked like an OffsetCommit (group generation, member, metadata
//! size), written to `__consumer_offsets` as a transactional batch of the producer (so a
//! replay knows it is pending), and kept pending per producer id. When the transaction
//! coordinator has written the commit or abort marker into the partition, the group
//! coordinator moves the producer's pending offsets into the committed ones or drops them.
//! While any are pending for a partition, an OffsetFetch with `require_stable` answers
//! UNSTABLE_OFFSET_COMMIT for it.

use std::collections::BTreeMap;

use gregor_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use gregor_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use gregor_protocol::ResponseError;

use super::group_apis::Changes;
use super::group_coordinator::GroupCoordinator;
use super::offsets::{CommittedOffset, OffsetKey};
use super::records::CoordinatorRecord;

/// Offsets written in transactions not yet committed or aborted, by producer id.
#[derive(Debug, Default)]
pub struct PendingTxnOffsets {
    by_producer: BTreeMap<i64, BTreeMap<OffsetKey, CommittedOffset>>,
}

impl PendingTxnOffsets {
    /// Adds an offset of `producer_id`'s transaction.
    pub fn add(&mut self, producer_id: i64, key: OffsetKey, value: CommittedOffset) {
        self.by_producer
            .entry(producer_id)
            .or_default()
            .insert(key, value);
    }

    /// Takes `producer_id`'s pending offsets.
    pub fn take(&mut self, producer_id: i64) -> BTreeMap<OffsetKey, CommittedOffset> {
        self.by_producer.remove(&producer_id).unwrap_or_default()
    }

    /// Whether a transaction has an offset pending for the partition.
    pub fn is_pending(&self, group: &str, topic: &str, partition: i32) -> bool {
        let key = (group.to_string(), topic.to_string(), partition);
        self.by_producer.values().any(|o| o.contains_key(&key))
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.by_producer.is_empty()
    }
}

impl GroupCoordinator {
    /// TxnOffsetCommit: the response, and the records to write (as the producer's
    /// transactional batch) before sending it.
    pub fn txn_commit_offsets(
        &self,
        now: i64,
        req: &TxnOffsetCommitRequest,
    ) -> (TxnOffsetCommitResponse, Changes) {
        let group_id = req.group_id.as_str();
        let error = if group_id.is_empty() {
            Some(ResponseError::InvalidGroupId)
        } else {
            // A consumer-protocol member commits with its member epoch, checked as a v9
            // OffsetCommit is; a classic member as a classic commit (Kafka's
            // validateTransactionalOffsetCommit does not depend on the version either).
            let as_version = if self.consumer.groups.contains_key(group_id) {
                9
            } else {
                8
            };
            self.commit_allowed(
                group_id,
                req.member_id.as_str(),
                req.generation_id,
                as_version,
            )
        };
        let mut records = Vec::new();
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let metadata = p.committed_metadata.as_deref().unwrap_or("");
                        let error = self.offset_metadata_error(metadata, error);
                        if error.is_none() {
                            records.push(CoordinatorRecord::TxnOffset {
                                producer_id: req.producer_id.0,
                                producer_epoch: req.producer_epoch,
                                key: (group_id.to_string(), t.name.to_string(), p.partition_index),
                                value: CommittedOffset {
                                    offset: p.committed_offset,
                                    leader_epoch: p.committed_leader_epoch,
                                    metadata: metadata.to_string(),
                                    commit_time_ms: now,
                                },
                            });
                        }
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect();
                TxnOffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        (
            TxnOffsetCommitResponse::default().with_topics(topics),
            records,
        )
    }

    /// The marker of `producer_id`'s transaction is in `__consumer_offsets`: its pending
    /// offsets become committed (`commit`) or are dropped.
    pub fn complete_txn_offsets(&mut self, producer_id: i64, commit: bool) {
        let pending = self.pending_txn_offsets.take(producer_id);
        if !commit {
            return;
        }
        let records = pending
            .into_iter()
            .map(|(key, value)| CoordinatorRecord::Offset(key, Some(value)))
            .collect();
        self.apply(records);
    }
}

/// Records as batches: the plain ones in one batch, each producer's transactional offsets in a
/// transactional batch of that producer, as Kafka's coordinator writes them (base sequence 0,
/// which the log does not check for a coordinator's own appends).
pub fn encode_batches(records: &[CoordinatorRecord], timestamp: i64) -> Vec<u8> {
    let (txn, plain): (Vec<&CoordinatorRecord>, Vec<&CoordinatorRecord>) = records
        .iter()
        .partition(|r| matches!(r, CoordinatorRecord::TxnOffset { .. }));
    let mut out = Vec::new();
    let plain: Vec<CoordinatorRecord> = plain.into_iter().cloned().collect();
    if let Some(batch) = super::records::encode_batch(&plain, timestamp) {
        out.extend(batch);
    }
    let mut by_producer: BTreeMap<(i64, i16), Vec<&CoordinatorRecord>> = BTreeMap::new();
    for r in txn {
        if let CoordinatorRecord::TxnOffset {
            producer_id,
            producer_epoch,
            ..
        } = r
        {
            by_producer
                .entry((*producer_id, *producer_epoch))
                .or_default()
                .push(r);
        }
    }
    for ((producer_id, producer_epoch), records) in by_producer {
        let encoded: Vec<_> = records.iter().map(|r| r.encode()).collect();
        let refs: Vec<gregor_protocol::record_batch::RecordRef<'_>> = encoded
            .iter()
            .map(|(k, v)| (Some(&k[..]), v.as_deref()))
            .collect();
        let mut batch = gregor_protocol::record_batch::encode_records(timestamp, &refs);
        let attributes = gregor_record::batch::ATTRIBUTES;
        let flags = i16::from_be_bytes([batch[attributes], batch[attributes + 1]])
            | gregor_record::batch::TRANSACTIONAL_FLAG;
        batch[attributes..attributes + 2].copy_from_slice(&flags.to_be_bytes());
        gregor_record::batch::set_producer(&mut batch, producer_id, producer_epoch, 0);
        out.extend(batch);
    }
    out
}

#[cfg(test)]
mod tests {
    use gregor_protocol::messages::txn_offset_commit_request::{
        TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
    };
    use gregor_protocol::messages::{GroupId, ProducerId, TopicName};
    use gregor_protocol::StrBytes;

    use super::*;
    use crate::coordinator::CoordinatorConfig;

    fn request(group: &str, offset: i64) -> TxnOffsetCommitRequest {
        TxnOffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.into())))
            .with_producer_id(ProducerId(7))
            .with_producer_epoch(0)
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)])])
    }

    #[test]
    fn offsets_stay_pending_until_the_marker_and_only_a_commit_keeps_them() {
        let mut c = GroupCoordinator::new(CoordinatorConfig::default());
        let (response, records) = c.txn_commit_offsets(1, &request("g", 5));
        assert_eq!(response.topics[0].partitions[0].error_code, 0);
        c.apply(records);
        assert!(c.pending_txn_offsets.is_pending("g", "t", 0));
        assert!(c.offsets.get("g", "t", 0).is_none());
        c.complete_txn_offsets(7, true);
        assert_eq!(c.offsets.get("g", "t", 0).map(|o| o.offset), Some(5));
        assert!(c.pending_txn_offsets.is_empty());

        let (_, records) = c.txn_commit_offsets(2, &request("g", 9));
        c.apply(records);
        c.complete_txn_offsets(7, false);
        assert_eq!(c.offsets.get("g", "t", 0).map(|o| o.offset), Some(5));
        assert!(c.pending_txn_offsets.is_empty());
    }

    #[test]
    fn a_member_of_another_generation_is_refused() {
        let c = GroupCoordinator::new(CoordinatorConfig::default());
        let mut r = request("g", 5);
        r.generation_id = 3;
        r.member_id = StrBytes::from_static_str("m");
        let (response, records) = c.txn_commit_offsets(1, &r);
        assert_eq!(
            response.topics[0].partitions[0].error_code,
            ResponseError::IllegalGeneration.code()
        );
        assert!(records.is_empty());
    }
}
