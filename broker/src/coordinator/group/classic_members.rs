//! Classic-protocol members of a consumer group: JoinGroup, SyncGroup, Heartbeat and LeaveGroup
//! answered from the consumer group's state, and the two conversions (a classic group upgraded
//! by a ConsumerGroupHeartbeat, a consumer group downgraded when its last consumer-protocol
//! member leaves). Kafka's `classicGroupJoinToConsumerGroup`, `classicGroupSyncToConsumerGroup`,
//! `classicGroupHeartbeatToConsumerGroup`, `classicGroupLeaveToConsumerGroup`,
//! `convertToConsumerGroup` and `convertToClassicGroup`.
//!
//! A classic member joins as a heartbeat would (its subscription and the partitions it reports
//! owning from the embedded consumer protocol), so reconciliation, revoking before assigning,
//! and the session and rebalance timeouts are the consumer group's. It learns of a new
//! assignment by REBALANCE_IN_PROGRESS on its heartbeat, and rejoins.

use bytes::Bytes;
use gregor_protocol::messages::{
    JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use super::consumer_group::ConsumerGroup;
use super::current_assignment::MemberState;
use super::manager::{HeartbeatRequest, LEAVE_GROUP_MEMBER_EPOCH};
use super::migration::{self, by_id, classic_metadata, decode_subscription};
use crate::coordinator::classic_group::ClassicGroup;
use crate::coordinator::group_apis::Changes;
use crate::coordinator::group_coordinator::prepare_rebalance;
use crate::coordinator::records::CoordinatorRecord;
use crate::coordinator::{GroupCoordinator, Reply};
use crate::error::KafkaError;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

fn join_error(error: ResponseError, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(error.code())
        .with_generation_id(-1)
        .with_member_id(s(member_id))
}

impl GroupCoordinator {
    /// Whether a classic request for `group_id` goes to a consumer group: one with members
    /// (its JoinGroup refuses newcomers under `disabled`, as Gregor always did).
    pub fn classic_request_to_consumer_group(&self, group_id: &str) -> bool {
        self.consumer
            .groups
            .get(group_id)
            .is_some_and(|g| !g.members.is_empty())
    }

    /// JoinGroup from a classic member to a consumer group: the answer, and the records to
    /// write before it.
    pub fn classic_join_to_consumer_group(
        &mut self,
        now: i64,
        version: i16,
        req: &JoinGroupRequest,
        client_id: &str,
        client_host: &str,
    ) -> (JoinGroupResponse, Changes) {
        let group_id = req.group_id.to_string();
        let member_id = req.member_id.to_string();
        let refuse = |e: ResponseError| (join_error(e, &member_id), Changes::new());
        if self.config.consumer.migration_policy == migration::MigrationPolicy::Disabled {
            return refuse(ResponseError::InconsistentGroupProtocol);
        }
        let session = i64::from(req.session_timeout_ms);
        if session < self.config.min_session_timeout_ms
            || session > self.config.max_session_timeout_ms
        {
            return refuse(ResponseError::InvalidSessionTimeout);
        }
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), Bytes::copy_from_slice(&p.metadata)))
            .collect();
        // The consumer embedded protocol only: the group assigns from subscriptions.
        let subscription = protocols.first().and_then(|(_, m)| decode_subscription(m));
        let Some(subscription) = subscription.filter(|_| req.protocol_type.as_str() == "consumer")
        else {
            return refuse(ResponseError::InconsistentGroupProtocol);
        };
        let Some(group) = self.consumer.groups.get(&group_id) else {
            return refuse(ResponseError::UnknownMemberId);
        };
        let existing = (!member_id.is_empty())
            .then(|| group.members.get(&member_id))
            .flatten();
        if !member_id.is_empty() && existing.is_none() {
            return refuse(ResponseError::UnknownMemberId);
        }
        if existing.is_some_and(|m| m.metadata.classic.is_none()) {
            return refuse(ResponseError::InconsistentGroupProtocol);
        }
        if member_id.is_empty() && version >= 4 && req.group_instance_id.is_none() {
            // KIP-394, as Kafka does it for a consumer group: an id, and come back with it.
            let id = uuid::Uuid::new_v4().to_string();
            return (
                join_error(ResponseError::MemberIdRequired, &id),
                Changes::new(),
            );
        }
        let topics = self.config.topics.image();
        let owned = by_id(
            subscription
                .owned
                .iter()
                .map(|(t, ps)| (t.as_str(), ps.as_slice())),
            &topics,
        );
        let rebalance = if version >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        };
        let call = HeartbeatRequest {
            group_id: group_id.clone(),
            member_id: member_id.clone(),
            // A classic member has no epoch to send: it rejoins at the one it has.
            member_epoch: existing.map_or(0, |m| m.current.member_epoch),
            instance_id: req.group_instance_id.as_ref().map(|i| i.to_string()),
            rack_id: subscription.rack_id.clone().filter(|r| !r.is_empty()),
            rebalance_timeout_ms: rebalance,
            subscribed_topic_names: Some(subscription.topics.clone()),
            subscribed_topic_regex: None,
            server_assignor: None,
            owned: Some(if existing.is_some() {
                owned
            } else {
                Default::default()
            }),
            client_id: client_id.to_string(),
            client_host: client_host.to_string(),
            member_id_required: false,
            group_config: Default::default(),
            classic: Some(classic_metadata(session, &protocols)),
            describable_topics: None,
        };
        match self
            .consumer
            .heartbeat(now, &call, &topics, || uuid::Uuid::new_v4().to_string())
        {
            Ok((answer, records)) => {
                let response = JoinGroupResponse::default()
                    .with_member_id(s(answer.member_id))
                    .with_generation_id(answer.member_epoch)
                    .with_protocol_type(Some(s("consumer")))
                    .with_protocol_name(Some(s(protocols[0].0.clone())))
                    .with_leader(s(""));
                (
                    response,
                    records
                        .into_iter()
                        .map(CoordinatorRecord::Consumer)
                        .collect(),
                )
            }
            Err(e) => refuse(e.code),
        }
    }

    /// SyncGroup from a classic member of a consumer group: the partitions it may own now, in
    /// the version of the consumer protocol it joined with.
    pub fn classic_sync_to_consumer_group(
        &mut self,
        now: i64,
        req: &SyncGroupRequest,
    ) -> SyncGroupResponse {
        let error = |e: ResponseError| SyncGroupResponse::default().with_error_code(e.code());
        let Some(group) = self.consumer.groups.get(req.group_id.as_str()) else {
            return error(ResponseError::UnknownMemberId);
        };
        let member = match classic_member(
            group,
            req.member_id.as_str(),
            req.group_instance_id.as_deref(),
        ) {
            Ok(m) => m,
            Err(e) => return error(e),
        };
        let Some(classic) = &member.metadata.classic else {
            return error(ResponseError::UnknownMemberId);
        };
        if req.generation_id != member.current.member_epoch {
            return error(ResponseError::IllegalGeneration);
        }
        let protocol = classic.supported_protocols.first();
        if req
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != "consumer")
            || req
                .protocol_name
                .as_deref()
                .is_some_and(|n| protocol.is_none_or(|(p, _)| p != n))
        {
            return error(ResponseError::InconsistentGroupProtocol);
        }
        // A new target is out: rejoin first (while revoking, the member gets what it keeps).
        if group.group_epoch > member.current.member_epoch
            && member.current.state != MemberState::UnrevokedPartitions
        {
            return error(ResponseError::RebalanceInProgress);
        }
        let topics = self.config.topics.image();
        let version = protocol.map_or(0, |(_, m)| migration::metadata_version(m));
        let assignment = migration::encode_assignment(version, &member.current.assigned, &topics);
        let deadline = now + i64::from(classic.session_timeout_ms);
        let response = SyncGroupResponse::default()
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(protocol.map(|(p, _)| s(p.clone())))
            .with_assignment(assignment);
        let (group_id, member_id) = (group.id.clone(), member.member_id.clone());
        self.consumer.touch_session(&group_id, &member_id, deadline);
        response
    }

    /// Heartbeat from a classic member of a consumer group: REBALANCE_IN_PROGRESS when it must
    /// rejoin to move towards its target (a new group epoch, partitions to revoke, or
    /// partitions it waits for that are free now).
    pub fn classic_heartbeat_to_consumer_group(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        let group = self
            .consumer
            .groups
            .get(group_id)
            .ok_or(ResponseError::UnknownMemberId)?;
        let member = classic_member(group, member_id, instance_id)?;
        let classic = member
            .metadata
            .classic
            .as_ref()
            .ok_or(ResponseError::UnknownMemberId)?;
        if generation != member.current.member_epoch {
            return Err(ResponseError::IllegalGeneration);
        }
        let owners = group.partition_owners();
        let target = group.target.get(&member.member_id);
        let released = || {
            target.is_some_and(|t| {
                t.iter().all(|(topic, ps)| {
                    ps.iter().all(|p| {
                        owners
                            .get(&(*topic, *p))
                            .is_none_or(|o| *o == member.member_id)
                    })
                })
            })
        };
        let rejoin = member.current.member_epoch < group.group_epoch
            || member.current.state == MemberState::UnrevokedPartitions
            || (member.current.state == MemberState::UnreleasedPartitions && released());
        let deadline = now + i64::from(classic.session_timeout_ms);
        let id = member.member_id.clone();
        self.consumer.touch_session(group_id, &id, deadline);
        if rejoin {
            Err(ResponseError::RebalanceInProgress)
        } else {
            Ok(())
        }
    }

    /// LeaveGroup of classic members of a consumer group: a code for each, and the records.
    pub fn classic_leave_to_consumer_group(
        &mut self,
        group_id: &str,
        leaving: &[(String, Option<String>)],
    ) -> (Vec<Option<ResponseError>>, Changes) {
        let topics = self.config.topics.image();
        if let Some(downgrade) = self.leave_downgrade(group_id, leaving) {
            return downgrade;
        }
        let mut codes = Vec::new();
        let mut changes = Changes::new();
        for (member_id, instance_id) in leaving {
            let Some(group) = self.consumer.groups.get(group_id) else {
                codes.push(Some(ResponseError::UnknownMemberId));
                continue;
            };
            let id = if member_id.is_empty() {
                instance_id
                    .as_deref()
                    .and_then(|i| group.static_member(i))
                    .map(|m| m.member_id.clone())
            } else {
                Some(member_id.clone())
            };
            match id.map(|id| {
                classic_member(group, &id, instance_id.as_deref()).map(|m| m.member_id.clone())
            }) {
                Some(Ok(id)) => {
                    let records = self.consumer.leave_records(group_id, &id, &topics);
                    changes.extend(records.into_iter().map(CoordinatorRecord::Consumer));
                    codes.push(None);
                }
                Some(Err(e)) => codes.push(Some(e)),
                None => codes.push(Some(ResponseError::UnknownMemberId)),
            }
        }
        (codes, changes)
    }

    /// A LeaveGroup of classic members that leaves only classic ones: the downgrade, with a
    /// code for each (None when some member is unknown: they leave one by one instead).
    fn leave_downgrade(
        &self,
        group_id: &str,
        leaving: &[(String, Option<String>)],
    ) -> Option<(Vec<Option<ResponseError>>, Changes)> {
        let group = self.consumer.groups.get(group_id)?;
        let ids: Vec<String> = leaving
            .iter()
            .map(|(m, i)| classic_member(group, m, i.as_deref()).map(|m| m.member_id.clone()))
            .collect::<Result<_, _>>()
            .ok()?;
        let changes = self.downgrade_records(group_id, &ids)?;
        Some((vec![None; leaving.len()], changes))
    }

    /// A ConsumerGroupHeartbeat for a group that is classic now: the consumer group it becomes
    /// (not applied: its records go first), or the error to answer. None: nothing to convert.
    pub fn maybe_upgrade(
        &self,
        req: &HeartbeatRequest,
    ) -> Result<Option<(ConsumerGroup, Changes)>, KafkaError> {
        let Some(classic) = self.groups.get(&req.group_id) else {
            return Ok(None);
        };
        let not_consumer = || {
            KafkaError::with_message(
                ResponseError::GroupIdNotFound,
                format!("Group {} is not a consumer group.", req.group_id),
            )
        };
        if classic.members.is_empty() {
            if req.member_epoch != 0 {
                return Err(not_consumer());
            }
            // Kafka deletes the empty classic group's metadata; its offsets stay.
            let tombstone = vec![CoordinatorRecord::Group(req.group_id.clone(), None)];
            return Ok(Some((ConsumerGroup::new(&req.group_id), tombstone)));
        }
        let policy = self.config.consumer.migration_policy;
        if req.member_epoch != 0
            || !policy.upgrade_enabled()
            || classic.protocol_type.as_deref() != Some("consumer")
            || classic.members.len() > self.config.consumer.max_size
        {
            return Err(not_consumer());
        }
        if !matches!(
            classic.state,
            crate::coordinator::classic_group::GroupState::Stable
        ) {
            // Kafka converts mid-rebalance and answers the parked requests with
            // REBALANCE_IN_PROGRESS; here the joining member retries once the rebalance is done.
            return Err(KafkaError::with_message(
                ResponseError::CoordinatorLoadInProgress,
                format!(
                    "Group {} is rebalancing; retry to upgrade it.",
                    req.group_id
                ),
            ));
        }
        let topics = self.config.topics.image();
        let group = migration::consumer_group_from_classic(classic, &topics).ok_or_else(|| {
            KafkaError::with_message(
                ResponseError::GroupIdNotFound,
                format!(
                    "Cannot upgrade classic group {}: a member's embedded consumer protocol is malformed.",
                    req.group_id
                ),
            )
        })?;
        let mut changes = vec![CoordinatorRecord::Group(req.group_id.clone(), None)];
        changes.extend(
            migration::consumer_group_records(&group)
                .into_iter()
                .map(CoordinatorRecord::Consumer),
        );
        Ok(Some((group, changes)))
    }

    /// After an upgrade's records are written: the classic members' sessions, which their
    /// Heartbeats keep up from now on.
    pub fn after_upgrade(&mut self, now: i64, group_id: &str) {
        let Some(group) = self.consumer.groups.get(group_id) else {
            return;
        };
        let sessions: Vec<(String, i64)> = group
            .members
            .values()
            .filter_map(|m| {
                m.metadata
                    .classic
                    .as_ref()
                    .map(|c| (m.member_id.clone(), now + i64::from(c.session_timeout_ms)))
            })
            .collect();
        for (m, deadline) in sessions {
            self.consumer.touch_session(group_id, &m, deadline);
        }
    }

    /// A ConsumerGroupHeartbeat leaving with epoch -1: when the rest of the group speaks the
    /// classic protocol, the records of the downgrade (`downgrade_records`).
    pub fn maybe_downgrade(&self, req: &HeartbeatRequest) -> Option<Changes> {
        if req.member_epoch != LEAVE_GROUP_MEMBER_EPOCH {
            return None;
        }
        let group = self.consumer.groups.get(&req.group_id)?;
        group.members.get(&req.member_id)?;
        self.downgrade_records(&req.group_id, std::slice::from_ref(&req.member_id))
    }

    /// When `leaving` go and every member left speaks the classic protocol, and the policy and
    /// `group.max.size` allow (Kafka's validateOnlineDowngradeWithFencedMembers): the records
    /// that turn the group into a classic group of the rest, the consumer group's tombstones
    /// then the classic metadata (applied by `apply`, which starts its rebalance).
    pub fn downgrade_records(&self, group_id: &str, leaving: &[String]) -> Option<Changes> {
        if !self.config.consumer.migration_policy.downgrade_enabled() {
            return None;
        }
        let group = self.consumer.groups.get(group_id)?;
        let remaining = group
            .members
            .keys()
            .filter(|m| !leaving.contains(m))
            .count();
        if !migration::only_classic_members_but(group, leaving)
            || remaining > self.config.max_group_size
        {
            return None;
        }
        let topics = self.config.topics.image();
        let meta = migration::classic_metadata_from_consumer(group, leaving, &topics)?;
        let mut changes: Changes = self
            .consumer
            .delete_group_records(group_id)
            .into_iter()
            .map(CoordinatorRecord::Consumer)
            .collect();
        changes.push(CoordinatorRecord::Group(group_id.to_string(), Some(meta)));
        Some(changes)
    }

    /// After `tick` fenced members of `group_id` (already applied): the downgrade, if the
    /// rest is classic, done at once, its records for the background writer.
    pub(crate) fn downgrade_after_fencing(&mut self, now: i64, group_id: &str) {
        let Some(changes) = self.downgrade_records(group_id, &[]) else {
            return;
        };
        for record in &changes {
            match record {
                CoordinatorRecord::Consumer(r) => self.consumer.replay(r.clone()),
                CoordinatorRecord::Group(id, Some(meta)) => {
                    let _ = self.start_downgraded_group(now, id, meta);
                }
                _ => {}
            }
        }
        self.background.extend(changes);
    }

    /// A downgraded group's metadata was written: the classic group it describes, which
    /// rebalances so its members rejoin under the classic protocol.
    pub(crate) fn start_downgraded_group(
        &mut self,
        now: i64,
        group_id: &str,
        meta: &crate::coordinator::records::GroupMetadata,
    ) -> Vec<Reply> {
        let mut group = ClassicGroup::from_metadata(group_id, meta, now);
        let replies = prepare_rebalance(&mut group, now);
        tracing::info!(group = %group_id, "downgraded consumer group to classic");
        self.groups.insert(group_id.to_string(), group);
        replies
    }
}

/// The classic member `member_id` (checked against `instance_id`), or the error Kafka answers.
fn classic_member<'a>(
    group: &'a ConsumerGroup,
    member_id: &str,
    instance_id: Option<&str>,
) -> Result<&'a super::consumer_group::ConsumerMember, ResponseError> {
    let member = match instance_id {
        None => group.members.get(member_id),
        Some(i) => {
            let m = group
                .static_member(i)
                .ok_or(ResponseError::UnknownMemberId)?;
            if m.member_id != member_id {
                return Err(ResponseError::FencedInstanceId);
            }
            Some(m)
        }
    }
    .ok_or(ResponseError::UnknownMemberId)?;
    if member.metadata.classic.is_none() {
        return Err(ResponseError::UnknownMemberId);
    }
    Ok(member)
}
