//! Fetch: resolves each requested topic (by name, or by id from v13 on), hands the partitions
//! to `ReplicaManager::fetch_messages` (which reads within the response budget and long-polls
//! for `min_bytes`), and maps what each partition answers into the response.

use std::sync::Arc;

use gregor_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use gregor_protocol::messages::ProducerId;
use gregor_protocol::messages::{FetchRequest, FetchResponse};
use gregor_protocol::ResponseError;

use crate::apis::topic_name;
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::partition::fetch::{FetchParams, FetchPartition, FetchPartitionData};
use crate::partition::IsolationLevel;

/// Handles a Fetch request, waiting up to `max_wait_ms` for `min_bytes`.
pub async fn handle(broker: &Arc<Broker>, request: &FetchRequest, version: i16) -> FetchResponse {
    let mut topics: Vec<FetchableTopicResponse> = Vec::with_capacity(request.topics.len());
    // The response topic each requested partition belongs to.
    let mut topic_of = Vec::new();
    let mut wanted = Vec::new();
    for topic in &request.topics {
        // From v13 on topics are named by id.
        let (meta, unknown) = if version >= 13 {
            (
                broker.topics.by_id(topic.topic_id),
                ResponseError::UnknownTopicId,
            )
        } else {
            (
                broker.topics.get(topic.topic.as_str()),
                ResponseError::UnknownTopicOrPartition,
            )
        };
        let name = meta
            .as_ref()
            .map_or_else(|| topic.topic.clone(), |m| topic_name(&m.name));
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(name)
                .with_topic_id(topic.topic_id),
        );
        for p in &topic.partitions {
            let partition = match &meta {
                None => Err(KafkaError::new(unknown)),
                Some(m) => broker
                    .replica_manager
                    .partition_or_error(&m.name, p.partition),
            };
            topic_of.push((topics.len() - 1, p.partition));
            wanted.push(FetchPartition {
                partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
            });
        }
    }
    let params = FetchParams {
        max_wait_ms: request.max_wait_ms,
        min_bytes: request.min_bytes,
        max_bytes: request.max_bytes,
        isolation: IsolationLevel::from_wire(request.isolation_level),
    };
    let read = broker.replica_manager.fetch_messages(params, &wanted).await;
    for ((topic_index, index), data) in topic_of.into_iter().zip(read) {
        crate::http::metrics::TRAFFIC.fetched(topics[topic_index].topic.as_str(), &data.records);
        topics[topic_index]
            .partitions
            .push(partition_data(index, data));
    }
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics)
}

fn partition_data(index: i32, data: FetchPartitionData) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(data.error.as_ref().map_or(0, KafkaError::code))
        .with_high_watermark(data.high_watermark)
        .with_last_stable_offset(data.last_stable_offset)
        .with_log_start_offset(data.log_start_offset)
        // read_uncommitted keeps the empty list Gregor always sent (Kafka sends null; clients
        // take either).
        .with_aborted_transactions(Some(
            data.aborted_transactions
                .unwrap_or_default()
                .into_iter()
                .map(|t| {
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(t.producer_id))
                        .with_first_offset(t.first_offset)
                })
                .collect(),
        ))
        .with_records(Some(data.records))
}
