//! Topic configuration: one typed table of Kafka's topic config keys (type, validator, default,
//! broker-level synonyms, documentation, and what each does to the log), the typed overrides a
//! topic's strings are parsed into once, and DescribeConfigs' view of a key (value, source,
//! synonyms). Kafka counterparts: `LogConfig` (its `ConfigDef`), `ServerTopicConfigSynonyms`
//! and the topic half of `ConfigHelper`.
//!
//! Overrides are stored as strings (`topics.json`, Kafka key names) in the normalized form
//! `TopicConfig::parse` renders, so what was stored is what DescribeConfigs shows; the log sees
//! only the typed value, through `TopicConfig::log_config`.

use std::collections::BTreeMap;

use gregor_protocol::ResponseError;
use gregor_storage::{LogConfig, TimestampType};

use crate::config::Config;
use crate::error::KafkaError;

/// How a topic config's value is checked and typed, as Kafka's `ConfigDef` type and validator
/// for the key (LogConfig in Kafka 4.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TopicConfigKind {
    /// `true` or `false`, any case.
    Boolean,
    /// A 32-bit integer in `min..=max`.
    Int(i64, i64),
    /// A 64-bit integer in `min..=max`.
    Long(i64, i64),
    /// A double in `min..=max`.
    Double(f64, f64),
    /// One of these strings, case-sensitive.
    Choice(&'static [&'static str]),
    /// A comma-separated list from `compact` and `delete`.
    CleanupPolicy,
    /// `*` or a list of `partition:broker` pairs (the replication throttle lists).
    ReplicaList,
    /// Kafka's gzip level validator: 1 to 9, or -1 for the library's default.
    GzipLevel,
}

impl TopicConfigKind {
    /// The type DescribeConfigs v3+ reports (`ConfigType` in the DescribeConfigs response:
    /// 1 BOOLEAN, 2 STRING, 3 INT, 5 LONG, 6 DOUBLE, 7 LIST).
    pub fn describe_type(self) -> i8 {
        match self {
            TopicConfigKind::Boolean => 1,
            TopicConfigKind::Choice(_) => 2,
            TopicConfigKind::Int(..) | TopicConfigKind::GzipLevel => 3,
            TopicConfigKind::Long(..) => 5,
            TopicConfigKind::Double(..) => 6,
            TopicConfigKind::CleanupPolicy | TopicConfigKind::ReplicaList => 7,
        }
    }

    /// Whether values are comma-separated lists (IncrementalAlterConfigs APPEND and SUBTRACT
    /// apply only to those, as in Kafka).
    pub fn is_list(self) -> bool {
        matches!(
            self,
            TopicConfigKind::CleanupPolicy | TopicConfigKind::ReplicaList
        )
    }
}

/// A topic config value, parsed once from its string.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigValue {
    Boolean(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    String(String),
    List(Vec<String>),
}

impl ConfigValue {
    /// The value as Kafka's `ConfigDef.convertToString` writes it: numbers without a sign or
    /// padding, booleans in lower case, lists joined by commas.
    pub fn render(&self) -> String {
        match self {
            ConfigValue::Boolean(b) => b.to_string(),
            ConfigValue::Int(n) => n.to_string(),
            ConfigValue::Long(n) => n.to_string(),
            ConfigValue::Double(n) => n.to_string(),
            ConfigValue::String(s) => s.clone(),
            ConfigValue::List(items) => items.join(","),
        }
    }

    fn long(&self) -> Option<i64> {
        match self {
            ConfigValue::Int(n) => Some(i64::from(*n)),
            ConfigValue::Long(n) => Some(*n),
            _ => None,
        }
    }
}

/// A broker key that sets a topic config's default (Kafka's `ServerTopicConfigSynonyms`).
#[derive(Debug, Clone, Copy)]
pub struct BrokerSynonym {
    /// Kafka's broker key (`log.retention.hours`).
    pub name: &'static str,
    /// Kafka 4.4's default for the broker key; `None` where Kafka has none (`log.retention.ms`
    /// defaults to null), which DescribeConfigs then does not list as a synonym.
    pub kafka_default: Option<&'static str>,
}

