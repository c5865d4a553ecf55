//! Kept so the broker's `gregor_protocol::record_batch::*` imports compile unchanged: the v2
//! batch view now lives in `gregor-record` (Kafka's `org.apache.kafka.common.record`), shared
//! with the storage crate. New code should import `gregor_record` directly; this module can go
//! once the broker does.

pub use gregor_record::batch::{
    parse_batch, parse_batches, set_log_append_time, BatchHeader, HEADER_SIZE,
};
pub use gregor_record::record::records;
pub use gregor_record::{decode_records, encode_records, BatchError, OwnedRecord, RecordRef};
