//! Topic administration and per-partition errors through rdkafka, as an application meets them:
//! CreateTopics (configs, already exists, replication factor, invalid config, validate only),
//! CreatePartitions, DeleteTopics, DescribeConfigs with sources, LogAppendTime topics, a record
//! over the topic's `max.message.bytes`, a missing topic with auto-creation off, and
//! ListOffsets by timestamp.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, ConfigSource, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use gregor_itests::clients::{consume_all, make_records, produce_all, producer};
use gregor_itests::TestBroker;

fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?)
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(15)))
}

/// Partition count of `topic` in Metadata, None when it does not exist.
fn partitions(bootstrap: &str, topic: &str) -> anyhow::Result<Option<usize>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .map(|t| t.partitions().len()))
}

#[tokio::test(flavor = "multi_thread")]
async fn create_describe_grow_and_delete_topics() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let admin = admin(&b)?;

    let created = admin
        .create_topics(
            &[NewTopic::new("events", 2, TopicReplication::Fixed(1))
                .set("retention.ms", "3600000")
                .set("segment.bytes", "1048576")],
            &options(),
        )
        .await?;
    assert_eq!(created, vec![Ok("events".to_string())]);
    assert_eq!(partitions(&b, "events")?, Some(2));

    // Errors per topic, as Apache Kafka gives them.
    let again = admin
        .create_topics(
            &[
                NewTopic::new("events", 2, TopicReplication::Fixed(1)),
                NewTopic::new("replicated", 1, TopicReplication::Fixed(3)),
                NewTopic::new("compacted", 1, TopicReplication::Fixed(1))
                    .set("retention.ms", "not-a-number"),
            ],
            &options(),
        )
        .await?;
    let codes: Vec<_> = again
        .iter()
        .map(|r| r.as_ref().err().map(|e| e.1))
        .collect();
    assert_eq!(
        codes,
        vec![
            Some(RDKafkaErrorCode::TopicAlreadyExists),
            Some(RDKafkaErrorCode::InvalidReplicationFactor),
            Some(RDKafkaErrorCode::InvalidConfig),
        ],
        "{again:?}"
    );
    assert_eq!(partitions(&b, "replicated")?, None);

    // validate_only creates nothing.
    let checked = admin
        .create_topics(
            &[NewTopic::new("dry-run", 4, TopicReplication::Fixed(1))],
            &options().validate_only(true),
        )
        .await?;
    assert_eq!(checked, vec![Ok("dry-run".to_string())]);
    assert_eq!(partitions(&b, "dry-run")?, None);

    // DescribeConfigs: the override is a dynamic topic config, the rest are defaults.
    let described = admin
        .describe_configs(&[ResourceSpecifier::Topic("events")], &options())
        .await?;
    let resource = described
        .into_iter()
        .next()
        .expect("one resource")
        .map_err(|e| anyhow::anyhow!("describe configs: {e}"))?;
    let retention = resource.get("retention.ms").expect("retention.ms listed");
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    let cleanup = resource
        .get("cleanup.policy")
        .expect("cleanup.policy listed");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.source, ConfigSource::Default);

    // CreatePartitions grows the topic; records land in the new partition.
    let grown = admin
        .create_partitions(&[NewPartitions::new("events", 3)], &options())
        .await?;
    assert_eq!(grown, vec![Ok("events".to_string())]);
    assert_eq!(partitions(&b, "events")?, Some(3));
    let records = make_records(30, 3, 10);
    let (p, acks) = producer(&b, &[])?;
    produce_all(&p, "events", &records)?;
    assert!(acks
        .0
        .lock()
        .unwrap()
        .iter()
        .any(|(partition, _, _)| *partition == 2));

    // DeleteTopics removes it from Metadata and the data dir.
    let deleted = admin.delete_topics(&["events"], &options()).await?;
    assert_eq!(deleted, vec![Ok("events".to_string())]);
    assert_eq!(partitions(&b, "events")?, None);
    // The files may go after the answer (Kafka deletes them in the background), but they go.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let leftovers: Vec<_> = std::fs::read_dir(broker.data_dir())?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("events-"))
            .collect();
        if leftovers.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "partition dirs left 10 s after DeleteTopics: {leftovers:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// A delivery report: partition and offset, or the error the record failed with.
