//! Topic admin: CreateTopics, DeleteTopics, CreatePartitions.

use std::sync::Arc;

use gregor_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use gregor_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use gregor_protocol::messages::delete_topics_response::DeletableTopicResult;
use gregor_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::{some_str, topic_name};
use crate::broker::Broker;
use crate::error::KafkaError;
use crate::topic_config::{self, TOPIC_CONFIGS};
use crate::topics::TopicMeta;

/// Kafka 4's controller refuses a CreateTopics request that would create more partitions than
/// this in all (KAFKA-17870), and CreatePartitions requests adding more (KAFKA-19673). Here it
/// also keeps one request from making the broker create millions of partition directories.
const MAX_PARTITIONS_PER_REQUEST: i64 = 10_000;

/// The group coordinator's internal topic.
const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Kafka's message for a request over `MAX_PARTITIONS_PER_REQUEST`.
const TOO_MANY_PARTITIONS: &str = "Excessively large number of partitions per request.";

/// Handles CreateTopics.
pub fn create_topics(broker: &Arc<Broker>, request: &CreateTopicsRequest) -> CreateTopicsResponse {
    let mut seen = std::collections::HashSet::new();
    let total: i64 = request
        .topics
        .iter()
        .map(|t| match (t.assignments.len(), t.num_partitions) {
            (0, -1) => i64::from(broker.config.num_partitions),
            (0, n) => i64::from(n.max(0)),
            (assigned, _) => assigned as i64,
        })
        .sum();
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_str();
            let result = if total > MAX_PARTITIONS_PER_REQUEST {
                Err(KafkaError::with_message(
                    ResponseError::PolicyViolation,
                    TOO_MANY_PARTITIONS,
                ))
            } else if !seen.insert(name) {
                Err(KafkaError::with_message(
                    ResponseError::InvalidRequest,
                    format!("Create topics request from client contains a duplicate topic: {name}"),
                ))
            } else {
                create_one(broker, t, request.validate_only)
            };
            let base = CreatableTopicResult::default().with_name(t.name.clone());
            match result {
                Ok(topic) => {
                    // Sources as before: override or default (the broker-level sources of
                    // DescribeConfigs were not measured for CreateTopics).
                    let configs = TOPIC_CONFIGS
                        .iter()
                        .map(|k| {
                            let d = topic_config::describe(k, &topic.configs, &broker.config);
                            let overridden = d.source == topic_config::source::DYNAMIC_TOPIC_CONFIG;
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_static_str(k.name))
                                .with_value(some_str(d.value))
                                .with_config_source(if overridden { 1 } else { 5 })
                        })
                        .collect();
                    base.with_topic_id(topic.id)
                        .with_num_partitions(topic.partitions)
                        .with_replication_factor(1)
                        .with_configs(Some(configs))
                }
                Err(e) => base
                    .with_error_code(e.code())
                    .with_error_message(e.message.map(StrBytes::from_string))
                    .with_num_partitions(-1)
                    .with_replication_factor(-1),
            }
        })
        .collect();
    CreateTopicsResponse::default().with_topics(topics)
}

fn create_one(
    broker: &Broker,
    t: &gregor_protocol::messages::create_topics_request::CreatableTopic,
    validate_only: bool,
) -> Result<TopicMeta, KafkaError> {
    if t.replication_factor != -1 && t.replication_factor != 1 {
        let message = format!(
            "Unable to replicate the partition {} time(s): The target replication factor of {} cannot be reached because only 1 broker(s) are registered.",
            t.replication_factor, t.replication_factor
        );
        return Err(KafkaError::with_message(
            ResponseError::InvalidReplicationFactor,
            message,
        ));
    }
    let mut partitions = t.num_partitions;
    if !t.assignments.is_empty() {
        if t.num_partitions != -1 || t.replication_factor != -1 {
            return Err(KafkaError::with_message(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set.",
            ));
        }
        if t.assignments.iter().any(|a| {
            a.broker_ids.iter().any(|b| b.0 != broker.config.node_id) || a.broker_ids.len() != 1
        }) {
            return Err(KafkaError::with_message(
                ResponseError::InvalidReplicaAssignment,
                "Replica assignments must name only this broker, once.",
            ));
        }
        partitions = t.assignments.len() as i32;
    }
    let mut configs = std::collections::BTreeMap::new();
    for c in &t.configs {
        if let Some(value) = &c.value {
            configs.insert(c.name.to_string(), value.to_string());
        }
    }
    broker.create_topic(t.name.as_str(), partitions, configs, validate_only)
}

