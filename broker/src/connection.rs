//! One client connection: read a frame, handle the request, write the response, in order, one
//! request at a time (Apache Kafka mutes a connection while a request is in flight).
//!
//! Limits, so that no client can make the broker hold memory it did not budget for:
//! - In flight: one request per connection is handled at a time. Beyond the frame being read,
//!   at most `READ_AHEAD` bytes are read ahead (while a request is handled too, to notice a client
//!   that leaves), and nothing while a response is written; a client that pipelines without
//!   reading answers is then held back by TCP.
//! - Per connection: the current frame (at most `max_request_bytes`) plus `READ_AHEAD`; a large
//!   frame gets a buffer of its own, freed with its request.
//! - Across connections: a frame's bytes are taken from the shared `RequestBudget` before its
//!   body is allocated, and given back once its response is written; so many clients sending
//!   100 MiB frames wait their turn instead of exhausting memory. Small frames have a share of
//!   their own, so clients that announce large frames and hold them back cannot stall a
//!   heartbeat or a metadata request.
//! - Slow frames (slowloris): a frame begun must be complete within `Limits::frame_timeout`.
//!   A connection with no partial frame may stay idle once authenticated.
//!
//! Security, per listener: a TLS listener's handshake must finish within the frame timeout; a
//! SASL listener serves only ApiVersions and the SASL exchange (`security::sasl`) until the
//! client has authenticated, reads frames of at most `sasl.server.max.receive.size` meanwhile,
//! and closes a connection that has not authenticated within `Limits::auth_timeout`. Each
//! request is handled with a `RequestContext` naming the listener and the principal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use gregor_protocol::frame::{decode_frame, frame_size};
use gregor_protocol::messages::{ApiKey, ResponseKind};
use gregor_protocol::request::{decode_request, Decoded};
use gregor_protocol::response::{describe_error_codes, encode_response, error_codes};
use gregor_protocol::shared_frame::encode_response_parts;
use gregor_protocol::{ProtocolError, ResponseError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::Broker;
use crate::kafka_apis;
use crate::request_context::{Endpoint, RequestContext};
use crate::security::sasl::{Authenticator, Outcome, SaslConfig};
use crate::security::{tls, KafkaPrincipal};
use crate::socket_server::Limits;

/// A listener as its connections need it: where it is, and how its clients are authenticated.
pub struct ListenerRuntime {
    /// Name, protocol and advertised address, for the handlers.
    pub endpoint: Arc<Endpoint>,
    /// The TLS acceptor of SSL and SASL_SSL listeners.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The SASL set-up of SASL_PLAINTEXT and SASL_SSL listeners.
    pub sasl: Option<Arc<SaslConfig>>,
}

/// Bytes read past the end of the current frame at most: enough for a burst of small pipelined
/// requests in one read, little enough that a pipelining client is held back by TCP.
const READ_AHEAD: usize = 64 * 1024;

/// Frames above this size are read into a buffer of their own, exactly as large, which is freed
/// with the request; the connection's receive buffer stays small.
const OWN_BUFFER_ABOVE: usize = 64 * 1024;

/// Bytes of requests read or being served at once, across all connections (Kafka's
/// `queued.max.request.bytes`), in two shares: one eighth for frames up to `OWN_BUFFER_ABOVE`,
/// the rest (at least the largest request allowed) for larger ones.
#[derive(Debug)]
pub struct RequestBudget {
    small: Arc<Semaphore>,
    large: Arc<Semaphore>,
}

impl RequestBudget {
    /// A budget of `bytes` for a broker accepting requests up to `max_request_bytes`.
    pub fn new(bytes: usize, max_request_bytes: usize) -> RequestBudget {
        let small = (bytes / 8).max(OWN_BUFFER_ABOVE);
        let large = bytes.saturating_sub(small).max(max_request_bytes);
        RequestBudget {
            small: Arc::new(Semaphore::new(small)),
            large: Arc::new(Semaphore::new(large)),
        }
    }

    /// Waits until `size` bytes are free in the share for frames of that size, and takes them.
    async fn acquire(&self, size: usize) -> OwnedSemaphorePermit {
        let share = if size <= OWN_BUFFER_ABOVE {
            &self.small
        } else {
            &self.large
        };
        // Frames are at most i32::MAX bytes, so the size fits the semaphore's u32.
        share
            .clone()
            .acquire_many_owned(size as u32)
            .await
            .expect("the request budget is never closed")
    }
}

/// A client connection and what it needs to serve requests, over a TCP or TLS stream.
pub struct Connection<S> {
    socket: S,
    peer: SocketAddr,
    /// The listener it came in on.
    listener: Arc<ListenerRuntime>,
    /// Who the client is: ANONYMOUS until TLS or SASL says otherwise.
    principal: KafkaPrincipal,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
    limits: Limits,
    /// Bytes of requests being read or served, shared by all connections: a frame's size is
    /// acquired before its body is allocated and released after its response is written.
    budget: Arc<RequestBudget>,
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
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("a frame begun was not complete within {0:?}")]
    SlowFrame(Duration),
    #[error("the client closed the connection while its request was being handled")]
    PeerGone,
    #[error("SASL authentication failed: {0}")]
    Authentication(String),
    #[error("the client did not authenticate within {0:?}")]
    AuthenticationTimeout(Duration),
    #[error("the SASL session expired and the client did not re-authenticate")]
    SessionExpired,
}

