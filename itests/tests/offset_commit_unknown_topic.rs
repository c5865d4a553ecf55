//! OffsetCommit for a topic or a partition that does not exist is refused per partition with
//! UNKNOWN_TOPIC_OR_PARTITION and stores nothing, while the partitions that exist in the same
//! request are committed (Kafka checks the topics before it hands a commit to the coordinator).
//! `GREGOR_VS_KAFKA=1` runs the same requests against Apache Kafka.

use std::collections::BTreeMap;

use gregor_itests::clients::create_topic;
use gregor_itests::raw::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_itests::raw::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use gregor_itests::raw::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::{each_broker, wait_for_group_coordinator};
use gregor_protocol::StrBytes;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn topic(name: &str, partitions: &[i32], offset: i64) -> OffsetCommitRequestTopic {
    OffsetCommitRequestTopic::default()
        .with_name(TopicName(s(name)))
        .with_partitions(
            partitions
                .iter()
                .map(|p| {
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(*p)
                        .with_committed_offset(offset)
                })
                .collect(),
        )
}

/// Error code per (topic, partition) of a commit response.
fn codes(response: &OffsetCommitResponse) -> BTreeMap<(String, i32), i16> {
    response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.name.to_string(), p.partition_index), p.error_code))
        })
        .collect()
}

/// Committed offset per (topic, partition) that OffsetFetch reports for `group`.
fn committed(
    client: &mut RawClient,
    group: &str,
    wanted: &[(&str, i32)],
) -> anyhow::Result<BTreeMap<(String, i32), i64>> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in wanted {
        topics.entry(t).or_default().push(*p);
    }
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(Some(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        OffsetFetchRequestTopics::default()
                            .with_name(TopicName(s(t)))
                            .with_partition_indexes(ps)
                    })
                    .collect(),
            ))]);
    let response: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 8, &request)?;
    Ok(response.groups[0]
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| ((t.name.to_string(), p.partition_index), p.committed_offset))
        })
        .collect())
}

#[test]
fn commits_to_missing_topics_and_partitions_are_refused() -> anyhow::Result<()> {
    each_broker(&[("auto.create.topics.enable", "false")], |broker| {
        let b = &broker.bootstrap;
        tokio::runtime::Runtime::new()?.block_on(create_topic(b, "known", 2))?;
        wait_for_group_coordinator(b, "committers")?;
        let mut client = RawClient::connect(b)?;
        // An admin commit (generation -1, no member), as alterConsumerGroupOffsets sends it.
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("committers")))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![
                topic("known", &[0, 5], 7),
                topic("no-such-topic", &[0], 7),
            ]);
        let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 9, &request)?;
        let expected: BTreeMap<(String, i32), i16> = [
            (("known".to_string(), 0), 0),
            (("known".to_string(), 5), UNKNOWN_TOPIC_OR_PARTITION),
            (("no-such-topic".to_string(), 0), UNKNOWN_TOPIC_OR_PARTITION),
        ]
        .into_iter()
        .collect();
        anyhow::ensure!(codes(&response) == expected, "answered {response:?}");

        // Only the refused-free partition was stored.
        let got = committed(
            &mut client,
            "committers",
            &[("known", 0), ("known", 5), ("no-such-topic", 0)],
        )?;
        anyhow::ensure!(got.get(&("known".to_string(), 0)) == Some(&7), "{got:?}");
        for missing in [("known", 5), ("no-such-topic", 0)] {
            let offset = got.get(&(missing.0.to_string(), missing.1)).copied();
            anyhow::ensure!(
                offset.is_none_or(|o| o == -1),
                "{missing:?} was stored: {got:?}"
            );
        }

        // A commit naming only missing partitions never reaches the group.
        let only_missing = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("committers")))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![topic("no-such-topic", &[0, 1], 3)]);
        let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 9, &only_missing)?;
        anyhow::ensure!(
            codes(&response)
                .values()
                .all(|c| *c == UNKNOWN_TOPIC_OR_PARTITION)
                && codes(&response).len() == 2,
            "answered {response:?}"
        );
        Ok(())
    })
}
