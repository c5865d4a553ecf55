//! The records of `__consumer_offsets`, in Apache Kafka's own schemas (group-coordinator's
//! `OffsetCommitKey`/`OffsetCommitValue` and `GroupMetadataKey`/`GroupMetadataValue` message
//! specs), so Kafka's `OffsetsMessageFormatter` and `GroupMetadataMessageFormatter` read the
//! log Gregor writes, and Gregor reads what Kafka's versions write.
//!
//! A record key starts with an int16 record type: 0 and 1 are an offset commit (group, topic,
//! partition), 2 is a group's metadata (group), 3 to 8 a KIP-848 consumer group's records
//! (`group::records`); Kafka's other types (share groups, resolved regexes) are skipped on
//! replay. A value starts with its int16 schema version. Gregor writes what
//! Kafka 4 writes: key type 1, `OffsetCommitValue` v3 and `GroupMetadataValue` v3; it reads
//! versions 0-3. Version 4 (the first flexible one, which no Kafka 4.x writes: KIP-915 keeps
//! them on v3) is refused loudly rather than guessed at. A record without a value is a
//! tombstone.
//!
//! Data dirs of format 1 (before Gregor used Kafka's schemas) hold offset values of Gregor's
//! own layout under version 1 (`i64 offset | i32 leader epoch | i64 commit time | u16 length |
//! metadata`); `Legacy::Format1` reads those instead of Kafka's version 1.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use gregor_protocol::record_batch::{encode_records, RecordRef};

use super::group::records::ConsumerRecord;
use super::offsets::{CommittedOffset, OffsetKey};

/// One member as a group's metadata record keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadata {
    /// Coordinator-given member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
    /// How long a rebalance waits for this member.
    pub rebalance_timeout_ms: i32,
    /// Milliseconds without a heartbeat before the member is removed.
    pub session_timeout_ms: i32,
    /// The member's metadata for the group's protocol.
    pub subscription: Bytes,
    /// The assignment the leader gave it.
    pub assignment: Bytes,
}

/// A classic group as of its last completed rebalance (Kafka's `GroupMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadata {
    /// "consumer" for consumer groups; empty for a group that has only offsets.
    pub protocol_type: String,
    /// The generation the members are in.
    pub generation: i32,
    /// The chosen protocol (assignor).
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// When the group entered its current state (ms since the epoch), or -1.
    pub current_state_timestamp: i64,
    /// Members and their assignments.
    pub members: Vec<MemberMetadata>,
}

/// One record of `__consumer_offsets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoordinatorRecord {
    /// A committed offset, or its deletion.
    Offset(OffsetKey, Option<CommittedOffset>),
    /// A group's metadata, or the group's deletion.
    Group(String, Option<GroupMetadata>),
    /// A KIP-848 consumer group's record (key types 3 to 8).
    Consumer(ConsumerRecord),
}

/// How to read value version 1 of an offset commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// As Kafka's `OffsetCommitValue` v1.
    None,
    /// As Gregor's own layout of data-dir format 1.
    Format1,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The bytes do not follow the schema.
    #[error("malformed {what}: {cause}")]
    Malformed { what: &'static str, cause: String },
    /// A value version newer than any Kafka 4 writes.
    #[error("{what} version {version} is unknown")]
    UnknownVersion { what: &'static str, version: i16 },
}

const OFFSET_COMMIT_KEY: i16 = 1;
const GROUP_METADATA_KEY: i16 = 2;
const OFFSET_COMMIT_VALUE_VERSION: i16 = 3;
const GROUP_METADATA_VALUE_VERSION: i16 = 3;

impl CoordinatorRecord {
    /// The record's key and value bytes, as Kafka 4 writes them.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        match self {
            CoordinatorRecord::Offset((group, topic, partition), value) => {
                key.put_i16(OFFSET_COMMIT_KEY);
                put_str(&mut key, group);
                put_str(&mut key, topic);
                key.put_i32(*partition);
                (key.freeze(), value.as_ref().map(encode_offset_value))
            }
            CoordinatorRecord::Group(group, value) => {
                key.put_i16(GROUP_METADATA_KEY);
                put_str(&mut key, group);
                (key.freeze(), value.as_ref().map(encode_group_value))
            }
            CoordinatorRecord::Consumer(record) => record.encode(),
        }
    }

    /// Reads a record; `Ok(None)` for record types Gregor does not keep (share groups, resolved
    /// regular expressions).
    pub fn decode(
        key: Bytes,
        value: Option<Bytes>,
        legacy: Legacy,
    ) -> Result<Option<CoordinatorRecord>, RecordError> {
        let mut key = key;
        let what = "record key";
        let kind = get_i16(&mut key, what)?;
        match kind {
            0 | 1 => {
                let group = get_str(&mut key, what)?;
                let topic = get_str(&mut key, what)?;
                let partition = get_i32(&mut key, what)?;
                let value = value.map(|v| decode_offset_value(v, legacy)).transpose()?;
                Ok(Some(CoordinatorRecord::Offset(
                    (group, topic, partition),
                    value,
                )))
            }
            2 => {
                let group = get_str(&mut key, what)?;
                let value = value.map(decode_group_value).transpose()?;
                Ok(Some(CoordinatorRecord::Group(group, value)))
            }
            3..=8 => ConsumerRecord::decode(kind, key, value)
                .map(|r| Some(CoordinatorRecord::Consumer(r))),
            _ => Ok(None),
        }
    }
}

