//! The lesson's three experiments, step by step: consumers started and stopped as real OS
//! processes, orders produced, and after every step the coordinator's assignment narrated
//! once the group has settled (every member holds what the coordinator gave it).
//!
//! Experiment 1: two consumers share three partitions (2+1), every order processed once.
//! Experiment 2: a third and a fourth consumer join (one idle), then one leaves.
//! Experiment 3: one is killed with SIGKILL; after its session timeout its partitions move,
//! while the others go on with theirs; it is restarted and gets partitions again.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

use crate::group_view::{Coordinator, GroupView, Protocol};
use crate::member::{MemberEvent, MemberSpec};
use crate::narration::{self, Owners};

/// How the lesson runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// The broker.
    pub bootstrap: String,
    /// The topic (3 partitions).
    pub topic: String,
    /// The consumer group.
    pub group: String,
    /// Classic or consumer protocol.
    pub protocol: Protocol,
    /// The assignor, or the protocol's default.
    pub assignor: Option<String>,
    /// A classic member's session timeout.
    pub session_timeout_ms: u32,
    /// Go on without waiting for Enter between steps.
    pub no_pause: bool,
    /// Show the consumers' own error output.
    pub verbose: bool,
}

/// The partitions of the lesson's topic.
const PARTITIONS: i32 = 3;

/// What the members reported, shared with one reader thread per member.
#[derive(Default)]
struct Reports {
    /// Each member's latest assignment as the client holds it.
    assigned: BTreeMap<String, Vec<i32>>,
    /// Every (partition, offset) processed, with who processed it.
    processed: Vec<(i32, i64, String)>,
}

type Shared = Arc<(Mutex<Reports>, Condvar)>;

/// A running consumer process.
struct Member {
    child: Child,
    /// Closing it asks the member to leave the group.
    stdin: Option<ChildStdin>,
}

/// Records the partition and offset of each delivered order.
struct Deliveries(Arc<Mutex<Vec<(i32, i64)>>>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(m) = result {
            self.0.lock().unwrap().push((m.partition(), m.offset()));
        }
    }
}

/// The lesson's state between steps.
pub struct Lesson {
    options: Options,
    coordinator: Coordinator,
    producer: BaseProducer<Deliveries>,
    delivered: Arc<Mutex<Vec<(i32, i64)>>>,
    members: BTreeMap<String, Member>,
    reports: Shared,
    /// The owners last narrated.
    owners: Owners,
    /// Orders produced so far.
    orders: usize,
    /// Members killed with SIGKILL, whose last order may be processed twice.
    kills: usize,
}

impl Lesson {
    /// Connects to the broker and creates the topic.
    pub fn new(options: Options) -> anyhow::Result<Lesson> {
        let mut coordinator = Coordinator::connect(&options.bootstrap)?;
        if coordinator.create_topic(&options.topic, PARTITIONS)? {
            say(&format!(
                "Created topic {} with {PARTITIONS} partitions: {}.",
                options.topic,
                narration::partitions(&options.topic, &[0, 1, 2])
            ));
        } else {
            say(&format!(
                "Topic {} exists already; the lesson uses it.",
                options.topic
            ));
        }
        let delivered = Arc::default();
        let producer: BaseProducer<Deliveries> = ClientConfig::new()
            .set("bootstrap.servers", &options.bootstrap)
            .set("linger.ms", "0")
            .create_with_context(Deliveries(Arc::clone(&delivered)))?;
        Ok(Lesson {
            options,
            coordinator,
            producer,
            delivered,
            members: BTreeMap::new(),
            reports: Shared::default(),
            owners: Owners::new(),
            orders: 0,
            kills: 0,
        })
    }

