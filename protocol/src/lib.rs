//! Kafka's wire protocol for Gregor: framing, request and response envelopes over the
//! `kafka-protocol` crate, the table of supported APIs, and (re-exported from `gregor-record`)
//! the v2 record-batch view the broker still imports from here.
//! No I/O and no broker state: the broker feeds bytes in and takes bytes out.

pub mod api_versions;
pub mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod preflight;
pub mod record_batch;
pub mod request;
pub mod response;
pub mod shared_frame;

pub use error::ProtocolError;
/// The generated Kafka message types, re-exported so the broker needs no direct dependency.
pub use kafka_protocol::messages;
/// Protocol primitives (compact strings, version ranges).
pub use kafka_protocol::protocol::{StrBytes, VersionRange};
/// The encode/decode traits of the generated messages.
pub mod codec {
    pub use kafka_protocol::protocol::{Decodable, Encodable};
}
/// Kafka error codes.
pub use kafka_protocol::ResponseError;