/// Handles DeleteTopics (by name, or by id from v6).
pub fn delete_topics(broker: &Arc<Broker>, request: &DeleteTopicsRequest) -> DeleteTopicsResponse {
    let mut wanted: Vec<(Option<String>, uuid::Uuid)> = request
        .topic_names
        .iter()
        .map(|n| (Some(n.to_string()), uuid::Uuid::nil()))
        .collect();
    wanted.extend(
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.to_string()), t.topic_id)),
    );
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let name = name.or_else(|| broker.topics.by_id(id).map(|t| t.name));
            let result = match &name {
                // Kafka 4.4 deletes __consumer_offsets when asked (and makes a new, empty one
                // on the next FindCoordinator); Gregor's group coordinator keeps its log open
                // for the broker's lifetime, so it refuses rather than lose every committed
                // offset under a running coordinator.
                Some(name) if name == OFFSETS_TOPIC => Err(KafkaError::with_message(
                    ResponseError::InvalidRequest,
                    format!("Gregor does not delete the internal topic {name}: its group coordinator uses it"),
                )),
                Some(name) => broker.delete_topic(name),
                None => Err(KafkaError::with_message(
                    ResponseError::UnknownTopicId,
                    "This server does not host this topic ID.",
                )),
            };
            let base = DeletableTopicResult::default().with_name(name.as_deref().map(topic_name));
            match result {
                Ok(topic) => base.with_topic_id(topic.id),
                Err(e) => base
                    .with_topic_id(id)
                    .with_error_code(e.code())
                    .with_error_message(e.message.map(StrBytes::from_string)),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// Explicit assignments must name one replica list per partition added, as Kafka's controller
/// checks (`ReplicationControlManager.createPartitions`); null lets the broker place them, and
/// an empty list asks for none. A count that adds nothing is left to `add_partitions`.
fn assignment_mismatch<T>(
    current: i32,
    count: i32,
    assignments: Option<&[T]>,
) -> Option<KafkaError> {
    let assignments = assignments?;
    let additional = i64::from(count) - i64::from(current);
    if additional <= 0 || assignments.len() as i64 == additional {
        return None;
    }
    Some(KafkaError::with_message(
        ResponseError::InvalidReplicaAssignment,
        format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) \
             were specified.",
            assignments.len()
        ),
    ))
}

/// Handles CreatePartitions.
pub fn create_partitions(
    broker: &Arc<Broker>,
    request: &CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let added: i64 = request
        .topics
        .iter()
        .map(|t| {
            let current = broker
                .topics
                .get(t.name.as_str())
                .map_or(0, |m| m.partitions);
            (i64::from(t.count) - i64::from(current)).max(0)
        })
        .sum();
    let results = request
        .topics
        .iter()
        .map(|t| {
            let base = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let result =
                if added > MAX_PARTITIONS_PER_REQUEST {
                    Err(KafkaError::with_message(
                        ResponseError::PolicyViolation,
                        TOO_MANY_PARTITIONS,
                    ))
                } else if let Some(e) = broker.topics.get(t.name.as_str()).and_then(|m| {
                    assignment_mismatch(m.partitions, t.count, t.assignments.as_deref())
                }) {
                    Err(e)
                } else {
                    broker.add_partitions(t.name.as_str(), t.count, request.validate_only)
                };
            match result {
                Ok(_) => base,
                Err(e) => base
                    .with_error_code(e.code())
                    .with_error_message(e.message.map(StrBytes::from_string)),
            }
        })
        .collect();
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod assignment_tests {
    use super::assignment_mismatch;

    #[test]
    fn explicit_assignments_must_cover_each_added_partition() {
        assert!(assignment_mismatch::<u8>(1, 3, None).is_none());
        assert!(assignment_mismatch(1, 3, Some(&[0u8, 0][..])).is_none());
        let e = assignment_mismatch::<u8>(1, 2, Some(&[])).expect("refused");
        assert_eq!(e.code(), 39);
        assert_eq!(
            e.message.as_deref(),
            Some("Attempted to add 1 additional partition(s), but only 0 assignment(s) were specified.")
        );
        // Not an increase: INVALID_PARTITIONS comes from add_partitions.
        assert!(assignment_mismatch::<u8>(3, 3, Some(&[])).is_none());
    }
}
