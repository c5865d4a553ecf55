//! Building uncompressed v2 batches: the broker's own internal records, and test batches;
//! Kafka's `MemoryRecordsBuilder` (without compression).

use crate::batch::{write_crc, write_header, BatchHeader, HEADER_SIZE};
use crate::record::{write_record, RecordRef};

/// Collects records and writes them as one uncompressed v2 batch at base offset 0, with no
/// producer (id, epoch and sequence -1) and no headers; the log assigns the offset.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    base_timestamp: i64,
    max_timestamp: i64,
    count: i32,
    /// The records, length-prefixed, as they follow the header.
    body: Vec<u8>,
}

impl BatchBuilder {
    /// An empty batch whose records' timestamps are written relative to `base_timestamp`.
    pub fn new(base_timestamp: i64) -> BatchBuilder {
        BatchBuilder {
            base_timestamp,
            max_timestamp: base_timestamp,
            count: 0,
            body: Vec::new(),
        }
    }

    /// Adds a record at the next offset.
    pub fn append(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        let delta = timestamp.wrapping_sub(self.base_timestamp);
        write_record(&mut self.body, delta, i64::from(self.count), key, value);
        self.max_timestamp = self.max_timestamp.max(timestamp);
        self.count += 1;
    }

    /// The batch, CRC and all.
    pub fn build(self) -> Vec<u8> {
        let header = BatchHeader {
            base_offset: 0,
            size: HEADER_SIZE + self.body.len(),
            partition_leader_epoch: 0,
            crc: 0,
            attributes: 0,
            last_offset_delta: (self.count - 1).max(0),
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            record_count: self.count,
        };
        let mut b = Vec::with_capacity(header.size);
        write_header(&mut b, &header);
        b.extend_from_slice(&self.body);
        write_crc(&mut b);
        b
    }
}

/// One uncompressed batch of key/value records, all at `timestamp` (no headers, no producer),
/// for the broker's own internal logs.
pub fn encode_records(timestamp: i64, records: &[RecordRef<'_>]) -> Vec<u8> {
    let mut builder = BatchBuilder::new(timestamp);
    for (key, value) in records {
        builder.append(timestamp, *key, *value);
    }
    builder.build()
}
