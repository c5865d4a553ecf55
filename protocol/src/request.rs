//! Request decoding: peek at the API key and version, decide whether the broker serves them, then
//! decode the header (its version follows from key and version) and the body.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use crate::api_versions::ApiTable;
use crate::error::ProtocolError;

/// A decoded request.
#[derive(Debug)]
pub struct Request {
    /// The request header (correlation id, client id).
    pub header: RequestHeader,
    /// The API.
    pub api_key: ApiKey,
    /// The API version the client used.
    pub version: i16,
    /// The request body.
    pub body: RequestKind,
}

/// What a frame turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A request the broker serves.
    Request(Box<Request>),
    /// An ApiVersions request newer than the broker knows: it must be answered with a v0
    /// response carrying UNSUPPORTED_VERSION and the supported ranges, so the client retries.
    ApiVersionsTooNew {
        /// Correlation id to answer with.
        correlation_id: i32,
    },
}

/// Decodes one request frame.
pub fn decode_request(mut frame: Bytes, table: &ApiTable) -> Result<Decoded, ProtocolError> {
    if frame.len() < 8 {
        return Err(ProtocolError::Truncated);
    }
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api_key = ApiKey::try_from(key).map_err(|_| ProtocolError::UnknownApiKey(key))?;
    if !table.accepts(api_key, version) {
        if api_key == ApiKey::ApiVersions
            && table.advertised(api_key).is_some_and(|r| version > r.max)
        {
            return Ok(Decoded::ApiVersionsTooNew { correlation_id });
        }
        return Err(ProtocolError::UnsupportedVersion {
            api_key: key,
            version,
        });
    }
    let malformed = |reason: String| ProtocolError::Malformed {
        api_key: key,
        version,
        reason,
    };
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| malformed(e.to_string()))?;
    // The crate preallocates arrays by the count as sent: walk the body first, so a count the
    // frame cannot hold closes the connection instead of aborting the process.
    crate::preflight::check_body(api_key, version, &frame).map_err(|e| malformed(e.to_string()))?;
    let body =
        RequestKind::decode(api_key, &mut frame, version).map_err(|e| malformed(e.to_string()))?;
    if frame.has_remaining() {
        // Apache Kafka ignores bytes after the body, and real clients send some: librdkafka
        // 2.12 appends three to an all-topics Metadata v13. Refusing them would break it.
        tracing::debug!(
            api_key = key,
            version,
            trailing = frame.remaining(),
            "ignoring bytes after the request body"
        );
    }
    Ok(Decoded::Request(Box::new(Request {
        header,
        api_key,
        version,
        body,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn frame_of<T: Encodable>(key: ApiKey, version: i16, body: &T) -> Bytes {
        let mut buf = BytesMut::new();
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("t")));
        header
            .encode(&mut buf, key.request_header_version(version))
            .unwrap();
        body.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn decodes_known_requests_and_refuses_the_rest() {
        let table = ApiTable::new(false);
        let f = frame_of(ApiKey::Metadata, 12, &MetadataRequest::default());
        let Decoded::Request(r) = decode_request(f.clone(), &table).unwrap() else {
            panic!()
        };
        assert_eq!(
            (r.api_key, r.version, r.header.correlation_id),
            (ApiKey::Metadata, 12, 7)
        );
        // Bytes after the body are ignored, as Apache Kafka ignores them.
        let mut extra = BytesMut::from(&f[..]);
        extra.extend_from_slice(&[1, 0, 0]);
        assert!(matches!(
            decode_request(extra.freeze(), &table),
            Ok(Decoded::Request(_))
        ));
        assert!(matches!(
            decode_request(f.slice(..f.len() - 1), &table),
            Err(ProtocolError::Malformed { .. }) | Err(ProtocolError::Truncated)
        ));
        let mut unknown = BytesMut::from(&f[..]);
        unknown[0..2].copy_from_slice(&9999i16.to_be_bytes());
        assert!(matches!(
            decode_request(unknown.freeze(), &table),
            Err(ProtocolError::UnknownApiKey(9999))
        ));
        let too_new = frame_of(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default());
        let mut too_new = BytesMut::from(&too_new[..]);
        too_new[2..4].copy_from_slice(&99i16.to_be_bytes());
        assert!(matches!(
            decode_request(too_new.freeze(), &table),
            Ok(Decoded::ApiVersionsTooNew { correlation_id: 7 })
        ));
    }
}

#[cfg(test)]
mod huge_count_tests {
    use super::*;
    use bytes::BytesMut;

    /// A request header (v1: key, version, correlation id, null client id) followed by `body`,
    /// padded with zeros to `len` bytes.
    fn frame(key: ApiKey, version: i16, body: &[u8], len: usize) -> Bytes {
        let mut f = BytesMut::new();
        f.extend_from_slice(&(key as i16).to_be_bytes());
        f.extend_from_slice(&version.to_be_bytes());
        f.extend_from_slice(&7i32.to_be_bytes());
        f.extend_from_slice(&(-1i16).to_be_bytes());
        if key.request_header_version(version) >= 2 {
            f.extend_from_slice(&[0]);
        }
        f.extend_from_slice(body);
        f.resize(len.max(f.len()), 0);
        f.freeze()
    }

    #[test]
    fn a_huge_array_count_in_a_small_frame_is_refused_without_allocating() {
        let table = ApiTable::new(true);
        // Metadata v4: topics array of i32::MAX elements in a 100-byte frame.
        let f = frame(ApiKey::Metadata, 4, &0x7fff_ffffi32.to_be_bytes(), 100);
        assert!(matches!(
            decode_request(f, &table),
            Err(ProtocolError::Malformed { .. })
        ));
    }
}
