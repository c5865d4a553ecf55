//! Issue 13: CreateTime timestamps outside the window `log.message.timestamp.before.max.ms` and
//! `log.message.timestamp.after.max.ms` (Kafka 4's default: an hour) allow are refused with
//! INVALID_TIMESTAMP (32); timestamp -1 is always taken. Gregor used to accept any timestamp,
//! so a producer clock far ahead kept its records from time retention until that future came.

use gregor_itests::clients::create_topic;
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::record_batch::encode_records;

const TOPIC: &str = "timestamp-window";
const INVALID_TIMESTAMP: i16 = 32;
const HOUR: i64 = 3_600_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The error code of producing one record stamped `timestamp`.
fn produce_at(client: &mut RawClient, timestamp: i64) -> anyhow::Result<i16> {
    let batch = encode_records(timestamp, &[(None, Some(b"when"))]);
    Ok(client.produce(TOPIC, -1, batch)?.0)
}

#[test]
fn timestamps_outside_the_window_are_refused() -> anyhow::Result<()> {
    // An hour into the past; the future keeps Kafka 4's default of an hour.
    each_broker(
        &[("log.message.timestamp.before.max.ms", "3600000")],
        |broker| {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(create_topic(&broker.bootstrap, TOPIC, 1))?;
            let mut client = RawClient::connect(&broker.bootstrap)?;
            let now = now_ms();
            assert_eq!(produce_at(&mut client, now)?, 0, "now");
            assert_eq!(produce_at(&mut client, -1)?, 0, "no timestamp");
            assert_eq!(
                produce_at(&mut client, now - HOUR / 2)?,
                0,
                "half an hour ago"
            );
            assert_eq!(
                produce_at(&mut client, now + HOUR / 2)?,
                0,
                "in half an hour"
            );
            assert_eq!(
                produce_at(&mut client, now + 3 * HOUR)?,
                INVALID_TIMESTAMP,
                "3 hours ahead"
            );
            assert_eq!(
                produce_at(&mut client, now - 3 * HOUR)?,
                INVALID_TIMESTAMP,
                "3 hours ago"
            );
            assert_eq!(produce_at(&mut client, 1_000)?, INVALID_TIMESTAMP, "1970");
            Ok(())
        },
    )
}
