//! Crash safety of the transaction coordinator: an rdkafka transactional producer commits
//! transactions of ten records over two partitions while the broker is killed with `kill -9`
//! at varying points (before PrepareCommit is written, after it, between markers, after
//! CompleteCommit). After each restart the logged decision is carried out: read_committed
//! sees every acknowledged commit whole, and of any other transaction all records or none.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor_itests::clients::create_topic;
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};

type TxnProducer = ThreadedProducer<DefaultProducerContext>;

const RECORDS_PER_TXN: usize = 10;
const TIMEOUT: Duration = Duration::from_secs(20);

fn producer(bootstrap: &str) -> anyhow::Result<TxnProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", "crash-tx")
        .set("linger.ms", "1")
        .set("reconnect.backoff.max.ms", "200")
        .create()?)
}

/// A producer whose init went through (retried while the broker is down).
fn ready_producer(bootstrap: &str, stop: &AtomicBool) -> Option<TxnProducer> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
        if let Ok(p) = producer(bootstrap) {
            if p.init_transactions(TIMEOUT).is_ok() {
                return Some(p);
            }
        }
    }
    None
}

fn one_transaction(p: &TxnProducer, n: usize) -> anyhow::Result<()> {
    p.begin_transaction()?;
    for i in 0..RECORDS_PER_TXN {
        let value = format!("{n}-{i}");
        p.send(
            BaseRecord::<str, str>::to("out")
                .partition((i % 2) as i32)
                .key("k")
                .payload(&value),
        )
        .map_err(|(e, _)| e)?;
    }
    p.commit_transaction(TIMEOUT)?;
    Ok(())
}

/// Every committed record before the sentinel transaction, as (transaction, record) pairs.
fn read_committed(bootstrap: &str, sentinel: usize) -> anyhow::Result<Vec<(usize, usize)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "crash-reader")
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition_offset("out", p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.len() < 2 {
        anyhow::ensure!(Instant::now() < deadline, "sentinel not read");
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m?;
        let text = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
        let (txn, record) = text
            .split_once('-')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .ok_or_else(|| anyhow::anyhow!("bad record {text}"))?;
        if txn == sentinel {
            done.insert(m.partition());
        } else {
            out.push((txn, record));
        }
    }
    Ok(out)
}

#[test]
fn every_logged_decision_is_completed_after_kill9() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    tokio::runtime::Runtime::new()?.block_on(create_topic(&b, "out", 2))?;
    let stop = Arc::new(AtomicBool::new(false));
    let acked: Arc<Mutex<Vec<usize>>> = Arc::default();
    let worker = {
        let (b, stop, acked) = (b.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || -> usize {
            let mut n = 0;
            let mut p = ready_producer(&b, &stop);
            while !stop.load(Ordering::SeqCst) {
                let Some(producer) = p.as_ref() else {
                    p = ready_producer(&b, &stop);
                    continue;
                };
                n += 1;
                if one_transaction(producer, n).is_ok() {
                    acked.lock().unwrap().push(n);
                } else {
                    // Whatever state the client is in, a new producer with the same id
                    // fences it and has the coordinator finish its transaction.
                    p = None;
                }
            }
            n
        })
    };
    let acked_count = |acked: &Arc<Mutex<Vec<usize>>>| acked.lock().unwrap().len();
    for cycle in 0..12u64 {
        // Let some transactions commit, then kill at a point that varies with the cycle.
        let before = acked_count(&acked);
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked_count(&acked) < before + 3 {
            anyhow::ensure!(Instant::now() < deadline, "no commits in cycle {cycle}");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(3 * cycle));
        broker.kill9()?;
        broker.restart()?;
    }
    let before = acked_count(&acked);
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked_count(&acked) < before + 3 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no commits after the last restart"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::SeqCst);
    let last = worker.join().expect("producer thread");

    // A last producer: its init ends whatever was left open, then a sentinel transaction.
    let p = ready_producer(&b, &AtomicBool::new(false)).expect("producer after the run");
    let sentinel = last + 1;
    one_transaction(&p, sentinel)?;

    let mut per_txn: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for (txn, record) in read_committed(&b, sentinel)? {
        assert!(
            per_txn.entry(txn).or_default().insert(record),
            "record {txn}-{record} read twice"
        );
    }
    for (txn, records) in &per_txn {
        assert_eq!(
            records.len(),
            RECORDS_PER_TXN,
            "transaction {txn} is partial"
        );
    }
    for txn in acked.lock().unwrap().iter() {
        assert!(
            per_txn.contains_key(txn),
            "acknowledged transaction {txn} is missing"
        );
    }
    println!(
        "{} transactions acknowledged, {} visible, {last} attempted",
        acked_count(&acked),
        per_txn.len()
    );
    Ok(())
}
