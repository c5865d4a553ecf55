//! Consumer-group churn: five members of one group on a 12-partition topic are bounced again
//! and again (clean stop, `kill -9`, SIGSTOP past the session timeout then SIGCONT) while
//! records flow. Throughout, whenever the group is Stable no partition has two owners, and the
//! committed offsets never move backwards. Afterwards the group settles, every record was
//! consumed at least once, and in a last phase of clean handovers only, exactly once.
//!
//! CI runs 6 bounces; `GREGOR_CHURN_ROUNDS=60` (or more) for the long variant.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Buf;
use gregor_itests::clients::create_topic;
use gregor_itests::group::{wait_for_assignment, GroupMember};
use gregor_itests::raw::messages::{
    ApiKey, ConsumerProtocolAssignment, DescribeGroupsRequest, DescribeGroupsResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::codec::Decodable;
use gregor_protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TOPIC: &str = "churn";
const GROUP: &str = "churners";
const PARTITIONS: i32 = 12;
const SESSION_MS: u32 = 2_000;

fn rounds() -> usize {
    std::env::var("GREGOR_CHURN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

fn start_member(b: &str) -> anyhow::Result<GroupMember> {
    GroupMember::start(b, GROUP, TOPIC, "range", SESSION_MS)
}

/// Produces `{prefix}-{n}` round-robin until `stop`; returns how many were acknowledged.
fn produce(b: String, prefix: &'static str, stop: Arc<AtomicBool>) -> anyhow::Result<usize> {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let value = format!("{prefix}-{n}");
        let partition = (n % PARTITIONS as usize) as i32;
        if p.send(
            BaseRecord::<(), _>::to(TOPIC)
                .partition(partition)
                .payload(&value),
        )
        .is_ok()
        {
            n += 1;
        }
        p.poll(Duration::from_millis(2));
    }
    p.flush(Duration::from_secs(30)).context("flush")?;
    Ok(n)
}

/// Owners per partition in the group's current assignment, if the group is Stable.
fn stable_owners(client: &mut RawClient) -> anyhow::Result<Option<BTreeMap<i32, Vec<String>>>> {
    let request =
        DescribeGroupsRequest::default().with_groups(vec![StrBytes::from_static_str(GROUP).into()]);
    let response: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, 5, &request)?;
    let group = &response.groups[0];
    if group.group_state.as_str() != "Stable" {
        return Ok(None);
    }
    let mut owners: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for member in &group.members {
        let mut bytes = member.member_assignment.clone();
        if bytes.remaining() < 2 {
            continue;
        }
        let version = bytes.get_i16();
        let assignment = ConsumerProtocolAssignment::decode(&mut bytes, version)?;
        for topic in &assignment.assigned_partitions {
            for p in &topic.partitions {
                owners
                    .entry(*p)
                    .or_default()
                    .push(member.member_id.to_string());
            }
        }
    }
    Ok(Some(owners))
}

fn committed(watcher: &BaseConsumer) -> anyhow::Result<BTreeMap<i32, i64>> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        tpl.add_partition(TOPIC, p);
    }
    let got = watcher.committed_offsets(tpl, Duration::from_secs(5))?;
    Ok(got
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

/// Checks the invariants in the background until `stop`; returns how many Stable samples it
/// checked, or the first violation.
fn watch(b: String, stop: Arc<AtomicBool>, samples: Arc<AtomicUsize>) -> anyhow::Result<()> {
    let mut client = RawClient::connect(&b)?;
    let watcher: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", GROUP)
        .create()?;
    let mut high: BTreeMap<i32, i64> = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        if let Some(owners) = stable_owners(&mut client)? {
            if let Some((p, who)) = owners.iter().find(|(_, who)| who.len() > 1) {
                bail!(
                    "partition {p} has {} owners in one Stable generation: {who:?}",
                    who.len()
                );
            }
            samples.fetch_add(1, Ordering::Relaxed);
        }
        for (p, offset) in committed(&watcher)? {
            let before = high.entry(p).or_insert(offset);
            if offset < *before {
                bail!("committed offset of partition {p} moved back from {before} to {offset}");
            }
            *before = offset;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Every value `{prefix}-{0..count}` with how many times members delivered it.
fn deliveries(
    members: &[Arc<Mutex<gregor_itests::group::MemberLog>>],
    prefix: &str,
) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for log in members {
        for (_, _, value) in &log.lock().unwrap().records {
            if value.starts_with(prefix) {
                *seen.entry(value.clone()).or_insert(0) += 1;
            }
        }
    }
    seen
}

fn wait_consumed(
    logs: &[Arc<Mutex<gregor_itests::group::MemberLog>>],
    prefix: &str,
    count: usize,
) -> anyhow::Result<HashMap<String, usize>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = deliveries(logs, &format!("{prefix}-"));
        if seen.len() >= count {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = (0..count)
                .map(|i| format!("{prefix}-{i}"))
                .filter(|v| !seen.contains_key(v))
                .take(5)
                .collect();
            bail!(
                "{} of {count} {prefix} records consumed; missing e.g. {missing:?}",
                seen.len()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn group_survives_churn_without_double_ownership_or_loss() -> anyhow::Result<()> {
    let broker = TestBroker::start(&["--group-min-session-timeout-ms", "1000"])?;
    let b = broker.bootstrap();
    create_topic(&b, TOPIC, PARTITIONS).await?;
    let mut members: Vec<GroupMember> =
        (0..5).map(|_| start_member(&b)).collect::<Result<_, _>>()?;
    let mut logs: Vec<_> = members.iter().map(|m| m.log.clone()).collect();
    wait_for_assignment(
        &members.iter().collect::<Vec<_>>(),
        PARTITIONS,
        Duration::from_secs(30),
    )?;

    let stop_watch = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(AtomicUsize::new(0));
    let watcher = {
        let (b, stop, samples) = (b.clone(), stop_watch.clone(), samples.clone());
        std::thread::spawn(move || watch(b, stop, samples))
    };
    let stop_produce = Arc::new(AtomicBool::new(false));
    let producer = {
        let (b, stop) = (b.clone(), stop_produce.clone());
        std::thread::spawn(move || produce(b, "churn", stop))
    };

    let started = Instant::now();
    for round in 0..rounds() {
        let victim = round % members.len();
        match round % 3 {
            0 => members[victim].stop()?,
            1 => members[victim].kill9()?,
            _ => {
                // Frozen past its session timeout: the group moves on without it, and when it
                // wakes up it must find out and rejoin, not keep consuming as an owner.
                members[victim].signal("STOP")?;
                std::thread::sleep(Duration::from_millis(u64::from(SESSION_MS) + 1_000));
                members[victim].signal("CONT")?;
            }
        }
        if round % 3 != 2 {
            members[victim] = start_member(&b)?;
            logs.push(members[victim].log.clone());
        }
        wait_for_assignment(
            &members.iter().collect::<Vec<_>>(),
            PARTITIONS,
            Duration::from_secs(30),
        )
        .with_context(|| format!("round {round}"))?;
    }
    stop_produce.store(true, Ordering::Relaxed);
    let produced = producer.join().expect("producer thread")?;
    wait_consumed(&logs, "churn", produced)?;
    println!(
        "{} bounces in {:?}: {produced} records, each consumed at least once; {} Stable samples checked",
        rounds(),
        started.elapsed(),
        samples.load(Ordering::Relaxed)
    );

    // Clean handovers only: each record exactly once.
    let stop_produce = Arc::new(AtomicBool::new(false));
    let producer = {
        let (b, stop) = (b.clone(), stop_produce.clone());
        std::thread::spawn(move || produce(b, "clean", stop))
    };
    for round in 0..3 {
        members[round].stop()?;
        members[round] = start_member(&b)?;
        logs.push(members[round].log.clone());
        wait_for_assignment(
            &members.iter().collect::<Vec<_>>(),
            PARTITIONS,
            Duration::from_secs(30),
        )?;
    }
    stop_produce.store(true, Ordering::Relaxed);
    let produced = producer.join().expect("producer thread")?;
    let seen = wait_consumed(&logs, "clean", produced)?;
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "delivered more than once across clean handovers: {twice:?}"
    );
    println!("clean handovers: {produced} records, each consumed exactly once");

    stop_watch.store(true, Ordering::Relaxed);
    watcher.join().expect("watcher thread")?;
    for m in &mut members {
        m.stop()?;
    }
    Ok(())
}
