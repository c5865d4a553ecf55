//! The load generator: the same rdkafka clients and settings against either broker. Produce
//! and consume throughput, end-to-end latency at a fixed rate, and a group of consumers
//! joining. Every function first waits until the broker reports a leader for each partition it
//! uses, so topic creation and metadata propagation stay out of the timed part.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

/// Longest any one load step may take before the round is abandoned.
const STEP_TIMEOUT: Duration = Duration::from_secs(300);

/// Records and payload bytes moved in a measured time.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Records produced or consumed.
    pub records: u64,
    /// Payload bytes (values only) produced or consumed.
    pub bytes: u64,
    /// From the first send (or the assignment) to the last acknowledgement (or record).
    pub elapsed: Duration,
}

impl Throughput {
    /// Payload MiB per second.
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64()
    }
}

/// Creates `topic` with `partitions` and waits until every partition has a leader.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(crate::clients::create_topic(bootstrap, topic, partitions))?;
    wait_for_leaders(bootstrap, topic, partitions)
}

/// Waits until Metadata lists `topic` with `partitions`, each with a leader.
pub fn wait_for_leaders(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = probe
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .ok()
            .and_then(|m| {
                let t = m.topics().iter().find(|t| t.name() == topic)?;
                let parts = t.partitions();
                Some(
                    t.error().is_none()
                        && parts.len() == partitions as usize
                        && parts.iter().all(|p| p.leader() >= 0 && p.error().is_none()),
                )
            })
            .unwrap_or(false);
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{topic}: partitions without a leader 60 s after creation");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Counts acknowledgements and failures.
#[derive(Default)]
struct Counter {
    acked: AtomicU64,
    failed: AtomicU64,
    /// The first failure, for the error message.
    first_error: Mutex<Option<String>>,
}

impl ClientContext for Counter {}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.first_error
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// What a produce run sends.
#[derive(Debug, Clone, Copy)]
pub struct ProduceSpec {
    /// Value size of each record.
    pub record_bytes: usize,
    /// How many records.
    pub records: u64,
    /// `acks` setting: "1" or "all".
    pub acks: &'static str,
    /// Partitions of the topic; records go round-robin over them.
    pub partitions: i32,
    /// Records without a key when `None`; else each carries one of this many 8-byte keys
    /// (big-endian numbers), drawn uniformly from a generator with a fixed seed, so every
    /// broker gets the same sequence.
    pub keys: Option<u64>,
}

/// Seed of the key sequence of keyed produce runs.
const KEY_SEED: u64 = 0x6772_6567_6f72;

/// A producer with the benchmark's settings, and `client` (security settings) on top.
fn producer(
    bootstrap: &str,
    acks: &str,
    linger_ms: &str,
    client: &[(&str, &str)],
) -> anyhow::Result<BaseProducer<Counter>> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", acks)
        .set("linger.ms", linger_ms)
        .set("compression.type", "none")
        .set("message.timeout.ms", "120000");
    for (k, v) in client {
        config.set(*k, *v);
    }
    Ok(config.create_with_context(Counter::default())?)
}

/// Sends `record`, polling for acknowledgements while the producer's queue is full.
fn send<K: rdkafka::message::ToBytes + ?Sized>(
    producer: &BaseProducer<Counter>,
    mut record: BaseRecord<'_, K, [u8]>,
) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((e, back)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::QueueFull) => {
                producer.poll(Duration::from_millis(1));
                record = back;
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Waits for every outstanding acknowledgement and checks that none failed.
fn finish(producer: &BaseProducer<Counter>, sent: u64) -> anyhow::Result<()> {
    // Not `flush`: rdkafka's flush sleeps in polls of up to 100 ms between checks, which would
    // add up to 100 ms to every timed run.
    let deadline = Instant::now() + STEP_TIMEOUT;
    let c = producer.context();
    while c.acked.load(Ordering::Relaxed) + c.failed.load(Ordering::Relaxed) < sent {
        if Instant::now() > deadline {
            bail!("records still unacknowledged after {STEP_TIMEOUT:?}");
        }
        producer.poll(Duration::from_millis(1));
    }
    let failed = c.failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!(
            "{failed} of {sent} records failed: {}",
            c.first_error.lock().unwrap().clone().unwrap_or_default()
        );
    }
    let acked = c.acked.load(Ordering::Relaxed);
    if acked != sent {
        bail!("{acked} of {sent} records acknowledged");
    }
    Ok(())
}