/// One topic config key: everything Gregor knows about it, in one place.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    /// Kafka's key name.
    pub name: &'static str,
    /// Kafka 4.4's default, used when no broker key sets one.
    pub default: &'static str,
    /// Type and validator.
    pub kind: TopicConfigKind,
    /// Broker keys that set the default, highest priority first (Kafka's order); empty for
    /// keys Kafka has no broker default for.
    pub synonyms: &'static [BrokerSynonym],
    /// What the key means, for DescribeConfigs' `include_documentation`.
    pub doc: &'static str,
    /// The broker's effective default where Gregor's configuration holds one (so
    /// `log.retention.hours=1` shows as `retention.ms=3600000`).
    broker_value: Option<fn(&Config) -> String>,
    /// What an override does to the log; `None` for keys Gregor stores and describes only.
    apply: Option<fn(&mut LogConfig, &ConfigValue)>,
}

const I32_MAX: i64 = i32::MAX as i64;
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

const fn syn(name: &'static str, kafka_default: &'static str) -> BrokerSynonym {
    BrokerSynonym {
        name,
        kafka_default: Some(kafka_default),
    }
}

const fn syn_null(name: &'static str) -> BrokerSynonym {
    BrokerSynonym {
        name,
        kafka_default: None,
    }
}

/// A key Gregor stores and describes but does not act on.
const fn stored(
    name: &'static str,
    default: &'static str,
    kind: TopicConfigKind,
    synonyms: &'static [BrokerSynonym],
    doc: &'static str,
) -> TopicConfigKey {
    TopicConfigKey {
        name,
        default,
        kind,
        synonyms,
        doc,
        broker_value: None,
        apply: None,
    }
}

/// A key the log acts on: `broker_value` reads the broker's default, `apply` sets the override.
const fn applied(
    stored: TopicConfigKey,
    broker_value: fn(&Config) -> String,
    apply: fn(&mut LogConfig, &ConfigValue),
) -> TopicConfigKey {
    TopicConfigKey {
        broker_value: Some(broker_value),
        apply: Some(apply),
        ..stored
    }
}

/// A numeric override as the log field's type, saturating (the validator already bounds it).
fn num<T: TryFrom<i64> + Bounded>(value: &ConfigValue) -> Option<T> {
    let n = value.long()?;
    Some(T::try_from(n).unwrap_or(if n < 0 { T::MIN } else { T::MAX }))
}

/// The bounds `num` saturates to.
trait Bounded: Sized {
    const MIN: Self;
    const MAX: Self;
}
impl Bounded for i64 {
    const MIN: i64 = i64::MIN;
    const MAX: i64 = i64::MAX;
}
impl Bounded for u64 {
    const MIN: u64 = 0;
    const MAX: u64 = u64::MAX;
}
impl Bounded for u32 {
    const MIN: u32 = 0;
    const MAX: u32 = u32::MAX;
}