    /// Runs the three experiments; fails if an order was lost.
    pub fn run(&mut self) -> anyhow::Result<()> {
        let protocol = match self.options.protocol {
            Protocol::Classic => "the classic protocol: members rejoin and the leader assigns",
            Protocol::Consumer => {
                "the consumer protocol (KIP-848): the coordinator assigns, members reconcile"
            }
        };
        say(&format!(
            "Consumer group {} on {}, with {protocol}.",
            self.options.group, self.options.topic
        ));

        heading("Experiment 1: two consumers share three partitions");
        self.start("consumer-1")?;
        self.settle("consumer-1 joined")?;
        self.start("consumer-2")?;
        self.settle("consumer-2 joined")?;
        self.produce(30)?;
        self.wait_processed(|_| true, "every order")?;
        self.pause()?;

        heading("Experiment 2: more consumers than partitions");
        self.start("consumer-3")?;
        self.settle("consumer-3 joined")?;
        self.start("consumer-4")?;
        self.settle("consumer-4 joined")?;
        self.produce(12)?;
        self.wait_processed(|_| true, "every order")?;
        self.pause()?;
        self.stop("consumer-2")?;
        self.settle("consumer-2 left the group (it closed cleanly, so nothing waits)")?;
        self.pause()?;

        heading("Experiment 3: a consumer dies without a word");
        let victim = self
            .owners
            .iter()
            .rev()
            .find(|(_, ps)| !ps.is_empty())
            .map(|(n, _)| n.clone())
            .context("no consumer owns a partition")?;
        let lost: Vec<i32> = self.owners[&victim].clone();
        self.kill(&victim)?;
        let timeout = match self.options.protocol {
            Protocol::Classic => format!(
                "its session.timeout.ms, {} ms",
                self.options.session_timeout_ms
            ),
            Protocol::Consumer => "the broker's group.consumer.session.timeout.ms".to_string(),
        };
        say(&format!(
            "{victim} sends no more heartbeats. The coordinator waits for {timeout} \
             before it gives {} to others.",
            narration::partitions(&self.options.topic, &lost)
        ));
        self.produce(12)?;
        let waiting = lost.clone();
        self.wait_processed(
            move |p| !waiting.contains(&p),
            "the orders on the survivors' partitions (they never stopped)",
        )?;
        self.settle(&format!("{victim}'s session timed out"))?;
        self.wait_processed(|_| true, "every order")?;
        self.pause()?;
        self.start(&victim)?;
        self.settle(&format!("{victim} was restarted and joined again"))?;
        self.produce(9)?;
        self.wait_processed(|_| true, "every order")?;
        self.pause()?;
        self.summary()
    }

    /// Starts a consumer process named `name`.
    fn start(&mut self, name: &str) -> anyhow::Result<()> {
        let spec = MemberSpec {
            bootstrap: self.options.bootstrap.clone(),
            group: self.options.group.clone(),
            topic: self.options.topic.clone(),
            name: name.to_string(),
            protocol: self.options.protocol,
            assignor: self.options.assignor.clone(),
            session_timeout_ms: self.options.session_timeout_ms,
        };
        let mut child = Command::new(std::env::current_exe()?)
            .args(crate::member_args(&spec))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if self.options.verbose {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .context("starting a consumer process")?;
        let stdout = child.stdout.take().context("consumer stdout")?;
        let stdin = child.stdin.take();
        say(&format!("Started {name} (process {}).", child.id()));
        let (reports, name) = (Arc::clone(&self.reports), name.to_string());
        std::thread::spawn(move || read_reports(&name, stdout, &reports));
        self.members.insert(spec.name, Member { child, stdin });
        Ok(())
    }

    /// Asks `name` to leave and waits for its process to end.
    fn stop(&mut self, name: &str) -> anyhow::Result<()> {
        let mut m = self.members.remove(name).context("no such consumer")?;
        drop(m.stdin.take());
        m.child.wait()?;
        self.forget(name);
        say(&format!("Stopped {name}."));
        Ok(())
    }

    /// Kills `name` with SIGKILL: no goodbye to the coordinator.
    fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let mut m = self.members.remove(name).context("no such consumer")?;
        let pid = m.child.id();
        m.child.kill()?;
        m.child.wait()?;
        self.forget(name);
        self.kills += 1;
        say(&format!("kill -9 {pid}: {name} is gone."));
        Ok(())
    }

