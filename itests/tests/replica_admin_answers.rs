//! The replica and log admin APIs as a one-node Kafka 4.4 answers them (issue 18):
//! ElectLeaders ELECTION_NOT_NEEDED for each partition named (none listed when all are asked
//! for), no partition reassignment ever in progress, the assignment in place accepted and any
//! other refused, DescribeQuorum with this node as leader and only voter, DescribeLogDirs with
//! the data dir and each partition's exact size, DescribeProducers with an idempotent
//! producer's epoch and last sequence.

use gregor_itests::raw::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use gregor_itests::raw::messages::describe_log_dirs_request::DescribableLogDirTopic;
use gregor_itests::raw::messages::describe_producers_request::TopicRequest;
use gregor_itests::raw::messages::describe_quorum_request::{PartitionData, TopicData};
use gregor_itests::raw::messages::elect_leaders_request::TopicPartitions;
use gregor_itests::raw::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use gregor_itests::raw::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, ApiKey,
    DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeProducersRequest,
    DescribeProducersResponse, DescribeQuorumRequest, DescribeQuorumResponse, ElectLeadersRequest,
    ElectLeadersResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;
use gregor_storage::batch::{build_test_batch, parse_header, set_test_producer};

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;
const ELECTION_NOT_NEEDED: i16 = 84;
const NODE: i32 = 1;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn text(v: &Option<StrBytes>) -> Option<String> {
    v.as_ref().map(|m| m.to_string())
}

/// ElectLeaders at `version` for `partitions` of `topic` (all partitions when `None`); returns
/// the top-level error and each (topic, partition, error, message).
#[allow(clippy::type_complexity)]
fn elect(
    client: &mut RawClient,
    version: i16,
    election_type: i8,
    wanted: Option<Vec<(&str, Vec<i32>)>>,
) -> anyhow::Result<(i16, Vec<(String, Vec<(i32, i16, Option<String>)>)>)> {
    let request = ElectLeadersRequest::default()
        .with_election_type(election_type)
        .with_timeout_ms(10_000)
        .with_topic_partitions(wanted.map(|w| {
            w.into_iter()
                .map(|(t, p)| {
                    TopicPartitions::default()
                        .with_topic(s(t).into())
                        .with_partitions(p)
                })
                .collect()
        }));
    let r: ElectLeadersResponse = client.call(ApiKey::ElectLeaders, version, &request)?;
    let mut topics: Vec<_> = r
        .replica_election_results
        .iter()
        .map(|t| {
            (
                t.topic.to_string(),
                t.partition_result
                    .iter()
                    .map(|p| (p.partition_id, p.error_code, text(&p.error_message)))
                    .collect(),
            )
        })
        .collect();
    topics.sort();
    Ok((r.error_code, topics))
}

/// AlterPartitionReassignments v`version` of one partition; returns (error, message).
fn reassign(
    client: &mut RawClient,
    version: i16,
    topic: &str,
    partition: i32,
    replicas: Option<Vec<i32>>,
) -> anyhow::Result<(i16, Option<String>)> {
    let request = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(10_000)
        .with_allow_replication_factor_change(version == 0)
        .with_topics(vec![ReassignableTopic::default()
            .with_name(s(topic).into())
            .with_partitions(vec![ReassignablePartition::default()
                .with_partition_index(partition)
                .with_replicas(
                    replicas.map(|r| r.into_iter().map(Into::into).collect()),
                )])]);
    let r: AlterPartitionReassignmentsResponse =
        client.call(ApiKey::AlterPartitionReassignments, version, &request)?;
    assert_eq!((r.error_code, text(&r.error_message)), (NONE, None));
    if version >= 1 {
        assert_eq!(r.allow_replication_factor_change, version == 0);
    }
    let p = &r.responses[0].partitions[0];
    Ok((p.error_code, text(&p.error_message)))
}

