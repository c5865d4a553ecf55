//! ConsumerGroupHeartbeat, leaving, and the session and rebalance timeouts of KIP-848 consumer
//! groups; the consumer-group half of Kafka's GroupMetadataManager.
//!
//! A heartbeat changes nothing here: it is computed on a copy of its group, each record replayed
//! on the copy as it is made so the next step sees it, and the records come back with the
//! answer. The runtime writes them and only then `replay`s them for real, so a failed write
//! leaves the group as it was. Timers (not durable, as in Kafka) are set at once. Expiries found
//! by `tick` fence members at once and hand their records to the background writer.

use std::collections::{BTreeMap, BTreeSet};

use gregor_protocol::ResponseError;

use super::assignors::{Assignor, MemberSpec};
use super::consumer_group::{ConsumerGroup, ConsumerMember};
use super::current_assignment::{self, CurrentAssignment, MemberState};
use super::migration::MigrationPolicy;
use super::records::{ClassicMemberMetadata, ConsumerRecord, MemberMetadata, TopicMetadata};
use super::subscription_regex::SubscriptionRegex;
use super::topics::TopicImage;
use super::Assignment;
use crate::error::KafkaError;

/// The epoch a member sends to leave.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;
/// The epoch a static member sends to leave for now, keeping its partitions for its return.
pub const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;

/// Consumer group settings, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct ConsumerGroupConfig {
    /// `group.consumer.session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`.
    pub max_size: usize,
    /// `group.consumer.assignors`: the first is the default.
    pub assignors: Vec<Assignor>,
    /// `group.consumer.migration.policy`: which way a group with members may change protocol.
    pub migration_policy: MigrationPolicy,
    /// `authorizer.class.name` is set: a member's regex resolves only to topics it may
    /// describe, so until a member has heartbeated since start its regex keeps to its target.
    pub regex_needs_describe: bool,
}

impl Default for ConsumerGroupConfig {
    fn default() -> Self {
        ConsumerGroupConfig {
            session_timeout_ms: 45_000,
            heartbeat_interval_ms: 5_000,
            max_size: i32::MAX as usize,
            assignors: vec![Assignor::Uniform, Assignor::Range],
            migration_policy: MigrationPolicy::Bidirectional,
            regex_needs_describe: false,
        }
    }
}

/// The group's own values of the group configs the coordinator reads (KIP-848's
/// `kafka-configs --entity-type groups`); None falls back to the broker's `group.consumer.*`.
/// They come with each heartbeat, as Kafka's `GroupConfigManager` is read at each heartbeat.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupConfigOverrides {
    /// `consumer.session.timeout.ms`.
    pub session_timeout_ms: Option<i32>,
    /// `consumer.heartbeat.interval.ms`.
    pub heartbeat_interval_ms: Option<i32>,
}

/// A ConsumerGroupHeartbeat, as the state machine takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// Group id.
    pub group_id: String,
    /// Member id (empty on a v0 join: the coordinator makes one).
    pub member_id: String,
    /// 0 to join, -1 to leave, -2 for a static member leaving for now, else the current epoch.
    pub member_epoch: i32,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// `client.rack`.
    pub rack_id: Option<String>,
    /// -1 when unchanged.
    pub rebalance_timeout_ms: i32,
    /// None when unchanged.
    pub subscribed_topic_names: Option<Vec<String>>,
    /// None when unchanged.
    pub subscribed_topic_regex: Option<String>,
    /// None when unchanged.
    pub server_assignor: Option<String>,
    /// What the member owns; None when not reported.
    pub owned: Option<Assignment>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Whether the member must bring its own member id (ConsumerGroupHeartbeat v1, KIP-1082).
    pub member_id_required: bool,
    /// The group's config values, where set for the group.
    pub group_config: GroupConfigOverrides,
    /// A classic member's JoinGroup, as a heartbeat: what it joined with (its session timeout
    /// replaces the group's). None for a ConsumerGroupHeartbeat.
    pub classic: Option<ClassicMemberMetadata>,
    /// With an authorizer, the topics matching the member's regex that its principal may
    /// DESCRIBE now (Kafka's filterTopicDescribeAuthorizedTopics); None: no filtering.
    pub describable_topics: Option<BTreeSet<String>>,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatResponse {
    /// The member's id.
    pub member_id: String,
    /// The epoch to send next.
    pub member_epoch: i32,
    /// When to heartbeat next.
    pub heartbeat_interval_ms: i32,
    /// The partitions the member should own, when they changed or the request was a full one.
    pub assignment: Option<Assignment>,
}

