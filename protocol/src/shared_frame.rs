//! Response frames that carry a Fetch's record sets by reference: the frame is a list of parts,
//! the encoded fields copied into small buffers and each large record set kept as the `Bytes`
//! the log handed out (a slice of its mapping), so the connection writes them with one
//! `writev` and no byte of a record is copied in user space. Kafka's counterpart is the
//! `FileRecords` a `FetchResponse` sends with `transferTo` (sendfile).

use bytes::buf::UninitSlice;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::buf::ByteBufMut;
use kafka_protocol::protocol::Encodable;

use crate::error::ProtocolError;
use crate::response::encode_response;

/// Record sets at least this large are sent by reference; smaller ones are cheaper to copy
/// than to give their own `iovec`.
pub const SHARE_AT_LEAST: usize = 16 << 10;

/// Encodes a whole response frame as parts to write in order. A Fetch response's large record
/// sets are parts of their own (shared, not copied); every other response is one part, as
/// [`encode_response`] writes it.
pub fn encode_response_parts(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<Vec<Bytes>, ProtocolError> {
    match body {
        ResponseKind::Fetch(fetch) if api_key == ApiKey::Fetch => {
            encode_fetch_parts(fetch, version, correlation_id)
        }
        _ => {
            let mut out = BytesMut::new();
            encode_response(&mut out, api_key, version, correlation_id, body)?;
            Ok(vec![out.freeze()])
        }
    }
}

fn encode_fetch_parts(
    body: &FetchResponse,
    version: i16,
    correlation_id: i32,
) -> Result<Vec<Bytes>, ProtocolError> {
    let shared: Vec<Bytes> = body
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .filter_map(|p| p.records.clone())
        .filter(|r| r.len() >= SHARE_AT_LEAST)
        .collect();
    let mut out = PartsBuf::new(shared);
    out.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut out, ApiKey::Fetch.response_header_version(version))
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    body.encode(&mut out, version)
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    out.finish()
}

/// One part of a frame being built.
enum Part {
    /// Encoded bytes.
    Copied(BytesMut),
    /// A record set, by reference.
    Shared(Bytes),
}

/// A `BufMut` that copies what is put into it, except a slice that is the next expected
/// record set: that one becomes a part of its own, by reference. Record sets are encoded in
/// the order they appear in the response, so matching the next one by address and length is
/// enough, and any other slice (one equal by chance in content) is simply copied.
struct PartsBuf {
    /// Parts finished, in order.
    parts: Vec<Part>,
    /// Length of `parts` in bytes.
    done: usize,
    /// The part being written.
    head: BytesMut,
    /// The record sets to share, in encoding order.
    shared: Vec<Bytes>,
    /// The next of `shared` to expect.
    next: usize,
}

impl PartsBuf {
    fn new(shared: Vec<Bytes>) -> PartsBuf {
        PartsBuf {
            parts: Vec::with_capacity(2 * shared.len() + 1),
            done: 0,
            head: BytesMut::with_capacity(1024),
            shared,
            next: 0,
        }
    }

    /// The parts, with the frame's size prefix filled in.
    fn finish(mut self) -> Result<Vec<Bytes>, ProtocolError> {
        let total = self.offset();
        self.close_head();
        let size = i32::try_from(total - 4)
            .map_err(|_| ProtocolError::Encode(format!("a response of {total} bytes")))?;
        match self.parts.first_mut() {
            Some(Part::Copied(first)) if first.len() >= 4 => {
                first[..4].copy_from_slice(&size.to_be_bytes())
            }
            _ => return Err(ProtocolError::Encode("a frame without its size".into())),
        }
        Ok(self
            .parts
            .into_iter()
            .map(|p| match p {
                Part::Copied(b) => b.freeze(),
                Part::Shared(b) => b,
            })
            .collect())
    }

    fn close_head(&mut self) {
        if !self.head.is_empty() {
            let head = self.head.split();
            self.done += head.len();
            self.parts.push(Part::Copied(head));
        }
    }
}

