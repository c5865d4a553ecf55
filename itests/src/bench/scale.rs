//! The many-partitions row (issue 21): one broker of its own given 10,000 partitions over 100
//! topics, then what they cost idle (resident memory, file descriptors and mappings per
//! partition, from `/proc`), how long Metadata for all topics takes, that one Produce per topic
//! and one Fetch of every partition work, and how long a restart after a clean stop takes to
//! answer its first Metadata. Raw-socket requests throughout (`crate::raw`): no client library
//! sits between the figures and the broker. Kafka's counterpart is a cluster sized by
//! partitions, where each costs a log segment and two index mappings.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use gregor_protocol::messages::create_topics_request::CreatableTopic;
use gregor_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse, TopicName,
};
use gregor_protocol::StrBytes;
use gregor_record::BatchBuilder;

use super::brokers::{Kind, Launcher, Running};
use super::procfs;
use super::report::{Better, Metric, Samples, Target};
use crate::raw::RawClient;

/// Topics created.
pub const TOPICS: usize = 100;
/// Partitions of each topic by default.
pub const PARTITIONS_PER_TOPIC: i32 = 100;
/// Names the partitions in all, instead of 10,000 (a multiple of [`TOPICS`]), for a run at
/// another scale; 50,000 needs `vm.max_map_count` raised (each partition maps three files).
const PARTITIONS_VAR: &str = "GREGOR_BENCH_SCALE_PARTITIONS";

