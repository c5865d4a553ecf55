//! A consumer-group member on librdkafka for the consumer-protocol tests, run as its own OS
//! process so a test can stop it, kill it with SIGKILL, or start another: the rdkafka twin of
//! `itests/java/src/GroupConsumer.java`, printing the same JSON lines (see there).
//!
//! `consumer_member --bootstrap HOST:PORT --group ID (--topics T1,T2 | --pattern REGEX)
//! [--protocol consumer|classic] [--assignor uniform|range] [--client-id ID]
//! [--instance-id ID]`
//!
//! librdkafka takes a subscription starting with `^` as a regular expression; with
//! `group.protocol=consumer` it sends it to the broker (SubscribedTopicRegex). It reads from the
//! earliest offset and commits synchronously after every batch of records it polled, and stops
//! cleanly (closing the consumer, so it leaves the group) when its stdin closes.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde_json::json;

/// Largest batch of records polled before their offsets are committed.
const BATCH: usize = 200;

/// Prints `line` (a JSON object) with "ts", the wall-clock time in microseconds, as the Java
/// member does: the test orders events of different processes by it.
fn emit(mut line: serde_json::Value) {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    line["ts"] = json!(micros);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn partitions(tpl: &TopicPartitionList) -> serde_json::Value {
    tpl.elements()
        .iter()
        .map(|e| json!([e.topic(), e.partition()]))
        .collect()
}

/// Prints the listener events, after librdkafka applied them (incremental with this protocol).
struct Listener;

impl ClientContext for Listener {
    fn error(&self, error: KafkaError, reason: &str) {
        emit(json!({"event": "error", "message": format!("{error}: {reason}")}));
    }
}

impl ConsumerContext for Listener {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                emit(json!({"event": "assigned", "partitions": partitions(tpl)}));
            }
            Rebalance::Revoke(tpl) => {
                let event = if consumer.assignment_lost() {
                    "lost"
                } else {
                    "revoked"
                };
                emit(json!({"event": event, "partitions": partitions(tpl)}));
            }
            Rebalance::Error(e) => emit(json!({"event": "error", "message": e.to_string()})),
        }
    }
}

/// The member id the coordinator gave (empty before the first heartbeat answer).
fn member_id_of(consumer: &BaseConsumer<Listener>) -> String {
    // SAFETY: rd_kafka_memberid takes a live handle and returns a string it allocated (or
    // null), which is copied and then freed with rd_kafka_mem_free as its docs require.
    unsafe {
        let handle = consumer.client().native_ptr();
        let id = rdkafka::bindings::rd_kafka_memberid(handle);
        if id.is_null() {
            return String::new();
        }
        let text = std::ffi::CStr::from_ptr(id).to_string_lossy().into_owned();
        rdkafka::bindings::rd_kafka_mem_free(handle, id.cast());
        text
    }
}

/// The `--name value` pairs of the command line.
fn options() -> anyhow::Result<BTreeMap<String, String>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = BTreeMap::new();
    for pair in args.chunks(2) {
        let name = pair[0]
            .strip_prefix("--")
            .with_context(|| format!("unexpected argument {}", pair[0]))?;
        let value = pair
            .get(1)
            .with_context(|| format!("--{name} needs a value"))?;
        out.insert(name.to_string(), value.clone());
    }
    Ok(out)
}

fn main() -> anyhow::Result<()> {
    let opts = options()?;
    let get = |k: &str| opts.get(k).with_context(|| format!("--{k} is required"));
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", get("bootstrap")?)
        .set("group.id", get("group")?)
        .set(
            "group.protocol",
            opts.get("protocol").map_or("consumer", String::as_str),
        )
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        // Back within a second of a broker restart, as the Java client is (librdkafka's
        // default backs off up to 10 s, longer than the tests' session timeouts).
        .set("reconnect.backoff.max.ms", "1000")
        // A regex subscription learns of a new topic from metadata too.
        .set("topic.metadata.refresh.interval.ms", "1000");
    for (option, key) in [
        ("assignor", "group.remote.assignor"),
        ("client-id", "client.id"),
        ("instance-id", "group.instance.id"),
    ] {
        if let Some(v) = opts.get(option) {
            config.set(key, v);
        }
    }
    let consumer: BaseConsumer<Listener> = config.create_with_context(Listener)?;
    let subscription: Vec<String> = match (opts.get("pattern"), opts.get("topics")) {
        (Some(p), _) => vec![p.clone()],
        (None, Some(t)) => t.split(',').map(str::to_string).collect(),
        (None, None) => anyhow::bail!("--topics or --pattern is required"),
    };
    consumer.subscribe(&subscription.iter().map(String::as_str).collect::<Vec<_>>())?;

    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines() {}
        stop_reader.store(true, Ordering::Release);
    });
    let mut member_id = String::new();
    while !stop.load(Ordering::Acquire) {
        // Up to BATCH records: the first waits, the rest are those already fetched.
        let mut next: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut wait = Duration::from_millis(100);
        while next.len() < BATCH {
            let Some(message) = consumer.poll(wait) else {
                break;
            };
            wait = Duration::ZERO;
            match message {
                Ok(m) => {
                    let value = String::from_utf8_lossy(m.payload().unwrap_or_default());
                    emit(
                        json!({"event": "record", "topic": m.topic(), "partition": m.partition(),
                        "offset": m.offset(), "value": value}),
                    );
                    next.insert((m.topic().to_string(), m.partition()), m.offset() + 1);
                }
                Err(e) => emit(json!({"event": "error", "message": e.to_string()})),
            }
        }
        if !next.is_empty() {
            let mut offsets = TopicPartitionList::new();
            for ((topic, partition), offset) in &next {
                offsets.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
            }
            match consumer.commit(&offsets, CommitMode::Sync) {
                Ok(()) => {
                    for ((topic, partition), offset) in &next {
                        emit(json!({"event": "committed", "topic": topic,
                            "partition": partition, "offset": offset}));
                    }
                }
                Err(e) => emit(json!({"event": "error", "message": format!("commit: {e}")})),
            }
        }
        let id = member_id_of(&consumer);
        if id != member_id {
            member_id = id;
            // librdkafka does not expose the member epoch.
            emit(json!({"event": "member", "member_id": member_id}));
        }
    }
    consumer.unsubscribe();
    drop(consumer);
    emit(json!({"event": "closed"}));
    Ok(())
}
