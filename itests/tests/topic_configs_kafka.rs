//! Every topic config key of Kafka 4.4 is accepted at creation, checked as Kafka checks it
//! (type, range, valid strings; INVALID_CONFIG otherwise) and shown by DescribeConfigs with its
//! type, even the keys Gregor only stores (issue 13, defect 5).

use gregor_itests::raw::messages::describe_configs_request::DescribeConfigsResource;
use gregor_itests::raw::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;

const INVALID_CONFIG: i16 = 40;
const TOPIC: i8 = 2;
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DEFAULT_CONFIG: i8 = 5;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn create(
    client: &mut RawClient,
    name: &str,
    configs: &[(&str, &str)],
) -> anyhow::Result<(i16, String)> {
    client.create_topic(name, 1, configs)
}

/// (value, source, type) of `key` in DescribeConfigs v4 of `topic`.
fn describe(client: &mut RawClient, topic: &str, key: &str) -> anyhow::Result<(String, i8, i8)> {
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(s(topic))]);
    let response: DescribeConfigsResponse = client.call(ApiKey::DescribeConfigs, 4, &request)?;
    let entry = response.results[0]
        .configs
        .iter()
        .find(|c| c.name.as_str() == key)
        .ok_or_else(|| anyhow::anyhow!("{key} not described"))?;
    let value = entry
        .value
        .as_ref()
        .map(|v| v.to_string())
        .unwrap_or_default();
    Ok((value, entry.config_source, entry.config_type))
}

#[test]
fn kafkas_topic_configs_are_accepted_checked_and_described() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        let stored = [
            ("delete.retention.ms", "1000"),
            ("min.cleanable.dirty.ratio", "0.25"),
            ("preallocate", "true"),
            ("compression.zstd.level", "5"),
            ("segment.jitter.ms", "10"),
            ("max.compaction.lag.ms", "100000"),
            ("leader.replication.throttled.replicas", "0:1"),
            ("message.timestamp.after.max.ms", "60000"),
        ];
        let (code, message) = create(&mut client, "tuned", &stored)?;
        assert_eq!(code, 0, "{message}");
        // (key, DescribeConfigs type: 1 BOOLEAN, 3 INT, 5 LONG, 6 DOUBLE, 7 LIST)
        let types = [5, 6, 1, 3, 5, 5, 7, 5];
        for ((key, value), config_type) in stored.iter().zip(types) {
            let described = describe(&mut client, "tuned", key)?;
            let expected = (value.to_string(), DYNAMIC_TOPIC_CONFIG, config_type);
            assert_eq!(described, expected, "{key}");
        }
        // Keys not set show Kafka's defaults.
        for (key, default, config_type) in [
            ("delete.retention.ms", "86400000", 5),
            ("min.cleanable.dirty.ratio", "0.5", 6),
            ("file.delete.delay.ms", "60000", 5),
            ("unclean.leader.election.enable", "false", 1),
            ("compression.gzip.level", "-1", 3),
            ("local.retention.ms", "-2", 5),
            ("segment.bytes", "1073741824", 3),
        ] {
            let (code, message) = create(&mut client, "plain", &[])?;
            assert!(code == 0 || code == 36, "{message}");
            let described = describe(&mut client, "plain", key)?;
            assert_eq!(
                described,
                (default.into(), DEFAULT_CONFIG, config_type),
                "{key}"
            );
        }

        for (key, value) in [
            ("segment.bytes", "0"),
            ("segment.bytes", "3000000000"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("compression.type", "brotli"),
            ("compression.gzip.level", "10"),
            ("preallocate", "maybe"),
            ("retention.ms", "-2"),
            ("max.message.bytes", "-1"),
            ("message.timestamp.after.max.ms", "-1"),
            ("leader.replication.throttled.replicas", "x"),
            ("min.compaction.lag.ms", "200000000000000000000"),
            ("message.downconversion.enable", "true"),
            ("no.such.key", "1"),
        ] {
            let (code, message) = create(&mut client, "refused", &[(key, value)])?;
            assert_eq!(code, INVALID_CONFIG, "{key}={value}: {message}");
        }
        Ok(())
    })
}
