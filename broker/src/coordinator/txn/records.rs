//! The records of `__transaction_state`, in Apache Kafka's schemas (transaction-coordinator's
//! `TransactionLogKey` and `TransactionLogValue` message specs), so Kafka's
//! `TransactionLogMessageFormatter` reads the log Gregor writes and Gregor reads Kafka's.
//!
//! Key: `version i16 (0) | transactional id (i16 length, UTF-8)`. Value: `version i16`, then
//! version 0: `producer id i64 | epoch i16 | timeout ms i32 | status i8 | partitions (i32 count,
//! -1 for null; each topic string and i32-counted partition ids) | last update ms i64 | start
//! ms i64`; version 1 (flexible, what Kafka writes from `transaction.version` 1, as Gregor
//! does): the same fields with compact strings and arrays, each struct ending in tagged fields,
//! and tags 0 previous producer id, 1 next producer id, 2 client transaction version. A record
//! without a value is a tombstone: the id expired. Partitions are null in state Empty, as
//! Kafka writes them.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use gregor_protocol::record_batch::{encode_records, RecordRef};

use super::metadata::{TransactionMetadata, TransactionState, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
use crate::coordinator::records::RecordError;

/// One record of `__transaction_state`: an id's metadata, or (None) its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The transactional id.
    pub transactional_id: String,
    /// Its metadata from now on; `None` for a tombstone.
    pub value: Option<TransactionMetadata>,
}

const KEY_VERSION: i16 = 0;
/// The value version Gregor writes (Kafka's at `transaction.version` 1).
const VALUE_VERSION: i16 = 1;

impl TxnRecord {
    /// Key and value bytes, as Kafka writes them.
    pub fn encode(&self) -> (Bytes, Option<Bytes>) {
        let mut key = BytesMut::new();
        key.put_i16(KEY_VERSION);
        put_str(&mut key, &self.transactional_id);
        (key.freeze(), self.value.as_ref().map(encode_value))
    }

    /// Reads a record; `Ok(None)` for a key version Kafka does not know either (skipped, as
    /// Kafka's loader skips an `UnknownKey`).
    pub fn decode(mut key: Bytes, value: Option<Bytes>) -> Result<Option<TxnRecord>, RecordError> {
        let what = "TransactionLogKey";
        let version = get_i16(&mut key, what)?;
        if version != KEY_VERSION {
            return Ok(None);
        }
        let transactional_id = get_str(&mut key, what)?;
        let value = value.map(decode_value).transpose()?;
        Ok(Some(TxnRecord {
            transactional_id,
            value,
        }))
    }
}

/// Records as one uncompressed v2 batch stamped `timestamp`; `None` for none.
pub fn encode_batch(records: &[TxnRecord], timestamp: i64) -> Option<Vec<u8>> {
    if records.is_empty() {
        return None;
    }
    let encoded: Vec<(Bytes, Option<Bytes>)> = records.iter().map(TxnRecord::encode).collect();
    let refs: Vec<RecordRef<'_>> = encoded
        .iter()
        .map(|(k, v)| (Some(&k[..]), v.as_deref()))
        .collect();
    Some(encode_records(timestamp, &refs))
}

/// The partitions grouped by topic, in order.
fn by_topic(m: &TransactionMetadata) -> Vec<(&str, Vec<i32>)> {
    let mut out: Vec<(&str, Vec<i32>)> = Vec::new();
    for (topic, partition) in &m.partitions {
        match out.last_mut() {
            Some((t, ps)) if *t == topic.as_str() => ps.push(*partition),
            _ => out.push((topic.as_str(), vec![*partition])),
        }
    }
    out
}