/// Records as one uncompressed v2 batch stamped `timestamp`, ready to append; `None` for none.
pub fn encode_batch(records: &[CoordinatorRecord], timestamp: i64) -> Option<Vec<u8>> {
    if records.is_empty() {
        return None;
    }
    let encoded: Vec<(Bytes, Option<Bytes>)> = records.iter().map(|r| r.encode()).collect();
    let refs: Vec<RecordRef<'_>> = encoded
        .iter()
        .map(|(k, v)| (Some(&k[..]), v.as_deref()))
        .collect();
    Some(encode_records(timestamp, &refs))
}

fn encode_offset_value(value: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(OFFSET_COMMIT_VALUE_VERSION);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    put_str(&mut buf, &value.metadata);
    buf.put_i64(value.commit_time_ms);
    buf.freeze()
}

fn decode_offset_value(mut buf: Bytes, legacy: Legacy) -> Result<CommittedOffset, RecordError> {
    let what = "OffsetCommitValue";
    let version = get_i16(&mut buf, what)?;
    if version == 1 && legacy == Legacy::Format1 {
        return decode_format1_offset_value(buf);
    }
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownVersion { what, version });
    }
    let offset = get_i64(&mut buf, what)?;
    let leader_epoch = if version >= 3 {
        get_i32(&mut buf, what)?
    } else {
        -1
    };
    let metadata = get_str(&mut buf, what)?;
    let commit_time_ms = get_i64(&mut buf, what)?;
    if version == 1 {
        // expireTimestamp: Kafka no longer expires offsets by it; retention decides.
        get_i64(&mut buf, what)?;
    }
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_time_ms,
    })
}

/// Gregor's format-1 offset value, after its version.
fn decode_format1_offset_value(mut buf: Bytes) -> Result<CommittedOffset, RecordError> {
    let what = "format-1 offset value";
    let offset = get_i64(&mut buf, what)?;
    let leader_epoch = get_i32(&mut buf, what)?;
    let commit_time_ms = get_i64(&mut buf, what)?;
    let len = buf.try_get_u16().map_err(|e| malformed(what, e))?;
    let metadata = String::from_utf8(take(&mut buf, len as usize, what)?.to_vec())
        .map_err(|e| malformed(what, e))?;
    Ok(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_time_ms,
    })
}

