//! Persistence: after SIGTERM and restart, topics, topic ids and records are all there; after
//! `kill -9` in the middle of producing, every record acknowledged with acks=all is there and
//! offsets stay dense.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use gregor_itests::clients::{
    assert_records_match, consume_all, create_topic, make_records, produce_all, producer,
    record_count,
};
use gregor_itests::raw::messages::{ApiKey, MetadataRequest, MetadataResponse};
use gregor_itests::raw::RawClient;
use gregor_itests::{gregor_bin, TestBroker};

const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

/// Each topic in an all-topics Metadata v12 (which carries topic ids): name -> (id, partitions).
fn topics(bootstrap: &str) -> anyhow::Result<BTreeMap<String, (String, usize)>> {
    let mut client = RawClient::connect(bootstrap)?;
    let response: MetadataResponse = client.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )?;
    Ok(response
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                (t.topic_id.to_string(), t.partitions.len()),
            )
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn clean_restart_keeps_topics_ids_and_records() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    create_topic(&broker.bootstrap(), "kept", 3).await?;
    create_topic(&broker.bootstrap(), "also-kept", 1).await?;
    let records = make_records(10_000, 3, 50);
    let (p, _) = producer(&broker.bootstrap(), &[])?;
    produce_all(&p, "kept", &records)?;
    drop(p);
    let before = topics(&broker.bootstrap())?;
    for name in ["kept", "also-kept"] {
        let (id, _) = &before[name];
        assert_ne!(id, NIL_UUID, "{name} has a topic id");
    }
    broker.stop()?;
    broker.restart()?;
    assert!(
        !broker.log().contains("truncated"),
        "a clean restart recovers nothing"
    );
    assert_eq!(
        topics(&broker.bootstrap())?,
        before,
        "topics, ids and partition counts after restart"
    );
    let got = consume_all(
        &broker.bootstrap(),
        "kept",
        3,
        records.len(),
        Duration::from_secs(60),
    )?;
    assert_records_match(&records, &got, 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_mid_produce_loses_no_acknowledged_record() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "audit", 3).await?;
    let (p, acks) = producer(
        &bootstrap,
        &[
            ("linger.ms", "1"),
            ("retries", "1000"),
            ("retry.backoff.ms", "50"),
        ],
    )?;
    // Far more than are acknowledged before the kill, so the kill lands mid-produce however
    // fast the machine.
    let records = make_records(100_000, 3, 50);
    let total = records.len();
    let sender = std::thread::spawn(move || produce_all(&p, "audit", &records));
    // Kill once a good share is acknowledged, while the rest is still in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acks.0.lock().unwrap().len() < 5_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "producer made no progress"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    broker.kill9()?;
    let acked_at_kill = acks.0.lock().unwrap().len();
    assert!(
        acked_at_kill < total,
        "the kill came after the last acknowledgement"
    );
    std::thread::sleep(Duration::from_millis(300));
    broker.restart()?;
    sender.join().expect("producer thread")?;
    let acked: Vec<_> = acks.0.lock().unwrap().clone();
    println!(
        "acknowledged {acked_at_kill} records before kill -9, {} in all",
        acked.len()
    );
    let total_acked_keys: HashSet<_> = acked.iter().map(|(_, _, k)| k.clone()).collect();
    // Retries after the restart may store a record twice, never zero times.
    let stored = record_count(&bootstrap, "audit", 3)?;
    assert!(stored >= total_acked_keys.len());
    let got = consume_all(&bootstrap, "audit", 3, stored, Duration::from_secs(60))?;
    let mut seen = HashSet::new();
    for (partition, records) in &got {
        for (i, r) in records.iter().enumerate() {
            assert_eq!(
                r.offset, i as i64,
                "partition {partition}: offsets dense after recovery"
            );
            seen.insert(r.key.clone());
        }
    }
    let missing: Vec<_> = total_acked_keys.difference(&seen).take(5).collect();
    assert!(missing.is_empty(), "acknowledged but missing: {missing:?}");
    for (partition, offset, key) in &acked {
        let r = &got[partition][*offset as usize];
        assert_eq!(
            &r.key, key,
            "acknowledged offset {partition}/{offset} holds the acknowledged record"
        );
    }
    Ok(())
}

#[test]
fn second_broker_on_the_same_dir_exits_with_a_clear_message() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let mut second =
        gregor_itests::without_broker_settings(&mut std::process::Command::new(gregor_bin()))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(broker.data_dir())
            .env("NO_COLOR", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while second.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            let _ = second.wait();
            anyhow::bail!("a second broker on a locked data dir is still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = second.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "second broker exited with {}",
        out.status
    );
    assert!(
        stderr.contains("locked"),
        "the message names the lock: {stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("listening on"),
        "the second broker never served"
    );
    // The first one still serves.
    topics(&broker.bootstrap())?;
    Ok(())
}
