//! A consume-transform-produce loop on librdkafka (`itests/src/bin/txn_copy.rs`: read_committed
//! consumer in a group, transactional producer, `send_offsets_to_transaction`) killed with
//! `kill -9` at random points many times while input keeps arriving, and started again: the
//! output read with read_committed holds every input record exactly once.
//!
//! CI kills it 4 times; `GREGOR_CTP_KILLS=30` (or more) for the long variant. The random kill
//! points come from a seed printed at the start (`GREGOR_CTP_SEED` replays one).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gregor_itests::apps;
use gregor_itests::clients::{create_topic, produce_all, producer, Rec};
use gregor_itests::rng::Rng;
use gregor_itests::TestBroker;

const INPUT: &str = "in";
const OUTPUT: &str = "out";
const PARTITIONS: i32 = 2;
/// Input records that arrive during each run of the application.
const PER_RUN: usize = 300;
/// Longest wait for the application or the output.
const WAIT: Duration = Duration::from_secs(90);

fn kills() -> usize {
    std::env::var("GREGOR_CTP_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4)
}

fn seed() -> u64 {
    std::env::var("GREGOR_CTP_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        })
}

/// One run of `txn_copy`, its stdout lines on a channel.
struct App {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: std::path::PathBuf,
}

impl App {
    fn start(bootstrap: &str, dir: &std::path::Path, run: usize) -> anyhow::Result<App> {
        let stderr = dir.join(format!("copy-{run}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_txn_copy"))
            .args(["--bootstrap", bootstrap, "--group", "copy"])
            .args(["--transactional-id", "copy-tx", "--input", INPUT])
            .args(["--output", OUTPUT])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr)?)
            .spawn()
            .context("starting txn_copy")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut app = App {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        };
        app.wait_for("READY", |l| l == "READY")?;
        Ok(app)
    }

    /// Waits for a line that `matches`; fails on a FAILED line, an exit, or after `WAIT`.
    fn wait_for(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with("FAILED") => bail!(
                    "txn_copy failed: {line}\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ),
                Ok(line) if matches(&line) => return Ok(()),
                Ok(line) => self.seen.push(line),
                Err(_) => bail!(
                    "txn_copy did not print {what}; it printed {} lines\n{}",
                    self.seen.len(),
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ),
            }
        }
    }

    /// Fails if the application printed FAILED or exited.
    fn check_running(&mut self) -> anyhow::Result<()> {
        loop {
            match self.lines.try_recv() {
                Ok(line) if line.starts_with("FAILED") => bail!(
                    "txn_copy failed: {line}\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ),
                Ok(line) => self.seen.push(line),
                Err(mpsc::TryRecvError::Empty) => return Ok(()),
                Err(mpsc::TryRecvError::Disconnected) => bail!(
                    "txn_copy exited\n{}",
                    std::fs::read_to_string(&self.stderr).unwrap_or_default()
                ),
            }
        }
    }

    fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// Every value of the output a read_committed consumer gets (see `apps::read_committed_to_end`).
fn read_committed_to_end(bootstrap: &str) -> anyhow::Result<Vec<String>> {
    apps::read_committed_to_end(bootstrap, OUTPUT, PARTITIONS, WAIT)
}

/// How many values the output holds for read_committed, counting duplicates.
fn committed_output(bootstrap: &str) -> anyhow::Result<usize> {
    Ok(read_committed_to_end(bootstrap)?.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_input_record_is_in_the_output_exactly_once_across_random_kill9s(
) -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, INPUT, PARTITIONS).await?;
    create_topic(&b, OUTPUT, PARTITIONS).await?;
    let seed = seed();
    println!("GREGOR_CTP_SEED={seed}");
    let mut rng = Rng::new(seed);
    let runs = kills() + 1;
    let lines = runs * PER_RUN;
    let dir = tempfile::tempdir()?;
    for run in 0..runs {
        let mut app = App::start(&b, dir.path(), run)?;
        // This run's input arrives in small slices while the application copies, so a kill
        // lands between polls, inside transactions and inside commits.
        let feeder = {
            let b = b.clone();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let (p, _) = producer(&b, &[])?;
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)?
                    .as_millis() as i64;
                for chunk in (run * PER_RUN..(run + 1) * PER_RUN)
                    .collect::<Vec<_>>()
                    .chunks(10)
                {
                    let records: Vec<Rec> = chunk
                        .iter()
                        .map(|i| Rec {
                            partition: (i % PARTITIONS as usize) as i32,
                            offset: -1,
                            key: format!("k{i}").into_bytes(),
                            value: format!("line-{i}").into_bytes(),
                            headers: Vec::new(),
                            timestamp: now,
                        })
                        .collect();
                    produce_all(&p, INPUT, &records)?;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(())
            })
        };
        if run + 1 < runs {
            app.wait_for("a commit", |l| l.starts_with("COMMITTED"))?;
            std::thread::sleep(Duration::from_millis(rng.below(600) as u64));
            app.kill9()?;
            feeder.join().expect("input feeder")?;
        } else {
            feeder.join().expect("input feeder")?;
            let deadline = Instant::now() + WAIT;
            while committed_output(&b)? < lines {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "the last run did not copy every input"
                );
                app.check_running()?;
                std::thread::sleep(Duration::from_millis(200));
            }
            app.kill9()?;
        }
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for value in read_committed_to_end(&b)? {
        *seen.entry(value).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "output twice: {twice:?}");
    for i in 0..lines {
        assert!(
            seen.contains_key(&format!("LINE-{i}")),
            "input line-{i} missing from the output"
        );
    }
    assert_eq!(seen.len(), lines, "output values never input");
    println!(
        "{} kills, {lines} input records copied exactly once",
        kills()
    );
    Ok(())
}
