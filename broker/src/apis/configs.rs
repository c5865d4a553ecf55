//! DescribeConfigs for topics (overrides, broker settings and defaults, with Kafka's sources
//! and synonyms) and for the broker; AlterConfigs and IncrementalAlterConfigs for topic
//! overrides. Kafka counterparts: `ConfigHelper` and `ConfigAdminManager`. What a topic config
//! key is lives in `topic_config`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gregor_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use gregor_protocol::messages::{alter_configs_response, incremental_alter_configs_response};
use gregor_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::some_str;
use crate::broker::Broker;
use crate::config::Config;
use crate::error::KafkaError;
use crate::topic_config::{self, broker_synonyms, source, BrokerSynonym, Synonym, TopicConfig};
use crate::topic_config::{topic_config_key, TOPIC_CONFIGS};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Config types, as DescribeConfigs v3+ numbers them.
const BOOLEAN: i8 = 1;
const STRING: i8 = 2;
const INT: i8 = 3;
const LONG: i8 = 5;
const DOUBLE: i8 = 6;
const LIST: i8 = 7;

/// A config as the response carries it.
struct Entry {
    name: String,
    value: Option<String>,
    source: i8,
    config_type: i8,
    read_only: bool,
    synonyms: Vec<Synonym>,
    doc: &'static str,
}

