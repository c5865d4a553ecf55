//! Support for the consumer-protocol (KIP-848) group tests: members as OS processes, either the
//! Java consumer `itests/java/src/GroupConsumer.java` (kafka-clients 4.4) or the rdkafka one
//! `consumer_member` (librdkafka 2.12), both with `group.protocol=consumer` and printing the
//! same JSON lines, parsed here into what the tests check: what each member owned when (its
//! rebalance listener's callbacks, stamped with the program's clock), the records it consumed
//! and the offsets it committed. Also the broker settings the tests run with, a producer that
//! writes at a steady rate, and the group as ConsumerGroupDescribe shows it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use gregor_protocol::StrBytes;

use crate::kafka_tools;
use crate::raw::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId,
};
use crate::raw::RawClient;

/// Broker settings (Kafka's keys) that keep the tests short: a member is fenced 6 s after its
/// last heartbeat (Kafka's default 45 s) and heartbeats every 500 ms (default 5 s), with the
/// lower bounds lowered to allow it. Kafka's `__consumer_offsets` gets one partition, as
/// Gregor's has, so Kafka does not spend seconds creating 50 at the first group use.
pub const BROKER_SETTINGS: &[(&str, &str)] = &[
    ("group.consumer.session.timeout.ms", "6000"),
    ("group.consumer.min.session.timeout.ms", "1000"),
    ("group.consumer.heartbeat.interval.ms", "500"),
    ("group.consumer.min.heartbeat.interval.ms", "100"),
    ("offsets.topic.num.partitions", "1"),
];

/// `group.consumer.session.timeout.ms` in `BROKER_SETTINGS`.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// `group.consumer.heartbeat.interval.ms` in `BROKER_SETTINGS`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);

/// Longest wait for a group to settle or records to arrive before a test fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// Which client library a member runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Apache Kafka's Java consumer (`GroupConsumer.java`).
    Java,
    /// librdkafka through the rdkafka crate (`consumer_member`).
    Rdkafka,
}

impl Client {
    /// The name used in member names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Client::Java => "java",
            Client::Rdkafka => "rdkafka",
        }
    }
}

/// A topic partition.
pub type Tp = (String, i32);

/// Partitions `0..n` of `topic`.
pub fn partitions(topic: &str, n: i32) -> Vec<Tp> {
    (0..n).map(|p| (topic.to_string(), p)).collect()
}

/// What a member subscribes to, and how.
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// The client library.
    pub client: Client,
    /// `group.id`.
    pub group: String,
    /// Topics by name (ignored when `pattern` is set).
    pub topics: Vec<String>,
    /// A regular expression the broker matches against topic names.
    pub pattern: Option<String>,
    /// `group.remote.assignor` (`uniform`, `range`); the broker's default when `None`.
    pub assignor: Option<String>,
    /// `group.protocol`: `consumer` when `None`, or `classic` (a JoinGroup/SyncGroup member,
    /// for the migration tests).
    pub protocol: Option<String>,
}

impl MemberConfig {
    /// A member of `group` on `topic`.
    pub fn new(client: Client, group: &str, topic: &str, assignor: Option<&str>) -> Self {
        MemberConfig {
            client,
            group: group.to_string(),
            topics: vec![topic.to_string()],
            pattern: None,
            assignor: assignor.map(str::to_string),
            protocol: None,
        }
    }
}

/// Which rebalance listener callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackKind {
    /// onPartitionsAssigned: these partitions were added.
    Assigned,
    /// onPartitionsRevoked: these were given up.
    Revoked,
    /// onPartitionsLost: these were taken away (the member was fenced).
    Lost,
}

/// One listener callback.
#[derive(Debug, Clone)]
pub struct Callback {
    /// Which one.
    pub kind: CallbackKind,
    /// The partitions it named.
    pub partitions: Vec<Tp>,
    /// The member's clock, microseconds since the epoch.
    pub ts: u64,
}

/// One record a member consumed.
#[derive(Debug, Clone)]
pub struct Consumed {
    /// Where it is.
    pub tp: Tp,
    /// Its offset.
    pub offset: i64,
    /// Its value.
    pub value: String,
    /// When the member's poll returned it, microseconds since the epoch.
    pub ts: u64,
}

