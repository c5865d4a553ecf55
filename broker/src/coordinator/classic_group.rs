//! One classic consumer group: its members, generation, chosen protocol and state.
//!
//! States, as Kafka documents them:
//! - `Empty`: no members; offsets may still exist. From PreparingRebalance (the last member
//!   left or expired) or at creation. To PreparingRebalance on a join, Dead on deletion.
//! - `PreparingRebalance`: waiting for every known member to (re)join, until the rebalance
//!   timeout. From Empty, Stable or CompletingRebalance on a join, leave or expiry.
//! - `CompletingRebalance`: everyone joined; waiting for the leader's SyncGroup with the
//!   assignment. From PreparingRebalance.
//! - `Stable`: assignment handed out; heartbeats keep members alive. From CompletingRebalance.
//! - `Dead`: deleted; never leaves this state.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::group_coordinator::ReplyId;
use super::records::{GroupMetadata, MemberMetadata};

/// A group's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members.
    Empty,
    /// Waiting for members to join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Running.
    Stable,
    /// Deleted.
    Dead,
}

impl GroupState {
    /// The name Kafka's tools print.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// A JoinGroup waiting for the rebalance to complete.
#[derive(Debug, Clone, Copy)]
pub struct ParkedJoin {
    /// Where the answer goes.
    pub reply: ReplyId,
    /// The request's version (the response shape depends on it).
    pub version: i16,
}

/// One member of a group.
#[derive(Debug, Clone)]
pub struct Member {
    /// Coordinator-given id.
    pub id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Milliseconds without a heartbeat before the member is removed.
    pub session_timeout_ms: i64,
    /// How long a rebalance waits for this member to rejoin.
    pub rebalance_timeout_ms: i64,
    /// Supported protocols in preference order, with their metadata.
    pub protocols: Vec<(String, Bytes)>,
    /// The assignment from the last SyncGroup.
    pub assignment: Bytes,
    /// A JoinGroup waiting for the rebalance.
    pub awaiting_join: Option<ParkedJoin>,
    /// A SyncGroup waiting for the leader.
    pub awaiting_sync: Option<ReplyId>,
    /// When the member expires unless it heartbeats.
    pub session_deadline: i64,
}

impl Member {
    /// The metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// Whether the member supports every protocol in `names`... at least one of them.
    pub fn supports_any(&self, names: &BTreeSet<String>) -> bool {
        self.protocols.iter().any(|(n, _)| names.contains(n))
    }
}

/// A classic group.
#[derive(Debug, Clone)]
pub struct ClassicGroup {
    /// The group id.
    pub id: String,
    /// Current state.
    pub state: GroupState,
    /// Bumped at every completed rebalance.
    pub generation: i32,
    /// "consumer" for consumer groups.
    pub protocol_type: Option<String>,
    /// The protocol (assignor) chosen at the last rebalance.
    pub protocol: Option<String>,
    /// The member that computes the assignment.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, valid until their deadline.
    pub pending: BTreeMap<String, i64>,
    /// Static members: instance id to member id.
    pub static_members: BTreeMap<String, String>,
    /// When the current rebalance stops waiting for members to rejoin.
    pub rebalance_deadline: Option<i64>,
    /// While a group formed from Empty waits `group.initial.rebalance.delay.ms` for more
    /// members: the end of the wait (pushed back by each new member, never past the
    /// rebalance deadline). Kafka's InitialDelayedJoin.
    pub initial_join_until: Option<i64>,
    /// Set when the group became Empty at a new generation: its metadata record is due.
    pub emptied: bool,
}

impl ClassicGroup {
    /// A new, empty group.
    pub fn new(id: &str) -> ClassicGroup {
        ClassicGroup {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            static_members: BTreeMap::new(),
            rebalance_deadline: None,
            initial_join_until: None,
            emptied: false,
        }
    }

    /// The group's metadata record (Kafka's `GroupMetadataValue`), with each member's
    /// assignment from `assignments` where given, else the one it has.
    pub fn to_metadata(&self, assignments: &BTreeMap<String, Bytes>) -> GroupMetadata {
        let protocol = self.protocol.clone().unwrap_or_default();
        GroupMetadata {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: -1,
            members: self
                .members
                .values()
                .map(|m| MemberMetadata {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms.clamp(0, i32::MAX as i64) as i32,
                    session_timeout_ms: m.session_timeout_ms.clamp(0, i32::MAX as i64) as i32,
                    subscription: m.metadata(&protocol),
                    assignment: assignments
                        .get(&m.id)
                        .cloned()
                        .unwrap_or_else(|| m.assignment.clone()),
                })
                .collect(),
        }
    }

    /// The group as its metadata record left it, loaded at `now`: Stable with its members
    /// (each with a fresh session, as Kafka gives loaded members), or Empty without any.
    pub fn from_metadata(id: &str, meta: &GroupMetadata, now: i64) -> ClassicGroup {
        let mut group = ClassicGroup::new(id);
        group.generation = meta.generation;
        group.protocol_type = (!meta.protocol_type.is_empty()).then(|| meta.protocol_type.clone());
        group.protocol = meta.protocol.clone();
        group.leader = meta.leader.clone();
        let protocol = meta.protocol.clone().unwrap_or_default();
        for m in &meta.members {
            let member = Member {
                id: m.member_id.clone(),
                instance_id: m.group_instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                session_timeout_ms: i64::from(m.session_timeout_ms),
                rebalance_timeout_ms: i64::from(m.rebalance_timeout_ms.max(m.session_timeout_ms)),
                protocols: vec![(protocol.clone(), m.subscription.clone())],
                assignment: m.assignment.clone(),
                awaiting_join: None,
                awaiting_sync: None,
                session_deadline: now + i64::from(m.session_timeout_ms),
            };
            if let Some(instance) = &member.instance_id {
                group
                    .static_members
                    .insert(instance.clone(), member.id.clone());
            }
            group.members.insert(member.id.clone(), member);
        }
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group
    }

    /// Protocols every member supports.
    pub fn candidate_protocols(&self) -> BTreeSet<String> {
        let mut members = self.members.values();
        let Some(first) = members.next() else {
            return BTreeSet::new();
        };
        let mut common: BTreeSet<String> = first.protocols.iter().map(|(n, _)| n.clone()).collect();
        for m in members {
            let theirs: BTreeSet<String> = m.protocols.iter().map(|(n, _)| n.clone()).collect();
            common = common.intersection(&theirs).cloned().collect();
        }
        common
    }

    /// Whether a member with these protocols could join: some protocol must be supported by
    /// everyone already in the group.
    pub fn accepts_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        let candidates = self.candidate_protocols();
        protocols.iter().any(|(n, _)| candidates.contains(n))
    }

    /// Kafka's vote: each member votes for its most preferred candidate; most votes wins, ties
    /// go to the protocol that sorts first.
    pub fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(n)) {
                *votes.entry(name).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        votes
            .into_iter()
            .find(|(_, v)| *v == best)
            .map(|(n, _)| n.to_string())
    }

    /// Whether every member has rejoined and no MEMBER_ID_REQUIRED id is outstanding.
    pub fn all_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty()
    }

    /// The longest rebalance timeout among members.
    pub fn max_rebalance_timeout(&self) -> i64 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }
}
