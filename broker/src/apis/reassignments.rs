//! ElectLeaders, ListPartitionReassignments and AlterPartitionReassignments as a one-node KRaft
//! cluster's controller answers them (Kafka's `ReplicationControlManager`): every partition
//! already has its one replica as leader, so no election is needed, no reassignment is ever in
//! progress, and the only valid assignment is the one in place.

use std::sync::Arc;

use gregor_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use gregor_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use gregor_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ElectLeadersRequest, ElectLeadersResponse, ListPartitionReassignmentsResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::topic_name;
use crate::broker::Broker;
use crate::error::KafkaError;

/// `ElectionType` values (PREFERRED is also what v0, which has no field, means).
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

/// Handles ElectLeaders.
pub fn elect_leaders(broker: &Arc<Broker>, request: &ElectLeadersRequest) -> ElectLeadersResponse {
    let Some(wanted) = &request.topic_partitions else {
        // All partitions: Kafka lists every topic, leaving out the partitions that need no
        // election, which here is all of them.
        let results = broker
            .topics
            .all()
            .iter()
            .map(|t| ReplicaElectionResult::default().with_topic(topic_name(&t.name)))
            .collect();
        return ElectLeadersResponse::default().with_replica_election_results(results);
    };
    // An unknown election type fails the controller's whole request (an IllegalArgumentException
    // there): UNKNOWN_SERVER_ERROR everywhere, without a message.
    let bad_type = !matches!(request.election_type, PREFERRED | UNCLEAN);
    let results = wanted
        .iter()
        .map(|topic| {
            let name = topic.topic.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|&index| {
                    let base = PartitionResult::default().with_partition_id(index);
                    let error = if bad_type {
                        KafkaError::new(ResponseError::UnknownServerError)
                    } else {
                        match broker.topics.get(name) {
                            None => KafkaError::with_message(
                                ResponseError::UnknownTopicOrPartition,
                                format!("No such topic as {name}"),
                            ),
                            Some(t) if index < 0 || index >= t.partitions => {
                                KafkaError::with_message(
                                    ResponseError::UnknownTopicOrPartition,
                                    format!("No such partition as {name}-{index}"),
                                )
                            }
                            // The preferred leader leads already, and there is a leader.
                            Some(_) => KafkaError::with_message(
                                ResponseError::ElectionNotNeeded,
                                "Leader election not needed for topic partition.",
                            ),
                        }
                    };
                    base.with_error_code(error.code())
                        .with_error_message(error.message.map(StrBytes::from_string))
                })
                .collect();
            ReplicaElectionResult::default()
                .with_topic(topic.topic.clone())
                .with_partition_result(partitions)
        })
        .collect();
    let top = if bad_type {
        ResponseError::UnknownServerError.code()
    } else {
        0
    };
    ElectLeadersResponse::default()
        .with_error_code(top)
        .with_replica_election_results(results)
}

/// Handles ListPartitionReassignments: none is ever in progress.
pub fn list_partition_reassignments() -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default().with_error_message(None)
}

/// Handles AlterPartitionReassignments: the assignment in place (this node alone) is accepted
/// and changes nothing; any other is refused as Kafka's controller refuses it, and there is
/// never a reassignment to cancel.
pub fn alter_partition_reassignments(
    broker: &Arc<Broker>,
    request: &AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    let node = BrokerId(broker.config.node_id);
    let responses = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let outcome =
                        alter_one(broker, name, p.partition_index, p.replicas.as_deref(), node);
                    let base = ReassignablePartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    match outcome {
                        Ok(()) => base.with_error_message(None),
                        Err(e) => base
                            .with_error_code(e.code())
                            .with_error_message(e.message.map(StrBytes::from_string)),
                    }
                })
                .collect();
            ReassignableTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(request.allow_replication_factor_change)
        .with_error_message(None)
        .with_responses(responses)
}

/// One partition's reassignment (Kafka's `alterPartitionReassignment` with
/// `validateManualPartitionAssignment`); `None` replicas cancels.
fn alter_one(
    broker: &Broker,
    name: &str,
    index: i32,
    replicas: Option<&[BrokerId]>,
    node: BrokerId,
) -> Result<(), KafkaError> {
    let topic = broker.topics.get(name).ok_or_else(|| {
        KafkaError::with_message(
            ResponseError::UnknownTopicOrPartition,
            format!("Unable to find a topic named {name}."),
        )
    })?;
    if index < 0 || index >= topic.partitions {
        return Err(KafkaError::with_message(
            ResponseError::UnknownTopicOrPartition,
            format!("Unable to find partition {name}:{index}."),
        ));
    }
    let Some(replicas) = replicas else {
        // Kafka sends this error without a message (it is the error's own).
        return Err(KafkaError::new(ResponseError::NoReassignmentInProgress));
    };
    let invalid = |message: String| {
        KafkaError::with_message(ResponseError::InvalidReplicaAssignment, message)
    };
    if replicas.is_empty() {
        return Err(invalid(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut sorted: Vec<i32> = replicas.iter().map(|b| b.0).collect();
    sorted.sort_unstable();
    let mut previous = None;
    for id in sorted {
        if id != node.0 {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {id}, but no such broker is \
                 registered."
            )));
        }
        if previous == Some(id) {
            return Err(invalid(format!(
                "The manual partition assignment includes the broker {id} more than once."
            )));
        }
        previous = Some(id);
    }
    Ok(())
}
