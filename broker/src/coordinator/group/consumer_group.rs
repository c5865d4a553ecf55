//! One KIP-848 consumer group as its records leave it; Kafka's ConsumerGroup and
//! ConsumerGroupMember. Nothing here decides anything: `replay` applies a record, and the
//! manager computes records from what is here.
//!
//! Group states, as Kafka documents them (`ConsumerGroupState`):
//! - `Empty`: no members (offsets may remain). From any state when the last member goes.
//! - `Assigning`: the group epoch moved past the target assignment's (a member joined, left or
//!   changed its subscription, or subscribed topics changed) and a new target is due.
//! - `Reconciling`: the target is computed; some member is not at its epoch yet.
//! - `Stable`: every member owns its target at the assignment epoch.
//! - `Dead`: deleted (never held here: a deleted group is gone).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::current_assignment::{CurrentAssignment, MemberState};
use super::records::{ConsumerRecord, MemberMetadata, TopicMetadata};
use super::Assignment;

/// A consumer group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    /// No members.
    Empty,
    /// A new target assignment is due.
    Assigning,
    /// Members are moving to the target.
    Reconciling,
    /// Every member is at the target.
    Stable,
}

impl ConsumerGroupState {
    /// The name Kafka's tools print.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerMember {
    /// Member id (client-chosen since ConsumerGroupHeartbeat v1).
    pub member_id: String,
    /// Subscription and identity.
    pub metadata: MemberMetadata,
    /// What it owns, at which epoch.
    pub current: CurrentAssignment,
}

impl ConsumerMember {
    /// A member that has not joined yet.
    pub fn new(member_id: &str) -> ConsumerMember {
        ConsumerMember {
            member_id: member_id.to_string(),
            metadata: MemberMetadata {
                rebalance_timeout_ms: -1,
                ..MemberMetadata::default()
            },
            current: CurrentAssignment::default(),
        }
    }

    /// Whether the member owns its target at `epoch`.
    pub fn is_reconciled_to(&self, epoch: i32) -> bool {
        self.current.state == MemberState::Stable && self.current.member_epoch == epoch
    }
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroup {
    /// Group id.
    pub id: String,
    /// Bumped whenever the target must be recomputed.
    pub group_epoch: i32,
    /// The group epoch the target assignment was computed at.
    pub assignment_epoch: i32,
    /// Members by id.
    pub members: BTreeMap<String, ConsumerMember>,
    /// Target assignment by member id.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics, by name, as of the last target computation's inputs.
    pub subscription_metadata: BTreeMap<String, TopicMetadata>,
}

impl ConsumerGroup {
    /// An empty group at epoch 0.
    pub fn new(id: &str) -> ConsumerGroup {
        ConsumerGroup {
            id: id.to_string(),
            ..ConsumerGroup::default()
        }
    }

    /// The group's state.
    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| !m.is_reconciled_to(self.assignment_epoch))
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The member with `group.instance.id` `instance`.
    pub fn static_member(&self, instance: &str) -> Option<&ConsumerMember> {
        self.members
            .values()
            .find(|m| m.metadata.instance_id.as_deref() == Some(instance))
    }

    /// Who holds each partition, assigned or pending revocation.
    pub fn partition_owners(&self) -> BTreeMap<(Uuid, i32), &str> {
        let mut owners = BTreeMap::new();
        for m in self.members.values() {
            for a in [&m.current.assigned, &m.current.pending_revocation] {
                for (topic, ps) in a {
                    for p in ps {
                        owners.insert((*topic, *p), m.member_id.as_str());
                    }
                }
            }
        }
        owners
    }

    /// Every topic name some member subscribes to by name.
    pub fn subscribed_topic_names(&self) -> BTreeSet<&str> {
        self.members
            .values()
            .flat_map(|m| m.metadata.subscribed_topic_names.iter().map(String::as_str))
            .collect()
    }

    /// Applies one of this group's records (Kafka's replay).
    pub fn replay(&mut self, record: ConsumerRecord) {
        match record {
            ConsumerRecord::GroupEpoch(_, Some(epoch)) => self.group_epoch = epoch,
            // The group's deletion is handled by the caller, which owns the map of groups.
            ConsumerRecord::GroupEpoch(_, None) => {}
            ConsumerRecord::PartitionMetadata(_, topics) => {
                self.subscription_metadata = topics
                    .unwrap_or_default()
                    .into_iter()
                    .map(|t| (t.name.clone(), t))
                    .collect();
            }
            ConsumerRecord::Member(_, member, Some(metadata)) => {
                self.members
                    .entry(member.clone())
                    .or_insert_with(|| ConsumerMember::new(&member))
                    .metadata = metadata;
            }
            ConsumerRecord::Member(_, member, None) => {
                self.members.remove(&member);
            }
            ConsumerRecord::TargetEpoch(_, epoch) => self.assignment_epoch = epoch.unwrap_or(0),
            ConsumerRecord::TargetMember(_, member, Some(a)) => {
                self.target.insert(member, a);
            }
            ConsumerRecord::TargetMember(_, member, None) => {
                self.target.remove(&member);
            }
            ConsumerRecord::CurrentAssignment(_, member, Some(current)) => {
                self.members
                    .entry(member.clone())
                    .or_insert_with(|| ConsumerMember::new(&member))
                    .current = current;
            }
            ConsumerRecord::CurrentAssignment(_, member, None) => {
                if let Some(m) = self.members.get_mut(&member) {
                    m.current = CurrentAssignment::default();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_follows_epochs_and_members() {
        let mut g = ConsumerGroup::new("g");
        assert_eq!(g.state(), ConsumerGroupState::Empty);
        g.replay(ConsumerRecord::Member(
            "g".into(),
            "m".into(),
            Some(MemberMetadata::default()),
        ));
        g.replay(ConsumerRecord::GroupEpoch("g".into(), Some(1)));
        assert_eq!(g.state(), ConsumerGroupState::Assigning);
        g.replay(ConsumerRecord::TargetEpoch("g".into(), Some(1)));
        assert_eq!(g.state(), ConsumerGroupState::Reconciling);
        let current = CurrentAssignment {
            member_epoch: 1,
            ..CurrentAssignment::default()
        };
        g.replay(ConsumerRecord::CurrentAssignment(
            "g".into(),
            "m".into(),
            Some(current),
        ));
        assert_eq!(g.state(), ConsumerGroupState::Stable);
        g.replay(ConsumerRecord::Member("g".into(), "m".into(), None));
        assert_eq!(g.state(), ConsumerGroupState::Empty);
    }
}
