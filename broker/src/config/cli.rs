//! The command line: flags for the common settings, `--set KEY=VALUE` for every other one, and
//! the actions that do not start a broker (`--print-config`, `--healthcheck`).

use std::path::PathBuf;

use clap::{ArgAction, CommandFactory, FromArgMatches, Parser};

use super::keys;

const AFTER_HELP: &str = "\
Settings come from, each overriding the one before: built-in defaults, the --config file \
(Kafka's server.properties format and key names), KAFKA_* environment variables (as the \
apache/kafka image reads them), GREGOR_* environment variables, then flags. \
`gregor --help` lists every key; `gregor --print-config` shows the value in force and its source.";

const AFTER_LONG_HELP_HEAD: &str = "\
Configuration sources, each overriding the one before:
  1. built-in defaults
  2. --config FILE (or GREGOR_CONFIG=FILE): a Kafka server.properties file
  3. KAFKA_* environment variables, named as for the apache/kafka image:
     KAFKA_ADVERTISED_LISTENERS sets advertised.listeners (`.` is `_`, `_` is `__`, `-` is `___`)
  4. GREGOR_* environment variables, named the same way: GREGOR_NUM_PARTITIONS=3
  5. command-line flags, --set KEY=VALUE included
An unknown key or a malformed value stops the start with an error naming the key and where it was
set (an unknown KAFKA_* variable only warns: that namespace belongs to Kafka's own tools). Kafka
keys that do not apply to a single node (replication, KRaft quorum, ZooKeeper, security, thread
pools) are accepted with one warning each. RUST_LOG sets the log level (default info;
RUST_LOG=gregor=debug logs every request with its API, client id, latency and the error
codes it answered).

";

/// Gregor: a single-node broker that speaks Apache Kafka's wire protocol.
#[derive(Debug, Clone, Default, Parser)]
#[command(name = "gregor", version, about, long_version = LONG_VERSION, after_help = AFTER_HELP)]
pub struct Cli {
    /// A server.properties file with Kafka's key names.
    #[arg(long, short = 'c', value_name = "FILE", env = "GREGOR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to accept clients on (`listeners`); port 0 picks a free one [default: 127.0.0.1:9092].
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// host:port clients are told to connect to (`advertised.listeners`) [default: the bound address].
    #[arg(long, value_name = "HOST:PORT")]
    pub advertised_listener: Option<String>,
    /// Where topics, logs and group offsets are kept (`log.dirs`) [default: ./gregor-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<String>,
    /// Partitions of a topic created without a count (`num.partitions`) [default: 1].
    #[arg(long, value_name = "N")]
    pub num_partitions: Option<String>,
    /// Create topics on first use (`auto.create.topics.enable`) [default: true].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub auto_create_topics: Option<String>,
    /// This broker's node id (`node.id`) [default: 1].
    #[arg(long, value_name = "ID")]
    pub node_id: Option<String>,
    /// Largest request accepted, in bytes (`socket.request.max.bytes`) [default: 104857600].
    #[arg(long, value_name = "BYTES")]
    pub max_request_bytes: Option<String>,
    /// Most client connections served at once (`max.connections`) [default: 10000].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<String>,
    /// Shortest session timeout a consumer may ask for (`group.min.session.timeout.ms`) [default: 6000].
    #[arg(long, value_name = "MS")]
    pub group_min_session_timeout_ms: Option<String>,
    /// Fsync every append before acknowledging it (`log.flush.interval.messages=1`).
    #[arg(long, action = ArgAction::SetTrue)]
    pub fsync_always: bool,
    /// Format of the diagnostics on stderr (`log.format`) [default: text].
    /// Where the live view and /metrics listen (`gregor.http.listeners`) [default: 127.0.0.1:8092].
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "no_http")]
    pub http_listen: Option<String>,
    /// Do not serve the live view and /metrics (`gregor.http.listeners` empty).
    #[arg(long, action = ArgAction::SetTrue)]
    pub no_http: bool,
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Sets any key, as in the config file; repeatable (`--override` as in kafka-server-start).
    #[arg(long = "set", visible_alias = "override", value_name = "KEY=VALUE", action = ArgAction::Append)]
    pub set: Vec<String>,
    /// Print every setting in force with where it came from (as a properties file), then exit.
    #[arg(long)]
    pub print_config: bool,
    /// Ask the broker configured here for its API versions; exit 0 if it answers (for container
    /// health checks).
    #[arg(long)]
    pub healthcheck: bool,
}

/// `--version` with what the version means for clients and data dirs.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nKafka wire protocol: the APIs of Apache Kafka 4.1 that a single node serves (ApiVersions lists them)",
    "\ndata dir format: 2 (reads 1, upgrading it at start)"
);

impl Cli {
    /// Parses the process arguments, exiting with clap's message on a bad flag.
    pub fn from_args() -> Cli {
        let long_help = format!("{AFTER_LONG_HELP_HEAD}{}", keys::help_text());
        let matches = Cli::command().after_long_help(long_help).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }

    /// The flags as (flag, key, value), in the order they override one another.
    pub fn settings(&self) -> Vec<(String, &'static str, String)> {
        let mut out = Vec::new();
        let mut put = |flag: &str, key: &'static str, value: &Option<String>| {
            if let Some(v) = value {
                out.push((format!("--{flag}"), key, v.clone()));
            }
        };
        put("listen", "listeners", &self.listen);
        put(
            "advertised-listener",
            "advertised.listeners",
            &self.advertised_listener,
        );
        put("data-dir", "log.dirs", &self.data_dir);
        put("num-partitions", "num.partitions", &self.num_partitions);
        put(
            "auto-create-topics",
            "auto.create.topics.enable",
            &self.auto_create_topics,
        );
        put("node-id", "node.id", &self.node_id);
        put(
            "max-request-bytes",
            "socket.request.max.bytes",
            &self.max_request_bytes,
        );
        put("max-connections", "max.connections", &self.max_connections);
        put(
            "group-min-session-timeout-ms",
            "group.min.session.timeout.ms",
            &self.group_min_session_timeout_ms,
        );
        put("log-format", "log.format", &self.log_format);
        put("http-listen", "gregor.http.listeners", &self.http_listen);
        if self.no_http {
            out.push(("--no-http".into(), "gregor.http.listeners", String::new()));
        }
        if self.fsync_always {
            out.push((
                "--fsync-always".into(),
                "log.flush.interval.messages",
                "1".into(),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_version_names_the_data_dir_format() {
        let expected = format!(
            "data dir format: {} (reads {}, upgrading it at start)",
            crate::data_dir::FORMAT_VERSION,
            crate::data_dir::OLDEST_READABLE_FORMAT
        );
        assert!(super::LONG_VERSION.ends_with(&expected));
    }
}
