//! Batches written by Apache Kafka's Java client code (kafka-clients 4.4.0, see
//! `fixtures/KafkaBatches.java`): every codec decodes to the records Java wrote, and our rebuilds
//! match Kafka's `MemoryRecords.filterTo` field for field (byte for byte when uncompressed).
//!
//! With `GREGOR_FIXTURE_OUT=DIR`, our rebuilds are also written to `DIR/gregor-NAME.bin` for
//! `KafkaBatches.java verify`, which reads them back with the Java client.

use std::path::PathBuf;

use gregor_record::batch::{parse_and_verify, BatchHeader, HEADER_SIZE};
use gregor_record::{
    batch_records, empty_batch, rebuild_batch, Compression, Record, TimestampType,
};

const BASE_OFFSET: i64 = 1000;
const BASE_TIMESTAMP: i64 = 1_700_000_000_000;
const LOG_APPEND_TIME: i64 = 1_700_000_555_000;
/// The cleaner's `currentTime + deleteRetentionMs` in the Java program.
const HORIZON: i64 = 1_700_000_100_000 + 86_400_000;
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];
const LIMIT: usize = 1 << 20;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn save(name: &str, batch: &[u8]) {
    if let Some(dir) = std::env::var_os("GREGOR_FIXTURE_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(PathBuf::from(dir).join(format!("gregor-{name}")), batch).unwrap();
    }
}

/// A record as Java wrote it: (offset, timestamp, key, value, headers).
type Expected = (
    i64,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(Vec<u8>, Option<Vec<u8>>)>,
);

/// The records `KafkaBatches.batch` writes.
fn expected(compressed: bool) -> Vec<Expected> {
    (0..20i64)
        .map(|i| {
            let key = (i % 6 != 5).then(|| format!("key-{}", i % 5).into_bytes());
            let value = if i % 7 == 3 {
                None
            } else if compressed && i == 12 {
                let mut s = String::new();
                while s.len() < 70_000 {
                    s.push_str("compressible ");
                    let n = s.len() % 97;
                    s.push_str(&format!("{n} "));
                }
                Some(s.into_bytes())
            } else {
                Some(format!("value-{i}").repeat(i as usize % 4 + 1).into_bytes())
            };
            let headers = if i % 5 == 0 {
                vec![]
            } else {
                vec![
                    (b"trace".to_vec(), Some(format!("t{i}").into_bytes())),
                    (b"none".to_vec(), None),
                ]
            };
            (
                BASE_OFFSET + i,
                BASE_TIMESTAMP + (i * 13) % 50,
                key,
                value,
                headers,
            )
        })
        .collect()
}

/// `got` is `want`, said briefly when not (a value is 70 KB).
fn assert_records(got: &[Expected], want: &[Expected], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: record count");
    for (g, w) in got.iter().zip(want) {
        assert!(
            g == w,
            "{what}: record at offset {} differs from offset {}'s",
            g.0,
            w.0
        );
    }
}

/// Every record of `batch` as a consumer reads it.
fn decode(batch: &[u8]) -> (BatchHeader, Vec<Expected>) {
    let header = parse_and_verify(batch).unwrap();
    assert_eq!(header.size, batch.len(), "one batch per fixture");
    let section = batch_records(batch, &header, LIMIT).unwrap();
    let records = section
        .iter()
        .map(|r| {
            let r = r.unwrap();
            let (key, value) = r.key_value().unwrap();
            let headers = r.headers().unwrap();
            (
                r.offset(header.base_offset).unwrap(),
                r.timestamp_in(&header),
                key.map(<[u8]>::to_vec),
                value.map(<[u8]>::to_vec),
                headers
                    .into_iter()
                    .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                    .collect(),
            )
        })
        .collect();
    (header, records)
}

/// Our rebuild of `batch` keeping the offsets `keep` accepts.
fn rebuild(batch: &[u8], keep: impl Fn(i64) -> bool, horizon: Option<i64>) -> Vec<u8> {
    let header = parse_and_verify(batch).unwrap();
    let section = batch_records(batch, &header, LIMIT).unwrap();
    let kept: Vec<Record<'_>> = section
        .iter()
        .map(Result::unwrap)
        .filter(|r| keep(r.offset(header.base_offset).unwrap()))
        .collect();
    rebuild_batch(&header, &kept, horizon).unwrap()
}

