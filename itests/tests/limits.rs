//! Connection limits: a frame dribbled byte by byte is cut off while an idle connection stays;
//! requests pipelined by a client that does not read answers are all answered, in order, once it
//! does; and the broker's memory (VmRSS) with 1,000 idle connections and with clients sending
//! 100 MiB frames in a loop, printed for the issue note (only a loose ceiling is asserted).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gregor_itests::raw::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;

const MIB: u64 = 1024 * 1024;

/// The broker's resident memory in bytes, from /proc.
fn rss(broker: &TestBroker) -> u64 {
    rss_of(broker.pid().expect("broker running")).expect("VmRSS of the broker")
}

fn rss_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())?;
    Some(kib * 1024)
}

fn api_versions(client: &mut RawClient) -> anyhow::Result<()> {
    let response: ApiVersionsResponse =
        client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    anyhow::ensure!(
        response.error_code == 0,
        "ApiVersions error {}",
        response.error_code
    );
    Ok(())
}

#[test]
fn a_dribbled_frame_is_cut_off_but_an_idle_connection_stays() -> anyhow::Result<()> {
    let broker = TestBroker::start_with_env(&[], &[("GREGOR_TEST_FRAME_TIMEOUT_MS", "1000")])?;
    let addr = broker.bootstrap();
    let mut idle = RawClient::connect(&addr)?;
    let mut slow = RawClient::connect(&addr)?;
    let frame = slow.frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    // One byte every 200 ms: the whole frame would take several timeouts.
    let mut sent = 0;
    let mut closed = false;
    for byte in &frame[..frame.len() - 1] {
        if slow.send_bytes(&[*byte]).is_err() {
            closed = true;
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        closed || slow.is_closed_by_peer(),
        "a frame dribbled over {} ms is still being read",
        sent * 200
    );
    // The idle connection (no partial frame) outlived the timeout several times and still works.
    api_versions(&mut idle)?;
    let log = broker.log();
    assert!(!log.contains("panicked"), "{log}");
    Ok(())
}

#[test]
fn pipelined_requests_without_reading_are_all_answered_in_order() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let addr = broker.bootstrap();
    let mut client = RawClient::connect(&addr)?;
    const N: i32 = 20_000;
    let mut wire = Vec::new();
    for _ in 0..N {
        wire.extend_from_slice(&client.frame(
            ApiKey::ApiVersions,
            3,
            &ApiVersionsRequest::default(),
        )?);
    }
    // About 8 MB of answers, more than the socket buffers hold: the broker must stop reading
    // (and the writer block) until the client reads, then carry on without losing any.
    let mut writer = TcpStream::connect(&addr)?;
    let mut reader = writer.try_clone()?;
    reader.set_read_timeout(Some(Duration::from_secs(10)))?;
    let send = std::thread::spawn(move || writer.write_all(&wire).map(|()| writer));
    std::thread::sleep(Duration::from_millis(500));
    let mut expected = 1;
    let mut size = [0u8; 4];
    while expected <= N {
        reader.read_exact(&mut size)?;
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        reader.read_exact(&mut body)?;
        let correlation_id = i32::from_be_bytes(body[..4].try_into()?);
        assert_eq!(correlation_id, expected, "answers out of order");
        expected += 1;
    }
    let _writer = send.join().expect("writer thread")?;
    api_versions(&mut client)?;
    Ok(())
}

/// Raises this process's open-file limit (inherited by the broker it starts) to `want`, or
/// returns why it cannot.
fn raise_nofile(want: u64) -> Result<(), String> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err("getrlimit failed".into());
        }
        if limit.rlim_cur >= want {
            return Ok(());
        }
        if limit.rlim_max < want {
            return Err(format!("hard limit on open files is {}", limit.rlim_max));
        }
        limit.rlim_cur = want;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err("setrlimit failed".into());
        }
    }
    Ok(())
}

#[test]
fn memory_with_a_thousand_idle_connections() -> anyhow::Result<()> {
    const CONNECTIONS: usize = 1_000;
    if let Err(why) = raise_nofile(4 * CONNECTIONS as u64) {
        println!("skipped: cannot open {CONNECTIONS} connections ({why})");
        return Ok(());
    }
    let broker = TestBroker::start(&[])?;
    let addr = broker.bootstrap();
    let mut steady = RawClient::connect(&addr)?;
    api_versions(&mut steady)?;
    let before = rss(&broker);
    let mut clients = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut client = RawClient::connect(&addr)?;
        // One answered request each, so every connection has its task and buffers.
        api_versions(&mut client)?;
        clients.push(client);
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = rss(&broker);
    println!(
        "RSS with 1 connection {:.1} MiB; with {CONNECTIONS} more idle connections {:.1} MiB \
         ({:.1} KiB per connection)",
        before as f64 / MIB as f64,
        after as f64 / MIB as f64,
        after.saturating_sub(before) as f64 / 1024.0 / CONNECTIONS as f64
    );
    api_versions(&mut steady)?;
    for client in clients.iter_mut().step_by(97) {
        api_versions(client)?;
    }
    assert!(after < 1024 * MIB, "RSS {after} with idle connections");
    Ok(())
}