    fn forget(&self, name: &str) {
        self.reports.0.lock().unwrap().assigned.remove(name);
    }

    /// Waits until the coordinator's group is the running members, settled, and each member
    /// holds what the coordinator says; then narrates what moved.
    fn settle(&mut self, why: &str) -> anyhow::Result<()> {
        let expected: BTreeSet<String> = self.members.keys().cloned().collect();
        let limit = Duration::from_millis(u64::from(self.options.session_timeout_ms))
            .max(Duration::from_secs(60))
            + Duration::from_secs(60);
        let started = Instant::now();
        let view = loop {
            let view = self.coordinator.describe(
                self.options.protocol,
                &self.options.group,
                &self.options.topic,
            )?;
            if self.agrees(&view, &expected) {
                break view;
            }
            if started.elapsed() > limit {
                bail!(
                    "the group did not settle in {} s: coordinator {view:?}, consumers {:?}",
                    limit.as_secs(),
                    self.reports.0.lock().unwrap().assigned
                );
            }
            let (lock, changed) = &*self.reports;
            let guard = lock.lock().unwrap();
            let _ = changed.wait_timeout(guard, Duration::from_millis(100));
        };
        let moved = narration::changes(&self.options.topic, &self.owners, &view.members);
        let epoch = if view.epoch >= 0 {
            format!(" (group epoch {})", view.epoch)
        } else {
            String::new()
        };
        if view.members == self.owners {
            say(&format!("{why}; no partition moved."));
        } else {
            say(&format!(
                "{why}; the coordinator rebalanced{epoch} after {:.1} s: {moved}.",
                started.elapsed().as_secs_f64()
            ));
        }
        for line in narration::table(&self.options.topic, &view.members) {
            println!("{line}");
        }
        self.owners = view.members;
        Ok(())
    }

    fn agrees(&self, view: &GroupView, expected: &BTreeSet<String>) -> bool {
        let reports = self.reports.0.lock().unwrap();
        let names: BTreeSet<String> = view.members.keys().cloned().collect();
        let all: Vec<i32> = {
            let mut v: Vec<i32> = view.members.values().flatten().copied().collect();
            v.sort_unstable();
            v
        };
        view.settled
            && &names == expected
            && all == (0..PARTITIONS).collect::<Vec<_>>()
            && view
                .members
                .iter()
                // librdkafka tells a consumer-protocol member of no assignment at all, so an
                // idle member may never report one.
                .all(|(n, ps)| reports.assigned.get(n).map_or(ps.is_empty(), |r| r == ps))
    }

    /// Produces `n` orders, keyed by order number, and waits until each is written.
    fn produce(&mut self, n: usize) -> anyhow::Result<()> {
        let before = self.delivered.lock().unwrap().len();
        for i in 0..n {
            let number = self.orders + i + 1;
            let key = format!("order-{number}");
            let value = format!("order {number}: {} coffees", number % 4 + 1);
            self.producer
                .send(
                    BaseRecord::to(&self.options.topic)
                        .key(&key)
                        .payload(&value),
                )
                .map_err(|(e, _)| e)?;
        }
        self.producer.flush(Duration::from_secs(30))?;
        let delivered = self.delivered.lock().unwrap()[before..].to_vec();
        if delivered.len() != n {
            bail!("only {} of {n} orders were written", delivered.len());
        }
        self.orders += n;
        let mut per: BTreeMap<i32, usize> = BTreeMap::new();
        for (p, _) in &delivered {
            *per.entry(*p).or_default() += 1;
        }
        let spread: Vec<String> = per
            .iter()
            .map(|(p, k)| format!("{k} to {}-{p}", self.options.topic))
            .collect();
        say(&format!("Produced {n} orders ({}).", spread.join(", ")));
        Ok(())
    }

