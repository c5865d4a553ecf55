//! Online migration between the classic and the consumer protocol (KIP-848): the policy, the
//! consumer embedded protocol a classic member speaks (`ConsumerProtocolSubscription`,
//! `ConsumerProtocolAssignment`), and the conversion of a group from one kind to the other.
//! Kafka's `ConsumerGroupMigrationPolicy`, `ConsumerGroup.fromClassicGroup`,
//! `ClassicGroup.fromConsumerGroup` and `ConsumerProtocol`.

use bytes::{BufMut, Bytes, BytesMut};

use super::consumer_group::{ConsumerGroup, ConsumerMember};
use super::current_assignment::{CurrentAssignment, MemberState};
use super::manager::subscription_metadata;
use super::records::{ClassicMemberMetadata, ConsumerRecord, MemberMetadata};
use super::snapshot::decode_consumer_assignment;
use super::topics::TopicImage;
use super::Assignment;
use crate::coordinator::classic_group::ClassicGroup;
use crate::coordinator::records::{self as classic_records, GroupMetadata};

/// `group.consumer.migration.policy`: which conversions a group with members may go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationPolicy {
    /// Both ways (Kafka 4's default).
    Bidirectional,
    /// Classic to consumer only.
    Upgrade,
    /// Consumer to classic only.
    Downgrade,
    /// Neither: a group with members refuses the other protocol.
    Disabled,
}

impl MigrationPolicy {
    /// The policy named `name` (Kafka's values, any case).
    pub fn from_name(name: &str) -> Option<MigrationPolicy> {
        match name.to_ascii_lowercase().as_str() {
            "bidirectional" => Some(MigrationPolicy::Bidirectional),
            "upgrade" => Some(MigrationPolicy::Upgrade),
            "downgrade" => Some(MigrationPolicy::Downgrade),
            "disabled" => Some(MigrationPolicy::Disabled),
            _ => None,
        }
    }

    /// Whether a classic group may become a consumer group.
    pub fn upgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Upgrade
        )
    }

    /// Whether a consumer group may become a classic group.
    pub fn downgrade_enabled(self) -> bool {
        matches!(
            self,
            MigrationPolicy::Bidirectional | MigrationPolicy::Downgrade
        )
    }
}

/// A classic consumer's subscription (`ConsumerProtocolSubscription` v0-3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription {
    /// Subscribed topic names.
    pub topics: Vec<String>,
    /// Partitions it still owns (v1+; cooperative members report them on rejoin).
    pub owned: Vec<(String, Vec<i32>)>,
    /// `client.rack` (v3+).
    pub rack_id: Option<String>,
}

/// Reads big-endian fields off a byte slice; None once it runs short.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// A count of items of at least `min` bytes each; a count the bytes cannot hold is none.
    fn count(&mut self, min: usize) -> Option<usize> {
        let n = usize::try_from(self.i32()?).ok()?;
        (n <= self.0.len() / min.max(1)).then_some(n)
    }
    fn nullable_str(&mut self) -> Option<Option<String>> {
        let len = self.i16()?;
        if len < 0 {
            return Some(None);
        }
        let bytes = self.take(len as usize)?;
        Some(Some(std::str::from_utf8(bytes).ok()?.to_string()))
    }
    fn str(&mut self) -> Option<String> {
        self.nullable_str()?
    }
}

/// Decodes a subscription; None for bytes that are not one.
pub fn decode_subscription(bytes: &[u8]) -> Option<Subscription> {
    let mut c = Cursor(bytes);
    let version = c.i16()?;
    if version < 0 {
        return None;
    }
    let n = c.count(2)?;
    let topics = (0..n).map(|_| c.str()).collect::<Option<Vec<_>>>()?;
    // User data: nullable bytes.
    let len = c.i32()?;
    if len > 0 {
        c.take(len as usize)?;
    }
    let mut sub = Subscription {
        topics,
        ..Subscription::default()
    };
    if version >= 1 {
        let n = c.count(6)?;
        for _ in 0..n {
            let topic = c.str()?;
            let k = c.count(4)?;
            let partitions = (0..k).map(|_| c.i32()).collect::<Option<Vec<_>>>()?;
            sub.owned.push((topic, partitions));
        }
    }
    if version >= 2 {
        c.i32()?; // generation id
    }
    if version >= 3 {
        sub.rack_id = c.nullable_str()?;
    }
    Some(sub)
}