fn elections(client: &mut RawClient) -> anyhow::Result<()> {
    let not_needed = |p: i32| {
        (
            p,
            ELECTION_NOT_NEEDED,
            Some("Leader election not needed for topic partition.".to_string()),
        )
    };
    for (version, election_type) in [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1)] {
        let (top, topics) = elect(
            client,
            version,
            election_type,
            Some(vec![
                ("replicas", vec![0, 1, 5]),
                ("no-such-topic", vec![0]),
            ]),
        )?;
        assert_eq!(top, NONE);
        assert_eq!(
            topics,
            vec![
                (
                    "no-such-topic".to_string(),
                    vec![(
                        0,
                        UNKNOWN_TOPIC_OR_PARTITION,
                        Some("No such topic as no-such-topic".into())
                    )]
                ),
                (
                    "replicas".to_string(),
                    vec![
                        not_needed(0),
                        not_needed(1),
                        (
                            5,
                            UNKNOWN_TOPIC_OR_PARTITION,
                            Some("No such partition as replicas-5".into())
                        )
                    ]
                ),
            ],
            "v{version} type {election_type}"
        );
    }
    // All partitions: every topic listed, none of its partitions (none needs an election).
    let (top, topics) = elect(client, 2, 0, None)?;
    assert_eq!(top, NONE);
    let ours: Vec<_> = topics.iter().filter(|(t, _)| t == "replicas").collect();
    assert_eq!(ours, vec![&("replicas".to_string(), vec![])]);
    assert!(topics.iter().all(|(_, p)| p.is_empty()));
    Ok(())
}

fn reassignments(client: &mut RawClient) -> anyhow::Result<()> {
    for request in [
        ListPartitionReassignmentsRequest::default().with_topics(None),
        ListPartitionReassignmentsRequest::default().with_topics(Some(vec![
            ListPartitionReassignmentsTopics::default()
                .with_name(s("replicas").into())
                .with_partition_indexes(vec![0, 9]),
        ])),
    ] {
        let listed: ListPartitionReassignmentsResponse =
            client.call(ApiKey::ListPartitionReassignments, 0, &request)?;
        assert_eq!(
            (listed.error_code, text(&listed.error_message)),
            (NONE, None)
        );
        assert!(listed.topics.is_empty());
    }
    for version in [0, 1] {
        assert_eq!(
            reassign(client, version, "replicas", 0, Some(vec![NODE]))?,
            (NONE, None)
        );
        assert_eq!(
            reassign(client, version, "replicas", 0, None)?,
            (NO_REASSIGNMENT_IN_PROGRESS, None)
        );
        let invalid = |m: &str| (INVALID_REPLICA_ASSIGNMENT, Some(m.to_string()));
        assert_eq!(
            reassign(client, version, "replicas", 0, Some(vec![NODE + 1]))?,
            invalid("The manual partition assignment includes broker 2, but no such broker is registered.")
        );
        assert_eq!(
            reassign(client, version, "replicas", 0, Some(vec![NODE, NODE]))?,
            invalid("The manual partition assignment includes the broker 1 more than once.")
        );
        assert_eq!(
            reassign(client, version, "replicas", 0, Some(vec![]))?,
            invalid("The manual partition assignment includes an empty replica list.")
        );
        assert_eq!(
            reassign(client, version, "replicas", 7, Some(vec![NODE]))?,
            (
                UNKNOWN_TOPIC_OR_PARTITION,
                Some("Unable to find partition replicas:7.".into())
            )
        );
        assert_eq!(
            reassign(client, version, "no-such-topic", 0, Some(vec![NODE]))?,
            (
                UNKNOWN_TOPIC_OR_PARTITION,
                Some("Unable to find a topic named no-such-topic.".into())
            )
        );
    }
    Ok(())
}

