//! Issue 13: rdkafka consumers with `fetch.max.bytes` and `max.partition.fetch.bytes` set below
//! the size of some batches keep consuming every partition. librdkafka refuses a response larger
//! than `receive.message.max.bytes` ("Invalid response size") and asks for the same offsets
//! again, so one response over the limit stalls the consumer for good; the broker may only go
//! over for the first batch of a response (KIP-74), which here still fits.

use std::collections::BTreeMap;
use std::time::Duration;

use gregor_itests::clients::{
    assert_records_match, consume_all_with, create_topic, make_records, produce_all, producer, Rec,
};
use gregor_itests::reference::each_broker;

const TOPIC: &str = "small-limits";
const PARTITIONS: i32 = 4;
const RECORDS: usize = 400;
/// The consumer's response limit; producer batches stay below it, so every batch can arrive as
/// the first of a response.
const FETCH_MAX_BYTES: usize = 32_000;
/// Batches reach `BATCH_BYTES`, far above this per-partition limit.
const PARTITION_MAX_BYTES: usize = 8_000;
const BATCH_BYTES: usize = 28_000;

/// Records of 100 B to 12 KB, so batches of many sizes form.
fn records() -> Vec<Rec> {
    let mut records = make_records(RECORDS, PARTITIONS, 1);
    for (i, r) in records.iter_mut().enumerate() {
        r.value = vec![b'a' + (i % 26) as u8; 100 + (i * 7_919) % 12_000];
    }
    records
}

/// Reads every partition from the beginning until `expected` records arrived or 60 s passed,
/// with fetch limits below the largest batches.
fn consume(bootstrap: &str, expected: usize) -> anyhow::Result<BTreeMap<i32, Vec<Rec>>> {
    let fetch_max = FETCH_MAX_BYTES.to_string();
    // librdkafka wants fetch.max.bytes >= message.max.bytes, and receive.message.max.bytes at
    // least fetch.max.bytes + 512: the response limit it enforces.
    let receive_max = (FETCH_MAX_BYTES + 512).to_string();
    let partition_max = PARTITION_MAX_BYTES.to_string();
    consume_all_with(
        bootstrap,
        TOPIC,
        PARTITIONS,
        expected,
        Duration::from_secs(60),
        &[
            ("group.id", "itests-small-limits"),
            ("fetch.max.bytes", &fetch_max),
            ("message.max.bytes", &fetch_max),
            ("receive.message.max.bytes", &receive_max),
            ("max.partition.fetch.bytes", &partition_max),
        ],
    )
}

#[test]
fn consumers_with_small_fetch_limits_read_everything() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    each_broker(&[], |broker| {
        let b = &broker.bootstrap;
        runtime.block_on(create_topic(b, TOPIC, PARTITIONS))?;
        let expected = records();
        let batch_bytes = BATCH_BYTES.to_string();
        let (p, _) = producer(
            b,
            &[
                ("compression.type", "none"),
                ("linger.ms", "50"),
                ("batch.size", &batch_bytes),
                ("message.max.bytes", &batch_bytes),
            ],
        )?;
        produce_all(&p, TOPIC, &expected)?;
        let got = consume(b, expected.len())?;
        let counts: Vec<usize> = (0..PARTITIONS)
            .map(|p| got.get(&p).map_or(0, Vec::len))
            .collect();
        anyhow::ensure!(
            counts.iter().sum::<usize>() == expected.len(),
            "records consumed per partition {counts:?}, of {} in all",
            expected.len()
        );
        assert_records_match(&expected, &got, PARTITIONS);
        Ok(())
    })
}
