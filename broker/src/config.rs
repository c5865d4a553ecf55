//! Command-line configuration of the broker.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Gregor: a single-node, Kafka-wire-compatible broker.
#[derive(Debug, Clone, Parser)]
#[command(name = "gregor", version, about)]
pub struct Config {
    /// Address to listen on for Kafka clients (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub listen: SocketAddr,
    /// host:port that clients are told to connect to (defaults to the bound address).
    #[arg(long)]
    pub advertised_listener: Option<String>,
    /// Where topics, logs and group offsets are kept.
    #[arg(long, default_value = "./gregor-data")]
    pub data_dir: PathBuf,
    /// Partitions of a topic created without a count (`num.partitions`).
    #[arg(long, default_value_t = 1)]
    pub num_partitions: i32,
    /// Create topics on first use by a producer or a metadata request (`auto.create.topics.enable`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_create_topics: bool,
    /// This broker's node id.
    #[arg(long, default_value_t = 1)]
    pub node_id: i32,
    /// Largest request accepted, in bytes (`socket.request.max.bytes`).
    #[arg(long, default_value_t = 100 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Most client connections served at once.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Shortest session timeout a consumer may ask for (`group.min.session.timeout.ms`).
    #[arg(long, default_value_t = 6000)]
    pub group_min_session_timeout_ms: i64,
    /// Fsync every append before acknowledging it (`acks=all` then means on disk).
    #[arg(long, default_value_t = false)]
    pub fsync_always: bool,
}

impl Config {
    /// The host and port clients should use, given the address actually bound.
    pub fn advertised(&self, bound: SocketAddr) -> (String, i32) {
        if let Some(listener) = &self.advertised_listener {
            let listener = listener.rsplit("://").next().unwrap_or(listener);
            if let Some((host, port)) = listener.rsplit_once(':') {
                if let Ok(port) = port.parse() {
                    return (host.trim_matches(['[', ']']).to_string(), port);
                }
            }
        }
        let host = if bound.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            bound.ip().to_string()
        };
        (host, i32::from(bound.port()))
    }
}
