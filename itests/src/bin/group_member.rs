//! A consumer-group member for the group tests, run as its own OS process so a test can kill it.
//!
//! `group_member BOOTSTRAP GROUP TOPIC [ASSIGNOR] [SESSION_TIMEOUT_MS] [INSTANCE_ID]` subscribes
//! with rdkafka and prints JSON lines on stdout: `{"event":"assigned","partitions":[..]}` with the
//! whole current assignment after every rebalance, and `{"event":"record","partition":p,
//! "offset":o,"value":"..."}` for each record, then `{"event":"committed",...}` once its offset is
//! committed (synchronously, before the next record is read). It stops cleanly (closing the consumer, so it leaves the group) when stdin closes.
//!
//! librdkafka's group debug log goes to stderr (`GREGOR_MEMBER_DEBUG` overrides the contexts),
//! so a test can show what a member that would not stop was waiting for.

use std::collections::BTreeSet;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::ClientContext;

/// Prints the assignment after each rebalance, kept from the rebalances themselves: asking
/// librdkafka (`rd_kafka_assignment`) from the callback can block for good once the consumer
/// is closing (librdkafka issues 4041, 4884).
#[derive(Default)]
struct Printer {
    assignment: Mutex<BTreeSet<i32>>,
    /// A revoke was applied: set once the member, leaving, has given up its partitions.
    revoked: AtomicBool,
}

impl ClientContext for Printer {
    fn log(&self, _level: RDKafkaLogLevel, fac: &str, message: &str) {
        eprintln!("{fac} {message}");
    }
}

impl ConsumerContext for Printer {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut assignment = self.assignment.lock().unwrap();
        // Eager protocols revoke everything before each assignment, so adding and removing
        // holds the whole assignment for them and for the cooperative one alike.
        match rebalance {
            Rebalance::Assign(tpl) => {
                assignment.extend(tpl.elements().iter().map(|e| e.partition()));
            }
            Rebalance::Revoke(tpl) => {
                for e in tpl.elements() {
                    assignment.remove(&e.partition());
                }
                self.revoked.store(true, Ordering::Release);
            }
            Rebalance::Error(_) => return,
        }
        let partitions: Vec<i32> = assignment.iter().copied().collect();
        println!(
            "{}",
            serde_json::json!({"event": "assigned", "partitions": partitions})
        );
        let _ = std::io::stdout().flush();
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() >= 4,
        "usage: group_member BOOTSTRAP GROUP TOPIC [ASSIGNOR] [SESSION_TIMEOUT_MS] [INSTANCE_ID]"
    );
    let assignor = args.get(4).map_or("range", String::as_str);
    let session = args.get(5).map_or("6000", String::as_str);
    let mut config = ClientConfig::new();
    config
        .set_log_level(RDKafkaLogLevel::Debug)
        .set("bootstrap.servers", &args[1])
        .set("group.id", &args[2])
        .set("partition.assignment.strategy", assignor)
        .set("session.timeout.ms", session)
        .set("heartbeat.interval.ms", "200")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "100")
        // Notice added partitions quickly (CreatePartitions test).
        .set("topic.metadata.refresh.interval.ms", "500")
        .set(
            "debug",
            std::env::var("GREGOR_MEMBER_DEBUG").unwrap_or_else(|_| "cgrp".to_string()),
        );
    if let Some(instance) = args.get(6) {
        config.set("group.instance.id", instance);
    }
    let consumer: BaseConsumer<Printer> = config.create_with_context(Printer::default())?;
    consumer.subscribe(&[&args[3]])?;

    let stop = Arc::new(AtomicBool::new(false));
    let stop_reader = stop.clone();
    std::thread::spawn(move || {
        for _ in std::io::stdin().lock().lines() {}
        stop_reader.store(true, Ordering::Release);
    });
    while !stop.load(Ordering::Acquire) {
        let Some(message) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let m = match message {
            Ok(m) => m,
            Err(e) => {
                eprintln!("consumer error: {e}");
                continue;
            }
        };
        let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
        println!(
            "{}",
            serde_json::json!({"event": "record", "partition": m.partition(), "offset": m.offset(), "value": value})
        );
        let _ = std::io::stdout().flush();
        // Reported only once the commit is acknowledged: such a record must never be
        // delivered again to anyone in the group.
        match consumer.commit_message(&m, CommitMode::Sync) {
            Ok(()) => println!(
                "{}",
                serde_json::json!({"event": "committed", "partition": m.partition(), "offset": m.offset()})
            ),
            Err(e) => eprintln!("commit failed at {}/{}: {e}", m.partition(), m.offset()),
        }
        let _ = std::io::stdout().flush();
    }
    // Leave first and serve the revoke here, so the close below finds no rebalance waiting
    // in the queue: a close that has to serve one can hang in librdkafka (issue 4884).
    consumer.context().revoked.store(false, Ordering::Release);
    gregor_itests::group::leave_then_close(consumer, |c| {
        c.revoked.load(Ordering::Acquire) || c.assignment.lock().unwrap().is_empty()
    });
    Ok(())
}
