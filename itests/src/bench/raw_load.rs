//! The raw load generator (issue 21): a producer that re-sends pre-encoded Produce frames over a
//! plain socket with several requests in flight, and a fetcher that advances by batch headers
//! without parsing records, so a row measures the broker rather than the client. The
//! counterparts of Kafka's `ProducerPerformance` with `max.in.flight.requests.per.connection`
//! and of a consumer's fetcher, minus every per-record cost. The rdkafka rows stay beside these:
//! they are what users' clients see.

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{Bytes, BytesMut};
use gregor_protocol::codec::{Decodable, Encodable};
use gregor_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ProduceRequest, ProduceResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use gregor_protocol::StrBytes;
use gregor_record::batch;
use gregor_record::{BatchBuilder, BatchError};

use super::brokers::Kind;
use super::load::Throughput;
use super::procfs;
use super::report::{Better, Metric, Samples, Target};

/// Produce version sent: flexible, topic names (what librdkafka 2.x and Java 3.x send).
const PRODUCE_VERSION: i16 = 9;
/// Fetch version sent: the last with topic names rather than ids.
const FETCH_VERSION: i16 = 12;
/// Bytes of one pre-encoded batch: the order of what librdkafka fills under load within
/// `linger.ms=5` (its `batch.size` is 1 MB, Java's 16 KiB), small enough that a 1-partition
/// run still sends thousands of requests.
const BATCH_BYTES: usize = 64 << 10;
/// Requests in flight per connection: Kafka's `max.in.flight.requests.per.connection` default.
pub const MAX_IN_FLIGHT: usize = 5;
/// Where a request frame's correlation id sits: after the size (4), api key (2) and version (2).
const CORRELATION_AT: usize = 8;
/// The Java consumer's `fetch.max.bytes`.
const FETCH_MAX_BYTES: i32 = 50 << 20;
/// The Java consumer's `max.partition.fetch.bytes`.
const PARTITION_FETCH_BYTES: i32 = 1 << 20;
/// The Java consumer's `fetch.max.wait.ms`.
const FETCH_MAX_WAIT_MS: i32 = 500;
/// Longest one raw run may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest response accepted.
const MAX_RESPONSE: usize = 128 << 20;

/// Workload sizes of the raw rows.
#[derive(Debug, Clone, Copy)]
pub struct RawSizes {
    /// Payload bytes per produce run of 1 KiB records.
    pub produce_1k: u64,
    /// Payload bytes per produce run of 100 B records.
    pub produce_100b: u64,
    /// Payload bytes written and then fetched per consume run.
    pub consume: u64,
}

/// Sizes of the full benchmark.
pub const FULL: RawSizes = RawSizes {
    produce_1k: 512 << 20,
    produce_100b: 256 << 20,
    consume: 1 << 30,
};

/// Sizes of `--quick`.
pub const QUICK: RawSizes = RawSizes {
    produce_1k: 16 << 20,
    produce_100b: 8 << 20,
    consume: 32 << 20,
};

/// What one raw produce run sends.
#[derive(Debug, Clone, Copy)]
pub struct RawProduceSpec {
    /// Value size of each record (no key, no headers).
    pub record_bytes: usize,
    /// Payload bytes to send, rounded up to whole requests.
    pub bytes: u64,
    /// `acks`: 1 or -1 (all).
    pub acks: i16,
    /// Partitions of the topic; requests go round-robin over them, one batch each.
    pub partitions: i32,
}

/// The produce rows: value size, acks, partitions.
fn produce_specs(sizes: RawSizes) -> Vec<RawProduceSpec> {
    let mut specs = Vec::new();
    for (record_bytes, bytes) in [(1024, sizes.produce_1k), (100, sizes.produce_100b)] {
        for acks in [1, -1] {
            for partitions in [1, 8] {
                specs.push(RawProduceSpec {
                    record_bytes,
                    bytes,
                    acks,
                    partitions,
                });
            }
        }
    }
    specs
}

