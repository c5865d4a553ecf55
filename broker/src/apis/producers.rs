//! DescribeProducers: per partition, the producers its log tracks (producer id, epoch, last
//! sequence, last timestamp, the coordinator epoch of its last marker, and the first offset of
//! its ongoing transaction, -1 for none). Kafka's counterpart is `KafkaApis.handleDescribeProducersRequest`
//! with `UnifiedLog.activeProducers`.

use std::sync::Arc;

use gregor_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use gregor_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use gregor_protocol::{ResponseError, StrBytes};

use crate::broker::Broker;
use crate::error::KafkaError;
use crate::topics::validate_topic_name;

/// Handles DescribeProducers.
pub fn handle(
    broker: &Arc<Broker>,
    request: &DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.as_str();
            // Kafka answers a topic-level error with the error's own message.
            let topic_error = match validate_topic_name(name) {
                Err(message) => Some(KafkaError::with_message(
                    ResponseError::InvalidTopicException,
                    message,
                )),
                Ok(()) if broker.topics.get(name).is_none() => Some(KafkaError::with_message(
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.",
                )),
                Ok(()) => None,
            };
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|&index| {
                    let base = PartitionResponse::default().with_partition_index(index);
                    if let Some(e) = &topic_error {
                        return base
                            .with_error_code(e.code())
                            .with_error_message(e.message.clone().map(StrBytes::from_string));
                    }
                    match broker.replica_manager.partition_or_error(name, index) {
                        Ok(partition) => base.with_active_producers(
                            partition
                                .active_producers()
                                .into_iter()
                                .map(|p| {
                                    ProducerState::default()
                                        .with_producer_id(ProducerId(p.producer_id))
                                        .with_producer_epoch(i32::from(p.epoch))
                                        .with_last_sequence(p.last_sequence)
                                        .with_last_timestamp(p.last_timestamp)
                                        .with_coordinator_epoch(p.coordinator_epoch)
                                        .with_current_txn_start_offset(p.current_txn_start_offset)
                                })
                                .collect(),
                        ),
                        Err(e) => base.with_error_code(e.code()),
                    }
                })
                .collect();
            TopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DescribeProducersResponse::default().with_topics(topics)
}
