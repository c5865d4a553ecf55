//! Kafka Streams 4.4 (`itests/java/src/WordCount.java`) against the broker: a word count whose
//! RocksDB store is backed by a compacted changelog topic. Counts on the output topic are right
//! after the app wipes its local state and restores from the changelog, and after a `kill -9` of
//! the broker while the app runs (at-least-once: input processed but not committed before the
//! crash may count twice, and no more). The broker rolls segments every second of record time
//! and runs an eager cleaner, so the changelog is compacted while the test runs, as on Apache
//! Kafka (where `GREGOR_VS_KAFKA=1` runs the first scenario too).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use gregor_itests::apps::{
    read_to_end, topic_config, wait_committed_to_end, JavaApp, LatestPerKey,
};
use gregor_itests::clients::{produce_all, producer, Rec};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_itests::TestBroker;

/// The few words every input line is made of, so each is counted many times.
const WORDS: [&str; 5] = ["apple", "banana", "cherry", "damson", "elder"];

/// Partitions of the input and output topics (the changelog and the repartition topic get as
/// many: Streams sizes them from the input).
const PARTITIONS: i32 = 2;

/// Segments rolled by record time, a second of it (Kafka 4.4 allows no segment under 1 MiB):
/// input line `i` is stamped `i` × 10 ms after the test's base time, and the changelog records
/// carry their input's timestamp, so the changelog rolls every 100 lines whatever the speed of
/// the machine. A cleaner looks every 100 ms and cleans a log once a tenth of it is dirty.
const BROKER_SETTINGS: &[(&str, &str)] = &[
    ("log.roll.ms", "1000"),
    ("log.cleaner.backoff.ms", "100"),
    ("log.cleaner.min.cleanable.ratio", "0.1"),
];

/// Record time between input lines.
const LINE_MS: i64 = 10;

/// The base of the input's record times: far enough back that the last line of a test (13,000
/// lines on) is still in the past, where a broker accepts any timestamp.
fn base_ms() -> anyhow::Result<i64> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    Ok(now.as_millis() as i64 - 200_000)
}

/// Longest wait for the app to start, catch up or restore.
const APP_TIMEOUT: Duration = Duration::from_secs(60);

const INPUT: &str = "words";
const OUTPUT: &str = "counts";

