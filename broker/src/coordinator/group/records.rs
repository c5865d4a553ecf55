//! A consumer group's records in `__consumer_offsets`, in Apache Kafka 4's schemas
//! (group-coordinator's `ConsumerGroup*Key`/`*Value` message specs), so Kafka's tools read them.
//!
//! A key is an int16 record type then the key fields, not flexible: 3 `ConsumerGroupMetadata`
//! (group), 4 `ConsumerGroupPartitionMetadata` (group), 5 `ConsumerGroupMemberMetadata` (group,
//! member), 6 `ConsumerGroupTargetAssignmentMetadata` (group), 7
//! `ConsumerGroupTargetAssignmentMember` (group, member), 8 `ConsumerGroupCurrentMemberAssignment`
//! (group, member). A value is an int16 version (0) then a flexible body: compact strings and
//! arrays (length + 1 as an unsigned varint), uuids as 16 bytes, and a tagged-field section at
//! the end of each struct (written empty; read and skipped, so Kafka's optional tagged fields,
//! such as a classic member's metadata, do not stop a replay). No value: a tombstone. Type 16
//! (resolved regular expressions) is not written: Gregor resolves a regex against the topics at
//! each heartbeat, so a restart needs nothing stored.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use uuid::Uuid;

use super::current_assignment::{CurrentAssignment, MemberState};
use super::Assignment;
use crate::coordinator::records::RecordError;

/// A subscribed topic as the group's partition metadata keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic id.
    pub id: Uuid,
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
}

/// A member's subscription and identity (Kafka's `ConsumerGroupMemberMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadata {
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// `client.rack`.
    pub rack_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// Subscribed topic names, sorted.
    pub subscribed_topic_names: Vec<String>,
    /// Subscribed regular expression.
    pub subscribed_topic_regex: Option<String>,
    /// How long the member may take to revoke partitions.
    pub rebalance_timeout_ms: i32,
    /// The assignor the member asked for.
    pub server_assignor: Option<String>,
    /// Set for a member that speaks the classic protocol (JoinGroup/SyncGroup) to a consumer
    /// group (KIP-848 online migration); None for a ConsumerGroupHeartbeat member.
    pub classic: Option<ClassicMemberMetadata>,
}

/// What a classic-protocol member of a consumer group joined with (Kafka's
/// `ConsumerGroupMemberMetadataValue.ClassicMemberMetadata`, tagged field 0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicMemberMetadata {
    /// The session timeout from its JoinGroup.
    pub session_timeout_ms: i32,
    /// Its protocols (assignor names) in preference order, with their metadata.
    pub supported_protocols: Vec<(String, Bytes)>,
}

/// One record of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerRecord {
    /// The group epoch; a tombstone deletes the group.
    GroupEpoch(String, Option<i32>),
    /// The subscribed topics' metadata the target was computed from.
    PartitionMetadata(String, Option<Vec<TopicMetadata>>),
    /// A member's subscription; a tombstone removes the member.
    Member(String, String, Option<MemberMetadata>),
    /// The epoch of the target assignment.
    TargetEpoch(String, Option<i32>),
    /// A member's target assignment.
    TargetMember(String, String, Option<Assignment>),
    /// A member's current assignment and epochs.
    CurrentAssignment(String, String, Option<CurrentAssignment>),
}

const VALUE_VERSION: i16 = 0;

