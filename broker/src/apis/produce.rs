//! Produce: validate each partition's batches by their headers (never decompressing), append
//! them to the log, answer with the base offset.

use std::sync::Arc;

use gregor_protocol::messages::produce_request::PartitionProduceData;
use gregor_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use gregor_protocol::messages::{ProduceRequest, ProduceResponse};
use gregor_protocol::record_batch::{parse_batches, set_log_append_time};
use gregor_protocol::ResponseError;
use gregor_storage::timestamps::check_create_time;
use gregor_storage::{FsyncPolicy, TimestampType};

use crate::apis::some_str;
use crate::broker::{now_ms, Broker};
use crate::error::{batch_error_code, storage_error_code};
use crate::topics::{is_internal_topic, TopicMeta};

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
            let result = if !matches!(acks, -1..=1) {
                Err((ResponseError::InvalidRequiredAcks, None))
            } else if request.transactional_id.is_some() {
                // As InitProducerId refuses transactional ids, so do their produce requests:
                // Kafka's answer when the client may not use the transactional id.
                Err((
                    ResponseError::TransactionalIdAuthorizationFailed,
                    Some("Gregor does not support transactions".into()),
                ))
            } else {
                match &meta {
                    None => Err((unknown, None)),
                    // Kafka's ReplicaManager refuses a client's append to an internal topic;
                    // the group coordinator writes its log directly, never through Produce.
                    Some(meta) if is_internal_topic(&meta.name) => {
                        Err((ResponseError::InvalidTopicException, None))
                    }
                    Some(meta) => append(broker, meta, partition).await,
                }
            };
            partitions.push(match result {
                Ok((base_offset, log_start_offset, append_time)) => {
                    PartitionProduceResponse::default()
                        .with_index(partition.index)
                        .with_base_offset(base_offset)
                        .with_log_append_time_ms(append_time)
                        .with_log_start_offset(log_start_offset)
                }
                Err((error, message)) => PartitionProduceResponse::default()
                    .with_index(partition.index)
                    .with_error_code(error.code())
                    .with_error_message(message.and_then(some_str))
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1),
            });
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

/// (base offset, log start offset, log append time or -1), or the error for the partition.
type AppendResult = Result<(i64, i64, i64), (ResponseError, Option<String>)>;

async fn append(
    broker: &Arc<Broker>,
    meta: &TopicMeta,
    partition: &PartitionProduceData,
) -> AppendResult {
    let topic = meta.name.as_str();
    let Some(log) = broker.partition_log(topic, partition.index) else {
        return Err((ResponseError::UnknownTopicOrPartition, None));
    };
    let Some(records) = partition.records.clone() else {
        return Err((ResponseError::CorruptMessage, Some("no records".into())));
    };
    let headers =
        parse_batches(&records).map_err(|e| (batch_error_code(&e), Some(e.to_string())))?;
    // The topic was looked up once per request by the caller; no second lookup per partition.
    let max_message_bytes = meta
        .configs
        .get("max.message.bytes")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(broker.config.message_max_bytes);
    if headers
        .iter()
        .any(|h| h.is_transactional() || h.is_control())
    {
        let message =
            "transactional and control batches need transactions, which Gregor does not support";
        return Err((ResponseError::InvalidRecord, Some(message.into())));
    }
    if let Some(big) = headers.iter().find(|h| h.size > max_message_bytes) {
        let message = format!(
            "The record batch is {} bytes, larger than max.message.bytes {max_message_bytes}",
            big.size
        );
        return Err((ResponseError::MessageTooLarge, Some(message)));
    }
    let log_config = log.config();
    let log_append_time = log_config.message_timestamp_type == TimestampType::LogAppendTime;
    let now = now_ms();
    // From the batch headers only (base and max timestamp): the produce path never
    // decompresses, where Kafka's LogValidator checks each record.
    for h in &headers {
        if let Err(e) = check_create_time(h.base_timestamp, h.max_timestamp, now, &log_config) {
            return Err((ResponseError::InvalidTimestamp, Some(e.to_string())));
        }
    }
    let records = if log_append_time {
        // The only copy of produced bytes: stamping rewrites each batch header and its CRC.
        let mut stamped = records.to_vec();
        set_log_append_time(&mut stamped, now)
            .map_err(|e| (batch_error_code(&e), Some(e.to_string())))?;
        bytes::Bytes::from(stamped)
    } else {
        records
    };
    let appended = if log_config.fsync == FsyncPolicy::Always {
        // Waits for an fsync: keep it off the async worker threads.
        let log = log.clone();
        match tokio::task::spawn_blocking(move || log.append(&records, now)).await {
            Ok(result) => result,
            Err(_) => return Err((ResponseError::UnknownServerError, None)),
        }
    } else {
        // A copy into the page cache: as quick as the bookkeeping a hand-off would cost.
        log.append(&records, now)
    };
    match appended {
        Ok(info) if info.duplicate => {
            // A retry of a batch already stored: answered with the offsets it got then.
            tracing::debug!(
                topic,
                partition = partition.index,
                base_offset = info.base_offset,
                "duplicate batch from an idempotent producer"
            );
            Ok((
                info.base_offset,
                info.log_start_offset,
                if log_append_time { now } else { -1 },
            ))
        }
        Ok(info) => Ok((
            info.base_offset,
            info.log_start_offset,
            if log_append_time { now } else { -1 },
        )),
        Err(e @ gregor_storage::StorageError::Sequence(_)) => {
            tracing::debug!(topic, partition = partition.index, cause = %e, "refused batch of an idempotent producer");
            Err((storage_error_code(&e), Some(e.to_string())))
        }
        Err(e) => {
            tracing::warn!(topic, partition = partition.index, cause = %e, "append failed");
            Err((storage_error_code(&e), Some(e.to_string())))
        }
    }
}
