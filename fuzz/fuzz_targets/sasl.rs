//! The SASL authenticator of a SASL listener before and during authentication: scripts of
//! ApiVersions, SaslHandshake and SaslAuthenticate frames (PLAIN, SCRAM first and final
//! messages, OAUTHBEARER tokens, raw v0 tokens, re-authentication), with its rules checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gregor::fuzzing::sasl_exchange(data);
});