/// Partitions of each topic in this run.
fn partitions_per_topic() -> i32 {
    std::env::var(PARTITIONS_VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(PARTITIONS_PER_TOPIC, |n| (n / TOPICS).max(1) as i32)
}

/// Partitions in all in this run.
fn partitions() -> usize {
    TOPICS * partitions_per_topic() as usize
}
/// Topics per CreateTopics request.
const TOPICS_PER_CREATE: usize = 10;
/// Metadata-for-all-topics requests timed.
const METADATA_CALLS: usize = 20;
/// Quiet time before idle figures are read, so lazily created files and a JVM's start-up
/// garbage have settled.
const SETTLE: Duration = Duration::from_secs(3);
/// Longest the broker may take to lead every partition, or to take a write in each (Kafka 4.4
/// on two busy cores led 6,000 of 10,000 in 180 s).
const READY_TIMEOUT: Duration = Duration::from_secs(600);
/// Value bytes of the one record each partition is given.
const RECORD_BYTES: usize = 100;
/// Error codes a new partition answers while its leader is being set up (Kafka):
/// NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION.
const NOT_READY: [i16; 3] = [6, 5, 3];

const MIB: f64 = (1u64 << 20) as f64;
const KIB: f64 = 1024.0;

/// The rows, in table order.
pub fn metrics() -> Vec<Metric> {
    let n = format!("{} partitions over {TOPICS} topics", partitions());
    let row = |key: &str, label: String, unit, better, target| Metric {
        key: key.into(),
        label: format!("Scale ({n}): {label}"),
        unit,
        better,
        target,
    };
    vec![
        row(
            "scale_create_s",
            "creating them (CreateTopics) until Metadata shows every partition led".into(),
            "s",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_idle_rss_mib",
            "idle RSS".into(),
            "MiB",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_rss_per_partition_kib",
            "RSS per idle partition (RSS growth over the empty broker's / partitions)".into(),
            "KiB",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_fds_per_partition",
            "file descriptors per partition (/proc/PID/fd)".into(),
            "fds",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_maps_per_partition",
            "memory mappings per partition (/proc/PID/maps)".into(),
            "maps",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_metadata_all_ms",
            format!("Metadata for all topics, median of {METADATA_CALLS}"),
            "ms",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_produce_all_ms",
            format!("one record to every partition ({TOPICS} Produce requests, acks=1)"),
            "ms",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_fetch_all_ms",
            "one Fetch of every partition from offset 0".into(),
            "ms",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_written_rss_mib",
            "RSS after every partition took a record".into(),
            "MiB",
            Better::Lower,
            Target::None,
        ),
        row(
            "scale_restart_ms",
            "restart after a clean stop, to the first Metadata".into(),
            "ms",
            Better::Lower,
            Target::None,
        ),
    ]
}

/// What the workload paragraph says about the row.
pub fn workload_text() -> String {
    let (total, per_topic) = (partitions(), partitions_per_topic());
    format!(
        "Scale: a broker of its own (default settings, so Kafka's segment.bytes of 1 GiB and \
         10 MiB index files) given {TOPICS} topics of {per_topic} partitions by \
         CreateTopics v7 ({TOPICS_PER_CREATE} topics a request) over a raw socket; idle figures \
         {} s after the last partition is led; per-partition figures are the growth over the \
         same broker before the topics, divided by {total}; then one Produce v9 per topic \
         carrying one {RECORD_BYTES} B record for each of its partitions, one Fetch v12 of all \
         {total} from offset 0, and a SIGTERM restart; once, in the first round.",
        SETTLE.as_secs()
    )
}

/// Open descriptors and mappings of `pid`.
fn fds_and_maps(pid: u32) -> anyhow::Result<(usize, usize)> {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .context("reading /proc/PID/fd")?
        .count();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .context("reading /proc/PID/maps")?
        .lines()
        .count();
    Ok((fds, maps))
}

fn topic(i: usize) -> String {
    format!("scale-{i:03}")
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// The whole row against a broker started now from `launcher`; samples added as its kind.
pub fn round(
    launcher: &Launcher,
    samples: &mut Samples,
    pids: &mut Vec<u32>,
) -> anyhow::Result<()> {
    let mut broker = launcher.start()?;
    pids.push(broker.pid());
    let result = measure(&mut broker, samples);
    if result.is_err() {
        eprintln!(
            "bench:   scale: the broker's last log lines:\n{}",
            log_tail(&broker)
        );
    }
    let stopped = broker.stop();
    result?;
    stopped
}

fn measure(broker: &mut Running, samples: &mut Samples) -> anyhow::Result<()> {
    let total = partitions();
    let kind = broker.kind;
    let pid = broker.pid();
    std::thread::sleep(SETTLE);
    let empty = procfs::memory(pid)?;
    let (fds0, maps0) = fds_and_maps(pid)?;
    let mut client = RawClient::connect(&broker.bootstrap)?;
    client.set_read_timeout(Duration::from_secs(120))?;

    let started = Instant::now();
    create_all(&mut client)?;
    wait_all_led(&mut client)?;
    let created = started.elapsed();
    std::thread::sleep(SETTLE);
    let idle = procfs::memory(pid)?;
    let (fds, maps) = fds_and_maps(pid)?;
    let per = |now: usize, before: usize| now.saturating_sub(before) as f64 / total as f64;
    let rss_per_partition = idle.rss.saturating_sub(empty.rss) as f64 / total as f64;
    eprintln!(
        "bench:   scale: {total} partitions led {:.1} s after the first CreateTopics; idle \
         RSS {:.1} MiB (anon {:.1}) from {:.1} MiB empty: {:.1} KiB a partition; fds {fds0} -> \
         {fds}, mappings {maps0} -> {maps}",
        created.as_secs_f64(),
        idle.rss as f64 / MIB,
        idle.anon as f64 / MIB,
        empty.rss as f64 / MIB,
        rss_per_partition / KIB
    );
    samples.add("scale_create_s", kind, created.as_secs_f64());
    samples.add("scale_idle_rss_mib", kind, idle.rss as f64 / MIB);
    samples.add("scale_rss_per_partition_kib", kind, rss_per_partition / KIB);
    samples.add("scale_fds_per_partition", kind, per(fds, fds0));
    samples.add("scale_maps_per_partition", kind, per(maps, maps0));

    let metadata_ms = metadata_all(&mut client)?;
    samples.add("scale_metadata_all_ms", kind, metadata_ms);

    let cpu0 = procfs::cpu_seconds(pid)?;
    let produced = produce_all(&mut client)?;
    let fetched = fetch_all(&mut client)?;
    let written = procfs::memory(pid)?;
    eprintln!(
        "bench:   scale: Metadata for all topics {metadata_ms:.2} ms; a record to each \
         partition in {:.1} ms, all fetched back in {:.1} ms (broker CPU s {:.2}); RSS {:.1} \
         MiB (anon {:.1})",
        produced.as_secs_f64() * 1e3,
        fetched.as_secs_f64() * 1e3,
        procfs::cpu_seconds(pid)? - cpu0,
        written.rss as f64 / MIB,
        written.anon as f64 / MIB
    );
    samples.add("scale_produce_all_ms", kind, produced.as_secs_f64() * 1e3);
    samples.add("scale_fetch_all_ms", kind, fetched.as_secs_f64() * 1e3);
    samples.add("scale_written_rss_mib", kind, written.rss as f64 / MIB);
    drop(client);

    if kind != Kind::Kfake {
        broker.restart(false).context("restarting")?;
        let restarted = procfs::memory(broker.pid())?;
        eprintln!(
            "bench:   scale: restarted to the first Metadata in {:.1} ms; RSS then {:.1} MiB",
            broker.startup.as_secs_f64() * 1e3,
            restarted.rss as f64 / MIB
        );
        samples.add("scale_restart_ms", kind, broker.startup.as_secs_f64() * 1e3);
    }
    Ok(())
}

/// Creates every topic, [`TOPICS_PER_CREATE`] a request.
fn create_all(client: &mut RawClient) -> anyhow::Result<()> {
    let per_topic = partitions_per_topic();
    let names: Vec<String> = (0..TOPICS).map(topic).collect();
    for chunk in names.chunks(TOPICS_PER_CREATE) {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(60_000)
            .with_topics(
                chunk
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(name(t))
                            .with_num_partitions(per_topic)
                            .with_replication_factor(1)
                    })
                    .collect(),
            );
        let response: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 7, &request)?;
        for t in &response.topics {
            if t.error_code != 0 {
                bail!(
                    "creating {}: error {} {:?}",
                    t.name.as_str(),
                    t.error_code,
                    t.error_message
                );
            }
        }
    }
    Ok(())
}