/// The version a classic member's protocol metadata is in (the assignment is written in it).
pub fn metadata_version(bytes: &[u8]) -> i16 {
    Cursor(bytes).i16().unwrap_or(0).clamp(0, 3)
}

/// Encodes `assignment` as a `ConsumerProtocolAssignment` of `version` (no user data).
pub fn encode_assignment(version: i16, assignment: &Assignment, topics: &TopicImage) -> Bytes {
    let named: Vec<(&str, &std::collections::BTreeSet<i32>)> = assignment
        .iter()
        .filter(|(_, ps)| !ps.is_empty())
        .filter_map(|(id, ps)| topics.by_id(*id).map(|t| (t.name.as_str(), ps)))
        .collect();
    let mut b = BytesMut::new();
    b.put_i16(version);
    b.put_i32(named.len() as i32);
    for (name, ps) in named {
        b.put_i16(name.len() as i16);
        b.put_slice(name.as_bytes());
        b.put_i32(ps.len() as i32);
        for p in ps {
            b.put_i32(*p);
        }
    }
    b.put_i32(-1);
    b.freeze()
}

/// Partitions named by topic, as ids of the topics that exist.
pub fn by_id<'a>(
    named: impl IntoIterator<Item = (&'a str, &'a [i32])>,
    topics: &TopicImage,
) -> Assignment {
    let mut a = Assignment::new();
    for (name, ps) in named {
        if let Some(t) = topics.get(name) {
            a.entry(t.id)
                .or_default()
                .extend(ps.iter().copied().filter(|p| *p >= 0 && *p < t.partitions));
        }
    }
    super::normalized(a)
}

/// The classic metadata of a member that joined with `protocols`.
pub fn classic_metadata(
    session_timeout_ms: i64,
    protocols: &[(String, Bytes)],
) -> ClassicMemberMetadata {
    ClassicMemberMetadata {
        session_timeout_ms: session_timeout_ms.clamp(0, i64::from(i32::MAX)) as i32,
        supported_protocols: protocols.to_vec(),
    }
}

/// `classic` as a consumer group (Kafka's fromClassicGroup): every member keeps its
/// assignment at an epoch equal to the generation, as its target too. None when a member's
/// subscription or assignment is not the consumer protocol.
pub fn consumer_group_from_classic(
    classic: &ClassicGroup,
    topics: &TopicImage,
) -> Option<ConsumerGroup> {
    let protocol = classic.protocol.clone().unwrap_or_default();
    let mut group = ConsumerGroup::new(&classic.id);
    group.group_epoch = classic.generation;
    group.assignment_epoch = classic.generation;
    for m in classic.members.values() {
        let sub = decode_subscription(&m.metadata(&protocol))?;
        let assigned = decode_consumer_assignment(&m.assignment)?;
        let assigned = by_id(
            assigned
                .iter()
                .map(|t| (t.topic.as_str(), t.partitions.as_slice())),
            topics,
        );
        let mut names = sub.topics.clone();
        names.sort();
        names.dedup();
        let member = ConsumerMember {
            member_id: m.id.clone(),
            metadata: MemberMetadata {
                instance_id: m.instance_id.clone(),
                rack_id: sub.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: names,
                subscribed_topic_regex: None,
                rebalance_timeout_ms: m.rebalance_timeout_ms.clamp(0, i64::from(i32::MAX)) as i32,
                server_assignor: None,
                classic: Some(classic_metadata(m.session_timeout_ms, &m.protocols)),
            },
            current: CurrentAssignment {
                member_epoch: classic.generation,
                previous_member_epoch: classic.generation,
                state: MemberState::Stable,
                assigned: assigned.clone(),
                pending_revocation: Assignment::new(),
            },
        };
        group.target.insert(m.id.clone(), assigned);
        group.members.insert(m.id.clone(), member);
    }
    // Classic members subscribe by name: nothing to filter.
    group.subscription_metadata = subscription_metadata(&group, topics, &Default::default());
    Some(group)
}

/// The records that create `group` (Kafka's createConsumerGroupRecords order).
pub fn consumer_group_records(group: &ConsumerGroup) -> Vec<ConsumerRecord> {
    let g = &group.id;
    let mut records: Vec<ConsumerRecord> = group
        .members
        .values()
        .map(|m| ConsumerRecord::Member(g.clone(), m.member_id.clone(), Some(m.metadata.clone())))
        .collect();
    records.push(ConsumerRecord::PartitionMetadata(
        g.clone(),
        Some(group.subscription_metadata.values().cloned().collect()),
    ));
    records.push(ConsumerRecord::GroupEpoch(
        g.clone(),
        Some(group.group_epoch),
    ));
    for (m, a) in &group.target {
        records.push(ConsumerRecord::TargetMember(
            g.clone(),
            m.clone(),
            Some(a.clone()),
        ));
    }
    records.push(ConsumerRecord::TargetEpoch(
        g.clone(),
        Some(group.assignment_epoch),
    ));
    for m in group.members.values() {
        records.push(ConsumerRecord::CurrentAssignment(
            g.clone(),
            m.member_id.clone(),
            Some(m.current.clone()),
        ));
    }
    records
}

