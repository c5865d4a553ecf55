//! The broker's configuration under Apache Kafka's broker key names, resolved from built-in
//! defaults, a `server.properties` file, `KAFKA_*` and `GREGOR_*` environment variables and
//! command-line flags, each overriding the one before. Kafka counterpart: `KafkaConfig`.

mod cli;
pub mod dynamic;
pub mod kafka_keys;
pub mod keys;
mod listeners;
pub mod properties;
pub mod security;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use gregor_storage::{CleanerConfig, CleanupPolicy, FsyncPolicy, LogConfig, TimestampType};

pub use cli::Cli;
pub use listeners::{Listener, SecurityProtocol};
pub use security::{ClientAuth, ListenerSecurity, SaslSettings, Secret, SslSettings};

/// Where a setting came from, for error messages and `--print-config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File {
        path: PathBuf,
        line: usize,
    },
    Env(String),
    Flag(String),
    /// Set at runtime through IncrementalAlterConfigs or AlterConfigs (`kafka-configs
    /// --alter`), for this broker or (`default`) as the cluster-wide default.
    Dynamic {
        default: bool,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => write!(f, "built-in default"),
            Origin::File { path, line } => write!(f, "{}:{line}", path.display()),
            Origin::Env(name) => write!(f, "environment variable {name}"),
            Origin::Flag(flag) => write!(f, "command-line flag {flag}"),
            Origin::Dynamic { default: false } => write!(f, "dynamic broker config"),
            Origin::Dynamic { default: true } => write!(f, "dynamic default broker config"),
        }
    }
}

/// Why the configuration cannot be used; each message names the key and its source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {cause}")]
    Unreadable { path: PathBuf, cause: String },
    #[error("config file {path}: {error}")]
    Syntax {
        path: PathBuf,
        error: properties::ParseError,
    },
    #[error("unknown setting `{key}` ({origin}){}", hint(.suggestion))]
    Unknown {
        key: String,
        origin: Origin,
        suggestion: Option<&'static str>,
    },
    #[error("invalid value `{value}` for {key} ({origin}): expected {expected}")]
    Invalid {
        key: String,
        value: String,
        origin: Origin,
        expected: String,
    },
    #[error("malformed {what} ({origin}): expected KEY=VALUE, got `{text}`")]
    NotKeyValue {
        what: &'static str,
        text: String,
        origin: Origin,
    },
}

/// A value as error messages and `--print-config` may show it: secrets hidden.
fn shown(key: &str, value: &str) -> String {
    if security::is_sensitive(key) && !value.is_empty() {
        "[hidden]".to_string()
    } else {
        value.to_string()
    }
}

fn hint(suggestion: &Option<&'static str>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`? (`gregor --help` lists every key)"),
        None => "; `gregor --help` lists every key Gregor reads; remove it if it is an Apache Kafka setting Gregor does not know".into(),
    }
}

/// Output format of the broker's diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (coloured on a terminal).
    Text,
    /// One JSON object a line.
    Json,
}

