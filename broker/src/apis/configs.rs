//! DescribeConfigs for topics (defaults plus overrides) and for the broker.

use std::sync::Arc;

use gregor_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use gregor_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use gregor_protocol::{ResponseError, StrBytes};

use crate::apis::some_str;
use crate::broker::{Broker, TOPIC_CONFIG_DEFAULTS};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Config sources, as Kafka numbers them.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

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
            let wanted = |key: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|k| k.as_str() == key))
            };
            let entries: Vec<(String, String, i8)> = match r.resource_type {
                TOPIC => match broker.topics.get(r.resource_name.as_str()) {
                    None => {
                        return base
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_error_message(some_str(format!(
                                "Topic '{}' does not exist.",
                                r.resource_name.as_str()
                            )))
                    }
                    Some(topic) => TOPIC_CONFIG_DEFAULTS
                        .iter()
                        .map(|(key, default)| match topic.configs.get(*key) {
                            Some(v) => (key.to_string(), v.clone(), DYNAMIC_TOPIC_CONFIG),
                            None => (key.to_string(), default.to_string(), DEFAULT_CONFIG),
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
                        ),
                        (
                            "node.id".into(),
                            c.node_id.to_string(),
                            STATIC_BROKER_CONFIG,
                        ),
                        (
                            "num.partitions".into(),
                            c.num_partitions.to_string(),
                            STATIC_BROKER_CONFIG,
                        ),
                        (
                            "auto.create.topics.enable".into(),
                            c.auto_create_topics.to_string(),
                            STATIC_BROKER_CONFIG,
                        ),
                        (
                            "log.dirs".into(),
                            c.data_dir.display().to_string(),
                            STATIC_BROKER_CONFIG,
                        ),
                        (
                            "socket.request.max.bytes".into(),
                            c.max_request_bytes.to_string(),
                            STATIC_BROKER_CONFIG,
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
                .filter(|(key, _, _)| wanted(key))
                .map(|(key, value, source)| {
                    DescribeConfigsResourceResult::default()
                        .with_name(StrBytes::from_string(key))
                        .with_value(Some(StrBytes::from_string(value)))
                        .with_config_source(source)
                        .with_read_only(source == STATIC_BROKER_CONFIG)
                })
                .collect();
            base.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
