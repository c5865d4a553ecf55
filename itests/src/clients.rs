//! Small helpers over the `rdkafka` crate for the tests: create topics, produce and track
//! acknowledgements, read partitions back by manual assignment.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Creates `topic` with `partitions` through the admin API.
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await?;
    for r in results {
        if let Err((name, code)) = r {
            bail!("creating {name}: {code}");
        }
    }
    Ok(())
}

/// A record as the tests compare them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    /// Partition it went to.
    pub partition: i32,
    /// Offset it got (set after consuming).
    pub offset: i64,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes.
    pub value: Vec<u8>,
    /// Headers in order.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Create-time timestamp.
    pub timestamp: i64,
}

impl Rec {
    /// A consumed record as the tests compare it.
    pub fn of(m: &impl Message) -> Rec {
        let headers = m
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                    .collect()
            })
            .unwrap_or_default();
        Rec {
            partition: m.partition(),
            offset: m.offset(),
            key: m.key().unwrap_or_default().to_vec(),
            value: m.payload().unwrap_or_default().to_vec(),
            headers,
            timestamp: m.timestamp().to_millis().unwrap_or(-1),
        }
    }
}

/// Where an acknowledged record landed: partition, offset, key.
pub type Ack = (i32, i64, Vec<u8>);

/// Collects every acknowledged record.
#[derive(Clone, Default)]
pub struct AckLog(pub Arc<Mutex<Vec<Ack>>>);

impl ClientContext for AckLog {}

impl ProducerContext for AckLog {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            let key = m.key().unwrap_or_default().to_vec();
            self.0
                .lock()
                .unwrap()
                .push((m.partition(), m.offset(), key));
        }
    }
}

/// A producer that records acknowledgements; `extra` adds or overrides settings.
pub fn producer(
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> anyhow::Result<(BaseProducer<AckLog>, AckLog)> {
    let acks = AckLog::default();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    Ok((config.create_with_context(acks.clone())?, acks))
}

/// Sends `records` (partition taken from each), waiting for every acknowledgement.
pub fn produce_all(
    producer: &BaseProducer<AckLog>,
    topic: &str,
    records: &[Rec],
) -> anyhow::Result<()> {
    for r in records {
        let mut headers = OwnedHeaders::new();
        for (k, v) in &r.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record = BaseRecord::to(topic)
            .partition(r.partition)
            .key(&r.key)
            .payload(&r.value)
            .headers(headers)
            .timestamp(r.timestamp);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, back))
                    if e.rdkafka_error_code()
                        == Some(rdkafka::types::RDKafkaErrorCode::QueueFull) =>
                {
                    producer.poll(Duration::from_millis(10));
                    record = back;
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .context("flushing producer")?;
    Ok(())
}

/// Reads every partition of `topic` from the beginning until `expected` records arrived (or
/// `timeout` passed), by manual assignment, with no consumer group.
pub fn consume_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<i32, Vec<Rec>>> {
    consume_all_with(bootstrap, topic, partitions, expected, timeout, &[])
}

/// `consume_all` with these consumer settings on top (fetch limits, say).
pub fn consume_all_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
    settings: &[(&str, &str)],
) -> anyhow::Result<BTreeMap<i32, Vec<Rec>>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "itests-manual")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in settings {
        config.set(*key, *value);
    }
    let consumer: BaseConsumer = config.create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut out: BTreeMap<i32, Vec<Rec>> = BTreeMap::new();
    let mut count = 0;
    let deadline = Instant::now() + timeout;
    while count < expected && Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = message?;
        out.entry(m.partition()).or_default().push(Rec::of(&m));
        count += 1;
    }
    Ok(out)
}

/// `count` records spread round-robin over `partitions`, each with a key, two headers and an
/// explicit timestamp. Timestamps start now: older ones would fall to the default 7-day
/// `retention.ms` at the broker's next upkeep tick, as they would in Apache Kafka.
pub fn make_records(count: usize, partitions: i32, value_len: usize) -> Vec<Rec> {
    let base_ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64;
    (0..count)
        .map(|i| Rec {
            partition: (i % partitions as usize) as i32,
            offset: -1,
            key: format!("key-{i}").into_bytes(),
            value: format!("{i:0>width$}", width = value_len.max(1)).into_bytes(),
            headers: vec![
                ("seq".into(), i.to_string().into_bytes()),
                ("src".into(), b"itests".to_vec()),
            ],
            timestamp: base_ts + i as i64,
        })
        .collect()
}

/// Total records in `topic` (sum of high watermarks minus log starts).
pub fn record_count(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "itests-watermarks")
        .create()?;
    let mut total = 0;
    for p in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        total += (high - low) as usize;
    }
    Ok(total)
}

/// Asserts that `got` (records read back per partition) holds exactly `expected`: per
/// partition the same count, offsets dense from 0, and key, value, headers and timestamp of
/// each record in the order they were produced.
pub fn assert_records_match(expected: &[Rec], got: &BTreeMap<i32, Vec<Rec>>, partitions: i32) {
    let unexpected: Vec<_> = got
        .keys()
        .filter(|p| !(0..partitions).contains(*p))
        .collect();
    assert!(
        unexpected.is_empty(),
        "records from partitions {unexpected:?}"
    );
    for p in 0..partitions {
        let want: Vec<_> = expected.iter().filter(|r| r.partition == p).collect();
        let have = got.get(&p).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(have.len(), want.len(), "partition {p}: record count");
        for (i, (h, w)) in have.iter().zip(want).enumerate() {
            assert_eq!(
                h.offset, i as i64,
                "partition {p}: offsets are dense from 0"
            );
            assert_eq!(
                (&h.key, &h.value, &h.headers, h.timestamp),
                (&w.key, &w.value, &w.headers, w.timestamp),
                "partition {p} offset {i}"
            );
        }
    }
}
