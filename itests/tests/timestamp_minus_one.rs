//! Issue 13: records whose timestamp is -1 ("no timestamp") stay for `retention.ms` after they
//! were written, as in Kafka, which ages such a segment by its file's modification time. Gregor
//! used to count them as 1970: each retention check (once a second) rolled the active segment
//! and deleted it, so 400 records were gone a second after the produce.

use std::time::Duration;

use gregor_itests::clients::create_topic;
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::record_batch::{encode_records, RecordRef};

const TOPIC: &str = "no-timestamp";

/// A v2 batch of `count` records, every one without a timestamp (base and max timestamp -1,
/// deltas 0), as a producer sends when it sets none.
fn batch_without_timestamps(count: usize) -> Vec<u8> {
    let records: Vec<RecordRef<'_>> = (0..count).map(|_| (None, Some(&b"no time"[..]))).collect();
    encode_records(-1, &records)
}

/// The offset ListOffsets answers for `timestamp` (-1 latest, -2 earliest).
fn list_offset(client: &mut RawClient, timestamp: i64) -> anyhow::Result<i64> {
    let (code, _, offset) = client.list_offset(TOPIC, timestamp)?;
    anyhow::ensure!(code == 0, "ListOffsets error {code}");
    Ok(offset)
}

#[test]
fn records_without_timestamp_outlive_retention_checks() -> anyhow::Result<()> {
    // Gregor checks retention every second; Kafka is told to do the same.
    each_broker(&[("log.retention.check.interval.ms", "1000")], |broker| {
        let runtime = tokio::runtime::Runtime::new()?;
        runtime.block_on(create_topic(&broker.bootstrap, TOPIC, 1))?;
        let mut client = RawClient::connect(&broker.bootstrap)?;
        for _ in 0..40 {
            anyhow::ensure!(client.produce(TOPIC, -1, batch_without_timestamps(10))?.0 == 0);
        }
        assert_eq!(list_offset(&mut client, -1)?, 400);
        // Several retention checks (no assertion on time: any number of checks must keep them).
        std::thread::sleep(Duration::from_secs(5));
        assert_eq!(list_offset(&mut client, -2)?, 0, "records were deleted");
        assert_eq!(list_offset(&mut client, -1)?, 400);
        Ok(())
    })
}
