//! Group members as child processes (the `group_member` binary), and what they report; and how
//! an rdkafka member leaves before it closes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// What one member has printed so far.
#[derive(Debug, Default, Clone)]
pub struct MemberLog {
    /// The latest full assignment (partitions), if any rebalance completed.
    pub assignment: Option<Vec<i32>>,
    /// Every record delivered: (partition, offset, value).
    pub records: Vec<(i32, i64, String)>,
    /// Offsets whose commit was acknowledged: (partition, offset).
    pub committed: BTreeSet<(i32, i64)>,
    /// When the latest assignment arrived.
    pub assigned_at: Option<Instant>,
    /// The last lines of its stderr (librdkafka's group debug log), for a failure's message.
    pub stderr_tail: VecDeque<String>,
}

/// How many stderr lines a member's log keeps.
const STDERR_TAIL: usize = 200;

/// A running `group_member` process.
pub struct GroupMember {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    /// Shared with the thread reading its stdout.
    pub log: Arc<Mutex<MemberLog>>,
}

fn member_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(|p| p.parent())
        .expect("target dir")
        .join("group_member")
}

impl GroupMember {
    /// Starts a member of `group` on `topic` with `assignor` and `session_ms`.
    pub fn start(
        bootstrap: &str,
        group: &str,
        topic: &str,
        assignor: &str,
        session_ms: u32,
    ) -> anyhow::Result<GroupMember> {
        let bin = member_bin();
        if !bin.exists() {
            bail!(
                "{} not built (cargo build -p gregor-itests --bins)",
                bin.display()
            );
        }
        let mut child = Command::new(&bin)
            .args([bootstrap, group, topic, assignor, &session_ms.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let stdin = child.stdin.take();
        let log = Arc::new(Mutex::new(MemberLog::default()));
        let tail = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = tail.lock().unwrap();
                if log.stderr_tail.len() == STDERR_TAIL {
                    log.stderr_tail.pop_front();
                }
                log.stderr_tail.push_back(line);
            }
        });
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                let mut log = sink.lock().unwrap();
                match v["event"].as_str() {
                    Some("assigned") => {
                        log.assignment = Some(
                            v["partitions"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|p| p.as_i64())
                                        .map(|p| p as i32)
                                        .collect()
                                })
                                .unwrap_or_default(),
                        );
                        log.assigned_at = Some(Instant::now());
                    }
                    Some("record") => {
                        let p = v["partition"].as_i64().unwrap_or(-1) as i32;
                        let o = v["offset"].as_i64().unwrap_or(-1);
                        log.records.push((
                            p,
                            o,
                            v["value"].as_str().unwrap_or_default().to_string(),
                        ));
                    }
                    Some("committed") => {
                        let p = v["partition"].as_i64().unwrap_or(-1) as i32;
                        log.committed
                            .insert((p, v["offset"].as_i64().unwrap_or(-1)));
                    }
                    _ => {}
                }
            }
        });
        Ok(GroupMember {
            child: Some(child),
            stdin,
            log,
        })
    }

    /// The member's current assignment, if it has one.
    pub fn assignment(&self) -> Option<Vec<i32>> {
        self.log.lock().unwrap().assignment.clone()
    }

    /// Stops cleanly: closes stdin, the member leaves the group, waits for the exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait()?.is_none() {
                if Instant::now() > deadline {
                    child.kill()?;
                    let log = self.log.lock().unwrap();
                    let tail: Vec<&str> = log.stderr_tail.iter().map(String::as_str).collect();
                    bail!(
                        "member did not stop within 30 s; its last stderr lines:\n{}",
                        tail.join("\n")
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Kills with SIGKILL: no LeaveGroup, the coordinator finds out by session timeout.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Sends `signal` (e.g. "STOP", "CONT") to the member's process.
    pub fn signal(&self, signal: &str) -> anyhow::Result<()> {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(child.id().to_string())
                .status()?;
            if !status.success() {
                bail!("kill -{signal} failed");
            }
        }
        Ok(())
    }

    /// Whether the process is still running.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Leaves the group, then closes `consumer` (an rdkafka one in this process): unsubscribes and
/// polls until `left` says, from the consumer's context, that the revoke was served (or that
/// nothing was held), for at most 10 s. A close that still has a revoke to serve can hang in
/// librdkafka (its issue 4884).
pub fn leave_then_close<C: rdkafka::consumer::ConsumerContext>(
    consumer: rdkafka::consumer::BaseConsumer<C>,
    left: impl Fn(&C) -> bool,
) {
    use rdkafka::consumer::Consumer;
    consumer.unsubscribe();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left(consumer.context()) && Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(20));
    }
    drop(consumer);
}

/// Waits until the running `members` hold disjoint assignments covering `0..partitions`, each
/// reported after `since`; returns the assignments. Members with nothing assigned count as idle.
pub fn wait_for_assignment(
    members: &[&GroupMember],
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Vec<Vec<i32>>> {
    let deadline = Instant::now() + timeout;
    loop {
        let assignments: Vec<Option<Vec<i32>>> = members.iter().map(|m| m.assignment()).collect();
        if assignments.iter().all(Option::is_some) {
            let all: Vec<Vec<i32>> = assignments
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect();
            let mut owners: BTreeMap<i32, usize> = BTreeMap::new();
            for a in &all {
                for p in a {
                    *owners.entry(*p).or_default() += 1;
                }
            }
            if owners.len() == partitions as usize && owners.values().all(|n| *n == 1) {
                return Ok(all);
            }
        }
        if Instant::now() > deadline {
            let now: Vec<_> = members.iter().map(|m| m.assignment()).collect();
            bail!("no clean assignment of {partitions} partitions within {timeout:?}; members hold {now:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Produces `count` records with values `{prefix}-{i}` round-robin over `partitions`.
pub fn produce_values(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    prefix: &str,
    count: usize,
) -> anyhow::Result<()> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()?;
    for i in 0..count {
        let value = format!("{prefix}-{i}");
        producer
            .send(
                BaseRecord::<(), String>::to(topic)
                    .partition((i % partitions as usize) as i32)
                    .payload(&value),
            )
            .map_err(|(e, _)| e)?;
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30))?;
    let _ = std::io::stdout().flush();
    Ok(())
}

/// Waits until the members together have delivered every value in `expected`.
pub fn wait_for_values(
    members: &[&GroupMember],
    expected: &BTreeSet<String>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let seen: BTreeSet<String> = members
            .iter()
            .flat_map(|m| {
                m.log
                    .lock()
                    .unwrap()
                    .records
                    .iter()
                    .map(|r| r.2.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        let missing: Vec<&String> = expected.difference(&seen).take(5).collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("records never consumed, e.g. {missing:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that no record whose commit was acknowledged was delivered again.
pub fn assert_no_committed_redelivery(members: &[&GroupMember]) {
    let mut deliveries: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut committed = BTreeSet::new();
    for m in members {
        let log = m.log.lock().unwrap();
        for (p, o, _) in &log.records {
            *deliveries.entry((*p, *o)).or_default() += 1;
        }
        committed.extend(log.committed.iter().copied());
    }
    let redelivered: Vec<_> = deliveries
        .iter()
        .filter(|(k, n)| **n > 1 && committed.contains(k))
        .map(|(k, _)| *k)
        .take(5)
        .collect();
    assert!(
        redelivered.is_empty(),
        "committed records delivered again: {redelivered:?}"
    );
}
