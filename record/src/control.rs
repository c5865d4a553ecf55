//! Control batches: transaction markers and the like, never handed to applications; Kafka's
//! `ControlRecordType` and `RecordBatch.isControlBatch`.
//!
//! A control batch has attributes bit 5 set (see [`crate::BatchHeader::is_control`]) and holds
//! one record whose key is `version i16 | type i16` (big-endian). For transaction markers the
//! value is `version i16 | coordinatorEpoch i32`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