fn encode_value(m: &TransactionMetadata) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i16(VALUE_VERSION);
    b.put_i64(m.producer_id);
    b.put_i16(m.producer_epoch);
    b.put_i32(m.timeout_ms);
    b.put_i8(m.state.id());
    if m.state == TransactionState::Empty {
        put_uvarint(&mut b, 0); // null
    } else {
        let topics = by_topic(m);
        put_uvarint(&mut b, topics.len() as u64 + 1);
        for (topic, partitions) in topics {
            put_compact_str(&mut b, topic);
            put_uvarint(&mut b, partitions.len() as u64 + 1);
            for p in partitions {
                b.put_i32(p);
            }
            put_uvarint(&mut b, 0); // no tagged fields
        }
    }
    b.put_i64(m.last_update_ms);
    b.put_i64(m.start_ms);
    // Tagged fields, in tag order, each only when it differs from its default.
    let mut tags: Vec<(u64, Vec<u8>)> = Vec::new();
    if m.previous_producer_id != NO_PRODUCER_ID {
        tags.push((0, m.previous_producer_id.to_be_bytes().to_vec()));
    }
    if m.next_producer_id != NO_PRODUCER_ID {
        tags.push((1, m.next_producer_id.to_be_bytes().to_vec()));
    }
    if m.client_transaction_version != 0 {
        tags.push((2, m.client_transaction_version.to_be_bytes().to_vec()));
    }
    put_uvarint(&mut b, tags.len() as u64);
    for (tag, data) in tags {
        put_uvarint(&mut b, tag);
        put_uvarint(&mut b, data.len() as u64);
        b.put_slice(&data);
    }
    b.freeze()
}

