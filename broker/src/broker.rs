//! The broker's shared state: configuration, the logs, topic metadata and the API table, opened
//! once at start-up; one `Arc<Broker>` is shared by every connection task. Kafka counterpart:
//! `BrokerServer`. Topic admin is in `admin`, topic configs in `topic_config`, producer ids in
//! `producer_id_manager`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use gregor_protocol::api_versions::ApiTable;
use gregor_storage::{LogConfig, LogManager, PartitionLog, TopicPartition};

use crate::config::dynamic::{DynamicConfigError, DynamicConfigs};
use crate::config::{Config, ConfigError};
use crate::coordinator::group::topics::{TopicImage, TopicInfo, TopicSource};
use crate::coordinator::records::Legacy;
use crate::coordinator::runtime::{self, CoordinatorHandle};
use crate::coordinator::txn::{TransactionCoordinator, TxnShard};
use crate::coordinator::writer::{AppendBatches, WriteMode};
use crate::coordinator::CoordinatorConfig;
use crate::error::BrokerError;
use crate::producer_id_manager::ProducerIdManager;
use crate::replica_manager::ReplicaManager;
use crate::security::acl_store::AclStore;
use crate::security::scram_store::ScramStore;
use crate::topic_config::TopicConfig;
use crate::topics::{is_internal_topic, load_or_create_meta, TopicMeta, TopicStore};

/// Everything connections share.
pub struct Broker {
    /// The configuration in force since start-up: defaults, file, environment and flags, with
    /// the dynamic configs stored at that time on top.
    pub config: Config,
    /// The dynamic configs as stored in the data dir; holding the lock serializes alters.
    pub dynamic: Mutex<DynamicConfigs>,
    /// `config` with the dynamic configs as they stand now: what DescribeConfigs shows and
    /// what the logs' settings are derived from.
    live: RwLock<Arc<Config>>,
    /// Stable id of this single-node cluster (in `meta.properties`).
    pub cluster_id: String,
    /// Stable id of the data dir (`directory.id` in `meta.properties`).
    pub directory_id: uuid::Uuid,
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
    /// The group coordinator task, started once the logs are open, stopped before they close.
    pub coordinator: CoordinatorHandle,
    /// The ids InitProducerId hands out (shared with the transaction coordinator).
    pub producer_ids: Arc<ProducerIdManager>,
    /// The transaction coordinator task, started with the group coordinator.
    pub txn_coordinator: CoordinatorHandle<TxnShard>,
    /// SCRAM users (AlterUserScramCredentials), read by SASL/SCRAM on every listener.
    pub scram: Arc<ScramStore>,
    /// The ACLs and the authorizer's settings, when `authorizer.class.name` is set.
    pub acls: Option<Arc<AclStore>>,
}

/// The transaction coordinator's internal topic (one partition on this node, as
/// `__consumer_offsets`).
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

/// The group coordinator's internal topic (one partition on this node).
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Kafka's default `offsets.topic.segment.bytes`.
const OFFSETS_TOPIC_SEGMENT_BYTES: u64 = 100 << 20;

