//! The many-groups rows (issue 21): 1,000 groups of 3 members, each member committing its
//! partition's offset once a second, as raw-socket clients (one connection per member, 3,000 in
//! all, over a few threads) rather than 3,000 rdkafka consumers, which this machine could not
//! run without measuring themselves. The commits are Kafka's simple (admin-style) commits:
//! OffsetCommit v8 with generation -1 and no member id to a group that has no members, so no
//! group rebalances; what is measured is the coordinator's commit path (validation, the append
//! to `__consumer_offsets`, the cache). Then a closed-loop row: connections committing back to
//! back, one commit in flight each, for the commits/s the coordinator sustains. Kafka's
//! counterpart is `GroupCoordinator.commitOffsets` on the same request.
//!
//! Both sides do the same work: Kafka 4.4 answers the first such commit to an unknown group by
//! creating a simple classic group (`OffsetMetadataManager.validateOffsetCommit`, generation <
//! 0), which the untimed first commit of each member takes care of; every timed commit is then
//! one offset record appended to `__consumer_offsets` (replication factor 1, its coordinator's
//! adaptive `group.coordinator.append.linger.ms=-1` default) before the answer. Gregor
//! appends the same record through its coordinator's writer thread, also without fsync.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gregor_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use gregor_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_protocol::messages::{
    ApiKey, FindCoordinatorResponse, GroupId, OffsetCommitRequest, OffsetCommitResponse, TopicName,
};
use gregor_protocol::StrBytes;

use super::brokers::Kind;
use super::procfs;
use super::report::{Better, Metric, Samples, Target};
use crate::raw::RawClient;

/// Groups in the fixed-rate row.
pub const GROUPS: usize = 1_000;
/// Members of each group; member `i` commits partition `i`.
pub const MEMBERS: usize = 3;
/// Seconds the fixed-rate row runs.
const RUN_SECS: u32 = 10;
/// Threads the members are spread over (each serves its members' commits in turn).
const THREADS: usize = 10;
/// Connections of the closed-loop row.
const CLOSED_LOOP_CONNECTIONS: usize = 8;
/// Length of the closed-loop row.
const CLOSED_LOOP_RUN: Duration = Duration::from_secs(3);
/// OffsetCommit version sent: flexible, topics by name, before KIP-848's member epochs.
const COMMIT_VERSION: i16 = 8;
/// The topic the offsets are for.
const TOPIC: &str = "groups-commit";
/// How long `__consumer_offsets` may take to come up (Kafka creates it on first use).
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The rows, in table order.
pub fn metrics() -> Vec<Metric> {
    let rate = format!(
        "{GROUPS} groups of {MEMBERS} members, each committing once a second (raw sockets, \
         simple commits)"
    );
    let row = |key: &str, label: String, unit, better, target| Metric {
        key: key.into(),
        label,
        unit,
        better,
        target,
    };
    vec![
        row(
            "groups_commit_p50_ms",
            format!("{rate}: commit latency p50"),
            "ms",
            Better::Lower,
            Target::None,
        ),
        row(
            "groups_commit_p99_ms",
            format!("{rate}: commit latency p99"),
            "ms",
            Better::Lower,
            Target::None,
        ),
        row(
            "groups_commit_p999_ms",
            format!("{rate}: commit latency p99.9"),
            "ms",
            Better::Lower,
            Target::None,
        ),
        row(
            "groups_cpu_per_s",
            format!("{rate}: broker CPU per second of the run"),
            "CPU s/s",
            Better::Lower,
            Target::None,
        ),
        row(
            "groups_commits_per_s",
            format!("{rate}: commits/s delivered (offered {})", GROUPS * MEMBERS),
            "commits/s",
            Better::Higher,
            Target::None,
        ),
        row(
            "raw_commits_per_s",
            format!(
                "Offset commits/s, {CLOSED_LOOP_CONNECTIONS} raw connections committing back \
                 to back (one in flight each)"
            ),
            "commits/s",
            Better::Higher,
            Target::RatioAtLeast(3.0),
        ),
        row(
            "raw_commits_cpu_per_k",
            "Broker CPU per 1,000 offset commits, closed loop".into(),
            "s",
            Better::Lower,
            Target::None,
        ),
    ]
}

