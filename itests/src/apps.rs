//! Support for the application tests, which run Apache Kafka's own frameworks (Kafka Streams,
//! Kafka Connect) against the broker: a Java program whose stdout lines are events to wait on,
//! and the reads those tests check with (a topic read to its end, the latest value of each key,
//! a topic config, a group's committed offsets).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::clients::Rec;
use crate::kafka_tools;
use crate::raw::messages::describe_configs_request::DescribeConfigsResource;
use crate::raw::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use crate::raw::RawClient;

/// A Java program started for a test: `itests/java/src/NAME.java` run by the JDK's source
/// launcher (no compile step), or a class from the jars, on `itests/java/target/lib/*`.
pub struct JavaApp {
    name: String,
    child: Option<Child>,
    /// Stdout lines, from a thread that drains the pipe (a full pipe would block the program).
    lines: mpsc::Receiver<String>,
    /// Every stdout line received so far, for checks after the fact and failure messages.
    seen: Vec<String>,
    /// The program's stderr (Kafka's logging), shown when a wait fails or the test panics.
    stderr_path: PathBuf,
}

/// A stdout line that means the program gave up (what `WordCount.java` prints from its
/// uncaught-exception handler).
const FAILED: &str = "FAILED ";

/// C1 only: the source launcher's in-memory javac and the frameworks' start-up run about
/// twice as fast on a small machine, and the tests' workloads are too short to miss C2.
const JVM_OPTIONS: &[&str] = &["-XX:TieredStopAtLevel=1"];

/// How long a program may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of a program's stderr a failure shows.
const STDERR_TAIL_LINES: usize = 60;

impl JavaApp {
    /// Starts `program` (a file name ending in `.java`, under `itests/java/src`, or a class
    /// name) with `args`; its stderr goes to `<log_dir>/<name>.log`.
    pub fn start(name: &str, program: &str, args: &[&str], log_dir: &Path) -> anyhow::Result<Self> {
        let program = if program.ends_with(".java") {
            let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("java")
                .join("src")
                .join(program);
            source.to_string_lossy().into_owned()
        } else {
            program.to_string()
        };
        let stderr_path = log_dir.join(format!("{name}.log"));
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)?;
        let compat = compat_classes()?;
        let mut child = kafka_tools::command_with(JVM_OPTIONS, &[&compat], &program, args)?
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting java {program}"))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(JavaApp {
            name: name.to_string(),
            child: Some(child),
            lines,
            seen: Vec::new(),
            stderr_path,
        })
    }

    /// Waits for a stdout line that `matches`, returning it; fails after `timeout`, when the
    /// program exits first, or when it prints a `FAILED` line.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.starts_with(FAILED) {
                        bail!("{} failed: {line}\n{}", self.name, self.stderr_tail());
                    }
                    if matches(&line) {
                        return Ok(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => bail!(
                    "{} did not print {what} within {timeout:?}; it printed {:?}\n{}",
                    self.name,
                    self.seen,
                    self.stderr_tail()
                ),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.as_mut().and_then(|c| c.wait().ok());
                    bail!(
                        "{} exited ({status:?}) before printing {what}; it printed {:?}\n{}",
                        self.name,
                        self.seen,
                        self.stderr_tail()
                    )
                }
            }
        }
    }

    /// Fails, with the end of its stderr, if the program has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        let child = self.child.as_mut().expect("running");
        if let Some(status) = child.try_wait()? {
            bail!("{} exited ({status})\n{}", self.name, self.stderr_tail());
        }
        Ok(())
    }

    /// Every stdout line received so far.
    pub fn seen(&self) -> &[String] {
        &self.seen
    }

    /// Stops the program with SIGTERM (its shutdown hooks run, as on Ctrl-C) and waits for it
    /// to exit; returns every stdout line it printed.
    pub fn stop(mut self) -> anyhow::Result<Vec<String>> {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) with a pid this struct spawned and has not yet reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{} did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}",
                    self.name,
                    self.stderr_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The pipe is closed now: what is left in the channel is all there is.
        self.seen.extend(self.lines.try_iter());
        Ok(std::mem::take(&mut self.seen))
    }

    /// Kills the program with SIGKILL (no shutdown hook runs: a crash) and reaps it.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().expect("running");
        let killed = child.kill();
        child.wait()?;
        Ok(killed?)
    }

    /// The end of the program's stderr.
    pub fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.stderr_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        format!(
            "---- {} stderr, last lines ----\n{}",
            self.name,
            lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
        )
    }
}

