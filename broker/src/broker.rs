//! The broker's shared state: configuration, the logs, topic metadata and the API table. One
//! `Arc<Broker>` is shared by every connection task.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};

use gregor_protocol::api_versions::ApiTable;
use gregor_protocol::ResponseError;
use gregor_storage::{LogConfig, LogManager, PartitionLog, TopicPartition};
use uuid::Uuid;

use crate::config::Config;
use crate::coordinator::records::Legacy;
use crate::coordinator::runtime::{self, CoordinatorHandle};
use crate::coordinator::CoordinatorConfig;
use crate::error::BrokerError;
use crate::replica_manager::ReplicaManager;
use crate::topics::{
    is_internal_topic, load_or_create_cluster_id, validate_topic_name, TopicMeta, TopicStore,
};

/// Why a topic operation was refused: the code and message a client gets.
pub type TopicError = (ResponseError, String);

/// Everything connections share.
pub struct Broker {
    /// The configuration (defaults, file, environment and flags).
    pub config: Config,
    /// Stable id of this single-node cluster (in `meta.properties`).
    pub cluster_id: String,
    /// Host and port clients are told to use.
    pub advertised: (String, i32),
    /// The partition logs.
    pub logs: Arc<LogManager>,
    /// Topic metadata.
    pub topics: Arc<TopicStore>,
    /// The one way into the partitions: appends, fetches, offsets.
    pub replica_manager: Arc<ReplicaManager>,
    /// Supported APIs and versions.
    pub apis: ApiTable,
    /// Settings of logs without overrides.
    pub default_log_config: LogConfig,
    /// The group coordinator task, started once the logs are open.
    pub coordinator: OnceLock<CoordinatorHandle>,
    /// Next id InitProducerId hands out; seeded from the clock so ids stay unique across restarts.
    next_producer_id: AtomicI64,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Broker {
    /// Opens the data dir (locking it), loads topics and their logs. `data_format` is the
    /// dir's format as `data_dir::check` found it; an older one is upgraded here.
    pub fn open(
        config: Config,
        bound: SocketAddr,
        data_format: u32,
    ) -> Result<Arc<Broker>, BrokerError> {
        let default_log_config = config.log.clone();
        let logs = Arc::new(LogManager::open(
            &config.data_dir,
            default_log_config.clone(),
        )?);
        let first_producer_id = now_ms().max(logs.max_producer_id().map_or(0, |id| id + 1));
        let topics = Arc::new(TopicStore::load(&config.data_dir)?);
        let cluster_id = load_or_create_cluster_id(&config.data_dir, config.node_id)?;
        let advertised = config.advertised(bound);
        let broker = Broker {
            cluster_id,
            advertised,
            replica_manager: Arc::new(ReplicaManager::new(
                logs.clone(),
                topics.clone(),
                config.message_max_bytes,
            )),
            logs,
            topics,
            apis: ApiTable::new(true),
            coordinator: OnceLock::new(),
            default_log_config,
            // Ids only grow: past every id the logs still hold producer state for, and past
            // the ids handed out before the restart (time-seeded at fewer than 1,000 a second).
            next_producer_id: AtomicI64::new(first_producer_id),
            config,
        };
        // Topics are saved before their logs are created and removed before their logs are
        // deleted, so a crash in between leaves either missing logs (created here) or logs of
        // no topic (deleted here).
        for topic in broker.topics.all() {
            let config = broker.log_config(&topic);
            for partition in 0..topic.partitions {
                let log = broker
                    .logs
                    .get_or_create(&TopicPartition::new(&topic.name, partition), config.clone())?;
                log.set_config(config.clone());
            }
        }
        for tp in broker.logs.partitions() {
            if broker
                .topics
                .get(&tp.topic)
                .is_none_or(|t| tp.partition >= t.partitions)
            {
                tracing::warn!(partition = %tp, "deleting the log of a topic that no longer exists");
                broker.logs.delete(&tp)?;
            }
        }
        let offsets_log = broker.offsets_log()?;
        let broker = Arc::new(broker);
        let config = CoordinatorConfig {
            min_session_timeout_ms: broker.config.group_min_session_timeout_ms,
            max_session_timeout_ms: broker.config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: broker.config.group_initial_rebalance_delay_ms,
            max_group_size: broker.config.group_max_size,
            offset_metadata_max_bytes: broker.config.offset_metadata_max_bytes,
        };
        // Format 1 kept offset values in Gregor's own layout.
        let legacy = if data_format < 2 {
            Legacy::Format1
        } else {
            Legacy::None
        };
        let _ = broker
            .coordinator
            .set(runtime::start(offsets_log, config, legacy)?);
        Ok(broker)
    }

    /// The internal log of group offsets, created on first start.
    fn offsets_log(&self) -> Result<Arc<PartitionLog>, BrokerError> {
        const TOPIC: &str = "__consumer_offsets";
        if self.topics.get(TOPIC).is_none() {
            let mut configs = BTreeMap::new();
            // Small segments, so snapshots free space soon.
            configs.insert("segment.bytes".to_string(), (16 << 20).to_string());
            configs.insert("retention.ms".to_string(), "-1".to_string());
            self.create_topic(TOPIC, 1, configs, false)
                .map_err(|(_, m)| BrokerError::Metadata(m))?;
        }
        self.partition_log(TOPIC, 0)
            .ok_or_else(|| BrokerError::Metadata("__consumer_offsets has no log".into()))
    }

    /// The log settings of `topic`: broker defaults with the topic's overrides.
    pub fn log_config(&self, topic: &TopicMeta) -> LogConfig {
        let mut config = self.default_log_config.clone();
        for (key, value) in &topic.configs {
            apply_topic_config(&mut config, key, value);
        }
        if is_internal_topic(&topic.name) {
            // Kafka's internal topics are compacted, so retention never deletes from them and
            // Kafka accepts a retention override there without effect; the coordinator's log
            // must keep its snapshots the same way whatever a client sets.
            config.retention_ms = -1;
            config.retention_bytes = -1;
        }
        config
    }

    /// The log of a partition, if the topic and partition exist.
    pub fn partition_log(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.logs.get(&TopicPartition::new(topic, partition))
    }

    /// Creates a topic with its logs. `partitions` of -1 means the broker default.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        validate_topic_name(name).map_err(|m| (ResponseError::InvalidTopicException, m))?;
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if partitions < 1 {
            return Err((
                ResponseError::InvalidPartitions,
                "Number of partitions must be larger than 0.".into(),
            ));
        }
        let configs =
            validate_topic_configs(&configs).map_err(|m| (ResponseError::InvalidConfig, m))?;
        if self.topics.get(name).is_some() {
            return Err((
                ResponseError::TopicAlreadyExists,
                format!("Topic '{name}' already exists."),
            ));
        }
        let topic = TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        if validate_only {
            return Ok(topic);
        }
        match self.topics.create(topic.clone()) {
            Ok(true) => {}
            Ok(false) => {
                return Err((
                    ResponseError::TopicAlreadyExists,
                    format!("Topic '{name}' already exists."),
                ))
            }
            Err(e) => return Err((ResponseError::KafkaStorageError, e.to_string())),
        }
        self.create_logs(&topic, 0)
            .map_err(|e| (ResponseError::KafkaStorageError, e.to_string()))?;
        tracing::info!(topic = name, partitions, id = %topic.id, "created topic");
        Ok(topic)
    }