/// Input line `i`: one to three words, chosen so each word gets a different count (every 15
/// lines hold apple 7 times, banana 10, cherry 5, damson 2, elder 6).
fn line(i: usize) -> String {
    (0..1 + i % 3)
        .map(|k| WORDS[(i * i + k) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lines `from..to`.
fn lines(from: usize, to: usize) -> Vec<String> {
    (from..to).map(line).collect()
}

/// How often each word occurs in `lines`, as WordCount splits them.
fn word_counts(lines: &[String]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts.entry(word.to_string()).or_insert(0) += 1;
    }
    counts
}

fn add(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut sum = a.clone();
    for (word, n) in b {
        *sum.entry(word.clone()).or_insert(0) += n;
    }
    sum
}

/// Produces `lines`, numbered from `first`, to the input topic: keyed by line number,
/// round-robin over partitions, line `i` stamped `base + i * LINE_MS`.
fn produce_lines(bootstrap: &str, base: i64, first: usize, lines: &[String]) -> anyhow::Result<()> {
    let (p, acks) = producer(bootstrap, &[])?;
    let records: Vec<Rec> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| Rec {
            partition: ((first + i) % PARTITIONS as usize) as i32,
            offset: -1,
            key: format!("line-{}", first + i).into_bytes(),
            value: l.clone().into_bytes(),
            headers: Vec::new(),
            timestamp: base + (first + i) as i64 * LINE_MS,
        })
        .collect();
    produce_all(&p, INPUT, &records)?;
    let acked = acks.0.lock().expect("ack log").len();
    anyhow::ensure!(
        acked == lines.len(),
        "{acked} of {} lines acknowledged",
        lines.len()
    );
    Ok(())
}

fn create_topics(bootstrap: &str) -> anyhow::Result<()> {
    let mut client = RawClient::connect(bootstrap)?;
    for topic in [INPUT, OUTPUT] {
        let (code, message) = client.create_topic(topic, PARTITIONS, &[])?;
        anyhow::ensure!(code == 0, "creating {topic}: {code} {message}");
    }
    Ok(())
}

/// The output's latest counts, as numbers.
fn counts_of(output: &LatestPerKey) -> BTreeMap<String, u64> {
    output
        .latest_text()
        .into_iter()
        .filter_map(|(word, n)| Some((word, n.parse().ok()?)))
        .collect()
}

/// Reads the output until its latest counts are `expected`.
fn wait_counts(
    output: &mut LatestPerKey,
    what: &str,
    expected: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let want: BTreeMap<Vec<u8>, Vec<u8>> = expected
        .iter()
        .map(|(w, n)| (w.clone().into_bytes(), n.to_string().into_bytes()))
        .collect();
    output.read_until(what, APP_TIMEOUT, |latest| *latest == want)
}

/// Starts WordCount as application `app_id` with its state in `state_dir`, and waits until it
/// is RUNNING; `clean_up` wipes the local state first. Returns the app and the changelog
/// records it restored (summed over partitions).
fn start_word_count(
    bootstrap: &str,
    app_id: &str,
    state_dir: &Path,
    clean_up: bool,
    run: &str,
) -> anyhow::Result<(JavaApp, u64)> {
    let state = state_dir.join("state");
    let mut args = vec![
        "--bootstrap",
        bootstrap,
        "--application-id",
        app_id,
        "--state-dir",
        state.to_str().expect("utf-8 temp path"),
        "--input",
        INPUT,
        "--output",
        OUTPUT,
    ];
    if clean_up {
        args.push("--clean-up");
    }
    let started = Instant::now();
    let mut app = JavaApp::start(
        &format!("{app_id}-{run}"),
        "WordCount.java",
        &args,
        state_dir,
    )?;
    app.wait_for("STATE RUNNING", APP_TIMEOUT, |l| l == "STATE RUNNING")?;
    println!("{app_id} {run}: RUNNING after {:?}", started.elapsed());
    let restored = app
        .seen()
        .iter()
        .filter_map(|l| l.strip_prefix("RESTORED counts "))
        .filter_map(|rest| rest.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    Ok((app, restored))
}

/// Waits until the app has committed the end of the input and of its repartition topic: all
/// input is counted and, at-least-once committing after it flushes, all output written.
fn wait_all_committed(bootstrap: &str, app_id: &str) -> anyhow::Result<()> {
    let repartition = format!("{app_id}-by-word-repartition");
    for topic in [INPUT, repartition.as_str()] {
        wait_committed_to_end(bootstrap, app_id, topic, PARTITIONS, APP_TIMEOUT)?;
    }
    Ok(())
}

/// Waits until Streams has purged the repartition topic (DeleteRecords every second, up to the
/// committed offsets): each partition's log start offset moved past 0.
fn wait_repartition_purged(bootstrap: &str, app_id: &str) -> anyhow::Result<()> {
    let topic = format!("{app_id}-by-word-repartition");
    let deadline = Instant::now() + APP_TIMEOUT;
    loop {
        let marks = gregor_itests::apps::watermarks(bootstrap, &topic, PARTITIONS)?;
        if marks.iter().all(|(low, _)| *low > 0) {
            println!("{topic}: purged to {marks:?} (log start, high watermark)");
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{topic} not purged within {APP_TIMEOUT:?}: {marks:?} (log start, high watermark)"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The changelog read from its beginning: the latest count per word (8-byte big-endian longs,
/// Serdes.Long) and how many records it holds.
fn changelog(bootstrap: &str, app_id: &str) -> anyhow::Result<(BTreeMap<String, u64>, usize)> {
    let topic = format!("{app_id}-counts-changelog");
    let records = read_to_end(bootstrap, &topic, PARTITIONS, APP_TIMEOUT)?;
    let mut latest = BTreeMap::new();
    for r in &records {
        let word = String::from_utf8_lossy(&r.key).into_owned();
        match <[u8; 8]>::try_from(r.value.as_slice()) {
            Ok(n) => latest.insert(word, u64::from_be_bytes(n)),
            Err(_) => latest.remove(&word),
        };
    }
    Ok((latest, records.len()))
}

/// Updates ever written to the changelog: its high watermarks (it starts at offset 0).
fn changelog_updates(bootstrap: &str, app_id: &str) -> anyhow::Result<usize> {
    let topic = format!("{app_id}-counts-changelog");
    let ends = gregor_itests::apps::end_offsets(bootstrap, &topic, PARTITIONS)?;
    Ok(ends.iter().sum::<i64>() as usize)
}

/// The changelog topic was created compacted, as Streams asks; it holds the counts; and the
/// cleaner compacts it within a while: fewer records from its beginning than updates.
fn check_changelog(
    bootstrap: &str,
    app_id: &str,
    counts: &BTreeMap<String, u64>,
) -> anyhow::Result<()> {
    let topic = format!("{app_id}-counts-changelog");
    assert_eq!(
        topic_config(bootstrap, &topic, "cleanup.policy")?.as_deref(),
        Some("compact"),
        "{topic} is created compacted"
    );
    let updates = changelog_updates(bootstrap, app_id)?;
    let total: u64 = counts.values().sum();
    assert!(
        updates as u64 >= total,
        "{topic} has {updates} updates for {total} words counted"
    );
    let started = Instant::now();
    loop {
        let (latest, held) = changelog(bootstrap, app_id)?;
        assert_eq!(&latest, counts, "{topic} holds the counts");
        // The active segments are never cleaned; half of the updates is far more than they hold.
        if held < updates / 2 {
            println!(
                "{topic}: compacted to {held} records from {updates} updates in {:?}",
                started.elapsed()
            );
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < APP_TIMEOUT,
            "{topic} still holds {held} records of {updates} updates after {APP_TIMEOUT:?}: not compacted"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Counts are right from the first run, and after a stop, a wipe of the local state
/// (`KafkaStreams.cleanUp()`) and a restart that restores the store from its changelog.
#[test]
fn counts_survive_a_state_wipe_and_restore() -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = broker.bootstrap.as_str();
        let app_id = "wc";
        let dir = tempfile::tempdir()?;
        let base = base_ms()?;
        create_topics(b)?;
        let first = lines(0, 3_000);
        produce_lines(b, base, 0, &first)?;
        let mut expected = word_counts(&first);

        let (app, _) = start_word_count(b, app_id, dir.path(), false, "first")?;
        let mut output = LatestPerKey::new(b, OUTPUT, PARTITIONS)?;
        wait_counts(&mut output, "the first batch's counts", &expected)?;
        wait_all_committed(b, app_id)?;
        wait_repartition_purged(b, app_id)?;
        check_changelog(b, app_id, &expected)?;
        let updates = changelog_updates(b, app_id)?;
        let stopped = app.stop()?;
        assert!(stopped.iter().any(|l| l == "CLOSED"), "{stopped:?}");

        let (app, restored) = start_word_count(b, app_id, dir.path(), true, "restored")?;
        println!("{app_id}: restored {restored} changelog records of {updates} updates");
        assert!(
            restored >= WORDS.len() as u64 && restored <= updates as u64,
            "restored {restored} records: at least one per word, at most the {updates} updates"
        );
        assert!(
            restored < updates as u64 / 2,
            "restored {restored} of {updates} updates: from a compacted changelog"
        );
        let second = lines(3_000, 4_000);
        produce_lines(b, base, 3_000, &second)?;
        expected = add(&expected, &word_counts(&second));
        wait_counts(
            &mut output,
            "counts continuing from the restored store",
            &expected,
        )?;
        wait_all_committed(b, app_id)?;
        app.stop()?;
        check_changelog(b, app_id, &expected)?;
        Ok(())
    })
}

/// The broker is killed with SIGKILL while the app works through a batch, and restarted on the
/// same data dir: the app reconnects and finishes. At-least-once lets the input the app had
/// processed but not committed at the crash count twice, so each count is at least the true one
/// and at most that plus the word's occurrences in the batch (the batch before was committed).
/// Then the store, restored from its changelog after a state wipe, holds exactly the counts
/// the output shows, and counts on exactly from there.
#[test]
fn counts_survive_a_broker_kill9() -> anyhow::Result<()> {
    let settings: Vec<String> = BROKER_SETTINGS
        .iter()
        .flat_map(|(k, v)| ["--set".to_string(), format!("{k}={v}")])
        .collect();
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let mut broker = TestBroker::start(&settings)?;
    let b = broker.bootstrap();
    let app_id = "wc-crash";
    let dir = tempfile::tempdir()?;
    let base = base_ms()?;
    create_topics(&b)?;
    let first = lines(0, 2_000);
    produce_lines(&b, base, 0, &first)?;
    let counted_first = word_counts(&first);

    let (app, _) = start_word_count(&b, app_id, dir.path(), false, "first")?;
    let mut output = LatestPerKey::new(&b, OUTPUT, PARTITIONS)?;
    wait_counts(&mut output, "the first batch's counts", &counted_first)?;
    wait_all_committed(&b, app_id)?;

    // A batch large enough that the app is still at it when the broker dies.
    let second = lines(2_000, 12_000);
    let counted_second = word_counts(&second);
    let true_counts = add(&counted_first, &counted_second);
    produce_lines(&b, base, 2_000, &second)?;
    output.read_until("a quarter of the second batch", APP_TIMEOUT, |latest| {
        counted_first.iter().any(|(w, n)| {
            let quarter = counted_second.get(w).copied().unwrap_or(0) / 4;
            latest
                .get(w.as_bytes())
                .and_then(|v| String::from_utf8_lossy(v).parse::<u64>().ok())
                .is_some_and(|c| c >= n + quarter)
        })
    })?;
    broker.kill9()?;
    let seen_at_kill = counts_of(&output);
    let finished_before_kill = seen_at_kill == true_counts;
    println!("{app_id}: broker killed; output showed {seen_at_kill:?} (finished: {finished_before_kill})");
    broker.restart()?;

    wait_all_committed(&b, app_id)?;
    // Committed offsets cover everything, so all output was flushed before: read it to its end.
    let ends = gregor_itests::apps::end_offsets(&b, OUTPUT, PARTITIONS)?;
    output.read_to(&ends, APP_TIMEOUT)?;
    let got = counts_of(&output);
    for (word, n) in &true_counts {
        let g = got.get(word).copied().unwrap_or(0);
        let most = n + counted_second.get(word).copied().unwrap_or(0);
        assert!(
            (*n..=most).contains(&g),
            "{word}: counted {g}; true count {n}, at most {most} with the second batch counted twice"
        );
    }
    let over: u64 = got.values().sum::<u64>() - true_counts.values().sum::<u64>();
    println!("{app_id}: after the crash {over} words counted twice (at-least-once)");
    let (in_changelog, _) = changelog(&b, app_id)?;
    assert_eq!(
        in_changelog, got,
        "the changelog's latest values are the counts the output shows"
    );
    let stopped = app.stop()?;
    assert!(stopped.iter().any(|l| l == "CLOSED"), "{stopped:?}");

    let (app, restored) = start_word_count(&b, app_id, dir.path(), true, "restored")?;
    println!("{app_id}: restored {restored} changelog records");
    let third = lines(12_000, 13_000);
    produce_lines(&b, base, 12_000, &third)?;
    let expected = add(&got, &word_counts(&third));
    wait_counts(
        &mut output,
        "counts continuing from the restored store",
        &expected,
    )?;
    wait_all_committed(&b, app_id)?;
    app.stop()?;
    check_changelog(&b, app_id, &expected)?;
    broker.stop()?;
    Ok(())
}
