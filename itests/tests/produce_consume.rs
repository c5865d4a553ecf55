//! rdkafka end to end: create a 3-partition topic through the admin API, produce keyed records
//! with headers, read every partition back by manual assignment, and find each record exactly
//! once, in order, with key, headers and timestamp intact; then the same per compression codec.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use gregor_itests::clients::{
    assert_records_match, consume_all, create_topic, make_records, produce_all, producer,
};
use gregor_itests::TestBroker;

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
    assert_records_match(&records, &got, 3);
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
        assert_records_match(&records, &got, 3);
        let stored = stored_codecs(&broker.data_dir(), &topic, 3)?;
        assert_eq!(
            stored,
            BTreeSet::from([codec_id(codec)]),
            "{codec}: codecs of the batches on disk (stored as produced, not recompressed)"
        );
    }
    Ok(())
}

/// The attributes' codec bits Kafka uses: 1 gzip, 2 snappy, 3 lz4, 4 zstd.
fn codec_id(codec: &str) -> u8 {
    match codec {
        "gzip" => 1,
        "snappy" => 2,
        "lz4" => 3,
        "zstd" => 4,
        other => panic!("unknown codec {other}"),
    }
}

/// The codecs of all record batches in the first segment of each partition of `topic`,
/// walking the v2 batch headers: base offset i64, batch length i32, leader epoch i32, magic
/// i8, CRC u32, attributes i16 (codec in the low 3 bits). A zero length ends the used part of
/// a preallocated segment.
fn stored_codecs(data_dir: &Path, topic: &str, partitions: i32) -> anyhow::Result<BTreeSet<u8>> {
    let mut codecs = BTreeSet::new();
    for p in 0..partitions {
        let path = data_dir
            .join(format!("{topic}-{p}"))
            .join("00000000000000000000.log");
        let bytes = std::fs::read(&path)?;
        let mut pos = 0;
        while pos + 23 <= bytes.len() {
            let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into()?);
            if len <= 0 {
                break;
            }
            anyhow::ensure!(bytes[pos + 16] == 2, "{}: magic at {pos}", path.display());
            codecs.insert(bytes[pos + 22] & 0x07);
            pos += 12 + len as usize;
        }
    }
    Ok(codecs)
}
