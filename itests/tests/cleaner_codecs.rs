//! librdkafka against the log cleaner's codecs (`gregor_record::compression` and `rebuild`):
//! batches librdkafka compressed with each codec decode to exactly what it produced, and the
//! batches rebuilt from them (a third of the records dropped, a delete horizon set, recompressed
//! as Kafka's Java producer writes: xerial snappy, independent-block lz4 frames, zstd level 3)
//! are read back by librdkafka with the same offsets, keys, values, headers and timestamps.
//!
//! The rebuilt batches go in through a raw Produce, standing in for a cleaned segment: the
//! broker keeps each batch as sent and only moves its base offset.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use gregor_itests::clients::{consume_all, create_topic, make_records, produce_all, producer, Rec};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_record::batch::{headers, parse_and_verify, set_producer, HEADER_SIZE};
use gregor_record::compression::XERIAL_MAGIC;
use gregor_record::{batch_records, rebuild_batch, Record};

const LIMIT: usize = 16 << 20;

/// Every whole batch in the first segment of partition 0 of `topic` (a preallocated segment's
/// zero tail ends the walk).
fn stored_batches(data_dir: &Path, topic: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let path = data_dir
        .join(format!("{topic}-0"))
        .join("00000000000000000000.log");
    let bytes = std::fs::read(&path)?;
    Ok(headers(&bytes)
        .map_while(Result::ok)
        .map(|(at, h)| bytes[at..at + h.size].to_vec())
        .collect())
}

/// A record as the tests compare them, read from `batch` whose base offset is `base`.
fn as_rec(record: &Record<'_>, batch: &gregor_record::BatchHeader, base: i64) -> Rec {
    let (key, value) = record.key_value().unwrap();
    Rec {
        partition: 0,
        offset: base + record.offset_delta,
        key: key.unwrap_or_default().to_vec(),
        value: value.unwrap_or_default().to_vec(),
        headers: record
            .headers()
            .unwrap()
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.to_vec()).unwrap(),
                    v.unwrap_or_default().to_vec(),
                )
            })
            .collect(),
        timestamp: record.timestamp_in(batch),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn librdkafka_batches_decode_and_rebuilt_batches_read_back() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let mut raw = RawClient::connect(&broker.bootstrap())?;
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let source = format!("librdkafka-{codec}");
        create_topic(&broker.bootstrap(), &source, 1).await?;
        let records = make_records(3_000, 1, 300);
        // Small batches, so there are a few dozen to decode and rebuild.
        let settings = [("compression.type", codec), ("batch.size", "40000")];
        let (p, _) = producer(&broker.bootstrap(), &settings)?;
        produce_all(&p, &source, &records)?;

        // librdkafka's batches, decoded here.
        let batches = stored_batches(&broker.data_dir(), &source)?;
        let mut decoded = Vec::new();
        for batch in &batches {
            let header = parse_and_verify(batch)?;
            assert_eq!(header.compression().map(|c| c.name()), Some(codec));
            if codec == "snappy" {
                // librdkafka writes raw snappy blocks, the Java client xerial framing.
                assert!(!batch[HEADER_SIZE..].starts_with(&XERIAL_MAGIC));
            }
            for record in batch_records(batch, &header, LIMIT)?.iter() {
                decoded.push(as_rec(&record?, &header, header.base_offset));
            }
        }
        let want: Vec<Rec> = records
            .iter()
            .enumerate()
            .map(|(i, r)| Rec {
                offset: i as i64,
                ..r.clone()
            })
            .collect();
        assert_eq!(
            decoded.len(),
            want.len(),
            "{codec}: records in {} batches",
            batches.len()
        );
        assert!(
            decoded == want,
            "{codec}: librdkafka's records decode as produced"
        );

        // Rebuilt without every third record and with a delete horizon, then read by librdkafka.
        let target = format!("rebuilt-{codec}");
        create_topic(&broker.bootstrap(), &target, 1).await?;
        let horizon = records[0].timestamp + 60_000;
        let mut expected = Vec::new();
        for batch in &batches {
            let header = parse_and_verify(batch)?;
            let section = batch_records(batch, &header, LIMIT)?;
            let kept: Vec<Record<'_>> = section
                .iter()
                .map(Result::unwrap)
                .filter(|r| (header.base_offset + r.offset_delta) % 3 != 1)
                .collect();
            let mut rebuilt = rebuild_batch(&header, &kept, Some(horizon))?;
            if header.producer_id != -1 {
                set_producer(&mut rebuilt, -1, -1, -1); // a fresh topic knows no producer
            }
            let (error, base) = raw.produce(&target, -1, rebuilt.clone())?;
            assert_eq!(error, 0, "{codec}: producing a rebuilt batch");
            let rebuilt_header = parse_and_verify(&rebuilt)?;
            if codec == "snappy" {
                assert!(rebuilt[HEADER_SIZE..].starts_with(&XERIAL_MAGIC));
            }
            assert_eq!(rebuilt_header.delete_horizon_ms(), Some(horizon));
            assert_eq!(rebuilt_header.compression(), header.compression());
            expected.extend(kept.iter().map(|r| as_rec(r, &header, base)));
        }
        let got = consume_all(
            &broker.bootstrap(),
            &target,
            1,
            expected.len(),
            Duration::from_secs(60),
        )?;
        let got: Vec<Rec> = got.into_values().flatten().collect::<Vec<_>>();
        assert_eq!(
            got.len(),
            expected.len(),
            "{codec}: records librdkafka read back"
        );
        let mismatches: BTreeMap<i64, (&Rec, &Rec)> = got
            .iter()
            .zip(&expected)
            .filter(|(g, w)| g != w)
            .map(|(g, w)| (w.offset, (g, w)))
            .take(3)
            .collect();
        assert!(mismatches.is_empty(), "{codec}: {mismatches:?}");
        println!(
            "{codec}: {} librdkafka batches decoded, {} of {} records read back after the rebuild",
            batches.len(),
            got.len(),
            records.len()
        );
    }
    Ok(())
}
