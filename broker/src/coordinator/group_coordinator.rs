//! The coordinator's request handling: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, the
//! offset APIs and the group listing APIs, plus `tick` for session and rebalance timeouts.

use std::collections::BTreeMap;

use bytes::Bytes;
use gregor_protocol::messages::join_group_response::JoinGroupResponseMember;
use gregor_protocol::messages::{
    GroupId, JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use super::classic_group::{ClassicGroup, GroupState, Member, ParkedJoin};
use super::group::manager::{ConsumerGroupConfig, ConsumerGroupManager};
use super::group::snapshot::decode_consumer_assignment;
use super::group::topics::TopicSource;
use super::group_events::{
    consumer_events, ConsumerView, GroupEventKind, GroupEvents, MemberPartitions,
};
use super::offsets::OffsetStore;
use super::records::CoordinatorRecord;

/// Caller-chosen handle of a request whose answer may come later.
pub type ReplyId = u64;

/// An answer to a request that may have been parked.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// To a JoinGroup.
    Join(JoinGroupResponse),
    /// To a SyncGroup.
    Sync(SyncGroupResponse),
}

/// An answer and the request it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The request's handle.
    pub id: ReplyId,
    /// The answer.
    pub response: Response,
}

/// A leader's SyncGroup whose assignment waits for its group metadata record to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSync {
    /// The group.
    pub group_id: String,
    /// The generation the assignment is for.
    pub generation: i32,
    /// Each member's assignment.
    pub assignments: BTreeMap<String, Bytes>,
    /// The record to write first.
    pub record: CoordinatorRecord,
}

/// Limits, named after Kafka's broker settings.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i64,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i64,
    /// `group.initial.rebalance.delay.ms` (0, as Kafka's dev config sets it).
    pub initial_rebalance_delay_ms: i64,
    /// `group.max.size`.
    pub max_group_size: usize,
    /// `offset.metadata.max.bytes`, counted as Kafka counts it (UTF-16 code units).
    pub offset_metadata_max_bytes: usize,
    /// The `group.consumer.*` settings of KIP-848 consumer groups.
    pub consumer: ConsumerGroupConfig,
    /// Where consumer groups read the topics they assign from.
    pub topics: TopicSource,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 0,
            max_group_size: usize::MAX,
            offset_metadata_max_bytes: 4096,
            consumer: ConsumerGroupConfig::default(),
            topics: TopicSource::default(),
        }
    }
}

/// All groups and their committed offsets.
#[derive(Debug, Default)]
pub struct GroupCoordinator {
    /// Limits.
    pub config: CoordinatorConfig,
    /// Groups by id.
    pub groups: BTreeMap<String, ClassicGroup>,
    /// Committed offsets.
    pub offsets: OffsetStore,
    /// KIP-848 consumer groups (a group id is either here or in `groups`, never both).
    pub consumer: ConsumerGroupManager,
    /// Offsets of transactions not yet committed or aborted.
    pub pending_txn_offsets: super::txn_offsets::PendingTxnOffsets,
    /// What happened, for the live view (taken by the runtime after every event).
    pub events: GroupEvents,
    /// Records of work `tick` did at once (a downgrade after a fencing), for the background
    /// writer.
    pub background: Vec<CoordinatorRecord>,
    /// The time of the last request or tick, for work done when records are applied (a
    /// downgraded group's rebalance starts then).
    pub clock: i64,
    next_member: u64,
    /// No classic group can have gone Empty since `take_emptied_group_records` last looked:
    /// only the joins, leaves and timers that complete a rebalance clear it, so the other
    /// requests (an offset commit) do not scan every group for one.
    emptied_checked: bool,
    /// The classic groups' earliest timer, kept while nothing could have brought one earlier:
    /// offset commits and reads (most events of a busy broker) keep it, every other request,
    /// write and tick forgets it. A deadline that moved later (a heartbeat) only makes the
    /// runtime tick early.
    classic_deadline: std::cell::Cell<Option<Option<i64>>>,
}

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

fn join_error(error: ResponseError, member_id: &str) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(error.code())
        .with_generation_id(-1)
        .with_member_id(s(member_id))
}

fn sync_error(error: ResponseError) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(error.code())
}

impl GroupCoordinator {
    /// A coordinator with `config` and no groups.
    pub fn new(config: CoordinatorConfig) -> GroupCoordinator {
        GroupCoordinator {
            consumer: ConsumerGroupManager::new(config.consumer.clone()),
            config,
            ..GroupCoordinator::default()
        }
    }

    fn new_member_id(&mut self, client_id: &str) -> String {
        self.next_member += 1;
        // Kafka's shape: client id, a dash, a unique suffix.
        format!(
            "{client_id}-{:08x}-{:x}",
            self.next_member,
            std::process::id()
        )
    }

