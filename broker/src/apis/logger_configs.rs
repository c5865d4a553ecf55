//! DescribeConfigs and IncrementalAlterConfigs for the BROKER_LOGGER resource: the broker's
//! loggers and their levels (`kafka-configs --entity-type broker-loggers --entity-name 1`).
//! The levels themselves are kept in `log_levels`. Kafka counterpart: the BROKER_LOGGER cases
//! of `ConfigHelper` and `ConfigAdminManager`.

use gregor_protocol::ResponseError;

use super::configs::Entry;
use crate::error::KafkaError;
use crate::log_levels::{self, LoggerError};

/// DescribeConfigs' source of a logger's level.
const DYNAMIC_BROKER_LOGGER_CONFIG: i8 = 6;
const SET: i8 = 0;
const DELETE: i8 = 1;

/// Checks that `name` is this broker's id, as Kafka does for a logger resource.
fn check_broker(name: &str, node_id: i32) -> Result<(), KafkaError> {
    if name.is_empty() {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            "Broker id must not be empty",
        ));
    }
    if name.parse::<i32>().ok() != Some(node_id) {
        return Err(KafkaError::with_message(
            ResponseError::InvalidRequest,
            format!("Unexpected broker id, expected {node_id} but received {name}"),
        ));
    }
    Ok(())
}

/// Every logger with its level.
pub fn describe(name: &str, node_id: i32) -> Result<Vec<Entry>, KafkaError> {
    check_broker(name, node_id)?;
    Ok(log_levels::levels()
        .into_iter()
        .map(|(logger, level)| Entry {
            name: logger,
            value: Some(level),
            source: DYNAMIC_BROKER_LOGGER_CONFIG,
            config_type: 0,
            read_only: false,
            sensitive: false,
            synonyms: Vec::new(),
            doc: "The level of this logger: TRACE, DEBUG, INFO, WARN, ERROR or OFF (root: of every logger without its own).",
        })
        .collect())
}

fn invalid_config(e: LoggerError) -> KafkaError {
    let code = match e {
        LoggerError::RemoveRoot => ResponseError::InvalidRequest,
        _ => ResponseError::InvalidConfig,
    };
    KafkaError::with_message(code, e.to_string())
}

/// Applies SET and DELETE operations (logger, operation, level), all checked before any is
/// applied; `validate_only` checks only.
pub fn alter(
    name: &str,
    node_id: i32,
    ops: &[(&str, i8, Option<&str>)],
    validate_only: bool,
) -> Result<(), KafkaError> {
    check_broker(name, node_id)?;
    for &(logger, op, level) in ops {
        match op {
            SET => log_levels::check(logger, Some(level.unwrap_or_default())),
            DELETE => log_levels::check(logger, None),
            _ => {
                return Err(KafkaError::with_message(
                    ResponseError::InvalidRequest,
                    format!("Config operation {op} is not allowed for the broker logger {logger}"),
                ))
            }
        }
        .map_err(invalid_config)?;
    }
    if validate_only {
        return Ok(());
    }
    for &(logger, op, level) in ops {
        let level = (op == SET).then(|| level.unwrap_or_default());
        log_levels::set(logger, level).map_err(invalid_config)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_brokers_loggers_are_served() {
        assert!(describe("1", 1).is_ok());
        assert_eq!(
            describe("", 1).unwrap_err().message.as_deref(),
            Some("Broker id must not be empty")
        );
        assert_eq!(
            describe("7", 1).unwrap_err().message.as_deref(),
            Some("Unexpected broker id, expected 1 but received 7")
        );
        let root = describe("1", 1).unwrap();
        assert_eq!(root[0].name, "root");
        let err = alter("1", 1, &[("root", DELETE, None)], false).unwrap_err();
        assert_eq!(err.code, ResponseError::InvalidRequest);
        let err = alter("1", 1, &[("kafka.foo", SET, Some("DEBUG"))], true).unwrap_err();
        assert_eq!(err.code, ResponseError::InvalidConfig);
        assert_eq!(
            err.message.as_deref(),
            Some("Logger kafka.foo does not exist!")
        );
    }
}
