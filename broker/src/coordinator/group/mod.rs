//! KIP-848 consumer groups: the broker computes the assignment and each member reconciles to
//! it partition by partition; Kafka's `modern.consumer` package and the consumer-group half of
//! its GroupMetadataManager.
//!
//! - `topics`: the topic image the coordinator assigns from (Kafka's MetadataImage topics).
//! - `assignors`: the server-side assignors `uniform` and `range` (Kafka's UniformAssignor,
//!   RangeAssignor), both sticky.
//! - `current_assignment`: one member's step towards its target (CurrentAssignmentBuilder).
//! - `consumer_group`: a group's state, changed only by replaying its records (ConsumerGroup,
//!   ConsumerGroupMember).
//! - `records`: the group's records in `__consumer_offsets`, in Kafka's schemas.
//! - `manager`: ConsumerGroupHeartbeat, leaving, session and rebalance timeouts; what a request
//!   changes comes back as records (GroupMetadataManager.consumerGroupHeartbeat).
//! - `migration`: the migration policy, the classic members' embedded consumer protocol, and
//!   converting a group between the classic and the consumer kind.
//! - `classic_members`: JoinGroup/SyncGroup/Heartbeat/LeaveGroup of classic members of a
//!   consumer group, and when a group changes kind.
//! - `api`: ConsumerGroupHeartbeat and ConsumerGroupDescribe, request to call and back.
//! - `snapshot`: the read-only view of every group, for the live view.

pub mod api;
pub mod assignors;
pub mod classic_members;
pub mod consumer_group;
pub mod current_assignment;
pub mod manager;
pub mod migration;
pub mod records;
pub mod snapshot;
pub mod subscription_regex;
pub mod topics;

#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// Partitions by topic id: a member's assignment, current or target.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// How many partitions `assignment` holds.
pub fn partition_count(assignment: &Assignment) -> usize {
    assignment.values().map(BTreeSet::len).sum()
}

/// `assignment` without empty topic entries, so two equal assignments compare equal.
pub fn normalized(mut assignment: Assignment) -> Assignment {
    assignment.retain(|_, p| !p.is_empty());
    assignment
}