/// What the workload paragraph says about the rows.
pub fn workload_text() -> String {
    format!(
        "Groups: {GROUPS} groups of {MEMBERS} raw-socket members (one connection each, over \
         {THREADS} threads), each member committing one offset of its own partition of a \
         {MEMBERS}-partition topic once a second, evenly spread over the second, for {RUN_SECS} \
         s after one untimed commit each; OffsetCommit v{COMMIT_VERSION} with generation -1 and \
         no member id (Kafka's simple commits: the groups have no members and never \
         rebalance); latency from each request's send to its response. Closed loop: \
         {CLOSED_LOOP_CONNECTIONS} connections of a group each committing back to back for {} \
         s.",
        CLOSED_LOOP_RUN.as_secs()
    )
}

/// One member's commit request.
fn commit_request(group: &str, partition: i32, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_retention_time_ms(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)])])
}

/// Commits and returns the partition's error code.
fn commit(client: &mut RawClient, group: &str, partition: i32, offset: i64) -> anyhow::Result<i16> {
    let response: OffsetCommitResponse = client.call(
        ApiKey::OffsetCommit,
        COMMIT_VERSION,
        &commit_request(group, partition, offset),
    )?;
    response
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map(|p| p.error_code)
        .context("an OffsetCommit response without the partition")
}

fn group(i: usize) -> String {
    format!("bench-groups-{i:04}")
}

/// Both rows against the broker `pid` at `bootstrap`; samples added as `kind`.
pub fn round(bootstrap: &str, pid: u32, kind: Kind, samples: &mut Samples) -> anyhow::Result<()> {
    let mut admin = RawClient::connect(bootstrap)?;
    let (code, message) = admin.create_topic(TOPIC, MEMBERS as i32, &[])?;
    if code != 0 && code != 36 {
        bail!("creating {TOPIC}: error {code} {message}");
    }
    admin.wait_for_topic(TOPIC)?;
    wait_for_coordinator(&mut admin)?;

    // Connections, and one untimed commit each.
    let mut members = Vec::with_capacity(GROUPS * MEMBERS);
    for g in 0..GROUPS {
        for m in 0..MEMBERS {
            let mut client = RawClient::connect(bootstrap)?;
            client.set_read_timeout(Duration::from_secs(30))?;
            let name = group(g);
            let code = commit(&mut client, &name, m as i32, 0)?;
            if code != 0 {
                bail!("the first commit of {name}: error {code}");
            }
            members.push(Member {
                client,
                group: name,
                partition: m as i32,
            });
        }
    }

    let (cpu0, own0) = (procfs::cpu_seconds(pid)?, own_cpu()?);
    let started = Instant::now() + Duration::from_millis(100);
    let total = members.len();
    let mut threads = Vec::new();
    let per_thread = total.div_ceil(THREADS);
    let mut index = 0;
    while !members.is_empty() {
        let take = per_thread.min(members.len());
        let mine: Vec<(usize, Member)> = members
            .drain(..take)
            .enumerate()
            .map(|(i, m)| (index + i, m))
            .collect();
        index += take;
        threads.push(std::thread::spawn(move || fixed_rate(mine, total, started)));
    }
    let mut latencies = Vec::with_capacity(total * RUN_SECS as usize);
    for t in threads {
        let mine = t
            .join()
            .map_err(|_| anyhow::anyhow!("a member thread panicked"))??;
        latencies.extend(mine);
    }
    let elapsed = started.elapsed();
    let (cpu1, own1) = (procfs::cpu_seconds(pid)?, own_cpu()?);
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let (p50, p99, p999) = (at(0.5), at(0.99), at(0.999));
    let delivered = latencies.len() as f64 / elapsed.as_secs_f64();
    eprintln!(
        "bench:   groups: {} commits in {:.2} s ({delivered:.0}/s), latency p50 {p50:.3} ms, \
         p99 {p99:.3} ms, p99.9 {p999:.3} ms, max {:.3} ms; CPU s: broker {:.2}, load \
         generator {:.2}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.last().copied().unwrap_or_default(),
        cpu1 - cpu0,
        own1 - own0
    );
    samples.add("groups_commit_p50_ms", kind, p50);
    samples.add("groups_commit_p99_ms", kind, p99);
    samples.add("groups_commit_p999_ms", kind, p999);
    samples.add(
        "groups_cpu_per_s",
        kind,
        (cpu1 - cpu0) / elapsed.as_secs_f64(),
    );
    samples.add("groups_commits_per_s", kind, delivered);

    let (cpu0, own0) = (procfs::cpu_seconds(pid)?, own_cpu()?);
    let (commits, elapsed) = closed_loop(bootstrap)?;
    let (cpu1, own1) = (procfs::cpu_seconds(pid)?, own_cpu()?);
    let rate = commits as f64 / elapsed.as_secs_f64();
    eprintln!(
        "bench:   closed-loop commits: {rate:.0}/s over {CLOSED_LOOP_CONNECTIONS} connections; \
         CPU s: broker {:.2}, load generator {:.2}",
        cpu1 - cpu0,
        own1 - own0
    );
    samples.add("raw_commits_per_s", kind, rate);
    samples.add(
        "raw_commits_cpu_per_k",
        kind,
        (cpu1 - cpu0) / commits as f64 * 1000.0,
    );
    Ok(())
}

