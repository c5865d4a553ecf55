//! Issue 13: ListOffsets with timestamp -3 (MAX_TIMESTAMP, v7+) answers the offset of the record
//! with the largest timestamp, as Kafka 4 does (`RecordBatch.offsetOfMaxTimestamp`), not the
//! first offset of its batch.

use gregor_itests::clients::create_topic;
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_storage::batch::build_test_batch;

const TOPIC: &str = "max-timestamp";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// (error code, timestamp, offset) for ListOffsets -3.
fn max_timestamp(client: &mut RawClient) -> anyhow::Result<(i16, i64, i64)> {
    client.list_offset(TOPIC, -3)
}

#[test]
fn max_timestamp_names_the_record_not_its_batch() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(create_topic(&broker.bootstrap, TOPIC, 1))?;
        let mut client = RawClient::connect(&broker.bootstrap)?;
        let now = now_ms();
        // Record i of a test batch has the batch's timestamp + i.
        assert_eq!(
            client.produce(TOPIC, -1, build_test_batch(3, 10, now - 30_000))?,
            (0, 0)
        );
        // Offsets 3..=7 at now-10000..=now-9996: the largest timestamp is offset 7's.
        assert_eq!(
            client.produce(TOPIC, -1, build_test_batch(5, 10, now - 10_000))?,
            (0, 3)
        );
        assert_eq!(
            client.produce(TOPIC, -1, build_test_batch(2, 10, now - 20_000))?,
            (0, 8)
        );
        assert_eq!(max_timestamp(&mut client)?, (0, now - 9_996, 7));
        Ok(())
    })
}