/// What one member has printed so far.
#[derive(Debug, Default, Clone)]
pub struct MemberLog {
    /// Partitions it owns now: every Assigned callback minus every Revoked or Lost one.
    pub owned: BTreeSet<Tp>,
    /// Every listener callback, in order.
    pub callbacks: Vec<Callback>,
    /// Every record delivered, in order.
    pub records: Vec<Consumed>,
    /// Acknowledged commits: (partition, next offset, when the ack came in microseconds), in
    /// order.
    pub commits: Vec<(Tp, i64, u64)>,
    /// The member id the coordinator gave it, once known.
    pub member_id: Option<String>,
    /// Its member epoch as the Java client reports it (librdkafka does not expose it).
    pub epoch: Option<i32>,
    /// Poll and commit errors it reported and carried on from.
    pub errors: Vec<String>,
    /// Set when it printed its last line after a clean close.
    pub closed: bool,
    /// When it stopped owning anything because it exited (killed or stopped), microseconds.
    pub ended_ts: Option<u64>,
}

/// The wall clock in microseconds since the epoch, as the member programs stamp their lines.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A running member process.
pub struct Member {
    /// `client.id`, also used in messages: `<client>-<n>`.
    pub name: String,
    /// Its configuration.
    pub config: MemberConfig,
    child: Option<Child>,
    /// Closing it asks the member to close its consumer and exit.
    stdin: Option<ChildStdin>,
    /// Shared with the thread reading its stdout.
    log: Arc<Mutex<MemberLog>>,
    /// Set by the reader thread when stdout ends.
    exited: Arc<AtomicBool>,
    /// The program's stderr (the client's own logging).
    stderr: tempfile::NamedTempFile,
}

/// How many lines of a member's stderr a failure shows.
const STDERR_TAIL_LINES: usize = 40;

/// C1 only: a consumer starts about twice as fast on a small machine, and these runs are too
/// short to miss C2.
const JVM_OPTIONS: &[&str] = &["-XX:TieredStopAtLevel=1"];

fn rdkafka_member_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(|p| p.parent())
        .context("target dir")?
        .join("consumer_member");
    if !bin.exists() {
        bail!(
            "{} not built (cargo build -p gregor-itests --bins)",
            bin.display()
        );
    }
    Ok(bin)
}

impl Member {
    /// Starts a member named `name` (its client id) with `config` against `bootstrap`.
    pub fn start(bootstrap: &str, name: &str, config: &MemberConfig) -> anyhow::Result<Member> {
        let mut args: Vec<String> = vec![
            "--bootstrap".into(),
            bootstrap.into(),
            "--group".into(),
            config.group.clone(),
            "--client-id".into(),
            name.into(),
        ];
        match &config.pattern {
            Some(p) => args.extend(["--pattern".into(), p.clone()]),
            None => args.extend(["--topics".into(), config.topics.join(",")]),
        }
        if let Some(a) = &config.assignor {
            args.extend(["--assignor".into(), a.clone()]);
        }
        if let Some(p) = &config.protocol {
            args.extend(["--protocol".into(), p.clone()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = match config.client {
            Client::Java => {
                let classes = kafka_tools::compiled_program("GroupConsumer")?;
                kafka_tools::command_with(JVM_OPTIONS, &[&classes], "GroupConsumer", &args)?
            }
            Client::Rdkafka => {
                let mut cmd = Command::new(rdkafka_member_bin()?);
                cmd.args(&args);
                cmd
            }
        };
        let stderr = tempfile::NamedTempFile::new()?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen()?)
            .spawn()
            .with_context(|| format!("starting member {name}"))?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let stdin = child.stdin.take();
        let log = Arc::new(Mutex::new(MemberLog::default()));
        let exited = Arc::new(AtomicBool::new(false));
        let (sink, done) = (log.clone(), exited.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    apply(&mut sink.lock().unwrap_or_else(|e| e.into_inner()), &v);
                }
            }
            done.store(true, Ordering::Release);
        });
        Ok(Member {
            name: name.to_string(),
            config: config.clone(),
            child: Some(child),
            stdin,
            log,
            exited,
            stderr,
        })
    }

    /// What it has printed so far.
    pub fn log(&self) -> MutexGuard<'_, MemberLog> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The partitions it owns now.
    pub fn owned(&self) -> BTreeSet<Tp> {
        self.log().owned.clone()
    }

    /// Whether the process is running (not stopped or killed by the test, and not exited).
    pub fn running(&self) -> bool {
        self.child.is_some() && !self.exited.load(Ordering::Acquire)
    }

    /// Stops cleanly: closes stdin, the member closes its consumer (leaving the group) and
    /// exits; waits for that.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "member {} did not stop within 30 s\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Its last lines are in the pipe still; wait for the reader to drain them.
        while !self.exited.load(Ordering::Acquire) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.log().ended_ts = Some(now_micros());
        Ok(())
    }

    /// Kills it with SIGKILL: no leave, the coordinator finds out by the session timeout.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            // Stamped before the kill: whatever it owned, it stopped owning by then at the latest.
            self.log().ended_ts = Some(now_micros());
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// The end of the program's stderr.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.stderr.path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "---- {} stderr, last lines ----\n{}",
            self.name,
            lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
        )
    }

    /// A one-line summary for failure messages: owned partitions, records, errors.
    pub fn summary(&self) -> String {
        let log = self.log();
        format!(
            "{} ({}): owns {:?}, {} records, {} callbacks, errors {:?}",
            self.name,
            if self.running() { "running" } else { "gone" },
            log.owned,
            log.records.len(),
            log.callbacks.len(),
            log.errors.iter().rev().take(3).collect::<Vec<_>>()
        )
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Shown only when the test fails (libtest captures it otherwise).
        eprintln!("{}", self.stderr_tail());
    }
}