/// Produces `spec.records` records to `topic` (which exists) as fast as the producer accepts
/// them; timed from the first send to the last acknowledgement. `linger.ms=5`.
pub fn produce(bootstrap: &str, topic: &str, spec: ProduceSpec) -> anyhow::Result<Throughput> {
    produce_with(bootstrap, topic, spec, &[])
}

/// `produce` with these client settings on top (`security.protocol` and the like).
pub fn produce_with(
    bootstrap: &str,
    topic: &str,
    spec: ProduceSpec,
    client: &[(&str, &str)],
) -> anyhow::Result<Throughput> {
    let producer = producer(bootstrap, spec.acks, "5", client)?;
    let payload: Vec<u8> = (0..spec.record_bytes).map(|i| (i % 251) as u8).collect();
    let mut keys = spec
        .keys
        .map(|n| (n.max(1), crate::rng::Rng::new(KEY_SEED)));
    let mut next_key = || {
        keys.as_mut()
            .map(|(n, rng)| (rng.next_u64() % *n).to_be_bytes())
    };
    // One acknowledged record per partition before the clock starts: the producer has then
    // connected to the leader, learned the partitions and negotiated versions, which would
    // otherwise weigh on short runs.
    for p in 0..spec.partitions {
        let key = next_key();
        send(&producer, record(topic, p, key.as_ref(), &payload))?;
    }
    finish(&producer, spec.partitions as u64).context("warm-up records")?;
    producer.context().acked.store(0, Ordering::Relaxed);
    let started = Instant::now();
    for i in 0..spec.records {
        let key = next_key();
        let partition = (i % spec.partitions as u64) as i32;
        send(&producer, record(topic, partition, key.as_ref(), &payload))?;
        if i % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    finish(&producer, spec.records)?;
    Ok(Throughput {
        records: spec.records,
        bytes: spec.records * spec.record_bytes as u64,
        elapsed: started.elapsed(),
    })
}

/// A record for `partition` of `topic`, with `key` if there is one.
fn record<'a>(
    topic: &'a str,
    partition: i32,
    key: Option<&'a [u8; 8]>,
    payload: &'a [u8],
) -> BaseRecord<'a, [u8], [u8]> {
    let record = BaseRecord::to(topic).partition(partition).payload(payload);
    match key {
        Some(key) => record.key(key.as_slice()),
        None => record,
    }
}

/// The group of the committing consumer (`commit_each`).
pub const COMMIT_GROUP: &str = "bench-committer";

/// A consumer that reads by manual assignment, never commits and has no group membership.
fn reader(bootstrap: &str, extra: &[(&str, &str)]) -> anyhow::Result<BaseConsumer> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-reader")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    for (k, v) in extra {
        config.set(*k, *v);
    }
    Ok(config.create()?)
}

/// Reads `records` records from the start of every partition of `topic`; timed from the
/// assignment to the last record. librdkafka's default fetch sizes.
///
/// Records are taken off the consumer queue in batches (`rd_kafka_consume_batch_queue`, what
/// confluent-kafka-python's `Consumer.consume(num_messages)` calls) rather than one `poll` per
/// record: profiled, rdkafka's per-record poll spent more CPU in its own clock reads and queue
/// locking than either broker spent serving the bytes, so the figure measured the client.
pub fn consume(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
) -> anyhow::Result<Throughput> {
    consume_with(bootstrap, topic, partitions, records, &[])
}

/// `consume` with these client settings on top (`security.protocol` and the like).
pub fn consume_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
    client: &[(&str, &str)],
) -> anyhow::Result<Throughput> {
    let consumer = reader(bootstrap, client)?;
    consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    let queue = ConsumerQueue::of(&consumer);
    let mut batch = vec![std::ptr::null_mut(); 4096];
    let started = Instant::now();
    consumer.assign(&tpl)?;
    let (mut count, mut bytes) = (0u64, 0u64);
    while count < records {
        if started.elapsed() > STEP_TIMEOUT {
            bail!("read {count} of {records} records within {STEP_TIMEOUT:?}");
        }
        let (n, b) = queue.consume_batch(&mut batch, 500)?;
        count += n;
        bytes += b;
    }
    Ok(Throughput {
        records,
        bytes,
        elapsed: started.elapsed(),
    })
}

