//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: the request and response shapes
//! and the topic resource (overrides, broker settings and defaults, with Kafka's sources and
//! synonyms); the broker, broker logger and group resources are in `broker_configs`,
//! `logger_configs` and `group_configs`. Kafka counterparts: `ConfigHelper` and
//! `ConfigAdminManager`. What a topic config key is lives in `topic_config`.

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

use super::{broker_configs, group_configs, logger_configs};
use crate::broker::Broker;
use crate::config::kafka_keys;
use crate::error::KafkaError;
use crate::topic_config::{self, Synonym, TopicConfig};
use crate::topic_config::{topic_config_key, TOPIC_CONFIGS};

/// Config resource types, as Kafka numbers them.
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const GROUP: i8 = 32;

/// A config as the response carries it.
#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub value: Option<String>,
    pub source: i8,
    pub config_type: i8,
    pub read_only: bool,
    pub sensitive: bool,
    pub synonyms: Vec<Synonym>,
    pub doc: &'static str,
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
            let name = r.resource_name.as_str();
            let entries = match r.resource_type {
                TOPIC => describe_topic(broker, name),
                BROKER => broker_configs::describe(broker, name),
                BROKER_LOGGER => logger_configs::describe(name, broker.config.node_id),
                GROUP => group_configs::describe(broker, name),
                _ => Err(KafkaError::with_message(
                    ResponseError::InvalidRequest,
                    format!(
                        "Unexpected resource type {} for resource {name}",
                        r.resource_type
                    ),
                )),
            };
            let entries: Vec<Entry> = match entries {
                Ok(entries) => entries.into_iter().filter(|e| wanted(&e.name)).collect(),
                Err(e) => {
                    return base
                        .with_error_code(e.code())
                        .with_error_message(e.message.map(StrBytes::from_string))
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
                        .with_is_sensitive(e.sensitive)
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

/// Every config of topic `name`, as Kafka's `ConfigHelper.createTopicConfigEntry` shows it.
fn describe_topic(broker: &Arc<Broker>, name: &str) -> Result<Vec<Entry>, KafkaError> {
    let Some(topic) = broker.topics.get(name) else {
        return Err(KafkaError::with_message(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        ));
    };
    let config = broker.live_config();
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|k| {
            let d = topic_config::describe(k, &topic.configs, &config);
            Entry {
                name: d.name.to_string(),
                value: Some(d.value),
                source: d.source,
                config_type: d.config_type,
                read_only: false,
                sensitive: false,
                synonyms: d.synonyms,
                doc: d.doc,
            }
        })
        .collect())
}

/// IncrementalAlterConfigs operations, as Kafka numbers them.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// The default of a config whose value is a comma-separated list, for the resource type (APPEND
/// and SUBTRACT apply only to those, as in Kafka); `None` for other configs.
fn list_default(resource_type: i8, name: &str) -> Option<&'static str> {
    match resource_type {
        TOPIC => topic_config_key(name)
            .filter(|k| k.kind.is_list())
            .map(|k| k.default),
        BROKER => kafka_keys::broker_key(name)
            .filter(|k| k.kind == "LIST")
            .map(|k| k.default.unwrap_or_default()),
        GROUP => kafka_keys::group_key(name)
            .filter(|k| k.kind == "LIST")
            .map(|k| k.default),
        _ => None,
    }
}

/// One resource's requested change: the new config map, or the error for the resource.
pub type Altered = Result<BTreeMap<String, String>, KafkaError>;

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
            let name = r.resource_name.as_str();
            let outcome = if r.resource_type == BROKER_LOGGER {
                logger_configs::alter(name, broker.config.node_id, &ops, request.validate_only)
            } else {
                alter(
                    broker,
                    r.resource_type,
                    name,
                    |current| apply_incremental(r.resource_type, current, &ops),
                    request.validate_only,
                )
            };
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
            let outcome = alter(
                broker,
                r.resource_type,
                r.resource_name.as_str(),
                |_| {
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
                },
                request.validate_only,
            );
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

/// Computes the new configs of a resource with `change` from its current ones, checks them and
/// (unless `validate_only`) stores and applies them.
fn alter(
    broker: &Arc<Broker>,
    resource_type: i8,
    name: &str,
    change: impl FnOnce(&BTreeMap<String, String>) -> Altered,
    validate_only: bool,
) -> Result<(), KafkaError> {
    match resource_type {
        TOPIC => {
            let Some(topic) = broker.topics.get(name) else {
                return Err(KafkaError::with_message(
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                ));
            };
            let configs = TopicConfig::parse(&change(&topic.configs)?)?;
            if !validate_only {
                broker.set_topic_configs(&topic.name, &configs)?;
            }
            Ok(())
        }
        BROKER => broker_configs::alter(broker, name, change, validate_only),
        GROUP => group_configs::alter(broker, name, change, validate_only),
        BROKER_LOGGER => Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            "Broker loggers are changed with IncrementalAlterConfigs only",
        )),
        _ => Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!("Unexpected resource type {resource_type} for resource {name}"),
        )),
    }
}

/// SET, DELETE, APPEND and SUBTRACT applied to a copy of `current`, as Kafka applies them.
fn apply_incremental(
    resource_type: i8,
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
                let Some(default) = list_default(resource_type, name) else {
                    let verb = if op == APPEND { "append" } else { "subtract" };
                    return Err(KafkaError::with_message(
                        ResponseError::InvalidConfig,
                        format!("Config value {verb} is not allowed for config key: {name}"),
                    ));
                };
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
