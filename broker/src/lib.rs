//! The Gregor broker: listener, connections, one handler per Kafka API, and topic metadata.

pub mod admin;
pub mod apis;
pub mod broker;
pub mod config;
pub mod connection;
pub mod coordinator;
pub mod data_dir;
pub mod error;
pub mod fuzzing;
pub mod http;
pub mod kafka_apis;
pub mod log_levels;
pub mod partition;
pub mod producer_id_manager;
pub mod replica_manager;
pub mod request_context;
pub mod security;
pub mod socket_server;
pub mod startup;
pub mod topic_config;
pub mod topics;
