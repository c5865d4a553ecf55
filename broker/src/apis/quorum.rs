//! DescribeQuorum: the KRaft metadata quorum, which on one node is this node alone, the leader
//! and only voter, with no observers. Kafka's broker forwards the request to its controller,
//! whose answer (`KafkaRaftClient.handleDescribeQuorumRequest`) this mirrors. Gregor keeps no
//! metadata log, so its high watermark and the voter's log end offset are 0; the leader epoch
//! is 1, what a fresh single-node Kafka reports after its first election.

use std::sync::Arc;

use gregor_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use gregor_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::topic_name;
use crate::broker::{now_ms, Broker};

/// The metadata log's topic, the only one DescribeQuorum answers for (partition 0).
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// The quorum's leader epoch: one election, long ago.
const LEADER_EPOCH: i32 = 1;

/// The metadata log's end: there is none (see the module doc).
const METADATA_LOG_END: i64 = 0;

/// Handles DescribeQuorum at `version`: the timestamps are v1+, directory ids and nodes v2+.
pub fn handle(
    broker: &Arc<Broker>,
    request: &DescribeQuorumRequest,
    version: i16,
) -> DescribeQuorumResponse {
    let valid = matches!(request.topics.as_slice(), [t]
        if t.topic_name.as_str() == METADATA_TOPIC
            && matches!(t.partitions.as_slice(), [p] if p.partition_index == 0));
    if !valid {
        return unknown_partitions(request);
    }
    let node = BrokerId(broker.config.node_id);
    let now = now_ms();
    let mut voter = ReplicaState::default()
        .with_replica_id(node)
        .with_log_end_offset(METADATA_LOG_END);
    if version >= 1 {
        // The leader has always just caught up with itself (Kafka reports now for it).
        voter.last_fetch_timestamp = now;
        voter.last_caught_up_timestamp = now;
    }
    if version >= 2 {
        voter.replica_directory_id = broker.directory_id;
    }
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(node)
        .with_leader_epoch(LEADER_EPOCH)
        .with_high_watermark(METADATA_LOG_END)
        .with_current_voters(vec![voter])
        .with_observers(vec![]);
    let (host, port) = &broker.advertised;
    let listener = Listener::default()
        .with_name(StrBytes::from_string(broker.config.listener.name.clone()))
        .with_host(StrBytes::from_string(host.clone()))
        .with_port(u16::try_from(*port).unwrap_or(0));
    let response = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(topic_name(METADATA_TOPIC))
        .with_partitions(vec![partition])]);
    if version < 2 {
        return response;
    }
    response.with_nodes(vec![Node::default()
        .with_node_id(node)
        .with_listeners(vec![listener])])
}

/// Kafka's `DescribeQuorumRequest.getPartitionLevelErrorResponse`: every partition asked for
/// is UNKNOWN_TOPIC_OR_PARTITION, with the error's message.
fn unknown_partitions(request: &DescribeQuorumRequest) -> DescribeQuorumResponse {
    let error = ResponseError::UnknownTopicOrPartition;
    let topics = request
        .topics
        .iter()
        .map(|t| {
            TopicData::default()
                .with_topic_name(t.topic_name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            PartitionData::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error.code())
                                .with_error_message(Some(StrBytes::from_static_str(
                                    "This server does not host this topic-partition.",
                                )))
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeQuorumResponse::default().with_topics(topics)
}