    fn create_logs(&self, topic: &TopicMeta, from: i32) -> Result<(), BrokerError> {
        let config = self.log_config(topic);
        for partition in from..topic.partitions {
            self.logs
                .get_or_create(&TopicPartition::new(&topic.name, partition), config.clone())?;
        }
        Ok(())
    }

    /// Deletes a topic and its logs.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, TopicError> {
        let topic = match self.topics.delete(name) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err((
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.".into(),
                ))
            }
            Err(e) => return Err((ResponseError::KafkaStorageError, e.to_string())),
        };
        for partition in 0..topic.partitions {
            if let Err(e) = self.logs.delete(&TopicPartition::new(name, partition)) {
                tracing::warn!(topic = name, partition, cause = %e, "deleting log failed");
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Grows a topic to `count` partitions.
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<TopicMeta, TopicError> {
        let Some(topic) = self.topics.get(name) else {
            return Err((
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{name}' does not exist."),
            ));
        };
        if count <= topic.partitions {
            let message = format!(
                "Topic currently has {} partitions, which is higher than the requested {count}.",
                topic.partitions
            );
            return Err((ResponseError::InvalidPartitions, message));
        }
        if validate_only {
            return Ok(TopicMeta {
                partitions: count,
                ..topic
            });
        }
        let updated = self
            .topics
            .update(name, |t| t.partitions = count)
            .map_err(|e| (ResponseError::KafkaStorageError, e.to_string()))?
            .ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                )
            })?;
        self.create_logs(&updated, topic.partitions)
            .map_err(|e| (ResponseError::KafkaStorageError, e.to_string()))?;
        Ok(updated)
    }

    /// Replaces a topic's config overrides (already validated) and applies them to the logs.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<TopicMeta, TopicError> {
        let updated = self
            .topics
            .update(name, |t| t.configs = configs)
            .map_err(|e| (ResponseError::KafkaStorageError, e.to_string()))?
            .ok_or_else(|| {
                (
                    ResponseError::UnknownTopicOrPartition,
                    format!("The topic '{name}' does not exist."),
                )
            })?;
        let config = self.log_config(&updated);
        for partition in 0..updated.partitions {
            if let Some(log) = self.partition_log(name, partition) {
                log.set_config(config.clone());
            }
        }
        Ok(updated)
    }

    /// A fresh producer id for InitProducerId.
    pub fn allocate_producer_id(&self) -> i64 {
        self.next_producer_id.fetch_add(1, Ordering::Relaxed)
    }
}

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
    /// A comma-separated list from `compact` and `delete`; Gregor has no log cleaner yet, so
    /// only `delete`.
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
}