fn produce_key(s: &RawProduceSpec) -> String {
    let acks = if s.acks == 1 { "1" } else { "all" };
    format!(
        "raw_produce_{}b_acks{acks}_p{}",
        s.record_bytes, s.partitions
    )
}

/// Partitions of the consume runs.
const CONSUME_PARTITIONS: [i32; 2] = [1, 8];

fn consume_key(partitions: i32) -> String {
    format!("raw_consume_1kib_p{partitions}")
}

/// The raw rows, in table order: each throughput row followed by the broker's CPU per GiB.
pub fn metrics(quick: bool) -> Vec<Metric> {
    let sizes = if quick { QUICK } else { FULL };
    let mut m = Vec::new();
    let mut add = |key: String, label: String, target| {
        m.push(Metric {
            key: key.clone(),
            label: format!("Raw load: {label}"),
            unit: "MiB/s",
            better: Better::Higher,
            target,
        });
        m.push(Metric {
            key: format!("{key}_cpu_per_gib"),
            label: format!("Raw load: broker CPU per GiB, {label}"),
            unit: "s/GiB",
            better: Better::Lower,
            target: Target::RatioAtMost(0.3),
        });
    };
    for s in produce_specs(sizes) {
        let size = super::size_label(s.record_bytes);
        add(
            produce_key(&s),
            format!(
                "produce {size}, acks={}, {} partition{}",
                if s.acks == 1 { "1" } else { "all" },
                s.partitions,
                if s.partitions == 1 { "" } else { "s" }
            ),
            Target::RatioAtLeast(2.0),
        );
    }
    for p in CONSUME_PARTITIONS {
        add(
            consume_key(p),
            format!(
                "fetch {} MiB of 1 KiB records from the start, {p} partition{}",
                sizes.consume >> 20,
                if p == 1 { "" } else { "s" }
            ),
            Target::RatioAtLeast(3.0),
        );
    }
    m
}

/// What the raw rows do, for the report's workload paragraph.
pub fn workload_text(quick: bool) -> String {
    let s = if quick { QUICK } else { FULL };
    format!(
        "Raw load: one plain TCP connection; Produce v{PRODUCE_VERSION} requests of one \
         pre-encoded uncompressed v2 batch of about {} KiB (one partition each, round-robin), \
         encoded once per partition and re-sent with only the correlation id patched, \
         {MAX_IN_FLIGHT} in flight, every response's error codes checked; {} MiB per run of 1 KiB \
         records, {} MiB of 100 B; fetch: Fetch v{FETCH_VERSION} from offset 0, one in flight, \
         fetch.max.bytes {} MiB, max.partition.fetch.bytes {} MiB, fetch.max.wait.ms \
         {FETCH_MAX_WAIT_MS} (the Java consumer's defaults), advancing by batch headers only, \
         over {} MiB of 1 KiB records written by the raw producer (acks=1) and synced to disk before the fetch is timed; \
         MiB/s of values, \
         CPU per GiB of values; an untimed warm-up produce of a quarter of a 1 KiB run first.",
        BATCH_BYTES >> 10,
        s.produce_1k >> 20,
        s.produce_100b >> 20,
        FETCH_MAX_BYTES >> 20,
        PARTITION_FETCH_BYTES >> 20,
        s.consume >> 20,
    )
}