/// Handles DescribeConfigs.
pub fn describe_configs(
    broker: &Arc<Broker>,
    request: &DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = request
        .resources
        .iter()
        .map(|r| {
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            // Null or empty means every key, as Kafka's ConfigHelper reads it.
            let wanted = |key: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.is_empty() || keys.iter().any(|k| k.as_str() == key))
            };
            let entries: Vec<Entry> = match r.resource_type {
                TOPIC => match broker.topics.get(r.resource_name.as_str()) {
                    None => {
                        return base
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(some_str(format!(
                                "Topic '{}' does not exist.",
                                r.resource_name.as_str()
                            )))
                    }
                    Some(topic) => TOPIC_CONFIGS
                        .iter()
                        .filter(|k| wanted(k.name))
                        .map(|k| {
                            let d = topic_config::describe(k, &topic.configs, &broker.config);
                            Entry {
                                name: d.name.to_string(),
                                value: Some(d.value),
                                source: d.source,
                                config_type: d.config_type,
                                read_only: false,
                                synonyms: d.synonyms,
                                doc: d.doc,
                            }
                        })
                        .collect(),
                },
                BROKER => BROKER_CONFIGS
                    .iter()
                    .filter(|k| wanted(k.name))
                    .map(|k| describe_broker_key(k, &broker.config))
                    .collect(),
                _ => {
                    return base
                        .with_error_code(ResponseError::InvalidRequest.code())
                        .with_error_message(some_str(
                            "Gregor describes topic and broker configs only",
                        ))
                }
            };
            let configs = entries
                .into_iter()
                .map(|e| {
                    let synonyms = if request.include_synonyms {
                        e.synonyms
                            .into_iter()
                            .map(|s| {
                                DescribeConfigsSynonym::default()
                                    .with_name(StrBytes::from_string(s.name))
                                    .with_value(s.value.map(StrBytes::from_string))
                                    .with_source(s.source)
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    let doc = request
                        .include_documentation
                        .then(|| StrBytes::from_static_str(e.doc));
                    // The type and documentation are encoded from v3 on only, the synonyms
                    // from v1; older versions drop them.
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_string(e.name))
                        .with_value(e.value.map(StrBytes::from_string))
                        .with_config_source(e.source)
                        .with_read_only(e.read_only)
                        .with_config_type(e.config_type)
                        .with_synonyms(synonyms)
                        .with_documentation(doc)
                })
                .collect();
            base.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// A broker key DescribeConfigs shows for the broker resource.
struct BrokerKey {
    name: &'static str,
    config_type: i8,
    /// The keys Kafka lists as this one's synonyms (`DynamicBrokerConfig.brokerConfigSynonyms`),
    /// this key first, each with Kafka's default.
    synonyms: &'static [BrokerSynonym],
    doc: &'static str,
}

const fn syn(name: &'static str, default: Option<&'static str>) -> BrokerSynonym {
    BrokerSynonym {
        name,
        kafka_default: default,
    }
}

const RETENTION: &[BrokerSynonym] = &[
    syn("log.retention.ms", None),
    syn("log.retention.minutes", None),
    syn("log.retention.hours", Some("168")),
];
const ROLL: &[BrokerSynonym] = &[syn("log.roll.ms", None), syn("log.roll.hours", Some("168"))];
const I64_MAX: Option<&str> = Some("9223372036854775807");

const fn key(
    name: &'static str,
    config_type: i8,
    synonyms: &'static [BrokerSynonym],
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        name,
        config_type,
        synonyms,
        doc,
    }
}

/// The broker keys DescribeConfigs shows: the ones Gregor acts on that Kafka names the same,
/// with Kafka 4.4's types and defaults. `node.id` has Gregor's default 1 (Kafka requires it).
const BROKER_CONFIGS: &[BrokerKey] = &[
    key(
        "auto.create.topics.enable",
        BOOLEAN,
        &[syn("auto.create.topics.enable", Some("true"))],
        "Create a topic when a producer or a metadata request first names it.",
    ),
    key(
        "broker.id",
        INT,
        &[syn("broker.id", Some("-1"))],
        "This broker's id; node.id when unset.",
    ),
    key(
        "log.cleaner.backoff.ms",
        LONG,
        &[syn("log.cleaner.backoff.ms", Some("15000"))],
        "How long a cleaner thread sleeps when no log needs cleaning.",
    ),
    key(
        "log.cleaner.dedupe.buffer.size",
        LONG,
        &[syn("log.cleaner.dedupe.buffer.size", Some("134217728"))],
        "Memory for the cleaners' key maps, all threads together.",
    ),
    key(
        "log.cleaner.delete.retention.ms",
        LONG,
        &[syn("log.cleaner.delete.retention.ms", Some("86400000"))],
        "The default delete.retention.ms of topics.",
    ),
    key(
        "log.cleaner.enable",
        BOOLEAN,
        &[syn("log.cleaner.enable", Some("true"))],
        "Run the log cleaner, which compacts topics with cleanup.policy compact.",
    ),
    key(
        "log.cleaner.io.max.bytes.per.second",
        DOUBLE,
        &[syn(
            "log.cleaner.io.max.bytes.per.second",
            Some("1.7976931348623157E308"),
        )],
        "Bytes the cleaners read and write per second, all threads together.",
    ),
    key(
        "log.cleaner.max.compaction.lag.ms",
        LONG,
        &[syn("log.cleaner.max.compaction.lag.ms", I64_MAX)],
        "The default max.compaction.lag.ms of topics.",
    ),
    key(
        "log.cleaner.min.cleanable.ratio",
        DOUBLE,
        &[syn("log.cleaner.min.cleanable.ratio", Some("0.5"))],
        "The default min.cleanable.dirty.ratio of topics.",
    ),
    key(
        "log.cleaner.min.compaction.lag.ms",
        LONG,
        &[syn("log.cleaner.min.compaction.lag.ms", Some("0"))],
        "The default min.compaction.lag.ms of topics.",
    ),
    key(
        "log.cleaner.threads",
        INT,
        &[syn("log.cleaner.threads", Some("1"))],
        "Threads cleaning logs.",
    ),
    key(
        "log.cleanup.policy",
        LIST,
        &[syn("log.cleanup.policy", Some("delete"))],
        "The default cleanup policy of topics.",
    ),
    key(
        "log.dirs",
        LIST,
        &[syn("log.dirs", None)],
        "The data directory.",
    ),
    key(
        "log.flush.interval.messages",
        LONG,
        &[syn("log.flush.interval.messages", I64_MAX)],
        "Fsync a log after this many records.",
    ),
    key(
        "log.flush.interval.ms",
        LONG,
        &[
            syn("log.flush.interval.ms", None),
            syn("log.flush.scheduler.interval.ms", I64_MAX),
        ],
        "Fsync a log when its oldest unflushed record is this old.",
    ),
    key(
        "log.index.interval.bytes",
        INT,
        &[syn("log.index.interval.bytes", Some("4096"))],
        "Bytes of log between two offset index entries.",
    ),
    key(
        "log.index.size.max.bytes",
        INT,
        &[syn("log.index.size.max.bytes", Some("10485760"))],
        "The largest size of an offset or time index.",
    ),
    key(
        "log.message.timestamp.after.max.ms",
        LONG,
        &[syn("log.message.timestamp.after.max.ms", Some("3600000"))],
        "How far in the future a CreateTime timestamp may lie.",
    ),
    key(
        "log.message.timestamp.before.max.ms",
        LONG,
        &[syn("log.message.timestamp.before.max.ms", I64_MAX)],
        "How far in the past a CreateTime timestamp may lie.",
    ),
    key(
        "log.message.timestamp.type",
        STRING,
        &[syn("log.message.timestamp.type", Some("CreateTime"))],
        "The default message.timestamp.type of topics.",
    ),
    key(
        "log.retention.bytes",
        LONG,
        &[syn("log.retention.bytes", Some("-1"))],
        "Delete the oldest segments while a partition is larger than this; -1 means no limit.",
    ),
    key(
        "log.retention.hours",
        INT,
        RETENTION,
        "Retention time in hours (log.retention.ms and log.retention.minutes win).",
    ),
    key(
        "log.retention.minutes",
        INT,
        RETENTION,
        "Retention time in minutes (log.retention.ms wins).",
    ),
    key(
        "log.retention.ms",
        LONG,
        RETENTION,
        "Retention time in ms; -1 keeps records forever.",
    ),
    key(
        "log.roll.hours",
        INT,
        ROLL,
        "Roll to a new segment once the active one is this old (log.roll.ms wins).",
    ),
    key("log.roll.ms", LONG, ROLL, "Segment age limit in ms."),
    key(
        "log.segment.bytes",
        INT,
        &[syn("log.segment.bytes", Some("1073741824"))],
        "Roll to a new segment at this size.",
    ),
    key(
        "message.max.bytes",
        INT,
        &[syn("message.max.bytes", Some("1048588"))],
        "The largest record batch a topic accepts unless it sets max.message.bytes.",
    ),
    key(
        "node.id",
        INT,
        &[syn("node.id", Some("1"))],
        "This broker's id, as clients see it.",
    ),
    key(
        "num.partitions",
        INT,
        &[syn("num.partitions", Some("1"))],
        "Partitions of a topic created without a count.",
    ),
    key(
        "socket.request.max.bytes",
        INT,
        &[syn("socket.request.max.bytes", Some("104857600"))],
        "The largest request accepted.",
    ),
];

/// A broker key as Kafka's `ConfigHelper.createBrokerConfigEntry` describes it: the value set
/// (or the default), the synonyms from this key on, and read-only, as every Gregor broker
/// setting is (AlterConfigs refuses them, where Kafka can change some of these dynamically).
fn describe_broker_key(key: &BrokerKey, config: &Config) -> Entry {
    let mut synonyms = broker_synonyms(key.synonyms, key.name, config);
    let own = key.synonyms.iter().find(|s| s.name == key.name);
    let mut value = config
        .static_settings
        .get(key.name)
        .cloned()
        .or_else(|| own.and_then(|s| s.kafka_default.map(str::to_string)));
    match key.name {
        // Kafka sets `broker.id` from `node.id`, so a `node.id` set makes it static too.
        "broker.id" => {
            value = Some(config.node_id.to_string());
            if !config.static_settings.contains_key("broker.id")
                && config.static_settings.contains_key("node.id")
            {
                synonyms.insert(
                    0,
                    Synonym {
                        name: key.name.to_string(),
                        value: value.clone(),
                        source: source::STATIC_BROKER_CONFIG,
                    },
                );
            }
        }
        "node.id" => value = Some(config.node_id.to_string()),
        "log.dirs" => value = Some(config.data_dir.display().to_string()),
        _ => {}
    }
    Entry {
        name: key.name.to_string(),
        value,
        source: synonyms
            .first()
            .map_or(source::DEFAULT_CONFIG, |s| s.source),
        config_type: key.config_type,
        read_only: true,
        synonyms,
        doc: key.doc,
    }
}

/// IncrementalAlterConfigs operations, as Kafka numbers them.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Whether a topic config's value is a comma-separated list (APPEND and SUBTRACT apply only
/// to those, as in Kafka).
fn is_list_config(name: &str) -> bool {
    topic_config_key(name).is_some_and(|k| k.kind.is_list())
}

/// One resource's requested change: the new override map, or the error for the resource.
type Altered = Result<BTreeMap<String, String>, KafkaError>;

/// Handles IncrementalAlterConfigs (kafka-configs --alter in Kafka 2.3 and later).
pub fn incremental_alter_configs(
    broker: &Arc<Broker>,
    request: &IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|r| {
            let ops: Vec<(&str, i8, Option<&str>)> = r
                .configs
                .iter()
                .map(|c| {
                    (
                        c.name.as_str(),
                        c.config_operation,
                        c.value.as_ref().map(|v| v.as_str()),
                    )
                })
                .collect();
            let outcome = alter_resource(broker, r.resource_type, &r.resource_name, |current| {
                apply_incremental(current, &ops)
            })
            .and_then(|(name, configs)| commit(broker, &name, configs, request.validate_only));
            let (code, message) = split(outcome);
            incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

/// Handles the legacy AlterConfigs, which replaces a resource's whole set of overrides.
pub fn alter_configs(broker: &Arc<Broker>, request: &AlterConfigsRequest) -> AlterConfigsResponse {
    let responses = request
        .resources
        .iter()
        .map(|r| {
            let outcome = alter_resource(broker, r.resource_type, &r.resource_name, |_| {
                let mut configs = BTreeMap::new();
                for c in &r.configs {
                    let name = c.name.as_str();
                    if configs.contains_key(name) {
                        return Err(duplicate_key(name));
                    }
                    let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
                    configs.insert(name.to_string(), value);
                }
                Ok(configs)
            })
            .and_then(|(name, configs)| commit(broker, &name, configs, request.validate_only));
            let (code, message) = split(outcome);
            alter_configs_response::AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    AlterConfigsResponse::default().with_responses(responses)
}

/// Looks the resource up and computes its new overrides with `change`.
fn alter_resource(
    broker: &Arc<Broker>,
    resource_type: i8,
    name: &StrBytes,
    change: impl FnOnce(&BTreeMap<String, String>) -> Altered,
) -> Result<(String, BTreeMap<String, String>), KafkaError> {
    match resource_type {
        TOPIC => {
            let Some(topic) = broker.topics.get(name.as_str()) else {
                return Err(KafkaError::with_message(
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{}' does not exist.", name.as_str()),
                ));
            };
            change(&topic.configs).map(|configs| (topic.name.clone(), configs))
        }
        BROKER => Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            "Gregor's broker settings are static: set them at start-up",
        )),
        _ => Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            "Gregor alters topic configs only",
        )),
    }
}

/// SET, DELETE, APPEND and SUBTRACT applied to a copy of `current`, as Kafka applies them.
fn apply_incremental(
    current: &BTreeMap<String, String>,
    ops: &[(&str, i8, Option<&str>)],
) -> Altered {
    let mut configs = current.clone();
    let mut seen = Vec::new();
    for &(name, op, value) in ops {
        if seen.contains(&name) {
            return Err(duplicate_key(name));
        }
        seen.push(name);
        let value = value.unwrap_or_default();
        match op {
            SET => {
                configs.insert(name.to_string(), value.to_string());
            }
            DELETE => {
                configs.remove(name);
            }
            APPEND | SUBTRACT => {
                if !is_list_config(name) {
                    let verb = if op == APPEND { "append" } else { "subtract" };
                    return Err(KafkaError::with_message(
                        ResponseError::InvalidConfig,
                        format!("Config value {verb} is not allowed for config key: {name}"),
                    ));
                }
                let default = topic_config_key(name).map_or("", |k| k.default);
                let old = configs.get(name).map_or(default, String::as_str);
                let mut items: Vec<&str> = old.split(',').filter(|s| !s.is_empty()).collect();
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if op == APPEND && !items.contains(&item) {
                        items.push(item);
                    } else if op == SUBTRACT {
                        items.retain(|i| *i != item);
                    }
                }
                configs.insert(name.to_string(), items.join(","));
            }
            _ => {
                return Err(KafkaError::with_message(
                    ResponseError::InvalidRequest,
                    format!("Unknown config operation {op} for {name}"),
                ))
            }
        }
    }
    Ok(configs)
}

/// Parses every override and, unless `validate_only`, stores them and applies them to the
/// topic's logs.
fn commit(
    broker: &Arc<Broker>,
    topic: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let configs = TopicConfig::parse(&configs)?;
    if !validate_only {
        broker.set_topic_configs(topic, &configs)?;
    }
    Ok(())
}

fn duplicate_key(name: &str) -> KafkaError {
    KafkaError::with_message(
        ResponseError::InvalidRequest,
        format!("Error due to duplicate config keys: {name}"),
    )
}

fn split(outcome: Result<(), KafkaError>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err(e) => (e.code(), e.message.map(StrBytes::from_string)),
    }
}