/// The resolved configuration of the broker.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the first listener binds (`listeners`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// The first listener as configured (name and host), for messages.
    pub listener: Listener,
    /// `host:port` clients of the first listener are told to connect to
    /// (`advertised.listeners`), if set.
    pub advertised_listener: Option<String>,
    /// Every listener served, in the order of `listeners`, with its advertised address.
    pub listeners: Vec<Listener>,
    /// Each listener's TLS and SASL settings, by listener name.
    pub security: BTreeMap<String, ListenerSecurity>,
    /// `log.dirs` (its first entry): topics, logs and group offsets.
    pub data_dir: PathBuf,
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
    /// `node.id` (or `broker.id`).
    pub node_id: i32,
    /// `socket.request.max.bytes`.
    pub max_request_bytes: usize,
    /// `max.connections`.
    pub max_connections: usize,
    /// `message.max.bytes`: the batch size limit of topics without `max.message.bytes`.
    pub message_max_bytes: usize,
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i64,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i64,
    /// `group.initial.rebalance.delay.ms`: how long a group formed from Empty waits for more members.
    pub group_initial_rebalance_delay_ms: i64,
    /// `group.max.size`.
    pub group_max_size: usize,
    /// The `group.consumer.*` settings of KIP-848 consumer groups.
    pub consumer_group: crate::coordinator::group::manager::ConsumerGroupConfig,
    /// The transaction coordinator's settings (`transaction.max.timeout.ms`, ...).
    pub txn: crate::coordinator::txn::TxnConfig,
    /// `transaction.state.log.segment.bytes`.
    pub txn_log_segment_bytes: i64,
    /// `add.partitions.to.txn.retry.backoff.max.ms`: how long a Produce's add of its partition
    /// waits for the markers of the producer's previous transaction.
    pub txn_add_partitions_max_wait_ms: u64,
    /// `gregor.transaction.version`: the finalized `transaction.version` feature level.
    pub transaction_version: i16,
    /// `offset.metadata.max.bytes`: the longest metadata an offset commit may carry.
    pub offset_metadata_max_bytes: usize,
    /// `offsets.retention.minutes` (kept; offsets are not expired yet).
    pub offsets_retention_minutes: i64,
    /// Settings of every log without topic overrides (`log.retention.*`, `log.segment.bytes`, ...).
    pub log: LogConfig,
    /// The `log.cleaner.*` settings.
    pub cleaner: CleanerConfig,
    /// `gregor.log.scrub.bytes.per.second` (0: no scrub).
    pub scrub_bytes_per_second: u64,
    /// `gregor.log.bytes.per.sync` (0: writeback left to the kernel).
    pub bytes_per_sync: u64,
    /// `log.flush.offset.checkpoint.interval.ms`.
    pub recovery_point_checkpoint_interval_ms: i64,
    /// `log.flush.start.offset.checkpoint.interval.ms`.
    pub log_start_checkpoint_interval_ms: i64,
    /// `log.format`.
    pub log_format: LogFormat,
    /// `gregor.http.listeners`: where the live view listens; `None` when it is off.
    pub http_listen: Option<SocketAddr>,
    /// `authorizer.class.name` set: the ACL checks' settings (`super.users`,
    /// `allow.everyone.if.no.acl.found`); `None`: everyone may do everything.
    pub authorizer: Option<crate::security::authorizer::AuthorizerConfig>,
    /// The keys set explicitly (file, environment, flags) with their values as set: what
    /// DescribeConfigs reports as STATIC_BROKER_CONFIG, as Kafka reports its server.properties.
    pub static_settings: BTreeMap<String, String>,
    /// Kafka keys Gregor accepts without acting on them, as set statically: DescribeConfigs
    /// reports them as STATIC_BROKER_CONFIG too.
    pub ignored_settings: BTreeMap<String, String>,
    /// Dynamic overrides of this broker (DYNAMIC_BROKER_CONFIG), Kafka keys Gregor ignores
    /// included; the values above already reflect the ones Gregor acts on.
    pub dynamic_broker: BTreeMap<String, String>,
    /// Dynamic cluster-wide defaults (DYNAMIC_DEFAULT_BROKER_CONFIG), below `dynamic_broker`.
    pub dynamic_default: BTreeMap<String, String>,
    /// The static settings with their layers, so `with_dynamic` resolves the same sources again.
    layered: BTreeMap<String, Setting>,
}

/// A configuration with what was noticed while reading it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// One line per ignored key or questionable value, to log once logging is set up.
    pub warnings: Vec<String>,
    /// Every setting in force, with its source, for `--print-config` and the banner.
    pub settings: BTreeMap<String, (String, Origin)>,
}

