//! DescribeConfigs, IncrementalAlterConfigs and AlterConfigs for the broker resource: every
//! broker config Kafka 4.4 lists, with its value, source, synonyms, read-only and sensitive
//! flags, and the dynamic configs (this broker's and the cluster-wide defaults) that
//! `kafka-configs --alter --entity-type brokers` sets. Kafka counterparts:
//! `ConfigHelper.createBrokerConfigEntry` and `DynamicBrokerConfig`.

use std::collections::BTreeMap;
use std::sync::Arc;

use gregor_protocol::ResponseError;

use super::configs::{Altered, Entry};
use crate::broker::Broker;
use crate::config::dynamic::Scope;
use crate::config::{kafka_keys, keys, Config};
use crate::error::KafkaError;
use crate::topic_config::{broker_synonyms, source, BrokerSynonym, Synonym};

/// Which broker resource a request names: `""` is the cluster default, this node's id is this
/// broker; anything else is refused as Kafka refuses it.
pub fn scope_of(name: &str, node_id: i32) -> Result<Scope, KafkaError> {
    if name.is_empty() {
        return Ok(Scope::BrokerDefault);
    }
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(Scope::Broker),
        Ok(_) => Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {node_id} or empty string, but received {name}"
            ),
        )),
        Err(_) => Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )),
    }
}

/// The broker keys Kafka lists as synonyms of `name`, highest priority first
/// (`DynamicBrokerConfig.brokerConfigSynonyms` without listener prefixes).
fn synonym_names(name: &str) -> &[&'static str] {
    const RETENTION: &[&str] = &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ];
    const ROLL: &[&str] = &["log.roll.ms", "log.roll.hours"];
    const JITTER: &[&str] = &["log.roll.jitter.ms", "log.roll.jitter.hours"];
    const FLUSH: &[&str] = &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"];
    match name {
        n if RETENTION.contains(&n) => RETENTION,
        n if ROLL.contains(&n) => ROLL,
        n if JITTER.contains(&n) => JITTER,
        "log.flush.interval.ms" => FLUSH,
        _ => &[],
    }
}

/// The default DescribeConfigs shows for a broker key: Gregor's where Gregor reads the key
/// (it is what applies: `node.id` 1, `max.connections` 10000, ...), else Kafka 4.4's.
/// `log.flush.interval.ms` stays null as in Kafka: Gregor's "never" is Kafka's null there.
fn default_of(name: &str) -> Option<&'static str> {
    match keys::find(name) {
        Some(k) if !k.default.is_empty() && name != "log.flush.interval.ms" => Some(k.default),
        _ => kafka_keys::broker_key(name).and_then(|k| k.default),
    }
}

/// A broker key's value as it stands, with the source it comes from: dynamic for this broker,
/// dynamic default, static (file, environment, flags), else its default.
pub fn effective(config: &Config, name: &str) -> (Option<String>, i8) {
    [
        (&config.dynamic_broker, source::DYNAMIC_BROKER_CONFIG),
        (
            &config.dynamic_default,
            source::DYNAMIC_DEFAULT_BROKER_CONFIG,
        ),
        (&config.static_settings, source::STATIC_BROKER_CONFIG),
        (&config.ignored_settings, source::STATIC_BROKER_CONFIG),
    ]
    .into_iter()
    .find_map(|(map, source)| map.get(name).map(|v| (Some(v.clone()), source)))
    .unwrap_or_else(|| (default_of(name).map(str::to_string), source::DEFAULT_CONFIG))
}

/// What DescribeConfigs' documentation says of a key.
fn doc_of(name: &str) -> &'static str {
    if let Some(k) = keys::find(name) {
        k.help
    } else if kafka_keys::broker_key(name).is_some() {
        "Accepted for compatibility; Gregor does not act on it. Unless set, the value shown is \
         Apache Kafka's default."
    } else {
        "Not a Kafka 4.4 broker config: kept as set."
    }
}

