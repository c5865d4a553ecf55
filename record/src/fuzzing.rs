//! Helpers the fuzz entry points of the protocol and storage crates share
//! (`protocol/src/fuzzing.rs`, `storage/src/fuzzing.rs`), and the entry point of the cleaner's
//! fuzz target (decompression, any-codec records, rebuilding).

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

/// The log cleaner's view of a batch, for `fuzz/fuzz_targets/cleaner.rs` (and, on stable Rust,
/// `record/tests/fuzz_corpus.rs`). Must return without panicking for any input. The first byte
/// picks a codec for a bare [`crate::compression::decompress`] of the rest, whose limit must
/// hold; then the input (and a copy with its CRC made right) is read as a batch of any codec,
/// every other readable record kept and the batch rebuilt, which must read back the same.
pub fn cleaner(data: &[u8]) {
    use crate::batch::{parse_and_verify, parse_header};
    use crate::compression::decompress;
    use crate::record::batch_records;
    use crate::{rebuild, Compression};

    const LIMIT: usize = 1 << 20;
    if let Some((first, rest)) = data.split_first() {
        let codec = Compression::from_id(i16::from(first % 5)).unwrap_or(Compression::None);
        if let Ok(out) = decompress(codec, rest, 4096) {
            assert!(out.len() <= 4096, "limit exceeded");
        }
    }
    for batch in [Some(data.to_vec()), with_valid_crc(data)]
        .into_iter()
        .flatten()
    {
        let Ok(header) = parse_header(&batch) else {
            continue;
        };
        let Ok(section) = batch_records(&batch, &header, LIMIT) else {
            continue;
        };
        assert!(section.bytes().len() <= LIMIT, "limit exceeded");
        let kept: Vec<_> = section
            .iter()
            .map_while(Result::ok)
            .filter(|r| r.key_value().is_ok())
            .step_by(2)
            .collect();
        let horizon = (header.base_timestamp % 2 == 0).then_some(header.max_timestamp);
        let rebuilt = rebuild::rebuild_batch(&header, &kept, horizon).expect("codec was readable");
        let new = parse_and_verify(&rebuilt).expect("a rebuilt batch is valid");
        let again = batch_records(&rebuilt, &new, usize::MAX).expect("a rebuilt batch reads");
        let read: Vec<_> = again
            .iter()
            .collect::<Result<_, _>>()
            .expect("its records read");
        assert_eq!(read.len(), kept.len());
        for (a, b) in read.iter().zip(&kept) {
            assert_eq!(a.offset_delta, b.offset_delta);
            assert_eq!(a.timestamp_in(&new), b.timestamp_in(&header));
            assert_eq!(a.key_value(), b.key_value());
            assert_eq!(a.headers(), b.headers());
        }
        assert!(parse_and_verify(&rebuild::empty_batch(&header)).is_ok());
    }
}
