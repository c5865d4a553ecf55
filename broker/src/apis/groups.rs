//! The group APIs: FindCoordinator is answered here (this broker coordinates every group and
//! every transactional id); the rest go to the coordinator task.

use std::net::SocketAddr;
use std::sync::Arc;

use gregor_protocol::messages::find_coordinator_response::Coordinator;
use gregor_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use gregor_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, OffsetCommitRequest,
    OffsetCommitResponse, RequestKind, ResponseKind,
};
use gregor_protocol::request::Request;
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::authorize::Access;
use crate::broker::Broker;
use crate::coordinator::service::{GroupRequest, TopicDescribe};
use crate::error::KafkaError;
use crate::request_context::RequestContext;
use crate::security::authorizer::{AclOperation, ResourceType};

/// FindCoordinator: ourselves for groups (key type 0) and transactional ids (1).
pub fn find_coordinator(
    broker: &Arc<Broker>,
    request: &FindCoordinatorRequest,
    version: i16,
    ctx: &RequestContext,
) -> FindCoordinatorResponse {
    // The coordinator is this broker, on the listener the client came in on.
    let (host, port) = &ctx.endpoint.advertised;
    let node = BrokerId(broker.config.node_id);
    let answer = |key_type: i8| -> Result<(), KafkaError> {
        match key_type {
            0 | 1 => Ok(()),
            _ => Err(KafkaError::with_message(
                ResponseError::InvalidRequest,
                "Gregor has group and transaction coordinators only",
            )),
        }
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let base = Coordinator::default().with_key(key.clone());
                match answer(request.key_type) {
                    Ok(()) => base
                        .with_node_id(node)
                        .with_host(StrBytes::from_string(host.clone()))
                        .with_port(*port),
                    Err(e) => base
                        .with_node_id(BrokerId(-1))
                        .with_error_code(e.code())
                        .with_error_message(e.message.map(StrBytes::from_string)),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match answer(request.key_type) {
        Ok(()) => FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(StrBytes::from_string(host.clone()))
            .with_port(*port),
        Err(e) => FindCoordinatorResponse::default()
            .with_error_code(e.code())
            .with_error_message(e.message.map(StrBytes::from_string))
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::from_static_str(""))
            .with_port(-1),
    }
}

/// Hands a group request to the coordinator. An OffsetCommit goes there only with the
/// partitions that exist: as in Kafka, the others get UNKNOWN_TOPIC_OR_PARTITION and nothing
/// is stored for them.
pub async fn handle(
    broker: &Arc<Broker>,
    request: &Request,
    peer: SocketAddr,
    access: &Access,
) -> Option<ResponseKind> {
    if let RequestKind::OffsetCommit(commit) = &request.body {
        let (known, unknown) = split_unknown_partitions(broker, commit);
        if !unknown.is_empty() {
            let mut response = if known.topics.is_empty() {
                OffsetCommitResponse::default()
            } else {
                match call_coordinator(
                    broker,
                    request,
                    RequestKind::OffsetCommit(known),
                    peer,
                    access,
                )
                .await?
                {
                    ResponseKind::OffsetCommit(response) => response,
                    other => return Some(other),
                }
            };
            add_unknown(&mut response, commit, &unknown);
            return Some(ResponseKind::OffsetCommit(response));
        }
    }
    call_coordinator(broker, request, request.body.clone(), peer, access).await
}

/// (topic index, partition index) pairs of a request.
type PartitionRefs = Vec<(usize, usize)>;

/// The commit with only the partitions that exist, and where the others stood in the request.
fn split_unknown_partitions(
    broker: &Broker,
    commit: &OffsetCommitRequest,
) -> (OffsetCommitRequest, PartitionRefs) {
    let mut known = commit.clone();
    known.topics.clear();
    let mut unknown = Vec::new();
    for (ti, topic) in commit.topics.iter().enumerate() {
        let partitions = broker
            .topics
            .get(topic.name.as_str())
            .map_or(0, |t| t.partitions);
        let mut kept = topic.clone();
        kept.partitions.clear();
        for (pi, partition) in topic.partitions.iter().enumerate() {
            if (0..partitions).contains(&partition.partition_index) {
                kept.partitions.push(partition.clone());
            } else {
                unknown.push((ti, pi));
            }
        }
        if !kept.partitions.is_empty() {
            known.topics.push(kept);
        }
    }
    (known, unknown)
}

/// Adds UNKNOWN_TOPIC_OR_PARTITION answers for the partitions that do not exist, under their
/// topic's entry (made where the coordinator answered none of its partitions).
fn add_unknown(
    response: &mut OffsetCommitResponse,
    commit: &OffsetCommitRequest,
    unknown: &PartitionRefs,
) {
    for &(ti, pi) in unknown {
        let topic = &commit.topics[ti];
        let answer = OffsetCommitResponsePartition::default()
            .with_partition_index(topic.partitions[pi].partition_index)
            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
        match response.topics.iter_mut().find(|t| t.name == topic.name) {
            Some(entry) => entry.partitions.push(answer),
            None => response.topics.push(
                OffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_topic_id(topic.topic_id)
                    .with_partitions(vec![answer]),
            ),
        }
    }
}

/// Sends `body` (the request's, or a trimmed copy) to the coordinator and waits for its answer.
async fn call_coordinator(
    broker: &Arc<Broker>,
    request: &Request,
    body: RequestKind,
    peer: SocketAddr,
    access: &Access,
) -> Option<ResponseKind> {
    let coordinator = &broker.coordinator;
    let heartbeat = matches!(body, RequestKind::ConsumerGroupHeartbeat(_));
    let group_config = match &body {
        RequestKind::ConsumerGroupHeartbeat(r) => {
            super::group_configs::coordinator_overrides(broker, r.group_id.as_str())
        }
        _ => Default::default(),
    };
    // A regex subscription resolves only to what the member may describe (Kafka's
    // filterTopicDescribeAuthorizedTopics, with the heartbeating member's context).
    let topic_describe = (heartbeat && access.enabled()).then(|| {
        let access = access.clone();
        TopicDescribe(Arc::new(move |topic: &str| {
            access.allows(AclOperation::Describe, ResourceType::Topic, topic)
        }))
    });
    let call = GroupRequest {
        group_config,
        topic_describe,
        body,
        version: request.version,
        client_id: request
            .header
            .client_id
            .as_deref()
            .unwrap_or("")
            .to_string(),
        client_host: format!("/{}", peer.ip()),
    };
    coordinator.call(call).await
}