    /// JoinGroup: answers at once (errors, MEMBER_ID_REQUIRED, a rejoin that changes nothing)
    /// or parks the request until the rebalance completes.
    pub fn join_group(
        &mut self,
        now: i64,
        id: ReplyId,
        version: i16,
        req: &JoinGroupRequest,
        client_id: &str,
        client_host: &str,
    ) -> Vec<Reply> {
        let reply = |response: JoinGroupResponse| {
            vec![Reply {
                id,
                response: Response::Join(response),
            }]
        };
        let group_id = req.group_id.as_str().to_string();
        let member_id = req.member_id.as_str().to_string();
        if group_id.is_empty() {
            return reply(join_error(ResponseError::InvalidGroupId, &member_id));
        }
        let session = i64::from(req.session_timeout_ms);
        if session < self.config.min_session_timeout_ms
            || session > self.config.max_session_timeout_ms
        {
            return reply(join_error(ResponseError::InvalidSessionTimeout, &member_id));
        }
        // Copied, not sliced: a slice would keep the whole request frame alive for the life of
        // the member (a 100 MiB frame of padding behind a few bytes of metadata), outside the
        // connection's request budget.
        let protocols: Vec<(String, Bytes)> = req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), Bytes::copy_from_slice(&p.metadata)))
            .collect();
        let protocol_type = req.protocol_type.to_string();
        if protocol_type.is_empty() || protocols.is_empty() {
            return reply(join_error(
                ResponseError::InconsistentGroupProtocol,
                &member_id,
            ));
        }
        if let Some(group) = self.consumer.groups.get(&group_id) {
            // A consumer group with members takes classic members in `classic_members` (the
            // caller routes them there); one left here refuses them. An empty one becomes a
            // classic group, as in Kafka.
            if !group.members.is_empty() {
                return reply(join_error(
                    ResponseError::InconsistentGroupProtocol,
                    &member_id,
                ));
            }
            self.consumer.remove_empty_group(&group_id);
        }
        if !self.groups.contains_key(&group_id) {
            if !member_id.is_empty() {
                return reply(join_error(ResponseError::UnknownMemberId, &member_id));
            }
            self.groups
                .insert(group_id.clone(), ClassicGroup::new(&group_id));
        }
        let max_size = self.config.max_group_size;
        let group = self.groups.get(&group_id).expect("just ensured");
        if group.state == GroupState::Dead {
            return reply(join_error(
                ResponseError::CoordinatorNotAvailable,
                &member_id,
            ));
        }
        if !group.accepts_protocols(&protocol_type, &protocols) {
            return reply(join_error(
                ResponseError::InconsistentGroupProtocol,
                &member_id,
            ));
        }
        if group.members.is_empty() {
            // The first member fixes the protocol type, so a member joining with another type
            // during the very first rebalance is refused too.
            self.groups
                .get_mut(&group_id)
                .expect("exists")
                .protocol_type = Some(protocol_type.clone());
        }
        let group = self.groups.get(&group_id).expect("exists");
        let instance_id = req.group_instance_id.as_ref().map(|i| i.to_string());
        // Rebalance timeout is absent before v1: it equals the session timeout.
        let rebalance = if version >= 1 {
            i64::from(req.rebalance_timeout_ms)
        } else {
            session
        };
        let new_member = |id: String| Member {
            id,
            instance_id: instance_id.clone(),
            client_id: client_id.to_string(),
            client_host: client_host.to_string(),
            session_timeout_ms: session,
            rebalance_timeout_ms: rebalance,
            protocols: protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            session_deadline: now + session,
        };

        if member_id.is_empty() {
            // A static member coming back under a new member id replaces its old self.
            if let Some(instance) = &instance_id {
                if let Some(old_id) = group.static_members.get(instance).cloned() {
                    let new_id = self.new_member_id(client_id);
                    return self.replace_static_member(
                        now, id, version, &group_id, &old_id, new_id, new_member,
                    );
                }
            }
            if group.members.len() + group.pending.len() >= max_size {
                return reply(join_error(ResponseError::GroupMaxSizeReached, &member_id));
            }
            let new_id = self.new_member_id(client_id);
            let group = self.groups.get_mut(&group_id).expect("exists");
            if version >= 4 && instance_id.is_none() {
                // KIP-394: hand out the id first, so a client that dies mid-join leaves no
                // phantom member behind.
                group.pending.insert(new_id.clone(), now + session);
                return reply(join_error(ResponseError::MemberIdRequired, &new_id));
            }
            if let Some(instance) = &instance_id {
                group
                    .static_members
                    .insert(instance.clone(), new_id.clone());
            }
            let mut member = new_member(new_id.clone());
            member.awaiting_join = Some(ParkedJoin { reply: id, version });
            self.events.push(&group_id, joined_event(&member));
            group.members.insert(new_id, member);
            return self.member_joined(now, &group_id);
        }

        let group = self.groups.get_mut(&group_id).expect("exists");
        if group.pending.remove(&member_id).is_some() {
            let mut member = new_member(member_id.clone());
            member.awaiting_join = Some(ParkedJoin { reply: id, version });
            self.events.push(&group_id, joined_event(&member));
            group.members.insert(member_id, member);
            return self.member_joined(now, &group_id);
        }
        let Some(member) = group.members.get_mut(&member_id) else {
            return reply(join_error(ResponseError::UnknownMemberId, &member_id));
        };
        if let Some(instance) = &instance_id {
            if group
                .static_members
                .get(instance)
                .is_some_and(|current| current != &member_id)
            {
                return reply(join_error(ResponseError::FencedInstanceId, &member_id));
            }
        }
        let unchanged = member.protocols == protocols;
        member.protocols = protocols;
        member.session_timeout_ms = session;
        member.rebalance_timeout_ms = rebalance;
        member.session_deadline = now + session;
        let mut replies = Vec::new();
        if let Some(old) = member
            .awaiting_join
            .replace(ParkedJoin { reply: id, version })
        {
            // A retried JoinGroup supersedes the earlier one, which gets told to rejoin.
            replies.push(Reply {
                id: old.reply,
                response: Response::Join(join_error(
                    ResponseError::RebalanceInProgress,
                    &member_id,
                )),
            });
        }
        let is_leader = group.leader.as_deref() == Some(member_id.as_str());
        match group.state {
            GroupState::PreparingRebalance => {}
            GroupState::CompletingRebalance | GroupState::Stable
                if unchanged && !(is_leader && group.state == GroupState::Stable) =>
            {
                // A rejoin with the same metadata (a retry): answer with the current generation.
                let member = group.members.get_mut(&member_id).expect("exists");
                let parked = member.awaiting_join.take().expect("just set");
                replies.push(Reply {
                    id: parked.reply,
                    response: Response::Join(join_response(group, &member_id, parked.version)),
                });
                return replies;
            }
            _ => {}
        }
        replies.extend(self.member_joined(now, &group_id));
        replies
    }

    #[allow(clippy::too_many_arguments)]
    fn replace_static_member(
        &mut self,
        now: i64,
        id: ReplyId,
        version: i16,
        group_id: &str,
        old_id: &str,
        new_id: String,
        new_member: impl Fn(String) -> Member,
    ) -> Vec<Reply> {
        let group = self.groups.get_mut(group_id).expect("exists");
        let mut replies = Vec::new();
        let old = group.members.remove(old_id);
        if let Some(old) = &old {
            if let Some(parked) = old.awaiting_join {
                replies.push(Reply {
                    id: parked.reply,
                    response: Response::Join(join_error(ResponseError::FencedInstanceId, old_id)),
                });
            }
            if let Some(parked) = old.awaiting_sync {
                replies.push(Reply {
                    id: parked,
                    response: Response::Sync(sync_error(ResponseError::FencedInstanceId)),
                });
            }
        }
        let mut member = new_member(new_id.clone());
        let instance = member.instance_id.clone().expect("static member");
        group.static_members.insert(instance, new_id.clone());
        if group.leader.as_deref() == Some(old_id) {
            group.leader = Some(new_id.clone());
        }
        let same = old
            .as_ref()
            .is_some_and(|o| o.protocols == member.protocols);
        if let Some(o) = &old {
            member.assignment = o.assignment.clone();
        }
        self.events.push(group_id, joined_event(&member));
        if same && group.state == GroupState::Stable {
            // KIP-345: a restarted static member gets its old assignment, no rebalance.
            group.members.insert(new_id.clone(), member);
            replies.push(Reply {
                id,
                response: Response::Join(join_response(group, &new_id, version)),
            });
            return replies;
        }
        member.awaiting_join = Some(ParkedJoin { reply: id, version });
        group.members.insert(new_id, member);
        replies.extend(self.member_joined(now, group_id));
        replies
    }

    /// After a member (re)joined: start or continue the rebalance.
    fn member_joined(&mut self, now: i64, group_id: &str) -> Vec<Reply> {
        self.emptied_checked = false;
        let delay = self.config.initial_rebalance_delay_ms;
        let group = self.groups.get_mut(group_id).expect("exists");
        let mut replies = Vec::new();
        if group.state != GroupState::PreparingRebalance {
            let reason = match group.state {
                GroupState::Empty => "the first member joined",
                _ => "a member joined or rejoined with new metadata",
            };
            self.events.push(
                group_id,
                GroupEventKind::RebalanceStarted {
                    reason: reason.to_string(),
                },
            );
            let from_empty = group.state == GroupState::Empty;
            replies.extend(prepare_rebalance(group, now));
            if from_empty && delay > 0 {
                group.initial_join_until = Some(now);
            }
        }
        if let (Some(until), Some(deadline)) = (group.initial_join_until, group.rebalance_deadline)
        {
            // Each member arriving during the initial wait gives others the same time again,
            // so consumers started together land in one first generation.
            group.initial_join_until = Some(until.max(now + delay).min(deadline));
        }
        let before: Vec<(String, i64)> = rebalance_timeouts(group);
        replies.extend(try_complete_join(group, now));
        push_timed_out(&mut self.events, group, &before);
        replies
    }

    /// SyncGroup: the leader's request hands out the assignment; followers wait for it. The
    /// leader's assignment comes back as a `PendingSync` to write: nothing changes, and nobody
    /// is answered, until the runtime wrote it and calls `complete_sync`.
    pub fn sync_group(
        &mut self,
        id: ReplyId,
        req: &SyncGroupRequest,
    ) -> (Vec<Reply>, Option<PendingSync>) {
        let reply = |response: SyncGroupResponse| {
            (
                vec![Reply {
                    id,
                    response: Response::Sync(response),
                }],
                None,
            )
        };
        let member_id = req.member_id.as_str();
        let Some(group) = self.groups.get_mut(req.group_id.as_str()) else {
            return reply(sync_error(ResponseError::UnknownMemberId));
        };
        if !group.members.contains_key(member_id) {
            return reply(sync_error(ResponseError::UnknownMemberId));
        }
        if let Some(instance) = &req.group_instance_id {
            if group
                .static_members
                .get(instance.as_str())
                .is_some_and(|m| m != member_id)
            {
                return reply(sync_error(ResponseError::FencedInstanceId));
            }
        }
        if req.generation_id != group.generation {
            return reply(sync_error(ResponseError::IllegalGeneration));
        }
        if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t.as_str()) != group.protocol_type.as_deref())
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|n| Some(n.as_str()) != group.protocol.as_deref())
        {
            return reply(sync_error(ResponseError::InconsistentGroupProtocol));
        }
        match group.state {
            GroupState::Empty | GroupState::Dead => {
                reply(sync_error(ResponseError::UnknownMemberId))
            }
            GroupState::PreparingRebalance => reply(sync_error(ResponseError::RebalanceInProgress)),
            GroupState::Stable => {
                let assignment = group.members[member_id].assignment.clone();
                reply(sync_ok(group, assignment))
            }
            GroupState::CompletingRebalance => {
                let mut replies = Vec::new();
                if let Some(old) = group
                    .members
                    .get_mut(member_id)
                    .and_then(|m| m.awaiting_sync.replace(id))
                {
                    replies.push(Reply {
                        id: old,
                        response: Response::Sync(sync_error(ResponseError::RebalanceInProgress)),
                    });
                }
                if group.leader.as_deref() == Some(member_id) {
                    let given: BTreeMap<&str, &Bytes> = req
                        .assignments
                        .iter()
                        .map(|a| (a.member_id.as_str(), &a.assignment))
                        .collect();
                    // Copied for the same reason as join metadata.
                    let assignments: BTreeMap<String, Bytes> = group
                        .members
                        .keys()
                        .map(|m| {
                            let bytes = given.get(m.as_str()).map(|b| Bytes::copy_from_slice(b));
                            (m.clone(), bytes.unwrap_or_default())
                        })
                        .collect();
                    // Nothing changes until the group's metadata is written: the runtime
                    // appends the record and then calls `complete_sync`.
                    let record = CoordinatorRecord::Group(
                        group.id.clone(),
                        Some(group.to_metadata(&assignments)),
                    );
                    let sync = PendingSync {
                        group_id: group.id.clone(),
                        generation: group.generation,
                        assignments,
                        record,
                    };
                    return (replies, Some(sync));
                }
                (replies, None)
            }
        }
    }

    /// Finishes a leader's SyncGroup once its group metadata record was written (`written`):
    /// the group becomes Stable and every waiting member gets its assignment. A failed write
    /// answers them with `write_error` and starts a new rebalance, as Kafka does, so the group
    /// never runs on an assignment the log does not hold.
    pub fn complete_sync(
        &mut self,
        now: i64,
        sync: PendingSync,
        written: bool,
        write_error: ResponseError,
    ) -> Vec<Reply> {
        self.forget_classic_deadline();
        let Some(group) = self.groups.get_mut(&sync.group_id) else {
            return Vec::new();
        };
        if group.state != GroupState::CompletingRebalance || group.generation != sync.generation {
            return Vec::new();
        }
        if !written {
            self.events.push(
                &sync.group_id,
                GroupEventKind::RebalanceStarted {
                    reason: "the leader's assignment could not be written".to_string(),
                },
            );
            let mut replies = Vec::new();
            for m in group.members.values_mut() {
                if let Some(id) = m.awaiting_sync.take() {
                    replies.push(Reply {
                        id,
                        response: Response::Sync(sync_error(write_error)),
                    });
                }
            }
            replies.extend(prepare_rebalance(group, now));
            return replies;
        }
        for m in group.members.values_mut() {
            m.assignment = sync.assignments.get(&m.id).cloned().unwrap_or_default();
        }
        group.state = GroupState::Stable;
        let consumer = group.protocol_type.as_deref() == Some("consumer");
        self.events.push(
            &sync.group_id,
            GroupEventKind::GenerationCompleted {
                generation: group.generation,
                protocol: group.protocol.clone(),
                leader: group.leader.clone(),
                assignment: group
                    .members
                    .values()
                    .map(|m| MemberPartitions {
                        member_id: m.id.clone(),
                        partitions: if consumer {
                            decode_consumer_assignment(&m.assignment).unwrap_or_default()
                        } else {
                            Vec::new()
                        },
                    })
                    .collect(),
            },
        );
        let waiting: Vec<(ReplyId, Bytes)> = group
            .members
            .values_mut()
            .filter_map(|m| m.awaiting_sync.take().map(|r| (r, m.assignment.clone())))
            .collect();
        waiting
            .into_iter()
            .map(|(id, assignment)| Reply {
                id,
                response: Response::Sync(sync_ok(group, assignment)),
            })
            .collect()
    }

    /// The metadata records of groups that became Empty since the last call (Kafka writes one
    /// when a group's last member leaves, so a restart does not bring the members back).
    pub fn take_emptied_group_records(&mut self) -> Vec<CoordinatorRecord> {
        if std::mem::replace(&mut self.emptied_checked, true) {
            return Vec::new();
        }
        let mut records = Vec::new();
        for g in self.groups.values_mut() {
            if std::mem::take(&mut g.emptied) {
                let metadata = g.to_metadata(&BTreeMap::new());
                records.push(CoordinatorRecord::Group(g.id.clone(), Some(metadata)));
            }
        }
        records
    }

    /// Heartbeat: keeps a member alive and tells it when to rejoin.
    pub fn heartbeat(
        &mut self,
        now: i64,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), ResponseError> {
        let Some(group) = self.groups.get_mut(group_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        if let Some(instance) = instance_id {
            if group
                .static_members
                .get(instance)
                .is_some_and(|m| m != member_id)
            {
                return Err(ResponseError::FencedInstanceId);
            }
        }
        let state = group.state;
        let current_generation = group.generation;
        let Some(member) = group.members.get_mut(member_id) else {
            return Err(ResponseError::UnknownMemberId);
        };
        match state {
            GroupState::Empty | GroupState::Dead => Err(ResponseError::UnknownMemberId),
            _ if generation != current_generation => Err(ResponseError::IllegalGeneration),
            GroupState::PreparingRebalance => {
                member.session_deadline = now + member.session_timeout_ms;
                Err(ResponseError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.session_deadline = now + member.session_timeout_ms;
                Ok(())
            }
        }
    }

    /// LeaveGroup for each (member id, instance id): the per-member codes, and replies to
    /// parked requests that the departure completes.
    pub fn leave_group(
        &mut self,
        now: i64,
        group_id: &str,
        leaving: &[(String, Option<String>)],
    ) -> (
        Option<ResponseError>,
        Vec<Option<ResponseError>>,
        Vec<Reply>,
    ) {
        self.emptied_checked = false;
        let Some(group) = self.groups.get_mut(group_id) else {
            return (
                Some(ResponseError::UnknownMemberId),
                leaving
                    .iter()
                    .map(|_| Some(ResponseError::UnknownMemberId))
                    .collect(),
                Vec::new(),
            );
        };
        let mut codes = Vec::new();
        let mut replies = Vec::new();
        let mut removed_any = false;
        for (member_id, instance_id) in leaving {
            let target = match (member_id.as_str(), instance_id) {
                ("", Some(instance)) => group.static_members.get(instance).cloned(),
                (id, Some(instance)) => match group.static_members.get(instance) {
                    Some(current) if current != id => {
                        codes.push(Some(ResponseError::FencedInstanceId));
                        continue;
                    }
                    _ => Some(id.to_string()),
                },
                (id, None) => Some(id.to_string()),
            };
            match target.filter(|t| group.members.contains_key(t)) {
                Some(target) => {
                    self.events.push(
                        group_id,
                        GroupEventKind::MemberLeft {
                            member_id: target.clone(),
                        },
                    );
                    replies.extend(remove_member(group, &target));
                    removed_any = true;
                    codes.push(None);
                }
                None => codes.push(Some(ResponseError::UnknownMemberId)),
            }
        }
        if removed_any {
            push_rebalance_after_removal(&mut self.events, group, "a member left the group");
            let before = rebalance_timeouts(group);
            replies.extend(after_removal(group, now));
            push_timed_out(&mut self.events, group, &before);
        }
        let top = if leaving.len() == 1 { codes[0] } else { None };
        (top, codes, replies)
    }

    /// Expires members, pending ids and rebalance waits whose time has come.
    pub fn tick(&mut self, now: i64) -> Vec<Reply> {
        self.emptied_checked = false;
        self.forget_classic_deadline();
        if self.consumer.next_deadline().is_some_and(|d| d <= now) {
            let topics = self.config.topics.image();
            self.consumer_tick(now, &topics);
        }
        let mut replies = Vec::new();
        for group in self.groups.values_mut() {
            group.pending.retain(|_, deadline| *deadline > now);
            let before = rebalance_timeouts(group);
            let expired: Vec<String> = group
                .members
                .values()
                .filter(|m| {
                    m.session_deadline <= now
                        && m.awaiting_join.is_none()
                        && m.awaiting_sync.is_none()
                })
                .map(|m| m.id.clone())
                .collect();
            for member_id in &expired {
                tracing::info!(group = %group.id, member = %member_id, "member session expired");
                if let Some(m) = group.members.get(member_id) {
                    self.events.push(
                        &group.id,
                        GroupEventKind::SessionTimeout {
                            member_id: member_id.clone(),
                            session_timeout_ms: m.session_timeout_ms,
                        },
                    );
                }
                replies.extend(remove_member(group, member_id));
            }
            if !expired.is_empty() {
                push_rebalance_after_removal(
                    &mut self.events,
                    group,
                    "a member's session timed out",
                );
                replies.extend(after_removal(group, now));
            } else if group.state == GroupState::PreparingRebalance {
                replies.extend(try_complete_join(group, now));
            }
            let before: Vec<_> = before
                .into_iter()
                .filter(|(m, _)| !expired.contains(m))
                .collect();
            push_timed_out(&mut self.events, group, &before);
        }
        replies
    }

    /// The consumer groups' timers, with an event for each change they make.
    fn consumer_tick(&mut self, now: i64, topics: &super::group::topics::TopicImage) {
        let before: BTreeMap<String, ConsumerView> = self
            .consumer
            .groups
            .iter()
            .filter_map(|(id, g)| Some((id.clone(), ConsumerView::of(Some(g))?)))
            .collect();
        self.consumer.tick(now, topics);
        let expired = std::mem::take(&mut self.consumer.expired);
        if expired.is_empty() {
            return;
        }
        let fenced_in: std::collections::BTreeSet<String> =
            expired.iter().map(|(g, _, _)| g.clone()).collect();
        let session_ms = i64::from(self.consumer.config.session_timeout_ms);
        let groups: std::collections::BTreeSet<&str> =
            expired.iter().map(|(g, _, _)| g.as_str()).collect();
        for group_id in groups {
            let old = before.get(group_id);
            let gone = |member: &str| {
                let (_, _, why) = expired
                    .iter()
                    .find(|(g, m, _)| g == group_id && m == member)?;
                Some(if *why == "session timeout" {
                    GroupEventKind::SessionTimeout {
                        member_id: member.to_string(),
                        session_timeout_ms: session_ms,
                    }
                } else {
                    GroupEventKind::RebalanceTimeout {
                        member_id: member.to_string(),
                        rebalance_timeout_ms: old
                            .and_then(|v| v.rebalance_timeout_ms(member))
                            .unwrap_or(-1),
                    }
                })
            };
            let group = self.consumer.groups.get(group_id);
            let new = ConsumerView::of(group);
            let consumer = &self.consumer;
            let assignor = || {
                group.map_or_else(String::new, |g| {
                    consumer.group_assignor(g).name().to_string()
                })
            };
            consumer_events(
                group_id,
                old,
                new.as_ref(),
                &gone,
                &assignor,
                topics,
                &mut self.events,
            );
        }
        for group_id in fenced_in {
            self.downgrade_after_fencing(now, &group_id);
        }
    }

    /// Forgets the classic groups' cached earliest timer: a change may have set an earlier one.
    pub fn forget_classic_deadline(&self) {
        self.classic_deadline.set(None);
    }

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let classic = match self.classic_deadline.get() {
            Some(cached) => {
                // Earlier than the truth is safe (a tick with nothing to do); later would miss
                // a timer.
                #[cfg(debug_assertions)]
                {
                    let fresh = self.classic_groups_deadline();
                    let no_later = match (cached, fresh) {
                        (_, None) => true,
                        (None, Some(_)) => false,
                        (Some(c), Some(f)) => c <= f,
                    };
                    assert!(
                        no_later,
                        "cached classic deadline {cached:?}, in truth {fresh:?}"
                    );
                }
                cached
            }
            None => {
                let d = self.classic_groups_deadline();
                self.classic_deadline.set(Some(d));
                d
            }
        };
        classic
            .into_iter()
            .chain(self.consumer.next_deadline())
            .chain(self.events.next_deadline())
            .min()
    }

    /// The earliest timer of the classic groups: sessions, pending member ids, rebalances.
    fn classic_groups_deadline(&self) -> Option<i64> {
        self.groups
            .values()
            // Most groups of a busy broker are only committed to: no timer, and no need to
            // build the chain below for each of them at every turn of the runtime's loop.
            .filter(|g| {
                !g.members.is_empty()
                    || !g.pending.is_empty()
                    || g.rebalance_deadline.is_some()
                    || g.initial_join_until.is_some()
            })
            .flat_map(|g| {
                let members = g
                    .members
                    .values()
                    .filter(|m| m.awaiting_join.is_none() && m.awaiting_sync.is_none())
                    .map(|m| m.session_deadline);
                members
                    .chain(g.pending.values().copied())
                    .chain(g.rebalance_deadline)
                    .chain(g.initial_join_until)
            })
            .min()
    }
}

