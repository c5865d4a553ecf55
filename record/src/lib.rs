//! Kafka's v2 record format, shared by the protocol crate (produced batches, the coordinator's
//! records) and the storage crate (recovery, timestamp lookups); Kafka's
//! `org.apache.kafka.common.record`. Pure functions over byte slices: no I/O, and no panic on
//! any bytes a client or a disk can hold.
//!
//! Nothing here decompresses: appends never need to (offsets are assigned by rewriting the base
//! offset, which the CRC does not cover), and records are read only from uncompressed batches.
//! Decompression will come with the log cleaner, its only user.

pub mod batch;
pub mod builder;
pub mod control;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod record;
pub mod varint;

pub use batch::{BatchHeader, Compression, TimestampType};
pub use builder::{encode_records, BatchBuilder};
pub use control::ControlRecordType;
pub use error::BatchError;
pub use record::{decode_records, OwnedRecord, Record, RecordRef, Records};
