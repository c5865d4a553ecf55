//! Committed offsets, and the records that make them durable in the internal
//! `__consumer_offsets` log.
//!
//! Record format (our own, versioned; one log record per committed partition):
//! key = `u16 version=1 | u16 len | group | u16 len | topic | i32 partition`, value =
//! `u16 version=1 | i64 offset | i32 leader epoch | i64 commit time | u16 len | metadata`, or no
//! value (a tombstone) when the offset was deleted. Replaying the log in order and keeping the
//! last value per key rebuilds the store.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Next offset to consume.
    pub offset: i64,
    /// Leader epoch the client saw, or -1.
    pub leader_epoch: i32,
    /// Client-supplied metadata string.
    pub metadata: String,
    /// When it was committed.
    pub commit_time_ms: i64,
}

/// (group, topic, partition).
pub type OffsetKey = (String, String, i32);

/// Every committed offset.
#[derive(Debug, Default)]
pub struct OffsetStore {
    offsets: BTreeMap<OffsetKey, CommittedOffset>,
}

impl OffsetStore {
    /// Sets or (with `None`) deletes an offset.
    pub fn apply(&mut self, key: OffsetKey, value: Option<CommittedOffset>) {
        match value {
            Some(v) => {
                self.offsets.insert(key, v);
            }
            None => {
                self.offsets.remove(&key);
            }
        }
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets
            .get(&(group.to_string(), topic.to_string(), partition))
    }

    /// Every committed partition of `group`.
    pub fn of_group<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = (&'a str, i32, &'a CommittedOffset)> + 'a {
        self.offsets
            .iter()
            .filter(move |((g, _, _), _)| g == group)
            .map(|((_, t, p), v)| (t.as_str(), *p, v))
    }

    /// Whether `group` has any committed offset.
    pub fn has_group(&self, group: &str) -> bool {
        self.of_group(group).next().is_some()
    }

    /// The keys of every offset of `group`.
    pub fn keys_of_group(&self, group: &str) -> Vec<OffsetKey> {
        self.offsets
            .keys()
            .filter(|(g, _, _)| g == group)
            .cloned()
            .collect()
    }

    /// Every offset, for a snapshot.
    pub fn all(&self) -> impl Iterator<Item = (&OffsetKey, &CommittedOffset)> {
        self.offsets.iter()
    }

    /// Number of committed partitions.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether nothing is committed.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

fn put_str(buf: &mut BytesMut, s: &str) {
    let bytes = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    buf.put_u16(bytes.len() as u16);
    buf.put_slice(bytes);
}

fn get_str(buf: &mut Bytes) -> Option<String> {
    if buf.remaining() < 2 {
        return None;
    }
    let len = buf.get_u16() as usize;
    if buf.remaining() < len {
        return None;
    }
    String::from_utf8(buf.split_to(len).to_vec()).ok()
}

/// Encodes the key of an offset record.
pub fn encode_key(key: &OffsetKey) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u16(1);
    put_str(&mut buf, &key.0);
    put_str(&mut buf, &key.1);
    buf.put_i32(key.2);
    buf.freeze()
}

/// Encodes the value of an offset record.
pub fn encode_value(value: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u16(1);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    buf.put_i64(value.commit_time_ms);
    put_str(&mut buf, &value.metadata);
    buf.freeze()
}

/// Decodes a key; `None` for records of another kind or version (skipped on replay).
pub fn decode_key(mut buf: Bytes) -> Option<OffsetKey> {
    if buf.remaining() < 2 || buf.get_u16() != 1 {
        return None;
    }
    let group = get_str(&mut buf)?;
    let topic = get_str(&mut buf)?;
    if buf.remaining() < 4 {
        return None;
    }
    Some((group, topic, buf.get_i32()))
}

/// Decodes a value.
pub fn decode_value(mut buf: Bytes) -> Option<CommittedOffset> {
    if buf.remaining() < 22 || buf.get_u16() != 1 {
        return None;
    }
    let offset = buf.get_i64();
    let leader_epoch = buf.get_i32();
    let commit_time_ms = buf.get_i64();
    let metadata = get_str(&mut buf)?;
    Some(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_time_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn records_round_trip(group in ".{0,20}", topic in "[a-z]{1,10}", partition in any::<i32>(), offset in any::<i64>(), epoch in any::<i32>(), meta in ".{0,30}", ts in any::<i64>()) {
            let key = (group, topic, partition);
            prop_assert_eq!(decode_key(encode_key(&key)), Some(key));
            let value = CommittedOffset { offset, leader_epoch: epoch, metadata: meta, commit_time_ms: ts };
            prop_assert_eq!(decode_value(encode_value(&value)), Some(value));
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_key(Bytes::from(bytes.clone()));
            let _ = decode_value(Bytes::from(bytes));
        }
    }
}
