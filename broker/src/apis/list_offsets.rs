//! ListOffsets: maps each partition to `Partition::fetch_offset_for_timestamp` (the special
//! timestamps -1 latest, -2 earliest, -3 max timestamp, -4 earliest local, -5 latest tiered,
//! or a time) and the answer to the response.

use std::sync::Arc;

use gregor_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use gregor_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::broker::Broker;
use crate::error::KafkaError;
use crate::partition::{IsolationLevel, LEADER_EPOCH};

/// Handles a ListOffsets request.
pub fn handle(
    broker: &Arc<Broker>,
    request: &ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    // Leader epochs exist from v4 on; older versions must not carry one.
    let leader_epoch = if version >= 4 { LEADER_EPOCH } else { -1 };
    let isolation = IsolationLevel::from_wire(request.isolation_level);
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let base = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    let found = broker
                        .replica_manager
                        .partition_or_error(topic.name.as_str(), p.partition_index)
                        .and_then(|partition| {
                            partition
                                .fetch_offset_for_timestamp(p.timestamp, isolation)
                                .map_err(KafkaError::from)
                        });
                    match found {
                        Ok(found) => {
                            let (timestamp, offset) =
                                found.map_or((-1, -1), |f| (f.timestamp, f.offset));
                            base.with_timestamp(timestamp)
                                .with_offset(offset)
                                .with_leader_epoch(leader_epoch)
                        }
                        Err(e) => base
                            .with_error_code(e.code())
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
