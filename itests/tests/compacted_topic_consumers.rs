//! A compacted topic read from the beginning, after the log cleaner ran, by rdkafka and by
//! kcat (Debian's librdkafka): exactly the latest record of every key, in offset order, with
//! its headers and timestamp, for every codec; then records written after the cleaning follow.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use gregor_itests::clients::{consume_all, produce_all, producer, Rec};
use gregor_itests::kcat::kcat_available;
use gregor_itests::TestBroker;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::ClientConfig;

const KEYS: usize = 40;
const UPDATES: usize = 25;

/// Records: `UPDATES` rounds over `KEYS` keys, each with headers and its own timestamp.
fn updates(base_ts: i64) -> Vec<Rec> {
    (0..KEYS * UPDATES)
        .map(|i| Rec {
            partition: 0,
            offset: -1,
            key: format!("key-{}", i % KEYS).into_bytes(),
            value: format!("value-{i}-{}", "x".repeat(40)).into_bytes(),
            headers: vec![("round".into(), (i / KEYS).to_string().into_bytes())],
            timestamp: base_ts + i as i64,
        })
        .collect()
}

/// The latest record of each key in `sent`, in the order they were written.
fn latest_per_key(sent: &[Rec]) -> Vec<Rec> {
    let mut latest: BTreeMap<&[u8], usize> = BTreeMap::new();
    for (i, r) in sent.iter().enumerate() {
        latest.insert(&r.key, i);
    }
    let mut keep: Vec<usize> = latest.into_values().collect();
    keep.sort_unstable();
    keep.into_iter().map(|i| sent[i].clone()).collect()
}

/// Waits until the broker logged a cleaning of `topic`-0 that reached `offset`.
fn wait_for_cleaning(broker: &TestBroker, topic: &str, offset: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = format!("{topic}-0");
    loop {
        let log = broker.log();
        let reached = log.lines().any(|line| {
            line.contains("cleaned log")
                && line.contains(&dir)
                && line
                    .split_whitespace()
                    .find_map(|f| f.strip_prefix("end_offset="))
                    .and_then(|v| v.parse::<usize>().ok())
                    .is_some_and(|end| end >= offset)
        });
        if reached {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no cleaning of {dir} up to {offset} within 60 s; broker log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check_rdkafka(bootstrap: &str, topic: &str, expected: &[Rec]) -> anyhow::Result<()> {
    let got = consume_all(bootstrap, topic, 1, expected.len(), Duration::from_secs(20))?;
    let got = got.get(&0).cloned().unwrap_or_default();
    let shown = |rs: &[Rec]| -> Vec<(i64, String, i64)> {
        rs.iter()
            .map(|r| {
                (
                    r.offset,
                    String::from_utf8_lossy(&r.key).into_owned(),
                    r.timestamp,
                )
            })
            .collect()
    };
    assert_eq!(got.len(), expected.len(), "{topic}: {:?}", shown(&got));
    for pair in got.windows(2) {
        assert!(pair[0].offset < pair[1].offset, "{topic}: offsets in order");
    }
    for (g, e) in got.iter().zip(expected) {
        assert_eq!(
            (&g.key, &g.value, &g.headers, g.timestamp),
            (&e.key, &e.value, &e.headers, e.timestamp),
            "{topic}: record at offset {}",
            g.offset
        );
    }
    Ok(())
}

fn check_kcat(bootstrap: &str, topic: &str, expected: &[Rec]) -> anyhow::Result<()> {
    let out = gregor_itests::kcat::consume(bootstrap, topic, "%k|%s|%T|%h\n")?;
    let want: String = expected
        .iter()
        .map(|r| {
            let headers: Vec<String> = r
                .headers
                .iter()
                .map(|(k, v)| format!("{k}={}", String::from_utf8_lossy(v)))
                .collect();
            format!(
                "{}|{}|{}|{}\n",
                String::from_utf8_lossy(&r.key),
                String::from_utf8_lossy(&r.value),
                r.timestamp,
                headers.join(",")
            )
        })
        .collect();
    assert_eq!(out, want, "{topic}: kcat's view");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn compacted_topics_read_back_latest_per_key_for_every_codec() -> anyhow::Result<()> {
    let with_kcat = kcat_available();
    let broker = TestBroker::start(&["--set", "log.cleaner.backoff.ms=50"])?;
    let b = broker.bootstrap();
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &b).create()?;
    let codecs = ["none", "gzip", "snappy", "lz4", "zstd"];
    let topics: Vec<String> = codecs.iter().map(|c| format!("compacted-{c}")).collect();
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            NewTopic::new(t, 1, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact")
                .set("segment.ms", "200")
                .set("min.cleanable.dirty.ratio", "0.01")
        })
        .collect();
    for created in admin
        .create_topics(&new_topics, &AdminOptions::new())
        .await?
    {
        created.map_err(|(t, e)| anyhow::anyhow!("creating {t}: {e}"))?;
    }
    let base_ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let sent = updates(base_ts);
    for (codec, topic) in codecs.iter().zip(&topics) {
        let (p, _) = producer(&b, &[("compression.type", codec), ("linger.ms", "20")])?;
        produce_all(&p, topic, &sent).with_context(|| format!("producing to {topic}"))?;
    }
    let expected = latest_per_key(&sent);
    for topic in &topics {
        // The idle active segment rolls after segment.ms, and the cleaner then reaches the end.
        wait_for_cleaning(&broker, topic, sent.len())?;
        check_rdkafka(&b, topic, &expected)?;
        if with_kcat {
            check_kcat(&b, topic, &expected)?;
        }
    }

    // Records written after the cleaning follow the cleaned ones.
    let later: Vec<Rec> = updates(base_ts + 100_000).into_iter().take(5).collect();
    for (codec, topic) in codecs.iter().zip(&topics) {
        let (p, _) = producer(&b, &[("compression.type", codec)])?;
        produce_all(&p, topic, &later)?;
        let mut want: Vec<Rec> = expected
            .iter()
            .filter(|r| !later.iter().any(|l| l.key == r.key))
            .cloned()
            .collect();
        want.extend(later.iter().cloned());
        // Without a new cleaning the older records of those keys are still there.
        let mut all = expected.clone();
        all.extend(later.iter().cloned());
        let got = consume_all(&b, topic, 1, all.len(), Duration::from_secs(20))?;
        let got = got.get(&0).cloned().unwrap_or_default();
        let keys: Vec<&[u8]> = got.iter().map(|r| r.key.as_slice()).collect();
        let all_keys: Vec<&[u8]> = all.iter().map(|r| r.key.as_slice()).collect();
        let want_keys: Vec<&[u8]> = want.iter().map(|r| r.key.as_slice()).collect();
        assert!(
            keys == all_keys || keys == want_keys,
            "{topic}: after new writes {keys:?}"
        );
    }
    Ok(())
}
