//! The listener: accepts connections under a cap, spawns one task per connection, runs the
//! periodic log upkeep, and shuts everything down in order on a signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::{now_ms, Broker};
use crate::connection::{Connection, RequestBudget};

/// A frame begun must be complete within this, or the connection closes (slowloris: a client
/// dribbling a frame byte by byte would otherwise hold its buffer, and its share of the request
/// budget, forever). Kafka has no such bound, only `connections.max.idle.ms` (10 min) for idle
/// connections, which Gregor does not close. Overridden by `GREGOR_TEST_FRAME_TIMEOUT_MS` (tests).
const FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of requests read or being served at once, across all connections (Kafka's
/// `queued.max.request.bytes`, which Kafka leaves unbounded); see `RequestBudget` for how it is
/// shared. Overridden by `GREGOR_TEST_REQUEST_BUDGET_BYTES` (tests).
const REQUEST_BUDGET_BYTES: usize = 512 * 1024 * 1024;

/// Connection limits that are not (yet) configuration: Kafka-like constants, which tests may
/// override through the environment.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long a begun frame may take to arrive in full.
    pub frame_timeout: Duration,
    /// Bytes of requests held at once across all connections.
    pub request_budget_bytes: usize,
}

impl Limits {
    /// The defaults, with any environment overrides.
    pub fn from_env() -> Limits {
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let frame_timeout =
            env("GREGOR_TEST_FRAME_TIMEOUT_MS").map_or(FRAME_TIMEOUT, Duration::from_millis);
        let budget =
            env("GREGOR_TEST_REQUEST_BUDGET_BYTES").map_or(REQUEST_BUDGET_BYTES, |b| b as usize);
        Limits {
            frame_timeout,
            request_budget_bytes: budget,
        }
    }
}

/// A bound listener and the broker it serves.
pub struct SocketServer {
    listener: TcpListener,
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
    /// Wraps a bound listener.
    pub fn new(
        listener: TcpListener,
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
            listener,
            broker,
            limit,
            limits,
            budget,
            shutdown,
            tasks: TaskTracker::new(),
        }
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the shutdown token is cancelled, then waits for connections to finish their
    /// current request and closes the logs cleanly.
    pub async fn run(self) {
        let upkeep = tokio::spawn(upkeep(self.broker.clone(), self.shutdown.clone()));
        let mut backoff = Duration::from_millis(5);
        loop {
            let permit = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                permit = self.limit.clone().acquire_owned() => permit.expect("semaphore never closed"),
            };
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((socket, peer)) => {
                    backoff = Duration::from_millis(5);
                    let _ = socket.set_nodelay(true);
                    let connection = Connection::new(
                        socket,
                        peer,
                        self.broker.clone(),
                        self.shutdown.clone(),
                        self.limits,
                        self.budget.clone(),
                    );
                    self.tasks.spawn(async move {
                        connection.run().await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(cause = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
        drop(self.listener);
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