/// A value and where it was set; later sources replace earlier ones.
#[derive(Debug, Clone)]
struct Setting {
    value: String,
    origin: Origin,
    /// 0 defaults, 1 file, 2 KAFKA_*, 3 GREGOR_*, 4 flags: decides between `log.retention.ms`
    /// and `log.retention.hours` set in different sources (the later source wins; within one
    /// source the finer unit wins, as in Kafka).
    layer: u8,
}

/// `GREGOR_*` variables that are not settings: the config file and test tooling.
const RESERVED_ENV: &[&str] = &["GREGOR_CONFIG", "GREGOR_BIN"];
const RESERVED_ENV_PREFIXES: &[&str] = &["GREGOR_TEST_", "GREGOR_SKIP_"];
/// `KAFKA_*` variables of Kafka's own scripts and images that are not broker keys.
const KAFKA_ENV_NOT_KEYS: &[&str] = &[
    "KAFKA_HOME",
    "KAFKA_VERSION",
    "KAFKA_DEBUG",
    "KAFKA_CLUSTER_ID",
];

#[derive(Default)]
struct Builder {
    settings: BTreeMap<String, Setting>,
    ignored: BTreeMap<String, (Origin, &'static str, String)>,
    warnings: Vec<String>,
}

impl Builder {
    fn add(
        &mut self,
        key: &str,
        value: &str,
        origin: Origin,
        layer: u8,
    ) -> Result<(), ConfigError> {
        let key = key.trim();
        // What the value is checked as: its key, or for `listener.name.<l>.<key>` (used by
        // `security::resolve`) the key after the prefix, when Gregor has a type for it.
        let checked_as = if security::is_listener_key(key, |base| keys::find(base).is_some()) {
            let base = key.rsplit_once("sasl.jaas.config").map_or_else(
                || key.splitn(4, '.').nth(3).unwrap_or(key).to_string(),
                |_| "sasl.jaas.config".to_string(),
            );
            Some(keys::find(&base))
        } else {
            keys::find(key).map(Some)
        };
        if let Some(def) = checked_as {
            if let Some(def) = def {
                keys::check(def.kind, value).map_err(|expected| ConfigError::Invalid {
                    key: key.to_string(),
                    value: shown(key, value),
                    origin: origin.clone(),
                    expected,
                })?;
            }
            self.settings.insert(
                key.to_string(),
                Setting {
                    value: value.trim().to_string(),
                    origin,
                    layer,
                },
            );
            Ok(())
        } else if let Some(why) = keys::ignored(key) {
            self.ignored
                .insert(key.to_string(), (origin, why, value.trim().to_string()));
            Ok(())
        } else if layer == 2 {
            // KAFKA_* is Kafka's namespace (its scripts read KAFKA_OPTS, KAFKA_HEAP_OPTS, ...):
            // a variable Gregor does not know there is someone else's, not a typo of ours.
            self.warnings.push(format!(
                "ignoring {origin}: `{key}` is not a Kafka setting Gregor knows"
            ));
            Ok(())
        } else {
            Err(ConfigError::Unknown {
                key: key.to_string(),
                origin,
                suggestion: keys::suggest(key),
            })
        }
    }

    fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.get(key)
    }

    fn int(&self, key: &str) -> Option<i64> {
        self.get(key).and_then(|s| s.value.parse().ok())
    }

    fn double_or_default(&self, key: &str) -> f64 {
        self.get(key)
            .map(|s| s.value.as_str())
            .or_else(|| keys::find(key).map(|k| k.default))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    }

    fn int_or_default(&self, key: &str) -> i64 {
        self.int(key)
            .or_else(|| keys::find(key).and_then(|k| k.default.parse().ok()))
            .unwrap_or_default()
    }

