//! The storage side of the record-batch fuzz target (`fuzz/fuzz_targets/record_batch.rs`), also
//! run on stable Rust by `storage/tests/fuzz_corpus.rs` over the committed corpus: the batch
//! views recovery and timestamp lookups use, on arbitrary bytes, as they are and with the CRC of
//! the first batch made right (so the fuzzer reaches the fields behind it).

use crate::batch;
use gregor_record::fuzzing::with_valid_crc;

/// Must return without panicking for any input.
pub fn batches(data: &[u8]) {
    view(data);
    let Some(fixed) = with_valid_crc(data) else {
        return;
    };
    view(&fixed);
    if let Ok(header) = batch::parse_header(&fixed) {
        let verified = batch::parse_and_verify(&fixed).expect("CRC made right, yet refused");
        assert_eq!(verified, header);
    }
}

fn view(data: &[u8]) {
    let _ = batch::parse_and_verify(data);
    let mut end = 0;
    for entry in batch::headers(data) {
        let Ok((at, header)) = entry else {
            break;
        };
        assert_eq!(at, end, "batches are contiguous");
        assert!(header.next_offset() >= header.base_offset);
        end = at + header.size;
        assert!(end <= data.len());
        let batch = &data[at..end];
        for target in [i64::MIN, 0, header.max_timestamp] {
            if let Some((_, offset)) = batch::first_offset_at_or_after(batch, target, 0) {
                assert!(
                    (header.base_offset..=header.last_offset()).contains(&offset),
                    "offset {offset} outside its batch {header:?}"
                );
            }
        }
    }
}
