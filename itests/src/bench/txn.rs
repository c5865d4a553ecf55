//! The transactions rows: one transactional producer runs transactions back to back (begin,
//! 100 records of 1 KiB over 3 partitions, commit) while a read_committed consumer reads them;
//! transactions per second and the end-to-end latency of each record from its send to its
//! delivery to the read_committed consumer (which it only gets once the commit's markers are
//! written and the last stable offset passed it).
//!
//! The producer is rdkafka's or the Java client's (`itests/java/src/TxnBench.java`, a process
//! of its own). rdkafka 0.39's `commit_transaction` first runs the crate's own `flush`, which
//! polls for at least 100 ms whenever a record is still unacknowledged as it starts, as one
//! is at every commit: its row cannot pass about 10 a second on any broker, so the Java row
//! is the one that shows the broker.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

/// Records per transaction.
pub const RECORDS_PER_TXN: usize = 100;
/// Value size of each record.
pub const RECORD_BYTES: usize = 1024;
/// Partitions each transaction writes to (the topic's partitions).
pub const PARTITIONS: i32 = 3;

/// Longest any one step may take before the round is abandoned.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// Marks the records of the untimed first transactions.
const WARMUP_SEQ: u64 = u64::MAX;

/// Untimed transactions of the Java producer before the timed ones: the coordinator lookup,
/// and the JIT's first compilations of the send path.
pub const JAVA_WARMUP: u64 = 20;

/// Which client produces the transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// rdkafka (librdkafka), in this process; one untimed transaction first.
    Rdkafka,
    /// Apache Kafka's Java producer, in a `java` process; `JAVA_WARMUP` untimed first.
    Java,
}

/// What the run measured.
#[derive(Debug, Clone, Copy)]
pub struct TxnFigures {
    /// Committed transactions per second.
    pub per_s: f64,
    /// Send-to-read_committed-delivery latency percentiles, milliseconds.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Records whose latency was measured.
    pub samples: usize,
}

/// Runs `transactions` timed transactions of `client` (after its untimed ones) into `topic`,
/// which has `PARTITIONS` partitions and nothing in it yet.
pub fn run(
    bootstrap: &str,
    topic: &str,
    transactions: u64,
    client: Client,
) -> anyhow::Result<TxnFigures> {
    let base = Instant::now();
    let total = transactions as usize * RECORDS_PER_TXN;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-txn-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "100")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        // The topic is new: from the beginning misses nothing, as the end might.
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let done = done.clone();
        std::thread::spawn(move || -> anyhow::Result<Vec<u64>> {
            let mut latencies = Vec::with_capacity(total);
            while latencies.len() < total && !done.load(Ordering::Relaxed) {
                let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                    continue;
                };
                let now = base.elapsed().as_nanos() as u64;
                let m = message?;
                let (sent, seq) = super::load::stamp(m.payload().unwrap_or_default())?;
                if seq != WARMUP_SEQ {
                    latencies.push(now.saturating_sub(sent));
                }
            }
            Ok(latencies)
        })
    };
    let timed = match client {
        Client::Rdkafka => rdkafka_transactions(bootstrap, topic, transactions, base),
        Client::Java => java_transactions(bootstrap, topic, transactions, base),
    };
    let tail_deadline = Instant::now() + Duration::from_secs(30);
    while !reader.is_finished() && Instant::now() < tail_deadline && timed.is_ok() {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    let mut latencies = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the read_committed reader panicked"))??;
    let elapsed = timed?;
    if latencies.len() < total {
        bail!(
            "the read_committed consumer read {} of {total} records",
            latencies.len()
        );
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1] as f64 / 1e6
    };
    Ok(TxnFigures {
        per_s: transactions as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        samples: latencies.len(),
    })
}

/// The timed transactions of an rdkafka producer; how long they took.
fn rdkafka_transactions(
    bootstrap: &str,
    topic: &str,
    transactions: u64,
    base: Instant,
) -> anyhow::Result<Duration> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", "bench-txn")
        .set("linger.ms", "5")
        .set("compression.type", "none")
        .create()?;
    producer.init_transactions(STEP_TIMEOUT)?;
    let mut payload = vec![0u8; RECORD_BYTES];
    let mut one = |seq: Option<u64>| -> anyhow::Result<()> {
        producer.begin_transaction()?;
        for i in 0..RECORDS_PER_TXN {
            payload[..8].copy_from_slice(&(base.elapsed().as_nanos() as u64).to_be_bytes());
            let n = seq.map_or(WARMUP_SEQ, |s| s * RECORDS_PER_TXN as u64 + i as u64);
            payload[8..16].copy_from_slice(&n.to_be_bytes());
            let record = BaseRecord::<[u8], [u8]>::to(topic)
                .partition(i as i32 % PARTITIONS)
                .payload(&payload);
            producer.send(record).map_err(|(e, _)| e)?;
        }
        producer.commit_transaction(STEP_TIMEOUT)?;
        Ok(())
    };
    // The first transaction finds the coordinator and adds the partitions: untimed.
    one(None).context("the warm-up transaction")?;
    let started = Instant::now();
    for t in 0..transactions {
        one(Some(t)).with_context(|| format!("transaction {t}"))?;
    }
    Ok(started.elapsed())
}

/// The timed transactions of the Java producer (`TxnBench.java`), as it measured them. Its
/// records are stamped with the wall clock less `base`'s, so the reader's latencies mean
/// the same as with rdkafka's.
fn java_transactions(
    bootstrap: &str,
    topic: &str,
    transactions: u64,
    base: Instant,
) -> anyhow::Result<Duration> {
    let lib = crate::kafka_tools::lib_dir()?;
    let classes = crate::kafka_tools::compiled_program("TxnBench")?;
    let base_epoch_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)?
        .saturating_sub(base.elapsed())
        .as_nanos();
    let dir = super::cleanup::ScratchDir::new("txn-java")?;
    let mut cmd = Command::new("java");
    cmd.args(["-Xmx256M", "-XX:+UseSerialGC"])
        // The client's INFO lines (its whole config, twice) say nothing the row needs.
        .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .arg("-cp")
        .arg(format!("{}:{}/*", classes.display(), lib.display()))
        .arg("TxnBench")
        .args(["--bootstrap", bootstrap, "--topic", topic])
        .args(["--partitions", &PARTITIONS.to_string()])
        .args(["--records", &RECORDS_PER_TXN.to_string()])
        .args(["--record-bytes", &RECORD_BYTES.to_string()])
        .args(["--warmup", &JAVA_WARMUP.to_string()])
        .args(["--transactions", &transactions.to_string()])
        .args(["--base-epoch-ns", &base_epoch_ns.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(dir.file("stdout.log")?)
        .stderr(dir.file("stderr.log")?);
    let status = super::cleanup::spawn(&mut cmd, "java TxnBench")?.wait_within(STEP_TIMEOUT)?;
    let stdout = std::fs::read_to_string(dir.path().join("stdout.log"))?;
    if !status.success() {
        let stderr = std::fs::read_to_string(dir.path().join("stderr.log"))?;
        bail!("TxnBench.java failed ({status}):\n{stdout}{stderr}");
    }
    let timed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TIMED "))
        .with_context(|| format!("TxnBench.java printed no TIMED line:\n{stdout}"))?;
    match timed.split_whitespace().collect::<Vec<_>>()[..] {
        [n, ns] if n.parse::<u64>().ok() == Some(transactions) => {
            Ok(Duration::from_nanos(ns.parse()?))
        }
        _ => bail!("TxnBench.java: unexpected TIMED line {timed:?}"),
    }
}
