//! OffsetForLeaderEpoch: where a leader epoch ends, which consumers ask to validate their
//! position after a metadata change (KIP-320). Every partition has had one leader epoch, 0, as
//! Metadata reports; its end is the log end offset. Kafka's counterpart is
//! `KafkaApis.handleOffsetForLeaderEpochRequest` with `Partition.lastOffsetForLeaderEpoch`.

use std::sync::Arc;

use gregor_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use gregor_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use crate::broker::Broker;

/// Handles OffsetForLeaderEpoch.
pub fn handle(
    broker: &Arc<Broker>,
    request: &OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    // Defaults: no epoch known (-1, -1).
                    let base = EpochEndOffset::default().with_partition(p.partition);
                    let found = broker
                        .replica_manager
                        .partition_or_error(topic.topic.as_str(), p.partition)
                        .and_then(|partition| {
                            partition.last_offset_for_leader_epoch(
                                p.current_leader_epoch,
                                p.leader_epoch,
                            )
                        });
                    match found {
                        Ok(Some(end)) => base
                            .with_leader_epoch(end.leader_epoch)
                            .with_end_offset(end.end_offset),
                        Ok(None) => base,
                        Err(e) => base.with_error_code(e.code()),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
