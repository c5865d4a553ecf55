//! Produce: maps each partition's data to `ReplicaManager::append_records` (which validates
//! and appends) and its outcome to the response; acks=0 gets no response at all. A
//! transactional request's partitions are first verified with the transaction coordinator
//! (`ReplicaManager::verify_txn_produce`, Kafka's KIP-890 verification).

use std::sync::Arc;

use gregor_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use gregor_protocol::messages::{ProduceRequest, ProduceResponse};
use gregor_protocol::ResponseError;

use crate::apis::some_str;
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::partition::validation::AppendOrigin;
use crate::replica_manager::{AppendResult, ReplicaManager, TxnProduce};

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
                Ok(()) => match &meta {
                    None => Err(KafkaError::new(unknown)),
                    Some(meta) => {
                        let verified = match txn_produce(request, version, &meta.name, partition) {
                            Ok(Some(produce)) => {
                                broker.replica_manager.verify_txn_produce(produce).await
                            }
                            Ok(None) => Ok(()),
                            Err(e) => Err(e),
                        };
                        match verified {
                            Err(e) => Err(e),
                            Ok(()) => {
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
                        }
                    }
                },
            };
            if let (Ok(appended), Some(meta)) = (&result, &meta) {
                crate::http::metrics::TRAFFIC.produced(
                    &meta.name,
                    (appended.last_offset - appended.base_offset + 1).max(0) as u64,
                    partition.records.as_ref().map_or(0, |r| r.len() as u64),
                );
            }
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

/// What the coordinator verifies for a partition: the producer of its first transactional
/// batch. `None` when there is nothing to verify (no transactional batch; a batch that does
/// not parse is refused by validation). Transactional records without a transactional id are
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, as Kafka answers them.
fn txn_produce<'a>(
    request: &'a ProduceRequest,
    version: i16,
    topic: &'a str,
    partition: &'a gregor_protocol::messages::produce_request::PartitionProduceData,
) -> Result<Option<TxnProduce<'a>>, KafkaError> {
    let Some(records) = partition.records.as_ref() else {
        return Ok(None);
    };
    // Headers only: validation checks the CRCs once, after this.
    let Some(header) = gregor_storage::batch::headers(records)
        .map_while(Result::ok)
        .map(|(_, h)| h)
        .find(|h| h.is_transactional())
    else {
        return Ok(None);
    };
    let Some(transactional_id) = request.transactional_id.as_ref() else {
        return Err(KafkaError::with_message(
            ResponseError::TransactionalIdAuthorizationFailed,
            "Transactional records need the request's transactional id",
        ));
    };
    Ok(Some(TxnProduce {
        transactional_id: transactional_id.as_str(),
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        topic,
        partition: partition.index,
        produce_version: version,
    }))
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
