//! The table, the parsing of overrides, and DescribeConfigs' synonyms as Kafka 4.4 answered them
//! (itests/tests/describe_configs_synonyms.rs checks the same against a running Kafka).

use super::*;
use crate::config::Cli;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A broker configured with `GREGOR_*` variables for `settings`.
fn broker_config(settings: &[(&str, &str)]) -> Config {
    let env = settings.iter().map(|(k, v)| {
        (
            format!("GREGOR_{}", k.to_ascii_uppercase().replace('.', "_")),
            v.to_string(),
        )
    });
    Config::load(&Cli::default(), env).unwrap().config
}

fn normalize(key: &str, value: &str) -> Result<String, String> {
    parse_value(key, value)
        .map(|v| v.render())
        .map_err(|e| e.message.unwrap_or_default())
}

#[test]
fn the_table_is_sorted_and_every_default_passes_its_own_check() {
    let names: Vec<&str> = TOPIC_CONFIGS.iter().map(|k| k.name).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
    // Kafka 4.4 has 37 topic config keys that DescribeConfigs shows.
    assert_eq!(names.len(), 37);
    for k in TOPIC_CONFIGS {
        assert_eq!(
            normalize(k.name, k.default).as_deref(),
            Ok(k.default),
            "{}",
            k.name
        );
        assert!(!k.doc.is_empty(), "{}", k.name);
        for s in k.synonyms {
            if let Some(d) = s.kafka_default {
                assert_eq!(normalize(k.name, d).as_deref(), Ok(d), "{}", s.name);
            }
        }
    }
}

#[test]
fn values_are_checked_as_kafka_checks_them() {
    let ok = normalize;
    assert_eq!(ok("segment.ms", " 100 ").as_deref(), Ok("100"));
    assert_eq!(ok("segment.ms", "+100").as_deref(), Ok("100"));
    assert_eq!(ok("preallocate", "TRUE").as_deref(), Ok("true"));
    assert_eq!(ok("delete.retention.ms", "0").as_deref(), Ok("0"));
    assert_eq!(
        ok("segment.bytes", "0"),
        Err(
            "Invalid value 0 for configuration segment.bytes: Value must be at least 1048576"
                .into()
        )
    );
    assert_eq!(
        ok("min.cleanable.dirty.ratio", "1.5"),
        Err("Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1".into())
    );
    assert_eq!(
        ok("min.cleanable.dirty.ratio", "0.25").as_deref(),
        Ok("0.25")
    );
    assert!(ok("min.cleanable.dirty.ratio", "NaN").is_err());
    assert!(ok("segment.bytes", "3000000000")
        .unwrap_err()
        .ends_with("Not a number of type INT"));
    assert!(ok("compression.type", "ZSTD").is_err());
    assert!(ok("compression.gzip.level", "-1").is_ok());
    assert!(ok("compression.gzip.level", "0").is_err());
    assert!(ok("compression.zstd.level", "-131072").is_ok());
    assert_eq!(
        ok("leader.replication.throttled.replicas", "0:1, 1:1").as_deref(),
        Ok("0:1,1:1")
    );
    assert!(ok("leader.replication.throttled.replicas", "*").is_ok());
    assert!(ok("leader.replication.throttled.replicas", "x").is_err());
    assert!(ok("retention.bytes", "-5").is_ok());
    assert!(ok("retention.ms", "-2").is_err());
    assert!(ok("message.downconversion.enable", "true").is_err());
    assert!(ok("cleanup.policy", "compact").is_ok());
    assert!(ok("cleanup.policy", "delete,compact").is_ok());
    assert!(ok("cleanup.policy", "compact, delete").is_ok());
    assert_eq!(
        ok("cleanup.policy", "compact,shred"),
        Err(
            "Invalid value compact,shred for configuration cleanup.policy: String must be one of: compact, delete"
                .into()
        )
    );
    assert!(ok("cleanup.policy", "delete").is_ok());
    let err = parse_value("no.such.key", "1").unwrap_err();
    assert_eq!(err.code, ResponseError::InvalidConfig);
}

#[test]
fn rules_across_keys_are_kafkas() {
    assert!(TopicConfig::parse(&map(&[("min.compaction.lag.ms", "10")])).is_ok());
    let err = TopicConfig::parse(&map(&[
        ("min.compaction.lag.ms", "10"),
        ("max.compaction.lag.ms", "5"),
    ]))
    .unwrap_err();
    assert!(err
        .message
        .unwrap()
        .starts_with("conflict topic config setting"));
    assert!(TopicConfig::parse(&map(&[("remote.storage.enable", "true")])).is_err());
    assert!(TopicConfig::parse(&map(&[("remote.storage.enable", "false")])).is_ok());
}

