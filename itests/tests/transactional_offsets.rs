//! rdkafka's transactional producer against the transaction coordinator, with offsets only
//! (sendOffsetsToTransaction, no records): a committed transaction's offsets become the
//! group's, an aborted one's never do, and a second producer with the same transactional id
//! fences the first. Records and read_committed need the data plane's markers (txn-log).

use std::time::Duration;

use gregor_itests::apps::committed_offsets;
use gregor_itests::clients::create_topic;
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn producer(bootstrap: &str, transactional_id: &str) -> anyhow::Result<BaseProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "60000")
        .create()?)
}

fn offsets(topic: &str, offset: i64) -> anyhow::Result<TopicPartitionList> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, 0, Offset::Offset(offset))?;
    Ok(list)
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_count_aborted_ones_do_not_and_a_new_producer_fences_the_old(
) -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "in", 1).await?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .set("group.id", "g")
        .create()?;
    let group = consumer
        .group_metadata()
        .ok_or_else(|| anyhow::anyhow!("no group metadata"))?;

    let p = producer(&b, "tx-1")?;
    p.init_transactions(TIMEOUT)?;
    p.begin_transaction()?;
    p.send_offsets_to_transaction(&offsets("in", 5)?, &group, TIMEOUT)?;
    p.commit_transaction(TIMEOUT)?;
    assert_eq!(committed_offsets(&b, "g", "in", 1)?, vec![5]);

    p.begin_transaction()?;
    p.send_offsets_to_transaction(&offsets("in", 9)?, &group, TIMEOUT)?;
    p.abort_transaction(TIMEOUT)?;
    assert_eq!(committed_offsets(&b, "g", "in", 1)?, vec![5], "aborted");

    p.begin_transaction()?;
    p.send_offsets_to_transaction(&offsets("in", 12)?, &group, TIMEOUT)?;
    // A second producer with the same id: its init aborts the first's transaction.
    let q = producer(&b, "tx-1")?;
    q.init_transactions(TIMEOUT)?;
    let fenced = p.commit_transaction(TIMEOUT);
    assert!(fenced.is_err(), "the fenced producer committed");
    assert_eq!(committed_offsets(&b, "g", "in", 1)?, vec![5], "fenced");
    q.begin_transaction()?;
    q.send_offsets_to_transaction(&offsets("in", 20)?, &group, TIMEOUT)?;
    q.commit_transaction(TIMEOUT)?;
    assert_eq!(committed_offsets(&b, "g", "in", 1)?, vec![20]);
    Ok(())
}
