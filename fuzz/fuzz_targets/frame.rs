//! Length-prefixed framing, fed in chunks, each whole frame decoded as a request.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gregor_protocol::fuzzing::frames(data));
