//! DeleteGroups and OffsetDelete whose tombstones cannot be written (a full disk: a small
//! tmpfs, so root only; skipped with the reason printed elsewhere) fail with a retriable error
//! and change nothing: the group and its offsets are still there, and the same request succeeds
//! once space is freed. Before, the group vanished from memory although nothing was written, and
//! came back at the next restart.

use std::collections::BTreeMap;

use gregor_itests::clients::create_topic;
use gregor_itests::raw::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_itests::raw::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use gregor_itests::raw::messages::offset_fetch_request::OffsetFetchRequestGroup;
use gregor_itests::raw::messages::{
    ApiKey, DeleteGroupsRequest, DeleteGroupsResponse, GroupId, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::tmpfs::Tmpfs;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

const PARTITIONS: i32 = 20;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// An admin commit (generation -1, no member) of `offset` with `metadata` to every partition
/// in `partitions`; the error codes of the answer.
fn commit(
    client: &mut RawClient,
    group: &str,
    partitions: std::ops::Range<i32>,
    offset: i64,
    metadata: &str,
) -> anyhow::Result<Vec<i16>> {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(
                partitions
                    .map(|p| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(offset)
                            .with_committed_metadata(Some(s(metadata)))
                    })
                    .collect(),
            )]);
    let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 8, &request)?;
    Ok(response.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect())
}

/// Committed offsets of `group` (all of them), by partition.
fn committed(client: &mut RawClient, group: &str) -> anyhow::Result<BTreeMap<i32, i64>> {
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(group)))
            .with_topics(None)]);
    let response: OffsetFetchResponse = client.call(ApiKey::OffsetFetch, 8, &request)?;
    Ok(response.groups[0]
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.committed_offset >= 0)
        .map(|p| (p.partition_index, p.committed_offset))
        .collect())
}

fn listed(client: &mut RawClient) -> anyhow::Result<Vec<String>> {
    let response: ListGroupsResponse =
        client.call(ApiKey::ListGroups, 4, &ListGroupsRequest::default())?;
    Ok(response
        .groups
        .iter()
        .map(|g| g.group_id.to_string())
        .collect())
}

fn delete_group(client: &mut RawClient, group: &str) -> anyhow::Result<i16> {
    let response: DeleteGroupsResponse = client.call(
        ApiKey::DeleteGroups,
        2,
        &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(group))]),
    )?;
    Ok(response.results[0].error_code)
}

/// (top-level error, partition errors) of an OffsetDelete of partitions 0..5 of `group`.
fn delete_offsets(client: &mut RawClient, group: &str) -> anyhow::Result<(i16, Vec<i16>)> {
    let request = OffsetDeleteRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(vec![OffsetDeleteRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(
                (0..5)
                    .map(|p| OffsetDeleteRequestPartition::default().with_partition_index(p))
                    .collect(),
            )]);
    let response: OffsetDeleteResponse = client.call(ApiKey::OffsetDelete, 0, &request)?;
    let partitions = response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect();
    Ok((response.error_code, partitions))
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_that_cannot_be_written_change_nothing() -> anyhow::Result<()> {
    let Some(disk) = Tmpfs::mount("24m")? else {
        return Ok(());
    };
    let broker = TestBroker::start_in(&disk.path().join("data"), &[])?;
    let b = broker.bootstrap();
    create_topic(&b, "t", PARTITIONS).await?;
    let mut client = RawClient::connect(&b)?;
    for group in ["victim", "trimmed"] {
        let codes = commit(&mut client, group, 0..PARTITIONS, 7, "")?;
        anyhow::ensure!(codes.iter().all(|c| *c == 0), "{group}: {codes:?}");
    }

    // Fill the disk, then the room the offsets log still has reserved, with ever smaller
    // commits until even a small one fails: now no batch of tombstones fits.
    let filler = disk.fill("filler")?;
    let mut failed = 0;
    for metadata_len in [2_000, 500, 100, 20, 0] {
        let metadata = "m".repeat(metadata_len);
        for _ in 0..1_000 {
            let codes = commit(&mut client, "filler", 0..1, 1, &metadata)?;
            if codes == [COORDINATOR_NOT_AVAILABLE] {
                failed += 1;
                break;
            }
            anyhow::ensure!(codes == [0], "filler commit answered {codes:?}");
        }
    }
    anyhow::ensure!(failed == 5, "the offsets log never ran out of room");

    let code = delete_group(&mut client, "victim")?;
    anyhow::ensure!(
        code == COORDINATOR_NOT_AVAILABLE,
        "DeleteGroups whose tombstones were not written answered {code}"
    );
    let offsets = committed(&mut client, "victim")?;
    anyhow::ensure!(
        offsets.len() == PARTITIONS as usize && offsets.values().all(|o| *o == 7),
        "the group's offsets after a failed delete: {offsets:?}"
    );
    anyhow::ensure!(
        listed(&mut client)?.contains(&"victim".to_string()),
        "the group is no longer listed after a failed delete"
    );
    let (top, partitions) = delete_offsets(&mut client, "trimmed")?;
    anyhow::ensure!(
        top == COORDINATOR_NOT_AVAILABLE,
        "OffsetDelete whose tombstones were not written answered {top} {partitions:?}"
    );
    anyhow::ensure!(
        committed(&mut client, "trimmed")?.len() == PARTITIONS as usize,
        "offsets went missing after a failed OffsetDelete"
    );

    // Space again: the same requests now succeed and take effect.
    std::fs::remove_file(&filler)?;
    anyhow::ensure!(delete_group(&mut client, "victim")? == 0);
    anyhow::ensure!(committed(&mut client, "victim")?.is_empty());
    anyhow::ensure!(!listed(&mut client)?.contains(&"victim".to_string()));
    let (top, partitions) = delete_offsets(&mut client, "trimmed")?;
    anyhow::ensure!(top == 0 && partitions.iter().all(|c| *c == 0));
    anyhow::ensure!(committed(&mut client, "trimmed")?.len() == PARTITIONS as usize - 5);
    Ok(())
}
