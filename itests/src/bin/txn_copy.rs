//! A consume-transform-produce loop on librdkafka for `itests/tests/rdkafka_consume_transform_produce.rs`,
//! run as its own OS process so the test can kill it with SIGKILL at any point: the rdkafka
//! twin of `itests/java/src/TxnCopy.java`. It reads the input topic (read_committed, in a
//! consumer group), writes each value upper-cased to the same partition of the output topic,
//! and commits the input offsets with `send_offsets_to_transaction`, one transaction per batch
//! of up to 50 records.
//!
//! `txn_copy --bootstrap HOST:PORT --group ID --transactional-id ID --input TOPIC --output TOPIC`
//!
//! Prints on stdout: READY once the producer is initialised and the consumer subscribed,
//! COMMITTED <n> after each transaction of n records, FAILED <error> before exiting on an error
//! it cannot carry on from. An abortable error aborts the transaction and rewinds the consumer
//! to the group's committed offsets, as an application must.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Largest number of records in one transaction.
const BATCH: usize = 50;

/// How long one client call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `--name value` pairs.
fn args() -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(name) = it.next() {
        let name = name
            .strip_prefix("--")
            .with_context(|| format!("unknown argument {name}"))?
            .to_string();
        let value = it
            .next()
            .with_context(|| format!("--{name} needs a value"))?;
        out.insert(name, value);
    }
    Ok(out)
}

/// Whether the error leaves the producer usable after an abort.
fn abortable(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(e) => e.txn_requires_abort() && !e.is_fatal(),
        _ => false,
    }
}

/// Puts every assigned partition back at the group's committed offset (the start when none).
fn rewind(consumer: &BaseConsumer) -> anyhow::Result<()> {
    let committed = consumer.committed(TIMEOUT)?;
    for e in committed.elements() {
        let offset = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        consumer.seek(e.topic(), e.partition(), offset, TIMEOUT)?;
    }
    Ok(())
}

/// One transaction: the records polled, upper-cased, and the offsets after them.
fn copy_batch(
    consumer: &BaseConsumer,
    producer: &ThreadedProducer<DefaultProducerContext>,
    output: &str,
) -> anyhow::Result<usize> {
    let mut batch = Vec::new();
    let deadline = Instant::now() + Duration::from_millis(100);
    while batch.len() < BATCH && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(10)) {
            let m = m?;
            batch.push((
                m.topic().to_string(),
                m.partition(),
                m.offset(),
                m.key().map(<[u8]>::to_vec),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).to_uppercase(),
            ));
        }
    }
    if batch.is_empty() {
        return Ok(0);
    }
    let attempt = || -> Result<(), KafkaError> {
        producer.begin_transaction()?;
        let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        for (topic, partition, offset, key, value) in &batch {
            let mut record = BaseRecord::<[u8], str>::to(output)
                .partition(*partition)
                .payload(value);
            if let Some(key) = key {
                record = record.key(key);
            }
            producer.send(record).map_err(|(e, _)| e)?;
            offsets.insert((topic.clone(), *partition), offset + 1);
        }
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in offsets {
            tpl.add_partition_offset(&topic, partition, Offset::Offset(next))?;
        }
        let metadata = consumer
            .group_metadata()
            .ok_or(KafkaError::Subscription("no group metadata".into()))?;
        producer.send_offsets_to_transaction(&tpl, &metadata, TIMEOUT)?;
        producer.commit_transaction(TIMEOUT)
    };
    match attempt() {
        Ok(()) => Ok(batch.len()),
        Err(e) if abortable(&e) => {
            producer.abort_transaction(TIMEOUT)?;
            rewind(consumer)?;
            Ok(0)
        }
        Err(e) => Err(e.into()),
    }
}

fn run() -> anyhow::Result<()> {
    let args = args()?;
    let arg = |name: &str| {
        args.get(name)
            .map(String::as_str)
            .with_context(|| format!("--{name} missing"))
    };
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", arg("bootstrap")?)
        .set("group.id", arg("group")?)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", arg("bootstrap")?)
        .set("transactional.id", arg("transactional-id")?)
        .set("linger.ms", "1")
        .create()?;
    producer.init_transactions(TIMEOUT)?;
    consumer.subscribe(&[arg("input")?])?;
    say("READY");
    let output = arg("output")?;
    loop {
        let copied = copy_batch(&consumer, &producer, output)?;
        if copied > 0 {
            say(&format!("COMMITTED {copied}"));
        }
    }
}

fn main() {
    if let Err(e) = run() {
        say(&format!("FAILED {e:#}"));
        std::process::exit(1);
    }
}
