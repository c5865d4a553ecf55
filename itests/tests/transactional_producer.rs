//! rdkafka's transactional producer: committed and aborted transactions, read by a
//! read_committed consumer (only the committed records, in order) and a read_uncommitted one
//! (every record, in order); then a second producer with the same transactional id fences the
//! first, whose transaction is aborted and whose commit fails.

use std::time::Duration;

use gregor_itests::clients::{consume_all_with, create_topic};
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// A producer that polls its delivery reports on a thread of its own.
type TxnProducer = ThreadedProducer<DefaultProducerContext>;

const TIMEOUT: Duration = Duration::from_secs(30);

fn producer(bootstrap: &str, transactional_id: &str) -> anyhow::Result<TxnProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("linger.ms", "5")
        .create()?)
}

/// One transaction of `values` over both partitions, committed or aborted.
fn transaction(p: &TxnProducer, values: &[String], commit: bool) -> anyhow::Result<()> {
    p.begin_transaction()?;
    for (i, v) in values.iter().enumerate() {
        let partition = (i % 2) as i32;
        p.send(
            BaseRecord::<str, str>::to("out")
                .partition(partition)
                .key("k")
                .payload(v),
        )
        .map_err(|(e, _)| e)?;
    }
    if commit {
        p.commit_transaction(TIMEOUT)?;
    } else {
        // Delivered first, so the aborted records are in the log for read_uncommitted.
        p.flush(TIMEOUT)?;
        p.abort_transaction(TIMEOUT)?;
    }
    Ok(())
}

fn batch(name: &str) -> Vec<String> {
    (0..10).map(|i| format!("{name}-{i}")).collect()
}

/// The values read from both partitions, partition 0 first, each in offset order.
fn read(bootstrap: &str, expected: usize, isolation: &str) -> anyhow::Result<Vec<String>> {
    let records = consume_all_with(
        bootstrap,
        "out",
        2,
        expected,
        TIMEOUT,
        &[("isolation.level", isolation)],
    )?;
    Ok(records
        .values()
        .flatten()
        .map(|r| String::from_utf8_lossy(&r.value).into_owned())
        .collect())
}

/// What a consumer should see of `batches`, partition by partition as `read` lists them.
fn by_partition(batches: &[&Vec<String>]) -> Vec<String> {
    (0..2)
        .flat_map(|p| {
            batches
                .iter()
                .flat_map(move |b| b.iter().skip(p).step_by(2).cloned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn read_committed_sees_committed_records_only_and_a_new_producer_fences_the_old(
) -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "out", 2).await?;
    let p = producer(&b, "tx-out")?;
    p.init_transactions(TIMEOUT)?;
    let (first, aborted, last) = (batch("first"), batch("aborted"), batch("last"));
    transaction(&p, &first, true)?;
    transaction(&p, &aborted, false)?;
    transaction(&p, &last, true)?;

    assert_eq!(
        read(&b, 20, "read_committed")?,
        by_partition(&[&first, &last])
    );
    assert_eq!(
        read(&b, 30, "read_uncommitted")?,
        by_partition(&[&first, &aborted, &last])
    );

    // A zombie: its transaction is open when a new producer with the same id starts.
    let zombie = batch("zombie");
    p.begin_transaction()?;
    for v in &zombie {
        p.send(
            BaseRecord::<str, str>::to("out")
                .partition(0)
                .key("k")
                .payload(v),
        )
        .map_err(|(e, _)| e)?;
    }
    p.flush(TIMEOUT)?;
    let q = producer(&b, "tx-out")?;
    q.init_transactions(TIMEOUT)?;
    assert!(
        p.commit_transaction(TIMEOUT).is_err(),
        "the zombie committed"
    );
    let fresh = batch("fresh");
    transaction(&q, &fresh, true)?;
    assert_eq!(
        read(&b, 30, "read_committed")?,
        by_partition(&[&first, &last, &fresh])
    );
    Ok(())
}