// SAFETY: every method delegates to `head`, a `BytesMut`, whose own implementation upholds
// the trait's contract; `put_slice` only adds whole parts besides.
unsafe impl BufMut for PartsBuf {
    fn remaining_mut(&self) -> usize {
        self.head.remaining_mut()
    }

    unsafe fn advance_mut(&mut self, cnt: usize) {
        // SAFETY: the caller's promise for `head`'s chunk, which `chunk_mut` handed out.
        unsafe { self.head.advance_mut(cnt) }
    }

    fn chunk_mut(&mut self) -> &mut UninitSlice {
        self.head.chunk_mut()
    }

    fn put_slice(&mut self, src: &[u8]) {
        let expected = self.shared.get(self.next);
        if let Some(set) = expected.filter(|s| s.as_ptr() == src.as_ptr() && s.len() == src.len()) {
            let set = set.clone();
            self.next += 1;
            self.close_head();
            self.done += set.len();
            self.parts.push(Part::Shared(set));
        } else {
            self.head.put_slice(src);
        }
    }
}

impl ByteBufMut for PartsBuf {
    fn offset(&self) -> usize {
        self.done + self.head.len()
    }

    // Gaps are written only by record-batch encoding, never by a response's fields; a seek
    // into the open part is all a response could ask for.
    fn seek(&mut self, offset: usize) {
        self.head.resize(offset.saturating_sub(self.done), 0);
    }

    fn range(&mut self, r: std::ops::Range<usize>) -> &mut [u8] {
        let start = r.start.saturating_sub(self.done);
        let end = r.end.saturating_sub(self.done).max(start);
        &mut self.head[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    fn response(sets: &[Bytes]) -> FetchResponse {
        FetchResponse::default().with_responses(vec![FetchableTopicResponse::default()
            .with_topic(TopicName(StrBytes::from_static_str("t")))
            .with_partitions(
                sets.iter()
                    .enumerate()
                    .map(|(i, s)| {
                        PartitionData::default()
                            .with_partition_index(i as i32)
                            .with_records(Some(s.clone()))
                    })
                    .collect(),
            )])
    }

    #[test]
    fn parts_join_to_the_copied_frame_at_every_version() {
        let big = Bytes::from(vec![7u8; SHARE_AT_LEAST]);
        let sets = [
            big.slice(..),
            Bytes::from_static(b"small"),
            Bytes::from(vec![9u8; 3 * SHARE_AT_LEAST]),
            // The same bytes as the first, at another address: copied or shared, never lost.
            Bytes::from(vec![7u8; SHARE_AT_LEAST]),
        ];
        let body = ResponseKind::Fetch(response(&sets));
        for version in 4..=17 {
            let mut whole = BytesMut::new();
            encode_response(&mut whole, ApiKey::Fetch, version, 42, &body).unwrap();
            let parts = encode_response_parts(ApiKey::Fetch, version, 42, &body).unwrap();
            assert_eq!(parts.concat(), whole.to_vec(), "version {version}");
            // The three large sets went by reference.
            for set in [&sets[0], &sets[2], &sets[3]] {
                assert!(
                    parts.iter().any(|p| p.as_ptr() == set.as_ptr()),
                    "version {version}"
                );
            }
        }
    }

    #[test]
    fn other_responses_are_one_part() {
        let body = ResponseKind::Fetch(response(&[Bytes::from(vec![1u8; SHARE_AT_LEAST])]));
        let mut whole = BytesMut::new();
        encode_response(&mut whole, ApiKey::Fetch, 12, 1, &body).unwrap();
        let parts = encode_response_parts(ApiKey::Fetch, 12, 1, &body).unwrap();
        assert!(parts.len() > 1);
        let metadata = ResponseKind::Metadata(Default::default());
        let parts = encode_response_parts(ApiKey::Metadata, 9, 1, &metadata).unwrap();
        assert_eq!(parts.len(), 1);
    }
}