/// The classes of `itests/java/compat` (what older plugin jars need of the 4.4 runtime),
/// compiled with `javac` into `itests/java/target/compat` when missing or older than their
/// sources.
pub fn compat_classes() -> anyhow::Result<PathBuf> {
    static COMPILE: Mutex<()> = Mutex::new(());
    let _once = COMPILE.lock().unwrap_or_else(|e| e.into_inner());
    let java = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java");
    let out = java.join("target").join("compat");
    let sources = java_sources(&java.join("compat"))?;
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let newest_source = sources.iter().filter_map(|s| modified(s)).max();
    let stamp = out.join(".compiled");
    if modified(&stamp).is_some() && modified(&stamp) >= newest_source {
        return Ok(out);
    }
    // Compiled beside, then renamed into place, so a failed or interrupted javac leaves no
    // half folder that looks done.
    let staging = java.join("target").join("compat.tmp");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    let lib = kafka_tools::lib_dir()?;
    let output = std::process::Command::new("javac")
        .arg("-nowarn")
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .arg("-d")
        .arg(&staging)
        .args(&sources)
        .output()
        .context("running javac (is a JDK installed?)")?;
    if !output.status.success() {
        bail!(
            "javac failed on itests/java/compat:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    std::fs::write(staging.join(".compiled"), "")?;
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&staging, &out)?;
    Ok(out)
}

/// Every `.java` file under `dir`.
fn java_sources(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            found.extend(java_sources(&path)?);
        } else if path.extension().is_some_and(|e| e == "java") {
            found.push(path);
        }
    }
    Ok(found)
}

impl Drop for JavaApp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            // Shown only when the test fails (libtest captures it otherwise).
            eprintln!("{}", self.stderr_tail());
        }
    }
}

/// A consumer with no group, assigned every partition of `topic` from the beginning.
fn reader(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<BaseConsumer> {
    // librdkafka's default isolation, as before read_committed readers were asked for.
    reader_with(bootstrap, topic, partitions, "read_committed")
}

fn reader_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    isolation: &str,
) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", isolation)
        .set("group.id", "itests-apps-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// librdkafka's reports of a lost connection, which it retries by itself (the tests restart
/// the broker under a running reader).
fn is_transient(e: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode::{AllBrokersDown, BrokerTransportFailure};
    matches!(
        e,
        rdkafka::error::KafkaError::MessageConsumption(AllBrokersDown | BrokerTransportFailure)
    )
}

fn to_rec(m: &rdkafka::message::BorrowedMessage<'_>) -> Rec {
    Rec {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().unwrap_or_default().to_vec(),
        value: m.payload().unwrap_or_default().to_vec(),
        headers: Vec::new(),
        timestamp: m.timestamp().to_millis().unwrap_or(-1),
    }
}

/// Each partition's (log start offset, high watermark).
pub fn watermarks(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<(i64, i64)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "itests-apps-watermarks")
        .create()?;
    (0..partitions)
        .map(|p| Ok(consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?))
        .collect()
}

/// Each partition's high watermark (the offset the next record gets).
pub fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<Vec<i64>> {
    Ok(watermarks(bootstrap, topic, partitions)?
        .into_iter()
        .map(|(_, high)| high)
        .collect())
}

/// Every value of `topic` a read_committed consumer gets before its position reaches the
/// high watermark of each partition (every transaction has ended, so nothing is held back).
pub fn read_committed_to_end(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{Offset, TopicPartitionList};
    let ends = end_offsets(bootstrap, topic, partitions)?;
    let consumer: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "copy-checker")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut values = Vec::new();
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let position = consumer.position()?;
        let done = (0..partitions).all(|p| {
            matches!(
                position.find_partition(topic, p).map(|e| e.offset()),
                Some(Offset::Offset(o)) if o >= ends[p as usize]
            )
        });
        if done {
            return Ok(values);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{topic} not read to {ends:?}"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            values.push(String::from_utf8_lossy(m?.payload().unwrap_or_default()).into_owned());
        }
    }
}

/// Every record of `topic` below the high watermarks as they are now, in offset order per
/// partition. Offsets may have gaps (a compacted log): a partition is done when a record at or
/// past `high - 1` arrived.
pub fn read_to_end(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Vec<Rec>> {
    let ends = end_offsets(bootstrap, topic, partitions)?;
    let consumer = reader(bootstrap, topic, partitions)?;
    let mut next: Vec<i64> = vec![0; partitions as usize];
    let mut out = Vec::new();
    let deadline = Instant::now() + timeout;
    while next.iter().zip(&ends).any(|(n, end)| n < end) {
        if Instant::now() > deadline {
            bail!("reading {topic} to offsets {ends:?}: got to {next:?} within {timeout:?}");
        }
        let m = match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) if is_transient(&e) => continue,
            Some(message) => message?,
        };
        next[m.partition() as usize] = m.offset() + 1;
        if m.offset() < ends[m.partition() as usize] {
            out.push(to_rec(&m));
        }
    }
    Ok(out)
}

/// The latest value of each key of a topic, kept up to date by a consumer that reads on from
/// where the last call stopped (a tombstone removes its key). A record at an offset already
/// applied is skipped: the consumer may fetch again from before its position after the broker
/// restarts, and the latest values must not go back.
pub struct LatestPerKey {
    topic: String,
    consumer: BaseConsumer,
    latest: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Per partition, the offset after the last record applied.
    next: Vec<i64>,
    /// Records delivered again (at an offset below `next`), skipped.
    redelivered: usize,
}

