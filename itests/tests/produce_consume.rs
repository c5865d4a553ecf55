//! rdkafka end to end: create a 3-partition topic through the admin API, produce keyed records
//! with headers, read every partition back by manual assignment, and find each record exactly
//! once, in order, with key, headers and timestamp intact; then the same per compression codec.

use std::time::Duration;

use gregor_itests::clients::{consume_all, create_topic, make_records, produce_all, producer, Rec};
use gregor_itests::TestBroker;

fn check(expected: &[Rec], got: &std::collections::BTreeMap<i32, Vec<Rec>>, partitions: i32) {
    for p in 0..partitions {
        let want: Vec<_> = expected.iter().filter(|r| r.partition == p).collect();
        let have = got.get(&p).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(have.len(), want.len(), "partition {p}: record count");
        for (i, (h, w)) in have.iter().zip(want).enumerate() {
            assert_eq!(
                h.offset, i as i64,
                "partition {p}: offsets are dense from 0"
            );
            assert_eq!(
                (&h.key, &h.value, &h.headers, h.timestamp),
                (&w.key, &w.value, &w.headers, w.timestamp),
                "partition {p} offset {i}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hundred_thousand_keyed_records_round_trip() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    create_topic(&broker.bootstrap(), "orders", 3).await?;
    let records = make_records(100_000, 3, 100);
    let (p, acks) = producer(&broker.bootstrap(), &[])?;
    let started = std::time::Instant::now();
    produce_all(&p, "orders", &records)?;
    println!("produced 100,000 records in {:?}", started.elapsed());
    assert_eq!(acks.0.lock().unwrap().len(), records.len());
    let got = consume_all(
        &broker.bootstrap(),
        "orders",
        3,
        records.len(),
        Duration::from_secs(60),
    )?;
    check(&records, &got, 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_compression_codec_round_trips() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("compressed-{codec}");
        create_topic(&broker.bootstrap(), &topic, 3).await?;
        let records = make_records(5_000, 3, 200);
        let (p, _) = producer(&broker.bootstrap(), &[("compression.type", codec)])?;
        produce_all(&p, &topic, &records)?;
        let got = consume_all(
            &broker.bootstrap(),
            &topic,
            3,
            records.len(),
            Duration::from_secs(60),
        )?;
        check(&records, &got, 3);
    }
    Ok(())
}