impl ConsumerRecord {
    /// The group the record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            ConsumerRecord::GroupEpoch(g, _)
            | ConsumerRecord::PartitionMetadata(g, _)
            | ConsumerRecord::Member(g, _, _)
            | ConsumerRecord::TargetEpoch(g, _)
            | ConsumerRecord::TargetMember(g, _, _)
            | ConsumerRecord::CurrentAssignment(g, _, _) => g,
        }
    }

    /// Key and value bytes, as Kafka 4 writes them.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        let (kind, member) = match self {
            ConsumerRecord::GroupEpoch(_, _) => (3, None),
            ConsumerRecord::PartitionMetadata(_, _) => (4, None),
            ConsumerRecord::Member(_, m, _) => (5, Some(m)),
            ConsumerRecord::TargetEpoch(_, _) => (6, None),
            ConsumerRecord::TargetMember(_, m, _) => (7, Some(m)),
            ConsumerRecord::CurrentAssignment(_, m, _) => (8, Some(m)),
        };
        key.put_i16(kind);
        put_key_str(&mut key, self.group_id());
        if let Some(m) = member {
            put_key_str(&mut key, m);
        }
        let value = match self {
            ConsumerRecord::GroupEpoch(_, v) | ConsumerRecord::TargetEpoch(_, v) => {
                v.map(|epoch| value(|b| b.put_i32(epoch)))
            }
            ConsumerRecord::PartitionMetadata(_, v) => v.as_ref().map(|topics| {
                value(|b| {
                    put_len(b, topics.len());
                    for t in topics {
                        b.put_slice(t.id.as_bytes());
                        put_str(b, &t.name);
                        b.put_i32(t.partitions);
                        put_len(b, 0); // PartitionMetadata: racks, unused since 4.0
                        b.put_u8(0);
                    }
                })
            }),
            ConsumerRecord::Member(_, _, v) => v.as_ref().map(member_value),
            ConsumerRecord::TargetMember(_, _, v) => {
                v.as_ref().map(|a| value(|b| put_assignment(b, a)))
            }
            ConsumerRecord::CurrentAssignment(_, _, v) => v.as_ref().map(|c| {
                value(|b| {
                    b.put_i32(c.member_epoch);
                    b.put_i32(c.previous_member_epoch);
                    b.put_i8(c.state.value());
                    put_assignment(b, &c.assigned);
                    put_assignment(b, &c.pending_revocation);
                })
            }),
        };
        (key.freeze(), value)
    }

    /// Reads a record of type `kind` (3 to 8) whose key follows its type.
    pub fn decode(
        kind: i16,
        mut key: Bytes,
        value: Option<Bytes>,
    ) -> Result<ConsumerRecord, RecordError> {
        let what = "consumer group record key";
        let group = get_key_str(&mut key, what)?;
        let member = if matches!(kind, 5 | 7 | 8) {
            Some(get_key_str(&mut key, what)?)
        } else {
            None
        };
        let member = || member.clone().unwrap_or_default();
        let value = match value {
            None => None,
            Some(mut v) => {
                let what = "consumer group record value";
                let version = v.try_get_i16().map_err(|e| malformed(what, e))?;
                if version != VALUE_VERSION {
                    return Err(RecordError::UnknownVersion { what, version });
                }
                Some(v)
            }
        };
        let what = match kind {
            3 => "ConsumerGroupMetadataValue",
            4 => "ConsumerGroupPartitionMetadataValue",
            5 => "ConsumerGroupMemberMetadataValue",
            6 => "ConsumerGroupTargetAssignmentMetadataValue",
            7 => "ConsumerGroupTargetAssignmentMemberValue",
            _ => "ConsumerGroupCurrentMemberAssignmentValue",
        };
        let mut r = value.map(|b| Reader { b, what });
        Ok(match kind {
            3 => ConsumerRecord::GroupEpoch(group, r.as_mut().map(Reader::epoch).transpose()?),
            6 => ConsumerRecord::TargetEpoch(group, r.as_mut().map(Reader::epoch).transpose()?),
            4 => {
                let topics = match r.as_mut() {
                    None => None,
                    Some(r) => {
                        let n = r.len()?;
                        let mut topics = Vec::with_capacity(n.min(1024));
                        for _ in 0..n {
                            let id = r.uuid()?;
                            let name = r.str()?;
                            let partitions = r.i32()?;
                            let racks = r.len()?;
                            for _ in 0..racks {
                                r.i32()?;
                                let names = r.len()?;
                                for _ in 0..names {
                                    r.str()?;
                                }
                                r.tags()?;
                            }
                            r.tags()?;
                            topics.push(TopicMetadata {
                                id,
                                name,
                                partitions,
                            });
                        }
                        r.tags()?;
                        Some(topics)
                    }
                };
                ConsumerRecord::PartitionMetadata(group, topics)
            }
            5 => {
                let m = match r.as_mut() {
                    None => None,
                    Some(r) => {
                        let instance_id = r.nullable_str()?;
                        let rack_id = r.nullable_str()?;
                        let client_id = r.str()?;
                        let client_host = r.str()?;
                        let n = r.len()?;
                        let mut subscribed_topic_names = Vec::with_capacity(n.min(1024));
                        for _ in 0..n {
                            subscribed_topic_names.push(r.str()?);
                        }
                        let subscribed_topic_regex = r.nullable_str()?;
                        let rebalance_timeout_ms = r.i32()?;
                        let server_assignor = r.nullable_str()?;
                        let classic = r.classic_member_tags()?;
                        Some(MemberMetadata {
                            instance_id,
                            rack_id,
                            client_id,
                            client_host,
                            subscribed_topic_names,
                            subscribed_topic_regex,
                            rebalance_timeout_ms,
                            server_assignor,
                            classic,
                        })
                    }
                };
                ConsumerRecord::Member(group, member(), m)
            }
            7 => {
                let a = match r.as_mut() {
                    None => None,
                    Some(r) => {
                        let a = r.assignment()?;
                        r.tags()?;
                        Some(a)
                    }
                };
                ConsumerRecord::TargetMember(group, member(), a)
            }
            _ => {
                let c = match r.as_mut() {
                    None => None,
                    Some(r) => {
                        let member_epoch = r.i32()?;
                        let previous_member_epoch = r.i32()?;
                        let state = MemberState::from_value(r.i8()?);
                        let assigned = r.assignment()?;
                        let pending_revocation = r.assignment()?;
                        r.tags()?;
                        Some(CurrentAssignment {
                            member_epoch,
                            previous_member_epoch,
                            state,
                            assigned,
                            pending_revocation,
                        })
                    }
                };
                ConsumerRecord::CurrentAssignment(group, member(), c)
            }
        })
    }
}

