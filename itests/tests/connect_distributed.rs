//! A Kafka Connect 4.4 distributed worker (`ConnectDistributed`) against the broker: it creates
//! its compacted config, offset and status topics, runs a FileStreamSource connector created
//! through its REST API, and after a restart of the worker resumes the file from the offset it
//! stored in the offset topic: the target topic holds every line of the file once, in order.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gregor_itests::apps::{end_offsets, free_port, read_to_end, topic_config, JavaApp};
use gregor_itests::clients::consume_all;
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;

/// Segments rolled every second of record time, so offset commits a while apart sit in closed
/// segments a cleaner may compact; a cleaner that looks every 100 ms.
const BROKER_SETTINGS: &[(&str, &str)] = &[
    ("log.roll.ms", "1000"),
    ("log.cleaner.backoff.ms", "100"),
    ("log.cleaner.min.cleanable.ratio", "0.1"),
];

/// The worker's class, as `bin/connect-distributed.sh` runs it.
const CONNECT_DISTRIBUTED: &str = "org.apache.kafka.connect.cli.ConnectDistributed";

const CONFIG_TOPIC: &str = "connect-configs";
const OFFSET_TOPIC: &str = "connect-offsets";
const STATUS_TOPIC: &str = "connect-status";
/// Kafka Connect's default partition count for the offset topic.
const OFFSET_PARTITIONS: i32 = 25;
const TARGET: &str = "file-lines";
const CONNECTOR: &str = "file-source";

/// Longest wait for the worker to start, run the connector or copy the file.
const TIMEOUT: Duration = Duration::from_secs(90);

/// The worker's settings: the broker, Connect's three compacted topics with one replica,
/// plain-string records, offsets flushed twice a second and a REST listener on `port`.
fn worker_properties(bootstrap: &str, port: u16) -> String {
    format!(
        "bootstrap.servers={bootstrap}\n\
         group.id=itests-connect\n\
         config.storage.topic={CONFIG_TOPIC}\n\
         offset.storage.topic={OFFSET_TOPIC}\n\
         status.storage.topic={STATUS_TOPIC}\n\
         config.storage.replication.factor=1\n\
         offset.storage.replication.factor=1\n\
         status.storage.replication.factor=1\n\
         key.converter=org.apache.kafka.connect.storage.StringConverter\n\
         value.converter=org.apache.kafka.connect.storage.StringConverter\n\
         offset.flush.interval.ms=500\n\
         listeners=http://127.0.0.1:{port}\n\
         rest.advertised.host.name=127.0.0.1\n\
         # The file connector is on the classpath (itests/java/target/lib); its service\n\
         # manifest names it, so no scan of every jar is needed.\n\
         plugin.discovery=service_load\n"
    )
}

/// One HTTP/1.0 request to the worker's REST API (a plain response, closed after it, needs no
/// HTTP client); returns the status code and body.
fn http(port: u16, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no status line in {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// A started worker and the port of its REST API.
struct Worker {
    app: JavaApp,
    port: u16,
}

impl Worker {
    /// Starts a worker with its properties file in `dir` and waits until its REST API answers
    /// the list of connectors (the herder is up).
    fn start(bootstrap: &str, dir: &Path, run: &str) -> anyhow::Result<Worker> {
        let port = free_port()?;
        let properties = dir.join(format!("worker-{run}.properties"));
        std::fs::write(&properties, worker_properties(bootstrap, port))?;
        let started = Instant::now();
        let app = JavaApp::start(
            &format!("connect-{run}"),
            CONNECT_DISTRIBUTED,
            &[properties.to_str().expect("utf-8 temp path")],
            dir,
        )?;
        let mut worker = Worker { app, port };
        worker.until("the REST API lists connectors", |w| {
            Ok(matches!(w.http("GET", "/connectors", None), Ok((200, _))))
        })?;
        println!("connect {run}: REST API up after {:?}", started.elapsed());
        Ok(worker)
    }

    fn http(&self, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
        http(self.port, method, path, body)
    }

    /// Polls `check` every 250 ms until it holds, failing if the worker exits or `TIMEOUT`
    /// passes.
    fn until(
        &mut self,
        what: &str,
        mut check: impl FnMut(&mut Worker) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            self.app.ensure_running()?;
            if check(self)? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{what}: not within {TIMEOUT:?}\n{}", self.app.stderr_tail());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Creates the FileStreamSource connector reading `file` into the target topic: POST
    /// /connectors, again while the worker answers that it is rebalancing (409) or not ready.
    fn create_file_source(&mut self, file: &Path) -> anyhow::Result<()> {
        let body = serde_json::json!({
            "name": CONNECTOR,
            "config": {
                "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
                "tasks.max": "1",
                "file": file.to_str().expect("utf-8 temp path"),
                "topic": TARGET,
            }
        })
        .to_string();
        self.until("POST /connectors answers 201 Created", |w| {
            match w.http("POST", "/connectors", Some(&body))? {
                (201, _) => Ok(true),
                (409 | 500 | 503, _) => Ok(false),
                (status, text) => bail!("POST /connectors: {status} {text}"),
            }
        })
    }

    /// Waits until the connector and its one task are RUNNING.
    fn wait_running(&mut self) -> anyhow::Result<()> {
        let path = format!("/connectors/{CONNECTOR}/status");
        self.until("the connector and its task RUNNING", |w| {
            let (status, body) = w.http("GET", &path, None)?;
            if status != 200 {
                return Ok(false);
            }
            let v: serde_json::Value = serde_json::from_str(&body)?;
            if v["tasks"][0]["state"] == "FAILED" {
                bail!("the task failed: {}", v["tasks"][0]["trace"]);
            }
            Ok(v["connector"]["state"] == "RUNNING" && v["tasks"][0]["state"] == "RUNNING")
        })
    }

    /// Waits until the offset topic holds, for the file, a position of `position` bytes.
    fn wait_offset(&mut self, bootstrap: &str, position: u64) -> anyhow::Result<()> {
        self.until(&format!("offset {position} stored"), |_| {
            Ok(stored_position(bootstrap)? == Some(position))
        })
    }

    fn stop(self) -> anyhow::Result<()> {
        self.app.stop()?;
        Ok(())
    }
}

/// The file's latest position in the offset topic, where FileStreamSource stores
/// `["file-source",{"filename":...}]` -> `{"position":N}` (JSON, whatever the converters).
fn stored_position(bootstrap: &str) -> anyhow::Result<Option<u64>> {
    let records = read_to_end(bootstrap, OFFSET_TOPIC, OFFSET_PARTITIONS, TIMEOUT)?;
    let ours = records
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.key).contains(CONNECTOR));
    let mut position = None;
    for r in ours {
        let value: serde_json::Value = serde_json::from_slice(&r.value)?;
        position = value["position"].as_u64();
    }
    Ok(position)
}

/// `count` lines numbered from `first`, each ending in a newline.
fn lines(first: usize, count: usize) -> Vec<String> {
    (first..first + count)
        .map(|i| format!("line {i:05} of the source file"))
        .collect()
}

/// Appends `lines` to `file`; returns the file's new length.
fn append(file: &Path, lines: &[String]) -> anyhow::Result<u64> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    for l in lines {
        writeln!(f, "{l}")?;
    }
    f.sync_all()?;
    Ok(f.metadata()?.len())
}

