//! A read-only view of every group, for the live view: kind, state, epochs and members with
//! their subscription and assignments, as plain structs (no wire types). Classic groups show
//! their generation as the epoch; their members' assignments are decoded when the group runs
//! the consumer protocol (`ConsumerProtocolAssignment`), as Kafka's tools decode them.

use serde::Serialize;

use super::topics::TopicImage;
use super::Assignment;
use crate::coordinator::GroupCoordinator;

/// Which protocol a group runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// JoinGroup/SyncGroup.
    Classic,
    /// KIP-848 ConsumerGroupHeartbeat.
    Consumer,
}

/// Partitions of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicPartitions {
    /// Topic name (the id, as text, for a topic deleted meanwhile).
    pub topic: String,
    /// Partition numbers, ascending.
    pub partitions: Vec<i32>,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberSnapshot {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Subscribed topic names (consumer groups).
    pub subscribed_topics: Vec<String>,
    /// Subscribed regex (consumer groups).
    pub subscribed_regex: Option<String>,
    /// Member epoch (consumer) or the group's generation (classic).
    pub epoch: i32,
    /// Reconciliation state (consumer groups), Kafka's names.
    pub state: Option<&'static str>,
    /// What it owns.
    pub assigned: Vec<TopicPartitions>,
    /// What it must revoke.
    pub pending_revocation: Vec<TopicPartitions>,
    /// Its target (consumer groups).
    pub target: Vec<TopicPartitions>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupSnapshot {
    /// Group id.
    pub group_id: String,
    /// Protocol.
    pub kind: GroupKind,
    /// State, as Kafka's tools print it.
    pub state: &'static str,
    /// Group epoch (consumer) or generation (classic).
    pub group_epoch: i32,
    /// Target assignment epoch (consumer groups).
    pub assignment_epoch: Option<i32>,
    /// Assignor or classic protocol name.
    pub protocol: Option<String>,
    /// Members by id.
    pub members: Vec<MemberSnapshot>,
}

fn named(a: &Assignment, topics: &TopicImage) -> Vec<TopicPartitions> {
    let mut out: Vec<TopicPartitions> = a
        .iter()
        .map(|(id, ps)| TopicPartitions {
            topic: topics
                .by_id(*id)
                .map_or_else(|| id.to_string(), |t| t.name.clone()),
            partitions: ps.iter().copied().collect(),
        })
        .collect();
    out.sort_by(|x, y| x.topic.cmp(&y.topic));
    out
}

/// A classic consumer's assignment (Kafka's `ConsumerProtocolAssignment`, versions 0-3, not
/// flexible: int16 version, int32 count of (int16-length topic, int32 count of int32
/// partitions), then user data). `None` for bytes that are not one.
pub fn decode_consumer_assignment(bytes: &[u8]) -> Option<Vec<TopicPartitions>> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, tail) = b.split_at(n);
        *b = tail;
        Some(head)
    }
    fn int16(b: &mut &[u8]) -> Option<i16> {
        Some(i16::from_be_bytes(take(b, 2)?.try_into().ok()?))
    }
    fn int32(b: &mut &[u8]) -> Option<i32> {
        Some(i32::from_be_bytes(take(b, 4)?.try_into().ok()?))
    }
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut b = bytes;
    let version = int16(&mut b)?;
    if version < 0 {
        return None;
    }
    let topics = int32(&mut b)?;
    // Each topic takes at least 6 bytes: a count larger than that cannot be real.
    if topics < 0 || topics as usize > b.len() / 6 {
        return None;
    }
    let mut out = Vec::with_capacity(topics as usize);
    for _ in 0..topics {
        let len = usize::try_from(int16(&mut b)?).ok()?;
        let topic = std::str::from_utf8(take(&mut b, len)?).ok()?.to_string();
        let n = int32(&mut b)?;
        if n < 0 || n as usize > b.len() / 4 {
            return None;
        }
        let mut partitions: Vec<i32> = (0..n).map(|_| int32(&mut b)).collect::<Option<_>>()?;
        partitions.sort_unstable();
        out.push(TopicPartitions { topic, partitions });
    }
    out.sort_by(|x, y| x.topic.cmp(&y.topic));
    Some(out)
}

impl GroupCoordinator {
    /// Every group as it is now, by group id.
    pub fn snapshot(&self, topics: &TopicImage) -> Vec<GroupSnapshot> {
        let classic = self.groups.values().map(|g| {
            let consumer = g.protocol_type.as_deref() == Some("consumer");
            GroupSnapshot {
                group_id: g.id.clone(),
                kind: GroupKind::Classic,
                state: g.state.as_str(),
                group_epoch: g.generation,
                assignment_epoch: None,
                protocol: g.protocol.clone(),
                members: g
                    .members
                    .values()
                    .map(|m| MemberSnapshot {
                        member_id: m.id.clone(),
                        instance_id: m.instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        subscribed_topics: Vec::new(),
                        subscribed_regex: None,
                        epoch: g.generation,
                        state: None,
                        assigned: if consumer {
                            decode_consumer_assignment(&m.assignment).unwrap_or_default()
                        } else {
                            Vec::new()
                        },
                        pending_revocation: Vec::new(),
                        target: Vec::new(),
                    })
                    .collect(),
            }
        });
        let consumer = self.consumer.groups.values().map(|g| GroupSnapshot {
            group_id: g.id.clone(),
            kind: GroupKind::Consumer,
            state: g.state().as_str(),
            group_epoch: g.group_epoch,
            assignment_epoch: Some(g.assignment_epoch),
            protocol: Some(self.consumer.group_assignor(g).name().to_string()),
            members: g
                .members
                .values()
                .map(|m| MemberSnapshot {
                    member_id: m.member_id.clone(),
                    instance_id: m.metadata.instance_id.clone(),
                    client_id: m.metadata.client_id.clone(),
                    client_host: m.metadata.client_host.clone(),
                    subscribed_topics: m.metadata.subscribed_topic_names.clone(),
                    subscribed_regex: m.metadata.subscribed_topic_regex.clone(),
                    epoch: m.current.member_epoch,
                    state: Some(m.current.state.as_str()),
                    assigned: named(&m.current.assigned, topics),
                    pending_revocation: named(&m.current.pending_revocation, topics),
                    target: named(
                        g.target.get(&m.member_id).unwrap_or(&Assignment::new()),
                        topics,
                    ),
                })
                .collect(),
        });
        let mut all: Vec<GroupSnapshot> = classic.chain(consumer).collect();
        all.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_protocol_assignment_decodes_and_garbage_does_not() {
        // Version 1, two topics ("b": [2, 0], "a": [1]), null user data.
        let mut b = vec![0, 1, 0, 0, 0, 2];
        b.extend([0, 1, b'b', 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 0]);
        b.extend([0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 1]);
        b.extend([0xff, 0xff, 0xff, 0xff]);
        let topics = decode_consumer_assignment(&b).unwrap();
        assert_eq!(
            topics,
            [
                TopicPartitions {
                    topic: "a".into(),
                    partitions: vec![1]
                },
                TopicPartitions {
                    topic: "b".into(),
                    partitions: vec![0, 2]
                }
            ]
        );
        assert_eq!(decode_consumer_assignment(&b[..9]), None);
        assert_eq!(decode_consumer_assignment(&[0, 0, 0x7f, 0, 0, 0]), None);
        assert_eq!(decode_consumer_assignment(&[]), Some(Vec::new()));
    }
}