/// Applies one printed line to the member's log.
fn apply(log: &mut MemberLog, v: &serde_json::Value) {
    let ts = v["ts"].as_u64().unwrap_or(0);
    let tp = |v: &serde_json::Value| -> Tp {
        (
            v["topic"].as_str().unwrap_or_default().to_string(),
            v["partition"].as_i64().unwrap_or(-1) as i32,
        )
    };
    let kind = match v["event"].as_str() {
        Some("assigned") => Some(CallbackKind::Assigned),
        Some("revoked") => Some(CallbackKind::Revoked),
        Some("lost") => Some(CallbackKind::Lost),
        _ => None,
    };
    if let Some(kind) = kind {
        let partitions: Vec<Tp> = v["partitions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap_or_default().to_string(),
                            p[1].as_i64().unwrap_or(-1) as i32,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        for p in &partitions {
            match kind {
                CallbackKind::Assigned => log.owned.insert(p.clone()),
                CallbackKind::Revoked | CallbackKind::Lost => log.owned.remove(p),
            };
        }
        log.callbacks.push(Callback {
            kind,
            partitions,
            ts,
        });
        return;
    }
    match v["event"].as_str() {
        Some("record") => log.records.push(Consumed {
            tp: tp(v),
            offset: v["offset"].as_i64().unwrap_or(-1),
            value: v["value"].as_str().unwrap_or_default().to_string(),
            ts,
        }),
        Some("committed") => log
            .commits
            .push((tp(v), v["offset"].as_i64().unwrap_or(-1), ts)),
        Some("member") => {
            log.member_id = v["member_id"].as_str().map(str::to_string);
            log.epoch = v["epoch"].as_i64().map(|e| e as i32);
        }
        Some("error") => log
            .errors
            .push(v["message"].as_str().unwrap_or_default().to_string()),
        Some("closed") => log.closed = true,
        _ => {}
    }
}

/// Waits until the running members among `members` own `all` between them, each partition
/// exactly once, with shares that differ by at most one (what both assignors give members
/// with the same subscription); returns each running member's share, in order.
pub fn wait_balanced(
    members: &[&Member],
    all: &[Tp],
    timeout: Duration,
) -> anyhow::Result<Vec<BTreeSet<Tp>>> {
    let deadline = Instant::now() + timeout;
    loop {
        let shares: Vec<BTreeSet<Tp>> = members
            .iter()
            .filter(|m| m.running())
            .map(|m| m.owned())
            .collect();
        let mut owners: BTreeMap<&Tp, usize> = BTreeMap::new();
        for p in shares.iter().flatten() {
            *owners.entry(p).or_default() += 1;
        }
        let covered = all.iter().all(|p| owners.get(p) == Some(&1)) && owners.len() == all.len();
        let sizes: Vec<usize> = shares.iter().map(BTreeSet::len).collect();
        let even = sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1;
        if covered && even && !shares.is_empty() {
            return Ok(shares);
        }
        if Instant::now() > deadline {
            bail!(
                "no balanced assignment of {} partitions within {timeout:?}:\n{}",
                all.len(),
                summaries(members)
            );
        }
        for m in members {
            if m.child.is_some() && m.exited.load(Ordering::Acquire) {
                bail!("member {} exited\n{}", m.name, m.stderr_tail());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every member's summary, a line each.
pub fn summaries(members: &[&Member]) -> String {
    members
        .iter()
        .map(|m| m.summary())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Each member's periods of ownership per partition, from its listener callbacks: (start,
/// end) in microseconds, an open period ending when the member exited (or never).
pub fn ownership(members: &[&Member]) -> BTreeMap<Tp, Vec<(u64, u64, String)>> {
    let mut periods: BTreeMap<Tp, Vec<(u64, u64, String)>> = BTreeMap::new();
    for m in members {
        let log = m.log();
        let mut open: BTreeMap<Tp, u64> = BTreeMap::new();
        for c in &log.callbacks {
            for p in &c.partitions {
                match c.kind {
                    CallbackKind::Assigned => {
                        open.entry(p.clone()).or_insert(c.ts);
                    }
                    CallbackKind::Revoked | CallbackKind::Lost => {
                        if let Some(start) = open.remove(p) {
                            periods.entry(p.clone()).or_default().push((
                                start,
                                c.ts,
                                m.name.clone(),
                            ));
                        }
                    }
                }
            }
        }
        let end = log.ended_ts.unwrap_or(u64::MAX);
        for (p, start) in open {
            periods
                .entry(p)
                .or_default()
                .push((start, end, m.name.clone()));
        }
    }
    periods
}

/// Fails if two members ever owned one partition at the same time, by their callbacks: the
/// protocol revokes a partition from its owner before it assigns it to another.
pub fn assert_never_two_owners(members: &[&Member]) -> anyhow::Result<()> {
    for (tp, mut periods) in ownership(members) {
        periods.sort();
        for pair in periods.windows(2) {
            let ((_, end, a), (start, _, b)) = (&pair[0], &pair[1]);
            if start < end && a != b {
                bail!(
                    "{tp:?} owned by {a} and {b} at once ({} us of overlap); periods {periods:?}",
                    end - start
                );
            }
        }
    }
    Ok(())
}

/// How often each (partition, offset) was delivered, across `members`.
pub fn deliveries(members: &[&Member]) -> BTreeMap<(Tp, i64), usize> {
    let mut out = BTreeMap::new();
    for m in members {
        for r in &m.log().records {
            *out.entry((r.tp.clone(), r.offset)).or_default() += 1;
        }
    }
    out
}

/// Every value delivered, across `members`.
pub fn values(members: &[&Member]) -> BTreeSet<String> {
    members
        .iter()
        .flat_map(|m| {
            m.log()
                .records
                .iter()
                .map(|r| r.value.clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Waits until the members together have delivered every value in `expected`.
pub fn wait_for_values(
    members: &[&Member],
    expected: &BTreeSet<String>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen = values(members);
        let missing: Vec<&String> = expected.difference(&seen).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} records never consumed within {timeout:?}, e.g. {:?}\n{}",
                missing.len(),
                &missing[..missing.len().min(5)],
                summaries(members)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails if a record was delivered after a commit that covers it was acknowledged (to any
/// member): a record may be delivered twice only when its first consumer died before it
/// committed.
pub fn assert_no_committed_redelivery(members: &[&Member]) -> anyhow::Result<()> {
    // Per partition, the acknowledged commits as (when, next offset), earliest first.
    let mut commits: BTreeMap<Tp, Vec<(u64, i64)>> = BTreeMap::new();
    for m in members {
        for (tp, next, ts) in &m.log().commits {
            commits.entry(tp.clone()).or_default().push((*ts, *next));
        }
    }
    for c in commits.values_mut() {
        c.sort_unstable();
    }
    let mut late = Vec::new();
    for m in members {
        for r in &m.log().records {
            let covered = commits.get(&r.tp).and_then(|c| {
                c.iter()
                    .find(|(_, next)| *next > r.offset)
                    .map(|(ts, _)| *ts)
            });
            if covered.is_some_and(|committed| r.ts > committed) {
                late.push(format!(
                    "{} got {:?}@{} after its commit",
                    m.name, r.tp, r.offset
                ));
            }
        }
    }
    anyhow::ensure!(
        late.is_empty(),
        "committed records delivered again: {:?}",
        &late[..late.len().min(5)]
    );
    Ok(())
}

/// Produces `count` records with values `{prefix}-{i}` round-robin over `partitions` of
/// `topic`; returns the values.
pub fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    prefix: &str,
    count: usize,
) -> anyhow::Result<BTreeSet<String>> {
    crate::group::produce_values(bootstrap, topic, partitions, prefix, count)?;
    Ok((0..count).map(|i| format!("{prefix}-{i}")).collect())
}

/// A producer thread writing `{prefix}-{i}` round-robin over the partitions of a topic, one
/// record every `interval`, until stopped.
pub struct SteadyProducer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<BTreeSet<String>>>>,
}

impl SteadyProducer {
    /// Starts writing.
    pub fn start(
        bootstrap: &str,
        topic: &str,
        partitions: i32,
        prefix: &str,
        interval: Duration,
    ) -> anyhow::Result<SteadyProducer> {
        use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
        let producer: BaseProducer = rdkafka::config::ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("acks", "all")
            .set("linger.ms", "0")
            .create()?;
        let stop = Arc::new(AtomicBool::new(false));
        let (topic, prefix, flag) = (topic.to_string(), prefix.to_string(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut sent = BTreeSet::new();
            let started = Instant::now();
            let mut i = 0u32;
            while !flag.load(Ordering::Acquire) {
                let value = format!("{prefix}-{i}");
                producer
                    .send(
                        BaseRecord::<(), String>::to(&topic)
                            .partition((i % partitions as u32) as i32)
                            .payload(&value),
                    )
                    .map_err(|(e, _)| e)?;
                sent.insert(value);
                i += 1;
                producer.poll(Duration::ZERO);
                // On schedule, not interval after the last send.
                let due = started + interval * i;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            producer.flush(Duration::from_secs(30))?;
            Ok(sent)
        });
        Ok(SteadyProducer {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops writing, waits for every record to be acknowledged; returns the values written.
    pub fn stop(mut self) -> anyhow::Result<BTreeSet<String>> {
        self.stop.store(true, Ordering::Release);
        self.thread
            .take()
            .context("running")?
            .join()
            .map_err(|_| anyhow::anyhow!("producer thread panicked"))?
    }
}

impl Drop for SteadyProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A member as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedMember {
    /// Its member id.
    pub member_id: String,
    /// Its client id (the test's name for it).
    pub client_id: String,
    /// Its member epoch.
    pub epoch: i32,
    /// Its current assignment.
    pub assignment: BTreeSet<Tp>,
    /// Its target assignment.
    pub target: BTreeSet<Tp>,
}

/// A consumer group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedGroup {
    /// Kafka's state name: `Empty`, `Assigning`, `Reconciling`, `Stable`, `Dead`.
    pub state: String,
    /// The group epoch.
    pub epoch: i32,
    /// The target assignment's epoch.
    pub assignment_epoch: i32,
    /// Its members, by client id.
    pub members: Vec<DescribedMember>,
}

/// `group` as ConsumerGroupDescribe v0 answers for it.
pub fn describe_group(bootstrap: &str, group: &str) -> anyhow::Result<DescribedGroup> {
    let mut client = RawClient::connect(bootstrap)?;
    let response: ConsumerGroupDescribeResponse = client.call(
        ApiKey::ConsumerGroupDescribe,
        0,
        &ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(StrBytes::from_string(group.to_string()))]),
    )?;
    let g = response.groups.first().context("no group in the answer")?;
    anyhow::ensure!(
        g.error_code == 0,
        "ConsumerGroupDescribe {group}: error {} {:?}",
        g.error_code,
        g.error_message
    );
    let tps = |a: &crate::raw::messages::consumer_group_describe_response::Assignment| {
        a.topic_partitions
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| (t.topic_name.to_string(), *p))
                    .collect::<Vec<_>>()
            })
            .collect::<BTreeSet<Tp>>()
    };
    let mut members: Vec<DescribedMember> = g
        .members
        .iter()
        .map(|m| DescribedMember {
            member_id: m.member_id.to_string(),
            client_id: m.client_id.to_string(),
            epoch: m.member_epoch,
            assignment: tps(&m.assignment),
            target: tps(&m.target_assignment),
        })
        .collect();
    members.sort_by(|a, b| a.client_id.cmp(&b.client_id));
    Ok(DescribedGroup {
        state: g.group_state.to_string(),
        epoch: g.group_epoch,
        assignment_epoch: g.assignment_epoch,
        members,
    })
}

/// Whether to run every (client, assignor) pair of a scenario (`GREGOR_CONSUMER_PROTOCOL_ALL=1`)
/// rather than the default two, which between them cover both clients and both assignors.
pub fn all_variants() -> bool {
    std::env::var("GREGOR_CONSUMER_PROTOCOL_ALL").is_ok_and(|v| v == "1")
}