/// Every topic config key of Kafka 4.4 (LogConfig's non-internal keys), sorted by name. All
/// are accepted, checked as Kafka checks them, stored and described; the ones with `apply`
/// change the log (and `max.message.bytes` the produce path).
pub const TOPIC_CONFIGS: &[TopicConfigKey] = {
    use TopicConfigKind::*;
    &[
        applied(
            stored("cleanup.policy", "delete", CleanupPolicy, &[syn("log.cleanup.policy", "delete")],
                "A string that is either \"delete\" or \"compact\" or both: \"delete\" removes old segments by retention.ms and retention.bytes, \"compact\" keeps the latest record of each key (the log cleaner)."),
            |c| policy_name(c.log.cleanup),
            |l, v| if let ConfigValue::List(items) = v { l.cleanup = gregor_storage::CleanupPolicy::from_items(items.iter().map(String::as_str)) },
        ),
        stored("compression.gzip.level", "-1", GzipLevel, &[syn("compression.gzip.level", "-1")],
            "The compression level to use if compression.type is set to gzip."),
        stored("compression.lz4.level", "9", Int(1, 17), &[syn("compression.lz4.level", "9")],
            "The compression level to use if compression.type is set to lz4."),
        stored("compression.type", "producer", Choice(COMPRESSION_TYPES), &[syn("compression.type", "producer")],
            "The final compression type of the topic; \"producer\" keeps the codec the producer chose."),
        stored("compression.zstd.level", "3", Int(-131072, 22), &[syn("compression.zstd.level", "3")],
            "The compression level to use if compression.type is set to zstd."),
        applied(
            stored("delete.retention.ms", "86400000", Long(0, i64::MAX), &[syn("log.cleaner.delete.retention.ms", "86400000")],
                "How long delete tombstones are kept in a compacted topic."),
            |c| c.log.delete_retention_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.delete_retention_ms = n },
        ),
        stored("errors.deadletterqueue.group.enable", "false", Boolean, &[],
            "Whether a group's dead letter queue may be created for this topic."),
        stored("file.delete.delay.ms", "60000", Long(0, i64::MAX), &[syn("log.segment.delete.delay.ms", "60000")],
            "The time to wait before deleting a file from the filesystem."),
        applied(
            stored("flush.messages", "9223372036854775807", Long(1, i64::MAX), &[syn("log.flush.interval.messages", "9223372036854775807")],
                "Force an fsync of the log after this many records."),
            |c| c.log.flush_messages.min(i64::MAX as u64).to_string(),
            |l, v| if let Some(n) = num(v) { l.flush_messages = n },
        ),
        applied(
            stored("flush.ms", "9223372036854775807", Long(0, i64::MAX), &[syn_null("log.flush.interval.ms"), syn("log.flush.scheduler.interval.ms", "9223372036854775807")],
                "Force an fsync of the log when the oldest unflushed record is this old."),
            |c| c.log.flush_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.flush_ms = n },
        ),
        stored("follower.replication.throttled.replicas", "", ReplicaList, &[],
            "Replicas whose log replication is throttled on the follower side (Gregor does not replicate)."),
        applied(
            stored("index.interval.bytes", "4096", Int(0, I32_MAX), &[syn("log.index.interval.bytes", "4096")],
                "How many bytes of log lie between two offset index entries."),
            |c| c.log.index_interval_bytes.to_string(),
            // 0 is Kafka's "index every batch"; the log reads 0 as its minimum of one batch.
            |l, v| if let Some(n) = num(v) { l.index_interval_bytes = n },
        ),
        stored("leader.replication.throttled.replicas", "", ReplicaList, &[],
            "Replicas whose log replication is throttled on the leader side (Gregor does not replicate)."),
        stored("local.retention.bytes", "-2", Long(-2, i64::MAX), &[syn("log.local.retention.bytes", "-2")],
            "Bytes a tiered partition keeps locally (Gregor has no tiered storage)."),
        stored("local.retention.ms", "-2", Long(-2, i64::MAX), &[syn("log.local.retention.ms", "-2")],
            "Time a tiered partition keeps segments locally (Gregor has no tiered storage)."),
        applied(
            stored("max.compaction.lag.ms", "9223372036854775807", Long(1, i64::MAX), &[syn("log.cleaner.max.compaction.lag.ms", "9223372036854775807")],
                "The longest time a record stays uncompacted."),
            |c| c.log.max_compaction_lag_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.max_compaction_lag_ms = n },
        ),
        stored("max.decompressed.message.bytes", "2147483639", Int(1, 2147483639), &[syn("max.decompressed.message.bytes", "2147483639")],
            "The largest record batch size after decompression."),
        // The produce path reads it (apis/produce.rs); the log has no field for it.
        TopicConfigKey {
            broker_value: Some(|c| c.message_max_bytes.to_string()),
            ..stored("max.message.bytes", "1048588", Int(0, I32_MAX), &[syn("message.max.bytes", "1048588")],
                "The largest record batch size the topic accepts.")
        },
        applied(
            stored("message.timestamp.after.max.ms", "3600000", Long(0, i64::MAX), &[syn("log.message.timestamp.after.max.ms", "3600000")],
                "How far in the future a CreateTime timestamp may lie."),
            |c| c.log.message_timestamp_after_max_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.message_timestamp_after_max_ms = n },
        ),
        applied(
            stored("message.timestamp.before.max.ms", "9223372036854775807", Long(0, i64::MAX), &[syn("log.message.timestamp.before.max.ms", "9223372036854775807")],
                "How far in the past a CreateTime timestamp may lie."),
            |c| c.log.message_timestamp_before_max_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.message_timestamp_before_max_ms = n },
        ),
        applied(
            stored("message.timestamp.type", "CreateTime", Choice(&["CreateTime", "LogAppendTime"]), &[syn("log.message.timestamp.type", "CreateTime")],
                "Whether a record's timestamp is the producer's (CreateTime) or the append time (LogAppendTime)."),
            |c| c.log.message_timestamp_type.name().to_string(),
            |l, v| {
                if let Some(kind) = TimestampType::from_name(&v.render()) {
                    l.message_timestamp_type = kind;
                }
            },
        ),
        applied(
            stored("min.cleanable.dirty.ratio", "0.5", Double(0.0, 1.0), &[syn("log.cleaner.min.cleanable.ratio", "0.5")],
                "How dirty a compacted log must be before it is cleaned."),
            |c| c.log.min_cleanable_dirty_ratio.to_string(),
            |l, v| if let ConfigValue::Double(r) = v { l.min_cleanable_dirty_ratio = *r },
        ),
        applied(
            stored("min.compaction.lag.ms", "0", Long(0, i64::MAX), &[syn("log.cleaner.min.compaction.lag.ms", "0")],
                "The shortest time a record stays uncompacted."),
            |c| c.log.min_compaction_lag_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.min_compaction_lag_ms = n },
        ),
        // Kafka 4.4 lists min.insync.replicas=1 as DYNAMIC_DEFAULT_BROKER_CONFIG (3) too: its
        // controller writes a cluster default at format time. Gregor has no dynamic broker
        // configs, so only the default (5).
        stored("min.insync.replicas", "1", Int(1, I32_MAX), &[syn("min.insync.replicas", "1")],
            "The fewest in-sync replicas an acks=all write needs (Gregor has one)."),
        stored("preallocate", "false", Boolean, &[syn("log.preallocate", "false")],
            "Whether a new segment's file is preallocated."),
        stored("remote.copy.lag.bytes", "-1", Long(-1, i64::MAX), &[syn("log.remote.copy.lag.bytes", "-1")],
            "Tiered storage copy lag in bytes (Gregor has no tiered storage)."),
        stored("remote.copy.lag.ms", "0", Long(-1, i64::MAX), &[syn("log.remote.copy.lag.ms", "0")],
            "Tiered storage copy lag in ms (Gregor has no tiered storage)."),
        stored("remote.log.copy.disable", "false", Boolean, &[],
            "Whether tiered storage copies stop (Gregor has no tiered storage)."),
        stored("remote.log.delete.on.disable", "false", Boolean, &[],
            "Whether tiered segments are deleted when tiered storage is disabled."),
        stored("remote.storage.enable", "false", Boolean, &[],
            "Whether the topic uses tiered storage; the broker refuses true without it."),
        applied(
            stored("retention.bytes", "-1", Long(i64::MIN, i64::MAX), &[syn("log.retention.bytes", "-1")],
                "Delete the oldest segments while a partition is larger than this; -1 means no limit."),
            |c| c.log.retention_bytes.to_string(),
            |l, v| if let Some(n) = num(v) { l.retention_bytes = n },
        ),
        applied(
            stored("retention.ms", "604800000", Long(-1, i64::MAX), &[syn_null("log.retention.ms"), syn_null("log.retention.minutes"), syn("log.retention.hours", "168")],
                "Delete segments whose newest record is older than this; -1 keeps records forever."),
            |c| c.log.retention_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.retention_ms = n },
        ),
        applied(
            stored("segment.bytes", "1073741824", Int(1 << 20, I32_MAX), &[syn("log.segment.bytes", "1073741824")],
                "Roll to a new segment at this size."),
            |c| c.log.segment_bytes.to_string(),
            |l, v| if let Some(n) = num(v) { l.segment_bytes = n },
        ),
        applied(
            stored("segment.index.bytes", "10485760", Int(4, I32_MAX), &[syn("log.index.size.max.bytes", "10485760")],
                "The largest size of a segment's offset or time index."),
            |c| c.log.segment_index_bytes.to_string(),
            |l, v| if let Some(n) = num(v) { l.segment_index_bytes = n },
        ),
        stored("segment.jitter.ms", "0", Long(0, i64::MAX), &[syn_null("log.roll.jitter.ms"), syn("log.roll.jitter.hours", "0")],
            "The most random jitter subtracted from segment.ms."),
        applied(
            stored("segment.ms", "604800000", Long(1, i64::MAX), &[syn_null("log.roll.ms"), syn("log.roll.hours", "168")],
                "Roll to a new segment once the active one's first record is this old."),
            |c| c.log.segment_ms.to_string(),
            |l, v| if let Some(n) = num(v) { l.segment_ms = n },
        ),
        stored("unclean.leader.election.enable", "false", Boolean, &[syn("unclean.leader.election.enable", "false")],
            "Whether an out-of-sync replica may become leader (Gregor has one replica)."),
    ]
};

