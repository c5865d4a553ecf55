//! Kafka's v2 record format, shared by the protocol crate (produced batches, the coordinator's
//! records) and the storage crate (recovery, timestamp lookups); Kafka's
//! `org.apache.kafka.common.record`. Pure functions over byte slices: no I/O, and no panic on
//! any bytes a client or a disk can hold.
//!
//! Decompression is for the log cleaner only: appends never need it (offsets are assigned by
//! rewriting the base offset, which the CRC does not cover), fetches serve batches as stored,
//! and the broker reads records only from its own uncompressed internal batches. The cleaner
//! reads a compressed batch with [`record::batch_records`] ([`compression`] underneath) and
//! writes what it keeps with [`rebuild::rebuild_batch`]; nothing else calls them.

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod rebuild;
pub mod record;
pub mod varint;

pub use batch::{BatchHeader, Compression, TimestampType};
pub use builder::{encode_records, BatchBuilder};
pub use compression::CompressionError;
pub use control::{ControlRecordType, EndTxnMarker, TxnResult};
pub use error::BatchError;
pub use rebuild::{empty_batch, rebuild_batch};
pub use record::{
    batch_records, decode_records, BatchRecords, OwnedRecord, Record, RecordRef, Records,
};