/// The event of `member` joining.
fn joined_event(member: &Member) -> GroupEventKind {
    GroupEventKind::MemberJoined {
        member_id: member.id.clone(),
        client_id: member.client_id.clone(),
        client_host: member.client_host.clone(),
        instance_id: member.instance_id.clone(),
    }
}

/// Each member's rebalance timeout, to tell afterwards who was removed for not rejoining.
fn rebalance_timeouts(group: &ClassicGroup) -> Vec<(String, i64)> {
    if group.state != GroupState::PreparingRebalance
        && group.state != GroupState::Stable
        && group.state != GroupState::CompletingRebalance
    {
        return Vec::new();
    }
    group
        .members
        .values()
        .map(|m| (m.id.clone(), m.rebalance_timeout_ms))
        .collect()
}

/// Reports the members of `before` no longer in `group`: the join phase dropped them for not
/// rejoining within their rebalance timeout.
fn push_timed_out(events: &mut GroupEvents, group: &ClassicGroup, before: &[(String, i64)]) {
    for (member_id, timeout) in before {
        if !group.members.contains_key(member_id) {
            events.push(
                &group.id,
                GroupEventKind::RebalanceTimeout {
                    member_id: member_id.clone(),
                    rebalance_timeout_ms: *timeout,
                },
            );
        }
    }
}

