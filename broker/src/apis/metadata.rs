//! Metadata: the one broker, and the topics asked for (all when the list is null), creating
//! missing ones when auto-creation is on and the client allows it.

use std::sync::Arc;

use gregor_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use gregor_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::topic_name;
use crate::broker::Broker;
use crate::topics::TopicMeta;

/// Handles a Metadata request.
pub fn handle(broker: &Arc<Broker>, request: &MetadataRequest, version: i16) -> MetadataResponse {
    let node = BrokerId(broker.config.node_id);
    let mut topics = Vec::new();
    match &request.topics {
        // Internal topics are listed only when asked for by name, as issue 4 asks.
        None => topics.extend(
            broker
                .topics
                .all()
                .iter()
                .filter(|t| !t.name.starts_with("__"))
                .map(|t| topic_entry(broker, t)),
        ),
        Some(wanted) => {
            for w in wanted {
                let found = match &w.name {
                    Some(name) => lookup_or_create(
                        broker,
                        name.as_str(),
                        request.allow_auto_topic_creation || version < 4,
                    ),
                    None => broker
                        .topics
                        .by_id(w.topic_id)
                        .ok_or(ResponseError::UnknownTopicId),
                };
                topics.push(match found {
                    Ok(t) => topic_entry(broker, &t),
                    Err(error) => MetadataResponseTopic::default()
                        .with_error_code(error.code())
                        .with_name(w.name.clone())
                        .with_topic_id(w.topic_id),
                });
            }
        }
    }
    let (host, port) = &broker.advertised;
    MetadataResponse::default()
        .with_brokers(vec![MetadataResponseBroker::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(host.clone()))
            .with_port(*port)])
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id.clone())))
        .with_controller_id(node)
        .with_topics(topics)
}

fn lookup_or_create(
    broker: &Broker,
    name: &str,
    allow_create: bool,
) -> Result<TopicMeta, ResponseError> {
    if let Some(t) = broker.topics.get(name) {
        return Ok(t);
    }
    if !(allow_create && broker.config.auto_create_topics) {
        return Err(ResponseError::UnknownTopicOrPartition);
    }
    match broker.create_topic(name, -1, Default::default(), false) {
        Ok(t) => Ok(t),
        // Created meanwhile by another connection.
        Err((ResponseError::TopicAlreadyExists, _)) => broker
            .topics
            .get(name)
            .ok_or(ResponseError::LeaderNotAvailable),
        Err((ResponseError::InvalidTopicException, _)) => Err(ResponseError::InvalidTopicException),
        Err(_) => Err(ResponseError::LeaderNotAvailable),
    }
}

fn topic_entry(broker: &Broker, topic: &TopicMeta) -> MetadataResponseTopic {
    let node = BrokerId(broker.config.node_id);
    let partitions = (0..topic.partitions)
        .map(|index| {
            MetadataResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(0)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(topic.id)
        .with_is_internal(topic.name.starts_with("__"))
        .with_partitions(partitions)
}