    /// Of several keys for one setting (`ms`, `minutes`, `hours`), the one from the latest
    /// source, the finest unit within a source; `units` lists (key, ms per unit), finest first.
    fn pick_time(&self, units: &[(&str, i64)]) -> Option<i64> {
        units
            .iter()
            .enumerate()
            .filter_map(|(fineness, (key, per))| {
                let s = self.get(key)?;
                let n: i64 = s.value.parse().ok()?;
                Some(((s.layer, usize::MAX - fineness), n.saturating_mul(*per)))
            })
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, ms)| ms)
    }
}

impl Config {
    /// Reads the configuration from `cli` (its `--config` file included) and `env`.
    pub fn load(
        cli: &Cli,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Loaded, ConfigError> {
        let mut b = Builder::default();
        if let Some(path) = &cli.config {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
                path: path.clone(),
                cause: e.to_string(),
            })?;
            let entries = properties::parse(&text).map_err(|error| ConfigError::Syntax {
                path: path.clone(),
                error,
            })?;
            for e in entries {
                let origin = Origin::File {
                    path: path.clone(),
                    line: e.line,
                };
                b.add(&e.key, &e.value, origin, 1)?;
            }
        }
        let mut env: Vec<(String, String)> = env.into_iter().collect();
        env.sort();
        for (layer, prefix) in [(2, "KAFKA_"), (3, "GREGOR_")] {
            for (name, value) in &env {
                let Some(rest) = name.strip_prefix(prefix) else {
                    continue;
                };
                let reserved = RESERVED_ENV.contains(&name.as_str())
                    || RESERVED_ENV_PREFIXES.iter().any(|p| name.starts_with(p))
                    || KAFKA_ENV_NOT_KEYS.contains(&name.as_str())
                    || (prefix == "KAFKA_" && name.ends_with("_OPTS"))
                    || rest.is_empty();
                if reserved {
                    continue;
                }
                b.add(
                    &keys::key_of_env(rest),
                    value,
                    Origin::Env(name.clone()),
                    layer,
                )?;
            }
        }
        for (flag, key, value) in cli.settings() {
            b.add(key, &value, Origin::Flag(flag), 4)?;
        }
        for set in &cli.set {
            let origin = Origin::Flag(format!("--set {set}"));
            let Some((key, value)) = set.split_once('=') else {
                return Err(ConfigError::NotKeyValue {
                    what: "--set",
                    text: set.clone(),
                    origin,
                });
            };
            b.add(key, value, origin, 4)?;
        }
        Config::resolve(b)
    }

    fn resolve(mut b: Builder) -> Result<Loaded, ConfigError> {
        let invalid = |b: &Builder, key: &str, expected: String| {
            let s = b.get(key).cloned().unwrap_or(Setting {
                value: String::new(),
                origin: Origin::Default,
                layer: 0,
            });
            ConfigError::Invalid {
                key: key.to_string(),
                value: shown(key, &s.value),
                origin: s.origin,
                expected,
            }
        };

        // Listeners: each one to bind, with its protocol and what it advertises.
        let text_or_default = |b: &Builder, key: &str| {
            b.get(key).map_or_else(
                || keys::find(key).map_or("", |k| k.default).to_string(),
                |s| s.value.clone(),
            )
        };
        let protocol_map = text_or_default(&b, "listener.security.protocol.map");
        let controllers = b
            .get("controller.listener.names")
            .map(|s| s.value.clone())
            .unwrap_or_default();
        let listeners_value = text_or_default(&b, "listeners");
        let picked =
            listeners::pick(&listeners_value, &protocol_map, &controllers).map_err(|e| {
                let key = if e.contains("listener.security.protocol.map entries")
                    || e.contains("security protocol of")
                {
                    "listener.security.protocol.map"
                } else {
                    "listeners"
                };
                invalid(&b, key, e)
            })?;
        b.warnings.extend(picked.warnings);
        let mut all_listeners = picked.listeners;
        if let Some(s) = b
            .get("advertised.listeners")
            .filter(|s| !s.value.is_empty())
        {
            let warnings = listeners::set_advertised(&mut all_listeners, &s.value, &controllers)
                .map_err(|e| invalid(&b, "advertised.listeners", e))?;
            b.warnings.extend(warnings);
        }
        let mut security = BTreeMap::new();
        for l in &all_listeners {
            l.socket_addr().map_err(|e| invalid(&b, "listeners", e))?;
            let get = |key: &str| b.get(key).map(|s| s.value.clone());
            let resolved = security::resolve(l, &get)
                .map_err(|(key, expected)| invalid(&b, &key, expected))?;
            security.insert(l.name.clone(), resolved);
        }
        let listener = all_listeners[0].clone();
        let listen = listener
            .socket_addr()
            .map_err(|e| invalid(&b, "listeners", e))?;
        let advertised_listener = listener.advertised.clone();

        let data_dir = match b.get("log.dirs").or_else(|| b.get("log.dir")) {
            Some(s) => {
                let mut dirs = s.value.split(',').map(str::trim).filter(|d| !d.is_empty());
                let first = dirs
                    .next()
                    .ok_or_else(|| invalid(&b, "log.dirs", "a directory".into()))?
                    .to_string();
                let rest: Vec<&str> = dirs.collect();
                if !rest.is_empty() {
                    b.warnings.push(format!(
                        "log.dirs ({}) lists {} directories; Gregor keeps everything in the first, {first}, and ignores {}",
                        s.origin,
                        rest.len() + 1,
                        rest.join(", ")
                    ));
                }
                PathBuf::from(first)
            }
            None => PathBuf::from("./gregor-data"),
        };

        let node_id = match (b.int("node.id"), b.int("broker.id")) {
            (Some(id), _) => id,
            (None, Some(id)) if id >= 0 => id,
            _ => 1,
        };

        let mut log = LogConfig::default();
        if let Some(ms) = b.pick_time(&[
            ("log.retention.ms", 1),
            ("log.retention.minutes", 60_000),
            ("log.retention.hours", 3_600_000),
        ]) {
            // Kafka reads any negative retention time as "keep forever".
            log.retention_ms = if ms < 0 { -1 } else { ms };
        }
        if let Some(ms) = b.pick_time(&[("log.roll.ms", 1), ("log.roll.hours", 3_600_000)]) {
            log.segment_ms = ms;
        }
        log.retention_bytes = b.int_or_default("log.retention.bytes").max(-1);
        log.segment_bytes = b.int_or_default("log.segment.bytes") as u64;
        log.index_interval_bytes = b.int_or_default("log.index.interval.bytes") as u32;
        log.segment_index_bytes = b.int_or_default("log.index.size.max.bytes") as u32;
        log.flush_ms = b.int_or_default("log.flush.interval.ms");
        log.message_timestamp_before_max_ms =
            b.int_or_default("log.message.timestamp.before.max.ms");
        log.message_timestamp_after_max_ms = b.int_or_default("log.message.timestamp.after.max.ms");
        if let Some(kind) = b
            .get("log.message.timestamp.type")
            .and_then(|s| TimestampType::from_name(&s.value))
        {
            log.message_timestamp_type = kind;
        }
        if let Some(policy) = b.get("log.cleanup.policy") {
            log.cleanup = CleanupPolicy::from_items(policy.value.split(','));
        }
        log.delete_retention_ms = b.int_or_default("log.cleaner.delete.retention.ms");
        log.min_compaction_lag_ms = b.int_or_default("log.cleaner.min.compaction.lag.ms");
        log.max_compaction_lag_ms = b.int_or_default("log.cleaner.max.compaction.lag.ms");
        log.min_cleanable_dirty_ratio = b.double_or_default("log.cleaner.min.cleanable.ratio");
        let cleaner = CleanerConfig {
            enable: b
                .get("log.cleaner.enable")
                .and_then(|s| keys::parse_bool(&s.value))
                .unwrap_or(true),
            threads: b.int_or_default("log.cleaner.threads") as usize,
            backoff_ms: b.int_or_default("log.cleaner.backoff.ms") as u64,
            max_io_bytes_per_second: b.double_or_default("log.cleaner.io.max.bytes.per.second"),
            dedupe_buffer_size: b.int_or_default("log.cleaner.dedupe.buffer.size") as u64,
        };
        match b.int("log.flush.interval.messages") {
            // A flush after every record is what fsync-always means; the group commit gives it
            // without an fsync per batch when producers append concurrently.
            Some(1) => log.fsync = FsyncPolicy::Always,
            Some(n) => log.flush_messages = n as u64,
            None => {}
        }

        let min_session = b.int_or_default("group.min.session.timeout.ms");
        let max_session = b.int_or_default("group.max.session.timeout.ms");
        if min_session > max_session {
            return Err(invalid(
                &b,
                "group.min.session.timeout.ms",
                format!("at most group.max.session.timeout.ms ({max_session})"),
            ));
        }
        let consumer_group =
            consumer_group_config(&b).map_err(|(key, expected)| invalid(&b, key, expected))?;
        let http_value = b.get("gregor.http.listeners").map_or_else(
            || {
                keys::find("gregor.http.listeners")
                    .map_or("", |k| k.default)
                    .to_string()
            },
            |s| s.value.clone(),
        );
        let http_listen = parse_http_listener(&http_value)
            .map_err(|e| invalid(&b, "gregor.http.listeners", e))?;
        let authorizer = match b.get("authorizer.class.name").map(|s| s.value.trim()) {
            None | Some("") => None,
            Some(crate::security::authorizer::STANDARD_AUTHORIZER) => {
                Some(crate::security::authorizer::AuthorizerConfig {
                    super_users: crate::security::authorizer::AuthorizerConfig::parse_super_users(
                        &text_or_default(&b, "super.users"),
                    ),
                    allow_if_no_acl: b
                        .get("allow.everyone.if.no.acl.found")
                        .and_then(|s| keys::parse_bool(&s.value))
                        .unwrap_or(false),
                })
            }
            Some(_) => {
                return Err(invalid(
                    &b,
                    "authorizer.class.name",
                    format!(
                        "{} (Kafka's StandardAuthorizer, which Gregor implements) or nothing",
                        crate::security::authorizer::STANDARD_AUTHORIZER
                    ),
                ))
            }
        };
        let log_format = match b.get("log.format").map(|s| s.value.as_str()) {
            Some("json") => LogFormat::Json,
            _ => LogFormat::Text,
        };

        let config = Config {
            listen,
            listener,
            advertised_listener,
            listeners: all_listeners,
            security,
            data_dir,
            num_partitions: b.int_or_default("num.partitions") as i32,
            auto_create_topics: b
                .get("auto.create.topics.enable")
                .and_then(|s| keys::parse_bool(&s.value))
                .unwrap_or(true),
            node_id: node_id as i32,
            max_request_bytes: b.int_or_default("socket.request.max.bytes") as usize,
            max_connections: b.int_or_default("max.connections") as usize,
            message_max_bytes: b.int_or_default("message.max.bytes") as usize,
            group_min_session_timeout_ms: min_session,
            group_max_session_timeout_ms: max_session,
            group_initial_rebalance_delay_ms: b.int_or_default("group.initial.rebalance.delay.ms"),
            group_max_size: b.int_or_default("group.max.size") as usize,
            consumer_group,
            txn: crate::coordinator::txn::TxnConfig {
                max_timeout_ms: b.int_or_default("transaction.max.timeout.ms") as i32,
                id_expiration_ms: b.int_or_default("transactional.id.expiration.ms"),
                abort_interval_ms: b
                    .int_or_default("transaction.abort.timed.out.transaction.cleanup.interval.ms"),
                expire_interval_ms: b
                    .int_or_default("transaction.remove.expired.transaction.cleanup.interval.ms"),
                offsets_partitions: 1,
            },
            txn_log_segment_bytes: b.int_or_default("transaction.state.log.segment.bytes"),
            txn_add_partitions_max_wait_ms: b
                .int_or_default("add.partitions.to.txn.retry.backoff.max.ms")
                .max(0) as u64,
            transaction_version: b.int_or_default("gregor.transaction.version") as i16,
            offset_metadata_max_bytes: b.int_or_default("offset.metadata.max.bytes") as usize,
            offsets_retention_minutes: b.int_or_default("offsets.retention.minutes"),
            log,
            cleaner,
            scrub_bytes_per_second: b.int_or_default("gregor.log.scrub.bytes.per.second") as u64,
            bytes_per_sync: b.int_or_default("gregor.log.bytes.per.sync") as u64,
            recovery_point_checkpoint_interval_ms: b
                .int_or_default("log.flush.offset.checkpoint.interval.ms"),
            log_start_checkpoint_interval_ms: b
                .int_or_default("log.flush.start.offset.checkpoint.interval.ms"),
            log_format,
            http_listen,
            authorizer,
            static_settings: b
                .settings
                .iter()
                .filter(|(_, s)| !matches!(s.origin, Origin::Dynamic { .. }))
                .map(|(k, s)| (k.clone(), s.value.clone()))
                .collect(),
            ignored_settings: b
                .ignored
                .iter()
                .map(|(k, (_, _, v))| (k.clone(), v.clone()))
                .collect(),
            dynamic_broker: BTreeMap::new(),
            dynamic_default: BTreeMap::new(),
            layered: b
                .settings
                .iter()
                .filter(|(_, s)| !matches!(s.origin, Origin::Dynamic { .. }))
                .map(|(k, s)| (k.clone(), s.clone()))
                .collect(),
        };

        let mut warnings = std::mem::take(&mut b.warnings);
        for (key, (origin, why, _)) in &b.ignored {
            warnings.push(format!("ignoring {key} ({origin}): {why}"));
        }
        let mut settings: BTreeMap<String, (String, Origin)> = keys::KEYS
            .iter()
            .filter(|k| !k.default.is_empty())
            .map(|k| (k.name.to_string(), (k.default.to_string(), Origin::Default)))
            .collect();
        for (key, s) in b.settings {
            settings.insert(key, (s.value, s.origin));
        }
        Ok(Loaded {
            config,
            warnings,
            settings,
        })
    }

    /// This configuration with dynamic overrides on top (Kafka's `DynamicBrokerConfig`): the
    /// cluster-wide `default`s above every static source, this broker's `node` ones above those.
    /// Keys Gregor does not act on are kept for DescribeConfigs only. Fails as start-up would
    /// fail on the same values, naming the key.
    pub fn with_dynamic(
        &self,
        default: &BTreeMap<String, String>,
        node: &BTreeMap<String, String>,
    ) -> Result<Config, ConfigError> {
        let mut b = Builder {
            settings: self.layered.clone(),
            ..Builder::default()
        };
        for (scope, layer, is_default) in [(default, 5, true), (node, 6, false)] {
            for (key, value) in scope {
                if keys::find(key).is_some() {
                    b.add(
                        key,
                        value,
                        Origin::Dynamic {
                            default: is_default,
                        },
                        layer,
                    )?;
                }
            }
        }
        let mut config = Config::resolve(b)?.config;
        config.static_settings = self.static_settings.clone();
        config.ignored_settings = self.ignored_settings.clone();
        config.layered = self.layered.clone();
        config.dynamic_default = default.clone();
        config.dynamic_broker = node.clone();
        Ok(config)
    }

    /// The host and port clients of the first listener should use, given the address it
    /// bound (see `Listener::advertised`).
    pub fn advertised(&self, bound: SocketAddr) -> (String, i32) {
        self.listener.advertised(bound)
    }
}

