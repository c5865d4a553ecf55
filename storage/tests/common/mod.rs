//! Helpers shared by the storage crate's integration tests.

use gregor_storage::batch::parse_and_verify;
use gregor_storage::{LogConfig, PartitionLog};

/// Reads every batch from `from` to the end, `max_bytes` a read, checking each served batch's
/// CRC; returns the bytes served and the offset reached.
pub fn read_checked(log: &PartitionLog, from: i64, max_bytes: usize) -> (Vec<u8>, i64) {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let read = log.read(offset, max_bytes).unwrap();
        if read.records.is_empty() {
            return (out, offset);
        }
        let mut at = 0;
        while at < read.records.len() {
            let h = parse_and_verify(&read.records[at..]).expect("a served batch passes its CRC");
            at += h.size;
            offset = h.next_offset();
        }
        out.extend_from_slice(&read.records);
    }
}

/// Segments of 8 KiB with an index entry every 500 bytes and no retention: many segments
/// from a few hundred small batches.
pub fn small_segments() -> LogConfig {
    LogConfig {
        segment_bytes: 8 * 1024,
        index_interval_bytes: 500,
        retention_ms: -1,
        ..LogConfig::default()
    }
}
