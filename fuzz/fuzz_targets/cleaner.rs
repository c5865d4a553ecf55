//! The log cleaner's reading and writing of batches: bounded decompression of every codec,
//! records of any codec, and rebuilt batches that must read back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gregor_record::fuzzing::cleaner(data);
});