/// Every raw row against the broker `pid` at `bootstrap`; samples added as `kind`.
pub fn round(
    bootstrap: &str,
    pid: u32,
    kind: Kind,
    quick: bool,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    let sizes = if quick { QUICK } else { FULL };
    let gib = |bytes: u64| bytes as f64 / (1u64 << 30) as f64;
    // Untimed: with `--only raw` the first row would otherwise carry Kafka's JIT warm-up.
    create_topic(bootstrap, "raw-warmup", 8)?;
    let warmup = RawProduceSpec {
        record_bytes: 1024,
        bytes: sizes.produce_1k / 4,
        acks: 1,
        partitions: 8,
    };
    produce(bootstrap, "raw-warmup", warmup).context("raw warm-up")?;
    for spec in produce_specs(sizes) {
        let key = produce_key(&spec);
        let topic = key.replace('_', "-");
        create_topic(bootstrap, &topic, spec.partitions)?;
        let (cpu0, own0) = cpu(pid)?;
        let p = produce(bootstrap, &topic, spec).with_context(|| key.clone())?;
        let (cpu1, own1) = cpu(pid)?;
        let t = p.throughput;
        eprintln!(
            "bench:   {key}: {:.1} MiB/s, {:.0} records/s in {:.2} s; CPU s: broker {:.2}, \
             load generator {:.2}",
            t.mib_per_s(),
            t.records as f64 / t.elapsed.as_secs_f64(),
            t.elapsed.as_secs_f64(),
            cpu1 - cpu0,
            own1 - own0
        );
        samples.add(&key, kind, t.mib_per_s());
        samples.add(
            &format!("{key}_cpu_per_gib"),
            kind,
            (cpu1 - cpu0) / gib(t.bytes),
        );
    }
    for partitions in CONSUME_PARTITIONS {
        let key = consume_key(partitions);
        let topic = key.replace('_', "-");
        create_topic(bootstrap, &topic, partitions)?;
        let fill = RawProduceSpec {
            record_bytes: 1024,
            bytes: sizes.consume,
            acks: 1,
            partitions,
        };
        let written = produce(bootstrap, &topic, fill).context("filling the raw consume topic")?;
        super::settle_writeback();
        let (cpu0, own0) = cpu(pid)?;
        let (t, fetches) = consume(bootstrap, &topic, &written.ends, fill.record_bytes)
            .with_context(|| key.clone())?;
        let (cpu1, own1) = cpu(pid)?;
        eprintln!(
            "bench:   {key}: {:.1} MiB/s, {:.0} records/s in {:.2} s, {fetches} fetches \
             ({:.2} MiB each); CPU s: broker {:.2}, load generator {:.2}",
            t.mib_per_s(),
            t.records as f64 / t.elapsed.as_secs_f64(),
            t.elapsed.as_secs_f64(),
            t.bytes as f64 / fetches.max(1) as f64 / (1u64 << 20) as f64,
            cpu1 - cpu0,
            own1 - own0
        );
        samples.add(&key, kind, t.mib_per_s());
        samples.add(
            &format!("{key}_cpu_per_gib"),
            kind,
            (cpu1 - cpu0) / gib(t.bytes),
        );
    }
    Ok(())
}

/// CPU seconds of the broker and of this process (the load generator).
fn cpu(pid: u32) -> anyhow::Result<(f64, f64)> {
    Ok((
        procfs::cpu_seconds(pid)?,
        procfs::cpu_seconds(std::process::id())?,
    ))
}

/// Creates `topic` and waits until every partition answers ListOffsets (Kafka's broker leads a
/// new partition a moment after Metadata shows it).
fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    super::load::create_topic(bootstrap, topic, partitions)?;
    crate::raw::RawClient::connect(bootstrap)?.wait_for_topic(topic)
}

/// What a raw connection runs over: a TCP socket, or TLS over one.
pub trait Transport: Read + Write + Send {}
impl<T: Read + Write + Send> Transport for T {}

/// One connection with pipelined requests: frames written in full, responses read in order.
struct Connection {
    /// Writes go to the stream under the buffer (`get_mut`), reads through it.
    stream: BufReader<Box<dyn Transport>>,
    /// Where responses are read: reused once the previous response is dropped, so a fetcher
    /// does not map, fault in and unmap a fresh 8 MiB for every response.
    buf: Vec<u8>,
    /// The last response, held to take its buffer back for the next one.
    last: Option<Bytes>,
}

impl Connection {
    fn open(bootstrap: &str) -> anyhow::Result<Connection> {
        let stream =
            TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        // Several requests go out before a response is read: a broker that stopped reading
        // would otherwise hold the write for good once the socket buffers are full.
        stream.set_write_timeout(Some(Duration::from_secs(60)))?;
        Ok(Connection::over(Box::new(stream)))
    }

