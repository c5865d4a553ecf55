//! Metadata: the one broker, and the topics asked for (all when the list is null), by name or,
//! from v12, by topic id; missing names are created when auto-creation is on and the client
//! allows it. Kafka's counterpart is `KafkaApis.handleTopicMetadataRequest`.

use std::sync::Arc;

use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use gregor_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use gregor_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::topic_name;
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;
use crate::request_context::RequestContext;
use crate::topics::{is_internal_topic, validate_topic_name, TopicMeta};

/// What Kafka answers for the operations a client may do on a topic when no authorizer is
/// configured: every operation `AclEntry.supportedOperations(TOPIC)` lists (READ 3, WRITE 4,
/// CREATE 5, DELETE 6, ALTER 7, DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11), one bit per
/// `AclOperation` code.
pub const TOPIC_AUTHORIZED_OPERATIONS: i32 = bits(&[3, 4, 5, 6, 7, 8, 10, 11]);

/// The same for the cluster: CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12.
pub const CLUSTER_AUTHORIZED_OPERATIONS: i32 = bits(&[5, 7, 8, 9, 10, 11, 12]);

const fn bits(codes: &[u8]) -> i32 {
    let mut field = 0;
    let mut i = 0;
    while i < codes.len() {
        field |= 1 << codes[i];
        i += 1;
    }
    field
}

/// Handles a Metadata request.
pub fn handle(
    broker: &Arc<Broker>,
    request: &MetadataRequest,
    version: i16,
    ctx: &RequestContext,
) -> MetadataResponse {
    let node = BrokerId(broker.config.node_id);
    let mut topics = match &request.topics {
        // v0 has no null list: an empty one means all topics there.
        None => all_topics(broker),
        Some(wanted) if wanted.is_empty() && version == 0 => all_topics(broker),
        Some(wanted) => {
            // Kafka looks topics up by id as soon as one id is set, ignoring the names.
            let by_id = version >= 12 && wanted.iter().any(|w| !w.topic_id.is_nil());
            if by_id {
                wanted
                    .iter()
                    .filter(|w| !w.topic_id.is_nil())
                    .map(|w| by_topic_id(broker, w))
                    .collect()
            } else {
                let allow_create = request.allow_auto_topic_creation || version < 4;
                wanted
                    .iter()
                    .map(|w| {
                        let name = w.name.as_ref().map_or("", |n| n.as_str());
                        by_name(broker, name, allow_create)
                    })
                    .collect()
            }
        }
    };
    if version >= 8 && request.include_topic_authorized_operations {
        for topic in &mut topics {
            // Unknown ids get no answer here, as in Kafka: there is no topic to authorize.
            if topic.error_code != ResponseError::UnknownTopicId.code() {
                topic.topic_authorized_operations = TOPIC_AUTHORIZED_OPERATIONS;
            }
        }
    }
    // Cluster operations moved to DescribeCluster in v11 (KIP-700).
    let cluster_operations =
        if (8..=10).contains(&version) && request.include_cluster_authorized_operations {
            CLUSTER_AUTHORIZED_OPERATIONS
        } else {
            i32::MIN
        };
    // The address of the listener this request came in on, as Kafka answers each listener's
    // clients with their own (a TLS client must stay on the TLS listener).
    let (host, port) = &ctx.endpoint.advertised;
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(host.clone()))
            .with_port(*port)])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
        .with_controller_id(node)
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_operations)
}

/// Every topic, internal ones included (marked `is_internal`, as regex subscribers expect).
fn all_topics(broker: &Broker) -> Vec<MetadataResponseTopic> {
    broker
        .topics
        .all()
        .iter()
        .map(|t| topic_entry(broker, t))
        .collect()
}

fn by_topic_id(broker: &Broker, wanted: &MetadataRequestTopic) -> MetadataResponseTopic {
    match broker.topics.by_id(wanted.topic_id) {
        Some(t) => topic_entry(broker, &t),
        None => MetadataResponseTopic::default()
            .with_error_code(ResponseError::UnknownTopicId.code())
            .with_name(None)
            .with_topic_id(wanted.topic_id),
    }
}

/// The topic named `name`, or the error Kafka gives for it. A missing topic that may be
/// created is created here, but the answer is still UNKNOWN_TOPIC_OR_PARTITION with no
/// partitions, as Kafka 4's broker answers while its controller creates the topic: clients
/// retry, and one that has just deleted a topic does not mistake the new one for the old.
fn by_name(broker: &Broker, name: &str, allow_create: bool) -> MetadataResponseTopic {
    if let Some(t) = broker.topics.get(name) {
        return topic_entry(broker, &t);
    }
    let missing = |error: ResponseError| {
        MetadataResponseTopic::default()
            .with_error_code(error.code())
            .with_name(Some(topic_name(name)))
            .with_is_internal(is_internal_topic(name))
    };
    if validate_topic_name(name).is_err() {
        return missing(ResponseError::InvalidTopicException);
    }
    if !(allow_create && broker.config.auto_create_topics) {
        return missing(ResponseError::UnknownTopicOrPartition);
    }
    match broker.create_topic(name, -1, Default::default(), false) {
        Ok(_) => missing(ResponseError::UnknownTopicOrPartition),
        // Created meanwhile by another connection: it exists, so describe it.
        Err(e) if e.code == ResponseError::TopicAlreadyExists => match broker.topics.get(name) {
            Some(t) => topic_entry(broker, &t),
            None => missing(ResponseError::UnknownTopicOrPartition),
        },
        Err(e) => {
            tracing::warn!(topic = name, code = e.code(), cause = %e, "auto-creation failed");
            missing(ResponseError::UnknownTopicOrPartition)
        }
    }
}

fn topic_entry(broker: &Broker, topic: &TopicMeta) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let partitions = (0..topic.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(LEADER_EPOCH)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(topic.id)
        .with_is_internal(is_internal_topic(&topic.name))
        .with_partitions(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorized_operations_are_kafkas_without_an_authorizer() {
        // The values Kafka 4.4 answers with no authorizer configured.
        assert_eq!(TOPIC_AUTHORIZED_OPERATIONS, 3576);
        assert_eq!(CLUSTER_AUTHORIZED_OPERATIONS, 8096);
    }
}
