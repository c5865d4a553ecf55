//! Response encoding: size prefix, the response header in the version the API and version call
//! for, then the body.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use crate::error::ProtocolError;

/// Encodes a whole response frame for `api_key` at `version` into `out`.
pub fn encode_response(
    out: &mut BytesMut,
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<(), ProtocolError> {
    let start = out.len();
    out.put_i32(0);
    // ApiVersions answers with header v0 at every version, so a client that sent a version
    // the broker does not know can still read the answer.
    let header_version = if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(version)
    };
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(out, header_version)
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    body.encode(out, version)
        .map_err(|e| ProtocolError::Encode(e.to_string()))?;
    let size = (out.len() - start - 4) as i32;
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}
