//! DescribeConfigs and the alter APIs for the group resource (KIP-848's group configs:
//! `kafka-configs --entity-type groups --entity-name G`): every group config Kafka 4.4 lists,
//! its value set for the group or the broker's default, checked against the broker's bounds.
//! Kafka counterparts: `GroupConfig` and `ConfigHelper.createGroupConfigEntry`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gregor_protocol::ResponseError;

use super::broker_configs::effective;
use super::configs::{Altered, Entry};
use crate::broker::Broker;
use crate::config::dynamic::Scope;
use crate::config::{kafka_keys, Config};
use crate::coordinator::group::manager::GroupConfigOverrides;
use crate::error::KafkaError;
use crate::topic_config::Synonym;

/// DescribeConfigs' source of a config set for the group.
const GROUP_CONFIG: i8 = 8;

fn scope_of(group: &str) -> Result<Scope, KafkaError> {
    if group.is_empty() {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            "Group name must not be empty",
        ));
    }
    Ok(Scope::Group(group.to_string()))
}

/// The value and DescribeConfigs entries of every group config of `group`.
pub fn describe(broker: &Arc<Broker>, group: &str) -> Result<Vec<Entry>, KafkaError> {
    let scope = scope_of(group)?;
    let config = broker.live_config();
    let set = broker
        .dynamic
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .of(&scope);
    Ok(kafka_keys::group_keys()
        .iter()
        .map(|k| {
            let (broker_value, broker_source) = effective(&config, k.broker_key);
            let broker_value = broker_value.or_else(|| Some(k.default.to_string()));
            let mut synonyms = Vec::new();
            if let Some(v) = set.get(k.name) {
                synonyms.push(Synonym {
                    name: k.name.to_string(),
                    value: Some(v.clone()),
                    source: GROUP_CONFIG,
                });
            }
            synonyms.push(Synonym {
                name: k.broker_key.to_string(),
                value: broker_value.clone(),
                source: broker_source,
            });
            Entry {
                name: k.name.to_string(),
                value: set.get(k.name).cloned().or(broker_value),
                source: synonyms[0].source,
                config_type: kafka_keys::describe_type(k.kind),
                read_only: false,
                sensitive: false,
                synonyms,
                doc: doc_of(k.name),
            }
        })
        .collect())
}

/// What DescribeConfigs documents for a group config: whether Gregor acts on it.
fn doc_of(name: &str) -> &'static str {
    match name {
        "consumer.session.timeout.ms" | "consumer.heartbeat.interval.ms" => {
            "A group config of Apache Kafka 4.4; Gregor's consumer group coordinator reads it \
             at each heartbeat, as Kafka's does."
        }
        _ => {
            "A group config of Apache Kafka 4.4, kept and described; Gregor's group \
             coordinator does not act on it."
        }
    }
}

/// The values set for `group` of the group configs the consumer group coordinator reads;
/// the rest fall back to the broker's `group.consumer.*` inside the coordinator.
pub fn coordinator_overrides(broker: &Broker, group: &str) -> GroupConfigOverrides {
    let set = broker
        .dynamic
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .of(&Scope::Group(group.to_string()));
    let int = |name: &str| set.get(name).and_then(|v| v.trim().parse::<i32>().ok());
    GroupConfigOverrides {
        session_timeout_ms: int("consumer.session.timeout.ms"),
        heartbeat_interval_ms: int("consumer.heartbeat.interval.ms"),
    }
}

/// The bounds a group config must respect: `group.X.min.Y` and `group.X.max.Y` for `X.Y`,
/// where the broker has them (as Kafka's `GroupConfig.validateValues`).
fn bounds(config: &Config, name: &str) -> Option<(i64, i64)> {
    let (kind, rest) = name.split_once('.')?;
    let bound = |which: &str| {
        let key = format!("group.{kind}.{which}.{rest}");
        kafka_keys::broker_key(&key)?;
        effective(config, &key).0?.parse::<i64>().ok()
    };
    Some((bound("min")?, bound("max")?))
}

/// Checks one group config as Kafka's `GroupConfig.validate` does.
fn check(config: &Config, name: &str, value: &str) -> Result<(), KafkaError> {
    let invalid = |message: String| KafkaError::with_message(ResponseError::InvalidConfig, message);
    let Some(key) = kafka_keys::group_key(name) else {
        return Err(invalid(format!("Unknown group config name: {name}")));
    };
    kafka_keys::check_type(key.kind, value).map_err(|why| {
        invalid(format!(
            "Invalid value {value} for configuration {name}: {why}"
        ))
    })?;
    if let (Some((min, max)), Ok(n)) = (bounds(config, name), value.trim().parse::<i64>()) {
        if !(min..=max).contains(&n) {
            return Err(invalid(format!(
                "{name} must be in the range {min} to {max} inclusive."
            )));
        }
    }
    Ok(())
}

/// Applies `change` to `group`'s configs, checks every new value, and (unless
/// `validate_only`) stores them.
pub fn alter(
    broker: &Arc<Broker>,
    group: &str,
    change: impl FnOnce(&BTreeMap<String, String>) -> Altered,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let scope = scope_of(group)?;
    let config = broker.live_config();
    let mut stored = broker
        .dynamic
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let current = stored.of(&scope);
    let updated = change(&current)?;
    for (key, value) in &updated {
        if current.get(key) != Some(value) {
            check(&config, key, value)?;
        }
    }
    if validate_only {
        return Ok(());
    }
    let mut next = stored.clone();
    next.set(&scope, updated);
    next.save(&broker.config.data_dir)
        .map_err(|e| KafkaError::with_message(ResponseError::KafkaStorageError, e.to_string()))?;
    *stored = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Cli;

    #[test]
    fn values_are_bounded_by_the_brokers_group_settings() {
        let config = Config::load(&Cli::default(), std::iter::empty())
            .unwrap()
            .config;
        assert_eq!(
            bounds(&config, "consumer.session.timeout.ms"),
            Some((45000, 60000))
        );
        assert_eq!(bounds(&config, "errors.deadletterqueue.topic.name"), None);
        let err = check(&config, "consumer.session.timeout.ms", "1000").unwrap_err();
        assert_eq!(err.code, ResponseError::InvalidConfig);
        assert_eq!(
            err.message.as_deref(),
            Some("consumer.session.timeout.ms must be in the range 45000 to 60000 inclusive.")
        );
        assert!(check(&config, "consumer.session.timeout.ms", "50000").is_ok());
        assert_eq!(
            check(&config, "foo", "1").unwrap_err().message.as_deref(),
            Some("Unknown group config name: foo")
        );
        assert!(check(&config, "share.auto.offset.reset", "earliest").is_ok());
    }
}
