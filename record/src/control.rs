//! Control batches: transaction markers and the like, never handed to applications; Kafka's
//! `ControlRecordType` and `RecordBatch.isControlBatch`.
//!
//! A control batch has attributes bit 5 set (see [`crate::BatchHeader::is_control`]) and holds
//! one record whose key is `version i16 | type i16` (big-endian). For transaction markers the
//! value is `version i16 | coordinatorEpoch i32` (Kafka's `EndTransactionMarker`).

use crate::batch::{
    write_crc, write_header, BatchHeader, CONTROL_FLAG, HEADER_SIZE, TRANSACTIONAL_FLAG,
};
use crate::record::{records, write_record};

/// The type in a control record's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlRecordType {
    /// 0: a transaction aborted.
    Abort,
    /// 1: a transaction committed.
    Commit,
    /// 2: a KRaft leader change.
    LeaderChange,
    /// Any other type: Kafka reads these as UNKNOWN and skips them.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type of the control record whose key is `key`; `None` for a key shorter than 4 bytes
    /// or with a negative version (Kafka's `InvalidRecordException`).
    pub fn parse(key: &[u8]) -> Option<ControlRecordType> {
        let [v0, v1, t0, t1, ..] = *key else {
            return None;
        };
        if i16::from_be_bytes([v0, v1]) < 0 {
            return None;
        }
        Some(match i16::from_be_bytes([t0, t1]) {
            0 => ControlRecordType::Abort,
            1 => ControlRecordType::Commit,
            2 => ControlRecordType::LeaderChange,
            other => ControlRecordType::Unknown(other),
        })
    }

    /// The key of a version-0 control record of this type.
    pub fn key(self) -> [u8; 4] {
        let id: i16 = match self {
            ControlRecordType::Abort => 0,
            ControlRecordType::Commit => 1,
            ControlRecordType::LeaderChange => 2,
            ControlRecordType::Unknown(id) => id,
        };
        let mut key = [0u8; 4];
        key[2..].copy_from_slice(&id.to_be_bytes());
        key
    }
}

/// How a transaction ended, as its control batch says (Kafka's `TransactionResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnResult {
    /// The transaction's records are visible to read_committed readers.
    Commit,
    /// The transaction's records are skipped by read_committed readers.
    Abort,
}

impl TxnResult {
    /// The control record type of this result's marker.
    pub fn control_type(self) -> ControlRecordType {
        match self {
            TxnResult::Commit => ControlRecordType::Commit,
            TxnResult::Abort => ControlRecordType::Abort,
        }
    }
}

/// A transaction marker: the one record of a commit or abort control batch (Kafka's
/// `EndTransactionMarker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnMarker {
    /// Commit or abort.
    pub result: TxnResult,
    /// The epoch of the coordinator that wrote it (a zombie coordinator's marker is fenced).
    pub coordinator_epoch: i32,
}

/// Version of the marker value written (Kafka's `EndTransactionMarker.CURRENT_END_TXN_MARKER_VERSION`).
const END_TXN_MARKER_VERSION: i16 = 0;

impl EndTxnMarker {
    /// The marker of a control batch (`batch` starts with the batch `header` describes):
    /// `None` for a batch that is not a control batch, holds no record (the cleaner emptied
    /// it), is not a commit or abort, or is malformed.
    pub fn parse(batch: &[u8], header: &BatchHeader) -> Option<EndTxnMarker> {
        if !header.is_control() {
            return None;
        }
        let record = records(batch, header).ok()?.next()?.ok()?;
        let (key, value) = record.key_value().ok()?;
        let result = match ControlRecordType::parse(key?)? {
            ControlRecordType::Abort => TxnResult::Abort,
            ControlRecordType::Commit => TxnResult::Commit,
            _ => return None,
        };
        let value = value?;
        let [v0, v1, e0, e1, e2, e3, ..] = *value else {
            return None;
        };
        if i16::from_be_bytes([v0, v1]) < 0 {
            return None;
        }
        Some(EndTxnMarker {
            result,
            coordinator_epoch: i32::from_be_bytes([e0, e1, e2, e3]),
        })
    }

    /// The control batch carrying this marker for `producer_id` at `producer_epoch`, stamped
    /// `timestamp`, at base offset 0 (the log assigns the offset): transactional and control,
    /// uncompressed, no sequence, as Kafka's `MemoryRecords.withEndTransactionMarker` builds it.
    pub fn batch(self, producer_id: i64, producer_epoch: i16, timestamp: i64) -> Vec<u8> {
        let mut value = Vec::with_capacity(6);
        value.extend_from_slice(&END_TXN_MARKER_VERSION.to_be_bytes());
        value.extend_from_slice(&self.coordinator_epoch.to_be_bytes());
        let mut body = Vec::new();
        write_record(
            &mut body,
            0,
            0,
            Some(&self.result.control_type().key()),
            Some(&value),
        );
        let header = BatchHeader {
            base_offset: 0,
            size: HEADER_SIZE + body.len(),
            partition_leader_epoch: 0,
            crc: 0,
            attributes: TRANSACTIONAL_FLAG | CONTROL_FLAG,
            last_offset_delta: 0,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            producer_id,
            producer_epoch,
            base_sequence: -1,
            record_count: 1,
        };
        let mut b = Vec::with_capacity(header.size);
        write_header(&mut b, &header);
        b.extend_from_slice(&body);
        write_crc(&mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip() {
        for result in [TxnResult::Commit, TxnResult::Abort] {
            let marker = EndTxnMarker {
                result,
                coordinator_epoch: 7,
            };
            let b = marker.batch(42, 3, 1_000);
            let h = crate::batch::parse_and_verify(&b).unwrap();
            assert!(h.is_control() && h.is_transactional());
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, -1)
            );
            assert_eq!(EndTxnMarker::parse(&b, &h), Some(marker));
        }
        let data = crate::builder::encode_records(0, &[(Some(b"k"), Some(b"v"))]);
        let h = crate::batch::parse_header(&data).unwrap();
        assert_eq!(EndTxnMarker::parse(&data, &h), None);
    }

    #[test]
    fn keys_round_trip_and_bad_keys_are_refused() {
        for t in [
            ControlRecordType::Abort,
            ControlRecordType::Commit,
            ControlRecordType::LeaderChange,
            ControlRecordType::Unknown(9),
        ] {
            assert_eq!(ControlRecordType::parse(&t.key()), Some(t));
        }
        assert_eq!(ControlRecordType::parse(&[0, 0, 0]), None);
        assert_eq!(ControlRecordType::parse(&[0xff, 0xff, 0, 1]), None);
    }
}
