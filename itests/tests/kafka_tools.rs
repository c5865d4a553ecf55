//! Apache Kafka's own command-line tools (4.x, from Maven Central) against Gregor, with their
//! default settings: kafka-topics, kafka-console-producer and -consumer, kafka-consumer-groups,
//! kafka-configs and the perf tests (whose producer has idempotence on by default).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gregor_itests::kafka_tools::{
    poll, run, run_with_input, spawn, CONFIGS, CONSOLE_CONSUMER, CONSOLE_PRODUCER, CONSUMER_GROUPS,
    CONSUMER_PERF, PRODUCER_PERF, TOPICS,
};
use gregor_itests::TestBroker;

/// `kafka-topics --create --topic TOPIC --partitions N`.
fn kafka_topics_create(b: &str, topic: &str, partitions: u32) -> anyhow::Result<()> {
    let partitions = partitions.to_string();
    run(
        TOPICS,
        &[
            "--bootstrap-server",
            b,
            "--create",
            "--topic",
            topic,
            "--partitions",
            &partitions,
        ],
    )?
    .ok()?;
    Ok(())
}

fn lines_with<'a>(text: &'a str, needle: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn kafka_topics_create_list_describe_alter_delete() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let bs = ["--bootstrap-server", b.as_str()];
    let topics = |args: &[&str]| run(TOPICS, &[&bs[..], args].concat());

    let created = topics(&["--create", "--topic", "orders", "--partitions", "3"])?.ok()?;
    assert!(
        created.stdout.contains("Created topic orders."),
        "{created:?}"
    );
    // Internal topics are listed too, as by Kafka; Gregor has __consumer_offsets from the start
    // where Kafka makes it at the first group use, so the user's topics are compared alone.
    let listed = topics(&["--list", "--exclude-internal"])?.ok()?;
    assert_eq!(listed.stdout.lines().collect::<Vec<_>>(), ["orders"]);

    let described = topics(&["--describe", "--topic", "orders"])?.ok()?;
    assert!(
        described.stdout.contains("PartitionCount: 3"),
        "{described:?}"
    );
    assert!(
        described.stdout.contains("ReplicationFactor: 1"),
        "{described:?}"
    );
    let rows = lines_with(&described.stdout, "Partition: ");
    assert_eq!(rows.len(), 3, "{described:?}");
    for (i, row) in rows.iter().enumerate() {
        assert!(row.contains(&format!("Partition: {i}\t")), "{row}");
        assert!(row.contains("Leader: 1\tReplicas: 1\tIsr: 1"), "{row}");
    }

    topics(&["--alter", "--topic", "orders", "--partitions", "4"])?.ok()?;
    let described = topics(&["--describe", "--topic", "orders"])?.ok()?;
    assert!(
        described.stdout.contains("PartitionCount: 4"),
        "{described:?}"
    );

    // Creating it again is refused with Kafka's message.
    let again = topics(&["--create", "--topic", "orders", "--partitions", "3"])?;
    assert!(!again.success);
    assert!(again.stderr.contains("already exists"), "{again:?}");

    topics(&["--delete", "--topic", "orders"])?.ok()?;
    let listed = poll(Duration::from_secs(10), || {
        let out = topics(&["--list", "--exclude-internal"])?.ok()?;
        Ok((!out.stdout.contains("orders")).then_some(out))
    })?;
    assert_eq!(listed.stdout.trim(), "");
    Ok(())
}

#[test]
fn console_producer_and_consumer_with_keys() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    kafka_topics_create(&b, "lines", 3)?;
    let input: Vec<String> = (0..50).map(|i| format!("key{i}:value {i}")).collect();
    run_with_input(
        CONSOLE_PRODUCER,
        &[
            "--bootstrap-server",
            &b,
            "--topic",
            "lines",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        &(input.join("\n") + "\n"),
    )?
    .ok()?;
    let consumed = run(
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            &b,
            "--topic",
            "lines",
            "--from-beginning",
            "--group",
            "g1",
            "--property",
            "print.key=true",
            "--property",
            "key.separator=:",
            "--max-messages",
            "50",
        ],
    )?
    .ok()?;
    // Kafka 4.4 prints a deprecation notice for --property on stdout; the records are the rest.
    let got: BTreeSet<&str> = consumed
        .stdout
        .lines()
        .filter(|l| !l.contains("deprecated"))
        .collect();
    let want: BTreeSet<&str> = input.iter().map(String::as_str).collect();
    assert_eq!(got, want, "stderr: {}", consumed.stderr);
    assert!(consumed.stderr.contains("Processed a total of 50 messages"));
    Ok(())
}