/// One broker key as Kafka's `createBrokerConfigEntry` describes it on `config`;
/// `per_broker` false describes it for the cluster-default resource.
fn describe_key(name: &str, config: &Config, per_broker: bool) -> Entry {
    let kafka = kafka_keys::broker_key(name);
    let names: Vec<&'static str> = match synonym_names(name) {
        [] => kafka.map(|k| vec![k.name]).unwrap_or_default(),
        many => many.to_vec(),
    };
    let mut synonyms = if names.is_empty() {
        // A key Kafka does not know can only have been set dynamically.
        [
            (&config.dynamic_broker, source::DYNAMIC_BROKER_CONFIG),
            (
                &config.dynamic_default,
                source::DYNAMIC_DEFAULT_BROKER_CONFIG,
            ),
        ]
        .into_iter()
        .filter_map(|(map, source)| {
            map.get(name).map(|v| Synonym {
                name: name.to_string(),
                value: Some(v.clone()),
                source,
            })
        })
        .collect()
    } else {
        let names: Vec<BrokerSynonym> = names
            .into_iter()
            .map(|n| BrokerSynonym {
                name: n,
                kafka_default: default_of(n),
            })
            .collect();
        broker_synonyms(&names, name, config)
    };
    if name == "broker.id"
        && !config.static_settings.contains_key("broker.id")
        && config.static_settings.contains_key("node.id")
    {
        // Kafka sets `broker.id` from `node.id`, so a `node.id` set makes it static too.
        synonyms.insert(
            0,
            Synonym {
                name: name.to_string(),
                value: Some(config.node_id.to_string()),
                source: source::STATIC_BROKER_CONFIG,
            },
        );
    }
    if !per_broker {
        synonyms.retain(|s| s.source == source::DYNAMIC_DEFAULT_BROKER_CONFIG);
    }
    // A key Kafka does not know has no type: Kafka then treats it as possibly sensitive.
    let sensitive = kafka.is_none_or(|k| k.sensitive);
    let value = if sensitive {
        None
    } else if name == "broker.id" {
        // Kafka's broker id is the node id, whichever key set it.
        Some(config.node_id.to_string())
    } else {
        synonyms
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.value.clone())
            .unwrap_or_else(|| default_of(name).map(str::to_string))
    };
    let synonyms = if sensitive {
        synonyms
            .into_iter()
            .map(|s| Synonym { value: None, ..s })
            .collect()
    } else {
        synonyms
    };
    Entry {
        name: name.to_string(),
        value,
        source: synonyms
            .first()
            .map_or(source::DEFAULT_CONFIG, |s| s.source),
        config_type: kafka.map_or(0, |k| kafka_keys::describe_type(k.kind)),
        read_only: kafka.is_none_or(|k| !k.dynamic),
        sensitive,
        synonyms,
        doc: doc_of(name),
    }
}

/// DescribeConfigs of the broker resource `name`: every key for this broker, the dynamic
/// defaults for the cluster-default resource (as Kafka lists them).
pub fn describe(broker: &Arc<Broker>, name: &str) -> Result<Vec<Entry>, KafkaError> {
    let config = broker.live_config();
    let scope = scope_of(name, config.node_id)?;
    let mut names: Vec<String> = match scope {
        Scope::BrokerDefault => config.dynamic_default.keys().cloned().collect(),
        _ => {
            let mut all: Vec<String> = kafka_keys::broker_keys()
                .iter()
                .map(|k| k.name.to_string())
                .collect();
            all.extend(config.dynamic_broker.keys().cloned());
            all.extend(config.dynamic_default.keys().cloned());
            all
        }
    };
    names.sort();
    names.dedup();
    Ok(names
        .iter()
        .map(|n| describe_key(n, &config, scope == Scope::Broker))
        .collect())
}

/// Checks one dynamic broker setting as Kafka's `DynamicBrokerConfig.validateConfigs` would,
/// with Gregor's own bounds for the keys it reads.
fn check_dynamic(name: &str, value: &str) -> Result<(), KafkaError> {
    let invalid = |why: String| {
        KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!("Invalid value {value} for configuration {name}: {why}"),
        )
    };
    let Some(kafka) = kafka_keys::broker_key(name) else {
        // Kafka keeps keys it does not know (a plugin's, say) and describes them.
        return Ok(());
    };
    if !kafka.dynamic {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!("Cannot update these configs dynamically: [{name}]"),
        ));
    }
    if matches!(name, "listeners" | "listener.security.protocol.map") {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!("Gregor cannot change {name} while it runs: set it at start-up"),
        ));
    }
    kafka_keys::check_type(kafka.kind, value).map_err(invalid)?;
    if let Some(key) = keys::find(name) {
        if keys::check(key.kind, value).is_err() {
            return Err(invalid(kafka_wording(key.kind, value)));
        }
    }
    Ok(())
}