/// Reports the rebalance a removal is about to start (`after_removal` starts one from Stable
/// and CompletingRebalance).
fn push_rebalance_after_removal(events: &mut GroupEvents, group: &ClassicGroup, reason: &str) {
    if matches!(
        group.state,
        GroupState::Stable | GroupState::CompletingRebalance
    ) {
        events.push(
            &group.id,
            GroupEventKind::RebalanceStarted {
                reason: reason.to_string(),
            },
        );
    }
}

fn sync_ok(group: &ClassicGroup, assignment: Bytes) -> SyncGroupResponse {
    SyncGroupResponse::default()
        .with_assignment(assignment)
        .with_protocol_type(group.protocol_type.clone().map(s))
        .with_protocol_name(group.protocol.clone().map(s))
}

/// The JoinGroup answer for `member_id` at the group's current generation: the leader gets
/// every member's metadata, followers none.
fn join_response(group: &ClassicGroup, member_id: &str, version: i16) -> JoinGroupResponse {
    let protocol = group.protocol.clone().unwrap_or_default();
    let members = if group.leader.as_deref() == Some(member_id) {
        group
            .members
            .values()
            .map(|m| {
                JoinGroupResponseMember::default()
                    .with_member_id(s(m.id.clone()))
                    .with_group_instance_id(m.instance_id.clone().map(s))
                    .with_metadata(m.metadata(&protocol))
            })
            .collect()
    } else {
        Vec::new()
    };
    let response = JoinGroupResponse::default()
        .with_generation_id(group.generation)
        .with_protocol_name(Some(s(protocol)))
        .with_leader(s(group.leader.clone().unwrap_or_default()))
        .with_member_id(s(member_id))
        .with_members(members);
    if version >= 7 {
        response.with_protocol_type(group.protocol_type.clone().map(s))
    } else {
        response
    }
}