/// The consumer groups and their timers.
#[derive(Debug, Default)]
pub struct ConsumerGroupManager {
    /// Settings.
    pub config: ConsumerGroupConfig,
    /// Groups by id.
    pub groups: BTreeMap<String, ConsumerGroup>,
    /// Session deadline of each (group, member): no heartbeat by then fences the member.
    sessions: BTreeMap<(String, String), i64>,
    /// Rebalance deadline of each member that must revoke partitions, with the epoch it must
    /// revoke them at.
    rebalances: BTreeMap<(String, String), (i64, i32)>,
    /// Records of fencings done by `tick`, applied already, for the background writer.
    background: Vec<ConsumerRecord>,
    /// (group, member, which timeout) of each fencing done by `tick`, for the live view's
    /// events; the coordinator takes them after each tick.
    pub expired: Vec<(String, String, &'static str)>,
    /// What each regex member's last heartbeat said it may describe: in memory only (Kafka's
    /// records have no place for it), so it is empty after a start until members heartbeat.
    describable: BTreeMap<(String, String), BTreeSet<String>>,
}

/// The topics each member's regex may resolve to, by member id; a member not in it is not
/// filtered.
pub(super) type RegexFilter = BTreeMap<String, BTreeSet<String>>;

fn invalid(message: impl Into<String>) -> KafkaError {
    KafkaError::with_message(ResponseError::InvalidRequest, message)
}

fn err(code: ResponseError, message: impl Into<String>) -> KafkaError {
    KafkaError::with_message(code, message)
}

/// A group being changed: records are replayed on the copy as they are made.
struct Change {
    group: ConsumerGroup,
    records: Vec<ConsumerRecord>,
}

impl Change {
    fn emit(&mut self, record: ConsumerRecord) {
        self.group.replay(record.clone());
        self.records.push(record);
    }
}

/// Whether every partition in `owned` is in `assigned` (None: not reported, so no).
fn is_subset(owned: Option<&Assignment>, assigned: &Assignment) -> bool {
    let Some(owned) = owned else { return false };
    owned
        .iter()
        .all(|(topic, ps)| ps.is_empty() || assigned.get(topic).is_some_and(|a| ps.is_subset(a)))
}

fn check_member_epoch(
    member: &ConsumerMember,
    received: i32,
    owned: Option<&Assignment>,
) -> Result<(), KafkaError> {
    let epoch = member.current.member_epoch;
    if received > epoch {
        return Err(err(ResponseError::FencedMemberEpoch, format!("The consumer group member has a greater member epoch ({received}) than the one known by the group coordinator ({epoch}). The member must abandon all its partitions and rejoin.")));
    }
    if received < epoch
        && (received != member.current.previous_member_epoch
            || !is_subset(owned, &member.current.assigned))
    {
        return Err(err(ResponseError::FencedMemberEpoch, format!("The consumer group member has a smaller member epoch ({received}) than the one known by the group coordinator ({epoch}). The member must abandon all its partitions and rejoin.")));
    }
    Ok(())
}

/// The topics `group`'s members subscribe to (by name, or by a regex matching a topic that
/// exists and that `filter` lets the member have), with their metadata; topics that do not
/// exist are left out.
pub(super) fn subscription_metadata(
    group: &ConsumerGroup,
    topics: &TopicImage,
    filter: &RegexFilter,
) -> BTreeMap<String, TopicMetadata> {
    let mut names: BTreeSet<String> = group
        .subscribed_topic_names()
        .into_iter()
        .map(str::to_string)
        .collect();
    let regexes: BTreeSet<&str> = group
        .members
        .values()
        .filter_map(|m| m.metadata.subscribed_topic_regex.as_deref())
        .filter(|r| !r.is_empty())
        .collect();
    for pattern in regexes {
        let Ok(regex) = SubscriptionRegex::compile(pattern) else {
            continue;
        };
        let matched: BTreeSet<&str> = topics.names().filter(|t| regex.matches(t)).collect();
        // Each member's own authorization picks what of the matches it brings in.
        for m in group.members.values() {
            if m.metadata.subscribed_topic_regex.as_deref() != Some(pattern) {
                continue;
            }
            let allowed = filter.get(&m.member_id);
            names.extend(
                matched
                    .iter()
                    .filter(|t| allowed.is_none_or(|a| a.contains(**t)))
                    .map(|t| t.to_string()),
            );
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            topics.get(&name).map(|t| {
                (
                    name,
                    TopicMetadata {
                        id: t.id,
                        name: t.name.clone(),
                        partitions: t.partitions,
                    },
                )
            })
        })
        .collect()
}

/// The topic ids `metadata` subscribes to among the group's subscribed topics; its regex
/// matches only those in `allowed`, when given.
fn member_topics(
    metadata: &MemberMetadata,
    subscribed: &BTreeMap<String, TopicMetadata>,
    allowed: Option<&BTreeSet<String>>,
) -> BTreeSet<uuid::Uuid> {
    let regex = metadata
        .subscribed_topic_regex
        .as_deref()
        .filter(|r| !r.is_empty())
        .and_then(|r| SubscriptionRegex::compile(r).ok());
    subscribed
        .values()
        .filter(|t| {
            metadata.subscribed_topic_names.contains(&t.name)
                || (regex.as_ref().is_some_and(|r| r.matches(&t.name))
                    && allowed.is_none_or(|a| a.contains(&t.name)))
        })
        .map(|t| t.id)
        .collect()
}

impl ConsumerGroupManager {
    /// A manager with `config` and no groups.
    pub fn new(config: ConsumerGroupConfig) -> ConsumerGroupManager {
        ConsumerGroupManager {
            config,
            ..ConsumerGroupManager::default()
        }
    }

