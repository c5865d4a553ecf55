//! DescribeGroups with `include_authorized_operations` answers every operation Kafka supports
//! on a group (READ, DELETE, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS), as Kafka 4.4 does
//! without an authorizer; without the flag
//! the field keeps its "not asked" value. `GREGOR_VS_KAFKA=1` runs it against Apache Kafka too.

use gregor_itests::clients::create_topic;
use gregor_itests::raw::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_itests::raw::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, OffsetCommitRequest,
    OffsetCommitResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::{each_broker, wait_for_group_coordinator};
use gregor_protocol::StrBytes;

/// READ (3), DELETE (6), DESCRIBE (8), DESCRIBE_CONFIGS (10) and ALTER_CONFIGS (11) as bits.
const ALL_GROUP_OPERATIONS: i32 = 1 << 3 | 1 << 6 | 1 << 8 | 1 << 10 | 1 << 11;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

#[test]
fn describe_groups_lists_every_group_operation() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let b = &broker.bootstrap;
        tokio::runtime::Runtime::new()?.block_on(create_topic(b, "described", 1))?;
        wait_for_group_coordinator(b, "described-group")?;
        let mut client = RawClient::connect(b)?;
        // An admin commit makes an empty group to describe.
        let commit = OffsetCommitRequest::default()
            .with_group_id(GroupId(s("described-group")))
            .with_generation_id_or_member_epoch(-1)
            .with_member_id(s(""))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("described")))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)])]);
        let committed: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, 8, &commit)?;
        anyhow::ensure!(
            committed.topics[0].partitions[0].error_code == 0,
            "{committed:?}"
        );

        for version in [3, 5] {
            let asked: DescribeGroupsResponse = client.call(
                ApiKey::DescribeGroups,
                version,
                &DescribeGroupsRequest::default()
                    .with_groups(vec![GroupId(s("described-group"))])
                    .with_include_authorized_operations(true),
            )?;
            let group = &asked.groups[0];
            anyhow::ensure!(
                group.error_code == 0 && group.authorized_operations == ALL_GROUP_OPERATIONS,
                "v{version} asked: {group:?}"
            );
        }
        let not_asked: DescribeGroupsResponse = client.call(
            ApiKey::DescribeGroups,
            5,
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("described-group"))]),
        )?;
        anyhow::ensure!(
            not_asked.groups[0].authorized_operations == i32::MIN,
            "not asked: {:?}",
            not_asked.groups[0]
        );
        Ok(())
    })
}