/// A cleanup policy as Kafka lists it.
pub fn policy_name(policy: gregor_storage::CleanupPolicy) -> String {
    match (policy.compact, policy.delete) {
        (true, true) => "compact,delete",
        (true, false) => "compact",
        _ => "delete",
    }
    .to_string()
}

/// The table entry of `name`.
pub fn topic_config_key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// An override the table refuses: INVALID_CONFIG with Kafka's message.
fn invalid_config(message: String) -> KafkaError {
    KafkaError::with_message(ResponseError::InvalidConfig, message)
}

/// Parses one override as Kafka's `ConfigDef` does: a key Kafka knows, a value of its type that
/// its validator accepts. Values are trimmed first, as Kafka parses every typed value trimmed
/// (so `" 100 "` is 100).
pub fn parse_value(key: &str, value: &str) -> Result<ConfigValue, KafkaError> {
    let Some(entry) = topic_config_key(key) else {
        return Err(invalid_config(format!("Unknown topic config name: {key}")));
    };
    let invalid = |why: &str| {
        invalid_config(format!(
            "Invalid value {value} for configuration {key}: {why}"
        ))
    };
    let trimmed = value.trim();
    let list = || -> Vec<String> {
        trimmed
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string)
            .collect()
    };
    match entry.kind {
        TopicConfigKind::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" => Ok(ConfigValue::Boolean(true)),
            "false" => Ok(ConfigValue::Boolean(false)),
            _ => Err(invalid("Expected value to be either true or false")),
        },
        TopicConfigKind::Int(min, max) => {
            let n = trimmed
                .parse::<i32>()
                .map_err(|_| invalid("Not a number of type INT"))?;
            check_range(i64::from(n), min, max).map_err(|m| invalid(&m))?;
            Ok(ConfigValue::Int(n))
        }
        TopicConfigKind::Long(min, max) => {
            let n = trimmed
                .parse::<i64>()
                .map_err(|_| invalid("Not a number of type LONG"))?;
            check_range(n, min, max).map_err(|m| invalid(&m))?;
            Ok(ConfigValue::Long(n))
        }
        TopicConfigKind::Double(min, max) => {
            let n = trimmed
                .parse::<f64>()
                .map_err(|_| invalid("Not a number of type DOUBLE"))?;
            if n.is_nan() || n < min {
                return Err(invalid(&format!("Value must be at least {min}")));
            }
            if n > max {
                return Err(invalid(&format!("Value must be no more than {max}")));
            }
            Ok(ConfigValue::Double(n))
        }
        TopicConfigKind::Choice(valid) if valid.contains(&trimmed) => {
            Ok(ConfigValue::String(trimmed.to_string()))
        }
        TopicConfigKind::Choice(valid) => Err(invalid(&format!(
            "String must be one of: {}",
            valid.join(", ")
        ))),
        TopicConfigKind::CleanupPolicy => {
            let items = list();
            if items.iter().all(|i| i == "compact" || i == "delete") {
                Ok(ConfigValue::List(items))
            } else {
                Err(invalid("String must be one of: compact, delete"))
            }
        }
        TopicConfigKind::ReplicaList => {
            let items = list();
            let pair = |i: &String| {
                i.split_once(':').is_some_and(|(p, b)| {
                    !p.is_empty()
                        && !b.is_empty()
                        && p.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                })
            };
            if items == ["*"] || items.iter().all(pair) {
                Ok(ConfigValue::List(items))
            } else {
                let shown: Vec<&str> = trimmed.split(',').map(str::trim).collect();
                Err(invalid_config(format!(
                    "Invalid value [{}] for configuration {key}: {key} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...",
                    shown.join(", ")
                )))
            }
        }
        TopicConfigKind::GzipLevel => {
            let n = trimmed
                .parse::<i32>()
                .map_err(|_| invalid("Not a number of type INT"))?;
            if n == -1 || (1..=9).contains(&n) {
                Ok(ConfigValue::Int(n))
            } else {
                Err(invalid("Value must be between 1 and 9 or equal to -1"))
            }
        }
    }
}

