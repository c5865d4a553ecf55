//! Request header and body decoding for every API the broker accepts, with the preflight walk
//! held to kafka-protocol's decoders.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gregor_protocol::fuzzing::request(data));
