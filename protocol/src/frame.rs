//! Length-prefixed framing: a 4-byte big-endian size, then that many bytes.
//!
//! The size is checked before anything is allocated for the frame, so a client announcing a huge
//! or negative size is refused at the cost of four bytes.

use bytes::{Buf, Bytes, BytesMut};

use crate::error::ProtocolError;

/// Kafka's default `socket.request.max.bytes`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// The size of the frame at the front of `buf`, once its 4-byte prefix has arrived, checked
/// against `max_size`. Allocates nothing, so a caller can reserve memory for the frame (or wait
/// for its turn to) before reading the body.
pub fn frame_size(buf: &[u8], max_size: usize) -> Result<Option<usize>, ProtocolError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes(prefix.try_into().expect("4 bytes"));
    if size < 0 || size as usize > max_size {
        return Err(ProtocolError::FrameSize {
            size: i64::from(size),
            max: max_size,
        });
    }
    Ok(Some(size as usize))
}

/// Takes one whole frame off the front of `buf`, if one is there. When only part of a frame has
/// arrived, reserves room for the rest (size already checked) and returns `None`.
pub fn decode_frame(buf: &mut BytesMut, max_size: usize) -> Result<Option<Bytes>, ProtocolError> {
    let Some(size) = frame_size(buf, max_size)? else {
        return Ok(None);
    };
    if buf.len() < 4 + size {
        buf.reserve(4 + size - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// Prefixes `body` with its size.
pub fn encode_frame(body: &[u8], out: &mut BytesMut) {
    out.reserve(4 + body.len());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn oversized_and_negative_sizes_are_refused_before_allocating() {
        let mut buf = BytesMut::from(&0x7fff_ffffi32.to_be_bytes()[..]);
        let cap = buf.capacity();
        assert!(matches!(
            decode_frame(&mut buf, 1024),
            Err(ProtocolError::FrameSize { .. })
        ));
        assert_eq!(buf.capacity(), cap);
        let mut buf = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(decode_frame(&mut buf, 1024).is_err());
        assert!(frame_size(&(-1i32).to_be_bytes(), 1024).is_err());
        assert_eq!(frame_size(&[0, 0, 4], 1024).unwrap(), None);
        assert_eq!(frame_size(&[0, 0, 4, 0], 1024).unwrap(), Some(1024));
    }

    proptest! {
        #[test]
        fn frames_round_trip_in_any_chunking(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..10), chunk in 1..64usize) {
            let mut wire = BytesMut::new();
            for b in &bodies {
                encode_frame(b, &mut wire);
            }
            let mut buf = BytesMut::new();
            let mut out = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                while let Some(frame) = decode_frame(&mut buf, 1024).unwrap() {
                    out.push(frame.to_vec());
                }
            }
            prop_assert_eq!(out, bodies);
            prop_assert!(buf.is_empty());
        }
    }
}