/// One member: its connection, group and partition.
struct Member {
    client: RawClient,
    group: String,
    partition: i32,
}

/// Kafka answers COORDINATOR_NOT_AVAILABLE until it has created `__consumer_offsets`.
fn wait_for_coordinator(client: &mut RawClient) -> anyhow::Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![StrBytes::from_string(group(0))]);
        let response: FindCoordinatorResponse =
            client.call(ApiKey::FindCoordinator, 4, &request)?;
        let ready = response
            .coordinators
            .first()
            .is_some_and(|c| c.error_code == 0);
        if ready && commit(client, &group(0), 0, 0)? == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no group coordinator within {READY_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each member commits once a second at its slot (`index / total` of the second) for
/// [`RUN_SECS`]; returns the latencies in ms.
fn fixed_rate(
    mut members: Vec<(usize, Member)>,
    total: usize,
    started: Instant,
) -> anyhow::Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(members.len() * RUN_SECS as usize);
    for second in 0..RUN_SECS {
        for (index, m) in &mut members {
            let due = started
                + Duration::from_secs(second.into())
                + Duration::from_secs(1).mul_f64(*index as f64 / total as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let sent = Instant::now();
            let code = commit(&mut m.client, &m.group, m.partition, i64::from(second) + 1)?;
            latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            if code != 0 {
                bail!("a commit of {}: error {code}", m.group);
            }
        }
    }
    Ok(latencies)
}

/// Connections committing back to back for [`CLOSED_LOOP_RUN`]; the commits and the time.
fn closed_loop(bootstrap: &str) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let threads: Vec<_> = (0..CLOSED_LOOP_CONNECTIONS)
        .map(|c| {
            let bootstrap = bootstrap.to_string();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut client = RawClient::connect(&bootstrap)?;
                let name = group(c);
                let mut offset = 100;
                while started.elapsed() < CLOSED_LOOP_RUN {
                    let code = commit(&mut client, &name, 0, offset)?;
                    if code != 0 {
                        bail!("a commit of {name}: error {code}");
                    }
                    offset += 1;
                }
                Ok(offset as u64 - 100)
            })
        })
        .collect();
    let mut commits = 0;
    for t in threads {
        commits += t
            .join()
            .map_err(|_| anyhow::anyhow!("a commit thread panicked"))??;
    }
    Ok((commits, started.elapsed()))
}

/// CPU seconds this process (the load generator) has used.
fn own_cpu() -> anyhow::Result<f64> {
    procfs::cpu_seconds(std::process::id())
}
