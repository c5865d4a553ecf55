//! Every broker and group config Apache Kafka 4.4 lists in DescribeConfigs, with its type,
//! whether it can change at runtime, whether it is sensitive, and Kafka's default: the tables
//! `kafka_broker_keys.tsv` and `kafka_group_keys.tsv`, recorded from Kafka. Gregor describes
//! the keys it does not act on from here, so tools and UIs see the full set a Kafka broker
//! shows. Kafka counterpart: the `ConfigDef`s of `KafkaConfig` and `GroupConfig`.

use std::sync::OnceLock;

/// A broker config as Kafka 4.4 declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaBrokerKey {
    /// The key.
    pub name: &'static str,
    /// Kafka's type name (`INT`, `LONG`, `LIST`, `PASSWORD`, ...).
    pub kind: &'static str,
    /// Whether Kafka can change it at runtime (`DynamicBrokerConfig.AllDynamicConfigs`).
    pub dynamic: bool,
    /// Whether its value is hidden (a password or key).
    pub sensitive: bool,
    /// Kafka's default; `None` for null.
    pub default: Option<&'static str>,
}

/// A group config (`kafka-configs --entity-type groups`) as Kafka 4.4 declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaGroupKey {
    /// The key.
    pub name: &'static str,
    /// Kafka's type name.
    pub kind: &'static str,
    /// The broker key that gives its default (`group.consumer.session.timeout.ms`).
    pub broker_key: &'static str,
    /// Kafka's default of that broker key.
    pub default: &'static str,
}

fn rows(text: &'static str) -> impl Iterator<Item = Vec<&'static str>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').collect())
}

/// Every broker key Kafka 4.4 describes, by name.
pub fn broker_keys() -> &'static [KafkaBrokerKey] {
    static KEYS: OnceLock<Vec<KafkaBrokerKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        rows(include_str!("kafka_broker_keys.tsv"))
            .filter(|f| f.len() == 5)
            .map(|f| KafkaBrokerKey {
                name: f[0],
                kind: f[1],
                dynamic: f[2] == "rw",
                sensitive: f[3] == "sensitive",
                default: (f[4] != "null").then_some(f[4]),
            })
            .collect()
    })
}

/// Every group key Kafka 4.4 describes, by name.
pub fn group_keys() -> &'static [KafkaGroupKey] {
    static KEYS: OnceLock<Vec<KafkaGroupKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        rows(include_str!("kafka_group_keys.tsv"))
            .filter(|f| f.len() == 4 || f.len() == 3)
            .map(|f| KafkaGroupKey {
                name: f[0],
                kind: f[1],
                broker_key: f[2],
                default: f.get(3).copied().unwrap_or(""),
            })
            .collect()
    })
}

/// Kafka's declaration of broker key `name`.
pub fn broker_key(name: &str) -> Option<&'static KafkaBrokerKey> {
    broker_keys().iter().find(|k| k.name == name)
}

/// Kafka's declaration of group key `name`.
pub fn group_key(name: &str) -> Option<&'static KafkaGroupKey> {
    group_keys().iter().find(|k| k.name == name)
}

/// DescribeConfigs' number for a Kafka type name (`DescribeConfigsResponse.ConfigType`).
pub fn describe_type(kind: &str) -> i8 {
    match kind {
        "BOOLEAN" => 1,
        "STRING" => 2,
        "INT" => 3,
        "SHORT" => 4,
        "LONG" => 5,
        "DOUBLE" => 6,
        "LIST" => 7,
        "CLASS" => 8,
        "PASSWORD" => 9,
        _ => 0,
    }
}

/// Checks `value` as Kafka's `ConfigDef.parseType` would for `kind`; the error is Kafka's
/// wording after "Invalid value V for configuration K: ".
pub fn check_type(kind: &str, value: &str) -> Result<(), String> {
    let v = value.trim();
    let number = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(format!("Not a number of type {kind}"))
        }
    };
    match kind {
        "INT" => number(v.parse::<i32>().is_ok()),
        "SHORT" => number(v.parse::<i16>().is_ok()),
        "LONG" => number(v.parse::<i64>().is_ok()),
        "DOUBLE" => number(v.parse::<f64>().is_ok()),
        "BOOLEAN" if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") => Ok(()),
        "BOOLEAN" => Err("Expected value to be either true or false".to_string()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_completely() {
        // Kafka 4.4 lists 350 broker keys and 21 group keys; a row lost to a bad line would
        // silently vanish from DescribeConfigs.
        assert_eq!(broker_keys().len(), 350);
        assert_eq!(group_keys().len(), 21);
        let segment = broker_key("log.segment.bytes").unwrap();
        assert_eq!(
            (segment.kind, segment.dynamic, segment.default),
            ("INT", true, Some("1073741824"))
        );
        assert!(!broker_key("log.dirs").unwrap().dynamic);
        assert!(broker_key("ssl.keystore.password").unwrap().sensitive);
        assert_eq!(broker_key("log.retention.ms").unwrap().default, None);
        let session = group_key("consumer.session.timeout.ms").unwrap();
        assert_eq!(session.broker_key, "group.consumer.session.timeout.ms");
        assert_eq!(
            group_key("errors.deadletterqueue.topic.name")
                .unwrap()
                .default,
            ""
        );
    }

    #[test]
    fn types_are_checked_as_kafka_parses_them() {
        assert!(check_type("INT", "12").is_ok());
        assert_eq!(
            check_type("INT", "abc").unwrap_err(),
            "Not a number of type INT"
        );
        assert!(check_type("INT", "3000000000").is_err());
        assert!(check_type("LONG", "3000000000").is_ok());
        assert!(check_type("BOOLEAN", "TRUE").is_ok());
        assert!(check_type("BOOLEAN", "yes").is_err());
        assert!(check_type("LIST", "a,b").is_ok());
    }
}