/// One row of `kafka-consumer-groups --describe`.
#[derive(Debug)]
struct GroupRow {
    partition: i32,
    current: String,
    log_end: String,
    lag: String,
    consumer_id: String,
}

fn describe_group(b: &str, group: &str) -> anyhow::Result<Vec<GroupRow>> {
    let out = run(
        CONSUMER_GROUPS,
        &["--bootstrap-server", b, "--describe", "--group", group],
    )?;
    Ok(out
        .stdout
        .lines()
        .filter(|l| l.starts_with(group))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 7 && f[1] == "orders").then(|| GroupRow {
                partition: f[2].parse().unwrap_or(-1),
                current: f[3].into(),
                log_end: f[4].into(),
                lag: f[5].into(),
                consumer_id: f[6].into(),
            })
        })
        .collect())
}

/// The lesson's Experiment 1 with Kafka's own tools: two console consumers in one group split
/// three partitions; kafka-consumer-groups shows members, offsets and lag; the group's offsets
/// are reset to the start and it reads everything again; then the group is deleted.
#[test]
fn consumer_groups_with_two_console_consumers() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let group = "order-processors";
    kafka_topics_create(&b, "orders", 3)?;
    let input: String = (0..30).map(|i| format!("order-{i}:{i}\n")).collect();
    run_with_input(
        CONSOLE_PRODUCER,
        &[
            "--bootstrap-server",
            &b,
            "--topic",
            "orders",
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
        &input,
    )?
    .ok()?;

    let consumer_args = [
        "--bootstrap-server",
        &b,
        "--topic",
        "orders",
        "--group",
        group,
        "--from-beginning",
    ];
    let first = spawn(CONSOLE_CONSUMER, &consumer_args)?;
    let second = spawn(CONSOLE_CONSUMER, &consumer_args)?;
    let started = Instant::now();
    // Both members own partitions and every committed offset reached the log end.
    let rows = poll(Duration::from_secs(60), || {
        let rows = describe_group(&b, group)?;
        let owners: BTreeSet<&str> = rows.iter().map(|r| r.consumer_id.as_str()).collect();
        let caught_up = rows.len() == 3
            && rows.iter().all(|r| r.current == r.log_end && r.lag == "0")
            && owners.len() == 2
            && !owners.contains("-");
        Ok(caught_up.then_some(rows))
    })?;
    println!(
        "both consumers assigned and caught up after {:?}",
        started.elapsed()
    );
    let mut per_owner: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for r in &rows {
        per_owner
            .entry(&r.consumer_id)
            .or_default()
            .push(r.partition);
    }
    let mut split: Vec<usize> = per_owner.values().map(Vec::len).collect();
    split.sort_unstable();
    assert_eq!(split, [1, 2], "{rows:?}");
    let total: i64 = rows.iter().map(|r| r.log_end.parse::<i64>().unwrap()).sum();
    assert_eq!(total, 30);

    let members = run(
        CONSUMER_GROUPS,
        &[
            "--bootstrap-server",
            &b,
            "--describe",
            "--group",
            group,
            "--members",
        ],
    )?
    .ok()?;
    assert_eq!(lines_with(&members.stdout, group).len(), 2, "{members:?}");
    let state = run(
        CONSUMER_GROUPS,
        &[
            "--bootstrap-server",
            &b,
            "--describe",
            "--group",
            group,
            "--state",
        ],
    )?
    .ok()?;
    assert!(state.stdout.contains("Stable"), "{state:?}");
    let listed = run(CONSUMER_GROUPS, &["--bootstrap-server", &b, "--list"])?.ok()?;
    assert!(listed.stdout.lines().any(|l| l == group), "{listed:?}");

    // Stop both (SIGTERM: they leave the group), then rewind the group.
    first.stop()?;
    second.stop()?;
    let reset = poll(Duration::from_secs(30), || {
        let out = run(
            CONSUMER_GROUPS,
            &[
                "--bootstrap-server",
                &b,
                "--reset-offsets",
                "--group",
                group,
                "--topic",
                "orders",
                "--to-earliest",
                "--execute",
            ],
        )?;
        Ok(out
            .success
            .then_some(out)
            .filter(|o| lines_with(&o.stdout, group).len() == 3))
    })?;
    for row in lines_with(&reset.stdout, group) {
        assert_eq!(row.split_whitespace().nth(3), Some("0"), "{reset:?}");
    }
    // Without --from-beginning: the group's committed offsets (now 0) decide.
    let again = run(
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            &b,
            "--topic",
            "orders",
            "--group",
            group,
            "--max-messages",
            "30",
        ],
    )?
    .ok()?;
    assert_eq!(again.stdout.lines().count(), 30, "{again:?}");

    let deleted = run(
        CONSUMER_GROUPS,
        &["--bootstrap-server", &b, "--delete", "--group", group],
    )?
    .ok()?;
    assert!(deleted.stdout.contains("successful"), "{deleted:?}");
    let listed = run(CONSUMER_GROUPS, &["--bootstrap-server", &b, "--list"])?.ok()?;
    assert!(!listed.stdout.lines().any(|l| l == group), "{listed:?}");
    Ok(())
}