/// One topic config key: its name, Kafka's default and how values are checked.
#[derive(Debug, Clone, Copy)]
pub struct TopicConfigKey {
    /// Kafka's key name.
    pub name: &'static str,
    /// Kafka 4.4's default, as DescribeConfigs shows it.
    pub default: &'static str,
    /// Type and validator.
    pub kind: TopicConfigKind,
}

const I32_MAX: i64 = i32::MAX as i64;
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

const fn key(name: &'static str, default: &'static str, kind: TopicConfigKind) -> TopicConfigKey {
    TopicConfigKey {
        name,
        default,
        kind,
    }
}

/// Every topic config key of Kafka 4.4 (LogConfig's non-internal keys), sorted by name. All
/// are accepted, checked as Kafka checks them, stored and described; which ones Gregor acts
/// on is up to `apply_topic_config` and the produce path.
pub const TOPIC_CONFIGS: &[TopicConfigKey] = {
    use TopicConfigKind::*;
    &[
        key("cleanup.policy", "delete", CleanupPolicy),
        key("compression.gzip.level", "-1", GzipLevel),
        key("compression.lz4.level", "9", Int(1, 17)),
        key("compression.type", "producer", Choice(COMPRESSION_TYPES)),
        key("compression.zstd.level", "3", Int(-131072, 22)),
        key("delete.retention.ms", "86400000", Long(0, i64::MAX)),
        key("errors.deadletterqueue.group.enable", "false", Boolean),
        key("file.delete.delay.ms", "60000", Long(0, i64::MAX)),
        key("flush.messages", "9223372036854775807", Long(1, i64::MAX)),
        key("flush.ms", "9223372036854775807", Long(0, i64::MAX)),
        key("follower.replication.throttled.replicas", "", ReplicaList),
        key("index.interval.bytes", "4096", Int(0, I32_MAX)),
        key("leader.replication.throttled.replicas", "", ReplicaList),
        key("local.retention.bytes", "-2", Long(-2, i64::MAX)),
        key("local.retention.ms", "-2", Long(-2, i64::MAX)),
        key(
            "max.compaction.lag.ms",
            "9223372036854775807",
            Long(1, i64::MAX),
        ),
        key(
            "max.decompressed.message.bytes",
            "2147483639",
            Int(1, 2147483639),
        ),
        key("max.message.bytes", "1048588", Int(0, I32_MAX)),
        key(
            "message.timestamp.after.max.ms",
            "3600000",
            Long(0, i64::MAX),
        ),
        key(
            "message.timestamp.before.max.ms",
            "9223372036854775807",
            Long(0, i64::MAX),
        ),
        key(
            "message.timestamp.type",
            "CreateTime",
            Choice(&["CreateTime", "LogAppendTime"]),
        ),
        key("min.cleanable.dirty.ratio", "0.5", Double(0.0, 1.0)),
        key("min.compaction.lag.ms", "0", Long(0, i64::MAX)),
        key("min.insync.replicas", "1", Int(1, I32_MAX)),
        key("preallocate", "false", Boolean),
        key("remote.copy.lag.bytes", "-1", Long(-1, i64::MAX)),
        key("remote.copy.lag.ms", "0", Long(-1, i64::MAX)),
        key("remote.log.copy.disable", "false", Boolean),
        key("remote.log.delete.on.disable", "false", Boolean),
        key("remote.storage.enable", "false", Boolean),
        key("retention.bytes", "-1", Long(i64::MIN, i64::MAX)),
        key("retention.ms", "604800000", Long(-1, i64::MAX)),
        key("segment.bytes", "1073741824", Int(1 << 20, I32_MAX)),
        key("segment.index.bytes", "10485760", Int(4, I32_MAX)),
        key("segment.jitter.ms", "0", Long(0, i64::MAX)),
        key("segment.ms", "604800000", Long(1, i64::MAX)),
        key("unclean.leader.election.enable", "false", Boolean),
    ]
};

