//! `/metrics` as Prometheus takes it (issue 19): `promtool check metrics` (Debian's prometheus
//! package) finds nothing wrong with the exposition, and a real Prometheus server scraping
//! Gregor answers a query for a partition's consumer lag with the lag `kafka-consumer-groups
//! --describe` (Apache Kafka's tool) prints. The JSON API's group view agrees with both.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gregor_itests::apps::free_port;
use gregor_itests::clients::create_topic;
use gregor_itests::group::produce_values;
use gregor_itests::kafka_tools::{describe_offsets, run, CONSUMER_GROUPS};
use gregor_itests::TestBroker;
use serde_json::Value;

const GROUP: &str = "lag-check";
const PROMETHEUS: &str = "/usr/bin/prometheus";
const PROMTOOL: &str = "/usr/bin/promtool";

/// `GET path` over HTTP/1.0 (no chunked answer to decode): status line and body.
fn get(address: &str, path: &str) -> anyhow::Result<(String, String)> {
    let mut socket = TcpStream::connect(address)?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(socket, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .with_context(|| format!("not an HTTP answer: {answer:?}"))?;
    Ok((
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    ))
}

/// Percent-encodes a query parameter.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The LAG column of `kafka-consumer-groups --describe` for `orders` partition `partition`.
fn described_lag(bootstrap: &str, partition: i32) -> anyhow::Result<String> {
    let rows = describe_offsets(bootstrap, GROUP)?;
    match rows
        .iter()
        .find(|r| r.topic == "orders" && r.partition == partition)
    {
        Some(r) => Ok(r.lag.clone()),
        None => bail!("no row for orders-{partition}: {rows:?}"),
    }
}

/// A Prometheus server, stopped on drop.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_prometheus(dir: &Path, target: &str, port: u16) -> anyhow::Result<Prometheus> {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: gregor\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )?;
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log"))?)
        .spawn()
        .context("starting prometheus")?;
    Ok(Prometheus(child))
}

/// Polls Prometheus' query API until `query` has a sample; returns its value.
fn query_until_sample(address: &str, query: &str, log: &Path) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let path = format!("/api/v1/query?query={}", encode(query));
    loop {
        // Refused until the server is up; an empty result until the first scrape is in.
        if let Ok((status, body)) = get(address, &path) {
            if status.contains(" 200") {
                let v: Value = serde_json::from_str(&body)?;
                if let Some(value) = v["data"]["result"][0]["value"][1].as_str() {
                    return Ok(value.to_string());
                }
            }
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            bail!("Prometheus never had a sample of {query}; its log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_the_lag_kafka_consumer_groups_describes() -> anyhow::Result<()> {
    for tool in [PROMETHEUS, PROMTOOL] {
        if !Path::new(tool).exists() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                bail!("{tool} is missing and CI=true: install Debian's prometheus (test.sh does)");
            }
            eprintln!("SKIPPED: {tool} is missing (apt-get install prometheus, or run test.sh)");
            return Ok(());
        }
    }
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let http = broker.http_address()?;
    create_topic(&b, "orders", 3).await?;
    produce_values(&b, "orders", 3, "order", 30)?;
    // The group commits offset 4 on every partition: a lag of 6 on each.
    run(
        CONSUMER_GROUPS,
        &[
            "--bootstrap-server",
            &b,
            "--reset-offsets",
            "--group",
            GROUP,
            "--topic",
            "orders",
            "--to-offset",
            "4",
            "--execute",
        ],
    )?
    .ok()?;
    let described = described_lag(&b, 1)?;
    assert_eq!(described, "6", "kafka-consumer-groups' LAG");

    // promtool on the exposition.
    let (status, metrics) = get(&http, "/metrics")?;
    assert!(status.contains(" 200"), "{status}");
    for family in [
        "kafka_consumergroup_lag{consumergroup=\"lag-check\",topic=\"orders\",partition=\"1\"} 6",
        "kafka_consumergroup_current_offset{consumergroup=\"lag-check\",topic=\"orders\",partition=\"1\"} 4",
        "kafka_consumergroup_members{consumergroup=\"lag-check\"} 0",
        "kafka_topic_partition_current_offset{topic=\"orders\",partition=\"1\"} 10",
        "kafka_server_brokertopicmetrics_messagesin_total{topic=\"orders\"} 30",
        "kafka_network_request_duration_seconds_bucket{request=\"Produce\",le=\"+Inf\"}",
    ] {
        assert!(metrics.contains(family), "{family} in:\n{metrics}");
    }
    let mut promtool = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    promtool
        .stdin
        .take()
        .context("stdin")?
        .write_all(metrics.as_bytes())?;
    let checked = promtool.wait_with_output()?;
    assert!(
        checked.status.success() && checked.stdout.is_empty() && checked.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // The JSON API says the same.
    let (_, groups) = get(&http, &format!("/api/groups/{GROUP}"))?;
    let group: Value = serde_json::from_str(&groups).context(groups.clone())?;
    assert_eq!(group["kind"], "classic", "{group}");
    assert_eq!(group["state"], "Empty", "{group}");
    let p1 = group["offsets"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["partition"] == 1))
        .context("orders-1 in the group's offsets")?;
    assert_eq!(
        (&p1["committed_offset"], &p1["end_offset"], &p1["lag"]),
        (&Value::from(4), &Value::from(10), &Value::from(6)),
        "{group}"
    );
    let (status, _) = get(&http, "/api/groups/no-such-group")?;
    assert!(status.contains(" 404"), "{status}");
    // The three commits come back as one summary event, once its window is over.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = get(&http, "/api/group-events")?;
        let events: Vec<Value> = serde_json::from_str(&body).context(body.clone())?;
        let commits: Vec<&Value> = events
            .iter()
            .filter(|e| e["group_id"] == GROUP && e["type"] == "offsets_committed")
            .collect();
        if let Some(e) = commits.first() {
            assert_eq!(commits.len(), 1, "one summary: {events:?}");
            assert_eq!(e["partitions"], 3, "{e}");
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "no commit summary: {events:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // A real Prometheus scrapes Gregor and answers the same lag.
    let dir = tempfile::tempdir()?;
    let port = free_port()?;
    let _prometheus = start_prometheus(dir.path(), &http, port)?;
    let scraped = query_until_sample(
        &format!("127.0.0.1:{port}"),
        &format!(
            "kafka_consumergroup_lag{{consumergroup=\"{GROUP}\",topic=\"orders\",partition=\"1\"}}"
        ),
        &dir.path().join("prometheus.log"),
    )?;
    assert_eq!(scraped, described, "Prometheus' lag is the tool's");
    Ok(())
}
