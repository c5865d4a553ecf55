//! Smoke test of the KIP-848 consumer protocol with librdkafka 2.12 (`group.protocol=consumer`):
//! the broker gives the one consumer all three partitions, it consumes what was produced, and
//! its offsets commit under its member epoch (OffsetCommit v9).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gregor_itests::clients::create_topic;
use gregor_itests::group::produce_values;
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::Message;

#[tokio::test(flavor = "multi_thread")]
async fn one_consumer_gets_every_partition_and_consumes() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "smoke", 3).await?;
    produce_values(&b, "smoke", 3, "v", 30)?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", "smoke-group")
        .set("group.protocol", "consumer")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    consumer.subscribe(&["smoke"])?;
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 30 && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let m = message?;
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    assert_eq!(seen.len(), 30, "every record consumed: {seen:?}");
    let assignment = consumer.assignment()?;
    let partitions: BTreeSet<i32> = assignment
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect();
    assert_eq!(
        partitions,
        [0, 1, 2].into(),
        "the lone member owns every partition"
    );
    consumer.commit_consumer_state(CommitMode::Sync)?;
    let committed = consumer.committed(Duration::from_secs(10))?;
    let total: i64 = committed
        .elements()
        .iter()
        .filter_map(|e| e.offset().to_raw())
        .sum();
    assert_eq!(total, 30, "the member's commit was accepted: {committed:?}");
    Ok(())
}