/// Most parts handed to one `writev` (Linux takes up to 1024).
const MAX_IOVECS: usize = 64;

/// Writes a frame's parts in order, as many as fit in one vectored write each time.
async fn write_parts<S: AsyncWrite + Unpin>(
    socket: &mut S,
    parts: &mut [Bytes],
) -> std::io::Result<()> {
    let mut next = 0;
    while next < parts.len() {
        if parts[next].is_empty() {
            next += 1;
            continue;
        }
        let slices: Vec<std::io::IoSlice<'_>> = parts[next..]
            .iter()
            .take(MAX_IOVECS)
            .map(|p| std::io::IoSlice::new(p))
            .collect();
        let mut written = socket.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let part = &mut parts[next];
            let n = written.min(part.len());
            part.advance(n);
            written -= n;
            if part.is_empty() {
                next += 1;
            }
        }
    }
    Ok(())
}

/// Reads what the client sends while its request is being handled, into `inbound` (up to
/// `READ_AHEAD` bytes; they are the next requests), so as to notice when it closes or resets the
/// connection: then this resolves. A client that pipelines more than that is held back by TCP
/// and this waits for the handler, as Kafka's muted connections do.
async fn peer_gone<S: AsyncRead + Unpin>(socket: &mut S, inbound: &mut BytesMut) {
    // Straight into the buffer's spare room: a local array would sit in every connection's
    // task state, idle or not. Cancel-safe: bytes read are in `inbound` before this yields.
    while inbound.len() < READ_AHEAD {
        let room = (READ_AHEAD - inbound.len()) as u64;
        match (&mut *socket).take(room).read_buf(inbound).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    std::future::pending().await
}

/// The per-request DEBUG line: latency, and the error codes the response carried, so a refused
/// request says why (a CreateTopics answered INVALID_REPLICATION_FACTOR, say). The codes are
/// gathered only when DEBUG is on; `None` (acks=0) answered nothing.
fn log_handled(started: std::time::Instant, response: Option<&ResponseKind>) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let micros = started.elapsed().as_micros() as u64;
    let codes = response.map(error_codes).unwrap_or_default();
    if codes.is_empty() {
        tracing::debug!(micros, "handled");
    } else {
        // Debug-formatted so the list is quoted: one value for whoever reads or greps the line.
        tracing::debug!(micros, errors = ?describe_error_codes(&codes), "handled");
    }
}

/// The DEBUG line for a request of an API or version this broker does not serve: which key and
/// version the client asked for, and what is served. Kafka closes the connection then, and so
/// does the caller.
fn log_unsupported(err: &ProtocolError, apis: &gregor_protocol::api_versions::ApiTable) {
    match *err {
        ProtocolError::UnknownApiKey(api_key) => {
            tracing::debug!(
                api_key,
                "request of an unknown API key; closing the connection"
            );
        }
        ProtocolError::UnsupportedVersion { api_key, version } => {
            let api = ApiKey::try_from(api_key).ok();
            let served = api.and_then(|a| apis.advertised(a));
            tracing::debug!(
                api_key,
                api = ?api,
                api_version = version,
                served = ?served.map(|r| (r.min, r.max)),
                "request of an API or version not served; closing the connection"
            );
        }
        _ => {}
    }
}