type Report = Result<(i32, i64), KafkaError>;

/// Every delivery report, in order.
#[derive(Clone, Default)]
struct Reports(Arc<Mutex<Vec<Report>>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let report = match result {
            Ok(m) => Ok((m.partition(), m.offset())),
            Err((e, _)) => Err(e.clone()),
        };
        self.0.lock().unwrap().push(report);
    }
}

/// Sends one record to partition 0 of `topic` and waits for its delivery report.
fn send_one(bootstrap: &str, topic: &str, value: &[u8], timestamp: i64) -> anyhow::Result<Report> {
    let reports = Reports::default();
    let producer: BaseProducer<Reports> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("retries", "0")
        .set("message.timeout.ms", "5000")
        .create_with_context(reports.clone())?;
    producer
        .send(
            BaseRecord::<str, [u8]>::to(topic)
                .partition(0)
                .key("k")
                .payload(value)
                .timestamp(timestamp),
        )
        .map_err(|(e, _)| e)?;
    let _ = producer.flush(Duration::from_secs(20));
    let report = reports.0.lock().unwrap().pop();
    report.ok_or_else(|| anyhow::anyhow!("no delivery report within 20 s"))
}

/// Creates `topics` (name, config overrides) with one partition each.
async fn create(bootstrap: &str, topics: &[(&str, &[(&str, &str)])]) -> anyhow::Result<()> {
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|(name, configs)| {
            configs.iter().fold(
                NewTopic::new(name, 1, TopicReplication::Fixed(1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    admin(bootstrap)?
        .create_topics(&new_topics, &options())
        .await?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_errors_come_back_per_partition() -> anyhow::Result<()> {
    let broker = TestBroker::start(&["--auto-create-topics", "false"])?;
    let b = broker.bootstrap();
    create(&b, &[("small", &[("max.message.bytes", "2000")])]).await?;

    // Over the topic's max.message.bytes (the client's own limit is far higher, so this is
    // the broker's answer): MESSAGE_TOO_LARGE.
    let too_large = send_one(&b, "small", &[b'x'; 10_000], now_ms())?;
    match too_large {
        Err(KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)) => {}
        other => panic!("a 10 kB record to a 2,000-byte topic: {other:?}"),
    }
    assert!(send_one(&b, "small", b"fits", now_ms())?.is_ok());

    // A missing topic with auto-creation off fails and stays missing.
    let missing = send_one(&b, "missing", b"x", now_ms())?;
    assert!(missing.is_err(), "a record to a missing topic: {missing:?}");
    assert_eq!(
        partitions(&b, "missing")?,
        None,
        "missing topic was created"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn log_append_time_topics_stamp_records_with_the_broker_clock() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create(
        &b,
        &[("stamped", &[("message.timestamp.type", "LogAppendTime")])],
    )
    .await?;
    let before = now_ms();
    send_one(&b, "stamped", b"v", 1_000)?.map_err(|e| anyhow::anyhow!("{e}"))?;
    let got = consume_all(&b, "stamped", 1, 1, Duration::from_secs(20))?;
    let stamp = got.get(&0).and_then(|r| r.first()).map(|r| r.timestamp);
    assert!(
        stamp.is_some_and(|t| t >= before - 1_000),
        "LogAppendTime topic: timestamp {stamp:?}, producer sent 1000 at {before}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn list_offsets_finds_the_first_offset_at_a_timestamp() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create(&b, &[("timeline", &[])]).await?;
    let records = make_records(10, 1, 10);
    let (p, _) = producer(&b, &[])?;
    produce_all(&p, "timeline", &records)?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", "itests-times")
        .create()?;
    for (at, want) in [
        (records[4].timestamp, Offset::Offset(4)),
        (records[0].timestamp - 1, Offset::Offset(0)),
        (records[9].timestamp + 1, Offset::End),
    ] {
        let mut query = TopicPartitionList::new();
        query.add_partition_offset("timeline", 0, Offset::Offset(at))?;
        let found = consumer.offsets_for_times(query, Duration::from_secs(10))?;
        let offset = found.find_partition("timeline", 0).map(|p| p.offset());
        assert_eq!(offset, Some(want), "first offset at or after {at}");
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}
