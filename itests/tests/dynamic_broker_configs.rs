//! Dynamic configs (issue 18): `kafka-configs --alter` on the broker (this node and the
//! cluster default) and on a group, answered as Apache Kafka 4.4 answers (with
//! `GREGOR_VS_KAFKA=1` the same expectations are checked against Kafka); then, on Gregor, that
//! a dynamic default reaches the logs at once and survives a restart.

use gregor_itests::kafka_tools::{self, run_java_program};
use gregor_itests::reference::each_broker;
use gregor_itests::TestBroker;

/// A resource type and name, with operations `itests/java/src/ConfigAlter.java` applies to it,
/// each with Kafka 4.4's answer.
type Alters = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const ALTERS: &[Alters] = &[
    (
        "broker",
        "1",
        &[
            ("set:log.segment.bytes=2097152", "ok"),
            (
                "set:log.segment.bytes=abc",
                "InvalidRequestException: Invalid value abc for configuration log.segment.bytes: Not a number of type INT",
            ),
            (
                "set:log.dirs=/x",
                "InvalidRequestException: Cannot update these configs dynamically: [log.dirs]",
            ),
            (
                "set:log.cleanup.policy=bogus",
                "InvalidRequestException: Invalid value bogus for configuration log.cleanup.policy: String must be one of: compact, delete",
            ),
            ("set:foo.bar=1", "ok"),
            ("set:num.io.threads=4", "ok"),
            ("validate:set:message.max.bytes=2000000", "ok"),
            ("delete:log.segment.bytes", "ok"),
            ("delete:nothing.set", "ok"),
        ],
    ),
    (
        "broker",
        "",
        &[
            ("set:log.segment.bytes=1048576", "ok"),
            (
                "set:log.dirs=/x",
                "InvalidRequestException: Cannot update these configs dynamically: [log.dirs]",
            ),
        ],
    ),
    (
        "group",
        "g1",
        &[
            ("set:consumer.session.timeout.ms=50000", "ok"),
            (
                "set:consumer.session.timeout.ms=1000",
                "InvalidConfigurationException: consumer.session.timeout.ms must be in the range 45000 to 60000 inclusive.",
            ),
            (
                "set:foo=1",
                "InvalidConfigurationException: Unknown group config name: foo",
            ),
            ("set:consumer.heartbeat.interval.ms=6000", "ok"),
            ("delete:consumer.session.timeout.ms", "ok"),
        ],
    ),
];

/// ConfigDump lines (up to the documentation field) Kafka 4.4 shows after `ALTERS`, by
/// resource.
const AFTER: &[(&str, &str, &[&str])] = &[
    (
        "broker",
        "",
        &["log.segment.bytes\tINT\tDYNAMIC_DEFAULT_BROKER_CONFIG\trw\tplain\t1048576\tDYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=1048576"],
    ),
    (
        "broker",
        "1",
        &[
            "log.segment.bytes\tINT\tDYNAMIC_DEFAULT_BROKER_CONFIG\trw\tplain\t1048576\tDYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=1048576,DEFAULT_CONFIG:log.segment.bytes=1073741824",
            "foo.bar\tUNKNOWN\tDYNAMIC_BROKER_CONFIG\tro\tsensitive\tnull\tDYNAMIC_BROKER_CONFIG:foo.bar=null",
            "num.io.threads\tINT\tDYNAMIC_BROKER_CONFIG\trw\tplain\t4\tDYNAMIC_BROKER_CONFIG:num.io.threads=4,DEFAULT_CONFIG:num.io.threads=8",
            "message.max.bytes\tINT\tDEFAULT_CONFIG\trw\tplain\t1048588\tDEFAULT_CONFIG:message.max.bytes=1048588",
        ],
    ),
    (
        "topic",
        "dynamic-probe",
        &["segment.bytes\tINT\tDYNAMIC_DEFAULT_BROKER_CONFIG\trw\tplain\t1048576\tDYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=1048576,DEFAULT_CONFIG:log.segment.bytes=1073741824"],
    ),
    (
        "group",
        "g1",
        &[
            "consumer.heartbeat.interval.ms\tINT\tDYNAMIC_GROUP_CONFIG\trw\tplain\t6000\tDYNAMIC_GROUP_CONFIG:consumer.heartbeat.interval.ms=6000,DEFAULT_CONFIG:group.consumer.heartbeat.interval.ms=5000",
            "consumer.session.timeout.ms\tINT\tDEFAULT_CONFIG\trw\tplain\t45000\tDEFAULT_CONFIG:group.consumer.session.timeout.ms=45000",
        ],
    ),
];