/// Moves to PreparingRebalance; a rebalance interrupting CompletingRebalance sends the parked
/// SyncGroups back with REBALANCE_IN_PROGRESS.
pub(crate) fn prepare_rebalance(group: &mut ClassicGroup, now: i64) -> Vec<Reply> {
    let mut replies = Vec::new();
    if group.state == GroupState::CompletingRebalance {
        for m in group.members.values_mut() {
            if let Some(id) = m.awaiting_sync.take() {
                replies.push(Reply {
                    id,
                    response: Response::Sync(sync_error(ResponseError::RebalanceInProgress)),
                });
            }
        }
    }
    group.state = GroupState::PreparingRebalance;
    group.rebalance_deadline = Some(now + group.max_rebalance_timeout());
    replies
}

/// Completes the join phase once everyone rejoined, or once the rebalance timeout passed (then
/// without the members that did not rejoin).
fn try_complete_join(group: &mut ClassicGroup, now: i64) -> Vec<Reply> {
    if group.state != GroupState::PreparingRebalance {
        return Vec::new();
    }
    let timed_out = group.rebalance_deadline.is_some_and(|d| now >= d);
    if group.initial_join_until.is_some_and(|until| now < until) && !timed_out {
        return Vec::new();
    }
    if !group.all_joined() && !timed_out {
        return Vec::new();
    }
    group.initial_join_until = None;
    let mut replies = Vec::new();
    let missing: Vec<String> = group
        .members
        .values()
        .filter(|m| m.awaiting_join.is_none())
        .map(|m| m.id.clone())
        .collect();
    for member_id in missing {
        tracing::info!(group = %group.id, member = %member_id, "member did not rejoin in time");
        replies.extend(remove_member(group, &member_id));
    }
    group.pending.clear();
    group.rebalance_deadline = None;
    group.generation += 1;
    if group.members.is_empty() {
        group.state = GroupState::Empty;
        group.protocol = None;
        group.leader = None;
        group.emptied = true;
        return replies;
    }
    group.protocol_type = group
        .protocol_type
        .clone()
        .or_else(|| Some("consumer".into()));
    group.protocol = group.select_protocol();
    if group
        .leader
        .as_ref()
        .is_none_or(|l| !group.members.contains_key(l))
    {
        group.leader = group.members.keys().next().cloned();
    }
    group.state = GroupState::CompletingRebalance;
    let parked: Vec<(String, ParkedJoin)> = group
        .members
        .values_mut()
        .filter_map(|m| m.awaiting_join.take().map(|p| (m.id.clone(), p)))
        .collect();
    for (member_id, p) in parked {
        if let Some(m) = group.members.get_mut(&member_id) {
            m.session_deadline = now + m.session_timeout_ms;
        }
        replies.push(Reply {
            id: p.reply,
            response: Response::Join(join_response(group, &member_id, p.version)),
        });
    }
    replies
}

