//! Fetch at the edges of the log: a consumer starting past the end gets OFFSET_OUT_OF_RANGE
//! and, with `auto.offset.reset`, resets and reads; a record larger than the consumer's
//! `fetch.max.bytes` and per-partition limit still arrives whole; invalid topic names are
//! refused without creating anything.

use std::time::{Duration, Instant};

use gregor_itests::clients::{create_topic, make_records, produce_all, producer};
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

/// Polls `consumer` until `count` records arrived or 30 s passed; returns their offsets.
fn poll_offsets(consumer: &BaseConsumer, count: usize) -> anyhow::Result<Vec<i64>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut offsets = Vec::new();
    while offsets.len() < count && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            offsets.push(m?.offset());
        }
    }
    Ok(offsets)
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_range_offsets_reset() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "edges", 1).await?;
    let records = make_records(20, 1, 10);
    let (p, _) = producer(&b, &[])?;
    produce_all(&p, "edges", &records)?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", "itests-edges")
        .set("auto.offset.reset", "earliest")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("edges", 0, Offset::Offset(1_000))?;
    consumer.assign(&tpl)?;
    assert_eq!(
        poll_offsets(&consumer, 20)?,
        (0..20).collect::<Vec<i64>>(),
        "offset 1000 of 20 is out of range: reset to earliest"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_above_the_fetch_limits_arrives_whole() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "large", 1).await?;
    let (p, _) = producer(&b, &[("compression.type", "none")])?;
    let big = vec![b'z'; 600_000];
    p.send(
        BaseRecord::<(), [u8]>::to("large")
            .partition(0)
            .payload(&big),
    )
    .map_err(|(e, _)| e)?;
    p.send(
        BaseRecord::<(), [u8]>::to("large")
            .partition(0)
            .payload(b"small"),
    )
    .map_err(|(e, _)| e)?;
    p.flush(Duration::from_secs(20))?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", "itests-large")
        .set("message.max.bytes", "50000")
        .set("fetch.max.bytes", "100000")
        .set("max.partition.fetch.bytes", "50000")
        .set("receive.message.max.bytes", "2000000")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("large", 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut sizes = Vec::new();
    while sizes.len() < 2 && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            sizes.push(m?.payload().map_or(0, <[u8]>::len));
        }
    }
    assert_eq!(sizes, vec![600_000, 5]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_response_still_serves_every_partition() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "wide", 3).await?;
    let (p, _) = producer(&b, &[("compression.type", "none"), ("linger.ms", "0")])?;
    let value = vec![b'w'; 30_000];
    for i in 0..30 {
        p.send(
            BaseRecord::<(), [u8]>::to("wide")
                .partition(i % 3)
                .payload(&value),
        )
        .map_err(|(e, _)| e)?;
        p.flush(Duration::from_secs(20))?;
    }
    // Room for about one record per response: later partitions are cut to nothing.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", "itests-wide")
        .set("message.max.bytes", "40000")
        .set("fetch.max.bytes", "50000")
        .set("max.partition.fetch.bytes", "50000")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for partition in 0..3 {
        tpl.add_partition_offset("wide", partition, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    assert_eq!(poll_offsets(&consumer, 30)?.len(), 30, "records received");
    Ok(())
}

#[test]
fn invalid_topic_names_are_refused() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("allow.auto.create.topics", "true")
        .create()?;
    for name in ["bad name!", "..", &"x".repeat(250)] {
        let metadata = consumer.fetch_metadata(Some(name), Duration::from_secs(10))?;
        let topic = metadata.topics().first().expect("the topic asked for");
        assert!(
            topic.error().is_some(),
            "metadata for {name:?} has no error"
        );
    }
    let all = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    // All-topics Metadata lists the internal topics too, as Kafka does (Gregor has
    // __consumer_offsets and __transaction_state from the start, Kafka from first use).
    let names: Vec<_> = all
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|n| n != "__consumer_offsets" && n != "__transaction_state")
        .collect();
    assert!(
        names.is_empty(),
        "topics created from invalid names: {names:?}"
    );
    Ok(())
}