/// Why `value` fails `kind`, in the words of Kafka's validators (`ConfigDef.Range`,
/// `ValidString`, `ValidList`), for a value whose type is already right.
fn kafka_wording(kind: keys::Kind, value: &str) -> String {
    let value = value.trim();
    match kind {
        keys::Kind::Int { min, max } => match value.parse::<i64>() {
            Ok(n) if n < min => format!("Value must be at least {min}"),
            Ok(_) => format!("Value must be no more than {max}"),
            Err(_) => "Not a number of type INT".to_string(),
        },
        keys::Kind::Double { min, max } => match value.parse::<f64>() {
            Ok(n) if n < min => format!("Value must be at least {min}"),
            _ => format!("Value must be no more than {max}"),
        },
        keys::Kind::Choice(words) => format!("String must be one of: {}", words.join(", ")),
        keys::Kind::Policy => "String must be one of: compact, delete".to_string(),
        keys::Kind::Bool => "Expected value to be either true or false".to_string(),
        keys::Kind::Text => "Invalid value".to_string(),
    }
}

/// Applies `change` to the dynamic configs of broker resource `name`, checks every new value
/// and the whole configuration they give, and (unless `validate_only`) stores and applies it.
pub fn alter(
    broker: &Arc<Broker>,
    name: &str,
    change: impl FnOnce(&BTreeMap<String, String>) -> Altered,
    validate_only: bool,
) -> Result<(), KafkaError> {
    let scope = scope_of(name, broker.config.node_id)?;
    let mut stored = broker
        .dynamic
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let current = stored.of(&scope);
    let updated = change(&current)?;
    for (key, value) in &updated {
        if current.get(key) != Some(value) {
            check_dynamic(key, value)?;
        }
    }
    let mut next = stored.clone();
    next.set(&scope, updated);
    let config = broker
        .config_with(&next)
        .map_err(|e| KafkaError::with_message(ResponseError::InvalidRequest, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    broker
        .put_dynamic(&mut stored, next, config)
        .map_err(|e| KafkaError::with_message(ResponseError::KafkaStorageError, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_resources_are_this_node_or_the_default() {
        assert_eq!(scope_of("", 1).unwrap(), Scope::BrokerDefault);
        assert_eq!(scope_of("1", 1).unwrap(), Scope::Broker);
        let other = scope_of("7", 1).unwrap_err();
        assert_eq!(other.code, ResponseError::InvalidRequest);
        assert_eq!(
            other.message.as_deref(),
            Some("Unexpected broker id, expected 1 or empty string, but received 7")
        );
        assert!(scope_of("abc", 1).is_err());
    }

    #[test]
    fn only_kafka_dynamic_keys_change_at_runtime() {
        assert!(check_dynamic("log.segment.bytes", "1048576").is_ok());
        assert_eq!(
            check_dynamic("log.dirs", "/x")
                .unwrap_err()
                .message
                .as_deref(),
            Some("Cannot update these configs dynamically: [log.dirs]")
        );
        assert_eq!(
            check_dynamic("log.segment.bytes", "abc")
                .unwrap_err()
                .message
                .as_deref(),
            Some("Invalid value abc for configuration log.segment.bytes: Not a number of type INT")
        );
        assert_eq!(
            check_dynamic("log.segment.bytes", "1")
                .unwrap_err()
                .message
                .as_deref(),
            Some("Invalid value 1 for configuration log.segment.bytes: Value must be at least 14")
        );
        assert_eq!(
            check_dynamic("log.cleanup.policy", "bogus")
                .unwrap_err()
                .message
                .as_deref(),
            Some(
                "Invalid value bogus for configuration log.cleanup.policy: String must be one of: \
                 compact, delete"
            )
        );
        // Kafka keys Gregor ignores are kept, as Kafka keeps them; unknown ones too.
        assert!(check_dynamic("num.io.threads", "4").is_ok());
        assert!(check_dynamic("foo.bar", "1").is_ok());
    }
}
