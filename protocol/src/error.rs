//! The one error type of the protocol crate.

/// Why a frame could not be read or a request decoded. Every variant means the connection
/// closes, as Apache Kafka closes it.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The size prefix is negative or above `socket.request.max.bytes`.
    #[error("frame size {size} outside 0..={max}")]
    FrameSize { size: i64, max: usize },
    /// The frame ended before the request header did.
    #[error("request shorter than its header")]
    Truncated,
    /// An API key this broker does not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// A version of a known API that this broker does not support.
    #[error("unsupported version {version} of API key {api_key}")]
    UnsupportedVersion { api_key: i16, version: i16 },
    /// The bytes do not decode as the request they claim to be.
    #[error("malformed request (API key {api_key} v{version}): {reason}")]
    Malformed {
        api_key: i16,
        version: i16,
        reason: String,
    },
    /// A response could not be encoded (a broker bug, not the client's).
    #[error("encoding response failed: {0}")]
    Encode(String),
}