fn metadata_all_request() -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false)
}

/// Waits until Metadata for all topics shows every partition with a leader.
fn wait_all_led(client: &mut RawClient) -> anyhow::Result<()> {
    let total = partitions();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let response: MetadataResponse =
            client.call(ApiKey::Metadata, 12, &metadata_all_request())?;
        let led = response
            .topics
            .iter()
            .filter(|t| t.error_code == 0)
            .flat_map(|t| &t.partitions)
            .filter(|p| p.error_code == 0 && p.leader_id.0 >= 0)
            .count();
        if led >= total {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{led} of {total} partitions led after {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Median time of Metadata for all topics, in ms.
fn metadata_all(client: &mut RawClient) -> anyhow::Result<f64> {
    let total = partitions();
    let mut times = Vec::with_capacity(METADATA_CALLS);
    for _ in 0..METADATA_CALLS {
        let started = Instant::now();
        let response: MetadataResponse =
            client.call(ApiKey::Metadata, 12, &metadata_all_request())?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        let partitions: usize = response.topics.iter().map(|t| t.partitions.len()).sum();
        if partitions < total {
            bail!("Metadata for all topics listed {partitions} partitions");
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// One Produce per topic, a one-record batch for each of its partitions; partitions a new
/// Kafka partition is not ready for yet are sent again. Returns the time until every
/// partition took its record.
fn produce_all(client: &mut RawClient) -> anyhow::Result<Duration> {
    let per_topic = partitions_per_topic();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut batch = BatchBuilder::new(now);
    batch.append(now, None, Some(&[b'x'; RECORD_BYTES]));
    let batch = Bytes::from(batch.build());
    let mut pending: Vec<(usize, Vec<i32>)> =
        (0..TOPICS).map(|t| (t, (0..per_topic).collect())).collect();
    let started = Instant::now();
    while !pending.is_empty() {
        let mut next = Vec::new();
        for (t, partitions) in &pending {
            let request = ProduceRequest::default()
                .with_acks(1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(name(&topic(*t)))
                    .with_partition_data(
                        partitions
                            .iter()
                            .map(|&p| {
                                PartitionProduceData::default()
                                    .with_index(p)
                                    .with_records(Some(batch.clone()))
                            })
                            .collect(),
                    )]);
            let response: ProduceResponse = client.call(ApiKey::Produce, 9, &request)?;
            let mut again = Vec::new();
            for r in response
                .responses
                .iter()
                .flat_map(|t| &t.partition_responses)
            {
                match r.error_code {
                    0 => {}
                    c if NOT_READY.contains(&c) => again.push(r.index),
                    c => bail!("produce to {} partition {}: error {c}", topic(*t), r.index),
                }
            }
            if !again.is_empty() {
                next.push((*t, again));
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            bail!("partitions of {} topics never took a write", next.len());
        }
        if !next.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
        pending = next;
    }
    Ok(started.elapsed())
}

/// One Fetch of every partition from offset 0; checks each returned its record.
fn fetch_all(client: &mut RawClient) -> anyhow::Result<Duration> {
    let (total, per_topic) = (partitions(), partitions_per_topic());
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(
            (0..TOPICS)
                .map(|t| {
                    FetchTopic::default()
                        .with_topic(name(&topic(t)))
                        .with_partitions(
                            (0..per_topic)
                                .map(|p| {
                                    FetchPartition::default()
                                        .with_partition(p)
                                        .with_current_leader_epoch(-1)
                                        .with_fetch_offset(0)
                                        .with_last_fetched_epoch(-1)
                                        .with_log_start_offset(-1)
                                        .with_partition_max_bytes(1 << 20)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
    let started = Instant::now();
    let response: FetchResponse = client.call(ApiKey::Fetch, 12, &request)?;
    let elapsed = started.elapsed();
    let with_records = response
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .filter(|p| p.error_code == 0 && p.records.as_ref().is_some_and(|r| !r.is_empty()))
        .count();
    if with_records != total {
        bail!("the Fetch of every partition returned records for {with_records}");
    }
    Ok(elapsed)
}

/// The broker log's last lines that say something went wrong, for a failed run.
fn log_tail(broker: &Running) -> String {
    let text = std::fs::read_to_string(broker.log_path()).unwrap_or_default();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("warn") || l.contains("too many")
        })
        .collect();
    bad[bad.len().saturating_sub(10)..].join("\n")
}
