//! Moving topics and consumer groups between Gregor and an Apache Kafka 4.4 single node with
//! Apache Kafka's MirrorMaker 2 (4.3.1, dedicated mode, `IdentityReplicationPolicy`), run on
//! the properties files the README shows (`itests/fixtures/mm2*.properties`, only the
//! addresses and, for the one-node Kafka, the replication factors changed).
//!
//! Each move: keyed records with headers and explicit timestamps in three partitions of two
//! topics on the source; a consumer group reads the first part and commits; MirrorMaker starts,
//! copies, checkpoints the group and writes its translated position into the group on the
//! target; the rest is produced while it runs. On the target: the same topics with the same
//! partition counts and config, every record in the same partition at the same offset with its
//! key, headers and timestamp, and a consumer of the group there reads exactly the records the
//! group had not read on the source.
//!
//! Exactness: MirrorMaker translates a group's offset `g` with the latest offset sync at or
//! below it (upstream `u` -> downstream `d`) as `d` when `u == g` and `d + 1` otherwise
//! (`OffsetSyncStore::translateDownstream`), so it is exact when a sync for the record at `g - 1`
//! is the one found. The group commits before the rest is produced, so the last record MirrorMaker
//! copies before the rest arrives is the one at `g - 1`; `offset.lag.max = 0` has it queue a
//! sync for every record and the 1 s offset flush sends the last one of a quiet partition. A
//! checkpoint never goes back (`checkpointIsMoreRecent`), so the exact one stays once written.
//!
//! The reduced form runs in CI (Gregor to Kafka, about a minute); `GREGOR_MM2_FULL=1` adds the
//! way back (Kafka to Gregor), more records, and the failure cases: Gregor killed with SIGKILL
//! and restarted while MirrorMaker copies a stream, MirrorMaker stopped and started, and killed
//! with SIGKILL and started; nothing acknowledged is lost and the duplicates MirrorMaker's
//! at-least-once copy leaves on Kafka are counted. `GREGOR_MM2_THROUGHPUT=1` times mirroring
//! 1 GiB of 1 KiB records from Gregor to Kafka (`GREGOR_MM2_THROUGHPUT_MIB` to change the size).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gregor_itests::apps::{committed_offsets, end_offsets};
use gregor_itests::bench::brokers::{kafka_lib_dir, Launcher, Running};
use gregor_itests::clients::{consume_all, make_records, produce_all, producer, Rec};
use gregor_itests::mirror_maker::{fixture, with_addresses, MirrorMaker, MM2_VERSION};
use gregor_itests::raw::RawClient;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;

const PARTITIONS: i32 = 3;
/// Longest wait for MirrorMaker to start, copy or checkpoint.
const TIMEOUT: Duration = Duration::from_secs(180);
/// A topic config set on the source, which MirrorMaker copies with the topic.
const RETENTION: (&str, &str) = ("retention.ms", "86400000");

fn full() -> bool {
    std::env::var("GREGOR_MM2_FULL").is_ok_and(|v| v == "1")
}

/// A folder for MirrorMaker's properties and logs, removed when dropped unless
/// `GREGOR_MM2_KEEP=1` (then its path is printed).
struct Scratch {
    dir: Option<tempfile::TempDir>,
    path: std::path::PathBuf,
}

impl Scratch {
    fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if std::env::var("GREGOR_MM2_KEEP").is_ok_and(|v| v == "1") {
                println!("MirrorMaker's logs kept in {}", dir.keep().display());
            }
        }
    }
}

/// With `GREGOR_MM2_KEEP=1`, copies the brokers' logs beside MirrorMaker's before they stop
/// (their folders go with them).
fn keep_logs(scratch: &Scratch, brokers: &[&Running]) {
    if std::env::var("GREGOR_MM2_KEEP").is_ok_and(|v| v == "1") {
        for b in brokers {
            let _ = std::fs::copy(
                b.log_path(),
                scratch.path().join(format!("{}.log", b.kind.name())),
            );
        }
    }
}

fn scratch() -> anyhow::Result<Scratch> {
    let dir = tempfile::Builder::new().prefix("gregor-mm2-").tempdir()?;
    Ok(Scratch {
        path: dir.path().to_path_buf(),
        dir: Some(dir),
    })
}

