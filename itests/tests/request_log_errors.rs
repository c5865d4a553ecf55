//! Issue 13: the DEBUG line of a request says what it answered. A refused CreateTopics logged
//! only its latency; now the line names the error codes the response carried, with Kafka's
//! names, so an operator running with `RUST_LOG=gregor=debug` sees why a client was refused.

use std::time::{Duration, Instant};

use anyhow::ensure;
use gregor_itests::raw::messages::create_topics_request::CreatableTopic;
use gregor_itests::raw::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

fn topic(name: &str, replication_factor: i16) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(StrBytes::from_string(name.to_string()).into())
        .with_num_partitions(1)
        .with_replication_factor(replication_factor)
}

fn create_topics(client: &mut RawClient, topics: Vec<CreatableTopic>) -> anyhow::Result<Vec<i16>> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(topics);
    let response: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 7, &request)?;
    Ok(response.topics.iter().map(|t| t.error_code).collect())
}

/// The broker log's DEBUG lines for handled CreateTopics requests, once `count` are there (or
/// after 10 s, whatever is there).
fn create_topics_lines(broker: &TestBroker, count: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<String> = broker
            .log()
            .lines()
            .filter(|l| l.contains("api=CreateTopics") && l.contains("handled"))
            .map(str::to_string)
            .collect();
        if lines.len() >= count || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_refused_create_topics_logs_its_error_codes() -> anyhow::Result<()> {
    let broker = TestBroker::start_with_env(&[], &[("RUST_LOG", "gregor=debug")])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    ensure!(create_topics(&mut client, vec![topic("taken", 1)])? == vec![0]);
    let codes = create_topics(
        &mut client,
        vec![topic("taken", 1), topic("three-copies", 3)],
    )?;
    ensure!(
        codes == vec![36, 38],
        "TOPIC_ALREADY_EXISTS and INVALID_REPLICATION_FACTOR expected, got {codes:?}"
    );
    let lines = create_topics_lines(&broker, 2);
    ensure!(
        lines.len() == 2,
        "two CreateTopics lines expected: {lines:#?}"
    );
    ensure!(
        !lines[0].contains("errors="),
        "the accepted CreateTopics logs no errors: {}",
        lines[0]
    );
    ensure!(
        lines[1].contains(r#"errors="36 TOPIC_ALREADY_EXISTS, 38 INVALID_REPLICATION_FACTOR""#),
        "the refused CreateTopics names its error codes: {}",
        lines[1]
    );
    Ok(())
}
