//! Topic admin: creating and deleting topics, adding partitions and replacing a topic's config
//! overrides, each keeping `topics.json` and the partition logs in agreement. Kafka
//! counterparts: the controller's topic handling behind `ControllerApis` (once
//! `ZkAdminManager`).
//!
//! These are methods of `Broker` so every API handler reaches them the same way; the state they
//! change (the topic store and the log manager) stays owned by `Broker`.

use std::collections::BTreeMap;

use gregor_protocol::ResponseError;
use gregor_storage::TopicPartition;
use uuid::Uuid;

use crate::broker::Broker;
use crate::error::{BrokerError, KafkaError};
use crate::topic_config::TopicConfig;
use crate::topics::{validate_topic_name, TopicMeta};

fn storage_failure(err: BrokerError) -> KafkaError {
    KafkaError::with_message(ResponseError::KafkaStorageError, err.to_string())
}

fn already_exists(name: &str) -> KafkaError {
    KafkaError::with_message(
        ResponseError::TopicAlreadyExists,
        format!("Topic '{name}' already exists."),
    )
}

fn does_not_exist(name: &str) -> KafkaError {
    KafkaError::with_message(
        ResponseError::UnknownTopicOrPartition,
        format!("The topic '{name}' does not exist."),
    )
}

impl Broker {
    /// Creates a topic with its logs. `partitions` of -1 means the broker default; `configs`
    /// are checked against the topic config table and stored normalized.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicMeta, KafkaError> {
        validate_topic_name(name)
            .map_err(|m| KafkaError::with_message(ResponseError::InvalidTopicException, m))?;
        let partitions = if partitions == -1 {
            self.config.num_partitions
        } else {
            partitions
        };
        if partitions < 1 {
            return Err(KafkaError::with_message(
                ResponseError::InvalidPartitions,
                "Number of partitions must be larger than 0.",
            ));
        }
        let configs = TopicConfig::parse(&configs)?;
        if self.topics.get(name).is_some() {
            return Err(already_exists(name));
        }
        let topic = TopicMeta {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs: configs.to_strings(),
        };
        if validate_only {
            return Ok(topic);
        }
        // The topic is saved before its logs are created, so a crash in between leaves missing
        // logs, which `Broker::open` creates.
        match self.topics.create(topic.clone()) {
            Ok(true) => {}
            Ok(false) => return Err(already_exists(name)),
            Err(e) => return Err(storage_failure(e)),
        }
        self.create_logs(&topic, &configs, 0)
            .map_err(storage_failure)?;
        tracing::info!(topic = name, partitions, id = %topic.id, "created topic");
        Ok(topic)
    }

    /// Creates the logs of partitions `from..` of `topic`.
    fn create_logs(
        &self,
        topic: &TopicMeta,
        configs: &TopicConfig,
        from: i32,
    ) -> Result<(), BrokerError> {
        let config = self.log_config_of(&topic.name, configs);
        for partition in from..topic.partitions {
            self.logs
                .get_or_create(&TopicPartition::new(&topic.name, partition), config.clone())?;
        }
        Ok(())
    }

    /// Deletes a topic and its logs.
    pub fn delete_topic(&self, name: &str) -> Result<TopicMeta, KafkaError> {
        // Removed from `topics.json` before its logs are deleted: a crash in between leaves
        // logs of no topic, which `Broker::open` deletes.
        let topic = match self.topics.delete(name) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err(KafkaError::with_message(
                    ResponseError::UnknownTopicOrPartition,
                    "This server does not host this topic-partition.",
                ))
            }
            Err(e) => return Err(storage_failure(e)),
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
    ) -> Result<TopicMeta, KafkaError> {
        let Some(topic) = self.topics.get(name) else {
            return Err(does_not_exist(name));
        };
        if count <= topic.partitions {
            let message = format!(
                "Topic currently has {} partitions, which is higher than the requested {count}.",
                topic.partitions
            );
            return Err(KafkaError::with_message(
                ResponseError::InvalidPartitions,
                message,
            ));
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
            .map_err(storage_failure)?
            .ok_or_else(|| does_not_exist(name))?;
        let configs = TopicConfig::from_stored(name, &updated.configs);
        self.create_logs(&updated, &configs, topic.partitions)
            .map_err(storage_failure)?;
        Ok(updated)
    }

    /// Replaces a topic's config overrides, parsed by `TopicConfig::parse`, and applies them
    /// to its logs.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: &TopicConfig,
    ) -> Result<TopicMeta, KafkaError> {
        let updated = self
            .topics
            .update(name, |t| t.configs = configs.to_strings())
            .map_err(storage_failure)?
            .ok_or_else(|| does_not_exist(name))?;
        let config = self.log_config_of(name, configs);
        for partition in 0..updated.partitions {
            if let Some(log) = self.partition_log(name, partition) {
                log.set_config(config.clone());
            }
        }
        Ok(updated)
    }
}
