//! OffsetForLeaderEpoch as Kafka 4.4 answers a consumer (issue 18), consistent with the leader
//! epoch Metadata, ListOffsets and fetched batches carry (0 on a one-node cluster): epoch 0
//! ends at the log end offset, empty log or not; a later or undefined epoch is unknown (-1/-1);
//! a current leader epoch newer than the broker's is UNKNOWN_LEADER_EPOCH, older
//! FENCED_LEADER_EPOCH; an unknown partition UNKNOWN_TOPIC_OR_PARTITION. Checked at v2 (no
//! replica id), v3 and v4 (flexible).

use gregor_itests::raw::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use gregor_itests::raw::messages::{
    ApiKey, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse,
    OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::StrBytes;
use gregor_storage::batch::build_test_batch;

const NONE: i16 = 0;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

/// Byte offset of `partitionLeaderEpoch` in a v2 batch header.
const PARTITION_LEADER_EPOCH_AT: usize = 12;

/// OffsetForLeaderEpoch of one partition, as a consumer sends it (replica id -1); returns
/// (error, leader epoch, end offset).
fn end_of(
    client: &mut RawClient,
    version: i16,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    leader_epoch: i32,
) -> anyhow::Result<(i16, i32, i64)> {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-1).into())
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(StrBytes::from_string(topic.to_string()).into())
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(partition)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(leader_epoch)])]);
    let response: OffsetForLeaderEpochResponse =
        client.call(ApiKey::OffsetForLeaderEpoch, version, &request)?;
    let p = &response.topics[0].partitions[0];
    Ok((p.error_code, p.leader_epoch, p.end_offset))
}

fn metadata_leader_epoch(client: &mut RawClient, topic: &str) -> anyhow::Result<i32> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(StrBytes::from_string(topic.into()).into()))]));
    let response: MetadataResponse = client.call(ApiKey::Metadata, 12, &request)?;
    Ok(response.topics[0].partitions[0].leader_epoch)
}

/// The `partitionLeaderEpoch` of the first batch a Fetch from offset 0 returns.
fn fetched_batch_leader_epoch(client: &mut RawClient, topic: &str) -> anyhow::Result<i32> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(StrBytes::from_string(topic.to_string()).into())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = client.call(ApiKey::Fetch, 11, &request)?;
    let records = response.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    anyhow::ensure!(records.len() > 16, "no batch fetched");
    Ok(i32::from_be_bytes(
        records[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4].try_into()?,
    ))
}

#[test]
fn the_one_leader_epoch_ends_at_the_log_end() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        assert_eq!(client.create_topic("epochs", 2, &[])?.0, NONE);
        client.wait_for_topic("epochs")?;
        for version in 2..=4 {
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, -1, 0)?,
                (NONE, 0, 0),
                "v{version} on an empty log"
            );
        }
        // The producer sends -1 as its batch's leader epoch; the leader stamps its own.
        let mut batch = build_test_batch(5, 10, now_ms());
        batch[PARTITION_LEADER_EPOCH_AT..PARTITION_LEADER_EPOCH_AT + 4]
            .copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(client.produce("epochs", -1, batch)?.0, NONE);
        let epoch = metadata_leader_epoch(&mut client, "epochs")?;
        assert_eq!(epoch, 0);
        assert_eq!(fetched_batch_leader_epoch(&mut client, "epochs")?, epoch);
        for version in 2..=4 {
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, epoch, epoch)?,
                (NONE, 0, 5),
                "v{version}"
            );
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, -1, 0)?,
                (NONE, 0, 5)
            );
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, -1, 1)?,
                (NONE, -1, -1)
            );
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, -1, -1)?,
                (NONE, -1, -1)
            );
            // Older than any epoch the log knows: it ends where the first known one starts.
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, -1, -7)?,
                (NONE, -7, 0)
            );
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, 1, 0)?,
                (UNKNOWN_LEADER_EPOCH, -1, -1)
            );
            assert_eq!(
                end_of(&mut client, version, "epochs", 0, -3, 0)?,
                (FENCED_LEADER_EPOCH, -1, -1)
            );
            assert_eq!(
                end_of(&mut client, version, "epochs", 2, -1, 0)?,
                (UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
            );
            assert_eq!(
                end_of(&mut client, version, "no-such-topic", 0, -1, 0)?,
                (UNKNOWN_TOPIC_OR_PARTITION, -1, -1)
            );
        }
        Ok(())
    })
}

/// Now, for record timestamps: a batch from 1970 would be old enough for retention to delete.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