fn gregor() -> anyhow::Result<Running> {
    Launcher::Gregor(gregor_itests::gregor_bin()).start()
}

fn kafka() -> anyhow::Result<Running> {
    Launcher::Kafka(kafka_lib_dir()?).start()
}

/// One direction of a move: which cluster is which in the properties file.
struct Flow<'a> {
    fixture: &'a str,
    source_alias: &'a str,
    source: &'a str,
    target_alias: &'a str,
    target: &'a str,
    /// Whether the target is the one-node Kafka (replication factors set to 1).
    target_is_kafka: bool,
}

impl Flow<'_> {
    fn properties(&self) -> anyhow::Result<String> {
        with_addresses(
            &fixture(self.fixture)?,
            &[
                (self.source_alias, self.source),
                (self.target_alias, self.target),
            ],
            self.target_is_kafka,
        )
    }
}

/// Polls `check` every 250 ms until it holds, failing if MirrorMaker exits or `TIMEOUT` passes;
/// an error from `check` counts as "not yet" (a topic MirrorMaker has not created yet).
fn until(
    mm: &mut MirrorMaker,
    what: &str,
    check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    until_within(mm, what, TIMEOUT, check)
}

/// `until` with a timeout of its own.
fn until_within(
    mm: &mut MirrorMaker,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        mm.ensure_running()?;
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if Instant::now() > deadline {
            bail!(
                "{what}: not within {TIMEOUT:?} ({last})\n{}",
                mm.log_tail(60)
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The topic's partition count as Metadata reports it.
fn partition_count(bootstrap: &str, topic: &str) -> anyhow::Result<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let t = metadata.topics().first().context("no topic in Metadata")?;
    if let Some(e) = t.error() {
        bail!("{topic}: {e:?}");
    }
    Ok(t.partitions().len())
}

/// The configs set on `topic` itself (DescribeConfigs v4, source DYNAMIC_TOPIC_CONFIG).
fn topic_overrides(bootstrap: &str, topic: &str) -> anyhow::Result<BTreeMap<String, String>> {
    use gregor_itests::raw::messages::describe_configs_request::DescribeConfigsResource;
    use gregor_itests::raw::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
    const DYNAMIC_TOPIC_CONFIG: i8 = 1;
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(gregor_protocol::StrBytes::from_string(topic.to_string()))]);
    let response: DescribeConfigsResponse =
        RawClient::connect(bootstrap)?.call(ApiKey::DescribeConfigs, 4, &request)?;
    let result = response.results.first().context("no result")?;
    anyhow::ensure!(
        result.error_code == 0,
        "describing {topic}: {}",
        result.error_code
    );
    Ok(result
        .configs
        .iter()
        .filter(|c| c.config_source == DYNAMIC_TOPIC_CONFIG)
        .map(|c| {
            let value = c.value.as_ref().map(|v| v.to_string()).unwrap_or_default();
            (c.name.to_string(), value)
        })
        .collect())
}

/// Grows `topic` to `count` partitions (CreatePartitions v3).
fn add_partitions(bootstrap: &str, topic: &str, count: i32) -> anyhow::Result<()> {
    use gregor_itests::raw::messages::create_partitions_request::CreatePartitionsTopic;
    use gregor_itests::raw::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(gregor_protocol::StrBytes::from_string(topic.to_string()).into())
            .with_count(count)
            // Null: the broker places them (an empty list asks for none, which Kafka refuses).
            .with_assignments(None)]);
    let response: CreatePartitionsResponse =
        RawClient::connect(bootstrap)?.call(ApiKey::CreatePartitions, 3, &request)?;
    let code = response.results.first().context("no result")?.error_code;
    anyhow::ensure!(
        code == 0,
        "growing {topic} to {count} partitions: error {code}"
    );
    Ok(())
}

/// `count` records of `topic` over three partitions (round-robin), values naming the topic.
fn records_for(topic: &str, count: usize) -> Vec<Rec> {
    make_records(count, PARTITIONS, 8)
        .into_iter()
        .map(|mut r| {
            r.value = [topic.as_bytes(), b"-", &r.value].concat();
            r
        })
        .collect()
}

