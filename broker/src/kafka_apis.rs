//! Dispatch: one match from a decoded request to the handler of its API.

use std::sync::Arc;

use gregor_protocol::messages::{RequestKind, ResponseKind};
use gregor_protocol::request::Request;
use gregor_protocol::ProtocolError;

use crate::apis;
use crate::broker::Broker;
use crate::request_context::RequestContext;

/// Handles one request. `Ok(None)` sends no response (Produce with acks=0); `Err` closes the
/// connection.
pub async fn handle(
    broker: &Arc<Broker>,
    request: &Request,
    ctx: &RequestContext,
) -> Result<Option<ResponseKind>, ProtocolError> {
    // The ACL check, once per request: it may answer, or narrow the request and then add to
    // the handler's response what it took out.
    let access = apis::authorize::Access::of(broker, ctx);
    let (narrowed, patch) = match apis::authorize::check(broker, &access, request) {
        apis::authorize::Gate::Refuse(response) => return Ok(Some(response)),
        apis::authorize::Gate::Pass(narrowed, patch) => (narrowed, patch),
    };
    let request = narrowed.as_ref().unwrap_or(request);
    let v = request.version;
    let peer = ctx.peer;
    let response = match &request.body {
        RequestKind::ApiVersions(_) => {
            ResponseKind::ApiVersions(broker.apis.api_versions_response(0))
        }
        RequestKind::Produce(r) => match apis::produce::handle(broker, r, v).await {
            Some(response) => ResponseKind::Produce(response),
            None => return Ok(None),
        },
        RequestKind::Fetch(r) => ResponseKind::Fetch(apis::fetch::handle(broker, r, v).await),
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(apis::list_offsets::handle(broker, r, v))
        }
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(apis::metadata::handle(broker, r, v, ctx))
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(apis::topics::create_topics(broker, r))
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(apis::topics::delete_topics(broker, r))
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(apis::topics::create_partitions(broker, r))
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(apis::producer_id::handle(broker, r).await)
        }
        RequestKind::AddPartitionsToTxn(r) => ResponseKind::AddPartitionsToTxn(
            apis::transactions::add_partitions_to_txn(broker, r, v).await,
        ),
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(apis::transactions::add_offsets_to_txn(broker, r).await)
        }
        RequestKind::EndTxn(r) => {
            ResponseKind::EndTxn(apis::transactions::end_txn(broker, r, v).await)
        }
        RequestKind::DescribeTransactions(r) => ResponseKind::DescribeTransactions(
            apis::transactions::describe_transactions(broker, r).await,
        ),
        RequestKind::ListTransactions(r) => ResponseKind::ListTransactions(
            apis::transactions::list_transactions(broker, r, v).await,
        ),
        RequestKind::TxnOffsetCommit(r) => {
            match apis::transactions::txn_offset_commit(broker, request, r, peer).await {
                Some(response) => response,
                None => {
                    return Err(ProtocolError::Encode(
                        "group coordinator unavailable".into(),
                    ))
                }
            }
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(apis::cluster::describe_cluster(broker, r, ctx))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(apis::configs::describe_configs(broker, r))
        }
        RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(
            apis::configs::incremental_alter_configs(broker, r),
        ),
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(apis::configs::alter_configs(broker, r))
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(apis::delete_records::handle(broker, r).await)
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(apis::offset_for_leader_epoch::handle(broker, r))
        }
        RequestKind::DescribeLogDirs(r) => {
            ResponseKind::DescribeLogDirs(apis::log_dirs::handle(broker, r))
        }
        RequestKind::DescribeProducers(r) => {
            ResponseKind::DescribeProducers(apis::producers::handle(broker, r))
        }
        RequestKind::DescribeTopicPartitions(r) => ResponseKind::DescribeTopicPartitions(
            apis::describe_topic_partitions::handle(broker, r),
        ),
        RequestKind::DescribeAcls(r) => {
            ResponseKind::DescribeAcls(apis::acls::describe_acls(broker, r, v))
        }
        RequestKind::CreateAcls(r) => ResponseKind::CreateAcls(apis::acls::create_acls(broker, r)),
        RequestKind::DeleteAcls(r) => ResponseKind::DeleteAcls(apis::acls::delete_acls(broker, r)),
        RequestKind::DescribeClientQuotas(r) => {
            ResponseKind::DescribeClientQuotas(apis::quotas::describe_client_quotas(r))
        }
        RequestKind::DescribeUserScramCredentials(r) => {
            ResponseKind::DescribeUserScramCredentials(apis::scram_credentials::describe(broker, r))
        }
        RequestKind::AlterUserScramCredentials(r) => {
            ResponseKind::AlterUserScramCredentials(apis::scram_credentials::alter(broker, r))
        }
        // On an authenticated connection or a listener without SASL (the connection handles
        // SASL before authentication and starts re-authentication itself).
        RequestKind::SaslHandshake(_) => ResponseKind::SaslHandshake(apis::sasl::handshake()),
        RequestKind::SaslAuthenticate(_) => {
            ResponseKind::SaslAuthenticate(apis::sasl::authenticate())
        }
        RequestKind::ElectLeaders(r) => {
            ResponseKind::ElectLeaders(apis::reassignments::elect_leaders(broker, r))
        }
        RequestKind::ListPartitionReassignments(_) => ResponseKind::ListPartitionReassignments(
            apis::reassignments::list_partition_reassignments(),
        ),
        RequestKind::AlterPartitionReassignments(r) => ResponseKind::AlterPartitionReassignments(
            apis::reassignments::alter_partition_reassignments(broker, r),
        ),
        RequestKind::DescribeQuorum(r) => {
            ResponseKind::DescribeQuorum(apis::quorum::handle(broker, r, v))
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(apis::groups::find_coordinator(broker, r, v, ctx))
        }
        RequestKind::JoinGroup(_)
        | RequestKind::SyncGroup(_)
        | RequestKind::Heartbeat(_)
        | RequestKind::LeaveGroup(_)
        | RequestKind::OffsetCommit(_)
        | RequestKind::OffsetFetch(_)
        | RequestKind::DescribeGroups(_)
        | RequestKind::ListGroups(_)
        | RequestKind::DeleteGroups(_)
        | RequestKind::OffsetDelete(_)
        | RequestKind::ConsumerGroupHeartbeat(_)
        | RequestKind::ConsumerGroupDescribe(_) => {
            match apis::groups::handle(broker, request, peer, &access).await {
                Some(response) => response,
                // The coordinator stopped (shutdown): close, and the client reconnects elsewhere.
                None => {
                    return Err(ProtocolError::Encode(
                        "group coordinator unavailable".into(),
                    ))
                }
            }
        }
        // The API table only lets through what is listed above; anything else is a bug in the
        // table, answered the way Kafka answers an unknown request: by closing.
        _ => {
            return Err(ProtocolError::UnsupportedVersion {
                api_key: request.api_key as i16,
                version: v,
            })
        }
    };
    Ok(Some(match patch {
        Some(patch) => patch(response),
        None => response,
    }))
}
