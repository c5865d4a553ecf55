//! One module per API family.

pub mod acls;
pub mod authorize;
pub mod broker_configs;
pub mod cluster;
pub mod configs;
pub mod delete_records;
pub mod describe_topic_partitions;
pub mod fetch;
pub mod group_configs;
pub mod groups;
pub mod list_offsets;
pub mod log_dirs;
pub mod logger_configs;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod producer_id;
pub mod producers;
pub mod quorum;
pub mod quotas;
pub mod reassignments;
pub mod sasl;
pub mod scram_credentials;
pub mod topics;
pub mod transactions;

use gregor_protocol::messages::TopicName;
use gregor_protocol::StrBytes;

/// A topic name for a response.
pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// An optional string for a response.
pub(crate) fn some_str(s: impl Into<String>) -> Option<StrBytes> {
    Some(StrBytes::from_string(s.into()))
}