/// `ours` says what `kafka` says: every header field but the size and CRC (which follow from
/// the compressor's output), and the same records section once decompressed. Byte for byte
/// when uncompressed.
fn assert_same(name: &str, ours: &[u8], kafka: &[u8]) {
    let (a, b) = (
        parse_and_verify(ours).unwrap(),
        parse_and_verify(kafka).unwrap(),
    );
    if a.compression() == Some(Compression::None) {
        assert_eq!(ours, kafka, "{name}");
    }
    let normalize = |h: BatchHeader| BatchHeader {
        size: 0,
        crc: 0,
        ..h
    };
    assert_eq!(normalize(a), normalize(b), "{name}");
    let (sa, sb) = (
        batch_records(ours, &a, LIMIT).unwrap(),
        batch_records(kafka, &b, LIMIT).unwrap(),
    );
    assert_eq!(sa.bytes(), sb.bytes(), "{name}");
}

#[test]
fn every_codec_decodes_what_java_wrote() {
    for codec in CODECS {
        let (header, records) = decode(&fixture(&format!("{codec}-batch.bin")));
        assert_eq!(header.compression().unwrap().name(), codec);
        assert_records(&records, &expected(codec != "none"), codec);
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.partition_leader_epoch
            ),
            (4242, 3, 99, 7)
        );
        assert_eq!(
            (
                header.base_offset,
                header.last_offset_delta,
                header.record_count
            ),
            (1000, 19, 20)
        );
        assert!(header.size > HEADER_SIZE);
    }
}

#[test]
fn rebuilds_match_kafkas_filter_to() {
    for codec in CODECS {
        let batch = fixture(&format!("{codec}-batch.bin"));
        let filtered = rebuild(&batch, |o| (o - BASE_OFFSET) % 7 != 3 && o % 3 != 0, None);
        assert_same(codec, &filtered, &fixture(&format!("{codec}-filtered.bin")));
        save(&format!("{codec}-filtered.bin"), &filtered);

        let horizon = rebuild(&batch, |o| o % 2 == 0, Some(HORIZON));
        let kafka = fixture(&format!("{codec}-horizon.bin"));
        assert_eq!(
            parse_and_verify(&kafka).unwrap().delete_horizon_ms(),
            Some(HORIZON)
        );
        assert_same(codec, &horizon, &kafka);
        save(&format!("{codec}-horizon.bin"), &horizon);
        let (_, kept) = decode(&horizon);
        let want: Vec<Expected> = expected(codec != "none")
            .into_iter()
            .filter(|r| r.0 % 2 == 0)
            .collect();
        assert_eq!(
            kept, want,
            "{codec}: the horizon leaves record timestamps alone"
        );

        let emptied = empty_batch(&parse_and_verify(&batch).unwrap());
        assert_eq!(emptied, fixture(&format!("{codec}-emptied.bin")), "{codec}");
        save(&format!("{codec}-emptied.bin"), &emptied);

        // Keeping everything gives back the batch Java wrote.
        let all = rebuild(&batch, |_| true, None);
        assert_same(codec, &all, &batch);
        save(&format!("{codec}-batch.bin"), &all);
    }
}

#[test]
fn log_append_time_rebuilds_match_kafkas() {
    for codec in ["none", "lz4"] {
        let batch = fixture(&format!("{codec}-lat-batch.bin"));
        let (header, records) = decode(&batch);
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert!(records.iter().all(|r| r.1 == LOG_APPEND_TIME));
        let horizon = rebuild(&batch, |o| o % 2 == 0, Some(HORIZON));
        assert_same(
            codec,
            &horizon,
            &fixture(&format!("{codec}-lat-horizon.bin")),
        );
        save(&format!("{codec}-lat-horizon.bin"), &horizon);
    }
}