/// Kafka's `Range` validator messages.
fn check_range(n: i64, min: i64, max: i64) -> Result<(), String> {
    if n < min {
        Err(format!("Value must be at least {min}"))
    } else if n > max {
        Err(format!("Value must be no more than {max}"))
    } else {
        Ok(())
    }
}

/// A topic's overrides, parsed and checked: the one typed value the log, DescribeConfigs and
/// storage read. Keys absent here take the broker's default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TopicConfig {
    overrides: BTreeMap<&'static str, ConfigValue>,
}

impl TopicConfig {
    /// Parses a topic's whole set of overrides: each value as `parse_value` checks it, then
    /// the rules across keys that Kafka's LogConfig applies (compaction lags in order; no
    /// tiered storage on a broker without it).
    pub fn parse(configs: &BTreeMap<String, String>) -> Result<TopicConfig, KafkaError> {
        let mut overrides = BTreeMap::new();
        for (key, value) in configs {
            let parsed = parse_value(key, value)?;
            // `parse_value` found the key, so the table has it.
            if let Some(entry) = topic_config_key(key) {
                overrides.insert(entry.name, parsed);
            }
        }
        let config = TopicConfig { overrides };
        let lag = |key: &str| {
            config
                .get(key)
                .and_then(ConfigValue::long)
                .or_else(|| topic_config_key(key).and_then(|k| k.default.parse().ok()))
        };
        if let (Some(min), Some(max)) = (lag("min.compaction.lag.ms"), lag("max.compaction.lag.ms"))
        {
            if min > max {
                return Err(invalid_config(format!("conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})")));
            }
        }
        if config.get("remote.storage.enable") == Some(&ConfigValue::Boolean(true)) {
            // Kafka's answer when `remote.log.storage.system.enable` is off, as Gregor's always is.
            return Err(invalid_config("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.".into()));
        }
        Ok(config)
    }

