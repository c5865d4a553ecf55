//! Produce: maps each partition's data to `ReplicaManager::append_records` (which validates
//! and appends) and its outcome to the response; acks=0 gets no response at all.

use std::sync::Arc;

use gregor_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use gregor_protocol::messages::{ProduceRequest, ProduceResponse};
use gregor_protocol::ResponseError;

use crate::apis::some_str;
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::partition::validation::AppendOrigin;
use crate::replica_manager::{AppendResult, ReplicaManager};

/// Handles a Produce request; `None` for acks=0, which gets no response at all.
pub async fn handle(
    broker: &Arc<Broker>,
    request: &ProduceRequest,
    version: i16,
) -> Option<ProduceResponse> {
    let acks = request.acks;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in &request.topic_data {
        // From v13 on topics are named by id.
        let meta = if version >= 13 {
            broker.topics.by_id(topic.topic_id)
        } else {
            broker.topics.get(topic.name.as_str())
        };
        let unknown = if version >= 13 {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for partition in &topic.partition_data {
            let result = match ReplicaManager::check_required_acks(acks) {
                Err(e) => Err(e),
                // As InitProducerId refuses transactional ids, so do their produce requests:
                // Kafka's answer when the client may not use the transactional id.
                Ok(()) if request.transactional_id.is_some() => Err(KafkaError::with_message(
                    ResponseError::TransactionalIdAuthorizationFailed,
                    "Gregor does not support transactions",
                )),
                Ok(()) => match &meta {
                    None => Err(KafkaError::new(unknown)),
                    Some(meta) => {
                        broker
                            .replica_manager
                            .append_records(
                                AppendOrigin::Client,
                                meta,
                                partition.index,
                                partition.records.clone(),
                            )
                            .await
                    }
                },
            };
            partitions.push(partition_response(partition.index, result));
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions),
        );
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(responses))
}

fn partition_response(
    index: i32,
    result: Result<AppendResult, KafkaError>,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(index);
    match result {
        Ok(appended) => response
            .with_base_offset(appended.base_offset)
            .with_log_append_time_ms(appended.log_append_time)
            .with_log_start_offset(appended.log_start_offset),
        Err(e) => response
            .with_error_code(e.code())
            .with_error_message(e.message.and_then(some_str))
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1),
    }
}
