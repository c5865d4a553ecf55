//! DescribeTopicPartitions (KIP-966), what `kafka-topics --describe` and the Admin client's
//! `describeTopics` by name ask first: the topics asked for (all when none are named), sorted by
//! name, with at most `response_partition_limit` partitions in one answer; where the answer
//! stops, `next_cursor` says where the next request starts. Kafka's counterpart is
//! `DescribeTopicPartitionsRequestHandler` over `KRaftMetadataCache.getTopicMetadataForDescribeTopicResponse`.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use gregor_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use gregor_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};
use gregor_protocol::ResponseError;

use crate::apis::metadata::TOPIC_AUTHORIZED_OPERATIONS;
use crate::apis::topic_name;
use crate::broker::Broker;
use crate::partition::LEADER_EPOCH;
use crate::topics::{is_internal_topic, validate_topic_name, TopicMeta};

/// Kafka's default `max.request.partition.size.limit`: the most partitions one answer holds,
/// whatever the request asks.
const MAX_REQUEST_PARTITION_SIZE_LIMIT: i32 = 2000;

/// Handles DescribeTopicPartitions.
pub fn handle(
    broker: &Arc<Broker>,
    request: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let fetch_all = request.topics.is_empty();
    let cursor = request.cursor.as_ref();
    let names: BTreeSet<String> = if fetch_all {
        broker.topics.all().into_iter().map(|t| t.name).collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.as_str().to_string())
            .collect()
    };
    if let Some(c) = cursor {
        // Kafka answers an InvalidRequestException with INVALID_REQUEST on every named topic.
        if (!fetch_all && !names.contains(c.topic_name.as_str())) || c.partition_index < 0 {
            return invalid_request(request);
        }
    }
    let limit = request
        .response_partition_limit
        .clamp(1, MAX_REQUEST_PARTITION_SIZE_LIMIT);
    let topics: std::collections::HashMap<String, TopicMeta> = names
        .iter()
        .filter_map(|n| Some((n.clone(), broker.topics.get(n)?)))
        .collect();
    let (planned, next) = plan(
        &names,
        |name| topics.get(name).map(|t| t.partitions),
        cursor.map(|c| (c.topic_name.as_str(), c.partition_index)),
        limit,
        fetch_all,
    );
    let node = BrokerId(broker.config.node_id);
    let entries = planned
        .into_iter()
        .map(|p| match p {
            Planned::Topic { name, partitions } => topic_entry(&topics[name], node, partitions),
            Planned::Missing(name) => {
                let error = if validate_topic_name(name).is_ok() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::InvalidTopicException
                };
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(error.code())
                    .with_name(Some(topic_name(name)))
                    .with_is_internal(is_internal_topic(name))
                    .with_topic_authorized_operations(TOPIC_AUTHORIZED_OPERATIONS)
            }
        })
        .collect();
    DescribeTopicPartitionsResponse::default()
        .with_topics(entries)
        .with_next_cursor(next.map(|(name, index)| cursor_at(name, index)))
}

/// One topic of an answer.
#[derive(Debug, PartialEq, Eq)]
enum Planned<'a> {
    /// A topic and the partitions of it this answer holds.
    Topic {
        name: &'a str,
        partitions: Range<i32>,
    },
    /// A topic asked for by name that does not exist.
    Missing(&'a str),
}

/// What one answer holds (Kafka's `getTopicMetadataForDescribeTopicResponse`): the topics of
/// `names` in order from the cursor's topic on, that one from the cursor's partition, at most `limit` partitions in all;
/// and where the next answer starts, if this one stops short. `partitions_of` is a topic's
/// partition count, `None` when it does not exist; missing topics take no room and are
/// answered only when named (`fetch_all` false).
fn plan<'a>(
    names: &'a BTreeSet<String>,
    partitions_of: impl Fn(&str) -> Option<i32>,
    cursor: Option<(&str, i32)>,
    limit: i32,
    fetch_all: bool,
) -> (Vec<Planned<'a>>, Option<(&'a str, i32)>) {
    let mut remaining = i64::from(limit);
    let mut out = Vec::new();
    let from = cursor.map_or("", |(topic, _)| topic);
    for name in names.iter().filter(|n| n.as_str() >= from) {
        if remaining == 0 {
            // The next answer starts with this topic.
            return (out, Some((name, 0)));
        }
        let start = match cursor {
            Some((topic, index)) if topic == name => index,
            _ => 0,
        };
        match partitions_of(name) {
            Some(count) => {
                let upper = i64::from(count).min(i64::from(start) + remaining) as i32;
                out.push(Planned::Topic {
                    name,
                    // A cursor past the last partition gives the topic with none.
                    partitions: start..upper.max(start),
                });
                if upper < count {
                    return (out, Some((name, upper)));
                }
                remaining -= i64::from(upper.max(start) - start);
            }
            None if !fetch_all => out.push(Planned::Missing(name)),
            None => {}
        }
    }
    (out, None)
}