/// Takes a member out, answering its parked requests.
fn remove_member(group: &mut ClassicGroup, member_id: &str) -> Vec<Reply> {
    let mut replies = Vec::new();
    if let Some(m) = group.members.remove(member_id) {
        if let Some(p) = m.awaiting_join {
            replies.push(Reply {
                id: p.reply,
                response: Response::Join(join_error(ResponseError::UnknownMemberId, member_id)),
            });
        }
        if let Some(id) = m.awaiting_sync {
            replies.push(Reply {
                id,
                response: Response::Sync(sync_error(ResponseError::UnknownMemberId)),
            });
        }
        if let Some(instance) = m.instance_id {
            if group
                .static_members
                .get(&instance)
                .is_some_and(|id| id == member_id)
            {
                group.static_members.remove(&instance);
            }
        }
    }
    if group.leader.as_deref() == Some(member_id) {
        group.leader = None;
    }
    replies
}

/// After members left or expired: rebalance, or finish the one under way.
fn after_removal(group: &mut ClassicGroup, now: i64) -> Vec<Reply> {
    match group.state {
        GroupState::Stable | GroupState::CompletingRebalance => {
            let mut replies = prepare_rebalance(group, now);
            replies.extend(try_complete_join(group, now));
            replies
        }
        GroupState::PreparingRebalance => try_complete_join(group, now),
        GroupState::Empty | GroupState::Dead => Vec::new(),
    }
}

/// The group id of a request, as a string.
pub fn group_id(id: &GroupId) -> &str {
    id.as_str()
}