/// A Metadata v4 request (no topics) padded to exactly `size` bytes: the broker reads the whole
/// frame, answers, and ignores the padding, so one connection can send it in a loop.
fn padded_metadata_frame(client: &mut RawClient, size: usize) -> anyhow::Result<Vec<u8>> {
    let mut frame = client.frame(
        ApiKey::Metadata,
        4,
        &MetadataRequest::default().with_topics(Some(vec![])),
    )?;
    frame.resize(4 + size, 0);
    frame[..4].copy_from_slice(&(size as i32).to_be_bytes());
    Ok(frame)
}

/// What one run of 100 MiB frames did to the broker's memory.
struct FrameRun {
    idle: u64,
    peak: u64,
    after: u64,
    elapsed: Duration,
}

/// Starts a broker with `env`, has `clients` connections send `frames_each` frames of
/// `FRAME` bytes one after another (each answered before the next), sampling the broker's RSS.
fn send_large_frames(
    env: &[(&str, &str)],
    clients: usize,
    frames_each: usize,
) -> anyhow::Result<FrameRun> {
    let broker = TestBroker::start_with_env(&[], env)?;
    let addr = broker.bootstrap();
    let idle = rss(&broker);
    let peak = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), broker.pid().expect("running"));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(bytes) = rss_of(pid) {
                    peak.fetch_max(bytes, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let frame = Arc::new(padded_metadata_frame(
        &mut RawClient::connect(&addr)?,
        FRAME,
    )?);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (addr, frame) = (addr.clone(), frame.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut client = RawClient::connect(&addr)?;
                for _ in 0..frames_each {
                    client.send_bytes(&frame)?;
                    let response: MetadataResponse = client.read_response(ApiKey::Metadata, 4)?;
                    anyhow::ensure!(response.brokers.len() == 1, "{response:?}");
                }
                Ok(())
            })
        })
        .collect();
    let results: Vec<_> = threads
        .into_iter()
        .map(|t| t.join().expect("client thread"))
        .collect();
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().expect("sampler");
    // The last request is freed just after its answer is written.
    std::thread::sleep(Duration::from_millis(300));
    let after = rss(&broker);
    for result in results {
        result?;
    }
    let log = broker.log();
    anyhow::ensure!(!log.contains("panicked"), "{log}");
    Ok(FrameRun {
        idle,
        peak: peak.load(Ordering::Relaxed),
        after,
        elapsed,
    })
}

const FRAME: usize = 100 * 1024 * 1024;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

#[test]
fn memory_while_clients_send_100_mib_frames_in_a_loop() -> anyhow::Result<()> {
    // The default budget (512 MiB) lets five 100 MiB frames in at once; the sixth client waits.
    let (clients, frames) = (6, 3);
    let run = send_large_frames(&[], clients, frames)?;
    println!(
        "default budget, {clients} clients x {frames} frames of 100 MiB in {:.1} s: RSS idle \
         {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
        run.elapsed.as_secs_f64(),
        mib(run.idle),
        mib(run.peak),
        mib(run.after)
    );
    assert!(run.peak < 1024 * MIB, "peak RSS {} MiB", mib(run.peak));

    // A budget of one frame: the clients take turns, and memory holds one frame at a time.
    let (clients, frames) = (3, 3);
    let budget = FRAME.to_string();
    let run = send_large_frames(
        &[("GREGOR_TEST_REQUEST_BUDGET_BYTES", &budget)],
        clients,
        frames,
    )?;
    println!(
        "budget of one frame, {clients} clients x {frames} frames of 100 MiB in {:.1} s: RSS \
         idle {:.1} MiB, peak {:.1} MiB, after {:.1} MiB",
        run.elapsed.as_secs_f64(),
        mib(run.idle),
        mib(run.peak),
        mib(run.after)
    );
    assert!(
        run.peak < run.idle + 2 * FRAME as u64,
        "peak RSS {} MiB with a budget of one 100 MiB frame",
        mib(run.peak)
    );
    Ok(())
}

/// Clients that announce large frames and then send nothing hold the large share of the
/// request budget until the frame timeout (30 s); small requests have a share of their own and
/// are answered meanwhile.
#[test]
fn withheld_large_frames_do_not_stall_small_requests() -> anyhow::Result<()> {
    let budget = FRAME.to_string();
    let broker = TestBroker::start_with_env(&[], &[("GREGOR_TEST_REQUEST_BUDGET_BYTES", &budget)])?;
    let addr = broker.bootstrap();
    let mut hogs = Vec::new();
    for _ in 0..3 {
        let mut hog = RawClient::connect(&addr)?;
        hog.send_bytes(&(FRAME as i32).to_be_bytes())?;
        hogs.push(hog);
    }
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..3 {
        let mut client = RawClient::connect(&addr)?;
        api_versions(&mut client)?;
        let response: MetadataResponse =
            client.call(ApiKey::Metadata, 4, &MetadataRequest::default())?;
        assert_eq!(response.brokers.len(), 1);
    }
    drop(hogs);
    Ok(())
}

