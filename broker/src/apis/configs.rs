//! DescribeConfigs for topics (defaults plus overrides) and for the broker; AlterConfigs and
//! IncrementalAlterConfigs for topic overrides.

use std::collections::BTreeMap;
use std::sync::Arc;

use gregor_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use gregor_protocol::messages::{alter_configs_response, incremental_alter_configs_response};
use gregor_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::some_str;
use crate::broker::{
    topic_config_default, topic_config_key, validate_topic_configs, Broker, TopicConfigKind,
    TOPIC_CONFIGS,
};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Config sources, as Kafka numbers them.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;
/// Config types, as DescribeConfigs v3+ numbers them.
const BOOLEAN: i8 = 1;
const INT: i8 = 3;
const LIST: i8 = 7;

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
            let entries: Vec<(String, String, i8, i8)> = match r.resource_type {
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
                        .map(|k| {
                            let kind = k.kind.describe_type();
                            match topic.configs.get(k.name) {
                                Some(v) => {
                                    (k.name.to_string(), v.clone(), DYNAMIC_TOPIC_CONFIG, kind)
                                }
                                None => (
                                    k.name.to_string(),
                                    topic_config_default(broker, k.name)
                                        .unwrap_or_else(|| k.default.to_string()),
                                    DEFAULT_CONFIG,
                                    kind,
                                ),
                            }
                        })
                        .collect(),
                },
                BROKER => {
                    let c = &broker.config;
                    vec![
                        (
                            "broker.id".into(),
                            c.node_id.to_string(),
                            STATIC_BROKER_CONFIG,
                            INT,
                        ),
                        (
                            "node.id".into(),
                            c.node_id.to_string(),
                            STATIC_BROKER_CONFIG,
                            INT,
                        ),
                        (
                            "num.partitions".into(),
                            c.num_partitions.to_string(),
                            STATIC_BROKER_CONFIG,
                            INT,
                        ),
                        (
                            "auto.create.topics.enable".into(),
                            c.auto_create_topics.to_string(),
                            STATIC_BROKER_CONFIG,
                            BOOLEAN,
                        ),
                        (
                            "log.dirs".into(),
                            c.data_dir.display().to_string(),
                            STATIC_BROKER_CONFIG,
                            LIST,
                        ),
                        (
                            "socket.request.max.bytes".into(),
                            c.max_request_bytes.to_string(),
                            STATIC_BROKER_CONFIG,
                            INT,
                        ),
                    ]
                }
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
                .filter(|(key, _, _, _)| wanted(key))
                .map(|(key, value, source, config_type)| {
                    // The type is encoded from v3 on only; older versions drop it.
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_string(key))
                        .with_value(Some(StrBytes::from_string(value)))
                        .with_config_source(source)
                        .with_read_only(source == STATIC_BROKER_CONFIG)
                        .with_config_type(config_type)
                })
                .collect();
            base.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// IncrementalAlterConfigs operations, as Kafka numbers them.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// Whether a topic config's value is a comma-separated list (APPEND and SUBTRACT apply only
/// to those, as in Kafka).
fn is_list_config(name: &str) -> bool {
    topic_config_key(name).is_some_and(|k| {
        matches!(
            k.kind,
            TopicConfigKind::CleanupPolicy | TopicConfigKind::ReplicaList
        )
    })
}

/// One resource's requested change: the new override map, or the error for the resource.
type Altered = Result<BTreeMap<String, String>, (ResponseError, String)>;

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
) -> Result<(String, BTreeMap<String, String>), (ResponseError, String)> {
    match resource_type {
        TOPIC => {
            let Some(topic) = broker.topics.get(name.as_str()) else {
                return Err((
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{}' does not exist.", name.as_str()),
                ));
            };
            change(&topic.configs).map(|configs| (topic.name.clone(), configs))
        }
        BROKER => Err((
            ResponseError::InvalidRequest,
            "Gregor's broker settings are static: set them at start-up".into(),
        )),
        _ => Err((
            ResponseError::InvalidRequest,
            "Gregor alters topic configs only".into(),
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
                    return Err((
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
                return Err((
                    ResponseError::InvalidRequest,
                    format!("Unknown config operation {op} for {name}"),
                ))
            }
        }
    }
    Ok(configs)
}

/// Validates every override and, unless `validate_only`, stores them and applies them to the
/// topic's logs.
fn commit(
    broker: &Arc<Broker>,
    topic: &str,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), (ResponseError, String)> {
    let configs =
        validate_topic_configs(&configs).map_err(|m| (ResponseError::InvalidConfig, m))?;
    if !validate_only {
        broker.set_topic_configs(topic, configs)?;
    }
    Ok(())
}

fn duplicate_key(name: &str) -> (ResponseError, String) {
    (
        ResponseError::InvalidRequest,
        format!("Error due to duplicate config keys: {name}"),
    )
}

fn split(outcome: Result<(), (ResponseError, String)>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err((error, message)) => (error.code(), some_str(message)),
    }
}