    fn over(stream: Box<dyn Transport>) -> Connection {
        Connection {
            stream: BufReader::with_capacity(1 << 20, stream),
            buf: Vec::new(),
            last: None,
        }
    }

    /// Writes one whole frame.
    fn write(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let stream = self.stream.get_mut();
        stream.write_all(frame)?;
        stream.flush()
    }

    /// Reads one response frame; checks its correlation id and returns the body after the
    /// response header.
    fn read(&mut self, key: ApiKey, version: i16, correlation_id: i32) -> anyhow::Result<Bytes> {
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size)?;
        let size = i32::from_be_bytes(size);
        if !(4..=MAX_RESPONSE as i32).contains(&size) {
            bail!("response size {size}");
        }
        // The last response's buffer, back once nothing else holds it.
        if let Some(last) = self.last.take() {
            if let Ok(back) = last.try_into_mut() {
                self.buf = Vec::from(back);
            }
        }
        let mut body = std::mem::take(&mut self.buf);
        body.clear();
        body.reserve(size as usize);
        // `read_to_end` reads a socket into the spare capacity as it is: zero-filling 8 MiB
        // before each response (`resize`) was a fifth of the fetcher's time.
        (&mut self.stream)
            .take(size as u64)
            .read_to_end(&mut body)?;
        if body.len() != size as usize {
            bail!(
                "connection closed {} bytes into a {size}-byte response",
                body.len()
            );
        }
        let whole = Bytes::from(body);
        self.last = Some(whole.clone());
        let mut buf = whole;
        let header = ResponseHeader::decode(&mut buf, key.response_header_version(version))?;
        if header.correlation_id != correlation_id {
            bail!(
                "response with correlation id {} where {correlation_id} was due (responses \
                 come in request order on a connection)",
                header.correlation_id
            );
        }
        Ok(buf)
    }
}

/// A whole request frame (size, header, body).
fn frame<T: Encodable>(
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &T,
) -> anyhow::Result<Vec<u8>> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("gregor-bench-raw")))
        .encode(&mut buf, key.request_header_version(version))?;
    body.encode(&mut buf, version)?;
    let mut out = Vec::with_capacity(4 + buf.len());
    out.extend_from_slice(&(buf.len() as i32).to_be_bytes());
    out.extend_from_slice(&buf);
    Ok(out)
}

/// One uncompressed batch of as many `record_bytes` values as fit in about [`BATCH_BYTES`];
/// returns it and its record count.
fn encoded_batch(record_bytes: usize, timestamp: i64) -> (Vec<u8>, u64) {
    let value: Vec<u8> = (0..record_bytes).map(|i| (i % 251) as u8).collect();
    let mut one = BatchBuilder::new(timestamp);
    one.append(timestamp, None, Some(&value));
    // Plus one: past offset delta 63 a record's offset delta takes a second varint byte.
    let per_record = one.build().len() - batch::HEADER_SIZE + 1;
    let count = ((BATCH_BYTES - batch::HEADER_SIZE) / per_record).max(1);
    let mut builder = BatchBuilder::new(timestamp);
    for _ in 0..count {
        builder.append(timestamp, None, Some(&value));
    }
    (builder.build(), count as u64)
}

/// A produce run's figures and how many records each partition got (its end offset, as the
/// topic was new).
pub struct Produced {
    /// The timed part.
    pub throughput: Throughput,
    /// Records written to each partition, warm-up included.
    pub ends: Vec<i64>,
}

/// Sends `spec` to `topic` (which exists): one warm-up request per partition, then the timed
/// requests with up to [`MAX_IN_FLIGHT`] unanswered, each response checked as it comes.
pub fn produce(bootstrap: &str, topic: &str, spec: RawProduceSpec) -> anyhow::Result<Produced> {
    produce_over(Connection::open(bootstrap)?, topic, spec)
}

/// `produce` over `stream`, a connection made and authenticated by the caller (the security
/// rows' TLS and SASL_SSL).
pub fn produce_on(
    stream: Box<dyn Transport>,
    topic: &str,
    spec: RawProduceSpec,
) -> anyhow::Result<Produced> {
    produce_over(Connection::over(stream), topic, spec)
}