/// The line ConfigDump prints for `key` of a resource, without its documentation field.
fn dump_line(bootstrap: &str, kind: &str, name: &str, key: &str) -> anyhow::Result<String> {
    let out = run_java_program("ConfigDump", &[bootstrap, kind, name])?.ok()?;
    let line = out
        .stdout
        .lines()
        .find(|l| l.split('\t').next() == Some(key))
        .ok_or_else(|| anyhow::anyhow!("{kind} {name:?} lists no {key}:\n{}", out.stdout))?;
    Ok(line.rsplit_once('\t').map_or(line, |(l, _)| l).to_string())
}

#[test]
fn dynamic_configs_are_checked_stored_and_described_as_kafka() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let b = broker.bootstrap.as_str();
        for (kind, name, ops) in ALTERS {
            let mut args = vec![b, kind, name];
            args.extend(ops.iter().map(|(op, _)| *op));
            let out = run_java_program("ConfigAlter", &args)?.ok()?;
            let got: Vec<&str> = out.stdout.lines().collect();
            let want: Vec<String> = ops.iter().map(|(op, a)| format!("{op}\t{a}")).collect();
            anyhow::ensure!(
                got == want,
                "{kind} {name:?}: answered\n{}\nnot\n{}",
                got.join("\n"),
                want.join("\n")
            );
        }
        kafka_tools::run(
            kafka_tools::TOPICS,
            &[
                "--bootstrap-server",
                b,
                "--create",
                "--topic",
                "dynamic-probe",
            ],
        )?
        .ok()?;
        for (kind, name, lines) in AFTER {
            for want in *lines {
                let key = want.split('\t').next().unwrap_or_default();
                let got = dump_line(b, kind, name, key)?;
                anyhow::ensure!(&got == want, "{kind} {name:?} {key}: `{got}`, not `{want}`");
            }
        }
        // What `kafka-configs --describe --all --entity-type brokers --entity-default` prints.
        let out = kafka_tools::run(
            kafka_tools::CONFIGS,
            &[
                "--bootstrap-server",
                b,
                "--describe",
                "--all",
                "--entity-type",
                "brokers",
                "--entity-default",
            ],
        )?
        .ok()?;
        let lines: Vec<&str> = out
            .stdout
            .lines()
            // Kafka's storage format sets this cluster default; Gregor has no such step.
            .filter(|l| !l.contains("min.insync.replicas"))
            .collect();
        anyhow::ensure!(
            lines
                == [
                    "Default configs for brokers in the cluster are:",
                    "  log.segment.bytes=1048576 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=1048576}",
                ],
            "kafka-configs printed:\n{}",
            out.stdout
        );
        Ok(())
    })
}

/// The partition's segment files in `dir`.
fn segments(dir: &std::path::Path) -> anyhow::Result<usize> {
    Ok(std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .count())
}

