//! Helpers the fuzz entry points of the protocol and storage crates share
//! (`protocol/src/fuzzing.rs`, `storage/src/fuzzing.rs`).

use crate::batch::{write_crc, HEADER_SIZE, LENGTH, LOG_OVERHEAD};

/// `data` with the CRC of its first batch recomputed, when its length field fits the input: so
/// a fuzzer gets past the checksum to the fields behind it.
pub fn with_valid_crc(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < HEADER_SIZE {
        return None;
    }
    let length = i32::from_be_bytes(data[LENGTH..LENGTH + 4].try_into().ok()?);
    let size = LOG_OVERHEAD.checked_add(usize::try_from(length).ok()?)?;
    if size < HEADER_SIZE || size > data.len() {
        return None;
    }
    let mut fixed = data.to_vec();
    write_crc(&mut fixed[..size]);
    Some(fixed)
}
