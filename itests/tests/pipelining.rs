//! Pipelined requests are answered in request order on one connection, and acks=0 produce
//! requests get no response at all (a stray one would break the client's correlation): the
//! records of an acks=0 rdkafka producer all arrive, in order, with no error logged.

use std::time::Duration;

use gregor_itests::clients::{consume_all, create_topic};
use gregor_itests::raw::messages::{ApiKey, ApiVersionsRequest, MetadataRequest, ProduceRequest};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

#[test]
fn pipelined_requests_are_answered_in_order() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    // 60 requests of different kinds and costs in one write, before reading anything.
    let mut bytes = Vec::new();
    for i in 0..60 {
        let frame = if i % 2 == 0 {
            client.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?
        } else {
            client.frame(
                ApiKey::Metadata,
                12,
                &MetadataRequest::default().with_topics(None),
            )?
        };
        bytes.extend_from_slice(&frame);
    }
    client.send_bytes(&bytes)?;
    let mut order = Vec::new();
    for _ in 0..60 {
        order.push(client.read_raw_response()?.0);
    }
    assert_eq!(order, (1..=60).collect::<Vec<i32>>(), "correlation ids");
    Ok(())
}

#[test]
fn acks_0_produce_gets_no_response() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    // A valid acks=0 Produce with nothing in it, then ApiVersions: the first response on the
    // wire must be the ApiVersions one.
    let produce = client.frame(
        ApiKey::Produce,
        9,
        &ProduceRequest::default().with_acks(0).with_timeout_ms(1000),
    )?;
    let versions = client.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    client.send_bytes(&[produce, versions].concat())?;
    let (correlation_id, _) = client.read_raw_response()?;
    assert_eq!(correlation_id, 2, "the first response answers ApiVersions");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn acks_0_records_arrive_without_responses() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    create_topic(&broker.bootstrap(), "fire-and-forget", 1).await?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("acks", "0")
        .set("linger.ms", "2")
        .create()?;
    let count = 2_000;
    for i in 0..count {
        let value = format!("v{i}");
        producer
            .send(
                BaseRecord::<(), String>::to("fire-and-forget")
                    .partition(0)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)?;
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30))?;
    let got = consume_all(
        &broker.bootstrap(),
        "fire-and-forget",
        1,
        count,
        Duration::from_secs(30),
    )?;
    let values: Vec<String> = got
        .get(&0)
        .map(|records| {
            records
                .iter()
                .map(|r| String::from_utf8_lossy(&r.value).into_owned())
                .collect()
        })
        .unwrap_or_default();
    let expected: Vec<String> = (0..count).map(|i| format!("v{i}")).collect();
    assert_eq!(values.len(), count, "records stored with acks=0");
    assert_eq!(values, expected, "in the order produced");
    let log = broker.log();
    assert!(
        !log.lines().any(|l| l.contains("ERROR")),
        "errors logged:\n{log}"
    );
    Ok(())
}