#[test]
fn kafka_configs_describe_and_alter() -> anyhow::Result<()> {
    // The broker's log.* settings are the topic defaults kafka-configs shows.
    let broker = TestBroker::start(&["--set", "log.retention.hours=1"])?;
    let b = broker.bootstrap();
    kafka_topics_create(&b, "orders", 1)?;
    let configs = |args: &[&str]| {
        run(
            CONFIGS,
            &[
                &[
                    "--bootstrap-server",
                    b.as_str(),
                    "--entity-type",
                    "topics",
                    "--entity-name",
                    "orders",
                ][..],
                args,
            ]
            .concat(),
        )
    };
    let described = configs(&["--describe"])?.ok()?;
    assert!(
        described
            .stdout
            .contains("Dynamic configs for topic orders are:"),
        "{described:?}"
    );
    let all = configs(&["--describe", "--all"])?.ok()?;
    assert!(all.stdout.contains("retention.ms=3600000"), "{all:?}");
    assert!(all.stdout.contains("segment.bytes=1073741824"), "{all:?}");

    let altered = configs(&[
        "--alter",
        "--add-config",
        "retention.ms=7200000,max.message.bytes=2000000",
    ])?
    .ok()?;
    assert!(
        altered
            .stdout
            .contains("Completed updating config for topic orders."),
        "{altered:?}"
    );
    let described = configs(&["--describe"])?.ok()?;
    assert!(
        described.stdout.contains("retention.ms=7200000"),
        "{described:?}"
    );
    assert!(
        described.stdout.contains("max.message.bytes=2000000"),
        "{described:?}"
    );

    configs(&["--alter", "--delete-config", "retention.ms"])?.ok()?;
    let described = configs(&["--describe"])?.ok()?;
    assert!(!described.stdout.contains("retention.ms"), "{described:?}");

    let unknown = configs(&["--alter", "--add-config", "no.such.config=1"])?;
    assert!(!unknown.success);
    assert!(
        unknown
            .stderr
            .contains("Unknown topic config name: no.such.config"),
        "{unknown:?}"
    );
    Ok(())
}

/// The perf tools with their defaults (acks=all, idempotence on); the figures are printed,
/// never asserted.
#[test]
fn producer_and_consumer_perf_tests_complete() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    kafka_topics_create(&b, "perf", 3)?;
    let records = "50000";
    let produced = run(
        PRODUCER_PERF,
        &[
            "--topic",
            "perf",
            "--num-records",
            records,
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &format!("bootstrap.servers={b}"),
        ],
    )?
    .ok()?;
    println!("kafka-producer-perf-test:\n{}", produced.stdout);
    assert!(
        produced.stdout.contains(&format!("{records} records sent")),
        "{produced:?}"
    );
    assert!(!produced.stderr.contains("ERROR"), "{produced:?}");

    let consumed = run(
        CONSUMER_PERF,
        &[
            "--bootstrap-server",
            &b,
            "--topic",
            "perf",
            "--messages",
            records,
        ],
    )?
    .ok()?;
    println!("kafka-consumer-perf-test:\n{}", consumed.stdout);
    // The CSV line: start, end, MB, MB/s, records, records/s, ...
    let fields: Vec<&str> = consumed
        .stdout
        .lines()
        .last()
        .unwrap_or("")
        .split(", ")
        .collect();
    assert_eq!(fields.get(4).copied(), Some(records), "{consumed:?}");
    Ok(())
}
