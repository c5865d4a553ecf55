//! Entry points for the cargo-fuzz targets in `fuzz/` and for the stable tests that replay their
//! corpus (`protocol/tests/fuzz_corpus.rs`), so both drive exactly the same code. Each takes
//! arbitrary bytes and must return without panicking, aborting or allocating more than a small
//! multiple of its input; the assertions inside tie the layers to each other.

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use crate::api_versions::ApiTable;
use crate::frame::decode_frame;
use crate::preflight::{check_body, PreflightError};
use crate::request::decode_request;
use gregor_record::batch::{parse_batch, parse_batches, set_log_append_time};
use gregor_record::fuzzing::with_valid_crc;
use gregor_record::{decode_records, BatchError};

/// Frame limits the frame target picks from (the first byte of input chooses).
const FRAME_LIMITS: [usize; 4] = [0, 16, 1024, 64 * 1024];

/// Framing: the input (after two control bytes: chunk size and limit) arrives in chunks; every
/// whole frame is taken off and decoded as a request. Checks that frames never exceed the limit,
/// that no byte is lost or invented, and that a partial frame reserves no more than it announced.
pub fn frames(data: &[u8]) {
    let [chunk, limit, wire @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk % 64) + 1;
    let max = FRAME_LIMITS[usize::from(*limit) % FRAME_LIMITS.len()];
    let table = ApiTable::new(true);
    let mut buf = BytesMut::new();
    let mut taken = 0;
    for piece in wire.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match decode_frame(&mut buf, max) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= max, "frame over the limit");
                    taken += 4 + frame.len();
                    let _ = decode_request(frame, &table);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.capacity() <= 4 * (4 + max + chunk) + 64 * 1024,
            "a partial frame reserved {} bytes with a limit of {max}",
            buf.capacity()
        );
    }
    assert_eq!(taken + buf.len(), wire.len(), "bytes lost or invented");
}

/// One request frame (header and body, no size prefix) through the broker's decoder; then, for
/// an API the broker accepts, the preflight walk against the crate's decoder: whenever the
/// crate decodes a body the walk must accept it and end at the same byte, and a body the walk
/// finds cut short the crate must refuse too.
pub fn request(data: &[u8]) {
    let table = ApiTable::new(true);
    let frame = Bytes::copy_from_slice(data);
    let _ = decode_request(frame.clone(), &table);
    let [k0, k1, v0, v1, ..] = *data else {
        return;
    };
    let (key, version) = (i16::from_be_bytes([k0, k1]), i16::from_be_bytes([v0, v1]));
    let Ok(api) = ApiKey::try_from(key) else {
        return;
    };
    if !table.accepts(api, version) {
        return;
    }
    let mut body = frame;
    if RequestHeader::decode(&mut body, api.request_header_version(version)).is_err() {
        return;
    }
    match check_body(api, version, &body) {
        Ok(walked) => {
            let mut rest = body.clone();
            if RequestKind::decode(api, &mut rest, version).is_ok() {
                assert_eq!(
                    walked,
                    body.len() - rest.remaining(),
                    "{api:?} v{version}: the walk and the decoder end at different bytes"
                );
            }
        }
        Err(PreflightError::Truncated) => {
            // Every count before the cut was checked, so decoding is safe and must fail too.
            let mut rest = body.clone();
            assert!(
                RequestKind::decode(api, &mut rest, version).is_err(),
                "{api:?} v{version}: the walk refused a body the decoder accepts"
            );
        }
        Err(_) => {}
    }
}

/// The record-batch view: parse, decode records, stamp LogAppendTime, on the input as it is and
/// with its CRC made right (so the fuzzer gets past the checksum to the fields behind it).
pub fn batches(data: &[u8]) {
    let _ = parse_batches(data);
    let _ = decode_records(data);
    let mut copy = data.to_vec();
    let _ = set_log_append_time(&mut copy, 1);
    let Some(fixed) = with_valid_crc(data) else {
        return;
    };
    let first = parse_batch(&fixed);
    assert!(
        !matches!(first, Err(BatchError::BadCrc)),
        "CRC still wrong after fixing it"
    );
    let _ = decode_records(&fixed);
    if let Ok(header) = first {
        let mut stamped = fixed[..header.size].to_vec();
        set_log_append_time(&mut stamped, 1234).expect("a valid batch can be stamped");
        let after = parse_batch(&stamped).expect("a stamped batch stays valid");
        assert_eq!(after.max_timestamp, 1234);
        assert_eq!(after.record_count, header.record_count);
    }
}