fn produce_over(
    mut conn: Connection,
    topic: &str,
    spec: RawProduceSpec,
) -> anyhow::Result<Produced> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let (records, per_batch) = encoded_batch(spec.record_bytes, now_ms);
    let records = Bytes::from(records);
    let mut frames = (0..spec.partitions)
        .map(|p| {
            let request = ProduceRequest::default()
                .with_acks(spec.acks)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(p)
                        .with_records(Some(records.clone()))])]);
            frame(ApiKey::Produce, PRODUCE_VERSION, 0, &request)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut next_id = 1i32;
    let mut in_flight = VecDeque::with_capacity(MAX_IN_FLIGHT);
    let mut send = |conn: &mut Connection,
                    in_flight: &mut VecDeque<(i32, i32)>,
                    p: usize|
     -> anyhow::Result<()> {
        let f = &mut frames[p];
        f[CORRELATION_AT..CORRELATION_AT + 4].copy_from_slice(&next_id.to_be_bytes());
        conn.write(f)?;
        in_flight.push_back((next_id, p as i32));
        next_id = next_id.wrapping_add(1);
        Ok(())
    };
    let mut ends = vec![0i64; spec.partitions as usize];
    // Warm-up, one at a time: the broker has then seen the connection and every partition.
    for p in 0..spec.partitions as usize {
        send(&mut conn, &mut in_flight, p)?;
        let (id, p) = in_flight.pop_front().expect("just sent");
        check_produce(&mut conn, id, p)?;
        ends[p as usize] += per_batch as i64;
    }
    let per_request = per_batch * spec.record_bytes as u64;
    let requests = spec.bytes.div_ceil(per_request);
    let started = Instant::now();
    let (mut sent, mut acked) = (0u64, 0u64);
    while acked < requests {
        while sent < requests && in_flight.len() < MAX_IN_FLIGHT {
            send(
                &mut conn,
                &mut in_flight,
                (sent % spec.partitions as u64) as usize,
            )?;
            sent += 1;
        }
        let (id, p) = in_flight.pop_front().expect("a request is in flight");
        check_produce(&mut conn, id, p)?;
        ends[p as usize] += per_batch as i64;
        acked += 1;
        if started.elapsed() > RUN_TIMEOUT {
            bail!("{acked} of {requests} produce requests answered within {RUN_TIMEOUT:?}");
        }
    }
    let elapsed = started.elapsed();
    Ok(Produced {
        throughput: Throughput {
            records: requests * per_batch,
            bytes: requests * per_request,
            elapsed,
        },
        ends,
    })
}

/// Reads the Produce response `id` and checks that partition `p` took the batch.
fn check_produce(conn: &mut Connection, id: i32, p: i32) -> anyhow::Result<()> {
    let mut body = conn.read(ApiKey::Produce, PRODUCE_VERSION, id)?;
    let response = ProduceResponse::decode(&mut body, PRODUCE_VERSION)?;
    let partition = response
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .find(|r| r.index == p)
        .with_context(|| format!("a Produce response without partition {p}"))?;
    if partition.error_code != 0 {
        bail!(
            "partition {p}: error code {} {:?}",
            partition.error_code,
            partition.error_message
        );
    }
    Ok(())
}

/// Fetches every partition of `topic` from offset 0 up to `ends` (its end offsets), one Fetch
/// in flight as a consumer has per broker, advancing by the batch headers; timed from the first
/// request to the last response. Bytes counted are values: records times `record_bytes`.
/// Returns the figures and the number of Fetch requests.
pub fn consume(
    bootstrap: &str,
    topic: &str,
    ends: &[i64],
    record_bytes: usize,
) -> anyhow::Result<(Throughput, u64)> {
    consume_over(Connection::open(bootstrap)?, topic, ends, record_bytes)
}

/// [`consume`] over a connection already open (TLS, logged in): the security rows' fetcher.
pub fn consume_on(
    stream: Box<dyn Transport>,
    topic: &str,
    ends: &[i64],
    record_bytes: usize,
) -> anyhow::Result<(Throughput, u64)> {
    consume_over(Connection::over(stream), topic, ends, record_bytes)
}

