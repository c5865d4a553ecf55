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
use crate::topics::{load_or_create_cluster_id, validate_topic_name, TopicMeta, TopicStore};

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
    pub logs: LogManager,
    /// Topic metadata.
    pub topics: TopicStore,
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
        let logs = LogManager::open(&config.data_dir, default_log_config.clone())?;
        let first_producer_id = now_ms().max(logs.max_producer_id().map_or(0, |id| id + 1));
        let topics = TopicStore::load(&config.data_dir)?;
        let cluster_id = load_or_create_cluster_id(&config.data_dir, config.node_id)?;
        let advertised = config.advertised(bound);
        let broker = Broker {
            cluster_id,
            advertised,
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
        for (key, value) in &configs {
            validate_topic_config(key, value).map_err(|m| (ResponseError::InvalidConfig, m))?;
        }
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

/// Topic configs Gregor understands, with Kafka's defaults as shown by DescribeConfigs.
pub const TOPIC_CONFIG_DEFAULTS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("compression.type", "producer"),
    ("flush.messages", "9223372036854775807"),
    ("flush.ms", "9223372036854775807"),
    ("index.interval.bytes", "4096"),
    ("max.message.bytes", "1048588"),
    ("message.timestamp.after.max.ms", "3600000"),
    ("message.timestamp.before.max.ms", "9223372036854775807"),
    ("message.timestamp.type", "CreateTime"),
    ("min.insync.replicas", "1"),
    ("retention.bytes", "-1"),
    ("retention.ms", "604800000"),
    ("segment.bytes", "1073741824"),
    ("segment.index.bytes", "10485760"),
    ("segment.ms", "604800000"),
];

/// Checks a topic config override: a key Gregor knows, with a value of the right type.
pub fn validate_topic_config(key: &str, value: &str) -> Result<(), String> {
    if !TOPIC_CONFIG_DEFAULTS.iter().any(|(k, _)| *k == key) {
        return Err(format!("Unknown topic config name: {key}"));
    }
    match key {
        "cleanup.policy" if value == "delete" => Ok(()),
        "cleanup.policy" => Err(format!(
            "Invalid value {value} for configuration cleanup.policy: Gregor supports only 'delete'"
        )),
        "message.timestamp.type" if value == "CreateTime" || value == "LogAppendTime" => Ok(()),
        "message.timestamp.type" => Err(format!("Invalid value {value} for configuration message.timestamp.type: String must be one of: CreateTime, LogAppendTime")),
        "message.timestamp.after.max.ms" | "message.timestamp.before.max.ms" => match value.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(()),
            Ok(_) => Err(format!("Invalid value {value} for configuration {key}: Value must be at least 0")),
            Err(_) => Err(format!("Invalid value {value} for configuration {key}: Not a number of type LONG")),
        },
        "compression.type" => Ok(()),
        _ => value.parse::<i64>().map(|_| ()).map_err(|_| {
            format!("Invalid value {value} for configuration {key}: Not a number of type LONG")
        }),
    }
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
    from_broker.or_else(|| {
        TOPIC_CONFIG_DEFAULTS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    })
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