#[test]
fn overrides_reach_the_log_typed_and_only_the_ones_it_acts_on() {
    let defaults = LogConfig::default();
    let parsed = TopicConfig::parse(&map(&[
        ("segment.bytes", "2097152"),
        ("retention.ms", "-1"),
        ("message.timestamp.type", "LogAppendTime"),
        ("index.interval.bytes", "0"),
        ("preallocate", "true"),
    ]))
    .unwrap();
    let log = parsed.log_config(&defaults);
    assert_eq!(log.segment_bytes, 2 << 20);
    assert_eq!(log.retention_ms, -1);
    assert_eq!(log.message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(log.index_interval_bytes, 0);
    assert_eq!(
        LogConfig {
            segment_bytes: defaults.segment_bytes,
            retention_ms: defaults.retention_ms,
            message_timestamp_type: defaults.message_timestamp_type,
            index_interval_bytes: defaults.index_interval_bytes,
            ..log
        },
        defaults,
        "preallocate changes nothing"
    );
}

#[test]
fn stored_overrides_that_no_longer_pass_are_left_out() {
    // A data dir from before segment.bytes had Kafka's minimum.
    let stored = map(&[("segment.bytes", "0"), ("retention.ms", "1000")]);
    let parsed = TopicConfig::from_stored("t", &stored);
    assert_eq!(parsed.to_strings(), map(&[("retention.ms", "1000")]));
    assert_eq!(
        parsed.log_config(&LogConfig::default()).segment_bytes,
        1 << 30
    );
}

fn described(key: &str, overrides: &[(&str, &str)], settings: &[(&str, &str)]) -> Described {
    describe(
        topic_config_key(key).unwrap(),
        &map(overrides),
        &broker_config(settings),
    )
}

fn synonym(name: &str, value: &str, source: i8) -> Synonym {
    Synonym {
        name: name.into(),
        value: Some(value.into()),
        source,
    }
}

#[test]
fn synonyms_and_sources_are_kafkas() {
    use source::*;
    // log.retention.hours set: the value is the broker's, but Kafka lists no synonym (the list
    // starts at log.retention.ms, which has no default) and calls it a default.
    let d = described("retention.ms", &[], &[("log.retention.hours", "1")]);
    assert_eq!((d.value.as_str(), d.source), ("3600000", DEFAULT_CONFIG));
    assert_eq!(d.synonyms, vec![]);
    // With the topic's override, only the override.
    let d = described(
        "retention.ms",
        &[("retention.ms", "5000")],
        &[("log.retention.hours", "1")],
    );
    assert_eq!((d.value.as_str(), d.source), ("5000", DYNAMIC_TOPIC_CONFIG));
    assert_eq!(
        d.synonyms,
        vec![synonym("retention.ms", "5000", DYNAMIC_TOPIC_CONFIG)]
    );
    // log.retention.ms set: it, then the other units set, then the defaults.
    let d = described(
        "retention.ms",
        &[],
        &[("log.retention.ms", "60000"), ("log.retention.hours", "2")],
    );
    assert_eq!(
        (d.value.as_str(), d.source),
        ("60000", STATIC_BROKER_CONFIG)
    );
    assert_eq!(
        d.synonyms,
        vec![
            synonym("log.retention.ms", "60000", STATIC_BROKER_CONFIG),
            synonym("log.retention.hours", "2", STATIC_BROKER_CONFIG),
            synonym("log.retention.hours", "168", DEFAULT_CONFIG),
        ]
    );
    let d = described(
        "max.message.bytes",
        &[],
        &[("message.max.bytes", "2000000")],
    );
    assert_eq!(
        (d.value.as_str(), d.source),
        ("2000000", STATIC_BROKER_CONFIG)
    );
    assert_eq!(
        d.synonyms,
        vec![
            synonym("message.max.bytes", "2000000", STATIC_BROKER_CONFIG),
            synonym("message.max.bytes", "1048588", DEFAULT_CONFIG),
        ]
    );
    let d = described("flush.ms", &[], &[("log.flush.interval.ms", "1000")]);
    assert_eq!((d.value.as_str(), d.source), ("1000", STATIC_BROKER_CONFIG));
    assert_eq!(
        d.synonyms,
        vec![
            synonym("log.flush.interval.ms", "1000", STATIC_BROKER_CONFIG),
            synonym(
                "log.flush.scheduler.interval.ms",
                "9223372036854775807",
                DEFAULT_CONFIG
            ),
        ]
    );
    let d = described("segment.ms", &[], &[("log.roll.hours", "2")]);
    assert_eq!(
        (d.value.as_str(), d.source, d.synonyms.len()),
        ("7200000", DEFAULT_CONFIG, 0)
    );
    let d = described("segment.bytes", &[], &[]);
    assert_eq!(
        d.synonyms,
        vec![synonym("log.segment.bytes", "1073741824", DEFAULT_CONFIG)]
    );
    let d = described("remote.storage.enable", &[], &[]);
    assert_eq!(
        (d.value.as_str(), d.source, d.synonyms.len()),
        ("false", DEFAULT_CONFIG, 0)
    );
}