fn decode_value(mut b: Bytes) -> Result<TransactionMetadata, RecordError> {
    let what = "TransactionLogValue";
    let version = get_i16(&mut b, what)?;
    if !(0..=1).contains(&version) {
        return Err(RecordError::UnknownVersion { what, version });
    }
    let flexible = version >= 1;
    let producer_id = get_i64(&mut b, what)?;
    let producer_epoch = get_i16(&mut b, what)?;
    let timeout_ms = get_i32(&mut b, what)?;
    let status = get_i8(&mut b, what)?;
    let state = TransactionState::from_id(status).ok_or_else(|| malformed(what, "status"))?;
    let count = if flexible {
        get_uvarint(&mut b, what)? as i64 - 1
    } else {
        i64::from(get_i32(&mut b, what)?)
    };
    let mut partitions = std::collections::BTreeSet::new();
    for _ in 0..count.max(0) {
        let topic = if flexible {
            get_compact_str(&mut b, what)?
        } else {
            get_str(&mut b, what)?
        };
        let n = if flexible {
            get_uvarint(&mut b, what)? as i64 - 1
        } else {
            i64::from(get_i32(&mut b, what)?)
        };
        for _ in 0..n.max(0) {
            partitions.insert((topic.clone(), get_i32(&mut b, what)?));
        }
        if flexible {
            skip_tags(&mut b, what, |_, _| Ok(()))?;
        }
    }
    let last_update_ms = get_i64(&mut b, what)?;
    let start_ms = get_i64(&mut b, what)?;
    let mut m = TransactionMetadata {
        producer_id,
        previous_producer_id: NO_PRODUCER_ID,
        next_producer_id: NO_PRODUCER_ID,
        producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
        client_transaction_version: 0,
    };
    if flexible {
        skip_tags(&mut b, what, |tag, mut data| {
            match tag {
                0 => m.previous_producer_id = get_i64(&mut data, what)?,
                1 => m.next_producer_id = get_i64(&mut data, what)?,
                2 => m.client_transaction_version = get_i16(&mut data, what)?,
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(m)
}

fn malformed(what: &'static str, cause: &str) -> RecordError {
    RecordError::Malformed {
        what,
        cause: cause.to_string(),
    }
}

fn need(b: &Bytes, n: usize, what: &'static str) -> Result<(), RecordError> {
    if b.remaining() < n {
        return Err(malformed(what, "too short"));
    }
    Ok(())
}

fn get_i8(b: &mut Bytes, what: &'static str) -> Result<i8, RecordError> {
    need(b, 1, what)?;
    Ok(b.get_i8())
}
fn get_i16(b: &mut Bytes, what: &'static str) -> Result<i16, RecordError> {
    need(b, 2, what)?;
    Ok(b.get_i16())
}
fn get_i32(b: &mut Bytes, what: &'static str) -> Result<i32, RecordError> {
    need(b, 4, what)?;
    Ok(b.get_i32())
}
fn get_i64(b: &mut Bytes, what: &'static str) -> Result<i64, RecordError> {
    need(b, 8, what)?;
    Ok(b.get_i64())
}

fn get_uvarint(b: &mut Bytes, what: &'static str) -> Result<u64, RecordError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        need(b, 1, what)?;
        let byte = b.get_u8();
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(malformed(what, "varint too long"))
}

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

fn put_str(b: &mut BytesMut, s: &str) {
    b.put_i16(s.len() as i16);
    b.put_slice(s.as_bytes());
}

fn put_compact_str(b: &mut BytesMut, s: &str) {
    put_uvarint(b, s.len() as u64 + 1);
    b.put_slice(s.as_bytes());
}

fn take_utf8(b: &mut Bytes, len: usize, what: &'static str) -> Result<String, RecordError> {
    need(b, len, what)?;
    String::from_utf8(b.split_to(len).to_vec()).map_err(|_| malformed(what, "string not UTF-8"))
}

fn get_str(b: &mut Bytes, what: &'static str) -> Result<String, RecordError> {
    let len = get_i16(b, what)?;
    let len = usize::try_from(len).map_err(|_| malformed(what, "null string"))?;
    take_utf8(b, len, what)
}

fn get_compact_str(b: &mut Bytes, what: &'static str) -> Result<String, RecordError> {
    let len = get_uvarint(b, what)?;
    let len = usize::try_from(
        len.checked_sub(1)
            .ok_or_else(|| malformed(what, "null string"))?,
    )
    .map_err(|_| malformed(what, "string too long"))?;
    take_utf8(b, len, what)
}

/// Reads a tagged-field section, handing each field to `field`.
fn skip_tags(
    b: &mut Bytes,
    what: &'static str,
    mut field: impl FnMut(u64, Bytes) -> Result<(), RecordError>,
) -> Result<(), RecordError> {
    let n = get_uvarint(b, what)?;
    for _ in 0..n {
        let tag = get_uvarint(b, what)?;
        let len = get_uvarint(b, what)? as usize;
        need(b, len, what)?;
        field(tag, b.split_to(len))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(state: TransactionState) -> TransactionMetadata {
        let mut m = TransactionMetadata::new(42, 60_000, 1_000);
        m.producer_epoch = 3;
        m.state = state;
        if state != TransactionState::Empty {
            m.partitions.insert(("a".into(), 0));
            m.partitions.insert(("a".into(), 2));
            m.partitions.insert(("b".into(), 1));
            m.start_ms = 900;
        }
        m.previous_producer_id = 41;
        m.client_transaction_version = 2;
        m
    }

    #[test]
    fn records_round_trip_in_every_state() {
        for state in TransactionState::ALL {
            let record = TxnRecord {
                transactional_id: "tx".into(),
                value: Some(metadata(state)),
            };
            let (k, v) = record.encode();
            assert_eq!(TxnRecord::decode(k, v).unwrap(), Some(record));
        }
        let tombstone = TxnRecord {
            transactional_id: "tx".into(),
            value: None,
        };
        let (k, v) = tombstone.encode();
        assert_eq!(TxnRecord::decode(k, v).unwrap(), Some(tombstone));
    }

    #[test]
    fn a_version_0_value_as_older_kafkas_write_it_is_read() {
        let mut b = BytesMut::new();
        b.put_i16(0);
        b.put_i64(7);
        b.put_i16(1);
        b.put_i32(60_000);
        b.put_i8(1); // Ongoing
        b.put_i32(1);
        put_str(&mut b, "t");
        b.put_i32(2);
        b.put_i32(0);
        b.put_i32(1);
        b.put_i64(2_000);
        b.put_i64(1_500);
        let m = decode_value(b.freeze()).unwrap();
        assert_eq!(m.state, TransactionState::Ongoing);
        assert_eq!(m.producer_id, 7);
        assert_eq!(
            m.partitions.into_iter().collect::<Vec<_>>(),
            vec![("t".to_string(), 0), ("t".to_string(), 1)]
        );
        assert_eq!((m.start_ms, m.last_update_ms), (1_500, 2_000));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut key = BytesMut::new();
        key.put_i16(0);
        put_str(&mut key, "tx");
        for cut in 0..20 {
            let (_, v) = TxnRecord {
                transactional_id: "tx".into(),
                value: Some(metadata(TransactionState::Ongoing)),
            }
            .encode();
            let v = v.unwrap().slice(..cut);
            assert!(TxnRecord::decode(key.clone().freeze(), Some(v)).is_err());
        }
    }
}