impl Broker {
    /// Opens the data dir (locking it), loads topics and their logs. `data_format` is the
    /// dir's format as `data_dir::check` found it; an older one is upgraded here.
    pub fn open(
        config: Config,
        bound: SocketAddr,
        data_format: u32,
    ) -> Result<Arc<Broker>, BrokerError> {
        let dynamic = DynamicConfigs::load(&config.data_dir)
            .map_err(|e| BrokerError::Metadata(e.to_string()))?;
        let config = match config.with_dynamic(&dynamic.broker_default, &dynamic.broker) {
            Ok(with_dynamic) => with_dynamic,
            Err(e) => {
                // A static setting changed under a dynamic one so that they no longer fit:
                // start on the static ones, which are valid, rather than not at all.
                tracing::warn!(cause = %e, "ignoring the dynamic broker configs in {}", crate::config::dynamic::FILE);
                config
            }
        };
        let opening = std::time::Instant::now();
        let logs = Arc::new(LogManager::open(&config.data_dir, config.log.clone())?);
        let logs_ms = opening.elapsed().as_secs_f64() * 1e3;
        let producer_ids = Arc::new(ProducerIdManager::new(now_ms(), logs.max_producer_id()));
        let topics = Arc::new(TopicStore::load(&config.data_dir)?);
        let meta = load_or_create_meta(&config.data_dir, config.node_id)?;
        let scram = Arc::new(
            ScramStore::load(&config.data_dir).map_err(|e| BrokerError::Metadata(e.to_string()))?,
        );
        let acls = match &config.authorizer {
            Some(settings) => Some(Arc::new(
                AclStore::load(&config.data_dir, settings.clone())
                    .map_err(|e| BrokerError::Metadata(e.to_string()))?,
            )),
            None => None,
        };
        let advertised = config.advertised(bound);
        let (coordinator, coordinator_starter) = runtime::channel();
        let (txn_coordinator, txn_starter) = runtime::channel();
        let broker = Broker {
            cluster_id: meta.cluster_id,
            directory_id: meta.directory_id,
            advertised,
            replica_manager: Arc::new(ReplicaManager::new(
                logs.clone(),
                topics.clone(),
                config.message_max_bytes,
            )),
            logs,
            topics,
            apis: ApiTable::new(true)
                .with_feature_level("transaction.version", config.transaction_version),
            coordinator,
            txn_coordinator,
            producer_ids,
            scram,
            acls,
            live: RwLock::new(Arc::new(config.clone())),
            dynamic: Mutex::new(dynamic),
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
        let topics_ms = opening.elapsed().as_secs_f64() * 1e3;
        let txn_log = broker.internal_log(TRANSACTION_STATE_TOPIC)?;
        let broker = Arc::new(broker);
        let config = CoordinatorConfig {
            min_session_timeout_ms: broker.config.group_min_session_timeout_ms,
            max_session_timeout_ms: broker.config.group_max_session_timeout_ms,
            initial_rebalance_delay_ms: broker.config.group_initial_rebalance_delay_ms,
            max_group_size: broker.config.group_max_size,
            offset_metadata_max_bytes: broker.config.offset_metadata_max_bytes,
            consumer: broker.config.consumer_group.clone(),
            topics: {
                // Weak: the coordinator must not keep the broker alive.
                let weak = Arc::downgrade(&broker);
                TopicSource::new(move || {
                    weak.upgrade()
                        .map(|b| {
                            TopicImage::new(b.topics.all().into_iter().map(|t| TopicInfo {
                                id: t.id,
                                name: t.name,
                                partitions: t.partitions,
                            }))
                        })
                        .unwrap_or_default()
                })
            },
        };
        // Format 1 kept offset values in Gregor's own layout.
        let legacy = if data_format < 2 {
            Legacy::Format1
        } else {
            Legacy::None
        };
        let replica_manager = broker.replica_manager.clone();
        let offsets_partition = TopicPartition::new(OFFSETS_TOPIC, 0);
        let append: AppendBatches = Arc::new(move |batches| {
            replica_manager
                .append_coordinator_records_blocking(&offsets_partition, batches)
                .map(|appended| appended.base_offset)
                .map_err(|e| e.to_string())
        });
        coordinator_starter.start(offsets_log, append, config, legacy)?;
        broker.start_txn_coordinator(txn_starter, &txn_log)?;
        broker.logs.start_cleaner(broker.config.cleaner.clone());
        broker.logs.set_checkpoint_intervals(
            broker.config.recovery_point_checkpoint_interval_ms,
            broker.config.log_start_checkpoint_interval_ms,
        );
        broker
            .logs
            .start_scrub(broker.config.scrub_bytes_per_second);
        gregor_storage::writeback::set_bytes_per_sync(broker.config.bytes_per_sync);
        // Where start-up time goes (issue 21): the logs, then topics and their configs,
        // then the coordinators' replays.
        tracing::info!(
            logs_ms,
            topics_ms = topics_ms - logs_ms,
            coordinators_ms = opening.elapsed().as_secs_f64() * 1e3 - topics_ms,
            "opened the broker's state"
        );
        Ok(broker)
    }

    /// Loads the transaction coordinator from `__transaction_state` and starts it, with the
    /// task that writes its markers.
    fn start_txn_coordinator(
        self: &Arc<Broker>,
        starter: runtime::CoordinatorStarter<TxnShard>,
        log: &Arc<PartitionLog>,
    ) -> Result<(), BrokerError> {
        let ids = self.producer_ids.clone();
        let mut coordinator =
            TransactionCoordinator::new(self.config.txn.clone(), Box::new(move || ids.allocate()));
        // One node leads every partition at one leader epoch for good (`LEADER_EPOCH`), so
        // Kafka's coordinator epoch, the partition's leader epoch at the load, is that too.
        let records = crate::coordinator::txn::shard::load(
            log,
            crate::partition::LEADER_EPOCH,
            &mut coordinator,
        )?;
        tracing::info!(
            records,
            transactional_ids = coordinator.txns.len(),
            "replayed __transaction_state"
        );
        let replica_manager = self.replica_manager.clone();
        let partition = TopicPartition::new(TRANSACTION_STATE_TOPIC, 0);
        let append: AppendBatches = Arc::new(move |batches| {
            replica_manager
                .append_coordinator_records_blocking(&partition, batches)
                .map(|appended| appended.base_offset)
                .map_err(|e| e.to_string())
        });
        let completions = Arc::new(crate::coordinator::txn::completions::Completions::default());
        self.replica_manager.set_txn_verifier(Arc::new(
            crate::coordinator::txn::verifier::CoordinatorVerifier {
                txn: self.txn_coordinator.clone(),
                completions: completions.clone(),
                max_wait: std::time::Duration::from_millis(
                    self.config.txn_add_partitions_max_wait_ms,
                ),
            },
        ));
        let effects = crate::coordinator::txn::markers::start(
            Arc::downgrade(self),
            self.txn_coordinator.clone(),
            completions,
        );
        starter
            .start_shard(
                TxnShard::new(coordinator, now_ms),
                append,
                WriteMode::for_log(&log.config()),
                effects,
            )
            .map_err(|e| BrokerError::Io {
                context: "starting the transaction coordinator's writer".into(),
                source: e,
            })
    }

    /// The log of an internal topic other than `__consumer_offsets`, created (one partition,
    /// compacted as every internal topic) on first start.
    fn internal_log(&self, topic: &str) -> Result<Arc<PartitionLog>, BrokerError> {
        if self.topics.get(topic).is_none() {
            let mut configs = BTreeMap::new();
            configs.insert(
                "segment.bytes".to_string(),
                self.config.txn_log_segment_bytes.to_string(),
            );
            self.create_topic(topic, 1, configs, false)
                .map_err(|e| BrokerError::Metadata(e.to_string()))?;
        }
        self.partition_log(topic, 0)
            .ok_or_else(|| BrokerError::Metadata(format!("{topic} has no log")))
    }

    /// The internal log of group offsets, created on first start.
    fn offsets_log(&self) -> Result<Arc<PartitionLog>, BrokerError> {
        if self.topics.get(OFFSETS_TOPIC).is_none() {
            let mut configs = BTreeMap::new();
            // Small segments, so snapshots free space soon.
            configs.insert("segment.bytes".to_string(), (16 << 20).to_string());
            configs.insert("retention.ms".to_string(), "-1".to_string());
            self.create_topic(OFFSETS_TOPIC, 1, configs, false)
                .map_err(|e| BrokerError::Metadata(e.to_string()))?;
        }
        self.partition_log(OFFSETS_TOPIC, 0)
            .ok_or_else(|| BrokerError::Metadata("__consumer_offsets has no log".into()))
    }

    /// The log settings of `topic`: broker defaults with the topic's stored overrides.
    pub fn log_config(&self, topic: &TopicMeta) -> LogConfig {
        self.log_config_of(
            &topic.name,
            &TopicConfig::from_stored(&topic.name, &topic.configs),
        )
    }

    /// The log settings of topic `name` with the parsed overrides `configs`.
    pub fn log_config_of(&self, name: &str, configs: &TopicConfig) -> LogConfig {
        let mut config = configs.log_config(&self.live_config().log);
        if is_internal_topic(name) {
            // Kafka's internal topics are compacted, so retention never deletes from them and
            // Kafka accepts a retention override there without effect; the coordinator's log
            // must keep its snapshots the same way whatever a client sets.
            config.retention_ms = -1;
            config.retention_bytes = -1;
            config.cleanup = gregor_storage::CleanupPolicy::COMPACT;
            // Kafka's `offsets.topic.segment.bytes`: small segments, so the cleaner reaches
            // superseded commits long before a 1 GiB segment would roll.
            config.segment_bytes = config.segment_bytes.min(OFFSETS_TOPIC_SEGMENT_BYTES);
        }
        config
    }

    /// The configuration with the dynamic configs as they stand now.
    pub fn live_config(&self) -> Arc<Config> {
        self.live
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The configuration `dynamic` would give, checked as start-up checks it.
    pub fn config_with(&self, dynamic: &DynamicConfigs) -> Result<Config, ConfigError> {
        let base = self.live_config();
        base.with_dynamic(&dynamic.broker_default, &dynamic.broker)
    }

    /// Stores `dynamic` (the caller holds `self.dynamic`'s lock, given as `stored`) and puts
    /// `config`, made from it by `config_with`, in force: every log without a topic override
    /// takes the new broker defaults at once, as in Kafka; other settings apply from the next
    /// start (DescribeConfigs shows them as set meanwhile).
    pub fn put_dynamic(
        &self,
        stored: &mut DynamicConfigs,
        dynamic: DynamicConfigs,
        config: Config,
    ) -> Result<(), DynamicConfigError> {
        dynamic.save(&self.config.data_dir)?;
        *stored = dynamic;
        *self
            .live
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(config);
        for topic in self.topics.all() {
            let config = self.log_config(&topic);
            for partition in 0..topic.partitions {
                if let Some(log) = self.partition_log(&topic.name, partition) {
                    log.set_config(config.clone());
                }
            }
        }
        Ok(())
    }

    /// The log of a partition, if the topic and partition exist.
    pub fn partition_log(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        self.logs.get(&TopicPartition::new(topic, partition))
    }

    /// A fresh producer id for InitProducerId.
    pub fn allocate_producer_id(&self) -> i64 {
        self.producer_ids.allocate()
    }
}
