//! The group APIs as calls on the coordinator's state machine, and their answers as Kafka's
//! response types; Kafka's GroupCoordinatorService and GroupCoordinatorShard. It decides
//! nothing about time or durability: `GroupCoordinator` is a `CoordinatorShard` whose requests
//! come back as an `Outcome` saying what to answer now, what to park, and what to write before
//! answering, and the runtime carries that out.

use gregor_protocol::messages::leave_group_response::MemberResponse;
use gregor_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use gregor_protocol::messages::{
    ConsumerGroupHeartbeatResponse, HeartbeatResponse, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, RequestKind,
    ResponseKind,
};
use gregor_protocol::ResponseError;

use super::group::api::heartbeat_request;
use super::group::manager::{GroupConfigOverrides, HeartbeatRequest};
use super::group_apis::Changes;
use super::group_coordinator::{GroupCoordinator, PendingSync, Reply, ReplyId, Response};
use super::group_events::GroupEvent;
use super::records::{encode_batch, CoordinatorRecord};
use super::runtime::{CoordinatorShard, Outcome};
use crate::broker::now_ms;

/// The answer to a request whose records could not be written: retriable, so the client tries
/// again (Kafka answers a failed coordinator write this way when the log cannot take it now).
pub const WRITE_FAILED: ResponseError = ResponseError::CoordinatorNotAvailable;

/// A group request as the connection received it.
#[derive(Debug)]
pub struct GroupRequest {
    /// The decoded body.
    pub body: RequestKind,
    /// Its version.
    pub version: i16,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// The group's config values, for a ConsumerGroupHeartbeat (default elsewhere).
    pub group_config: GroupConfigOverrides,
    /// With an authorizer, whether the caller may DESCRIBE a topic, for a
    /// ConsumerGroupHeartbeat's regex (None elsewhere, and without an authorizer).
    pub topic_describe: Option<TopicDescribe>,
}

/// Whether the caller may DESCRIBE the named topic: the ACL gate's answer, taken into the
/// coordinator so it asks only about the topics a regex matches.
#[derive(Clone)]
pub struct TopicDescribe(pub std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>);

impl std::fmt::Debug for TopicDescribe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TopicDescribe")
    }
}