/// Per partition, how many of `records` it holds.
fn per_partition(records: &[Rec]) -> Vec<i64> {
    (0..PARTITIONS)
        .map(|p| records.iter().filter(|r| r.partition == p).count() as i64)
        .collect()
}

/// A group member subscribed to `topics` that reads until it has `count` records, commits
/// them and leaves the group.
fn consume_and_commit(
    bootstrap: &str,
    group: &str,
    topics: &[&str],
    count: usize,
) -> anyhow::Result<BTreeMap<(String, i32), Vec<Rec>>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(topics)?;
    let mut got: BTreeMap<(String, i32), Vec<Rec>> = BTreeMap::new();
    let mut n = 0;
    let deadline = Instant::now() + TIMEOUT;
    while n < count {
        if Instant::now() > deadline {
            bail!("group {group} read {n} of {count} records within {TIMEOUT:?}");
        }
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        got.entry((m.topic().to_string(), m.partition()))
            .or_default()
            .push(Rec::of(&m));
        n += 1;
    }
    consumer.commit_consumer_state(CommitMode::Sync)?;
    consumer.unsubscribe();
    drop(consumer);
    Ok(got)
}

/// The move this test is about, from `flow.source` to `flow.target`: see the file's doc.
fn mirror_and_move(
    flow: &Flow,
    topics: &[&str],
    count: usize,
    dir: &std::path::Path,
) -> anyhow::Result<()> {
    let (source, target) = (flow.source, flow.target);
    let group = format!("{}-readers", flow.source_alias);
    let mut client = RawClient::connect(source)?;
    let all: Vec<Vec<Rec>> = topics.iter().map(|t| records_for(t, count)).collect();
    // The group reads a bit more than half: partitions stop at different offsets.
    let first = count / 2 + 1;
    let (prod, _) = producer(source, &[])?;
    for (topic, records) in topics.iter().zip(&all) {
        let (code, message) = client.create_topic(topic, PARTITIONS, &[RETENTION])?;
        anyhow::ensure!(code == 0, "creating {topic}: {code} {message}");
        client.wait_for_topic(topic)?;
        produce_all(&prod, topic, &records[..first])?;
    }
    // A topic that gains a partition while MirrorMaker runs (no group reads it).
    let grown = format!("{}-grown", topics[0]);
    let (code, message) = client.create_topic(&grown, 1, &[])?;
    anyhow::ensure!(code == 0, "creating {grown}: {code} {message}");
    client.wait_for_topic(&grown)?;
    let grown_records: Vec<Rec> = records_for(&grown, 20)
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.partition = (i >= 10) as i32;
            r
        })
        .collect();
    produce_all(&prod, &grown, &grown_records[..10])?;
    let read = consume_and_commit(source, &group, topics, first * topics.len())?;
    let read_count: usize = read.values().map(Vec::len).sum();
    assert_eq!(read_count, first * topics.len());
    let position = per_partition(&all[0][..first]);
    for topic in topics {
        assert_eq!(
            committed_offsets(source, &group, topic, PARTITIONS)?,
            position
        );
    }

    let started = Instant::now();
    let mut mm = MirrorMaker::start(
        &format!("mm2-{}", flow.source_alias),
        &flow.properties()?,
        dir,
    )?;
    // Topics, records, checkpoint and the group's offsets written on the target: the group
    // has its position there before anything else is produced.
    until(&mut mm, "the group's position on the target", || {
        for topic in topics {
            if committed_offsets(target, &group, topic, PARTITIONS)? != position {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    println!(
        "{} -> {}: group {group} at {position:?} on the target {:?} after MirrorMaker started",
        flow.source_alias,
        flow.target_alias,
        started.elapsed()
    );

    // The rest, produced while MirrorMaker runs.
    for (topic, records) in topics.iter().zip(&all) {
        produce_all(&prod, topic, &records[first..])?;
    }
    let ends = per_partition(&all[0]);
    until(&mut mm, "every record on the target", || {
        for topic in topics {
            if end_offsets(target, topic, PARTITIONS)? != ends {
                return Ok(false);
            }
        }
        Ok(true)
    })?;
    println!(
        "{} -> {}: {} records copied {:?} after MirrorMaker started",
        flow.source_alias,
        flow.target_alias,
        count * topics.len(),
        started.elapsed()
    );
    for (topic, records) in topics.iter().zip(&all) {
        assert_eq!(
            partition_count(target, topic)?,
            PARTITIONS as usize,
            "{topic}"
        );
        let got = consume_all(target, topic, PARTITIONS, records.len(), TIMEOUT)?;
        gregor_itests::clients::assert_records_match(records, &got, PARTITIONS);
        // The one config set on the source is the one set on the target: MirrorMaker copies
        // what DescribeConfigs calls set on the topic, so a default reported as set would be
        // copied too.
        let retention = BTreeMap::from([(RETENTION.0.to_string(), RETENTION.1.to_string())]);
        assert_eq!(
            topic_overrides(source, topic)?,
            retention,
            "{topic} on the source"
        );
        assert_eq!(
            topic_overrides(target, topic)?,
            retention,
            "{topic} on the target"
        );
    }
    // The new partition: MirrorMaker adds it on the target (CreatePartitions) and copies it.
    until(&mut mm, &format!("{grown} copied"), || {
        Ok(end_offsets(target, &grown, 1)? == [10])
    })?;
    add_partitions(source, &grown, 2)?;
    // A new producer, whose first metadata has the new partition.
    let (grown_producer, _) = producer(source, &[])?;
    produce_all(&grown_producer, &grown, &grown_records[10..])?;
    until(
        &mut mm,
        &format!("{grown}'s second partition on the target"),
        || Ok(partition_count(target, &grown)? == 2 && end_offsets(target, &grown, 2)? == [10, 10]),
    )?;
    let got = consume_all(target, &grown, 2, grown_records.len(), TIMEOUT)?;
    gregor_itests::clients::assert_records_match(&grown_records, &got, 2);
    // The offsets held by the group stay where they were (the group did not move on).
    for topic in topics {
        assert_eq!(
            committed_offsets(target, &group, topic, PARTITIONS)?,
            position
        );
    }
    let log = mm.log();
    mm.stop()?;

    // The group moves: a member on the target reads exactly what it had not read.
    let rest = consume_and_commit(target, &group, topics, (count - first) * topics.len())?;
    for (topic, records) in topics.iter().zip(&all) {
        for p in 0..PARTITIONS {
            let want: Vec<(i64, &[u8], &[u8])> = records
                .iter()
                .filter(|r| r.partition == p)
                .enumerate()
                .skip(position[p as usize] as usize)
                .map(|(i, r)| (i as i64, &r.key[..], &r.value[..]))
                .collect();
            let have: Vec<(i64, &[u8], &[u8])> = rest
                .get(&(topic.to_string(), p))
                .map(|v| {
                    v.iter()
                        .map(|r| (r.offset, &r.key[..], &r.value[..]))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(have, want, "{topic}-{p}: what the moved group reads");
        }
    }
    // MirrorMaker met no ACL authorizer on the source (SECURITY_DISABLED, from Gregor as from
    // a Kafka without one) and went on without syncing ACLs.
    assert!(
        log.contains("No ACL authorizer is configured on the source"),
        "MirrorMaker's log tells of no authorizer"
    );
    Ok(())
}

/// Gregor to Kafka: the migration the README describes.
#[test]
fn mirror_maker_moves_topics_and_a_group_from_gregor_to_kafka() -> anyhow::Result<()> {
    println!("MirrorMaker {MM2_VERSION}, Apache Kafka 4.4.0");
    let dir = scratch()?;
    let gregor = gregor()?;
    let kafka = kafka()?;
    let flow = Flow {
        fixture: "mm2.properties",
        source_alias: "gregor",
        source: &gregor.bootstrap,
        target_alias: "kafka",
        target: &kafka.bootstrap,
        target_is_kafka: true,
    };
    let count = if full() { 3000 } else { 120 };
    let outcome = mirror_and_move(&flow, &["orders", "payments"], count, dir.path());
    keep_logs(&dir, &[&gregor, &kafka]);
    let stopped = (gregor.stop(), kafka.stop());
    outcome?;
    stopped.0?;
    stopped.1?;
    Ok(())
}

/// Kafka to Gregor (`GREGOR_MM2_FULL=1`): a sample of a cluster's topics for local development.
#[test]
fn mirror_maker_brings_topics_and_a_group_from_kafka_to_gregor() -> anyhow::Result<()> {
    if !full() {
        println!("skipped: GREGOR_MM2_FULL=1 runs it");
        return Ok(());
    }
    let dir = scratch()?;
    let gregor = gregor()?;
    let kafka = kafka()?;
    let flow = Flow {
        fixture: "mm2-kafka-to-gregor.properties",
        source_alias: "kafka",
        source: &kafka.bootstrap,
        target_alias: "gregor",
        target: &gregor.bootstrap,
        target_is_kafka: false,
    };
    let outcome = mirror_and_move(&flow, &["clicks", "searches"], 3000, dir.path());
    keep_logs(&dir, &[&gregor, &kafka]);
    let stopped = (gregor.stop(), kafka.stop());
    outcome?;
    stopped.0?;
    stopped.1?;
    Ok(())
}

/// A producer thread sending numbered records (`seq` in the value) round-robin into the
/// partitions of `topic` until `stop`; returns how many were acknowledged.
fn stream(
    bootstrap: String,
    topic: &'static str,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<anyhow::Result<usize>> {
    std::thread::spawn(move || {
        let (prod, acks) = producer(
            &bootstrap,
            &[
                ("enable.idempotence", "true"),
                ("message.timeout.ms", "120000"),
            ],
        )?;
        let mut seq = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let batch: Vec<Rec> = make_records(100, PARTITIONS, 8)
                .into_iter()
                .enumerate()
                .map(|(i, mut r)| {
                    r.value = format!("{:08}", seq + i).into_bytes();
                    r.key = format!("k{}", seq + i).into_bytes();
                    r
                })
                .collect();
            produce_all(&prod, topic, &batch)?;
            seq += batch.len();
            std::thread::sleep(Duration::from_millis(20));
        }
        let acked = acks.0.lock().unwrap().len();
        Ok(acked)
    })
}

/// Every value of each partition of `topic`, in offset order.
fn values(bootstrap: &str, topic: &str, count: usize) -> anyhow::Result<Vec<Vec<Vec<u8>>>> {
    let got = consume_all(bootstrap, topic, PARTITIONS, count, TIMEOUT)?;
    Ok((0..PARTITIONS)
        .map(|p| {
            got.get(&p)
                .map(|v| v.iter().map(|r| r.value.clone()).collect())
                .unwrap_or_default()
        })
        .collect())
}

/// Waits until Gregor holds `grown` records of the stream more than at the last mark, then
/// until Kafka holds at least as many as Gregor did then; prints the duplicates Kafka holds
/// so far (records of the stream are numbered: a value seen before is one copied again).
fn mark(
    mm: &mut MirrorMaker,
    gregor: &str,
    kafka: &str,
    last: &mut i64,
    what: &str,
) -> anyhow::Result<usize> {
    const TOPIC: &str = "events";
    const GROWN: i64 = 3000;
    let total =
        |b: &str| -> anyhow::Result<i64> { Ok(end_offsets(b, TOPIC, PARTITIONS)?.iter().sum()) };
    let mut now = 0;
    until(mm, "the stream growing on Gregor", || {
        now = total(gregor)?;
        Ok(now >= *last + GROWN)
    })?;
    *last = now;
    until(mm, what, || Ok(total(kafka)? >= now))?;
    let on_kafka = values(kafka, TOPIC, total(kafka)? as usize)?;
    let mut seen = std::collections::HashSet::new();
    let duplicates = on_kafka
        .iter()
        .flatten()
        .filter(|v| !seen.insert(*v))
        .count();
    println!("{what}: Kafka has the {now} records Gregor had, {duplicates} duplicates so far");
    Ok(duplicates)
}

/// Failure cases (`GREGOR_MM2_FULL=1`): a stream into Gregor mirrored to Kafka while Gregor is
/// killed with SIGKILL and restarted, MirrorMaker is stopped and started, and MirrorMaker is
/// killed and started. Afterwards Kafka holds every record Gregor holds, in Gregor's order per
/// partition, with repeats only of records copied again (at-least-once); they are counted.
#[test]
fn mirror_maker_survives_gregor_kill9_and_its_own_restarts() -> anyhow::Result<()> {
    if !full() {
        println!("skipped: GREGOR_MM2_FULL=1 runs it");
        return Ok(());
    }
    const TOPIC: &str = "events";
    let dir = scratch()?;
    let mut gregor = gregor()?;
    let kafka = kafka()?;
    let g = gregor.bootstrap.clone();
    let k = kafka.bootstrap.clone();
    let flow = Flow {
        fixture: "mm2.properties",
        source_alias: "gregor",
        source: &g,
        target_alias: "kafka",
        target: &k,
        target_is_kafka: true,
    };
    let mut client = RawClient::connect(&g)?;
    let (code, message) = client.create_topic(TOPIC, PARTITIONS, &[])?;
    anyhow::ensure!(code == 0, "creating {TOPIC}: {code} {message}");
    client.wait_for_topic(TOPIC)?;
    drop(client);
    let stop = Arc::new(AtomicBool::new(false));
    let producing = stream(g.clone(), TOPIC, stop.clone());
    let properties = flow.properties()?;
    let mut mm = MirrorMaker::start("mm2-1", &properties, dir.path())?;
    let mut last = 0;
    mark(&mut mm, &g, &k, &mut last, "copying before the crash")?;
    gregor.restart(true)?;
    println!("Gregor killed with SIGKILL and restarted");
    mark(&mut mm, &g, &k, &mut last, "copying after Gregor's restart")?;
    mm.stop()?;
    let mut mm = MirrorMaker::start("mm2-2", &properties, dir.path())?;
    mark(
        &mut mm,
        &g,
        &k,
        &mut last,
        "copying after MirrorMaker's restart",
    )?;
    mm.kill9()?;
    let mut mm = MirrorMaker::start("mm2-3", &properties, dir.path())?;
    mark(
        &mut mm,
        &g,
        &k,
        &mut last,
        "copying after MirrorMaker's SIGKILL",
    )?;
    stop.store(true, Ordering::Relaxed);
    let acked = producing.join().expect("producer thread")?;
    let source_ends = end_offsets(&g, TOPIC, PARTITIONS)?;
    let held: i64 = source_ends.iter().sum();
    until(&mut mm, "the last records on Kafka", || {
        let ends = end_offsets(&k, TOPIC, PARTITIONS)?;
        Ok(ends.iter().zip(&source_ends).all(|(k, g)| k >= g) && ends.iter().sum::<i64>() >= held)
    })?;
    // Settled: nothing more arrives once MirrorMaker stops.
    mm.stop()?;
    let target_ends = end_offsets(&k, TOPIC, PARTITIONS)?;
    let on_gregor = values(&g, TOPIC, held as usize)?;
    let on_kafka = values(&k, TOPIC, target_ends.iter().sum::<i64>() as usize)?;
    let mut duplicates = 0;
    for p in 0..PARTITIONS as usize {
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<&Vec<u8>> = on_kafka[p].iter().filter(|v| seen.insert(*v)).collect();
        let want: Vec<&Vec<u8>> = on_gregor[p].iter().collect();
        assert_eq!(
            distinct, want,
            "partition {p}: Kafka holds Gregor's records in order"
        );
        duplicates += on_kafka[p].len() - on_gregor[p].len();
    }
    // Every acknowledged record survived Gregor's SIGKILL (the idempotent producer may have
    // had more acknowledged than it counted before the restart; never fewer are held).
    assert!(
        held as usize >= acked,
        "Gregor holds {held} of {acked} acknowledged records"
    );
    println!(
        "failure cases: {acked} records acknowledged, {held} on Gregor, {} on Kafka: {duplicates} \
         duplicates from MirrorMaker copying again after its restarts",
        target_ends.iter().sum::<i64>()
    );
    keep_logs(&dir, &[&gregor, &kafka]);
    gregor.stop()?;
    kafka.stop()?;
    Ok(())
}

/// Throughput (`GREGOR_MM2_THROUGHPUT=1`): 1 GiB of 1 KiB records (or
/// `GREGOR_MM2_THROUGHPUT_MIB`) produced into three partitions on Gregor, then mirrored to
/// Kafka by a MirrorMaker started on them; prints the time from its start and the rate from
/// the first record on Kafka to the last. `GREGOR_MM2_THROUGHPUT_SET="k=v;k=v"` adds properties.
#[test]
fn mirror_maker_throughput_gregor_to_kafka() -> anyhow::Result<()> {
    if !std::env::var("GREGOR_MM2_THROUGHPUT").is_ok_and(|v| v == "1") {
        println!("skipped: GREGOR_MM2_THROUGHPUT=1 runs it");
        return Ok(());
    }
    const TOPIC: &str = "bulk";
    const RECORD: usize = 1024;
    let mib: usize = std::env::var("GREGOR_MM2_THROUGHPUT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let count = mib * 1024 * 1024 / RECORD;
    let dir = scratch()?;
    let gregor = gregor()?;
    let kafka = kafka()?;
    let (g, k) = (gregor.bootstrap.clone(), kafka.bootstrap.clone());
    let mut client = RawClient::connect(&g)?;
    let (code, message) = client.create_topic(TOPIC, PARTITIONS, &[])?;
    anyhow::ensure!(code == 0, "creating {TOPIC}: {code} {message}");
    client.wait_for_topic(TOPIC)?;
    let (prod, _) = producer(
        &g,
        &[
            ("linger.ms", "20"),
            ("batch.size", "1000000"),
            ("acks", "1"),
        ],
    )?;
    let produced = Instant::now();
    let mut sent = 0;
    while sent < count {
        let chunk = (count - sent).min(10_000);
        let batch: Vec<Rec> = make_records(chunk, PARTITIONS, RECORD)
            .into_iter()
            .map(|mut r| {
                r.headers.clear();
                r
            })
            .collect();
        produce_all(&prod, TOPIC, &batch)?;
        sent += chunk;
    }
    let source_ends = end_offsets(&g, TOPIC, PARTITIONS)?;
    anyhow::ensure!(source_ends.iter().sum::<i64>() == count as i64);
    println!(
        "throughput: {count} records of {RECORD} B ({mib} MiB) produced into Gregor in {:?}",
        produced.elapsed()
    );
    let flow = Flow {
        fixture: "mm2.properties",
        source_alias: "gregor",
        source: &g,
        target_alias: "kafka",
        target: &k,
        target_is_kafka: true,
    };
    // Properties to try on top of the file's (later keys win), one `key=value` per `;`.
    let extra = std::env::var("GREGOR_MM2_THROUGHPUT_SET").unwrap_or_default();
    let properties = format!("{}{}\n", flow.properties()?, extra.replace(';', "\n"));
    if !extra.is_empty() {
        println!("throughput: with {extra}");
    }
    let started = Instant::now();
    let mut mm = MirrorMaker::start("mm2-throughput", &properties, dir.path())?;
    let total =
        |b: &str| -> anyhow::Result<i64> { Ok(end_offsets(b, TOPIC, PARTITIONS)?.iter().sum()) };
    let long = Duration::from_secs(3600);
    until_within(&mut mm, "the first record on Kafka", long, || {
        Ok(total(&k)? > 0)
    })?;
    let first = started.elapsed();
    until_within(&mut mm, "every record on Kafka", long, || {
        Ok(end_offsets(&k, TOPIC, PARTITIONS)? == source_ends)
    })?;
    let done = started.elapsed();
    mm.stop()?;
    let bytes = (count * RECORD) as f64;
    let copying = (done - first).as_secs_f64();
    println!(
        "throughput: MirrorMaker {MM2_VERSION} Gregor -> Kafka 4.4.0: {mib} MiB in {done:?} from \
         its start (first record after {first:?}): {:.1} MB/s while copying, {:.1} MB/s overall",
        bytes / copying / 1e6,
        bytes / done.as_secs_f64() / 1e6
    );
    keep_logs(&dir, &[&gregor, &kafka]);
    gregor.stop()?;
    kafka.stop()?;
    Ok(())
}

/// The README shows the properties file the tests run, as it is.
#[test]
fn readme_shows_the_mm2_properties_the_test_runs() -> anyhow::Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let shown = format!("```properties\n{}```", fixture("mm2.properties")?);
    assert!(
        readme.contains(&shown),
        "README.md's \"Moving to a Kafka cluster\" shows itests/fixtures/mm2.properties"
    );
    Ok(())
}