    /// The overrides stored in `topics.json`, read at start-up. They were checked when they
    /// were set; one that no longer passes (a data dir from a Gregor that checked less) is
    /// left out with a warning, so the topic keeps the broker's default for it, as those
    /// versions did.
    pub fn from_stored(topic: &str, configs: &BTreeMap<String, String>) -> TopicConfig {
        TopicConfig::parse(configs).unwrap_or_else(|err| {
            tracing::warn!(topic, cause = %err, "a stored topic config is invalid; checking each alone");
            let overrides = configs
                .iter()
                .filter_map(|(key, value)| match parse_value(key, value) {
                    Ok(v) => topic_config_key(key).map(|k| (k.name, v)),
                    Err(err) => {
                        tracing::warn!(topic, key = %key, value = %value, cause = %err, "ignoring an invalid stored topic config");
                        None
                    }
                })
                .collect();
            TopicConfig { overrides }
        })
    }

    /// The override of `key`, if the topic sets one.
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.overrides.get(key)
    }

    /// The overrides as they are stored and described: Kafka key names, normalized values.
    pub fn to_strings(&self) -> BTreeMap<String, String> {
        self.overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.render()))
            .collect()
    }

    /// The log settings: `defaults` (the broker's) with the overrides the log acts on.
    pub fn log_config(&self, defaults: &LogConfig) -> LogConfig {
        let mut config = defaults.clone();
        for (key, value) in &self.overrides {
            if let Some(apply) = topic_config_key(key).and_then(|k| k.apply) {
                apply(&mut config, value);
            }
        }
        config
    }
}