impl GroupRequest {
    /// The groups whose durable state the request may change: while a write of one of them is
    /// under way, the request waits, so it sees the state that write leaves. Reads (OffsetFetch,
    /// DescribeGroups, ListGroups) never wait: what is not written yet was not acknowledged.
    pub fn groups_changed(&self) -> Vec<&str> {
        match &self.body {
            RequestKind::JoinGroup(r) => vec![r.group_id.as_str()],
            RequestKind::SyncGroup(r) => vec![r.group_id.as_str()],
            RequestKind::Heartbeat(r) => vec![r.group_id.as_str()],
            RequestKind::LeaveGroup(r) => vec![r.group_id.as_str()],
            RequestKind::OffsetCommit(r) => vec![r.group_id.as_str()],
            RequestKind::OffsetDelete(r) => vec![r.group_id.as_str()],
            RequestKind::ConsumerGroupHeartbeat(r) => vec![r.group_id.as_str()],
            RequestKind::TxnOffsetCommit(r) => vec![r.group_id.as_str()],
            RequestKind::DeleteGroups(r) => r.groups_names.iter().map(|g| g.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The outcome of a group request, as the runtime carries it out.
pub type GroupOutcome = Outcome<ResponseKind, CoordinatorRecord, Box<PendingSync>>;

impl CoordinatorShard for GroupCoordinator {
    type Request = GroupRequest;
    type Response = ResponseKind;
    type Record = CoordinatorRecord;
    type Pending = Box<PendingSync>;
    type Effect = ();
    type Event = GroupEvent;

    fn keys_changed(request: &GroupRequest) -> Vec<String> {
        request
            .groups_changed()
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    fn execute(&mut self, request: GroupRequest, reply_id: ReplyId, now: i64) -> GroupOutcome {
        execute(self, request, reply_id, now, now_ms())
    }

    fn apply(&mut self, records: Changes) {
        GroupCoordinator::apply(self, records);
    }

    fn complete(
        &mut self,
        pending: Box<PendingSync>,
        written: bool,
        now: i64,
    ) -> Vec<(ReplyId, ResponseKind)> {
        replies(self.complete_sync(now, *pending, written, WRITE_FAILED))
    }

    fn tick(&mut self, now: i64) -> Vec<(ReplyId, ResponseKind)> {
        self.clock = now;
        replies(GroupCoordinator::tick(self, now))
    }

    fn next_deadline(&self) -> Option<i64> {
        GroupCoordinator::next_deadline(self)
    }

    fn take_background_records(&mut self) -> Changes {
        let mut records = self.take_emptied_group_records();
        records.extend(
            self.consumer
                .take_background_records()
                .into_iter()
                .map(CoordinatorRecord::Consumer),
        );
        records.append(&mut self.background);
        records
    }

    fn encode(records: &[CoordinatorRecord], timestamp: i64) -> Option<Vec<u8>> {
        encode_batch(records, timestamp)
    }

    fn take_events(&mut self, now: i64) -> Vec<GroupEvent> {
        self.events.take(now)
    }

    fn clear_events(&mut self) {
        self.events.clear();
    }
}

/// The coordinator's answers to parked requests, as responses.
fn replies(replies: Vec<Reply>) -> Vec<(ReplyId, ResponseKind)> {
    replies
        .into_iter()
        .map(|reply| {
            let body = match reply.response {
                Response::Join(r) => ResponseKind::JoinGroup(r),
                Response::Sync(r) => ResponseKind::SyncGroup(r),
            };
            (reply.id, body)
        })
        .collect()
}

/// An offset commit's response with every partition that succeeded failed with WRITE_FAILED:
/// the answer if the commit's records do not reach the log. (OffsetCommit and
/// TxnOffsetCommit responses have the same shape but no common type.)
macro_rules! write_failed {
    ($response:expr) => {{
        let mut failed = $response.clone();
        for p in failed
            .topics
            .iter_mut()
            .flat_map(|t| t.partitions.iter_mut())
        {
            if p.error_code == 0 {
                p.error_code = WRITE_FAILED.code();
            }
        }
        failed
    }};
}

fn write(records: Changes, response: ResponseKind, failed: ResponseKind) -> GroupOutcome {
    Outcome::Write {
        records,
        response,
        failed,
    }
}

/// Runs `request` on the coordinator at `now` (its monotonic clock) and `wall_now` (ms since
/// the epoch, for commit timestamps). A JoinGroup or SyncGroup is parked under `reply_id`.
pub fn execute(
    coordinator: &mut GroupCoordinator,
    request: GroupRequest,
    reply_id: ReplyId,
    now: i64,
    wall_now: i64,
) -> GroupOutcome {
    let v = request.version;
    coordinator.clock = now;
    // Offset commits and reads set no timer of a classic group (a member's commit only moves
    // its session later): the cached earliest one stays.
    if !matches!(
        request.body,
        RequestKind::OffsetCommit(_)
            | RequestKind::OffsetFetch(_)
            | RequestKind::DescribeGroups(_)
            | RequestKind::ListGroups(_)
    ) {
        coordinator.forget_classic_deadline();
    }
    // Classic members of a consumer group (KIP-848 migration) are answered from its state.
    let classic_group_id = match &request.body {
        RequestKind::JoinGroup(r) => Some(r.group_id.as_str()),
        RequestKind::SyncGroup(r) => Some(r.group_id.as_str()),
        RequestKind::Heartbeat(r) => Some(r.group_id.as_str()),
        RequestKind::LeaveGroup(r) => Some(r.group_id.as_str()),
        _ => None,
    };
    let to_consumer =
        classic_group_id.is_some_and(|g| coordinator.classic_request_to_consumer_group(g));
    let response = match request.body {
        RequestKind::JoinGroup(r) if to_consumer => {
            let (response, records) = coordinator.classic_join_to_consumer_group(
                now,
                v,
                &r,
                &request.client_id,
                &request.client_host,
            );
            let failed = JoinGroupResponse::default()
                .with_error_code(WRITE_FAILED.code())
                .with_generation_id(-1)
                .with_member_id(r.member_id.clone());
            return write(
                records,
                ResponseKind::JoinGroup(response),
                ResponseKind::JoinGroup(failed),
            );
        }
        RequestKind::SyncGroup(r) if to_consumer => {
            ResponseKind::SyncGroup(coordinator.classic_sync_to_consumer_group(now, &r))
        }
        RequestKind::Heartbeat(r) if to_consumer => {
            let code = coordinator.classic_heartbeat_to_consumer_group(
                now,
                r.group_id.as_str(),
                r.member_id.as_str(),
                r.group_instance_id.as_deref(),
                r.generation_id,
            );
            let code = code.err().map_or(0, |e| e.code());
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        RequestKind::LeaveGroup(r) if to_consumer => {
            let leaving = leaving_members(&r, v);
            let (codes, records) =
                coordinator.classic_leave_to_consumer_group(r.group_id.as_str(), &leaving);
            let response = leave_response(&r, v, codes);
            let mut failed = response.clone();
            failed.error_code = WRITE_FAILED.code();
            return write(
                records,
                ResponseKind::LeaveGroup(response),
                ResponseKind::LeaveGroup(failed),
            );
        }
        RequestKind::JoinGroup(r) => {
            return Outcome::Parked(replies(coordinator.join_group(
                now,
                reply_id,
                v,
                &r,
                &request.client_id,
                &request.client_host,
            )));
        }
        RequestKind::SyncGroup(r) => {
            return match coordinator.sync_group(reply_id, &r) {
                (answers, None) => Outcome::Parked(replies(answers)),
                (answers, Some(pending)) => Outcome::WriteThen {
                    replies: replies(answers),
                    records: vec![pending.record.clone()],
                    pending: Box::new(pending),
                },
            };
        }
        RequestKind::Heartbeat(r) => {
            let code = coordinator.heartbeat(
                now,
                r.group_id.as_str(),
                r.member_id.as_str(),
                r.group_instance_id.as_deref(),
                r.generation_id,
            );
            let code = code.err().map_or(0, |e| e.code());
            ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
        }
        RequestKind::LeaveGroup(r) => {
            let leaving = leaving_members(&r, v);
            let (_, codes, answers) = coordinator.leave_group(now, r.group_id.as_str(), &leaving);
            let response = leave_response(&r, v, codes);
            return Outcome::Reply(ResponseKind::LeaveGroup(response), replies(answers));
        }
        RequestKind::OffsetCommit(r) => {
            let (response, records) = coordinator.commit_offsets(wall_now, v, &r);
            let failed = write_failed!(response);
            return write(
                records,
                ResponseKind::OffsetCommit(response),
                ResponseKind::OffsetCommit(failed),
            );
        }
        RequestKind::ConsumerGroupHeartbeat(r) => {
            let mut call = HeartbeatRequest {
                group_config: request.group_config,
                ..heartbeat_request(&r, v, &request.client_id, &request.client_host)
            };
            call.describable_topics = request
                .topic_describe
                .as_ref()
                .and_then(|d| coordinator.describable_topics(&call, &*d.0));
            let (response, records) = coordinator.consumer_group_heartbeat(now, &call);
            let failed = ConsumerGroupHeartbeatResponse::default()
                .with_error_code(WRITE_FAILED.code())
                .with_member_id(None);
            return write(
                records,
                ResponseKind::ConsumerGroupHeartbeat(response),
                ResponseKind::ConsumerGroupHeartbeat(failed),
            );
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            ResponseKind::ConsumerGroupDescribe(coordinator.consumer_group_describe(&r))
        }
        RequestKind::OffsetFetch(r) => {
            let mut response = fetch_offsets(coordinator, &r, v);
            crate::apis::transactions::mark_unstable(coordinator, &r, &mut response);
            ResponseKind::OffsetFetch(response)
        }
        RequestKind::TxnOffsetCommit(r) => {
            let (response, records) = coordinator.txn_commit_offsets(wall_now, &r);
            let failed = write_failed!(response);
            return write(
                records,
                ResponseKind::TxnOffsetCommit(response),
                ResponseKind::TxnOffsetCommit(failed),
            );
        }
        // From the transaction coordinator, once a marker is in `__consumer_offsets`.
        RequestKind::WriteTxnMarkers(r) => {
            for marker in &r.markers {
                coordinator.complete_txn_offsets(marker.producer_id.0, marker.transaction_result);
            }
            ResponseKind::WriteTxnMarkers(Default::default())
        }
        RequestKind::ListGroups(r) => ResponseKind::ListGroups(coordinator.list_groups(&r)),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(
            coordinator.describe_groups(&r.groups, v, r.include_authorized_operations),
        ),
        RequestKind::DeleteGroups(r) => {
            let (response, records) = coordinator.delete_groups(&r.groups_names);
            let mut failed = response.clone();
            for result in &mut failed.results {
                if result.error_code == 0 {
                    result.error_code = WRITE_FAILED.code();
                }
            }
            return write(
                records,
                ResponseKind::DeleteGroups(response),
                ResponseKind::DeleteGroups(failed),
            );
        }
        RequestKind::OffsetDelete(r) => {
            let (response, records) = coordinator.delete_offsets(&r);
            let failed = OffsetDeleteResponse::default().with_error_code(WRITE_FAILED.code());
            return write(
                records,
                ResponseKind::OffsetDelete(response),
                ResponseKind::OffsetDelete(failed),
            );
        }
        // The connection sends only group requests here.
        _ => return Outcome::Ignored,
    };
    Outcome::Reply(response, Vec::new())
}

/// The (member id, instance id) pairs a LeaveGroup names (one member before v3).
fn leaving_members(r: &LeaveGroupRequest, v: i16) -> Vec<(String, Option<String>)> {
    if v >= 3 {
        r.members
            .iter()
            .map(|m| {
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(r.member_id.to_string(), None)]
    }
}

/// A LeaveGroup's answer from each member's code (the top-level code before v3).
fn leave_response(
    r: &LeaveGroupRequest,
    v: i16,
    codes: Vec<Option<ResponseError>>,
) -> LeaveGroupResponse {
    let mut response = LeaveGroupResponse::default();
    if v >= 3 {
        response.members = r
            .members
            .iter()
            .zip(codes)
            .map(|(m, c)| {
                MemberResponse::default()
                    .with_member_id(m.member_id.clone())
                    .with_group_instance_id(m.group_instance_id.clone())
                    .with_error_code(c.map_or(0, |e| e.code()))
            })
            .collect();
    } else {
        response.error_code = codes.first().copied().flatten().map_or(0, |e| e.code());
    }
    response
}

/// OffsetFetch, in the v8+ (groups) or the older layout.
fn fetch_offsets(
    coordinator: &GroupCoordinator,
    r: &OffsetFetchRequest,
    v: i16,
) -> OffsetFetchResponse {
    if v >= 8 {
        let groups = r
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.0.clone(), t.partition_indexes.clone()))
                        .collect()
                });
                // KIP-848 members fetch with their member id and epoch (v9).
                if let Some(group) = coordinator.consumer.groups.get(g.group_id.as_str()) {
                    let check = coordinator.consumer.validate_offset_fetch(
                        group,
                        g.member_id.as_deref(),
                        g.member_epoch,
                    );
                    if let Err(e) = check {
                        return OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(e.code());
                    }
                }
                let topics = coordinator
                    .fetch_offsets(g.group_id.as_str(), wanted)
                    .into_iter()
                    .map(|(name, partitions)| {
                        OffsetFetchResponseTopics::default()
                            .with_name(name.into())
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return OffsetFetchResponse::default().with_groups(groups);
    }
    let wanted = r.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.0.clone(), t.partition_indexes.clone()))
            .collect()
    });
    let topics = coordinator
        .fetch_offsets(r.group_id.as_str(), wanted)
        .into_iter()
        .map(|(name, partitions)| {
            let partitions = partitions
                .into_iter()
                .map(|p| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_committed_offset(p.committed_offset)
                        .with_committed_leader_epoch(p.committed_leader_epoch)
                        .with_metadata(p.metadata)
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(name.into())
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