fn cursor_at(topic: &str, partition_index: i32) -> Cursor {
    Cursor::default()
        .with_topic_name(topic_name(topic))
        .with_partition_index(partition_index)
}

fn topic_entry(
    topic: &TopicMeta,
    node: BrokerId,
    partitions: Range<i32>,
) -> DescribeTopicPartitionsResponseTopic {
    let partitions = partitions
        .map(|index| {
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(index)
                .with_leader_id(node)
                .with_leader_epoch(LEADER_EPOCH)
                .with_replica_nodes(vec![node])
                .with_isr_nodes(vec![node])
                // One replica: nothing is eligible but the leader, nothing offline.
                .with_eligible_leader_replicas(Some(vec![]))
                .with_last_known_elr(Some(vec![]))
                .with_offline_replicas(vec![])
        })
        .collect();
    DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(topic_name(&topic.name)))
        .with_topic_id(topic.id)
        .with_is_internal(is_internal_topic(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(TOPIC_AUTHORIZED_OPERATIONS)
}

/// Kafka's `DescribeTopicPartitionsRequest.getErrorResponse` for an invalid cursor.
fn invalid_request(request: &DescribeTopicPartitionsRequest) -> DescribeTopicPartitionsResponse {
    let topics = request
        .topics
        .iter()
        .map(|t| {
            DescribeTopicPartitionsResponseTopic::default()
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_name(Some(t.name.clone()))
        })
        .collect();
    DescribeTopicPartitionsResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// Topics a (3 partitions), b (1), c (2).
    fn count(name: &str) -> Option<i32> {
        match name {
            "a" => Some(3),
            "b" => Some(1),
            "c" => Some(2),
            _ => None,
        }
    }

    fn topic(name: &str, partitions: Range<i32>) -> Planned<'_> {
        Planned::Topic { name, partitions }
    }

    #[test]
    fn an_answer_stops_at_the_limit_and_the_cursor_resumes_there() {
        let all = names(&["a", "b", "c"]);
        let (first, next) = plan(&all, count, None, 2, true);
        assert_eq!(first, vec![topic("a", 0..2)]);
        assert_eq!(next, Some(("a", 2)));
        let (second, next) = plan(&all, count, Some(("a", 2)), 2, true);
        assert_eq!(second, vec![topic("a", 2..3), topic("b", 0..1)]);
        // The limit is used up exactly: the next answer starts at the next topic's first.
        assert_eq!(next, Some(("c", 0)));
        let (third, next) = plan(&all, count, Some(("c", 0)), 2, true);
        assert_eq!(third, vec![topic("c", 0..2)]);
        assert_eq!(next, None);
    }

    #[test]
    fn named_missing_topics_are_answered_and_take_no_room() {
        let wanted = names(&["a", "nope", "zz"]);
        let (planned, next) = plan(&wanted, count, None, 3, false);
        assert_eq!(
            planned,
            vec![topic("a", 0..3)],
            "the limit is used up by a, so nope starts the next answer"
        );
        assert_eq!(next, Some(("nope", 0)));
        let (planned, next) = plan(&wanted, count, None, 10, false);
        assert_eq!(
            planned,
            vec![
                topic("a", 0..3),
                Planned::Missing("nope"),
                Planned::Missing("zz")
            ]
        );
        assert_eq!(next, None);
        let (planned, _) = plan(&wanted, count, None, 10, true);
        assert_eq!(planned, vec![topic("a", 0..3)]);
    }

    #[test]
    fn a_cursor_past_the_last_partition_gives_the_topic_with_none() {
        let all = names(&["b", "c"]);
        let (planned, next) = plan(&all, count, Some(("b", 5)), 10, true);
        assert_eq!(planned, vec![topic("b", 5..5), topic("c", 0..2)]);
        assert_eq!(next, None);
    }
}
