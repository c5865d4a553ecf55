//! The live view: an HTTP listener beside the Kafka one (`gregor.http.listeners`, loopback
//! by default) serving a page compiled into the binary, its JSON API (`/api/*`), a live stream
//! of snapshots and group events (Server-Sent Events at `/api/events`) and Prometheus metrics
//! (`/metrics`).
//! Kafka has no counterpart; a Kafka user runs a separate UI and a JMX exporter for this.
//!
//! It runs on the broker's tokio runtime but shares nothing with the Kafka listener beyond
//! reads of the broker's state (snapshots are taken on the blocking pool), so a slow or hostile
//! HTTP client cannot hold up a Kafka request. Requests have no body to speak of: anything
//! but GET is refused, and hyper answers malformed or oversized requests with a 4xx.

pub mod groups;
pub mod metrics;
pub mod views;

use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::broker::{now_ms, Broker};

/// How often the event stream sends a snapshot.
const STREAM_INTERVAL: Duration = Duration::from_secs(1);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// Serves the live view on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: tokio::net::TcpListener,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/topics", get(topics))
        .route("/api/groups", get(all_groups))
        .route("/api/groups/{group}", get(one_group))
        .route("/api/group-events", get(group_events))
        .route("/api/events", get(events))
        .route("/metrics", get(prometheus))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .with_state(broker);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// A snapshot taken off the async threads: it walks every partition.
async fn take_snapshot(
    broker: Arc<Broker>,
    previous: Option<views::Snapshot>,
) -> Option<views::Snapshot> {
    tokio::task::spawn_blocking(move || views::snapshot(&broker, now_ms(), previous.as_ref()))
        .await
        .ok()
}

/// `GET /api/topics`: every topic with its partitions.
async fn topics(State(broker): State<Arc<Broker>>) -> Response {
    match take_snapshot(broker, None).await {
        Some(s) => Json(s.topics).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `GET /api/groups`: every group with its members, offsets and lag.
async fn all_groups(State(broker): State<Arc<Broker>>) -> Response {
    match groups::groups(&broker).await {
        Some(g) => Json(g).into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `GET /api/groups/{group}`: one group, 404 if there is none of that id.
async fn one_group(State(broker): State<Arc<Broker>>, Path(group): Path<String>) -> Response {
    match groups::groups(&broker).await {
        Some(g) => match g.into_iter().find(|g| g.group.group_id == group) {
            Some(g) => Json(g).into_response(),
            None => (StatusCode::NOT_FOUND, "no such group\n").into_response(),
        },
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// `GET /api/group-events`: the recent group events, oldest first.
async fn group_events(State(broker): State<Arc<Broker>>) -> Response {
    Json(broker.coordinator.events().recent()).into_response()
}

/// Everything a `snapshot` event carries: topics and groups.
#[derive(serde::Serialize)]
struct LiveSnapshot {
    #[serde(flatten)]
    snapshot: views::Snapshot,
    groups: Vec<groups::GroupView>,
}

/// `GET /api/events`: the recent group events first (`group_event`), then a `snapshot` event
/// (topics and groups) every second and every group event as it happens.
async fn events(
    State(broker): State<Arc<Broker>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (history, rx) = broker.coordinator.events().subscribe();
    let start = (broker, None::<views::Snapshot>, true);
    let snapshots = stream::unfold(start, |(broker, previous, first)| async move {
        if !first {
            tokio::time::sleep(STREAM_INTERVAL).await;
        }
        let snapshot = take_snapshot(broker.clone(), previous).await?;
        let live = LiveSnapshot {
            snapshot: snapshot.clone(),
            groups: groups::groups(&broker).await.unwrap_or_default(),
        };
        let event = Event::default()
            .event("snapshot")
            .json_data(&live)
            .unwrap_or_default();
        Some((Ok(event), (broker, Some(snapshot), false)))
    });
    let group_event = |e: &crate::coordinator::events::Stamped<_>| {
        Ok(Event::default()
            .event("group_event")
            .json_data(e)
            .unwrap_or_default())
    };
    let past = stream::iter(history.iter().map(group_event).collect::<Vec<_>>());
    let live = stream::unfold(rx, move |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(e) => return Some((group_event(&e), rx)),
                // Too slow a reader loses the oldest; the page shows the gap by `seq`.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = stream::select(past.chain(live), snapshots);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /metrics`: Prometheus' text exposition format.
async fn prometheus(State(broker): State<Arc<Broker>>) -> Response {
    let Some(snapshot) = take_snapshot(broker.clone(), None).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let mut out = String::new();
    metrics::METRICS.write(&mut out, api_name);
    metrics::TRAFFIC.write(&mut out);
    views::write_topic_metrics(&mut out, &snapshot);
    if let Some(g) = groups::groups(&broker).await {
        groups::write_group_metrics(&mut out, &g);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}

/// The name Kafka's request metrics give an API key (`Produce`, `Fetch`, ...).
fn api_name(key: i16) -> Option<&'static str> {
    static NAMES: OnceLock<Vec<Option<&'static str>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..=i16::from(u8::MAX))
            .map(|k| {
                gregor_protocol::messages::ApiKey::try_from(k)
                    .ok()
                    // Built once per API key for the life of the process.
                    .map(|api| &*Box::leak(format!("{api:?}").into_boxed_str()))
            })
            .collect()
    });
    names.get(usize::try_from(key).ok()?).copied().flatten()
}