fn malformed(what: &'static str, cause: impl ToString) -> RecordError {
    RecordError::Malformed {
        what,
        cause: cause.to_string(),
    }
}

/// A `ConsumerGroupMemberMetadataValue`: its tag section carries the classic member metadata
/// (tag 0) when there is one.
fn member_value(m: &MemberMetadata) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(VALUE_VERSION);
    put_nullable_str(&mut b, m.instance_id.as_deref());
    put_nullable_str(&mut b, m.rack_id.as_deref());
    put_str(&mut b, &m.client_id);
    put_str(&mut b, &m.client_host);
    put_len(&mut b, m.subscribed_topic_names.len());
    for t in &m.subscribed_topic_names {
        put_str(&mut b, t);
    }
    put_nullable_str(&mut b, m.subscribed_topic_regex.as_deref());
    b.put_i32(m.rebalance_timeout_ms);
    put_nullable_str(&mut b, m.server_assignor.as_deref());
    match &m.classic {
        None => b.put_u8(0),
        Some(classic) => {
            let mut t = BytesMut::new();
            t.put_i32(classic.session_timeout_ms);
            put_len(&mut t, classic.supported_protocols.len());
            for (name, metadata) in &classic.supported_protocols {
                put_str(&mut t, name);
                put_len(&mut t, metadata.len());
                t.put_slice(metadata);
                t.put_u8(0);
            }
            t.put_u8(0);
            put_uvarint(&mut b, 1);
            put_uvarint(&mut b, 0);
            put_uvarint(&mut b, t.len() as u64);
            b.put_slice(&t);
        }
    }
    b.freeze()
}

/// A value: the version, the body, and the body's (empty) tagged fields.
fn value(body: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(VALUE_VERSION);
    body(&mut b);
    b.put_u8(0);
    b.freeze()
}

fn put_key_str(b: &mut BytesMut, s: &str) {
    let len = s.len().min(i16::MAX as usize);
    b.put_i16(len as i16);
    b.put_slice(&s.as_bytes()[..len]);
}

fn get_key_str(b: &mut Bytes, what: &'static str) -> Result<String, RecordError> {
    let len = b.try_get_i16().map_err(|e| malformed(what, e))?;
    if len < 0 || b.remaining() < len as usize {
        return Err(malformed(what, format!("string of {len} bytes")));
    }
    String::from_utf8(b.split_to(len as usize).to_vec()).map_err(|e| malformed(what, e))
}

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

/// A compact length: n + 1.
fn put_len(b: &mut BytesMut, n: usize) {
    put_uvarint(b, n as u64 + 1);
}

fn put_str(b: &mut BytesMut, s: &str) {
    put_len(b, s.len());
    b.put_slice(s.as_bytes());
}

fn put_nullable_str(b: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_str(b, s),
        None => put_uvarint(b, 0),
    }
}

