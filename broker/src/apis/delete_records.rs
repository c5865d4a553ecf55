//! DeleteRecords: each partition's log start offset moves up to the offset asked for (-1: the
//! high watermark), answered with the new low watermark. Kafka's counterpart is
//! `KafkaApis.handleDeleteRecordsRequest` with `ReplicaManager.deleteRecords`; the partition
//! logic is in `ReplicaManager::delete_records`.

use std::sync::Arc;

use gregor_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use gregor_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::broker::Broker;

/// Kafka's `DeleteRecordsResponse.INVALID_LOW_WATERMARK`, sent with an error.
const INVALID_LOW_WATERMARK: i64 = -1;

/// Handles DeleteRecords.
pub async fn handle(broker: &Arc<Broker>, request: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let mut partitions = Vec::with_capacity(topic.partitions.len());
        for p in &topic.partitions {
            let result = broker
                .replica_manager
                .delete_records(topic.name.as_str(), p.partition_index, p.offset)
                .await;
            let base =
                DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
            partitions.push(match result {
                Ok(low_watermark) => base.with_low_watermark(low_watermark),
                Err(e) => {
                    tracing::debug!(topic = %topic.name.as_str(), partition = p.partition_index, cause = %e, "delete records refused");
                    base.with_low_watermark(INVALID_LOW_WATERMARK)
                        .with_error_code(e.code())
                }
            });
        }
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions),
        );
    }
    DeleteRecordsResponse::default().with_topics(topics)
}
