//! Start-up after a clean stop trusts the checkpoints and answers before the background scrub
//! has checked the data; a batch damaged while the broker was down is still never served.
//!
//! Fills a data dir across several topics (`GREGOR_STARTUP_SCRUB_MB`, default 300 MB; the
//! issue's "several GiB" with e.g. 4096), stops cleanly, damages two closed segments, restarts
//! with the scrub slowed down, and checks: Metadata is answered while the scrub is still
//! running, a fetch over the first damage gets the batches before it and then the log end
//! recovery would give (the log is cut there), and the scrub finds and logs the second one.
//! Not timed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gregor_itests::raw::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_itests::raw::messages::{
    ApiKey, FetchRequest, FetchResponse, MetadataRequest, MetadataResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;
use gregor_storage::batch::{build_test_batch, parse_and_verify};

const TOPICS: usize = 12;
const SEGMENT_BYTES: usize = 4 << 20;
/// Records per produced batch and their value size: about 400 KB a batch.
const RECORDS: i32 = 400;
const VALUE: usize = 1000;

fn topic(i: usize) -> String {
    format!("scrubbed-{i}")
}

/// The `.log` files of partition 0 of `topic`, oldest first.
fn segments(data_dir: &Path, topic: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(data_dir.join(format!("{topic}-0")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// Flips a byte inside the records of the third batch of `path`; returns its base offset.
fn damage_third_batch(path: &Path) -> anyhow::Result<i64> {
    let mut bytes = std::fs::read(path)?;
    let mut at = 0;
    for _ in 0..2 {
        at += parse_and_verify(&bytes[at..])
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .size;
    }
    let third = parse_and_verify(&bytes[at..]).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    bytes[at + 200] ^= 0x5a;
    std::fs::write(path, &bytes)?;
    Ok(third.base_offset)
}

/// Fetches partition 0 of `topic` from `offset`: (error code, high watermark, record bytes).
fn fetch(client: &mut RawClient, topic: &str, offset: i64) -> anyhow::Result<(i16, i64, Vec<u8>)> {
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(4 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(StrBytes::from_string(topic.to_string()).into())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(4 << 20)])]);
    let response: FetchResponse = client.call(ApiKey::Fetch, 11, &request)?;
    let p = &response.responses[0].partitions[0];
    Ok((
        p.error_code,
        p.high_watermark,
        p.records.as_ref().map_or_else(Vec::new, |r| r.to_vec()),
    ))
}

/// Reads `topic` from 0 to its end, checking every batch's CRC; returns the offset reached.
fn read_to_end(client: &mut RawClient, topic: &str) -> anyhow::Result<i64> {
    let mut offset = 0;
    loop {
        let (error, _, records) = fetch(client, topic, offset)?;
        anyhow::ensure!(error == 0, "fetch of {topic} at {offset}: error {error}");
        if records.is_empty() {
            return Ok(offset);
        }
        let mut at = 0;
        while at < records.len() {
            // A fetch may end with a partial batch; every whole one must pass.
            let Ok(h) = gregor_storage::batch::parse_header(&records[at..]) else {
                break;
            };
            if h.size > records.len() - at {
                break;
            }
            parse_and_verify(&records[at..]).map_err(|e| {
                anyhow::anyhow!("{topic}: a served batch at {offset} fails its CRC: {e:?}")
            })?;
            at += h.size;
            offset = h.next_offset();
        }
    }
}

#[test]
fn start_answers_before_the_scrub_and_damage_is_never_served() -> anyhow::Result<()> {
    let megabytes: usize = std::env::var("GREGOR_STARTUP_SCRUB_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let total = megabytes << 20;
    // Slow enough that the scrub is still running at the first Metadata, fast enough that the
    // test waits for it in about half a minute whatever the size.
    let rate = (total / 30).max(1 << 20);
    let rate_setting = format!("gregor.log.scrub.bytes.per.second={rate}");
    let mut broker = TestBroker::start(&["--set", &rate_setting])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let segment_bytes = SEGMENT_BYTES.to_string();
    for i in 0..TOPICS {
        let (error, message) =
            client.create_topic(&topic(i), 1, &[("segment.bytes", &segment_bytes)])?;
        anyhow::ensure!(error == 0, "create {}: {error} {message}", topic(i));
        client.wait_for_topic(&topic(i))?;
    }
    // Timestamped now: retention must not delete the segments under the test.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let batch = build_test_batch(RECORDS, VALUE, now_ms);
    let batches = total / batch.len() + 1;
    for n in 0..batches {
        let (error, _) = client.produce(&topic(n % TOPICS), 1, batch.clone())?;
        anyhow::ensure!(error == 0, "produce: error {error}");
    }
    drop(client);
    broker.stop()?;

    let data_dir = broker.data_dir();
    let fetched = segments(&data_dir, &topic(0));
    let scrubbed = segments(&data_dir, &topic(1));
    anyhow::ensure!(
        fetched.len() >= 3 && scrubbed.len() >= 3,
        "too few segments: {fetched:?} {scrubbed:?} ({} bytes)",
        std::fs::metadata(&fetched[0]).map_or(0, |m| m.len())
    );
    let fetched_damage = damage_third_batch(&fetched[1])?;
    let scrubbed_damage = damage_third_batch(&scrubbed[1])?;

    broker.restart()?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let metadata: MetadataResponse = client.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )?;
    anyhow::ensure!(metadata.topics.len() >= TOPICS, "metadata lists the topics");
    anyhow::ensure!(
        !broker.log().contains("scrub finished"),
        "Metadata was answered before the scrub was done"
    );
    // The scrub thread says when it starts (it may be just after the first answer).
    let deadline = Instant::now() + Duration::from_secs(60);
    while !broker.log().contains("scrub started") {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the scrub never started: {}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Every batch before the damage is served, then the end the recovery gives: the cut.
    let reached = read_to_end(&mut client, &topic(0))?;
    assert_eq!(
        reached, fetched_damage,
        "read up to the damaged batch, no further"
    );
    let (error, high_watermark, _) = fetch(&mut client, &topic(0), fetched_damage)?;
    assert_eq!(
        (error, high_watermark),
        (0, fetched_damage),
        "the log ends at the cut"
    );
    let (error, _, _) = fetch(&mut client, &topic(0), fetched_damage + 1)?;
    assert_eq!(error, 1, "past the cut is OFFSET_OUT_OF_RANGE");

    // The scrub finds the other damage on its own and says so, naming the file.
    let deadline = Instant::now() + Duration::from_secs(600);
    while !broker.log().contains("scrub finished") {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the scrub never finished: {}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = broker.log();
    let name = scrubbed[1]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let warned = log.lines().any(|l| {
        l.contains("WARN")
            && l.contains("damaged batch")
            && l.contains(&format!("{}-0/{name}", topic(1)))
    });
    anyhow::ensure!(warned, "a WARN names {name}: {log}");
    assert_eq!(read_to_end(&mut client, &topic(1))?, scrubbed_damage);
    // The untouched topics are whole.
    let per_topic = (batches / TOPICS) as i64 * i64::from(RECORDS);
    for i in 2..TOPICS {
        let end = read_to_end(&mut client, &topic(i))?;
        assert!(end >= per_topic, "{}: read to {end}", topic(i));
    }
    Ok(())
}