/// Found while reviewing what outlives a request: the coordinator kept each member's protocol
/// metadata (and later its assignment) as a slice of the JoinGroup frame, which kept the whole
/// frame alive, outside the request budget, for as long as the member lived. Four JoinGroup
/// requests of a few bytes of metadata padded to 50 MiB each held 200 MiB.
#[test]
fn group_members_do_not_keep_their_request_frames_alive() -> anyhow::Result<()> {
    use gregor_itests::raw::messages::join_group_request::JoinGroupRequestProtocol;
    use gregor_itests::raw::messages::{JoinGroupRequest, JoinGroupResponse};
    const PADDED: usize = 50 * 1024 * 1024;
    const MEMBERS: usize = 4;
    let broker = TestBroker::start(&[])?;
    let addr = broker.bootstrap();
    let idle = rss(&broker);
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let mut client = RawClient::connect(&addr)?;
        let request = JoinGroupRequest::default()
            .with_group_id(gregor_protocol::StrBytes::from_string(format!("padded-{i}")).into())
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_protocol_type(gregor_protocol::StrBytes::from_static_str("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(gregor_protocol::StrBytes::from_static_str("range"))
                .with_metadata(bytes::Bytes::from_static(b"tiny"))]);
        let mut frame = client.frame(ApiKey::JoinGroup, 2, &request)?;
        frame.resize(4 + PADDED, 0);
        frame[..4].copy_from_slice(&(PADDED as i32).to_be_bytes());
        client.send_bytes(&frame)?;
        members.push(client);
    }
    for client in &mut members {
        let response: JoinGroupResponse = client.read_response(ApiKey::JoinGroup, 2)?;
        assert_eq!(response.error_code, 0, "{response:?}");
    }
    // The members are alive (their sessions last 30 s); their frames must not be.
    std::thread::sleep(Duration::from_millis(300));
    let held = rss(&broker);
    println!(
        "RSS idle {:.1} MiB; with {MEMBERS} members joined through 50 MiB frames {:.1} MiB",
        mib(idle),
        mib(held)
    );
    assert!(
        held < idle + PADDED as u64,
        "{:.1} MiB held after the joins",
        mib(held.saturating_sub(idle))
    );
    Ok(())
}

/// A Fetch asking for i32::MAX bytes gets at most Kafka's broker `fetch.max.bytes` (55 MiB),
/// beyond a first batch larger on its own: before, it got the whole partition, so a few such
/// requests on a large log made the broker build gigabytes of responses.
#[test]
fn a_fetch_response_is_capped_whatever_the_request_asks() -> anyhow::Result<()> {
    use gregor_itests::raw::messages::create_topics_request::{
        CreatableTopic, CreatableTopicConfig,
    };
    use gregor_itests::raw::messages::fetch_request::{FetchPartition, FetchTopic};
    use gregor_itests::raw::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use gregor_itests::raw::messages::{
        CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse, ProduceRequest,
        ProduceResponse,
    };
    use gregor_protocol::StrBytes;
    const VALUE: usize = 20 * 1024 * 1024;
    let broker = TestBroker::start(&[])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let topic = || StrBytes::from_static_str("big");
    let created: CreateTopicsResponse = client.call(
        ApiKey::CreateTopics,
        7,
        &CreateTopicsRequest::default().with_topics(vec![CreatableTopic::default()
            .with_name(topic().into())
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(vec![CreatableTopicConfig::default()
                .with_name(StrBytes::from_static_str("max.message.bytes"))
                .with_value(Some(StrBytes::from_static_str("31457280")))])]),
    )?;
    assert_eq!(created.topics[0].error_code, 0);
    let value = vec![7u8; VALUE];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    for _ in 0..4 {
        let batch = gregor_protocol::record_batch::encode_records(now, &[(None, Some(&value))]);
        let request = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(10_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic().into())
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch.into()))])]);
        let response: ProduceResponse = client.call(ApiKey::Produce, 9, &request)?;
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    }
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(i32::MAX)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic().into())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(i32::MAX)])]);
    let response: FetchResponse = client.call(ApiKey::Fetch, 12, &request)?;
    let records = response.responses[0].partitions[0]
        .records
        .clone()
        .unwrap_or_default();
    println!(
        "a Fetch for i32::MAX bytes of 80 MiB got {:.1} MiB",
        records.len() as f64 / MIB as f64
    );
    assert!(records.len() > VALUE, "not even one batch");
    assert!(
        records.len() <= 55 * MIB as usize,
        "{} bytes",
        records.len()
    );
    Ok(())
}
