//! Produce on a raw socket with a batch a real client wrote: the broker appends it unchanged
//! but for the base offset it assigns, refuses a batch whose CRC does not match
//! (CORRUPT_MESSAGE) and an acks value other than -1, 0 or 1 (INVALID_REQUIRED_ACKS), and
//! stores nothing it refused.

use std::time::Duration;

use gregor_itests::clients::{consume_all, create_topic, make_records, produce_all, producer};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;

const CORRUPT_MESSAGE: i16 = 2;
const INVALID_REQUIRED_ACKS: i16 = 21;

/// The first record batch of partition 0's first segment, as stored.
fn first_batch(broker: &TestBroker, topic: &str) -> anyhow::Result<Vec<u8>> {
    let path = broker
        .data_dir()
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log");
    let bytes = std::fs::read(&path)?;
    let len = i32::from_be_bytes(bytes[8..12].try_into()?) as usize;
    Ok(bytes[..12 + len].to_vec())
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_batches_are_appended_or_refused_whole() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "raw", 1).await?;
    let records = make_records(1, 1, 20);
    let (p, _) = producer(&b, &[])?;
    produce_all(&p, "raw", &records)?;
    let batch = first_batch(&broker, "raw")?;

    let mut client = RawClient::connect(&b)?;
    // The same batch again: appended at the next offset.
    assert_eq!(client.produce("raw", -1, batch.clone())?, (0, 1));

    // One flipped byte in the last record: the CRC no longer matches.
    let mut corrupt = batch.clone();
    let last = corrupt.len() - 3;
    corrupt[last] ^= 0xff;
    assert_eq!(
        client.produce("raw", -1, corrupt)?.0,
        CORRUPT_MESSAGE,
        "a batch with a wrong CRC"
    );
    // acks=2 means nothing to Kafka.
    assert_eq!(
        client.produce("raw", 2, batch.clone())?.0,
        INVALID_REQUIRED_ACKS,
        "acks=2"
    );
    // The connection is still in use, and the next offset is 2: nothing refused was stored.
    assert_eq!(client.produce("raw", 1, batch)?, (0, 2));

    let got = consume_all(&b, "raw", 1, 3, Duration::from_secs(20))?;
    let stored = &got[&0];
    assert_eq!(stored.len(), 3);
    for (i, r) in stored.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(
            (&r.key, &r.value, &r.headers, r.timestamp),
            (
                &records[0].key,
                &records[0].value,
                &records[0].headers,
                records[0].timestamp
            ),
            "offset {i} holds the batch as produced"
        );
    }
    Ok(())
}
