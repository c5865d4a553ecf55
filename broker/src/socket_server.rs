//! The listeners: each accepts connections under one shared cap and spawns one task per
//! connection; the server runs the periodic log upkeep and shuts everything down in order on
//! a signal. Kafka counterpart: `SocketServer` with its per-listener `Acceptor`s.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::{now_ms, Broker};
use crate::connection::{serve_socket, ListenerRuntime, RequestBudget};

/// A frame begun must be complete within this, or the connection closes (slowloris: a client
/// dribbling a frame byte by byte would otherwise hold its buffer, and its share of the request
/// budget, forever). Kafka has no such bound, only `connections.max.idle.ms` (10 min) for idle
/// connections, which Gregor does not close. Overridden by `GREGOR_TEST_FRAME_TIMEOUT_MS` (tests).
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of requests read or being served at once, across all connections (Kafka's
/// `queued.max.request.bytes`, which Kafka leaves unbounded); see `RequestBudget` for how it is
/// shared. Overridden by `GREGOR_TEST_REQUEST_BUDGET_BYTES` (tests).
const REQUEST_BUDGET_BYTES: usize = 512 * 1024 * 1024;

/// A client of a SASL listener must have authenticated within this from connecting (or from
/// starting to re-authenticate), or the connection closes: a SASL exchange that stalls must
/// not hold a connection slot. Kafka has no such bound before `connections.max.idle.ms`.
/// Overridden by `GREGOR_TEST_AUTH_TIMEOUT_MS` (tests).
const AUTH_TIMEOUT: Duration = Duration::from_secs(30);

/// Connection limits that are not (yet) configuration: Kafka-like constants, which tests may
/// override through the environment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a begun frame may take to arrive in full.
    pub frame_timeout: Duration,
    /// Bytes of requests held at once across all connections.
    pub request_budget_bytes: usize,
    /// How long a SASL client may take to authenticate.
    pub auth_timeout: Duration,
}

impl Limits {
    /// The defaults, with any environment overrides.
    pub fn from_env() -> Limits {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let frame_timeout =
            env("GREGOR_TEST_FRAME_TIMEOUT_MS").map_or(FRAME_TIMEOUT, Duration::from_millis);
        let budget =
            env("GREGOR_TEST_REQUEST_BUDGET_BYTES").map_or(REQUEST_BUDGET_BYTES, |b| b as usize);
        let auth_timeout =
            env("GREGOR_TEST_AUTH_TIMEOUT_MS").map_or(AUTH_TIMEOUT, Duration::from_millis);
        Limits {
            frame_timeout,
            request_budget_bytes: budget,
            auth_timeout,
        }
    }
}

/// The bound listeners and the broker they serve.
pub struct SocketServer {
    /// Each bound socket with its listener's name, protocol and security.
    listeners: Vec<(TcpListener, Arc<ListenerRuntime>)>,
    broker: Arc<Broker>,
    /// Acquired before accepting, so the connection cap holds even under a burst of connects.
    limit: Arc<Semaphore>,
    /// Frame timeout and request budget every connection is held to.
    limits: Limits,
    /// The request budget in bytes, shared by all connections (see `connection`).
    budget: Arc<RequestBudget>,
    /// Cancelled on shutdown: stops the accept loop and tells idle connections to close.
    shutdown: CancellationToken,
    /// Every connection task, so shutdown can wait for in-flight requests to finish.
    tasks: TaskTracker,
}

impl SocketServer {
    /// Wraps the bound listeners.
    pub fn new(
        listeners: Vec<(TcpListener, Arc<ListenerRuntime>)>,
        broker: Arc<Broker>,
        shutdown: CancellationToken,
    ) -> SocketServer {
        let limit = Arc::new(Semaphore::new(broker.config.max_connections));
        let limits = Limits::from_env();
        let budget = Arc::new(RequestBudget::new(
            limits.request_budget_bytes,
            broker.config.max_request_bytes,
        ));
        tracing::debug!(?limits, "connection limits");
        SocketServer {
            listeners,
            broker,
            limit,
            limits,
            budget,
            shutdown,
            tasks: TaskTracker::new(),
        }
    }

    /// Serves until the shutdown token is cancelled, then waits for connections to finish their
    /// current request and closes the logs cleanly.
    pub async fn run(mut self) {
        let upkeep = tokio::spawn(upkeep(self.broker.clone(), self.shutdown.clone()));
        let listeners = std::mem::take(&mut self.listeners);
        let accepting = listeners
            .into_iter()
            .map(|(socket, listener)| self.accept(socket, listener));
        futures_util::future::join_all(accepting).await;
        self.finish(upkeep).await;
    }

    /// Accepts connections on one listener until shutdown.
    async fn accept(&self, socket: TcpListener, listener: Arc<ListenerRuntime>) {
        let mut backoff = Duration::from_millis(5);
        loop {
            let permit = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                permit = self.limit.clone().acquire_owned() => permit.expect("semaphore never closed"),
            };
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = socket.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    let _ = stream.set_nodelay(true);
                    let connection = serve_socket(
                        stream,
                        peer,
                        self.broker.clone(),
                        self.shutdown.clone(),
                        self.limits,
                        self.budget.clone(),
                        listener.clone(),
                    );
                    self.tasks.spawn(async move {
                        connection.await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(cause = %e, listener = %listener.endpoint.name, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    /// After the listeners stopped: lets connections finish, stops the coordinators and
    /// closes the logs.
    async fn finish(self, upkeep: tokio::task::JoinHandle<()>) {
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("connections still busy after 10 s; closing the logs anyway");
        }
        let _ = upkeep.await;
        // The coordinator answers what it has under way and stops before its log closes.
        self.broker.txn_coordinator.shutdown().await;
        self.broker.coordinator.shutdown().await;
        let broker = self.broker.clone();
        let closed = tokio::task::spawn_blocking(move || broker.logs.shutdown()).await;
        match closed {
            Ok(Ok(())) => tracing::info!("logs flushed and closed cleanly"),
            Ok(Err(e)) => {
                tracing::error!(cause = %e, "closing logs failed; the next start will recover them")
            }
            Err(e) => tracing::error!(cause = %e, "closing logs panicked"),
        }
    }
}

/// Retention, time-based flushing and checkpoints, once a second, off the async threads.
async fn upkeep(broker: Arc<Broker>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let b = broker.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || b.logs.maintain(now_ms())).await {
            tracing::warn!(cause = %e, "log upkeep failed");
        }
    }
}