/// `gregor.http.listeners`: `http://HOST:PORT` (the scheme may be left out), or empty for none.
fn parse_http_listener(value: &str) -> Result<Option<SocketAddr>, String> {
    use std::net::ToSocketAddrs;
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let address = value.strip_prefix("http://").unwrap_or(value);
    let expected = || "http://HOST:PORT, or empty for no live view".to_string();
    if address.contains("://") {
        return Err(expected());
    }
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .map(Some)
        .ok_or_else(expected)
}

/// The settings in force as a properties file, each after a comment naming its source.
pub fn render_settings(settings: &BTreeMap<String, (String, Origin)>) -> String {
    let mut out = String::new();
    for (key, (value, origin)) in settings {
        // Secrets are shown as Kafka's tools show passwords; the file keeps them.
        let value = shown(key, value);
        out.push_str(&format!("# {origin}\n{key}={value}\n"));
    }
    out
}

#[cfg(test)]
mod tests;

/// The `group.consumer.*` settings, checked as Kafka checks them at start: each value within its
/// bounds, the heartbeat interval below the session timeout, only known assignors. An error is
/// the key and what it should be.
fn consumer_group_config(
    b: &Builder,
) -> Result<crate::coordinator::group::manager::ConsumerGroupConfig, (&'static str, String)> {
    use crate::coordinator::group::assignors::Assignor;
    use crate::coordinator::group::migration::MigrationPolicy;
    let int = |key| b.int_or_default(key);
    let session = int("group.consumer.session.timeout.ms");
    let (min_session, max_session) = (
        int("group.consumer.min.session.timeout.ms"),
        int("group.consumer.max.session.timeout.ms"),
    );
    if session < min_session || session > max_session {
        return Err((
            "group.consumer.session.timeout.ms",
            format!("between group.consumer.min.session.timeout.ms ({min_session}) and group.consumer.max.session.timeout.ms ({max_session})"),
        ));
    }
    let heartbeat = int("group.consumer.heartbeat.interval.ms");
    let (min_hb, max_hb) = (
        int("group.consumer.min.heartbeat.interval.ms"),
        int("group.consumer.max.heartbeat.interval.ms"),
    );
    if heartbeat < min_hb || heartbeat > max_hb {
        return Err((
            "group.consumer.heartbeat.interval.ms",
            format!("between group.consumer.min.heartbeat.interval.ms ({min_hb}) and group.consumer.max.heartbeat.interval.ms ({max_hb})"),
        ));
    }
    if heartbeat >= session {
        return Err((
            "group.consumer.heartbeat.interval.ms",
            format!("less than group.consumer.session.timeout.ms ({session})"),
        ));
    }
    let names = b
        .get("group.consumer.assignors")
        .map(|s| s.value.clone())
        .or_else(|| keys::find("group.consumer.assignors").map(|k| k.default.to_string()))
        .unwrap_or_default();
    let mut assignors = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match Assignor::from_name(name) {
            Some(a) if !assignors.contains(&a) => assignors.push(a),
            Some(_) => {}
            None => {
                return Err((
                    "group.consumer.assignors",
                    format!("a list of uniform and range (not {name})"),
                ))
            }
        }
    }
    if assignors.is_empty() {
        return Err((
            "group.consumer.assignors",
            "at least one of uniform and range".into(),
        ));
    }
    Ok(crate::coordinator::group::manager::ConsumerGroupConfig {
        session_timeout_ms: session as i32,
        heartbeat_interval_ms: heartbeat as i32,
        max_size: int("group.consumer.max.size") as usize,
        assignors,
        migration_policy: b
            .get("group.consumer.migration.policy")
            .and_then(|s| MigrationPolicy::from_name(&s.value))
            .unwrap_or(MigrationPolicy::Bidirectional),
        regex_needs_describe: b
            .get("authorizer.class.name")
            .is_some_and(|s| !s.value.trim().is_empty()),
    })
}