    fn assignor_names(&self) -> String {
        self.config
            .assignors
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The request's checks, as Kafka makes them before looking at the group.
    fn validate(&self, req: &HeartbeatRequest) -> Result<(), KafkaError> {
        if req.group_id.is_empty() {
            return Err(invalid("GroupId can't be empty."));
        }
        if req.instance_id.as_deref() == Some("") {
            return Err(invalid("InstanceId can't be empty."));
        }
        if req.rack_id.as_deref() == Some("") {
            return Err(invalid("RackId can't be empty."));
        }
        if req.member_id_required && req.member_id.is_empty() {
            return Err(invalid("MemberId can't be empty."));
        }
        match req.member_epoch {
            e if e > 0 || e == LEAVE_GROUP_MEMBER_EPOCH => {
                if req.member_id.is_empty() {
                    return Err(invalid("MemberId can't be empty."));
                }
            }
            0 => {
                if req.rebalance_timeout_ms == -1 {
                    return Err(invalid(
                        "RebalanceTimeoutMs must be provided in first request.",
                    ));
                }
                if req.owned.as_ref().is_none_or(|o| !o.is_empty()) {
                    return Err(invalid("TopicPartitions must be empty when (re-)joining."));
                }
                if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
                    return Err(invalid(
                        "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                    ));
                }
            }
            LEAVE_GROUP_STATIC_MEMBER_EPOCH => {
                if req.member_id.is_empty() {
                    return Err(invalid("MemberId can't be empty."));
                }
                if req.instance_id.is_none() {
                    return Err(invalid("InstanceId can't be null."));
                }
            }
            _ => return Err(invalid("MemberEpoch is invalid.")),
        }
        if let Some(pattern) = req
            .subscribed_topic_regex
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            if let Err(cause) = SubscriptionRegex::compile(pattern) {
                return Err(err(
                    ResponseError::InvalidRegularExpression,
                    format!("SubscribedTopicRegex `{pattern}` is not a valid regular expression: {cause}."),
                ));
            }
        }
        if let Some(name) = &req.server_assignor {
            if !self.config.assignors.iter().any(|a| a.name() == name) {
                return Err(err(
                    ResponseError::UnsupportedAssignor,
                    format!(
                        "ServerAssignor {name} is not supported. Supported assignors: {}.",
                        self.assignor_names()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// ConsumerGroupHeartbeat at `now` against `topics`: the answer and the records it stands
    /// for, or the error to answer. `new_member_id` is used when a v0 member joins without one.
    pub fn heartbeat(
        &mut self,
        now: i64,
        req: &HeartbeatRequest,
        topics: &TopicImage,
        new_member_id: impl FnOnce() -> String,
    ) -> Result<(HeartbeatResponse, Vec<ConsumerRecord>), KafkaError> {
        self.heartbeat_from(now, req, topics, None, new_member_id)
    }

    /// `heartbeat`, against `base` instead of the group as it is when given: a classic group
    /// converted for this heartbeat, whose records are not written yet.
    pub fn heartbeat_from(
        &mut self,
        now: i64,
        req: &HeartbeatRequest,
        topics: &TopicImage,
        base: Option<ConsumerGroup>,
        new_member_id: impl FnOnce() -> String,
    ) -> Result<(HeartbeatResponse, Vec<ConsumerRecord>), KafkaError> {
        self.validate(req)?;
        if req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH
            || req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH
        {
            return self.leave(req, topics);
        }
        let group_id = req.group_id.as_str();
        let joining = req.member_epoch == 0;
        let group = match base.or_else(|| self.groups.get(group_id).cloned()) {
            Some(g) => g,
            None if joining => ConsumerGroup::new(group_id),
            None => {
                return Err(err(
                    ResponseError::GroupIdNotFound,
                    format!("Consumer group {group_id} not found."),
                ))
            }
        };
        if group.members.len() >= self.config.max_size
            && (req.member_id.is_empty() || !group.members.contains_key(&req.member_id))
        {
            return Err(err(
                ResponseError::GroupMaxSizeReached,
                format!(
                    "The consumer group has reached its maximum capacity of {} members.",
                    self.config.max_size
                ),
            ));
        }
        let member_id = if req.member_id.is_empty() {
            new_member_id()
        } else {
            req.member_id.clone()
        };
        let owned = req.owned.as_ref();
        let mut change = Change {
            group,
            records: Vec::new(),
        };
        // The member as it was (None: new), and the assignment state reconciliation starts from.
        let (before, start): (Option<ConsumerMember>, CurrentAssignment) = match &req.instance_id {
            None => match change.group.members.get(&member_id) {
                // Rejoining with epoch 0: the client dropped its partitions, so they are free.
                Some(m) if joining => (Some(m.clone()), CurrentAssignment::default()),
                Some(m) => {
                    check_member_epoch(m, req.member_epoch, owned)?;
                    (Some(m.clone()), m.current.clone())
                }
                None if joining => (None, CurrentAssignment::default()),
                None => {
                    return Err(err(
                        ResponseError::UnknownMemberId,
                        format!("Member {member_id} is not a member of group {group_id}."),
                    ))
                }
            },
            Some(instance) => {
                let existing = change.group.static_member(instance).cloned();
                match existing {
                    None if joining => (None, CurrentAssignment::default()),
                    None => {
                        return Err(err(
                            ResponseError::UnknownMemberId,
                            format!("Instance id {instance} is unknown."),
                        ))
                    }
                    Some(old) if joining => {
                        if old.current.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH {
                            return Err(err(ResponseError::UnreleasedInstanceId, format!("Static member {member_id} with instance id {instance} cannot join the group because the instance id is owned by {} member.", old.member_id)));
                        }
                        // The returning instance takes over its predecessor's partitions.
                        let target = change.group.target.get(&old.member_id).cloned();
                        self.remove_member_records(&mut change, &old.member_id);
                        self.cancel_timers(group_id, &old.member_id);
                        let mut replacement = ConsumerMember {
                            member_id: member_id.clone(),
                            ..old.clone()
                        };
                        replacement.current.member_epoch = 0;
                        replacement.current.previous_member_epoch = 0;
                        change.emit(ConsumerRecord::Member(
                            group_id.to_string(),
                            member_id.clone(),
                            Some(replacement.metadata.clone()),
                        ));
                        change.emit(ConsumerRecord::TargetMember(
                            group_id.to_string(),
                            member_id.clone(),
                            Some(target.unwrap_or_default()),
                        ));
                        change.emit(ConsumerRecord::CurrentAssignment(
                            group_id.to_string(),
                            member_id.clone(),
                            Some(replacement.current.clone()),
                        ));
                        let start = replacement.current.clone();
                        (Some(replacement), start)
                    }
                    Some(old) => {
                        if old.member_id != member_id {
                            return Err(err(ResponseError::FencedInstanceId, format!("Static member {member_id} with instance id {instance} was fenced by member {}.", old.member_id)));
                        }
                        check_member_epoch(&old, req.member_epoch, owned)?;
                        let start = old.current.clone();
                        (Some(old), start)
                    }
                }
            }
        };

        // 1. The member's subscription; a change bumps the group epoch.
        let old_metadata = before
            .as_ref()
            .map(|m| m.metadata.clone())
            .unwrap_or_else(|| ConsumerMember::new(&member_id).metadata);
        let mut metadata = old_metadata.clone();
        if let Some(i) = &req.instance_id {
            metadata.instance_id = Some(i.clone());
        }
        if let Some(r) = &req.rack_id {
            metadata.rack_id = Some(r.clone());
        }
        if req.rebalance_timeout_ms != -1 {
            metadata.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(a) = &req.server_assignor {
            metadata.server_assignor = Some(a.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            metadata.subscribed_topic_names = names;
        }
        if let Some(regex) = &req.subscribed_topic_regex {
            metadata.subscribed_topic_regex = (!regex.is_empty()).then(|| regex.clone());
        }
        metadata.client_id = req.client_id.clone();
        metadata.client_host = req.client_host.clone();
        metadata.classic = req.classic.clone();
        let mut bump = metadata.subscribed_topic_names != old_metadata.subscribed_topic_names
            || metadata.subscribed_topic_regex != old_metadata.subscribed_topic_regex;
        // What the member may describe, as it had it and as it has it now: a change that
        // moves a topic in or out of its regex's resolution rebalances, as a subscription
        // change does.
        let mut filter = self.regex_filter(&change.group);
        let old_topics = before.as_ref().map(|m| {
            member_topics(
                &m.metadata,
                &change.group.subscription_metadata,
                filter.get(&member_id),
            )
        });
        let new_metadata = metadata.clone();
        if before.is_none() || metadata != old_metadata {
            change.emit(ConsumerRecord::Member(
                group_id.to_string(),
                member_id.clone(),
                Some(metadata),
            ));
        }
        match &req.describable_topics {
            Some(allowed) => filter.insert(member_id.clone(), allowed.clone()),
            None => filter.remove(&member_id),
        };
        let subscribed = subscription_metadata(&change.group, topics, &filter);
        let new_topics = member_topics(&new_metadata, &subscribed, filter.get(&member_id));
        if old_topics.is_some_and(|old| old != new_topics) {
            bump = true;
        }
        if subscribed != change.group.subscription_metadata {
            bump = true;
            change.emit(ConsumerRecord::PartitionMetadata(
                group_id.to_string(),
                Some(subscribed.values().cloned().collect()),
            ));
        }
        if bump || change.group.group_epoch == 0 {
            let epoch = change.group.group_epoch + 1;
            change.emit(ConsumerRecord::GroupEpoch(
                group_id.to_string(),
                Some(epoch),
            ));
        }

        // 2. A new target assignment when the group epoch moved past it.
        if change.group.group_epoch > change.group.assignment_epoch {
            self.update_target(&mut change, &filter);
        }
        let target_epoch = change.group.assignment_epoch;
        let target = change
            .group
            .target
            .get(&member_id)
            .cloned()
            .unwrap_or_default();

        // 3. The member's step towards its target.
        let current = change
            .group
            .members
            .get(&member_id)
            .map(|m| m.current.clone())
            .unwrap_or_default();
        let next = if start.state == MemberState::Stable && start.member_epoch == target_epoch {
            start.clone()
        } else {
            let owners = change.group.partition_owners();
            current_assignment::reconcile(&start, target_epoch, &target, owned, |t, p| {
                owners.get(&(t, p)).is_some_and(|m| *m != member_id)
            })
            .map_err(|_| {
                err(
                    ResponseError::FencedMemberEpoch,
                    "The consumer group member is in a unknown state. The member must abandon all its partitions and rejoin.",
                )
            })?
        };
        let before_assigned = before.as_ref().map(|m| m.current.assigned.clone());
        if next != current || before.is_none() {
            change.emit(ConsumerRecord::CurrentAssignment(
                group_id.to_string(),
                member_id.clone(),
                Some(next.clone()),
            ));
        }
        let key = (group_id.to_string(), member_id.clone());
        if next.state == MemberState::UnrevokedPartitions {
            let timeout = change
                .group
                .members
                .get(&member_id)
                .map_or(0, |m| i64::from(m.metadata.rebalance_timeout_ms.max(0)));
            self.rebalances
                .entry(key.clone())
                .and_modify(|(deadline, epoch)| {
                    if *epoch != next.member_epoch {
                        *deadline = now + timeout;
                        *epoch = next.member_epoch;
                    }
                })
                .or_insert((now + timeout, next.member_epoch));
        } else {
            self.rebalances.remove(&key);
        }
        let session_timeout_ms = match &req.classic {
            Some(c) => c.session_timeout_ms,
            None => req
                .group_config
                .session_timeout_ms
                .unwrap_or(self.config.session_timeout_ms),
        };
        match &req.describable_topics {
            Some(allowed) => self.describable.insert(key.clone(), allowed.clone()),
            None => self.describable.remove(&key),
        };
        self.sessions
            .insert(key, now + i64::from(session_timeout_ms));

        let full = joining
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.owned.is_some());
        let assignment = (full || before_assigned.as_ref() != Some(&next.assigned))
            .then(|| next.assigned.clone());
        let heartbeat_interval_ms = heartbeat_interval(
            req.group_config
                .heartbeat_interval_ms
                .unwrap_or(self.config.heartbeat_interval_ms),
            assignment.is_some() || next.state != MemberState::Stable,
            change.group.members.values().any(|m| {
                m.current.state != MemberState::Stable
                    || m.current.member_epoch != change.group.assignment_epoch
            }),
        );
        Ok((
            HeartbeatResponse {
                member_id,
                member_epoch: next.member_epoch,
                heartbeat_interval_ms,
                assignment,
            },
            change.records,
        ))
    }

    /// The assignor the group uses: the one most of its members ask for, else the default.
    pub fn group_assignor(&self, group: &ConsumerGroup) -> Assignor {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for m in group.members.values() {
            if let Some(a) = &m.metadata.server_assignor {
                *counts.entry(a.as_str()).or_default() += 1;
            }
        }
        counts
            .into_iter()
            .max_by_key(|(name, n)| (*n, std::cmp::Reverse(*name)))
            .and_then(|(name, _)| Assignor::from_name(name))
            .or_else(|| self.config.assignors.first().copied())
            .unwrap_or(Assignor::Uniform)
    }

    /// Kafka's TargetAssignmentBuilder: the assignor's answer at the group epoch, recorded for
    /// the members whose target changed.
    fn update_target(&self, change: &mut Change, filter: &RegexFilter) {
        let group = &change.group;
        let specs: BTreeMap<String, MemberSpec> = group
            .members
            .values()
            .map(|m| {
                let spec = MemberSpec {
                    topics: member_topics(
                        &m.metadata,
                        &group.subscription_metadata,
                        filter.get(&m.member_id),
                    ),
                    current: group.target.get(&m.member_id).cloned().unwrap_or_default(),
                };
                (m.member_id.clone(), spec)
            })
            .collect();
        let partitions = group
            .subscription_metadata
            .values()
            .map(|t| (t.id, t.partitions))
            .collect();
        let assignor = self.group_assignor(group);
        let result = assignor.assign(&specs, &partitions);
        let id = group.id.clone();
        let epoch = group.group_epoch;
        let changed: Vec<(String, Assignment)> = result
            .into_iter()
            .filter(|(m, a)| group.target.get(m) != Some(a))
            .collect();
        for (m, a) in changed {
            change.emit(ConsumerRecord::TargetMember(id.clone(), m, Some(a)));
        }
        change.emit(ConsumerRecord::TargetEpoch(id, Some(epoch)));
    }

    /// The records that take `member_id` out (Kafka's removeMember order).
    fn remove_member_records(&self, change: &mut Change, member_id: &str) {
        let g = change.group.id.clone();
        change.emit(ConsumerRecord::CurrentAssignment(
            g.clone(),
            member_id.to_string(),
            None,
        ));
        change.emit(ConsumerRecord::TargetMember(
            g.clone(),
            member_id.to_string(),
            None,
        ));
        change.emit(ConsumerRecord::Member(g, member_id.to_string(), None));
    }

    /// Fences `member_id`: it goes, the subscribed topics are recomputed without it, and the
    /// group epoch is bumped so the others get a new target.
    fn fence_records(
        &self,
        group: &ConsumerGroup,
        member_id: &str,
        topics: &TopicImage,
    ) -> Vec<ConsumerRecord> {
        let mut change = Change {
            group: group.clone(),
            records: Vec::new(),
        };
        self.remove_member_records(&mut change, member_id);
        let filter = self.regex_filter(&change.group);
        let subscribed = subscription_metadata(&change.group, topics, &filter);
        if subscribed != change.group.subscription_metadata {
            change.emit(ConsumerRecord::PartitionMetadata(
                group.id.clone(),
                Some(subscribed.values().cloned().collect()),
            ));
        }
        let epoch = change.group.group_epoch + 1;
        change.emit(ConsumerRecord::GroupEpoch(group.id.clone(), Some(epoch)));
        change.records
    }

    fn cancel_timers(&mut self, group_id: &str, member_id: &str) {
        let key = (group_id.to_string(), member_id.to_string());
        self.sessions.remove(&key);
        self.rebalances.remove(&key);
        self.describable.remove(&key);
    }

    /// What each member of `group` may have its regex resolve to: what its last heartbeat
    /// said. With an authorizer, a regex member not heard from since start (the sets are in
    /// memory only) keeps to the topics of its target, so a restart gives no one a topic its
    /// principal was not allowed before; its next heartbeat brings its set.
    fn regex_filter(&self, group: &ConsumerGroup) -> RegexFilter {
        let mut filter = RegexFilter::new();
        for m in group.members.values() {
            let key = (group.id.clone(), m.member_id.clone());
            if let Some(allowed) = self.describable.get(&key) {
                filter.insert(m.member_id.clone(), allowed.clone());
            } else if self.config.regex_needs_describe
                && m.metadata.subscribed_topic_regex.is_some()
            {
                let target = group.target.get(&m.member_id);
                let names = group
                    .subscription_metadata
                    .values()
                    .filter(|t| target.is_some_and(|a| a.get(&t.id).is_some_and(|p| !p.is_empty())))
                    .map(|t| t.name.clone())
                    .collect();
                filter.insert(m.member_id.clone(), names);
            }
        }
        filter
    }

    /// A heartbeat with epoch -1 or -2.
    fn leave(
        &mut self,
        req: &HeartbeatRequest,
        topics: &TopicImage,
    ) -> Result<(HeartbeatResponse, Vec<ConsumerRecord>), KafkaError> {
        let group_id = req.group_id.as_str();
        let Some(group) = self.groups.get(group_id) else {
            return Err(err(
                ResponseError::GroupIdNotFound,
                format!("Consumer group {group_id} not found."),
            ));
        };
        let member = match &req.instance_id {
            None => group.members.get(&req.member_id).ok_or_else(|| {
                err(
                    ResponseError::UnknownMemberId,
                    format!(
                        "Member {} is not a member of group {group_id}.",
                        req.member_id
                    ),
                )
            })?,
            Some(instance) => {
                let m = group.static_member(instance).ok_or_else(|| {
                    err(
                        ResponseError::UnknownMemberId,
                        format!("Instance id {instance} is unknown."),
                    )
                })?;
                if m.member_id != req.member_id {
                    return Err(err(
                        ResponseError::FencedInstanceId,
                        format!(
                            "Static member {} with instance id {instance} was fenced by member {}.",
                            req.member_id, m.member_id
                        ),
                    ));
                }
                m
            }
        };
        let response = HeartbeatResponse {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        };
        if req.instance_id.is_some() && req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH {
            // Gone for now: it keeps its partitions (nobody else gets them) until its session
            // times out or the instance comes back.
            let current = CurrentAssignment {
                member_epoch: LEAVE_GROUP_STATIC_MEMBER_EPOCH,
                pending_revocation: Assignment::new(),
                ..member.current.clone()
            };
            let record = ConsumerRecord::CurrentAssignment(
                group_id.to_string(),
                member.member_id.clone(),
                Some(current),
            );
            self.rebalances
                .remove(&(group_id.to_string(), member.member_id.clone()));
            return Ok((response, vec![record]));
        }
        let member_id = member.member_id.clone();
        let records = self.fence_records(group, &member_id, topics);
        self.cancel_timers(group_id, &member_id);
        Ok((response, records))
    }

    /// Applies a record that was written (or read back at start).
    pub fn replay(&mut self, record: ConsumerRecord) {
        let group_id = record.group_id().to_string();
        let tombstone = matches!(
            record,
            ConsumerRecord::GroupEpoch(_, None)
                | ConsumerRecord::PartitionMetadata(_, None)
                | ConsumerRecord::Member(_, _, None)
                | ConsumerRecord::TargetEpoch(_, None)
                | ConsumerRecord::TargetMember(_, _, None)
                | ConsumerRecord::CurrentAssignment(_, _, None)
        );
        if let ConsumerRecord::GroupEpoch(_, None) = record {
            self.groups.remove(&group_id);
            self.sessions.retain(|(g, _), _| *g != group_id);
            self.rebalances.retain(|(g, _), _| *g != group_id);
            self.describable.retain(|(g, _), _| *g != group_id);
            return;
        }
        if let ConsumerRecord::Member(_, member, None) = &record {
            self.cancel_timers(&group_id, member);
        }
        if tombstone && !self.groups.contains_key(&group_id) {
            return;
        }
        self.groups
            .entry(group_id.clone())
            .or_insert_with(|| ConsumerGroup::new(&group_id))
            .replay(record);
    }

    /// After replay at start: every member gets a full session to come back in, and members
    /// that must revoke get their rebalance timeout again.
    pub fn on_loaded(&mut self, now: i64) {
        let session = i64::from(self.config.session_timeout_ms);
        for g in self.groups.values() {
            for m in g.members.values() {
                let key = (g.id.clone(), m.member_id.clone());
                let session = m
                    .metadata
                    .classic
                    .as_ref()
                    .map_or(session, |c| i64::from(c.session_timeout_ms));
                self.sessions.insert(key.clone(), now + session);
                if m.current.state == MemberState::UnrevokedPartitions {
                    let timeout = i64::from(m.metadata.rebalance_timeout_ms.max(0));
                    self.rebalances
                        .insert(key, (now + timeout, m.current.member_epoch));
                }
            }
        }
    }

    /// Fences the members whose session or rebalance timeout passed by `now`; their records
    /// are applied here and wait in `take_background_records`.
    pub fn tick(&mut self, now: i64, topics: &TopicImage) {
        let mut due: Vec<(String, String, &'static str)> = self
            .sessions
            .iter()
            .filter(|(_, d)| **d <= now)
            .map(|((g, m), _)| (g.clone(), m.clone(), "session timeout"))
            .collect();
        for ((g, m), (deadline, epoch)) in &self.rebalances {
            let still_revoking = self
                .groups
                .get(g)
                .and_then(|group| group.members.get(m))
                .is_some_and(|member| {
                    member.current.member_epoch == *epoch
                        && member.current.state == MemberState::UnrevokedPartitions
                });
            if *deadline <= now && still_revoking {
                due.push((g.clone(), m.clone(), "rebalance timeout"));
            }
        }
        self.rebalances.retain(|_, (d, _)| *d > now);
        for (g, m, why) in due {
            self.cancel_timers(&g, &m);
            let Some(group) = self.groups.get(&g) else {
                continue;
            };
            if !group.members.contains_key(&m) {
                continue;
            }
            tracing::info!(group = %g, member = %m, "fencing consumer group member: {why}");
            self.expired.push((g.clone(), m.clone(), why));
            let records = self.fence_records(group, &m, topics);
            for r in &records {
                self.replay(r.clone());
            }
            self.background.extend(records);
        }
    }

    /// Keeps `member_id` alive until `deadline` (a classic member's Heartbeat or SyncGroup).
    pub fn touch_session(&mut self, group_id: &str, member_id: &str, deadline: i64) {
        self.sessions
            .insert((group_id.to_string(), member_id.to_string()), deadline);
    }

    /// Fences `member_id` of `group_id` as a leave does: the records, not applied (a classic
    /// member's LeaveGroup).
    pub fn leave_records(
        &mut self,
        group_id: &str,
        member_id: &str,
        topics: &TopicImage,
    ) -> Vec<ConsumerRecord> {
        let Some(group) = self.groups.get(group_id) else {
            return Vec::new();
        };
        let records = self.fence_records(group, member_id, topics);
        self.cancel_timers(group_id, member_id);
        records
    }

    /// When `tick` next has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        let sessions = self.sessions.values().copied();
        let rebalances = self.rebalances.values().map(|(d, _)| *d);
        sessions.chain(rebalances).min()
    }

    /// Records of fencings done by `tick`, to write.
    pub fn take_background_records(&mut self) -> Vec<ConsumerRecord> {
        std::mem::take(&mut self.background)
    }

    /// The tombstones that delete `group_id` (Kafka's createGroupTombstoneRecords).
    pub fn delete_group_records(&self, group_id: &str) -> Vec<ConsumerRecord> {
        let Some(group) = self.groups.get(group_id) else {
            return Vec::new();
        };
        let g = group_id.to_string();
        let mut records = Vec::new();
        for m in group.members.keys() {
            records.push(ConsumerRecord::CurrentAssignment(
                g.clone(),
                m.clone(),
                None,
            ));
        }
        for m in group.target.keys() {
            records.push(ConsumerRecord::TargetMember(g.clone(), m.clone(), None));
        }
        records.push(ConsumerRecord::TargetEpoch(g.clone(), None));
        for m in group.members.keys() {
            records.push(ConsumerRecord::Member(g.clone(), m.clone(), None));
        }
        records.push(ConsumerRecord::PartitionMetadata(g.clone(), None));
        records.push(ConsumerRecord::GroupEpoch(g, None));
        records
    }

    /// Removes an empty group at once, its tombstones to the background writer (a classic
    /// JoinGroup takes over an empty consumer group, as in Kafka).
    pub fn remove_empty_group(&mut self, group_id: &str) {
        let records = self.delete_group_records(group_id);
        for r in &records {
            self.replay(r.clone());
        }
        self.background.extend(records);
    }

    /// Kafka's ConsumerGroup.validateOffsetCommit: who may commit to a consumer group.
    /// `modern_version`: the commit came as OffsetCommit v9 or later.
    pub fn validate_offset_commit(
        &self,
        group: &ConsumerGroup,
        member_id: &str,
        member_epoch: i32,
        modern_version: bool,
    ) -> Result<(), KafkaError> {
        if member_epoch < 0 && group.members.is_empty() {
            return Ok(());
        }
        let Some(member) = group.members.get(member_id) else {
            return Err(err(
                ResponseError::UnknownMemberId,
                format!("Member {member_id} is not a member of group {}.", group.id),
            ));
        };
        if member.metadata.classic.is_some() {
            // A classic member commits with its generation, which is its member epoch.
            if member_epoch != member.current.member_epoch {
                return Err(err(
                    ResponseError::IllegalGeneration,
                    format!(
                        "The received generation id {member_epoch} does not match the expected member epoch {}.",
                        member.current.member_epoch
                    ),
                ));
            }
            return Ok(());
        }
        if !modern_version {
            return Err(err(
                ResponseError::UnsupportedVersion,
                "OffsetCommit version 9 or above must be used by members using the modern group protocol",
            ));
        }
        if member_epoch != member.current.member_epoch {
            return Err(err(
                ResponseError::StaleMemberEpoch,
                format!(
                    "The received member epoch {member_epoch} does not match the expected member epoch {}.",
                    member.current.member_epoch
                ),
            ));
        }
        Ok(())
    }

    /// Kafka's ConsumerGroup.validateOffsetFetch.
    pub fn validate_offset_fetch(
        &self,
        group: &ConsumerGroup,
        member_id: Option<&str>,
        member_epoch: i32,
    ) -> Result<(), KafkaError> {
        let Some(member_id) = member_id else {
            if member_epoch < 0 {
                return Ok(());
            }
            return Err(err(
                ResponseError::UnknownMemberId,
                format!("Member null is not a member of group {}.", group.id),
            ));
        };
        let Some(member) = group.members.get(member_id) else {
            return Err(err(
                ResponseError::UnknownMemberId,
                format!("Member {member_id} is not a member of group {}.", group.id),
            ));
        };
        if member_epoch != member.current.member_epoch {
            return Err(err(
                ResponseError::StaleMemberEpoch,
                format!(
                    "The received member epoch {member_epoch} does not match the expected member epoch {}.",
                    member.current.member_epoch
                ),
            ));
        }
        Ok(())
    }

    /// Whether `topic` is among what `group` subscribes to (OffsetDelete refuses those).
    pub fn is_subscribed_to(&self, group: &ConsumerGroup, topic: &str) -> bool {
        group.subscription_metadata.contains_key(topic)
            || group.subscribed_topic_names().contains(topic)
    }
}

/// How long a member waits before its next heartbeat. While a partition is on its way from one
/// member to another (this member was just given a new assignment or has partitions to revoke
/// or to receive, or another member has not reached the target yet), members are asked a fifth
/// of the configured interval, so a move takes a few round trips rather than up to two whole
/// intervals; a stable group heartbeats at the configured interval. The interval is the
/// broker's to give in every response, and Kafka's clients (Java, librdkafka) follow it.
pub fn heartbeat_interval(configured_ms: i32, member_moving: bool, group_moving: bool) -> i32 {
    if member_moving || group_moving {
        (configured_ms / 5).max(1)
    } else {
        configured_ms
    }
}