/// Checks a topic's overrides and returns them normalized for storage: `TopicConfig::parse`
/// then `to_strings`.
pub fn validate_topic_configs(
    configs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, KafkaError> {
    TopicConfig::parse(configs).map(|c| c.to_strings())
}

/// A topic config's value when the topic does not override it: the broker's setting where
/// Gregor has one, else Kafka's default.
pub fn topic_config_default(config: &Config, key: &TopicConfigKey) -> String {
    key.broker_value
        .map_or_else(|| key.default.to_string(), |value| value(config))
}

/// DescribeConfigs config sources, as Kafka numbers them.
pub mod source {
    /// A topic override.
    pub const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    /// A dynamic setting of this broker (`kafka-configs --entity-name 1 --alter`).
    pub const DYNAMIC_BROKER_CONFIG: i8 = 2;
    /// A dynamic cluster-wide broker default (`kafka-configs --entity-default --alter`).
    pub const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
    /// A broker setting from its configuration file, environment or command line.
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    /// A default.
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// One synonym of a described config: a name, its value (none for a default of null) and where
/// it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
}

/// A topic config as DescribeConfigs shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub name: &'static str,
    pub value: String,
    pub source: i8,
    pub config_type: i8,
    /// Every synonym, highest priority first; the source is the first one's.
    pub synonyms: Vec<Synonym>,
    pub doc: &'static str,
}

/// `key` of a topic with `overrides` (stored strings) on a broker configured with `config`, as
/// Kafka's `ConfigHelper.createTopicConfigEntry` describes it: the override (source 1), then
/// the broker synonyms set in the broker's configuration (4), then their Kafka defaults (5).
/// As in Kafka, the broker part starts at the first entry for the highest-priority broker key,
/// so with only `log.retention.hours` set, `retention.ms` lists no broker synonym and its source
/// is DEFAULT_CONFIG, although its value is the broker's (measured against Kafka 4.4).
pub fn describe(
    key: &'static TopicConfigKey,
    overrides: &BTreeMap<String, String>,
    config: &Config,
) -> Described {
    let mut synonyms = Vec::new();
    let overridden = overrides.get(key.name);
    if let Some(value) = overridden {
        synonyms.push(Synonym {
            name: key.name.to_string(),
            value: Some(value.clone()),
            source: source::DYNAMIC_TOPIC_CONFIG,
        });
    }
    if let Some(first) = key.synonyms.first() {
        synonyms.extend(broker_synonyms(key.synonyms, first.name, config));
    }
    let value = overridden
        .cloned()
        .unwrap_or_else(|| topic_config_default(config, key));
    Described {
        name: key.name,
        value,
        source: synonyms
            .first()
            .map_or(source::DEFAULT_CONFIG, |s| s.source),
        config_type: key.kind.describe_type(),
        synonyms,
        doc: key.doc,
    }
}

/// Kafka's `ConfigHelper.configSynonyms`: the broker keys of `names` set dynamically for this
/// broker (DYNAMIC_BROKER_CONFIG), then as cluster defaults (DYNAMIC_DEFAULT_BROKER_CONFIG),
/// then statically (STATIC_BROKER_CONFIG), then those with a default (DEFAULT_CONFIG), from
/// the first entry named `from` on (Kafka's `dropWhile`, which drops a higher-priority unit set
/// when `from` is not: measured, not a Gregor choice).
pub fn broker_synonyms(names: &[BrokerSynonym], from: &str, config: &Config) -> Vec<Synonym> {
    let layer = |map: &'_ BTreeMap<String, String>, source: i8| {
        names
            .iter()
            .filter_map(|s| {
                map.get(s.name).map(|v| Synonym {
                    name: s.name.to_string(),
                    value: Some(v.clone()),
                    source,
                })
            })
            .collect::<Vec<_>>()
    };
    let set = layer(&config.dynamic_broker, source::DYNAMIC_BROKER_CONFIG)
        .into_iter()
        .chain(layer(
            &config.dynamic_default,
            source::DYNAMIC_DEFAULT_BROKER_CONFIG,
        ))
        .chain(layer(&config.static_settings, source::STATIC_BROKER_CONFIG))
        .chain(layer(
            &config.ignored_settings,
            source::STATIC_BROKER_CONFIG,
        ));
    let defaults = names.iter().filter_map(|s| {
        s.kafka_default.map(|v| Synonym {
            name: s.name.to_string(),
            value: Some(v.to_string()),
            source: source::DEFAULT_CONFIG,
        })
    });
    set.chain(defaults).skip_while(|s| s.name != from).collect()
}

#[cfg(test)]
mod tests;