/// Serves an accepted socket on `listener`: the TLS handshake first where the listener has
/// TLS, then requests until the client closes, sends something Kafka would close on, or the
/// broker shuts down.
pub async fn serve_socket(
    socket: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
    limits: Limits,
    budget: Arc<RequestBudget>,
    listener: Arc<ListenerRuntime>,
) {
    let span = tracing::debug_span!("connection", peer = %peer, listener = %listener.endpoint.name);
    crate::http::metrics::METRICS.connection_opened();
    let served = async {
        match listener.tls.clone() {
            None => {
                let mut c = Connection {
                    socket,
                    peer,
                    listener,
                    principal: KafkaPrincipal::anonymous(),
                    broker,
                    shutdown,
                    limits,
                    budget,
                };
                c.serve().await
            }
            Some(acceptor) => {
                // Garbage instead of a ClientHello fails here; a client that stalls is cut off
                // by the frame timeout. Either way only this connection closes.
                let accepted = tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    accepted = tokio::time::timeout(limits.frame_timeout, acceptor.accept(socket)) => accepted,
                };
                let stream = match accepted {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return Err(ConnectionError::Tls(e.to_string())),
                    Err(_) => return Err(ConnectionError::SlowFrame(limits.frame_timeout)),
                };
                let principal = tls::peer_principal(stream.get_ref().1);
                tracing::debug!(%principal, "TLS handshake done");
                let mut c = Connection {
                    socket: stream,
                    peer,
                    listener,
                    principal,
                    broker,
                    shutdown,
                    limits,
                    budget,
                };
                c.serve().await
            }
        }
    }
    .instrument(span)
    .await;
    crate::http::metrics::METRICS.connection_closed();
    match served {
        Ok(()) => tracing::debug!(peer = %peer, "connection closed"),
        Err(e) => tracing::debug!(peer = %peer, cause = %e, "closing connection"),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Connection<S> {
    /// Writes a whole encoded frame (or nothing, when empty) and flushes it through TLS.
    async fn send(&mut self, bytes: &[u8]) -> Result<(), ConnectionError> {
        if !bytes.is_empty() {
            self.socket.write_all(bytes).await?;
            self.socket.flush().await?;
        }
        Ok(())
    }

    /// Runs the SASL exchange until the client has authenticated; `first` is a frame already
    /// read (the SaslHandshake of a re-authentication).
    async fn authenticate(
        &mut self,
        auth: &mut Authenticator,
        inbound: &mut BytesMut,
        mut first: Option<Bytes>,
    ) -> Result<Option<std::time::Instant>, ConnectionError> {
        let timeout = self.limits.auth_timeout;
        let deadline = Instant::now() + timeout;
        loop {
            let frame = match first.take() {
                Some(frame) => frame,
                None => {
                    let read = self.read_frame(inbound, auth.max_receive_size());
                    match tokio::time::timeout_at(deadline, read).await {
                        Err(_) => return Err(ConnectionError::AuthenticationTimeout(timeout)),
                        Ok(read) => match read? {
                            Inbound::Frame(frame, _permit) => frame,
                            Inbound::Closed => return Err(ConnectionError::PeerGone),
                        },
                    }
                }
            };
            match auth.on_frame(frame, &self.broker.apis) {
                Outcome::Reply(reply) => self.send(&reply).await?,
                Outcome::Authenticated {
                    reply,
                    principal,
                    expires,
                } => {
                    self.send(&reply).await?;
                    tracing::debug!(%principal, "SASL authentication done");
                    self.principal = principal;
                    return Ok(expires);
                }
                Outcome::Fail { reply, reason } => {
                    self.send(&reply).await?;
                    return Err(ConnectionError::Authentication(reason));
                }
            }
        }
    }

    async fn serve(&mut self) -> Result<(), ConnectionError> {
        let mut inbound = BytesMut::with_capacity(8 * 1024);
        let mut outbound = BytesMut::with_capacity(8 * 1024);
        let mut auth = self.listener.sasl.clone().map(Authenticator::new);
        // When the SASL session ends (KIP-368): a request after it closes the connection,
        // unless it is the SaslHandshake of a re-authentication.
        let mut session_expires = None;
        if let Some(auth) = auth.as_mut() {
            session_expires = self.authenticate(auth, &mut inbound, None).await?;
        }
        let max_request_bytes = self.broker.config.max_request_bytes;
        loop {
            let (frame, permit) = match self.read_frame(&mut inbound, max_request_bytes).await? {
                Inbound::Frame(frame, permit) => (frame, permit),
                Inbound::Closed => return Ok(()),
            };
            let is_handshake = frame.len() >= 2
                && i16::from_be_bytes([frame[0], frame[1]]) == ApiKey::SaslHandshake as i16;
            if let Some(auth) = auth.as_mut() {
                if is_handshake && auth.supports_reauth() {
                    drop(permit);
                    tracing::debug!(principal = %self.principal, "client re-authenticating (KIP-368)");
                    auth.begin_reauth(self.principal.clone());
                    session_expires = self.authenticate(auth, &mut inbound, Some(frame)).await?;
                    continue;
                }
            }
            if session_expires.is_some_and(|at: std::time::Instant| std::time::Instant::now() >= at)
            {
                return Err(ConnectionError::SessionExpired);
            }
            let decoded = decode_request(frame, &self.broker.apis);
            if let Err(e) = &decoded {
                log_unsupported(e, &self.broker.apis);
            }
            let request = match decoded? {
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
                    self.send(&outbound.split()).await?;
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
            let ctx = RequestContext {
                peer: self.peer,
                endpoint: self.listener.endpoint.clone(),
                principal: self.principal.clone(),
            };
            let handled = kafka_apis::handle(&self.broker, &request, &ctx).instrument(span.clone());
            // A parked request (a long-poll Fetch, a JoinGroup waiting for the rebalance) must not
            // hold the connection slot after its client has gone: Kafka frees a connection when
            // the socket closes, whatever is in purgatory. Dropping the handler is safe: appends
            // run to completion on the blocking pool, and the coordinator ignores dropped replies.
            let response = tokio::select! {
                response = handled => response?,
                () = peer_gone(&mut self.socket, &mut inbound) => return Err(ConnectionError::PeerGone),
            };
            if let Some(body) = &response {
                // A Fetch's record sets go out as the log's own bytes, not copied (Kafka's
                // sendfile): copying 8 MiB a response into a fresh buffer was most of a
                // consumer's cost.
                let mut parts = encode_response_parts(
                    request.api_key,
                    request.version,
                    request.header.correlation_id,
                    body,
                )?;
                write_parts(&mut self.socket, &mut parts).await?;
                self.socket.flush().await?;
            }
            // The request's bytes (the frame it points into) count against the budget until its
            // answer is written.
            let api_key = request.api_key as i16;
            drop(request);
            drop(permit);
            crate::http::metrics::METRICS
                .record_request(api_key, started.elapsed().as_micros() as u64);
            span.in_scope(|| log_handled(started, response.as_ref()));
        }
    }

    /// Reads until a whole frame is in `inbound` and takes it off. Its size is checked and its
    /// share of the request budget acquired before room for its body is reserved; from its first
    /// byte (or from the moment the budget allowed it) it must arrive within the frame timeout.
    async fn read_frame(
        &mut self,
        inbound: &mut BytesMut,
        max: usize,
    ) -> Result<Inbound, ConnectionError> {
        let timeout = self.limits.frame_timeout;
        let mut deadline = None;
        let size = loop {
            if let Some(size) = frame_size(inbound, max)? {
                break size;
            }
            if !inbound.is_empty() {
                deadline.get_or_insert_with(|| Instant::now() + timeout);
            }
            if !self
                .fill(inbound, 4 - inbound.len() + READ_AHEAD, deadline)
                .await?
            {
                return if inbound.is_empty() {
                    Ok(Inbound::Closed)
                } else {
                    Err(ConnectionError::Truncated)
                };
            }
        };
        let permit = tokio::select! {
            _ = self.shutdown.cancelled() => return Ok(Inbound::Closed),
            permit = self.budget.acquire(size) => permit,
        };
        let deadline = Some(Instant::now() + timeout);
        if size <= OWN_BUFFER_ABOVE {
            if inbound.len() < 4 + size {
                inbound.reserve(4 + size - inbound.len());
            }
            loop {
                if let Some(frame) = decode_frame(inbound, max)? {
                    return Ok(Inbound::Frame(frame, permit));
                }
                let limit = 4 + size - inbound.len() + READ_AHEAD;
                if !self.fill(inbound, limit, deadline).await? {
                    return Err(ConnectionError::Truncated);
                }
            }
        }
        inbound.advance(4);
        let mut body = BytesMut::with_capacity(size);
        let buffered = inbound.len().min(size);
        body.extend_from_slice(&inbound[..buffered]);
        inbound.advance(buffered);
        while body.len() < size {
            let limit = size - body.len();
            if !self.fill(&mut body, limit, deadline).await? {
                return Err(ConnectionError::Truncated);
            }
        }
        Ok(Inbound::Frame(body.freeze(), permit))
    }

    /// Reads once into `buf`, at most `limit` bytes. Returns false at end of stream or when the
    /// broker is shutting down.
    async fn fill(
        &mut self,
        buf: &mut BytesMut,
        limit: usize,
        deadline: Option<Instant>,
    ) -> Result<bool, ConnectionError> {
        let limit = limit as u64;
        let frame_timeout = self.limits.frame_timeout;
        let socket = &mut self.socket;
        let read = async move {
            let mut limited = socket.take(limit);
            let read = limited.read_buf(buf);
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