/// One consumer in a group of its own reads `records` records from the start of a one-partition
/// `topic` and commits each one synchronously before it reads the next (what an application
/// that must not reprocess anything does); returns commits per second.
pub fn commit_each(bootstrap: &str, topic: &str, records: u64) -> anyhow::Result<f64> {
    let consumer = reader(bootstrap, &[("group.id", COMMIT_GROUP)])?;
    consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut count = 0u64;
    while count < records {
        if started.elapsed() > STEP_TIMEOUT {
            bail!("committed {count} of {records} records within {STEP_TIMEOUT:?}");
        }
        let Some(message) = consumer.poll(Duration::from_millis(500)) else {
            continue;
        };
        let message = message?;
        consumer.commit_message(&message, rdkafka::consumer::CommitMode::Sync)?;
        count += 1;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// librdkafka's consumer queue of one consumer, read in batches.
struct ConsumerQueue<'a> {
    queue: *mut rdkafka::bindings::rd_kafka_queue_t,
    /// The consumer owns the queue's client; the handle must not outlive it.
    _consumer: std::marker::PhantomData<&'a BaseConsumer>,
}

impl<'a> ConsumerQueue<'a> {
    fn of(consumer: &'a BaseConsumer) -> ConsumerQueue<'a> {
        // SAFETY: the client pointer is valid while `consumer` lives, which the lifetime ties
        // this handle to; the returned queue handle is released in `drop`.
        let queue = unsafe {
            rdkafka::bindings::rd_kafka_queue_get_consumer(consumer.client().native_ptr())
        };
        ConsumerQueue {
            queue,
            _consumer: std::marker::PhantomData,
        }
    }

    /// Takes up to `buf.len()` records, waiting at most `timeout_ms` for the first; returns
    /// how many and their payload bytes, or the first error a record carried.
    fn consume_batch(
        &self,
        buf: &mut [*mut rdkafka::bindings::rd_kafka_message_t],
        timeout_ms: i32,
    ) -> anyhow::Result<(u64, u64)> {
        // SAFETY: `buf` has room for `buf.len()` pointers; librdkafka fills the first `n`.
        let n = unsafe {
            rdkafka::bindings::rd_kafka_consume_batch_queue(
                self.queue,
                timeout_ms,
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            bail!("rd_kafka_consume_batch_queue failed");
        }
        let (mut bytes, mut error) = (0u64, None);
        for &message in &buf[..n as usize] {
            // SAFETY: each of the first `n` entries is a message we now own; it is read once
            // and then destroyed.
            unsafe {
                let err = (*message).err;
                if err != rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    error.get_or_insert(err);
                }
                bytes += (*message).len as u64;
                rdkafka::bindings::rd_kafka_message_destroy(message);
            }
        }
        if let Some(err) = error {
            bail!("consume: {:?}", rdkafka::error::RDKafkaErrorCode::from(err));
        }
        Ok((n as u64, bytes))
    }
}

impl Drop for ConsumerQueue<'_> {
    fn drop(&mut self) {
        // SAFETY: the handle came from rd_kafka_queue_get_consumer and is released once.
        unsafe { rdkafka::bindings::rd_kafka_queue_destroy(self.queue) }
    }
}

/// End-to-end latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Worst.
    pub max: f64,
    /// Records measured.
    pub samples: usize,
    /// Records read per second from the first intended send to the last read: below the
    /// offered rate when the broker could not keep up and its latency is queueing.
    pub delivered_per_s: f64,
}

/// Marks the records sent before the measurement, until the consumer is known to be reading.
const WARMUP_SEQ: u64 = u64::MAX;