/// `[]TopicPartition{TopicId uuid, Partitions []int32}`, each entry with its tagged fields.
fn put_assignment(b: &mut BytesMut, a: &Assignment) {
    let topics: Vec<_> = a.iter().filter(|(_, ps)| !ps.is_empty()).collect();
    put_len(b, topics.len());
    for (topic, ps) in topics {
        b.put_slice(topic.as_bytes());
        put_len(b, ps.len());
        for p in ps {
            b.put_i32(*p);
        }
        b.put_u8(0);
    }
}

/// Reads a flexible value body.
struct Reader {
    b: Bytes,
    what: &'static str,
}

impl Reader {
    fn err(&self, cause: impl ToString) -> RecordError {
        malformed(self.what, cause)
    }

    fn uvarint(&mut self) -> Result<u64, RecordError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.b.try_get_u8().map_err(|e| self.err(e))?;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err("varint too long"))
    }

    fn i8(&mut self) -> Result<i8, RecordError> {
        self.b.try_get_i8().map_err(|e| self.err(e))
    }

    fn i32(&mut self) -> Result<i32, RecordError> {
        self.b.try_get_i32().map_err(|e| self.err(e))
    }

    fn epoch(&mut self) -> Result<i32, RecordError> {
        let e = self.i32()?;
        self.tags()?;
        Ok(e)
    }

    /// A compact array's length; the count must fit in the bytes left.
    fn len(&mut self) -> Result<usize, RecordError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Err(self.err("null array"));
        }
        let n = (n - 1) as usize;
        if n > self.b.remaining() {
            return Err(self.err(format!("{n} entries in {} bytes", self.b.remaining())));
        }
        Ok(n)
    }

    fn take(&mut self, n: usize) -> Result<Bytes, RecordError> {
        if self.b.remaining() < n {
            return Err(self.err(format!("{n} bytes announced, {} left", self.b.remaining())));
        }
        Ok(self.b.split_to(n))
    }

    fn nullable_str(&mut self) -> Result<Option<String>, RecordError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(None);
        }
        let bytes = self.take((n - 1) as usize)?;
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| self.err(e))
    }

    fn str(&mut self) -> Result<String, RecordError> {
        self.nullable_str()?.ok_or_else(|| self.err("null string"))
    }

    fn uuid(&mut self) -> Result<Uuid, RecordError> {
        let bytes = self.take(16)?;
        Uuid::from_slice(&bytes).map_err(|e| self.err(e))
    }

    fn assignment(&mut self) -> Result<Assignment, RecordError> {
        let n = self.len()?;
        let mut a = Assignment::new();
        for _ in 0..n {
            let topic = self.uuid()?;
            let count = self.len()?;
            let mut ps = std::collections::BTreeSet::new();
            for _ in 0..count {
                ps.insert(self.i32()?);
            }
            self.tags()?;
            if !ps.is_empty() {
                a.entry(topic).or_default().extend(ps);
            }
        }
        Ok(a)
    }

    /// A member value's tagged fields: tag 0 is the classic member metadata, others are
    /// skipped.
    fn classic_member_tags(&mut self) -> Result<Option<ClassicMemberMetadata>, RecordError> {
        let n = self.uvarint()?;
        let mut classic = None;
        for _ in 0..n {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            let body = self.take(size)?;
            if tag != 0 {
                continue;
            }
            let mut r = Reader {
                b: body,
                what: self.what,
            };
            let session_timeout_ms = r.i32()?;
            let count = r.len()?;
            let mut supported_protocols = Vec::with_capacity(count.min(64));
            for _ in 0..count {
                let name = r.str()?;
                let len = r.len()?;
                let metadata = r.take(len)?;
                r.tags()?;
                supported_protocols.push((name, metadata));
            }
            r.tags()?;
            classic = Some(ClassicMemberMetadata {
                session_timeout_ms,
                supported_protocols,
            });
        }
        Ok(classic)
    }

    /// Skips a tagged-field section.
    fn tags(&mut self) -> Result<(), RecordError> {
        let n = self.uvarint()?;
        for _ in 0..n {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assignment() -> impl Strategy<Value = Assignment> {
        proptest::collection::btree_map(
            (0u128..4).prop_map(Uuid::from_u128),
            proptest::collection::btree_set(0i32..50, 1..5),
            0..3,
        )
    }

    fn record() -> impl Strategy<Value = ConsumerRecord> {
        let g = "[a-z]{1,8}";
        let m = "[a-z0-9-]{1,12}";
        let tomb = any::<bool>();
        prop_oneof![
            (g, any::<i32>(), tomb)
                .prop_map(|(g, e, t)| ConsumerRecord::GroupEpoch(g, (!t).then_some(e))),
            (g, any::<i32>(), tomb)
                .prop_map(|(g, e, t)| ConsumerRecord::TargetEpoch(g, (!t).then_some(e))),
            (
                g,
                proptest::collection::vec(
                    ((0u128..9).prop_map(Uuid::from_u128), "[a-z]{1,6}", 0i32..9),
                    0..3
                ),
                tomb
            )
                .prop_map(|(g, ts, t)| ConsumerRecord::PartitionMetadata(
                    g,
                    (!t).then(|| ts
                        .into_iter()
                        .map(|(id, name, partitions)| TopicMetadata {
                            id,
                            name,
                            partitions
                        })
                        .collect())
                )),
            (
                g,
                m,
                proptest::option::of("[a-z]{1,5}"),
                ".{0,8}",
                proptest::collection::vec("[a-z]{1,5}", 0..3),
                proptest::option::of("[a-z.*]{1,6}"),
                any::<i32>(),
                tomb
            )
                .prop_map(|(g, m, instance, client, names, regex, rt, t)| {
                    ConsumerRecord::Member(
                        g,
                        m,
                        (!t).then(|| MemberMetadata {
                            instance_id: instance.clone(),
                            rack_id: None,
                            client_id: client,
                            client_host: "/127.0.0.1".into(),
                            subscribed_topic_names: names,
                            subscribed_topic_regex: regex,
                            rebalance_timeout_ms: rt,
                            server_assignor: instance,
                            classic: (rt % 2 == 0).then(|| ClassicMemberMetadata {
                                session_timeout_ms: rt / 2,
                                supported_protocols: vec![
                                    ("range".into(), Bytes::from_static(b"\0\x03ab")),
                                    ("cooperative-sticky".into(), Bytes::new()),
                                ],
                            }),
                        }),
                    )
                }),
            (g, m, assignment(), tomb).prop_map(|(g, m, a, t)| ConsumerRecord::TargetMember(
                g,
                m,
                (!t).then_some(a)
            )),
            (
                g,
                m,
                any::<i32>(),
                any::<i32>(),
                0i8..3,
                assignment(),
                assignment(),
                tomb
            )
                .prop_map(|(g, m, e, pe, s, a, r, t)| {
                    ConsumerRecord::CurrentAssignment(
                        g,
                        m,
                        (!t).then(|| CurrentAssignment {
                            member_epoch: e,
                            previous_member_epoch: pe,
                            state: MemberState::from_value(s),
                            assigned: a,
                            pending_revocation: r,
                        }),
                    )
                }),
        ]
    }

    proptest! {
        #[test]
        fn records_round_trip(r in record()) {
            let (mut key, value) = r.encode();
            let kind = key.get_i16();
            prop_assert_eq!(ConsumerRecord::decode(kind, key, value).unwrap(), r);
        }

        #[test]
        fn garbage_never_panics(kind in 3i16..9, key in proptest::collection::vec(any::<u8>(), 0..40), value in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = ConsumerRecord::decode(kind, Bytes::from(key), Some(Bytes::from(value)));
        }
    }

    #[test]
    fn reads_kafkas_current_assignment_bytes() {
        // ConsumerGroupCurrentMemberAssignmentValue v0 as Kafka's generated code writes it:
        // epoch 5, previous 4, state 0, one topic with partitions [1], no revocations.
        let topic = Uuid::from_u128(7);
        let mut v = BytesMut::new();
        v.put_i16(0);
        v.put_i32(5);
        v.put_i32(4);
        v.put_i8(0);
        v.put_u8(2);
        v.put_slice(topic.as_bytes());
        v.put_u8(2);
        v.put_i32(1);
        v.put_u8(0);
        v.put_u8(1);
        v.put_u8(0);
        let mut key = BytesMut::new();
        put_key_str(&mut key, "g");
        put_key_str(&mut key, "m");
        let r = ConsumerRecord::decode(8, key.freeze(), Some(v.freeze())).unwrap();
        let ConsumerRecord::CurrentAssignment(_, m, Some(c)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(m, "m");
        assert_eq!((c.member_epoch, c.previous_member_epoch), (5, 4));
        assert_eq!(c.assigned, [(topic, [1].into())].into());
    }
}
