//! DescribeConfigs with synonyms, as Apache Kafka answers it: a topic's `retention.ms` with
//! `log.retention.hours` set on the broker names the override, the broker key that was set and
//! the broker keys' defaults, each with its source; the broker resource names its static keys.

use gregor_itests::raw::messages::describe_configs_request::DescribeConfigsResource;
use gregor_itests::raw::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn create(client: &mut RawClient, name: &str, configs: &[(&str, &str)]) -> anyhow::Result<()> {
    let (code, message) = client.create_topic(name, 1, configs)?;
    anyhow::ensure!(code == 0, "creating {name}: {code} {message}");
    Ok(())
}

/// `name=value source [synonym=value source, ...]` of each key of the resource.
fn describe(
    client: &mut RawClient,
    resource_type: i8,
    name: &str,
    keys: &[&str],
) -> anyhow::Result<Vec<String>> {
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_include_documentation(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(s(name))
            .with_configuration_keys(Some(keys.iter().map(|k| s(k)).collect()))]);
    // Kafka knows a topic a moment after CreateTopics answered (its metadata propagates from
    // the controller): ask again while it says UNKNOWN_TOPIC_OR_PARTITION.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let response = loop {
        let response: DescribeConfigsResponse =
            client.call(ApiKey::DescribeConfigs, 4, &request)?;
        if response.results[0].error_code != 3 || std::time::Instant::now() > deadline {
            break response;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let result = &response.results[0];
    anyhow::ensure!(
        result.error_code == 0,
        "describing {name}: error {} {:?}",
        result.error_code,
        result.error_message
    );
    let mut lines: Vec<String> = result
        .configs
        .iter()
        .map(|c| {
            anyhow::ensure!(c.documentation.is_some(), "{} has no documentation", c.name);
            let synonyms: Vec<String> = c
                .synonyms
                .iter()
                .map(|y| {
                    format!(
                        "{}={} {}",
                        y.name,
                        y.value.as_deref().unwrap_or("null"),
                        y.source
                    )
                })
                .collect();
            Ok(format!(
                "{}={} {} [{}]",
                c.name,
                c.value.as_deref().unwrap_or("null"),
                c.config_source,
                synonyms.join(", ")
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    // Kafka answers in its own order.
    lines.sort();
    Ok(lines)
}

#[test]
fn describe_configs_synonyms_and_sources_are_kafkas() -> anyhow::Result<()> {
    let settings = [
        ("log.retention.hours", "1"),
        ("message.max.bytes", "2000000"),
        ("log.flush.interval.ms", "1000"),
    ];
    each_broker(&settings, |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        create(&mut client, "plain", &[])?;
        create(&mut client, "tuned", &[("retention.ms", "5000")])?;
        let keys = [
            "retention.ms",
            "max.message.bytes",
            "flush.ms",
            "segment.bytes",
            "remote.storage.enable",
        ];
        // Sources: 1 topic override, 4 broker setting, 5 default. With only
        // log.retention.hours set, Kafka lists no synonym for retention.ms and calls it a
        // default although its value is the broker's: its synonym list starts at
        // log.retention.ms, which is not set and has no default.
        assert_eq!(
            describe(&mut client, TOPIC, "plain", &keys)?,
            [
                "flush.ms=1000 4 [log.flush.interval.ms=1000 4, log.flush.scheduler.interval.ms=9223372036854775807 5]",
                "max.message.bytes=2000000 4 [message.max.bytes=2000000 4, message.max.bytes=1048588 5]",
                "remote.storage.enable=false 5 []",
                "retention.ms=3600000 5 []",
                "segment.bytes=1073741824 5 [log.segment.bytes=1073741824 5]",
            ]
        );
        assert_eq!(
            describe(&mut client, TOPIC, "tuned", &["retention.ms"])?,
            ["retention.ms=5000 1 [retention.ms=5000 1]"]
        );
        let keys = [
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
            "message.max.bytes",
            "log.segment.bytes",
            "socket.request.max.bytes",
        ];
        assert_eq!(
            describe(&mut client, BROKER, "1", &keys)?,
            [
                "log.retention.hours=1 4 [log.retention.hours=1 4, log.retention.hours=168 5]",
                "log.retention.minutes=null 5 []",
                "log.retention.ms=null 5 []",
                "log.segment.bytes=1073741824 5 [log.segment.bytes=1073741824 5]",
                "message.max.bytes=2000000 4 [message.max.bytes=2000000 4, message.max.bytes=1048588 5]",
                "socket.request.max.bytes=104857600 5 [socket.request.max.bytes=104857600 5]",
            ]
        );
        Ok(())
    })
}