impl LatestPerKey {
    /// Starts reading every partition of `topic` from the beginning.
    pub fn new(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<Self> {
        Ok(LatestPerKey {
            topic: topic.to_string(),
            consumer: reader(bootstrap, topic, partitions)?,
            latest: BTreeMap::new(),
            next: vec![0; partitions as usize],
            redelivered: 0,
        })
    }

    /// Like `new`, saying so: committed records only (transactional output).
    pub fn read_committed(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<Self> {
        Ok(LatestPerKey {
            topic: topic.to_string(),
            consumer: reader_with(bootstrap, topic, partitions, "read_committed")?,
            latest: BTreeMap::new(),
            next: vec![0; partitions as usize],
            redelivered: 0,
        })
    }

    /// Reads until `done` holds for the latest values, failing after `timeout` with `what`
    /// and the values seen.
    pub fn read_until(
        &mut self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&BTreeMap<Vec<u8>, Vec<u8>>) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while !done(&self.latest) {
            if Instant::now() > deadline {
                bail!(
                    "{}: {what} not seen within {timeout:?}; latest values {:?}",
                    self.topic,
                    self.latest_text()
                );
            }
            self.poll(Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// Reads until every partition is read up to `ends` (offsets after the last record).
    pub fn read_to(&mut self, ends: &[i64], timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.next.iter().zip(ends).any(|(n, end)| n < end) {
            if Instant::now() > deadline {
                bail!(
                    "{}: read to {:?}, not {ends:?}, within {timeout:?}",
                    self.topic,
                    self.next
                );
            }
            self.poll(Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// Reads what arrives within `wait` (records already fetched come at once).
    pub fn poll(&mut self, wait: Duration) -> anyhow::Result<()> {
        let m = match self.consumer.poll(wait) {
            None => return Ok(()),
            Some(Err(e)) if is_transient(&e) => return Ok(()),
            Some(message) => message?,
        };
        let next = &mut self.next[m.partition() as usize];
        if m.offset() < *next {
            self.redelivered += 1;
            return Ok(());
        }
        *next = m.offset() + 1;
        match m.payload() {
            Some(value) => {
                let key = m.key().unwrap_or_default().to_vec();
                self.latest.insert(key, value.to_vec());
            }
            None => {
                self.latest.remove(m.key().unwrap_or_default());
            }
        }
        Ok(())
    }

    /// The latest values as text.
    pub fn latest_text(&self) -> BTreeMap<String, String> {
        self.latest
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    /// How many records were delivered again and skipped.
    pub fn redelivered(&self) -> usize {
        self.redelivered
    }
}

/// The value of config `key` of `topic` as DescribeConfigs v4 reports it (asking again while
/// a broker that propagates metadata answers UNKNOWN_TOPIC_OR_PARTITION for a new topic).
pub fn topic_config(bootstrap: &str, topic: &str, key: &str) -> anyhow::Result<Option<String>> {
    let text = |v: &str| gregor_protocol::StrBytes::from_string(v.to_string());
    let request =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(text(topic))
            .with_configuration_keys(Some(vec![text(key)]))]);
    let mut client = RawClient::connect(bootstrap)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response: DescribeConfigsResponse =
            client.call(ApiKey::DescribeConfigs, 4, &request)?;
        let result = response.results.first().context("no result")?;
        if result.error_code == 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        anyhow::ensure!(
            result.error_code == 0,
            "describing {topic}: error {} {:?}",
            result.error_code,
            result.error_message
        );
        return Ok(result
            .configs
            .iter()
            .find(|c| c.name.as_str() == key)
            .and_then(|c| c.value.as_ref().map(|v| v.to_string())));
    }
}

/// Offsets `group` has committed for each partition of `topic` (-1 where none).
pub fn committed_offsets(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<i64>> {
    // A consumer that never subscribes does not join the group: this is OffsetFetch alone.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?;
    let mut wanted = TopicPartitionList::new();
    for p in 0..partitions {
        wanted.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(wanted, Duration::from_secs(10))?;
    Ok((0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            },
        )
        .collect())
}

/// Waits until `group` has committed the end of every partition of `topic`: it has processed
/// (and, for Kafka Streams, flushed the output of) everything in it so far.
pub fn wait_committed_to_end(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partitions: i32,
    timeout: Duration,
) -> anyhow::Result<Vec<i64>> {
    let ends = end_offsets(bootstrap, topic, partitions)?;
    let deadline = Instant::now() + timeout;
    loop {
        let committed = committed_offsets(bootstrap, group, topic, partitions)?;
        if committed == ends {
            return Ok(ends);
        }
        if Instant::now() > deadline {
            bail!("{group} committed {committed:?} of {topic}, not its end {ends:?}, within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A TCP port nothing listens on right now (bound and released; the program binds it next).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
