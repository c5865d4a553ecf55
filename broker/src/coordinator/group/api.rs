//! ConsumerGroupHeartbeat and ConsumerGroupDescribe as calls on the coordinator, and their
//! answers as Kafka's response types; the consumer-group part of Kafka's GroupCoordinatorShard.
//! Classic and consumer groups share one namespace: a heartbeat to a classic group with members
//! is refused as Kafka refuses it when it does not migrate the group (GROUP_ID_NOT_FOUND "Group
//! … is not a consumer group."); an empty classic group (offsets only) becomes a consumer group.

use std::collections::BTreeSet;

use gregor_protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member, TopicPartitions as DescribedTopic,
};
use gregor_protocol::messages::consumer_group_heartbeat_response::{
    Assignment as HeartbeatAssignment, TopicPartitions,
};
use gregor_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupHeartbeatRequest,
    ConsumerGroupHeartbeatResponse, TopicName,
};
use gregor_protocol::{ResponseError, StrBytes};

use super::manager::{GroupConfigOverrides, HeartbeatRequest};
use super::subscription_regex::SubscriptionRegex;
use super::topics::TopicImage;
use super::Assignment;
use crate::coordinator::group_apis::{Changes, GROUP_AUTHORIZED_OPERATIONS};
use crate::coordinator::records::CoordinatorRecord;
use crate::coordinator::GroupCoordinator;
use crate::error::KafkaError;

fn s(v: impl Into<String>) -> StrBytes {
    StrBytes::from_string(v.into())
}

/// The request as the state machine takes it.
pub fn heartbeat_request(
    r: &ConsumerGroupHeartbeatRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: r.group_id.to_string(),
        member_id: r.member_id.to_string(),
        member_epoch: r.member_epoch,
        instance_id: r.instance_id.as_ref().map(|v| v.to_string()),
        rack_id: r.rack_id.as_ref().map(|v| v.to_string()),
        rebalance_timeout_ms: r.rebalance_timeout_ms,
        subscribed_topic_names: r
            .subscribed_topic_names
            .as_ref()
            .map(|names| names.iter().map(|n| n.to_string()).collect()),
        subscribed_topic_regex: r.subscribed_topic_regex.as_ref().map(|v| v.to_string()),
        server_assignor: r.server_assignor.as_ref().map(|v| v.to_string()),
        owned: r.topic_partitions.as_ref().map(|tps| {
            let mut a = Assignment::new();
            for tp in tps {
                a.entry(tp.topic_id)
                    .or_default()
                    .extend(tp.partitions.iter().copied());
            }
            super::normalized(a)
        }),
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
        member_id_required: version >= 1,
        group_config: GroupConfigOverrides::default(),
        classic: None,
        describable_topics: None,
    }
}

fn heartbeat_error(e: KafkaError) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(e.code())
        .with_error_message(e.message.map(s))
        .with_member_id(None)
}

impl GroupCoordinator {
    /// With an authorizer, what the heartbeat's member may have its regex resolve to: the
    /// topics its regex (the request's, or the one it joined with) matches that `may_describe`
    /// allows. None when it has no regex: nothing to filter.
    pub fn describable_topics(
        &self,
        req: &HeartbeatRequest,
        may_describe: &dyn Fn(&str) -> bool,
    ) -> Option<BTreeSet<String>> {
        let stored = || {
            let group = self.consumer.groups.get(&req.group_id)?;
            let member = match &req.instance_id {
                Some(instance) => group.static_member(instance),
                None => group.members.get(&req.member_id),
            }?;
            member.metadata.subscribed_topic_regex.clone()
        };
        let pattern = match &req.subscribed_topic_regex {
            Some(regex) => Some(regex.clone()),
            None => stored(),
        }
        .filter(|r| !r.is_empty())?;
        // An invalid regex is refused by the state machine; nothing to resolve.
        let regex = SubscriptionRegex::compile(&pattern).ok()?;
        let topics = self.config.topics.image();
        Some(
            topics
                .names()
                .filter(|t| regex.matches(t) && may_describe(t))
                .map(str::to_string)
                .collect(),
        )
    }