/// Sends `rate` records/s of `record_bytes` for `duration` to partition 0 of `topic`
/// (`linger.ms=0`, `acks=all`) while a consumer reads them from the end of the partition.
///
/// Each record carries the time it was *meant* to be sent (start + i / rate); its latency is
/// the time it was read minus that. A sender that falls behind (a stalled send, a slow
/// acknowledgement path) therefore shows as latency instead of silently sending later and
/// measuring less, which is coordinated omission.
pub fn latency(
    bootstrap: &str,
    topic: &str,
    rate: u32,
    duration: Duration,
    record_bytes: usize,
) -> anyhow::Result<Latency> {
    let total = (u64::from(rate) as f64 * duration.as_secs_f64()) as u64;
    let base = Instant::now();
    let consumer = reader(bootstrap, &[("fetch.wait.max.ms", "100")])?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::End)?;
    consumer.assign(&tpl)?;
    let reading = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let reader_thread = {
        let (reading, done) = (reading.clone(), done.clone());
        std::thread::spawn(move || -> anyhow::Result<(Vec<u64>, u64)> {
            let mut latencies = Vec::with_capacity(total as usize);
            let mut last_read = 0;
            while (latencies.len() as u64) < total && !done.load(Ordering::Relaxed) {
                let Some(message) = consumer.poll(Duration::from_millis(100)) else {
                    continue;
                };
                let now = base.elapsed().as_nanos() as u64;
                let m = message?;
                let (intended, seq) = stamp(m.payload().unwrap_or_default())?;
                if seq == WARMUP_SEQ {
                    reading.store(true, Ordering::Relaxed);
                } else {
                    latencies.push(now.saturating_sub(intended));
                    last_read = now;
                }
            }
            Ok((latencies, last_read))
        })
    };
    let result = (|| -> anyhow::Result<Duration> {
        let producer = producer(bootstrap, "all", "0", &[])?;
        let mut payload = vec![0u8; record_bytes.max(16)];
        // Until the consumer has resolved the end offset and reads, records would be lost to
        // the measurement: send marked ones every 10 ms until one arrives.
        let warmup_deadline = Instant::now() + Duration::from_secs(60);
        payload[8..16].copy_from_slice(&WARMUP_SEQ.to_be_bytes());
        while !reading.load(Ordering::Relaxed) {
            if Instant::now() > warmup_deadline {
                bail!("the latency consumer read nothing within 60 s");
            }
            send(&producer, record(topic, 0, None, &payload))?;
            producer.poll(Duration::from_millis(10));
        }
        let start = base.elapsed();
        for i in 0..total {
            let intended = start + Duration::from_nanos(i * 1_000_000_000 / u64::from(rate));
            let now = base.elapsed();
            if intended > now {
                std::thread::sleep(intended - now);
            }
            payload[..8].copy_from_slice(&(intended.as_nanos() as u64).to_be_bytes());
            payload[8..16].copy_from_slice(&i.to_be_bytes());
            send(&producer, record(topic, 0, None, &payload))?;
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(STEP_TIMEOUT)
            .context("flushing the latency producer")?;
        let c = producer.context();
        if c.failed.load(Ordering::Relaxed) > 0 {
            bail!(
                "latency records failed: {}",
                c.first_error.lock().unwrap().clone().unwrap_or_default()
            );
        }
        Ok(start)
    })();
    // Give the reader time to see the tail, then stop it whatever happened.
    let tail_deadline = Instant::now() + Duration::from_secs(30);
    while !reader_thread.is_finished() && Instant::now() < tail_deadline && result.is_ok() {
        std::thread::sleep(Duration::from_millis(10));
    }
    done.store(true, Ordering::Relaxed);
    let (mut latencies, last_read) = reader_thread
        .join()
        .map_err(|_| anyhow::anyhow!("latency reader panicked"))??;
    let start = result?;
    if (latencies.len() as u64) < total {
        bail!("the consumer read {} of {total} records", latencies.len());
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        // Nearest rank.
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        latencies[rank - 1] as f64 / 1e6
    };
    Ok(Latency {
        p50: at(0.50),
        p99: at(0.99),
        p999: at(0.999),
        max: at(1.0),
        samples: latencies.len(),
        delivered_per_s: latencies.len() as f64
            / Duration::from_nanos(last_read)
                .saturating_sub(start)
                .as_secs_f64()
                .max(1e-9),
    })
}

/// Per member, when its latest rebalance completed and how many partitions it then held.
type Assignments = Arc<Mutex<BTreeMap<usize, (Instant, usize)>>>;

/// Notes each member's assignment after every rebalance, kept from the rebalances themselves:
/// asking librdkafka (`rd_kafka_assignment`) from the callback can block for good once the
/// consumer is closing (librdkafka issues 4041, 4884), and with it the member's thread.
struct Member {
    index: usize,
    assignments: Assignments,
    /// The partitions this member holds, from the assign and revoke events.
    held: Mutex<BTreeSet<i32>>,
    /// A revoke was applied: set once the member, leaving, has given up its partitions.
    revoked: AtomicBool,
}

impl ClientContext for Member {}

impl ConsumerContext for Member {
    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut held = self.held.lock().unwrap();
        // Eager protocols revoke everything before each assignment, so adding and removing
        // holds the whole assignment for them and for the incremental one alike.
        match rebalance {
            Rebalance::Assign(tpl) => held.extend(tpl.elements().iter().map(|e| e.partition())),
            Rebalance::Revoke(tpl) => {
                for e in tpl.elements() {
                    held.remove(&e.partition());
                }
                self.revoked.store(true, Ordering::Release);
            }
            Rebalance::Error(_) => return,
        }
        self.assignments
            .lock()
            .unwrap()
            .insert(self.index, (Instant::now(), held.len()));
    }
}

/// Leaves the group and serves the revoke before the consumer closes (`group::leave_then_close`).
fn leave(consumer: BaseConsumer<Member>) {
    consumer.context().revoked.store(false, Ordering::Release);
    crate::group::leave_then_close(consumer, |m| {
        m.revoked.load(Ordering::Acquire) || m.held.lock().unwrap().is_empty()
    });
}

