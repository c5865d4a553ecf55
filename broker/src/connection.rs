//! One client connection: read a frame, handle the request, write the response, in order, one
//! request at a time (Apache Kafka mutes a connection while a request is in flight).
//!
//! Limits, so that no client can make the broker hold memory it did not budget for:
//! - In flight: one request per connection is handled, and the socket is not read while a whole
//!   frame waits in the buffer or a response is being written; a client that pipelines without
//!   reading answers is held back by TCP once `READ_AHEAD` bytes past the current frame are in.
//! - Per connection: the current frame (at most `max_request_bytes`) plus `READ_AHEAD`; a buffer
//!   grown by a large frame is given back afterwards.
//! - Across connections: a frame's bytes are taken from the shared request budget
//!   (`Limits::request_budget_bytes`) before its body is allocated, and given back once its
//!   response is written; so many clients sending 100 MiB frames wait their turn instead of
//!   exhausting memory.
//! - Slow frames (slowloris): a frame begun must be complete within `Limits::frame_timeout`.
//!   A connection with no partial frame may stay idle.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gregor_protocol::frame::{decode_frame, frame_size};
use gregor_protocol::messages::{ApiKey, ResponseKind};
use gregor_protocol::request::{decode_request, Decoded};
use gregor_protocol::response::encode_response;
use gregor_protocol::{ProtocolError, ResponseError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::Broker;
use crate::kafka_apis;
use crate::socket_server::Limits;

/// Bytes read past the end of the current frame at most: enough for a burst of small pipelined
/// requests in one read, little enough that a pipelining client is held back by TCP.
const READ_AHEAD: usize = 64 * 1024;

/// A receive buffer above this capacity (grown for a large frame) is replaced once the frame
/// is done, so an idle connection does not pin it.
const KEEP_BUFFER: usize = 1024 * 1024;

/// A client connection and what it needs to serve requests.
pub struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
    limits: Limits,
    /// Bytes of requests being read or served, shared by all connections: a frame's size is
    /// acquired before its body is allocated and released after its response is written.
    budget: Arc<Semaphore>,
}

/// The next thing read from a client.
enum Inbound {
    /// A whole frame, and its share of the request budget.
    Frame(Bytes, OwnedSemaphorePermit),
    /// The client closed between requests, or the broker is shutting down.
    Closed,
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
    #[error("a frame begun was not complete within {0:?}")]
    SlowFrame(Duration),
}

impl Connection {
    /// Wraps an accepted socket.
    pub fn new(
        socket: TcpStream,
        peer: SocketAddr,
        broker: Arc<Broker>,
        shutdown: CancellationToken,
        limits: Limits,
        budget: Arc<Semaphore>,
    ) -> Connection {
        Connection {
            socket,
            peer,
            broker,
            shutdown,
            limits,
            budget,
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
        loop {
            let (frame, permit) = match self.read_frame(&mut inbound).await? {
                Inbound::Frame(frame, permit) => (frame, permit),
                Inbound::Closed => return Ok(()),
            };
            if inbound.capacity() > KEEP_BUFFER && inbound.len() < READ_AHEAD {
                let mut fresh = BytesMut::with_capacity(8 * 1024);
                fresh.extend_from_slice(&inbound);
                inbound = fresh;
            }
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
            // The request's bytes count against the budget until its answer is on its way.
            drop(permit);
            span.in_scope(|| {
                tracing::debug!(micros = started.elapsed().as_micros() as u64, "handled")
            });
        }
    }

    /// Reads until a whole frame is in `inbound` and takes it off. Its size is checked and its
    /// share of the request budget acquired before room for its body is reserved; from its first
    /// byte (or from the moment the budget allowed it) it must arrive within the frame timeout.
    async fn read_frame(&mut self, inbound: &mut BytesMut) -> Result<Inbound, ConnectionError> {
        let max = self.broker.config.max_request_bytes;
        let timeout = self.limits.frame_timeout;
        let mut deadline = None;
        let size = loop {
            if let Some(size) = frame_size(inbound, max)? {
                break size;
            }
            if !inbound.is_empty() {
                deadline.get_or_insert_with(|| Instant::now() + timeout);
            }
            if !self.fill(inbound, 4, deadline).await? {
                return if inbound.is_empty() {
                    Ok(Inbound::Closed)
                } else {
                    Err(ConnectionError::Truncated)
                };
            }
        };
        // Frames are at most i32::MAX bytes, so the size fits the semaphore's u32.
        let permit = tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(Inbound::Closed),
            permit = self.budget.clone().acquire_many_owned(size as u32) => {
                permit.expect("the request budget is never closed")
            }
        };
        let deadline = Some(Instant::now() + timeout);
        if inbound.len() < 4 + size {
            inbound.reserve(4 + size - inbound.len());
        }
        loop {
            if let Some(frame) = decode_frame(inbound, max)? {
                return Ok(Inbound::Frame(frame, permit));
            }
            if !self.fill(inbound, 4 + size, deadline).await? {
                return Err(ConnectionError::Truncated);
            }
        }
    }

    /// Reads once into `inbound`, up to `READ_AHEAD` bytes past the `want` it needs. Returns
    /// false at end of stream or when the broker is shutting down between requests.
    async fn fill(
        &mut self,
        inbound: &mut BytesMut,
        want: usize,
        deadline: Option<Instant>,
    ) -> Result<bool, ConnectionError> {
        let limit = (want.saturating_sub(inbound.len()) + READ_AHEAD) as u64;
        let frame_timeout = self.limits.frame_timeout;
        let socket = &mut self.socket;
        let read = async move {
            let mut limited = socket.take(limit);
            let read = limited.read_buf(inbound);
            match deadline {
                Some(at) => tokio::time::timeout_at(at, read)
                    .await
                    .map_err(|_| ConnectionError::SlowFrame(frame_timeout))?
                    .map_err(ConnectionError::from),
                None => Ok(read.await?),
            }
        };
        tokio::select! {
            // A partial frame is not a request: shutdown may drop it.
            _ = self.shutdown.cancelled() => Ok(false),
            read = read => Ok(read? > 0),
        }
    }
}