/// The table entry of `name`.
pub fn topic_config_key(name: &str) -> Option<&'static TopicConfigKey> {
    TOPIC_CONFIGS.iter().find(|k| k.name == name)
}

/// Checks a topic config override: a key Kafka knows, with a value its validator accepts.
pub fn validate_topic_config(key: &str, value: &str) -> Result<(), String> {
    normalize_topic_config(key, value).map(|_| ())
}

/// Checks an override as Kafka does and returns the value to store: trimmed, as Kafka parses
/// every typed value trimmed (so `" 100 "` is 100 to the log too).
pub fn normalize_topic_config(key: &str, value: &str) -> Result<String, String> {
    let Some(entry) = topic_config_key(key) else {
        return Err(format!("Unknown topic config name: {key}"));
    };
    let invalid = |why: &str| format!("Invalid value {value} for configuration {key}: {why}");
    let trimmed = value.trim();
    match entry.kind {
        TopicConfigKind::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(b.to_string()),
            _ => Err(invalid("Expected value to be either true or false")),
        },
        TopicConfigKind::Int(min, max) => {
            let n = trimmed
                .parse::<i32>()
                .map_err(|_| invalid("Not a number of type INT"))?;
            check_range(i64::from(n), min, max).map_err(|m| invalid(&m))?;
            Ok(trimmed.to_string())
        }
        TopicConfigKind::Long(min, max) => {
            let n = trimmed
                .parse::<i64>()
                .map_err(|_| invalid("Not a number of type LONG"))?;
            check_range(n, min, max).map_err(|m| invalid(&m))?;
            Ok(trimmed.to_string())
        }
        TopicConfigKind::Double(min, max) => {
            let n = trimmed
                .parse::<f64>()
                .map_err(|_| invalid("Not a number of type DOUBLE"))?;
            if n < min {
                return Err(invalid(&format!("Value must be at least {min}")));
            }
            if n > max {
                return Err(invalid(&format!("Value must be no more than {max}")));
            }
            Ok(trimmed.to_string())
        }
        TopicConfigKind::Choice(valid) if valid.contains(&trimmed) => Ok(trimmed.to_string()),
        TopicConfigKind::Choice(valid) => Err(invalid(&format!(
            "String must be one of: {}",
            valid.join(", ")
        ))),
        TopicConfigKind::CleanupPolicy => {
            // Kafka accepts `compact` too; without a log cleaner Gregor would keep every
            // record of a compacted topic, so it says no rather than store a policy it ignores.
            let items: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            if items.iter().all(|i| *i == "delete") {
                Ok(trimmed.to_string())
            } else {
                Err(invalid("Gregor supports only 'delete'"))
            }
        }
        TopicConfigKind::ReplicaList => {
            let items: Vec<&str> = trimmed.split(',').map(str::trim).collect();
            let pair = |i: &&str| {
                i.is_empty()
                    || i.split_once(':').is_some_and(|(p, b)| {
                        !p.is_empty()
                            && !b.is_empty()
                            && p.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
                    })
            };
            if items == ["*"] || items.iter().all(pair) {
                Ok(trimmed.to_string())
            } else {
                Err(format!(
                    "Invalid value [{}] for configuration {key}: {key} must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...",
                    items.join(", ")
                ))
            }
        }
        TopicConfigKind::GzipLevel => {
            let n = trimmed
                .parse::<i32>()
                .map_err(|_| invalid("Not a number of type INT"))?;
            if n == -1 || (1..=9).contains(&n) {
                Ok(trimmed.to_string())
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

/// Checks a topic's whole set of overrides and returns them normalized: each value as
/// `normalize_topic_config` checks it, then the rules across keys that Kafka's LogConfig
/// applies (compaction lags in order; no tiered storage on a broker without it).
pub fn validate_topic_configs(
    configs: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut normalized = BTreeMap::new();
    for (key, value) in configs {
        normalized.insert(key.clone(), normalize_topic_config(key, value)?);
    }
    let long = |key: &str| {
        normalized
            .get(key)
            .map_or(topic_config_key(key).map(|k| k.default), |v| {
                Some(v.as_str())
            })
            .and_then(|v| v.parse::<i64>().ok())
    };
    if let (Some(min), Some(max)) = (long("min.compaction.lag.ms"), long("max.compaction.lag.ms")) {
        if min > max {
            return Err(format!("conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"));
        }
    }
    if normalized
        .get("remote.storage.enable")
        .is_some_and(|v| v == "true")
    {
        // Kafka's answer when `remote.log.storage.system.enable` is off, as Gregor's always is.
        return Err("Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.".into());
    }
    Ok(normalized)
}

/// A topic config's value when the topic does not override it: the broker's `log.*` setting
/// where Gregor has one (so `log.retention.hours=1` shows as `retention.ms=3600000`), else
/// Kafka's default.
pub fn topic_config_default(broker: &Broker, key: &str) -> Option<String> {
    let c = &broker.default_log_config;
    let from_broker = match key {
        "segment.bytes" => Some(c.segment_bytes.to_string()),
        "segment.ms" => Some(c.segment_ms.to_string()),
        "retention.ms" => Some(c.retention_ms.to_string()),
        "retention.bytes" => Some(c.retention_bytes.to_string()),
        "flush.messages" => Some(c.flush_messages.min(i64::MAX as u64).to_string()),
        "flush.ms" => Some(c.flush_ms.to_string()),
        "index.interval.bytes" => Some(c.index_interval_bytes.to_string()),
        "segment.index.bytes" => Some(c.segment_index_bytes.to_string()),
        "max.message.bytes" => Some(broker.config.message_max_bytes.to_string()),
        "message.timestamp.type" => Some(c.message_timestamp_type.name().to_string()),
        "message.timestamp.before.max.ms" => Some(c.message_timestamp_before_max_ms.to_string()),
        "message.timestamp.after.max.ms" => Some(c.message_timestamp_after_max_ms.to_string()),
        _ => None,
    };
    from_broker.or_else(|| topic_config_key(key).map(|k| k.default.to_string()))
}

fn apply_topic_config(config: &mut LogConfig, key: &str, value: &str) {
    if key == "message.timestamp.type" {
        if let Some(kind) = gregor_storage::TimestampType::from_name(value) {
            config.message_timestamp_type = kind;
        }
        return;
    }
    let Ok(n) = value.parse::<i64>() else { return };
    match key {
        "segment.bytes" if n > 0 => config.segment_bytes = n as u64,
        "segment.ms" if n > 0 => config.segment_ms = n,
        "retention.ms" => config.retention_ms = n,
        "retention.bytes" => config.retention_bytes = n,
        "message.timestamp.before.max.ms" if n >= 0 => config.message_timestamp_before_max_ms = n,
        "message.timestamp.after.max.ms" if n >= 0 => config.message_timestamp_after_max_ms = n,
        "flush.messages" if n > 0 => config.flush_messages = n as u64,
        "flush.ms" if n >= 0 => config.flush_ms = n,
        "index.interval.bytes" if n > 0 => {
            config.index_interval_bytes = n.min(i64::from(u32::MAX)) as u32
        }
        "segment.index.bytes" if n > 0 => {
            config.segment_index_bytes = n.min(i64::from(u32::MAX)) as u32
        }
        _ => {}
    }
}

#[cfg(test)]
mod topic_config_tests {
    use super::*;

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
            if matches!(k.kind, TopicConfigKind::ReplicaList) {
                continue; // the empty list
            }
            assert_eq!(
                normalize_topic_config(k.name, k.default).as_deref(),
                Ok(k.default)
            );
        }
    }

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        let ok = |k: &str, v: &str| normalize_topic_config(k, v);
        assert_eq!(ok("segment.ms", " 100 ").as_deref(), Ok("100"));
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
        assert!(ok("segment.bytes", "3000000000")
            .unwrap_err()
            .ends_with("Not a number of type INT"));
        assert!(ok("compression.type", "ZSTD").is_err());
        assert!(ok("compression.gzip.level", "-1").is_ok());
        assert!(ok("compression.gzip.level", "0").is_err());
        assert!(ok("compression.zstd.level", "-131072").is_ok());
        assert!(ok("leader.replication.throttled.replicas", "0:1, 1:1").is_ok());
        assert!(ok("leader.replication.throttled.replicas", "*").is_ok());
        assert!(ok("leader.replication.throttled.replicas", "x").is_err());
        assert!(ok("retention.bytes", "-5").is_ok());
        assert!(ok("retention.ms", "-2").is_err());
        assert!(ok("message.downconversion.enable", "true").is_err());
        assert_eq!(
            ok("cleanup.policy", "compact"),
            Err("Invalid value compact for configuration cleanup.policy: Gregor supports only 'delete'".into())
        );
        assert!(ok("cleanup.policy", "delete").is_ok());
    }

    #[test]
    fn rules_across_keys_are_kafkas() {
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_topic_configs(&map(&[("min.compaction.lag.ms", "10")])).is_ok());
        assert!(validate_topic_configs(&map(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5")
        ]))
        .unwrap_err()
        .starts_with("conflict topic config setting"));
        assert!(validate_topic_configs(&map(&[("remote.storage.enable", "true")])).is_err());
        assert!(validate_topic_configs(&map(&[("remote.storage.enable", "false")])).is_ok());
    }
}
