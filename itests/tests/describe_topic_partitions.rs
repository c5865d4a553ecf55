//! DescribeTopicPartitions as Kafka 4.4 answers it (issue 18), which `kafka-topics --describe`
//! and the Admin client's `describeTopics` by name ask first: topics sorted by name, each
//! partition led by the one node at epoch 0 with empty ELR lists; named topics that do not
//! exist answered UNKNOWN_TOPIC_OR_PARTITION or INVALID_TOPIC_EXCEPTION; at most
//! `response_partition_limit` partitions per answer, with `next_cursor` where the next starts;
//! a cursor naming a topic not asked for, or a negative partition, INVALID_REQUEST.

use gregor_itests::raw::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
use gregor_itests::raw::messages::describe_topic_partitions_response::DescribeTopicPartitionsResponseTopic;
use gregor_itests::raw::messages::{
    ApiKey, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUEST: i16 = 42;
/// Every topic operation, as Kafka answers without an authorizer.
const TOPIC_OPERATIONS: i32 = 3576;

fn describe(
    client: &mut RawClient,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> anyhow::Result<DescribeTopicPartitionsResponse> {
    let name = |n: &str| StrBytes::from_string(n.to_string()).into();
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(name(t)))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(name(t))
                .with_partition_index(p)
        }));
    client.call(ApiKey::DescribeTopicPartitions, 0, &request)
}

/// Each topic as (name, error, partition indexes).
fn shape(response: &DescribeTopicPartitionsResponse) -> Vec<(String, i16, Vec<i32>)> {
    response
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect()
}

fn cursor(response: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
    response
        .next_cursor
        .as_ref()
        .map(|c| (c.topic_name.to_string(), c.partition_index))
}

fn entry(name: &str, error: i16, partitions: &[i32]) -> (String, i16, Vec<i32>) {
    (name.to_string(), error, partitions.to_vec())
}

fn check_partitions(topic: &DescribeTopicPartitionsResponseTopic, node: i32) {
    assert!(!topic.topic_id.is_nil());
    assert!(!topic.is_internal);
    assert_eq!(topic.topic_authorized_operations, TOPIC_OPERATIONS);
    for p in &topic.partitions {
        assert_eq!(p.error_code, NONE);
        assert_eq!(p.leader_id.0, node);
        assert_eq!(p.leader_epoch, 0);
        assert_eq!(
            p.replica_nodes.iter().map(|b| b.0).collect::<Vec<_>>(),
            [node]
        );
        assert_eq!(p.isr_nodes.iter().map(|b| b.0).collect::<Vec<_>>(), [node]);
        assert_eq!(p.eligible_leader_replicas.as_deref(), Some(&[][..]));
        assert_eq!(p.last_known_elr.as_deref(), Some(&[][..]));
        assert!(p.offline_replicas.is_empty());
    }
}

#[test]
fn topics_and_partitions_are_paged_as_kafka_pages_them() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        assert_eq!(client.create_topic("dtp-a", 3, &[])?.0, NONE);
        assert_eq!(client.create_topic("dtp-b", 1, &[])?.0, NONE);
        client.wait_for_topic("dtp-a")?;
        client.wait_for_topic("dtp-b")?;
        let node = 1;

        let all = describe(
            &mut client,
            &["dtp-b", "dtp-missing", "dtp-a", "bad name!"],
            2000,
            None,
        )?;
        assert_eq!(
            shape(&all),
            vec![
                entry("bad name!", INVALID_TOPIC_EXCEPTION, &[]),
                entry("dtp-a", NONE, &[0, 1, 2]),
                entry("dtp-b", NONE, &[0]),
                entry("dtp-missing", UNKNOWN_TOPIC_OR_PARTITION, &[]),
            ]
        );
        assert_eq!(cursor(&all), None);
        check_partitions(&all.topics[1], node);
        check_partitions(&all.topics[2], node);
        let missing = &all.topics[3];
        assert!(missing.topic_id.is_nil());
        assert_eq!(missing.topic_authorized_operations, TOPIC_OPERATIONS);

        // Two partitions per answer: a's first two, then a's last with b's only.
        let first = describe(&mut client, &["dtp-a", "dtp-b"], 2, None)?;
        assert_eq!(shape(&first), vec![entry("dtp-a", NONE, &[0, 1])]);
        assert_eq!(cursor(&first), Some(("dtp-a".into(), 2)));
        let second = describe(&mut client, &["dtp-a", "dtp-b"], 2, Some(("dtp-a", 2)))?;
        assert_eq!(
            shape(&second),
            vec![entry("dtp-a", NONE, &[2]), entry("dtp-b", NONE, &[0])]
        );
        assert_eq!(cursor(&second), None);
        // The limit used up exactly before a topic: the cursor points at that topic.
        let exact = describe(&mut client, &["dtp-a", "dtp-b"], 3, None)?;
        assert_eq!(shape(&exact), vec![entry("dtp-a", NONE, &[0, 1, 2])]);
        assert_eq!(cursor(&exact), Some(("dtp-b".into(), 0)));
        // A limit below 1 is 1.
        let tiny = describe(&mut client, &["dtp-b"], 0, None)?;
        assert_eq!(shape(&tiny), vec![entry("dtp-b", NONE, &[0])]);

        // All topics: no names asked for. Kafka's may hold internal topics too.
        let every = describe(&mut client, &[], 2000, Some(("dtp-a", 1)))?;
        let ours: Vec<_> = shape(&every)
            .into_iter()
            .filter(|(n, _, _)| n.starts_with("dtp-"))
            .collect();
        assert_eq!(
            ours,
            vec![entry("dtp-a", NONE, &[1, 2]), entry("dtp-b", NONE, &[0])]
        );

        for bad in [("dtp-c", 0), ("dtp-a", -1)] {
            let refused = describe(&mut client, &["dtp-a", "dtp-b"], 10, Some(bad))?;
            assert_eq!(
                shape(&refused),
                vec![
                    entry("dtp-a", INVALID_REQUEST, &[]),
                    entry("dtp-b", INVALID_REQUEST, &[])
                ],
                "cursor {bad:?}"
            );
            assert_eq!(cursor(&refused), None);
        }
        Ok(())
    })
}