/// The target topic's values, waiting until `count` arrived.
fn target_lines(bootstrap: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let got = consume_all(bootstrap, TARGET, 1, count, TIMEOUT)?;
    Ok(got
        .get(&0)
        .map(|records| {
            records
                .iter()
                .map(|r| String::from_utf8_lossy(&r.value).into_owned())
                .collect()
        })
        .unwrap_or_default())
}

/// The worker creates its topics compacted, copies the file, and after a restart copies only
/// the lines appended since: offsets survive in the offset topic.
#[test]
fn file_source_resumes_from_stored_offsets_after_a_worker_restart() -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = broker.bootstrap.as_str();
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("source.txt");
        let mut client = RawClient::connect(b)?;
        let (code, message) = client.create_topic(TARGET, 1, &[])?;
        anyhow::ensure!(code == 0, "creating {TARGET}: {code} {message}");

        let mut expected = lines(0, 100);
        let mut length = append(&file, &expected)?;
        let mut worker = Worker::start(b, dir.path(), "first")?;
        for topic in [CONFIG_TOPIC, OFFSET_TOPIC, STATUS_TOPIC] {
            assert_eq!(
                topic_config(b, topic, "cleanup.policy")?.as_deref(),
                Some("compact"),
                "Connect's {topic} is created compacted"
            );
        }
        worker.create_file_source(&file)?;
        worker.wait_running()?;
        assert_eq!(target_lines(b, expected.len())?, expected);
        worker.wait_offset(b, length)?;
        // A second offset for the same key, so the offset topic has something to compact.
        let more = lines(100, 100);
        length = append(&file, &more)?;
        expected.extend(more);
        worker.wait_offset(b, length)?;
        assert_eq!(target_lines(b, expected.len())?, expected);
        worker.stop()?;

        let mut worker = Worker::start(b, dir.path(), "restarted")?;
        worker.wait_running()?;
        let more = lines(200, 150);
        length = append(&file, &more)?;
        expected.extend(more);
        worker.wait_offset(b, length)?;
        // Every line read is on the topic before its offset is stored: this is all of them.
        let target_end = end_offsets(b, TARGET, 1)?[0];
        assert_eq!(
            target_end,
            expected.len() as i64,
            "the target topic holds each line once"
        );
        assert_eq!(target_lines(b, expected.len())?, expected);

        // Our offsets all go to one partition of the offset topic, so its records read from
        // the beginning fall below its high watermark once compacted.
        worker.until("the offset topic compacted", |_| {
            let ends = end_offsets(b, OFFSET_TOPIC, OFFSET_PARTITIONS)?;
            let written: i64 = ends.iter().sum();
            let held = read_to_end(b, OFFSET_TOPIC, OFFSET_PARTITIONS, TIMEOUT)?.len();
            println!("{OFFSET_TOPIC}: {held} records of {written} written");
            Ok((held as i64) < written)
        })?;
        worker.stop()?;
        Ok(())
    })
}
