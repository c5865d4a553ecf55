//! `__consumer_offsets` is written in Apache Kafka's record schemas: Kafka's own
//! `kafka-console-consumer --formatter org.apache.kafka.tools.consumer.OffsetsMessageFormatter`
//! prints every commit of a group, as it does against Kafka (`GREGOR_VS_KAFKA=1` runs the same
//! steps against Apache Kafka), and `GroupMetadataMessageFormatter` prints a classic group's
//! metadata once it completed a rebalance.

use bytes::Bytes;
use gregor_itests::clients::create_topic;
use gregor_itests::kafka_tools::{run, CONSOLE_CONSUMER};
use gregor_itests::raw::messages::join_group_request::JoinGroupRequestProtocol;
use gregor_itests::raw::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_itests::raw::messages::sync_group_request::SyncGroupRequestAssignment;
use gregor_itests::raw::messages::{
    ApiKey, GroupId, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest,
    OffsetCommitResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::{each_broker, wait_for_group_coordinator};
use gregor_protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// One member joins `group` and, as its leader, syncs an assignment: a Stable group.
fn form_group(client: &mut RawClient, group: &str) -> anyhow::Result<()> {
    let join = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(s(member))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(&[0, 3, 0, 0, 0, 0, 0, 0, 0, 0]))])
    };
    let first: JoinGroupResponse = client.call(ApiKey::JoinGroup, 9, &join(""))?;
    let member = first.member_id.to_string();
    let joined: JoinGroupResponse = client.call(ApiKey::JoinGroup, 9, &join(&member))?;
    anyhow::ensure!(joined.error_code == 0, "{joined:?}");
    let synced: SyncGroupResponse = client.call(
        ApiKey::SyncGroup,
        5,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(s(group)))
            .with_generation_id(joined.generation_id)
            .with_member_id(s(&member))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s("range")))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::from_static(&[0, 3, 0, 0, 0, 0, 0, 0, 0, 0]))]),
    )?;
    anyhow::ensure!(synced.error_code == 0, "{synced:?}");
    Ok(())
}

/// Runs the console consumer over all of `__consumer_offsets` with `formatter`.
fn formatted(bootstrap: &str, formatter: &str) -> anyhow::Result<String> {
    let out = run(
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            "__consumer_offsets",
            "--from-beginning",
            "--timeout-ms",
            "8000",
            "--formatter",
            formatter,
        ],
    )?;
    Ok(out.stdout)
}

#[test]
fn kafkas_offsets_formatter_prints_the_groups_commits() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let b = &broker.bootstrap;
        tokio::runtime::Runtime::new()?.block_on(create_topic(b, "formatted", 2))?;
        wait_for_group_coordinator(b, "fmt-group")?;
        let mut client = RawClient::connect(b)?;
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("fmt-group")))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("formatted")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(42)
                        .with_committed_leader_epoch(3)
                        .with_committed_metadata(Some(s("hello"))),
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(1)
                        .with_committed_offset(7)
                        .with_committed_metadata(Some(s(""))),
                ])]);
        let response: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 8, &commit)?;
        anyhow::ensure!(
            response.topics[0]
                .partitions
                .iter()
                .all(|p| p.error_code == 0),
            "{response:?}"
        );

        let offsets = formatted(b, "org.apache.kafka.tools.consumer.OffsetsMessageFormatter")?;
        println!("{}: {offsets}", broker.kind.name());
        for expected in [
            r#""group":"fmt-group","topic":"formatted","partition":0"#,
            r#""offset":42,"leaderEpoch":3,"metadata":"hello""#,
            r#""group":"fmt-group","topic":"formatted","partition":1"#,
            r#""offset":7,"leaderEpoch":-1,"metadata":"""#,
        ] {
            anyhow::ensure!(
                offsets.contains(expected),
                "the formatter did not print {expected}:\n{offsets}"
            );
        }
        // A group that completed a rebalance: Kafka's group formatter prints its metadata.
        form_group(&mut client, "fmt-members")?;
        let groups = formatted(
            b,
            "org.apache.kafka.tools.consumer.GroupMetadataMessageFormatter",
        )?;
        println!("{}: {groups}", broker.kind.name());
        for expected in [
            r#""key":{"type":2,"data":{"group":"fmt-members"}}"#,
            r#""protocolType":"consumer","generation":1,"protocol":"range""#,
            r#""subscription":"#,
        ] {
            anyhow::ensure!(
                groups.contains(expected),
                "the group formatter did not print {expected}:\n{groups}"
            );
        }
        Ok(())
    })
}