/// Whether every member of `group` but those `leaving` speaks the classic protocol, and one
/// does.
pub fn only_classic_members_but(group: &ConsumerGroup, leaving: &[String]) -> bool {
    let mut others = group
        .members
        .values()
        .filter(|m| !leaving.contains(&m.member_id));
    let mut any = false;
    others.all(|m| {
        any = true;
        m.metadata.classic.is_some()
    }) && any
}

/// `group` without those `leaving` as a classic group's metadata (Kafka's fromConsumerGroup): the
/// generation is the group epoch, the protocol the first one of the first member, each member
/// with the partitions it owns now. None when a member has no classic metadata.
pub fn classic_metadata_from_consumer(
    group: &ConsumerGroup,
    leaving: &[String],
    topics: &TopicImage,
) -> Option<GroupMetadata> {
    let members: Vec<&ConsumerMember> = group
        .members
        .values()
        .filter(|m| !leaving.contains(&m.member_id))
        .collect();
    let first = members.first()?;
    let (protocol, _) = first
        .metadata
        .classic
        .as_ref()?
        .supported_protocols
        .first()?
        .clone();
    let mut out = Vec::with_capacity(members.len());
    for m in &members {
        let classic = m.metadata.classic.as_ref()?;
        let subscription = classic
            .supported_protocols
            .iter()
            .find(|(n, _)| *n == protocol)
            .or(classic.supported_protocols.first())
            .map(|(_, meta)| meta.clone())
            .unwrap_or_default();
        out.push(classic_records::MemberMetadata {
            member_id: m.member_id.clone(),
            group_instance_id: m.metadata.instance_id.clone(),
            client_id: m.metadata.client_id.clone(),
            client_host: m.metadata.client_host.clone(),
            rebalance_timeout_ms: m.metadata.rebalance_timeout_ms,
            session_timeout_ms: classic.session_timeout_ms,
            assignment: encode_assignment(
                metadata_version(&subscription),
                &m.current.assigned,
                topics,
            ),
            subscription,
        });
    }
    Some(GroupMetadata {
        protocol_type: "consumer".into(),
        generation: group.group_epoch,
        protocol: Some(protocol),
        leader: Some(first.member_id.clone()),
        current_state_timestamp: -1,
        members: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A v1 subscription, as a Java cooperative consumer writes it.
    fn subscription_v1(topics: &[&str], owned: &[(&str, &[i32])]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(1);
        b.put_i32(topics.len() as i32);
        for t in topics {
            b.put_i16(t.len() as i16);
            b.put_slice(t.as_bytes());
        }
        b.put_i32(-1);
        b.put_i32(owned.len() as i32);
        for (t, ps) in owned {
            b.put_i16(t.len() as i16);
            b.put_slice(t.as_bytes());
            b.put_i32(ps.len() as i32);
            for p in *ps {
                b.put_i32(*p);
            }
        }
        b.freeze()
    }

    #[test]
    fn reads_a_subscription_with_owned_partitions() {
        let sub = decode_subscription(&subscription_v1(&["a", "b"], &[("a", &[0, 2])])).unwrap();
        assert_eq!(sub.topics, vec!["a", "b"]);
        assert_eq!(sub.owned, vec![("a".to_string(), vec![0, 2])]);
        assert_eq!(decode_subscription(b"\x00"), None);
    }

    #[test]
    fn assignment_round_trips_through_the_snapshot_decoder() {
        let id = uuid::Uuid::from_u128(7);
        let topics = TopicImage::new([super::super::topics::TopicInfo {
            id,
            name: "t".into(),
            partitions: 3,
        }]);
        let a: Assignment = [(id, [0, 2].into_iter().collect())].into_iter().collect();
        let bytes = encode_assignment(1, &a, &topics);
        let back = decode_consumer_assignment(&bytes).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].partitions, vec![0, 2]);
    }

    proptest! {
        #[test]
        fn garbage_subscriptions_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_subscription(&bytes);
        }
    }
}