#[test]
fn a_dynamic_default_reaches_the_logs_at_once_and_survives_a_restart() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    kafka_tools::run(
        kafka_tools::TOPICS,
        &["--bootstrap-server", &b, "--create", "--topic", "rolls"],
    )?
    .ok()?;
    kafka_tools::run(
        kafka_tools::CONFIGS,
        &[
            "--bootstrap-server",
            &b,
            "--alter",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--add-config",
            "log.segment.bytes=1048576",
        ],
    )?
    .ok()?;
    // 3 MiB in 100 KiB records: with 1 MiB segments the existing topic's log rolls.
    let record = "x".repeat(100 << 10);
    let input: String = (0..30).map(|_| format!("{record}\n")).collect();
    kafka_tools::run_with_input(
        kafka_tools::CONSOLE_PRODUCER,
        &["--bootstrap-server", &b, "--topic", "rolls"],
        &input,
    )?
    .ok()?;
    let dir = broker.data_dir().join("rolls-0");
    let rolled = segments(&dir)?;
    anyhow::ensure!(
        rolled >= 3,
        "{rolled} segments after 3 MiB with 1 MiB segments"
    );

    broker.stop()?;
    broker.restart()?;
    let b = broker.bootstrap();
    let line = dump_line(&b, "topic", "rolls", "segment.bytes")?;
    anyhow::ensure!(
        line.starts_with("segment.bytes\tINT\tDYNAMIC_DEFAULT_BROKER_CONFIG\trw\tplain\t1048576\t"),
        "after a restart: {line}"
    );
    kafka_tools::run(
        kafka_tools::CONFIGS,
        &[
            "--bootstrap-server",
            &b,
            "--alter",
            "--entity-type",
            "brokers",
            "--entity-default",
            "--delete-config",
            "log.segment.bytes",
        ],
    )?
    .ok()?;
    let line = dump_line(&b, "topic", "rolls", "segment.bytes")?;
    anyhow::ensure!(
        line == "segment.bytes\tINT\tDEFAULT_CONFIG\trw\tplain\t1073741824\tDEFAULT_CONFIG:log.segment.bytes=1073741824",
        "after deleting the default: {line}"
    );
    Ok(())
}

#[test]
fn broker_logger_levels_change_while_the_broker_runs() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let alter = |ops: &[&str]| -> anyhow::Result<Vec<String>> {
        let mut args = vec![b.as_str(), "broker-logger", "1"];
        args.extend_from_slice(ops);
        let out = run_java_program("ConfigAlter", &args)?.ok()?;
        Ok(out.stdout.lines().map(str::to_string).collect())
    };
    let answers = alter(&[
        "set:gregor::connection=DEBUG",
        "set:kafka.foo=DEBUG",
        "set:gregor=LOUD",
        "delete:root",
    ])?;
    assert_eq!(
        answers,
        [
            "set:gregor::connection=DEBUG\tok",
            "set:kafka.foo=DEBUG\tInvalidConfigurationException: Logger kafka.foo does not exist!",
            "set:gregor=LOUD\tInvalidConfigurationException: Cannot set the log level of gregor to LOUD as it is not a supported log level. Valid log4j levels are ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN",
            "delete:root\tInvalidRequestException: Removing the log level of the root logger is not allowed",
        ]
    );
    let level = |logger: &str| dump_line(&b, "broker-logger", "1", logger);
    assert_eq!(
        level("gregor::connection")?,
        "gregor::connection\tUNKNOWN\tDYNAMIC_BROKER_LOGGER_CONFIG\trw\tplain\tDEBUG\t"
    );
    assert!(level("gregor::coordinator")?.contains("\tINFO\t"));
    // The level is in force: a connection's requests are logged at DEBUG now.
    let debug_lines = || -> anyhow::Result<usize> {
        let log = broker.log();
        Ok(log
            .lines()
            .filter(|l| l.contains("DEBUG") && l.contains("gregor::connection"))
            .count())
    };
    let before = debug_lines()?;
    kafka_tools::run(kafka_tools::TOPICS, &["--bootstrap-server", &b, "--list"])?.ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while debug_lines()? == before {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no DEBUG line from gregor::connection"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        alter(&["set:root=WARN", "delete:gregor::connection"])?.len(),
        2
    );
    assert!(level("gregor::connection")?.contains("\tWARN\t"));
    Ok(())
}