fn encode_group_value(group: &GroupMetadata) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(GROUP_METADATA_VALUE_VERSION);
    put_str(&mut buf, &group.protocol_type);
    buf.put_i32(group.generation);
    put_nullable_str(&mut buf, group.protocol.as_deref());
    put_nullable_str(&mut buf, group.leader.as_deref());
    buf.put_i64(group.current_state_timestamp);
    buf.put_i32(group.members.len() as i32);
    for m in &group.members {
        put_str(&mut buf, &m.member_id);
        put_nullable_str(&mut buf, m.group_instance_id.as_deref());
        put_str(&mut buf, &m.client_id);
        put_str(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

fn decode_group_value(mut buf: Bytes) -> Result<GroupMetadata, RecordError> {
    let what = "GroupMetadataValue";
    let version = get_i16(&mut buf, what)?;
    if !(0..=3).contains(&version) {
        return Err(RecordError::UnknownVersion { what, version });
    }
    let protocol_type = get_str(&mut buf, what)?;
    let generation = get_i32(&mut buf, what)?;
    let protocol = get_nullable_str(&mut buf, what)?;
    let leader = get_nullable_str(&mut buf, what)?;
    let current_state_timestamp = if version >= 2 {
        get_i64(&mut buf, what)?
    } else {
        -1
    };
    let count = usize::try_from(get_i32(&mut buf, what)?).unwrap_or(0);
    // Each member takes at least 20 bytes: a count larger than the bytes left is garbage.
    if count > buf.remaining() / 20 + 1 {
        return Err(malformed(
            what,
            format!("{count} members in {} bytes", buf.remaining()),
        ));
    }
    let mut members = Vec::with_capacity(count);
    for _ in 0..count {
        let member_id = get_str(&mut buf, what)?;
        let group_instance_id = if version >= 3 {
            get_nullable_str(&mut buf, what)?
        } else {
            None
        };
        let client_id = get_str(&mut buf, what)?;
        let client_host = get_str(&mut buf, what)?;
        let rebalance_timeout_ms = if version >= 1 {
            get_i32(&mut buf, what)?
        } else {
            -1
        };
        let session_timeout_ms = get_i32(&mut buf, what)?;
        let subscription = get_bytes(&mut buf, what)?;
        let assignment = get_bytes(&mut buf, what)?;
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout_ms,
            session_timeout_ms,
            subscription,
            assignment,
        });
    }
    Ok(GroupMetadata {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

fn malformed(what: &'static str, cause: impl ToString) -> RecordError {
    RecordError::Malformed {
        what,
        cause: cause.to_string(),
    }
}

// Kafka's strings are at most i16::MAX bytes; the coordinator refuses longer metadata
// (OFFSET_METADATA_TOO_LARGE), and group ids, topic names and client ids are far shorter. A
// longer string is cut at a character boundary rather than written with a wrong length.
fn put_str(buf: &mut BytesMut, s: &str) {
    put_nullable_str(buf, Some(s));
}

fn put_nullable_str(buf: &mut BytesMut, s: Option<&str>) {
    let Some(s) = s else {
        buf.put_i16(-1);
        return;
    };
    let mut len = s.len().min(i16::MAX as usize);
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    buf.put_i16(len as i16);
    buf.put_slice(&s.as_bytes()[..len]);
}

fn put_bytes(buf: &mut BytesMut, b: &Bytes) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

fn get_i16(buf: &mut Bytes, what: &'static str) -> Result<i16, RecordError> {
    buf.try_get_i16().map_err(|e| malformed(what, e))
}

fn get_i32(buf: &mut Bytes, what: &'static str) -> Result<i32, RecordError> {
    buf.try_get_i32().map_err(|e| malformed(what, e))
}

fn get_i64(buf: &mut Bytes, what: &'static str) -> Result<i64, RecordError> {
    buf.try_get_i64().map_err(|e| malformed(what, e))
}

/// `len` bytes, or an error when fewer are left.
fn take(buf: &mut Bytes, len: usize, what: &'static str) -> Result<Bytes, RecordError> {
    if buf.remaining() < len {
        return Err(malformed(
            what,
            format!("{len} bytes announced, {} left", buf.remaining()),
        ));
    }
    Ok(buf.split_to(len))
}

fn get_nullable_str(buf: &mut Bytes, what: &'static str) -> Result<Option<String>, RecordError> {
    let len = get_i16(buf, what)?;
    if len < 0 {
        return Ok(None);
    }
    let bytes = take(buf, len as usize, what)?;
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|e| malformed(what, e))
}

fn get_str(buf: &mut Bytes, what: &'static str) -> Result<String, RecordError> {
    get_nullable_str(buf, what)?.ok_or_else(|| malformed(what, "null string"))
}

fn get_bytes(buf: &mut Bytes, what: &'static str) -> Result<Bytes, RecordError> {
    let len = get_i32(buf, what)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    take(buf, len as usize, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member() -> impl Strategy<Value = MemberMetadata> {
        (
            ".{0,20}",
            proptest::option::of("[a-z]{1,8}"),
            ".{0,12}",
            "/[0-9.]{1,15}",
            any::<i32>(),
            any::<i32>(),
            proptest::collection::vec(any::<u8>(), 0..40),
            proptest::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(
                |(id, instance, client, host, rt, st, sub, asg)| MemberMetadata {
                    member_id: id,
                    group_instance_id: instance,
                    client_id: client,
                    client_host: host,
                    rebalance_timeout_ms: rt,
                    session_timeout_ms: st,
                    subscription: Bytes::from(sub),
                    assignment: Bytes::from(asg),
                },
            )
    }

    fn decode(record: &CoordinatorRecord) -> Option<CoordinatorRecord> {
        let (key, value) = record.encode();
        CoordinatorRecord::decode(key, value, Legacy::None).unwrap()
    }

    proptest! {
        #[test]
        fn offset_records_round_trip(group in ".{0,20}", topic in "[a-z]{1,10}", partition in any::<i32>(), offset in any::<i64>(), epoch in any::<i32>(), meta in ".{0,30}", ts in any::<i64>(), tombstone in any::<bool>()) {
            let value = (!tombstone).then_some(CommittedOffset { offset, leader_epoch: epoch, metadata: meta, commit_time_ms: ts });
            let record = CoordinatorRecord::Offset((group, topic, partition), value);
            prop_assert_eq!(decode(&record), Some(record));
        }

        #[test]
        fn group_records_round_trip(group in ".{1,20}", protocol_type in "(consumer)?", generation in any::<i32>(), protocol in proptest::option::of("[a-z]{1,10}"), leader in proptest::option::of(".{1,10}"), ts in any::<i64>(), members in proptest::collection::vec(member(), 0..4), tombstone in any::<bool>()) {
            let value = (!tombstone).then_some(GroupMetadata { protocol_type, generation, protocol, leader, current_state_timestamp: ts, members });
            let record = CoordinatorRecord::Group(group, value);
            prop_assert_eq!(decode(&record), Some(record));
        }

        #[test]
        fn garbage_never_panics(key in proptest::collection::vec(any::<u8>(), 0..64), value in proptest::collection::vec(any::<u8>(), 0..128)) {
            for legacy in [Legacy::None, Legacy::Format1] {
                let _ = CoordinatorRecord::decode(Bytes::from(key.clone()), Some(Bytes::from(value.clone())), legacy);
            }
        }
    }

    #[test]
    fn reads_kafka_offset_value_versions() {
        let key = CoordinatorRecord::Offset(("g".into(), "t".into(), 0), None)
            .encode()
            .0;
        let value = |version: i16, body: &dyn Fn(&mut BytesMut)| {
            let mut buf = BytesMut::new();
            buf.put_i16(version);
            body(&mut buf);
            buf.freeze()
        };
        let read = |v: Bytes, legacy| match CoordinatorRecord::decode(key.clone(), Some(v), legacy)
        {
            Ok(Some(CoordinatorRecord::Offset(_, Some(c)))) => c,
            other => panic!("{other:?}"),
        };
        // v1 (Kafka): offset, metadata, commit time, expire time.
        let v1 = value(1, &|b| {
            b.put_i64(42);
            put_str(b, "m");
            b.put_i64(1000);
            b.put_i64(-1);
        });
        let c = read(v1, Legacy::None);
        assert_eq!(
            (
                c.offset,
                c.leader_epoch,
                c.metadata.as_str(),
                c.commit_time_ms
            ),
            (42, -1, "m", 1000)
        );
        // v1 of Gregor's format 1: offset, epoch, commit time, u16 length, metadata.
        let legacy = value(1, &|b| {
            b.put_i64(43);
            b.put_i32(5);
            b.put_i64(2000);
            b.put_u16(2);
            b.put_slice(b"md");
        });
        let c = read(legacy, Legacy::Format1);
        assert_eq!(
            (
                c.offset,
                c.leader_epoch,
                c.metadata.as_str(),
                c.commit_time_ms
            ),
            (43, 5, "md", 2000)
        );
        // A version Kafka 4 does not write is an error, not a guess.
        assert!(matches!(
            CoordinatorRecord::decode(key.clone(), Some(value(4, &|b| b.put_i64(1))), Legacy::None),
            Err(RecordError::UnknownVersion { .. })
        ));
    }

    #[test]
    fn other_record_types_are_skipped() {
        let mut key = BytesMut::new();
        key.put_i16(9); // ShareGroupPartitionMetadataKey
        put_str(&mut key, "g");
        assert_eq!(
            CoordinatorRecord::decode(key.freeze(), None, Legacy::None),
            Ok(None)
        );
    }
}
