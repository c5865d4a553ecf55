//! Kafka Streams 4.4 word count (`itests/java/src/WordCount.java --exactly-once`) with
//! `processing.guarantee=exactly_once_v2`: transactional producers, offsets sent to the
//! transaction, output read with read_committed. The counts are exact after the app starts,
//! after a `kill -9` of the app mid-run and its restart (the aborted transaction's output is
//! never seen and its input is counted once), and after a `kill -9` of the broker mid-run.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use gregor_itests::apps::{JavaApp, LatestPerKey};
use gregor_itests::clients::{produce_all, producer, Rec};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;

const WORDS: [&str; 5] = ["apple", "banana", "cherry", "damson", "elder"];
const PARTITIONS: i32 = 2;
const INPUT: &str = "words";
const OUTPUT: &str = "counts";
const APP_ID: &str = "wc-eos";
/// Longest wait for the app to start, catch up or recover.
const APP_TIMEOUT: Duration = Duration::from_secs(90);

fn line(i: usize) -> String {
    (0..1 + i % 3)
        .map(|k| WORDS[(i * i + k) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn word_counts(lines: std::ops::Range<usize>) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for i in lines {
        for w in line(i).split_whitespace() {
            *counts.entry(w.to_string()).or_insert(0) += 1;
        }
    }
    counts
        .into_iter()
        .map(|(w, n)| (w.into_bytes(), n.to_string().into_bytes()))
        .collect()
}

fn produce_lines(bootstrap: &str, lines: std::ops::Range<usize>) -> anyhow::Result<()> {
    let (p, _acks) = producer(bootstrap, &[])?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let records: Vec<Rec> = lines
        .map(|i| Rec {
            partition: (i % PARTITIONS as usize) as i32,
            offset: -1,
            key: format!("line-{i}").into_bytes(),
            value: line(i).into_bytes(),
            headers: Vec::new(),
            timestamp: now.as_millis() as i64,
        })
        .collect();
    produce_all(&p, INPUT, &records)
}

fn start(bootstrap: &str, dir: &Path, run: &str) -> anyhow::Result<JavaApp> {
    let state = dir.join("state");
    let args = [
        "--bootstrap",
        bootstrap,
        "--application-id",
        APP_ID,
        "--state-dir",
        state.to_str().expect("utf-8 temp path"),
        "--input",
        INPUT,
        "--output",
        OUTPUT,
        "--exactly-once",
    ];
    let mut app = JavaApp::start(&format!("{APP_ID}-{run}"), "WordCount.java", &args, dir)?;
    app.wait_for("STATE RUNNING", APP_TIMEOUT, |l| l == "STATE RUNNING")?;
    Ok(app)
}

fn wait_counts(
    output: &mut LatestPerKey,
    what: &str,
    lines: std::ops::Range<usize>,
) -> anyhow::Result<()> {
    let want = word_counts(lines);
    output.read_until(what, APP_TIMEOUT, |latest| *latest == want)
}

#[test]
fn counts_are_exact_across_app_and_broker_kill9() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let mut client = RawClient::connect(&b)?;
    for topic in [INPUT, OUTPUT] {
        let (code, message) = client.create_topic(topic, PARTITIONS, &[])?;
        anyhow::ensure!(code == 0, "creating {topic}: {code} {message}");
    }
    let dir = tempfile::tempdir()?;
    let mut output = LatestPerKey::read_committed(&b, OUTPUT, PARTITIONS)?;

    produce_lines(&b, 0..300)?;
    let app = start(&b, dir.path(), "first")?;
    wait_counts(&mut output, "first 300 lines", 0..300)?;

    // The app dies mid-run: lines arrive while it is down, or just before.
    produce_lines(&b, 300..450)?;
    app.kill9()?;
    produce_lines(&b, 450..600)?;
    let app = start(&b, dir.path(), "after-app-kill")?;
    wait_counts(&mut output, "600 lines after the app's kill -9", 0..600)?;

    // The broker dies mid-run.
    produce_lines(&b, 600..750)?;
    broker.kill9()?;
    broker.restart()?;
    produce_lines(&b, 750..900)?;
    wait_counts(&mut output, "900 lines after the broker's kill -9", 0..900)?;
    app.stop()?;
    Ok(())
}
