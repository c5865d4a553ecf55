//! A consume-transform-produce loop with the Java clients (`itests/java/src/TxnCopy.java`:
//! read_committed consumer in a group, transactional producer, sendOffsetsToTransaction),
//! killed with `kill -9` several times mid-run and restarted: the output read with
//! read_committed holds every input record exactly once. The client runs with
//! `transaction.version` 2 (KIP-890 part 2: partitions added by Produce, the epoch bumped at
//! every commit), which the producer epoch after the run shows.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use gregor_itests::apps::{self, JavaApp};
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

/// Every value of the output a read_committed consumer gets (see `apps::read_committed_to_end`).
fn read_committed_to_end(bootstrap: &str) -> anyhow::Result<Vec<String>> {
    apps::read_committed_to_end(bootstrap, OUTPUT, PARTITIONS, APP_TIMEOUT)
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
        // The last run's epoch once its init is done: only EndTxn v5 moves it after that.
        let epoch_at_start = producer_epoch(&b, "copy-tx")?;
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
            let epoch = producer_epoch(&b, "copy-tx")?;
            assert!(
                epoch > epoch_at_start,
                "epoch {epoch} after the last run's commits, {epoch_at_start} at its start: the \
                 client did not bump it at its commits (transaction.version 2)"
            );
            app.stop()?;
        }
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for value in read_committed_to_end(&b)? {
        *seen.entry(value).or_default() += 1;
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

/// The producer epoch DescribeTransactions reports for `transactional_id`.
fn producer_epoch(bootstrap: &str, transactional_id: &str) -> anyhow::Result<i16> {
    use gregor_itests::raw::messages::{
        ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, TransactionalId,
    };
    let mut client = gregor_itests::raw::RawClient::connect(bootstrap)?;
    let request =
        DescribeTransactionsRequest::default().with_transactional_ids(vec![TransactionalId(
            gregor_protocol::StrBytes::from_string(transactional_id.to_string()),
        )]);
    let response: DescribeTransactionsResponse =
        client.call(ApiKey::DescribeTransactions, 0, &request)?;
    let state = response
        .transaction_states
        .first()
        .context("no transaction state")?;
    anyhow::ensure!(state.error_code == 0, "error {}", state.error_code);
    Ok(state.producer_epoch)
}
