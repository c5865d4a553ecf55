//! `__consumer_offsets` is written in Apache Kafka's record schemas: Kafka's own
//! `kafka-console-consumer --formatter org.apache.kafka.tools.consumer.OffsetsMessageFormatter`
//! prints every commit of a group, as it does against Kafka (`GREGOR_VS_KAFKA=1` runs the same
//! steps against Apache Kafka), and `GroupMetadataMessageFormatter` reads the log too.

use gregor_itests::clients::create_topic;
use gregor_itests::kafka_tools::{run, CONSOLE_CONSUMER};
use gregor_itests::raw::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_itests::raw::messages::{
    ApiKey, GroupId, OffsetCommitRequest, OffsetCommitResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::{each_broker, wait_for_group_coordinator};
use gregor_protocol::StrBytes;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
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
        // The group formatter reads the same log without failing on its records.
        formatted(
            b,
            "org.apache.kafka.tools.consumer.GroupMetadataMessageFormatter",
        )?;
        Ok(())
    })
}