fn quorum(client: &mut RawClient) -> anyhow::Result<()> {
    let ask = |topic: &str, partitions: Vec<i32>| {
        DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(s(topic).into())
            .with_partitions(
                partitions
                    .into_iter()
                    .map(|p| PartitionData::default().with_partition_index(p))
                    .collect(),
            )])
    };
    for version in 0..=2 {
        let r: DescribeQuorumResponse = client.call(
            ApiKey::DescribeQuorum,
            version,
            &ask("__cluster_metadata", vec![0]),
        )?;
        assert_eq!(r.error_code, NONE);
        let t = &r.topics[0];
        assert_eq!(t.topic_name.as_str(), "__cluster_metadata");
        let p = &t.partitions[0];
        assert_eq!((p.partition_index, p.error_code), (0, NONE));
        assert_eq!((p.leader_id.0, p.leader_epoch), (NODE, 1));
        assert!(p.high_watermark >= 0);
        assert_eq!(p.current_voters.len(), 1);
        assert!(p.observers.is_empty());
        let voter = &p.current_voters[0];
        assert_eq!(voter.replica_id.0, NODE);
        assert!(voter.log_end_offset >= 0);
        if version >= 1 {
            assert!(voter.last_fetch_timestamp > 0);
            assert!(voter.last_caught_up_timestamp > 0);
        }
        if version >= 2 {
            assert!(!voter.replica_directory_id.is_nil());
            assert_eq!(r.nodes.len(), 1);
            assert_eq!(r.nodes[0].node_id.0, NODE);
            assert_eq!(r.nodes[0].listeners.len(), 1);
        }
        for (topic, partitions) in [("__cluster_metadata", vec![1]), ("other", vec![0])] {
            let refused: DescribeQuorumResponse = client.call(
                ApiKey::DescribeQuorum,
                version,
                &ask(topic, partitions.clone()),
            )?;
            let p = &refused.topics[0].partitions[0];
            assert_eq!(refused.topics[0].topic_name.as_str(), topic);
            assert_eq!(
                (p.partition_index, p.error_code),
                (partitions[0], UNKNOWN_TOPIC_OR_PARTITION)
            );
            // Error messages are on the wire from v2.
            if version >= 2 {
                assert_eq!(
                    text(&p.error_message).as_deref(),
                    Some("This server does not host this topic-partition.")
                );
            }
        }
    }
    Ok(())
}

fn log_dirs(client: &mut RawClient, batch_len: i64) -> anyhow::Result<()> {
    for version in 1..=4 {
        let all: DescribeLogDirsResponse = client.call(
            ApiKey::DescribeLogDirs,
            version,
            &DescribeLogDirsRequest::default().with_topics(None),
        )?;
        assert_eq!(all.error_code, NONE);
        assert_eq!(all.results.len(), 1);
        let dir = &all.results[0];
        assert_eq!(dir.error_code, NONE);
        assert!(
            dir.log_dir.starts_with('/') && dir.log_dir.ends_with("/data"),
            "{}",
            dir.log_dir
        );
        if version >= 4 {
            assert!(
                dir.total_bytes > 0 && dir.usable_bytes > 0 && dir.usable_bytes <= dir.total_bytes
            );
        }
        let topic = dir
            .topics
            .iter()
            .find(|t| t.name.as_str() == "replicas")
            .expect("the topic is listed");
        let mut sizes: Vec<(i32, i64, i64, bool)> = topic
            .partitions
            .iter()
            .map(|p| {
                (
                    p.partition_index,
                    p.partition_size,
                    p.offset_lag,
                    p.is_future_key,
                )
            })
            .collect();
        sizes.sort();
        assert_eq!(sizes, vec![(0, batch_len, 0, false), (1, 0, 0, false)]);
        let some: DescribeLogDirsResponse = client.call(
            ApiKey::DescribeLogDirs,
            version,
            &DescribeLogDirsRequest::default().with_topics(Some(vec![
                DescribableLogDirTopic::default()
                    .with_topic(s("replicas").into())
                    .with_partitions(vec![1, 9]),
                DescribableLogDirTopic::default()
                    .with_topic(s("no-such-topic").into())
                    .with_partitions(vec![0]),
            ])),
        )?;
        let dir = &some.results[0];
        assert_eq!(dir.topics.len(), 1);
        assert_eq!(dir.topics[0].name.as_str(), "replicas");
        let listed: Vec<i32> = dir.topics[0]
            .partitions
            .iter()
            .map(|p| p.partition_index)
            .collect();
        assert_eq!(listed, vec![1]);
    }
    Ok(())
}

