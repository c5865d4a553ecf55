//! An offset commit whose metadata is longer than `offset.metadata.max.bytes` (Kafka's default
//! 4096) gets OFFSET_METADATA_TOO_LARGE and stores nothing; metadata at the limit is kept whole.
//! `GREGOR_VS_KAFKA=1` runs it against Apache Kafka too.

use gregor_itests::clients::create_topic;
use gregor_itests::raw::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_itests::raw::messages::offset_fetch_request::OffsetFetchRequestGroup;
use gregor_itests::raw::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::{each_broker, wait_for_group_coordinator};
use gregor_protocol::StrBytes;

const OFFSET_METADATA_TOO_LARGE: i16 = 12;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn commit(client: &mut RawClient, offset: i64, metadata: &str) -> anyhow::Result<i16> {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("metadata-group")))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("annotated")))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s(metadata)))])]);
    let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 8, &request)?;
    Ok(response.topics[0].partitions[0].error_code)
}

/// The committed (offset, metadata length) of the group's partition 0.
fn committed(client: &mut RawClient) -> anyhow::Result<(i64, usize)> {
    let response: OffsetFetchResponse = client.call(
        ApiKey::OffsetFetch,
        8,
        &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s("metadata-group")))
            .with_topics(None)]),
    )?;
    let partition = response.groups[0]
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map(|p| {
            (
                p.committed_offset,
                p.metadata.as_ref().map_or(0, |m| m.len()),
            )
        });
    Ok(partition.unwrap_or((-1, 0)))
}

#[test]
fn metadata_over_the_limit_is_refused() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let b = &broker.bootstrap;
        tokio::runtime::Runtime::new()?.block_on(create_topic(b, "annotated", 1))?;
        wait_for_group_coordinator(b, "metadata-group")?;
        let mut client = RawClient::connect(b)?;
        anyhow::ensure!(commit(&mut client, 10, &"m".repeat(4096))? == 0);
        let code = commit(&mut client, 20, &"m".repeat(5000))?;
        anyhow::ensure!(
            code == OFFSET_METADATA_TOO_LARGE,
            "5,000 bytes of metadata answered {code}"
        );
        let stored = committed(&mut client)?;
        anyhow::ensure!(
            stored == (10, 4096),
            "after the refused commit the group holds {stored:?}"
        );
        Ok(())
    })
}
