//! Long poll: a consumer waiting on an empty partition gets a newly produced record within a few
//! milliseconds, because the broker wakes the waiting Fetch on append instead of letting it sit
//! out `fetch.wait.max.ms`. Latency is printed, not asserted, beyond a bound far below that wait.

use std::time::{Duration, Instant};

use gregor_itests::clients::create_topic;
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::{Offset, TopicPartitionList};

/// The consumer's `fetch.wait.max.ms`: a broker that answers a waiting Fetch only when this
/// runs out delivers each record here about this late.
const FETCH_WAIT: Duration = Duration::from_millis(5000);

/// What the test asserts of every record: half the fetch wait, so it holds on a loaded
/// machine and fails only for a Fetch that was not woken by the append.
const WOKEN_BOUND: Duration = Duration::from_millis(2500);

#[tokio::test(flavor = "multi_thread")]
async fn waiting_fetch_wakes_on_append() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    create_topic(&broker.bootstrap(), "quiet", 1).await?;
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "itests-long-poll")
        .set("fetch.wait.max.ms", FETCH_WAIT.as_millis().to_string())
        .set("fetch.min.bytes", "1")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("quiet", 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("linger.ms", "0")
        .set("acks", "1")
        .create()?;
    // Let the consumer settle into its long poll.
    let _ = consumer.poll(Duration::from_millis(500));
    let mut latencies = Vec::new();
    for i in 0..50 {
        let sent = Instant::now();
        producer
            .send(BaseRecord::<str, str>::to("quiet").payload(&i.to_string()))
            .map_err(|(e, _)| e)?;
        // Serve the producer's queue without flush(), whose wait loop ticks in 100 ms steps.
        producer.poll(Duration::ZERO);
        let deadline = sent + Duration::from_secs(10);
        loop {
            anyhow::ensure!(Instant::now() < deadline, "record {i} never arrived");
            producer.poll(Duration::ZERO);
            if let Some(m) = consumer.poll(Duration::from_millis(1)) {
                let m = m?;
                if m.payload() == Some(i.to_string().as_bytes()) {
                    latencies.push(sent.elapsed());
                    break;
                }
            }
        }
        // Give the consumer time to go back to waiting.
        std::thread::sleep(Duration::from_millis(30));
    }
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() - 1) * p / 100];
    println!(
        "produce-to-consume latency over {} records: p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        pct(50),
        pct(99),
        latencies[latencies.len() - 1]
    );
    let slowest = latencies[latencies.len() - 1];
    assert!(
        slowest < WOKEN_BOUND,
        "a record took {slowest:?} with fetch.wait.max.ms {FETCH_WAIT:?}: the waiting fetch was \
         not woken by the append"
    );
    Ok(())
}
