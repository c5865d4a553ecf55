//! DescribeLogDirs: the one data dir, its file system's total and usable bytes, and each
//! partition asked for (all when the list is null) with its size, offset lag 0 (every log is
//! the current one; no log is moving between dirs) and `is_future_key` false. Kafka's
//! counterpart is `KafkaApis.handleDescribeLogDirsRequest` with `ReplicaManager.describeLogDirs`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use gregor_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use gregor_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};
use gregor_protocol::StrBytes;
use gregor_storage::TopicPartition;

use crate::apis::topic_name;
use crate::broker::Broker;

/// Handles DescribeLogDirs.
pub fn handle(broker: &Arc<Broker>, request: &DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let wanted: Option<HashSet<TopicPartition>> = request.topics.as_ref().map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(t.topic.as_str(), p))
            })
            .collect()
    });
    let dir = broker.replica_manager.describe_log_dir(wanted.as_ref());
    let log_dir = StrBytes::from_string(dir.path.display().to_string());
    let result = match dir.space {
        Ok(space) => {
            let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
            for (tp, size) in dir.partitions {
                by_topic.entry(tp.topic.clone()).or_default().push(
                    DescribeLogDirsPartition::default()
                        .with_partition_index(tp.partition)
                        .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                        .with_offset_lag(0)
                        .with_is_future_key(false),
                );
            }
            let topics = by_topic
                .into_iter()
                .map(|(name, partitions)| {
                    DescribeLogDirsTopic::default()
                        .with_name(topic_name(&name))
                        .with_partitions(partitions)
                })
                .collect();
            DescribeLogDirsResult::default()
                .with_log_dir(log_dir)
                .with_topics(topics)
                // Java reports sizes past i64::MAX as Long.MAX_VALUE (Kafka's
                // adjustForLargeFileSystems).
                .with_total_bytes(i64::try_from(space.total_bytes).unwrap_or(i64::MAX))
                .with_usable_bytes(i64::try_from(space.usable_bytes).unwrap_or(i64::MAX))
        }
        Err(e) => {
            tracing::warn!(cause = %e, "could not read the data dir's file system sizes");
            DescribeLogDirsResult::default()
                .with_log_dir(log_dir)
                .with_error_code(e.code())
        }
    };
    DescribeLogDirsResponse::default().with_results(vec![result])
}