/// Which group protocol the members of `group_join` speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupProtocol {
    /// JoinGroup and SyncGroup, the client's assignor (librdkafka's default, range).
    Classic,
    /// KIP-848's ConsumerGroupHeartbeat, the broker's default assignor (uniform).
    Consumer,
}

/// `members` consumers subscribe to `topic` (with `partitions`) in `group` at the same moment,
/// each polling on its own thread. Returns the time from the last subscribe to the moment the
/// last member received its share, once every member holds at least one partition and the
/// shares add up to all partitions (the group is stable).
///
/// Classic: `heartbeat.interval.ms=100`: a member already in the group learns of the rebalance
/// the others start from its next heartbeat, so librdkafka's default (3 s) would measure mostly
/// that. Consumer: the broker sets the heartbeat interval (`group.consumer.heartbeat.interval.ms`,
/// which the benchmark's brokers run at the same 100 ms; the client may not set it).
pub fn group_join(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    group: &str,
    members: usize,
    protocol: GroupProtocol,
) -> anyhow::Result<Duration> {
    let assignments: Assignments = Arc::default();
    let barrier = Arc::new(Barrier::new(members + 1));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut consumers = Vec::with_capacity(members);
    for index in 0..members {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest");
        match protocol {
            GroupProtocol::Classic => config
                .set("session.timeout.ms", "10000")
                .set("heartbeat.interval.ms", "100"),
            GroupProtocol::Consumer => config.set("group.protocol", "consumer"),
        };
        let consumer: BaseConsumer<Member> = config.create_with_context(Member {
            index,
            assignments: assignments.clone(),
            held: Mutex::default(),
            revoked: AtomicBool::new(false),
        })?;
        // Connected and bootstrapped before the clock starts.
        consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        consumers.push((index, consumer));
    }
    // Threads only once every member exists: one that failed to start would leave the others
    // waiting at the barrier for good.
    for (index, consumer) in consumers {
        let (barrier, stop) = (barrier.clone(), stop.clone());
        let topic = topic.to_string();
        threads.push(std::thread::spawn(move || -> anyhow::Result<Instant> {
            barrier.wait();
            let subscribed = Instant::now();
            consumer.subscribe(&[&topic])?;
            while !stop.load(Ordering::Relaxed) {
                if let Some(Err(e)) = consumer.poll(Duration::from_millis(5)) {
                    eprintln!("bench: group member {index}: {e}");
                }
            }
            leave(consumer);
            Ok(subscribed)
        }));
    }
    barrier.wait();
    let deadline = Instant::now() + Duration::from_secs(60);
    let stable_at = loop {
        {
            let a = assignments.lock().unwrap();
            let total: usize = a.values().map(|(_, n)| n).sum();
            if a.len() == members && a.values().all(|(_, n)| *n > 0) && total == partitions as usize
            {
                break a.values().map(|(at, _)| *at).max();
            }
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    stop.store(true, Ordering::Relaxed);
    // Bounded: a member whose close hangs in librdkafka is left behind (its thread ends with
    // the process) and the row fails, rather than the whole run waiting for it.
    let closed_by = Instant::now() + Duration::from_secs(30);
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < closed_by {
        std::thread::sleep(Duration::from_millis(5));
    }
    if threads.iter().any(|t| !t.is_finished()) {
        bail!("group {group}: a member did not close within 30 s of leaving");
    }
    let mut last_subscribe = None;
    for t in threads {
        let subscribed = t
            .join()
            .map_err(|_| anyhow::anyhow!("group member panicked"))??;
        last_subscribe = last_subscribe.max(Some(subscribed));
    }
    let (Some(stable_at), Some(last_subscribe)) = (stable_at, last_subscribe) else {
        bail!(
            "group {group}: not all {members} members assigned within 60 s: {:?}",
            assignments
                .lock()
                .unwrap()
                .values()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
        );
    };
    Ok(stable_at.saturating_duration_since(last_subscribe))
}

/// The stamp a timed record carries in its first 16 bytes: when it was meant to be sent (ns
/// since the run's base instant) and its sequence number.
pub fn stamp(payload: &[u8]) -> anyhow::Result<(u64, u64)> {
    match (payload.get(..8), payload.get(8..16)) {
        (Some(at), Some(seq)) => Ok((
            u64::from_be_bytes(at.try_into()?),
            u64::from_be_bytes(seq.try_into()?),
        )),
        _ => bail!("a timed record of {} bytes", payload.len()),
    }
}
