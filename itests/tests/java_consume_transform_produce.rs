//! A consume-transform-produce loop with the Java clients (`itests/java/src/TxnCopy.java`:
//! read_committed consumer in a group, transactional producer, sendOffsetsToTransaction),
//! killed with `kill -9` several times mid-run and restarted: the output read with
//! read_committed holds every input record exactly once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use gregor_itests::apps::JavaApp;
use gregor_itests::clients::{consume_all_with, create_topic, produce_all, producer, Rec};
use gregor_itests::TestBroker;

const INPUT: &str = "in";
const OUTPUT: &str = "out";
const PARTITIONS: i32 = 2;
const LINES: usize = 600;
const APP_TIMEOUT: Duration = Duration::from_secs(90);

fn start(bootstrap: &str, dir: &std::path::Path, run: usize) -> anyhow::Result<JavaApp> {
    let args = [
        "--bootstrap",
        bootstrap,
        "--group",
        "copy",
        "--transactional-id",
        "copy-tx",
        "--input",
        INPUT,
        "--output",
        OUTPUT,
    ];
    let mut app = JavaApp::start(&format!("copy-{run}"), "TxnCopy.java", &args, dir)?;
    app.wait_for("READY", APP_TIMEOUT, |l| l == "READY")?;
    Ok(app)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_input_record_is_in_the_output_exactly_once_across_kill9s() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, INPUT, PARTITIONS).await?;
    create_topic(&b, OUTPUT, PARTITIONS).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let records: Vec<Rec> = (0..LINES)
        .map(|i| Rec {
            partition: (i % PARTITIONS as usize) as i32,
            offset: -1,
            key: format!("k{i}").into_bytes(),
            value: format!("line-{i}").into_bytes(),
            headers: Vec::new(),
            timestamp: now.as_millis() as i64,
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let (p, _) = producer(&b, &[])?;
    // Input arrives while the app runs, in slices, and the app is killed after some commits.
    for run in 0..4 {
        let slice = &records[run * LINES / 4..(run + 1) * LINES / 4];
        let mut app = start(&b, dir.path(), run)?;
        produce_all(&p, INPUT, slice)?;
        app.wait_for("a commit", APP_TIMEOUT, |l| l.starts_with("COMMITTED"))?;
        if run < 3 {
            app.kill9()?;
        } else {
            // The last run reads everything: wait until the output holds every record.
            let deadline = Instant::now() + APP_TIMEOUT;
            loop {
                let got = consume_all_with(
                    &b,
                    OUTPUT,
                    PARTITIONS,
                    LINES,
                    Duration::from_secs(5),
                    &[("isolation.level", "read_committed")],
                )?;
                if got.values().map(Vec::len).sum::<usize>() >= LINES || Instant::now() > deadline {
                    break;
                }
            }
            app.stop()?;
        }
    }
    let got = consume_all_with(
        &b,
        OUTPUT,
        PARTITIONS,
        LINES + 1,
        Duration::from_secs(5),
        &[("isolation.level", "read_committed")],
    )?;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for r in got.values().flatten() {
        *seen
            .entry(String::from_utf8_lossy(&r.value).into_owned())
            .or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "output twice: {twice:?}");
    for i in 0..LINES {
        assert!(
            seen.contains_key(&format!("LINE-{i}")),
            "input line-{i} missing from the output"
        );
    }
    assert_eq!(seen.len(), LINES);
    Ok(())
}