fn producers(
    client: &mut RawClient,
    producer_id: i64,
    epoch: i16,
    batch: &[u8],
) -> anyhow::Result<()> {
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(s("replicas").into())
            .with_partition_indexes(vec![0, 1, 9]),
        TopicRequest::default()
            .with_name(s("no-such-topic").into())
            .with_partition_indexes(vec![0]),
        TopicRequest::default()
            .with_name(s("bad name!").into())
            .with_partition_indexes(vec![0]),
    ]);
    let r: DescribeProducersResponse = client.call(ApiKey::DescribeProducers, 0, &request)?;
    let replicas = &r.topics[0].partitions;
    assert_eq!(replicas.len(), 3);
    assert_eq!(
        (replicas[0].partition_index, replicas[0].error_code),
        (0, NONE)
    );
    let header = parse_header(batch)?;
    let states: Vec<(i64, i32, i32, i64, i32, i64)> = replicas[0]
        .active_producers
        .iter()
        .map(|p| {
            (
                p.producer_id.0,
                p.producer_epoch,
                p.last_sequence,
                p.last_timestamp,
                p.coordinator_epoch,
                p.current_txn_start_offset,
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![(
            producer_id,
            i32::from(epoch),
            header.last_offset_delta,
            header.max_timestamp,
            -1,
            -1
        )]
    );
    assert_eq!(
        (replicas[1].error_code, replicas[1].active_producers.len()),
        (NONE, 0)
    );
    assert_eq!(
        (
            replicas[2].partition_index,
            replicas[2].error_code,
            text(&replicas[2].error_message)
        ),
        (9, UNKNOWN_TOPIC_OR_PARTITION, None)
    );
    let unknown = &r.topics[1].partitions[0];
    assert_eq!(
        (unknown.error_code, text(&unknown.error_message)),
        (
            UNKNOWN_TOPIC_OR_PARTITION,
            Some("This server does not host this topic-partition.".into())
        )
    );
    let invalid = &r.topics[2].partitions[0];
    assert_eq!(invalid.error_code, INVALID_TOPIC_EXCEPTION);
    assert!(text(&invalid.error_message).is_some_and(|m| m.contains("bad name!")));
    Ok(())
}

#[test]
fn replica_and_log_admin_apis_answer_as_one_kafka_node() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        assert_eq!(client.create_topic("replicas", 2, &[])?.0, NONE);
        client.wait_for_topic("replicas")?;
        // Kafka answers COORDINATOR_LOAD_IN_PROGRESS until its producer id block arrives.
        let mut id = InitProducerIdResponse::default();
        for _ in 0..100 {
            id = client.call(
                ApiKey::InitProducerId,
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(None)
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id((-1).into())
                    .with_producer_epoch(-1),
            )?;
            if id.error_code == NONE {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(id.error_code, NONE);
        let mut batch = build_test_batch(5, 10, now_ms());
        set_test_producer(&mut batch, id.producer_id.0, id.producer_epoch, 0);
        assert_eq!(client.produce("replicas", -1, batch.clone())?.0, NONE);

        elections(&mut client)?;
        reassignments(&mut client)?;
        quorum(&mut client)?;
        log_dirs(&mut client, batch.len() as i64)?;
        producers(&mut client, id.producer_id.0, id.producer_epoch, &batch)?;
        Ok(())
    })
}

/// Now, for record timestamps: a batch from 1970 would be old enough for retention to delete.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
