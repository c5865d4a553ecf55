//! DeleteRecords as Kafka 4.4 answers it (issue 18), on the wire: the log start moves up to the
//! offset asked for and the answer is the new low watermark; a lower offset leaves it where it
//! is; -1 means the high watermark; past the high watermark or below -1 is OFFSET_OUT_OF_RANGE;
//! an unknown partition or topic UNKNOWN_TOPIC_OR_PARTITION; `__consumer_offsets`
//! INVALID_TOPIC_EXCEPTION; a compacted topic POLICY_VIOLATION. Errors carry low watermark -1.
//! ListOffsets earliest follows. Gregor keeps the new start across a crash.

use gregor_itests::raw::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use gregor_itests::raw::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::{each_broker, wait_for_group_coordinator};
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;
use gregor_storage::batch::build_test_batch;

const NONE: i16 = 0;
const OFFSET_OUT_OF_RANGE: i16 = 1;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const POLICY_VIOLATION: i16 = 44;

/// DeleteRecords v2 of one partition; returns (error code, low watermark).
fn delete(
    client: &mut RawClient,
    topic: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<(i16, i64)> {
    let request = DeleteRecordsRequest::default()
        .with_timeout_ms(5_000)
        .with_topics(vec![DeleteRecordsTopic::default()
            .with_name(StrBytes::from_string(topic.to_string()).into())
            .with_partitions(vec![DeleteRecordsPartition::default()
                .with_partition_index(partition)
                .with_offset(offset)])]);
    let response: DeleteRecordsResponse = client.call(ApiKey::DeleteRecords, 2, &request)?;
    let p = &response.topics[0].partitions[0];
    assert_eq!(response.topics[0].name.as_str(), topic);
    assert_eq!(p.partition_index, partition);
    Ok((p.error_code, p.low_watermark))
}

#[test]
fn delete_records_answers_as_kafka() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        assert_eq!(client.create_topic("purged", 1, &[])?.0, NONE);
        assert_eq!(
            client
                .create_topic("compacted", 1, &[("cleanup.policy", "compact")])?
                .0,
            NONE
        );
        client.wait_for_topic("purged")?;
        client.wait_for_topic("compacted")?;
        for _ in 0..2 {
            assert_eq!(
                client
                    .produce("purged", -1, build_test_batch(5, 10, now_ms()))?
                    .0,
                NONE
            );
        }
        assert_eq!(delete(&mut client, "purged", 0, 4)?, (NONE, 4));
        assert_eq!(delete(&mut client, "purged", 0, 2)?, (NONE, 4));
        assert_eq!(
            delete(&mut client, "purged", 0, 11)?,
            (OFFSET_OUT_OF_RANGE, -1)
        );
        assert_eq!(
            delete(&mut client, "purged", 0, -2)?,
            (OFFSET_OUT_OF_RANGE, -1)
        );
        assert_eq!(client.list_offset("purged", -2)?, (NONE, -1, 4));
        assert_eq!(delete(&mut client, "purged", 0, -1)?, (NONE, 10));
        assert_eq!(client.list_offset("purged", -2)?, (NONE, -1, 10));
        assert_eq!(client.list_offset("purged", -1)?, (NONE, -1, 10));
        assert_eq!(
            delete(&mut client, "purged", 3, 0)?,
            (UNKNOWN_TOPIC_OR_PARTITION, -1)
        );
        assert_eq!(
            delete(&mut client, "no-such-topic", 0, 0)?,
            (UNKNOWN_TOPIC_OR_PARTITION, -1)
        );
        assert_eq!(
            delete(&mut client, "compacted", 0, 0)?,
            (POLICY_VIOLATION, -1)
        );
        // Kafka creates __consumer_offsets with the first group.
        wait_for_group_coordinator(&broker.bootstrap, "delete-records")?;
        assert_eq!(
            delete(&mut client, "__consumer_offsets", 0, 0)?,
            (INVALID_TOPIC_EXCEPTION, -1)
        );
        Ok(())
    })
}

#[test]
fn deleted_records_stay_deleted_after_a_crash() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    client.create_topic("kept", 1, &[])?;
    client.produce("kept", -1, build_test_batch(8, 10, now_ms()))?;
    assert_eq!(delete(&mut client, "kept", 0, 6)?, (NONE, 6));
    drop(client);
    // The new log start is checkpointed before DeleteRecords answers: kill -9 keeps it.
    broker.kill9()?;
    broker.restart()?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    assert_eq!(client.list_offset("kept", -2)?, (NONE, -1, 6));
    assert_eq!(client.list_offset("kept", -1)?, (NONE, -1, 8));
    Ok(())
}

/// Now, for record timestamps: a batch from 1970 would be old enough for retention to delete.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
