//! The coordinator's answers that never wait: offsets, listing, describing and deleting groups.
//!
//! Requests that change durable state do not change it here: they return the response together
//! with the records it stands for, and the runtime appends the records first and applies them
//! (`GroupCoordinator::apply`) only once the append succeeded. A failed append so leaves the
//! coordinator exactly as it was, and the request is answered with an error.

use std::collections::BTreeMap;

use gregor_protocol::messages::delete_groups_response::DeletableGroupResult;
use gregor_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use gregor_protocol::messages::list_groups_response::ListedGroup;
use gregor_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use gregor_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use gregor_protocol::messages::offset_fetch_response::OffsetFetchResponsePartitions;
use gregor_protocol::messages::{
    DeleteGroupsResponse, DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use super::classic_group::{ClassicGroup, GroupState};
use super::group_coordinator::GroupCoordinator;
use super::group_events::{consumer_events, ConsumerView};
use super::offsets::CommittedOffset;
use super::records::CoordinatorRecord;

/// What a request changes: records to append to `__consumer_offsets`, in order, and to apply
/// once they are written.
pub type Changes = Vec<CoordinatorRecord>;

/// The authorized operations of a group when there is no authorizer: every operation Kafka 4
/// supports on a group (READ 3, DELETE 6, DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11:
/// groups have configs since KIP-848), as a bit field. Measured against Kafka 4.4: 3400.
pub(crate) const GROUP_AUTHORIZED_OPERATIONS: i32 = 1 << 3 | 1 << 6 | 1 << 8 | 1 << 10 | 1 << 11;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

impl GroupCoordinator {
    /// `error` for a partition's commit, or OFFSET_METADATA_TOO_LARGE when there is none and
    /// `metadata` is too long. Kafka counts a Java string's length: UTF-16 code units. Whatever
    /// the limit is set to, the record's string holds at most i16::MAX bytes: longer metadata
    /// is refused, never cut.
    pub(crate) fn offset_metadata_error(
        &self,
        metadata: &str,
        error: Option<ResponseError>,
    ) -> Option<ResponseError> {
        let too_large = metadata.encode_utf16().count() > self.config.offset_metadata_max_bytes
            || metadata.len() > i16::MAX as usize;
        match error {
            None if too_large => Some(ResponseError::OffsetMetadataTooLarge),
            other => other,
        }
    }

    /// Checks who may commit to `group_id`: members of the current generation of a Stable group,
    /// or an admin client (generation -1, no member id) on an empty or unknown group.
    pub(crate) fn commit_allowed(
        &self,
        group_id: &str,
        member_id: &str,
        generation: i32,
        version: i16,
    ) -> Option<ResponseError> {
        if let Some(group) = self.consumer.groups.get(group_id) {
            return self
                .consumer
                .validate_offset_commit(group, member_id, generation, version >= 9)
                .err()
                .map(|e| e.code);
        }
        let Some(group) = self.groups.get(group_id) else {
            // As Kafka 4: a member's commit (v9+, which KIP-848 members use) to a group that
            // does not exist names the group as the problem.
            if generation >= 0 && version >= 9 {
                return Some(ResponseError::GroupIdNotFound);
            }
            // An admin commit to an unknown group creates it, empty, once the commit is written.
            if generation < 0 && member_id.is_empty() {
                return None;
            }
            return Some(ResponseError::IllegalGeneration);
        };
        if generation < 0 && member_id.is_empty() {
            return match group.state {
                GroupState::Empty => None,
                GroupState::Dead => Some(ResponseError::CoordinatorNotAvailable),
                _ => Some(ResponseError::UnknownMemberId),
            };
        }
        if !group.members.contains_key(member_id) {
            return Some(ResponseError::UnknownMemberId);
        }
        if generation != group.generation {
            return Some(ResponseError::IllegalGeneration);
        }
        match group.state {
            // As Kafka: members of the current generation may still commit while the group
            // prepares the next one, which lets them commit before revoking partitions.
            GroupState::Stable | GroupState::PreparingRebalance => None,
            GroupState::CompletingRebalance => Some(ResponseError::RebalanceInProgress),
            GroupState::Empty | GroupState::Dead => Some(ResponseError::UnknownMemberId),
        }
    }

    /// Applies records that were written: offsets set or deleted, groups forgotten. An offset
    /// or metadata for a group the coordinator does not know yet creates the group, empty (an
    /// admin commit, or a record replayed at start).
    pub fn apply(&mut self, changes: Changes) {
        if !changes
            .iter()
            .all(|r| matches!(r, CoordinatorRecord::Offset(..)))
        {
            self.forget_classic_deadline();
        }
        // The consumer groups these records touch, as they were: their events are the
        // difference. Heartbeats that change nothing write no records, so this is rare.
        let mut touched: BTreeMap<String, Option<ConsumerView>> = BTreeMap::new();
        let mut commits: Option<(&str, u64)> = None;
        for record in &changes {
            match record {
                CoordinatorRecord::Consumer(r) if !touched.contains_key(r.group_id()) => {
                    let view = ConsumerView::of(self.consumer.groups.get(r.group_id()));
                    touched.insert(r.group_id().to_string(), view);
                }
                CoordinatorRecord::Offset(key, Some(_)) => match &mut commits {
                    Some((g, n)) if *g == key.0 => *n += 1,
                    Some((g, n)) => {
                        self.events.count_commits(g, *n);
                        commits = Some((&key.0, 1));
                    }
                    None => commits = Some((&key.0, 1)),
                },
                _ => {}
            }
        }
        if let Some((g, n)) = commits {
            self.events.count_commits(g, n);
        }
        let changes_touched = !touched.is_empty();
        // Conversions: a classic group tombstoned in the same batch as consumer records was
        // upgraded; a classic group's metadata for a consumer group was a downgrade.
        let mut upgraded = Vec::new();
        let mut downgraded = Vec::new();
        for record in &changes {
            match record {
                CoordinatorRecord::Group(id, None) if touched.contains_key(id) => {
                    upgraded.push(id.clone());
                }
                CoordinatorRecord::Group(id, Some(meta))
                    if touched.contains_key(id) && !self.groups.contains_key(id) =>
                {
                    downgraded.push((id.clone(), meta.clone()));
                }
                _ => {}
            }
        }
        self.apply_records(changes);
        let now = self.clock;
        for id in upgraded {
            self.after_upgrade(now, &id);
        }
        for (id, meta) in downgraded {
            // A fresh group: no request is parked on it, so there is nobody to answer.
            let _ = self.start_downgraded_group(now, &id, &meta);
        }
        if changes_touched {
            let topics = self.config.topics.image();
            for (group_id, before) in touched {
                let group = self.consumer.groups.get(&group_id);
                let after = ConsumerView::of(group);
                let consumer = &self.consumer;
                let assignor = || {
                    group.map_or_else(String::new, |g| {
                        consumer.group_assignor(g).name().to_string()
                    })
                };
                consumer_events(
                    &group_id,
                    before.as_ref(),
                    after.as_ref(),
                    &|_| None,
                    &assignor,
                    &topics,
                    &mut self.events,
                );
            }
        }
    }

    /// Applies records to the state, in order, with no events (replay at start uses this: the
    /// log's history is not news).
    pub(crate) fn apply_records(&mut self, changes: Changes) {
        for record in changes {
            match record {
                CoordinatorRecord::Consumer(record) => {
                    if let Some(classic) = self.groups.get(record.group_id()) {
                        // An empty classic group (offsets only) becomes a consumer group.
                        if classic.members.is_empty() {
                            let id = record.group_id().to_string();
                            self.groups.remove(&id);
                        }
                    }
                    self.consumer.replay(record);
                }
                CoordinatorRecord::Offset(key, value) => {
                    if value.is_some()
                        && !self.groups.contains_key(&key.0)
                        && !self.consumer.groups.contains_key(&key.0)
                    {
                        self.groups.insert(key.0.clone(), ClassicGroup::new(&key.0));
                    }
                    self.offsets.apply(key, value);
                }
                CoordinatorRecord::Group(id, Some(_)) => {
                    self.groups
                        .entry(id.clone())
                        .or_insert_with(|| ClassicGroup::new(&id));
                }
                CoordinatorRecord::Group(id, None) => {
                    self.groups.remove(&id);
                }
                CoordinatorRecord::TxnOffset {
                    producer_id,
                    key,
                    value,
                    ..
                } => self.pending_txn_offsets.add(producer_id, key, value),
            }
        }
    }

    /// OffsetCommit: the response, and the records to persist before sending it.
    pub fn commit_offsets(
        &self,
        now: i64,
        version: i16,
        req: &OffsetCommitRequest,
    ) -> (OffsetCommitResponse, Changes) {
        let group_id = req.group_id.as_str();
        // Before v1 there is no generation: such commits come from simple consumers.
        let generation = if version >= 1 {
            req.generation_id_or_member_epoch
        } else {
            -1
        };
        let error = if group_id.is_empty() {
            Some(ResponseError::InvalidGroupId)
        } else {
            self.commit_allowed(group_id, req.member_id.as_str(), generation, version)
        };
        let mut records = Vec::new();
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let metadata = p.committed_metadata.as_deref().unwrap_or("");
                        let error = self.offset_metadata_error(metadata, error);
                        if error.is_none() {
                            let value = CommittedOffset {
                                offset: p.committed_offset,
                                leader_epoch: p.committed_leader_epoch,
                                metadata: metadata.to_string(),
                                commit_time_ms: now,
                            };
                            records.push(CoordinatorRecord::Offset(
                                (group_id.to_string(), t.name.to_string(), p.partition_index),
                                Some(value),
                            ));
                        }
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(error.map_or(0, |e| e.code()))
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.topic_id)
                    .with_partitions(partitions)
            })
            .collect();
        (OffsetCommitResponse::default().with_topics(topics), records)
    }

    /// Committed offsets of a group: for the listed partitions (-1 where none), or all.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<Vec<(StrBytes, Vec<i32>)>>,
    ) -> Vec<(StrBytes, Vec<OffsetFetchResponsePartitions>)> {
        let entry = |partition: i32, found: Option<&CommittedOffset>| {
            let base = OffsetFetchResponsePartitions::default().with_partition_index(partition);
            match found {
                Some(c) => base
                    .with_committed_offset(c.offset)
                    .with_committed_leader_epoch(c.leader_epoch)
                    .with_metadata(Some(s(c.metadata.clone()))),
                None => base
                    .with_committed_offset(-1)
                    .with_committed_leader_epoch(-1)
                    .with_metadata(Some(s(""))),
            }
        };
        match topics {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, partitions)| {
                    let parts = partitions
                        .iter()
                        .map(|p| entry(*p, self.offsets.get(group_id, topic.as_str(), *p)))
                        .collect();
                    (topic, parts)
                })
                .collect(),
            None => {
                let mut by_topic: std::collections::BTreeMap<
                    String,
                    Vec<OffsetFetchResponsePartitions>,
                > = Default::default();
                for (topic, partition, c) in self.offsets.of_group(group_id) {
                    by_topic
                        .entry(topic.to_string())
                        .or_default()
                        .push(entry(partition, Some(c)));
                }
                by_topic.into_iter().map(|(t, p)| (s(t), p)).collect()
            }
        }
    }

    /// ListGroups, with the state filter (v4) and type filter (v5).
    pub fn list_groups(&self, req: &ListGroupsRequest) -> ListGroupsResponse {
        let groups = self
            .groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .filter(|g| {
                req.states_filter.is_empty()
                    || req
                        .states_filter
                        .iter()
                        .any(|f| f.as_str().eq_ignore_ascii_case(g.state.as_str()))
            })
            .filter(|_| {
                req.types_filter.is_empty()
                    || req
                        .types_filter
                        .iter()
                        .any(|f| f.as_str().eq_ignore_ascii_case("classic"))
            })
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(s(g.id.clone())))
                    .with_protocol_type(s(g.protocol_type.clone().unwrap_or_default()))
                    .with_group_state(s(g.state.as_str()))
                    .with_group_type(s("classic"))
            });
        let consumer = self
            .consumer
            .groups
            .values()
            .filter(|g| {
                req.states_filter.is_empty()
                    || req
                        .states_filter
                        .iter()
                        .any(|f| f.as_str().eq_ignore_ascii_case(g.state().as_str()))
            })
            .filter(|_| {
                req.types_filter.is_empty()
                    || req
                        .types_filter
                        .iter()
                        .any(|f| f.as_str().eq_ignore_ascii_case("consumer"))
            })
            .map(|g| {
                ListedGroup::default()
                    .with_group_id(GroupId(s(g.id.clone())))
                    .with_protocol_type(s("consumer"))
                    .with_group_state(s(g.state().as_str()))
                    .with_group_type(s("consumer"))
            });
        let mut groups: Vec<ListedGroup> = groups.chain(consumer).collect();
        groups.sort_by(|a, b| a.group_id.as_str().cmp(b.group_id.as_str()));
        ListGroupsResponse::default().with_groups(groups)
    }

    /// DescribeGroups: members with their raw metadata and assignment; unknown groups are Dead.
    /// With `include_authorized_operations` (v3+) every group answered without an error carries
    /// the operations allowed on it: all of them, since Gregor has no authorizer.
    pub fn describe_groups(
        &self,
        ids: &[GroupId],
        version: i16,
        include_authorized_operations: bool,
    ) -> DescribeGroupsResponse {
        let mut response = self.describe_groups_unauthorized(ids, version);
        if version >= 3 && include_authorized_operations {
            for group in &mut response.groups {
                if group.error_code == 0 {
                    group.authorized_operations = GROUP_AUTHORIZED_OPERATIONS;
                }
            }
        }
        response
    }

    fn describe_groups_unauthorized(
        &self,
        ids: &[GroupId],
        version: i16,
    ) -> DescribeGroupsResponse {
        let groups = ids
            .iter()
            .map(|id| {
                let base = DescribedGroup::default().with_group_id(id.clone());
                if self.consumer.groups.contains_key(id.as_str()) {
                    // As Kafka 4's DescribeGroups: a consumer group is not a classic group
                    // (tools describe it with ConsumerGroupDescribe).
                    let dead = base.with_group_state(s("Dead"));
                    return if version >= 6 {
                        dead.with_error_code(ResponseError::GroupIdNotFound.code())
                            .with_error_message(Some(s(format!(
                                "Group {} is not a classic group.",
                                id.as_str()
                            ))))
                    } else {
                        dead
                    };
                }
                let Some(g) = self.groups.get(id.as_str()) else {
                    let dead = base.with_group_state(s("Dead"));
                    // From v6 an unknown group is an error; before, a Dead group.
                    return if version >= 6 {
                        dead.with_error_code(ResponseError::GroupIdNotFound.code())
                    } else {
                        dead
                    };
                };
                let protocol = g.protocol.clone().unwrap_or_default();
                let members = g
                    .members
                    .values()
                    .map(|m| {
                        DescribedGroupMember::default()
                            .with_member_id(s(m.id.clone()))
                            .with_group_instance_id(m.instance_id.clone().map(s))
                            .with_client_id(s(m.client_id.clone()))
                            .with_client_host(s(m.client_host.clone()))
                            .with_member_metadata(m.metadata(&protocol))
                            .with_member_assignment(if g.state == GroupState::Stable {
                                m.assignment.clone()
                            } else {
                                Default::default()
                            })
                    })
                    .collect();
                base.with_group_state(s(g.state.as_str()))
                    .with_protocol_type(s(g.protocol_type.clone().unwrap_or_default()))
                    .with_protocol_data(s(
                        if g.state == GroupState::Stable
                            || g.state == GroupState::CompletingRebalance
                        {
                            protocol
                        } else {
                            String::new()
                        },
                    ))
                    .with_members(members)
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }

    /// DeleteGroups: only groups without members; their offsets go too.
    pub fn delete_groups(&self, ids: &[GroupId]) -> (DeleteGroupsResponse, Changes) {
        let mut changes = Changes::new();
        let results = ids
            .iter()
            .map(|id| {
                let name = id.as_str();
                let already = changes
                    .iter()
                    .any(|r| matches!(r, CoordinatorRecord::Group(g, None) if g == name));
                let consumer = self.consumer.groups.get(name);
                let code = match self.groups.get(name) {
                    _ if already => Some(ResponseError::GroupIdNotFound),
                    _ if consumer.is_some_and(|g| !g.members.is_empty()) => {
                        Some(ResponseError::NonEmptyGroup)
                    }
                    _ if consumer.is_some() => {
                        for key in self.offsets.keys_of_group(name) {
                            changes.push(CoordinatorRecord::Offset(key, None));
                        }
                        changes.extend(
                            self.consumer
                                .delete_group_records(name)
                                .into_iter()
                                .map(CoordinatorRecord::Consumer),
                        );
                        // Marks the id as deleted for a repeat in the same request.
                        changes.push(CoordinatorRecord::Group(name.to_string(), None));
                        None
                    }
                    None if !self.offsets.has_group(name) => Some(ResponseError::GroupIdNotFound),
                    Some(g) if !g.members.is_empty() => Some(ResponseError::NonEmptyGroup),
                    _ => {
                        // Kafka's order: the offsets' tombstones, then the group's.
                        for key in self.offsets.keys_of_group(name) {
                            changes.push(CoordinatorRecord::Offset(key, None));
                        }
                        changes.push(CoordinatorRecord::Group(name.to_string(), None));
                        None
                    }
                };
                DeletableGroupResult::default()
                    .with_group_id(id.clone())
                    .with_error_code(code.map_or(0, |e| e.code()))
            })
            .collect();
        (
            DeleteGroupsResponse::default().with_results(results),
            changes,
        )
    }

    /// OffsetDelete: allowed while the group has no members (we do not parse subscriptions, so
    /// a group with members counts as subscribed to every topic).
    pub fn delete_offsets(&self, req: &OffsetDeleteRequest) -> (OffsetDeleteResponse, Changes) {
        let group_id = req.group_id.as_str();
        let group = self.groups.get(group_id);
        let consumer = self.consumer.groups.get(group_id);
        if group.is_none() && consumer.is_none() && !self.offsets.has_group(group_id) {
            return (
                OffsetDeleteResponse::default()
                    .with_error_code(ResponseError::GroupIdNotFound.code()),
                Changes::new(),
            );
        }
        let busy = group.is_some_and(|g| !g.members.is_empty());
        let mut records = Vec::new();
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let base = OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index);
                        let subscribed = consumer
                            .is_some_and(|g| self.consumer.is_subscribed_to(g, t.name.as_str()));
                        if busy || subscribed {
                            return base
                                .with_error_code(ResponseError::GroupSubscribedToTopic.code());
                        }
                        let key = (group_id.to_string(), t.name.to_string(), p.partition_index);
                        records.push(CoordinatorRecord::Offset(key, None));
                        base
                    })
                    .collect();
                OffsetDeleteResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        (OffsetDeleteResponse::default().with_topics(topics), records)
    }
}