    /// Waits until every order written to a partition `which` accepts has been processed,
    /// then says who processed how many.
    fn wait_processed(&self, which: impl Fn(i32) -> bool, what: &str) -> anyhow::Result<()> {
        let wanted: BTreeSet<(i32, i64)> = self
            .delivered
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|(p, _)| which(*p))
            .collect();
        let started = Instant::now();
        let (lock, changed) = &*self.reports;
        let mut reports = lock.lock().unwrap();
        loop {
            let seen: BTreeSet<(i32, i64)> =
                reports.processed.iter().map(|(p, o, _)| (*p, *o)).collect();
            if wanted.is_subset(&seen) {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!(
                    "{} orders were not processed in 120 s",
                    wanted.difference(&seen).count()
                );
            }
            reports = changed
                .wait_timeout(reports, Duration::from_millis(200))
                .unwrap()
                .0;
        }
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for (p, o, who) in &reports.processed {
            if wanted.contains(&(*p, *o)) {
                *by.entry(who.as_str()).or_default() += 1;
            }
        }
        let counts: Vec<String> = by.iter().map(|(w, n)| format!("{w} {n}")).collect();
        say(&format!(
            "Processed {what} in {:.1} s; so far by consumer: {}.",
            started.elapsed().as_secs_f64(),
            counts.join(", ")
        ));
        Ok(())
    }

    /// The end: every order processed, and how many twice.
    fn summary(&mut self) -> anyhow::Result<()> {
        heading("Summary");
        let reports = self.reports.0.lock().unwrap();
        let mut times: BTreeMap<(i32, i64), usize> = BTreeMap::new();
        for (p, o, _) in &reports.processed {
            *times.entry((*p, *o)).or_default() += 1;
        }
        let delivered = self.delivered.lock().unwrap();
        let lost = delivered.iter().filter(|k| !times.contains_key(k)).count();
        let twice = times.values().filter(|n| **n > 1).count();
        say(&format!(
            "{} orders produced, {} processed, {lost} lost, {twice} processed twice.",
            delivered.len(),
            times.len()
        ));
        if twice > 0 {
            say(&format!(
                "An order is processed twice when a consumer dies after processing it and \
                 before committing its offset: the next owner starts from the last commit \
                 (Kafka's at-least-once; {} kill(s) in this run).",
                self.kills
            ));
        }
        if lost > 0 {
            bail!("{lost} orders were never processed");
        }
        Ok(())
    }

    /// Waits for Enter, unless the lesson runs without pauses (or stdin is closed).
    fn pause(&mut self) -> anyhow::Result<()> {
        if self.options.no_pause {
            return Ok(());
        }
        println!("[press Enter for the next step]");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            self.options.no_pause = true;
            println!();
        }
        Ok(())
    }
}

impl Drop for Lesson {
    fn drop(&mut self) {
        for m in self.members.values_mut() {
            drop(m.stdin.take());
        }
        for m in self.members.values_mut() {
            let _ = m.child.wait();
        }
    }
}

/// Reads one member's JSON lines into the shared reports.
fn read_reports(name: &str, stdout: std::process::ChildStdout, reports: &Shared) {
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let Ok(event) = serde_json::from_str::<MemberEvent>(&line) else {
            continue;
        };
        let (lock, changed) = &**reports;
        let mut r = lock.lock().unwrap();
        match event {
            MemberEvent::Assigned { partitions } => {
                r.assigned.insert(name.to_string(), partitions);
            }
            MemberEvent::Record { partition, offset } => {
                r.processed.push((partition, offset, name.to_string()));
            }
        }
        changed.notify_all();
    }
}

fn say(line: &str) {
    println!("{line}");
}

fn heading(title: &str) {
    println!();
    println!("== {title}");
}
