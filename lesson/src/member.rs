//! One consumer of the lesson, run as its own OS process (`gregor-lesson member ...`) so the
//! lesson can stop it cleanly or kill it with SIGKILL, as a learner would with a real one.
//!
//! It prints one JSON line per event on stdout: `{"event":"assigned","partitions":[..]}` with
//! its whole assignment after every change, and `{"event":"record","partition":p,"offset":o}`
//! for each order it processed, then commits the offset past it synchronously: killed between
//! the two, the order is processed again by the partition's next owner (Kafka's at-least-once),
//! never lost. It leaves the group cleanly when stdin closes.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::ClientContext;

use crate::group_view::Protocol;

/// One line a member prints, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum MemberEvent {
    /// Its whole assignment, after every change.
    Assigned {
        /// Partitions of the topic, sorted.
        partitions: Vec<i32>,
    },
    /// An order it processed.
    Record {
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
    },
}

/// What a member is told to be.
#[derive(Debug, Clone)]
pub struct MemberSpec {
    /// The broker.
    pub bootstrap: String,
    /// The consumer group.
    pub group: String,
    /// The topic it subscribes to.
    pub topic: String,
    /// Its `client.id`, the name the narration uses.
    pub name: String,
    /// Classic or consumer protocol.
    pub protocol: Protocol,
    /// The assignor: the client's strategy (classic) or the broker's (consumer).
    pub assignor: Option<String>,
    /// `session.timeout.ms` of a classic member (the broker sets it for the consumer protocol).
    pub session_timeout_ms: u32,
}

struct Reporter;

impl ClientContext for Reporter {}

impl ConsumerContext for Reporter {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _rebalance: &Rebalance<'_>) {
        let mut partitions: Vec<i32> = consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        partitions.sort_unstable();
        emit(&MemberEvent::Assigned { partitions });
    }
}

fn emit(event: &MemberEvent) {
    let Ok(line) = serde_json::to_string(event) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs the member until stdin closes.
pub fn run(spec: &MemberSpec) -> anyhow::Result<()> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &spec.bootstrap)
        .set("group.id", &spec.group)
        .set("client.id", &spec.name)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100");
    match spec.protocol {
        Protocol::Classic => {
            config
                .set("session.timeout.ms", spec.session_timeout_ms.to_string())
                .set("heartbeat.interval.ms", "500");
            if let Some(a) = &spec.assignor {
                config.set("partition.assignment.strategy", a);
            }
        }
        Protocol::Consumer => {
            config.set("group.protocol", "consumer");
            if let Some(a) = &spec.assignor {
                config.set("group.remote.assignor", a);
            }
        }
    }
    let consumer: BaseConsumer<Reporter> = config.create_with_context(Reporter)?;
    consumer.subscribe(&[&spec.topic])?;

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = stop.clone();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines().map_while(Result::ok) {}
        watcher.store(true, Ordering::Relaxed);
    });
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                emit(&MemberEvent::Record {
                    partition: m.partition(),
                    offset: m.offset(),
                });
                consumer.commit_message(&m, CommitMode::Sync)?;
            }
            Some(Err(e)) => eprintln!("{}: {e}", spec.name),
            None => {}
        }
    }
    // Leaves the group, so its partitions move at once rather than after a session timeout.
    consumer.unsubscribe();
    drop(consumer);
    Ok(())
}
