//! Disk faults between restarts: segment, index and snapshot files are truncated, bit-flipped
//! and scribbled over at random positions while the broker is down (after a clean stop or a
//! `kill -9`). The broker must always start, and a consumer that checks CRCs must read dense
//! offsets whose values are exactly what was produced, in order: a damaged batch is cut off,
//! never served. Then the log takes new records after the cut.
//!
//! A full disk (a small tmpfs; needs root, otherwise skipped with the reason printed): Produce
//! fails with KAFKA_STORAGE_ERROR, reads and the broker go on, and producing works again once
//! space is freed.
//!
//! CI runs 8 damage cycles; `GREGOR_FAULT_CYCLES` for more, `GREGOR_FAULT_SEED` to replay one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use gregor_itests::rng::Rng;
use gregor_itests::tmpfs::Tmpfs;
use gregor_itests::TestBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

const PARTITIONS: i32 = 2;

/// 64 KiB segments, so a few thousand records span many segment files.
const SMALL_SEGMENTS: [&str; 2] = ["--set", "log.segment.bytes=65536"];

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn create_small_segment_topic(b: &str, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", b).create()?;
    // Small segments come from the broker's log.segment.bytes (see SMALL_SEGMENTS): the
    // topic's segment.bytes has Kafka's minimum of 1 MiB.
    let new = NewTopic::new(topic, PARTITIONS, TopicReplication::Fixed(1))
        .set("index.interval.bytes", "512");
    for r in admin.create_topics(&[new], &AdminOptions::new()).await? {
        r.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    Ok(())
}

/// Produces values `f{from}..f{to}` round-robin, acks=all, waiting for each acknowledgement.
async fn produce(b: &str, topic: &str, from: u64, to: u64) -> anyhow::Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", b)
        .set("acks", "all")
        .set("linger.ms", "5")
        .create()?;
    let mut pending = Vec::new();
    for n in from..to {
        let value = format!("f{n}");
        let partition = (n % PARTITIONS as u64) as i32;
        let record = FutureRecord::<(), _>::to(topic)
            .partition(partition)
            .payload(&value);
        pending.push(producer.send_result(record).map_err(|(e, _)| e)?);
    }
    for p in pending {
        p.await?.map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// Reads every partition from the start with CRC checks on; any error fails the read.
fn read_all(b: &str, topic: &str) -> anyhow::Result<BTreeMap<i32, Vec<(i64, u64)>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b)
        .set("group.id", "faults-reader")
        .set("enable.auto.commit", "false")
        .set("check.crcs", "true")
        .create()?;
    let mut highs = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if low != 0 {
            bail!("partition {p} starts at {low}");
        }
        highs.insert(p, high);
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut out: BTreeMap<i32, Vec<(i64, u64)>> = BTreeMap::new();
    let total: i64 = highs.values().sum();
    let mut count = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count < total {
        if std::time::Instant::now() > deadline {
            bail!("read {count} of {total} records");
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.context("a served batch failed the consumer's checks")?;
        let value = std::str::from_utf8(m.payload().unwrap_or_default())?;
        let n: u64 = value
            .strip_prefix('f')
            .and_then(|v| v.parse().ok())
            .with_context(|| {
                format!(
                    "garbage value {value:?} at {}/{}",
                    m.partition(),
                    m.offset()
                )
            })?;
        out.entry(m.partition()).or_default().push((m.offset(), n));
        count += 1;
    }
    Ok(out)
}

/// Damages one file of the topic's partitions; returns what it did.
fn damage(data: &Path, topic: &str, rng: &mut Rng) -> anyhow::Result<String> {
    let mut files: Vec<PathBuf> = Vec::new();
    for p in 0..PARTITIONS {
        for e in std::fs::read_dir(data.join(format!("{topic}-{p}")))? {
            let path = e?.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ["log", "index", "timeindex", "snapshot"].contains(&ext) {
                files.push(path);
            }
        }
    }
    files.sort();
    let path = &files[rng.below(files.len())];
    let mut bytes = std::fs::read(path)?;
    let name = path.strip_prefix(data)?.display().to_string();
    if bytes.is_empty() {
        return Ok(format!("{name} empty, left alone"));
    }
    let at = rng.below(bytes.len());
    let what = match rng.below(3) {
        0 => {
            bytes.truncate(at);
            format!("truncated {name} to {at} bytes")
        }
        1 => {
            let flips = 1 + rng.below(8);
            for _ in 0..flips {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            format!("flipped {flips} bits in {name}")
        }
        _ => {
            let end = (at + 64).min(bytes.len());
            for b in &mut bytes[at..end] {
                *b = rng.next_u64() as u8;
            }
            format!("scribbled over {name} at {at}..{end}")
        }
    };
    std::fs::write(path, bytes)?;
    Ok(what)
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_files_are_cut_never_served() -> anyhow::Result<()> {
    let seed = env_or(
        "GREGOR_FAULT_SEED",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos() as u64
            | 1,
    );
    println!("GREGOR_FAULT_SEED={seed}");
    let mut rng = Rng::new(seed);
    let mut broker = TestBroker::start(&SMALL_SEGMENTS)?;
    let b = broker.bootstrap();
    create_small_segment_topic(&b, "faults").await?;
    let mut next = 0;
    let mut lost = 0;
    for cycle in 0..env_or("GREGOR_FAULT_CYCLES", 8) {
        produce(&b, "faults", next, next + 1_500).await?;
        next += 1_500;
        let before: i64 = read_all(&b, "faults")?
            .values()
            .map(|v| v.len() as i64)
            .sum();
        if cycle % 2 == 0 {
            broker.stop()?;
        } else {
            broker.kill9()?;
        }
        let what = damage(&broker.data_dir(), "faults", &mut rng)?;
        broker
            .restart()
            .with_context(|| format!("broker did not start after: {what}"))?;
        let got = read_all(&b, "faults").with_context(|| format!("after: {what}"))?;
        let mut after = 0;
        for (p, records) in &got {
            let mut last = None;
            for (i, (offset, n)) in records.iter().enumerate() {
                assert_eq!(
                    *offset, i as i64,
                    "partition {p}: offsets dense after: {what}"
                );
                assert_eq!(
                    n % PARTITIONS as u64,
                    *p as u64,
                    "f{n} in partition {p}: {what}"
                );
                assert!(
                    last < Some(*n),
                    "partition {p}: f{n} after {last:?}: {what}"
                );
                last = Some(*n);
            }
            after += records.len() as i64;
        }
        lost += before - after;
        println!("cycle {cycle}: {what}; {before} -> {after} records");
    }
    // The cut logs take new records.
    produce(&b, "faults", next, next + 100).await?;
    read_all(&b, "faults")?;
    println!("records lost to damage in all: {lost}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn full_disk_fails_produce_and_recovers() -> anyhow::Result<()> {
    let Some(disk) = Tmpfs::mount("24m")? else {
        return Ok(());
    };
    let data = disk.path().join("data");
    let broker = TestBroker::start_in(&data, &SMALL_SEGMENTS)?;
    let b = broker.bootstrap();
    create_small_segment_topic(&b, "full").await?;
    produce(&b, "full", 0, 200).await?;
    // Fill the disk with a file of our own, leaving the broker a few KiB.
    let filler = disk.fill("filler")?;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("acks", "all")
        .set("retries", "0")
        .set("message.timeout.ms", "10000")
        .create()?;
    let big = vec![b'x'; 16 * 1024];
    let mut storage_error = None;
    for i in 0..2_000 {
        let record = FutureRecord::<(), _>::to("full")
            .partition(i % PARTITIONS)
            .payload(&big);
        match producer.send(record, Duration::from_secs(10)).await {
            Ok(_) => {}
            Err((e, _)) => {
                storage_error = Some(e);
                break;
            }
        }
    }
    let err = storage_error.context("the disk never filled up")?;
    assert!(
        matches!(
            err,
            KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError)
        ),
        "{err:?}"
    );
    // Reads still work and the broker is up.
    let got = read_all_values(&b, "full")?;
    assert!(got >= 200, "read {got} records after the disk filled");

    std::fs::remove_file(&filler)?;
    produce(&b, "full", 10_000, 10_050).await?;
    println!("disk full: {err}; reads served; produce works again after freeing space");
    Ok(())
}

/// How many records `topic` serves (CRC-checked), whatever their values.
fn read_all_values(b: &str, topic: &str) -> anyhow::Result<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", b)
        .set("group.id", "full-reader")
        .set("check.crcs", "true")
        .create()?;
    let mut total = 0;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        total += high;
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut count = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count < total && std::time::Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m?;
            count += 1;
        }
    }
    Ok(count as usize)
}