    /// ConsumerGroupHeartbeat at `now`: the answer and the records to write before it.
    pub fn consumer_group_heartbeat(
        &mut self,
        now: i64,
        req: &HeartbeatRequest,
    ) -> (ConsumerGroupHeartbeatResponse, Changes) {
        // A classic group becomes a consumer group (an empty one always, one with members as
        // the migration policy allows); its records go first.
        let (base, mut changes) = match self.maybe_upgrade(req) {
            Ok(Some((group, changes))) => (Some(group), changes),
            Ok(None) => (None, Changes::new()),
            Err(e) => return (heartbeat_error(e), Changes::new()),
        };
        if let Some(downgrade) = self.maybe_downgrade(req) {
            let response = ConsumerGroupHeartbeatResponse::default()
                .with_member_id(Some(s(req.member_id.clone())))
                .with_member_epoch(req.member_epoch);
            return (response, downgrade);
        }
        let topics = self.config.topics.image();
        match self
            .consumer
            .heartbeat_from(now, req, &topics, base, || uuid::Uuid::new_v4().to_string())
        {
            Ok((answer, records)) => {
                changes.extend(records.into_iter().map(CoordinatorRecord::Consumer));
                let assignment = answer.assignment.map(|a| {
                    HeartbeatAssignment::default().with_topic_partitions(
                        a.into_iter()
                            .map(|(topic, ps)| {
                                TopicPartitions::default()
                                    .with_topic_id(topic)
                                    .with_partitions(ps.into_iter().collect())
                            })
                            .collect(),
                    )
                });
                let response = ConsumerGroupHeartbeatResponse::default()
                    .with_member_id(Some(s(answer.member_id)))
                    .with_member_epoch(answer.member_epoch)
                    .with_heartbeat_interval_ms(answer.heartbeat_interval_ms)
                    .with_assignment(assignment);
                (response, changes)
            }
            Err(e) => (heartbeat_error(e), Changes::new()),
        }
    }

    /// ConsumerGroupDescribe (v1 carries each member's type: 0 classic, 1 consumer protocol).
    pub fn consumer_group_describe(
        &self,
        req: &ConsumerGroupDescribeRequest,
    ) -> ConsumerGroupDescribeResponse {
        let topics = self.config.topics.image();
        let groups = req
            .group_ids
            .iter()
            .map(|id| {
                let base = DescribedGroup::default().with_group_id(id.clone());
                let not_found = |message: String| {
                    base.clone()
                        .with_group_state(s("Dead"))
                        .with_error_code(ResponseError::GroupIdNotFound.code())
                        .with_error_message(Some(s(message)))
                };
                let Some(g) = self.consumer.groups.get(id.as_str()) else {
                    if self.groups.contains_key(id.as_str()) {
                        return not_found(format!(
                            "Group {} is not a consumer group.",
                            id.as_str()
                        ));
                    }
                    return not_found(format!("Group {} not found.", id.as_str()));
                };
                let assignor = self.consumer.group_assignor(g).name();
                let members = g
                    .members
                    .values()
                    .map(|m| {
                        Member::default()
                            .with_member_id(s(m.member_id.clone()))
                            .with_instance_id(m.metadata.instance_id.clone().map(s))
                            .with_rack_id(m.metadata.rack_id.clone().map(s))
                            .with_member_epoch(m.current.member_epoch)
                            .with_client_id(s(m.metadata.client_id.clone()))
                            .with_client_host(s(m.metadata.client_host.clone()))
                            .with_subscribed_topic_names(
                                m.metadata
                                    .subscribed_topic_names
                                    .iter()
                                    .map(|n| TopicName(s(n.clone())))
                                    .collect(),
                            )
                            .with_subscribed_topic_regex(
                                m.metadata.subscribed_topic_regex.clone().map(s),
                            )
                            .with_assignment(described(&m.current.assigned, &topics))
                            .with_target_assignment(described(
                                g.target.get(&m.member_id).unwrap_or(&Assignment::new()),
                                &topics,
                            ))
                            // KIP-1099: 0 for a classic-protocol member, 1 for a consumer one.
                            .with_member_type(i8::from(m.metadata.classic.is_none()))
                    })
                    .collect();
                let group = base
                    .with_group_state(s(g.state().as_str()))
                    .with_group_epoch(g.group_epoch)
                    .with_assignment_epoch(g.assignment_epoch)
                    .with_assignor_name(s(assignor))
                    .with_members(members);
                if req.include_authorized_operations {
                    group.with_authorized_operations(GROUP_AUTHORIZED_OPERATIONS)
                } else {
                    group
                }
            })
            .collect();
        ConsumerGroupDescribeResponse::default().with_groups(groups)
    }
}

/// An assignment with topic names (topics deleted meanwhile are left out).
fn described(a: &Assignment, topics: &TopicImage) -> DescribedAssignment {
    DescribedAssignment::default().with_topic_partitions(
        a.iter()
            .filter_map(|(id, ps)| {
                topics.by_id(*id).map(|t| {
                    DescribedTopic::default()
                        .with_topic_id(*id)
                        .with_topic_name(TopicName(s(t.name.clone())))
                        .with_partitions(ps.iter().copied().collect())
                })
            })
            .collect(),
    )
}