fn consume_over(
    mut conn: Connection,
    topic: &str,
    ends: &[i64],
    record_bytes: usize,
) -> anyhow::Result<(Throughput, u64)> {
    let mut offsets = vec![0i64; ends.len()];
    let name = TopicName(StrBytes::from_string(topic.to_string()));
    let mut records = 0u64;
    let mut id = 0i32;
    let mut fetches = 0u64;
    let started = Instant::now();
    while offsets.iter().zip(ends).any(|(o, e)| o < e) {
        if started.elapsed() > RUN_TIMEOUT {
            bail!("fetched {records} records within {RUN_TIMEOUT:?}");
        }
        let partitions = offsets
            .iter()
            .enumerate()
            .filter(|&(p, o)| *o < ends[p])
            .map(|(p, &o)| {
                FetchPartition::default()
                    .with_partition(p as i32)
                    .with_current_leader_epoch(-1)
                    .with_fetch_offset(o)
                    .with_last_fetched_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(PARTITION_FETCH_BYTES)
            })
            .collect();
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(FETCH_MAX_WAIT_MS)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_MAX_BYTES)
            .with_isolation_level(0)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(name.clone())
                .with_partitions(partitions)]);
        id = id.wrapping_add(1);
        fetches += 1;
        conn.write(&frame(ApiKey::Fetch, FETCH_VERSION, id, &request)?)?;
        let mut body = conn.read(ApiKey::Fetch, FETCH_VERSION, id)?;
        let response = FetchResponse::decode(&mut body, FETCH_VERSION)?;
        if response.error_code != 0 {
            bail!("fetch: error code {}", response.error_code);
        }
        for partition in response.responses.iter().flat_map(|t| &t.partitions) {
            let p = partition.partition_index;
            let Some(offset) = usize::try_from(p).ok().and_then(|p| offsets.get_mut(p)) else {
                bail!("fetch: a response for partition {p}");
            };
            if partition.error_code != 0 {
                bail!("fetch: partition {p}: error code {}", partition.error_code);
            }
            let Some(bytes) = &partition.records else {
                continue;
            };
            for h in batch::headers(bytes) {
                match h {
                    Ok((_, h)) => {
                        // A batch starting below the fetch offset (possible only mid-batch)
                        // counts only past it; here batches are whole, so this is the batch.
                        if h.next_offset() > *offset {
                            records += (h.next_offset() - (*offset).max(h.base_offset)) as u64;
                            *offset = h.next_offset();
                        }
                    }
                    // The broker cuts the last batch at the byte limit, as Kafka does.
                    Err(BatchError::Truncated) => break,
                    Err(e) => bail!("fetch: partition {p}: a bad batch header: {e}"),
                }
            }
        }
    }
    Ok((
        Throughput {
            records,
            bytes: records * record_bytes as u64,
            elapsed: started.elapsed(),
        },
        fetches,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_fills_about_64_kib_and_parses() {
        for record_bytes in [100, 1024] {
            let (b, count) = encoded_batch(record_bytes, 1_700_000_000_000);
            let h = batch::parse_batch(&b).unwrap();
            assert_eq!(h.record_count as u64, count);
            assert!(b.len() <= BATCH_BYTES, "{}", b.len());
            assert!(
                b.len() > BATCH_BYTES - 2 * (record_bytes + 16),
                "{}",
                b.len()
            );
        }
    }

    #[test]
    fn the_correlation_id_sits_at_its_fixed_offset() {
        let f = frame(
            ApiKey::Produce,
            PRODUCE_VERSION,
            0x0102_0304,
            &ProduceRequest::default(),
        )
        .unwrap();
        assert_eq!(f[CORRELATION_AT..CORRELATION_AT + 4], [1, 2, 3, 4]);
        assert_eq!(
            i32::from_be_bytes(f[..4].try_into().unwrap()) as usize,
            f.len() - 4
        );
    }
}
