//! The record-batch views: the protocol crate's (produced batches, internal records, the
//! LogAppendTime stamp) and the storage crate's (recovery and timestamp lookups).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gregor_protocol::fuzzing::batches(data);
    gregor_storage::fuzzing::batches(data);
});
