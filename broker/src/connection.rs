//! One client connection: read a frame, handle the request, write the response, in order, one
//! request at a time (Apache Kafka mutes a connection while a request is in flight).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use gregor_protocol::frame::decode_frame;
use gregor_protocol::messages::{ApiKey, ResponseKind};
use gregor_protocol::request::{decode_request, Decoded};
use gregor_protocol::response::encode_response;
use gregor_protocol::{ProtocolError, ResponseError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::Broker;
use crate::kafka_apis;

/// A client connection and what it needs to serve requests.
pub struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection closed in the middle of a request")]
    Truncated,
}

impl Connection {
    /// Wraps an accepted socket.
    pub fn new(
        socket: TcpStream,
        peer: SocketAddr,
        broker: Arc<Broker>,
        shutdown: CancellationToken,
    ) -> Connection {
        Connection {
            socket,
            peer,
            broker,
            shutdown,
        }
    }

    /// Serves requests until the client closes, sends something Kafka would close on, or the
    /// broker shuts down.
    pub async fn run(mut self) {
        let span = tracing::debug_span!("connection", peer = %self.peer);
        match self.serve().instrument(span).await {
            Ok(()) => tracing::debug!(peer = %self.peer, "connection closed"),
            Err(e) => tracing::debug!(peer = %self.peer, cause = %e, "closing connection"),
        }
    }

    async fn serve(&mut self) -> Result<(), ConnectionError> {
        let mut inbound = BytesMut::with_capacity(8 * 1024);
        let mut outbound = BytesMut::with_capacity(8 * 1024);
        let max = self.broker.config.max_request_bytes;
        loop {
            let frame = loop {
                if let Some(frame) = decode_frame(&mut inbound, max)? {
                    break frame;
                }
                let read = tokio::select! {
                    // Between requests only: a request already read is always answered.
                    _ = self.shutdown.cancelled() => return Ok(()),
                    read = self.socket.read_buf(&mut inbound) => read?,
                };
                if read == 0 {
                    return if inbound.is_empty() {
                        Ok(())
                    } else {
                        Err(ConnectionError::Truncated)
                    };
                }
            };
            let request = match decode_request(frame, &self.broker.apis)? {
                Decoded::Request(request) => request,
                Decoded::ApiVersionsTooNew { correlation_id } => {
                    let body = self
                        .broker
                        .apis
                        .api_versions_response(ResponseError::UnsupportedVersion.code());
                    outbound.clear();
                    encode_response(
                        &mut outbound,
                        ApiKey::ApiVersions,
                        0,
                        correlation_id,
                        &ResponseKind::ApiVersions(body),
                    )?;
                    self.socket.write_all(&outbound).await?;
                    continue;
                }
            };
            let span = tracing::debug_span!(
                "request",
                api = ?request.api_key,
                version = request.version,
                correlation_id = request.header.correlation_id,
                client_id = request.header.client_id.as_deref().unwrap_or(""),
            );
            let started = std::time::Instant::now();
            let response = kafka_apis::handle(&self.broker, &request, self.peer)
                .instrument(span.clone())
                .await?;
            if let Some(body) = response {
                outbound.clear();
                encode_response(
                    &mut outbound,
                    request.api_key,
                    request.version,
                    request.header.correlation_id,
                    &body,
                )?;
                self.socket.write_all(&outbound).await?;
                if outbound.capacity() > 4 << 20 {
                    // A large fetch should not pin its buffer for the life of the connection.
                    outbound = BytesMut::with_capacity(8 * 1024);
                }
            }
            span.in_scope(|| {
                tracing::debug!(micros = started.elapsed().as_micros() as u64, "handled")
            });
        }
    }
}
