//! DescribeConfigs in full (issue 18): every config Apache Kafka 4.4 lists for a broker, a topic
//! and a consumer group, with Kafka's types, read-only and sensitive flags, values and synonyms.
//! `itests/java/src/ConfigDump.java` prints one line per config through the Java AdminClient;
//! Kafka 4.4's lines are the fixtures `fixtures/configs.*.kafka.tsv`. With `GREGOR_VS_KAFKA=1`
//! the dump runs against Kafka too and must match the fixtures (`GREGOR_RECORD_FIXTURES=1`
//! rewrites them from that run instead).

use std::collections::BTreeMap;
use std::path::PathBuf;

use gregor_itests::bench::brokers::{Kind, Running};
use gregor_itests::kafka_tools::{self, run_java_program};
use gregor_itests::reference::{each_broker, vs_kafka};

/// Broker keys whose value Gregor deliberately gives otherwise than Kafka, and why. Their
/// type, read-only and sensitive flags must still be Kafka's.
const VALUE_DEVIATIONS: &[(&str, &str)] = &[
    (
        "listeners",
        "Gregor binds loopback by default; the test launchers set it differently",
    ),
    ("advertised.listeners", "set by Kafka's launcher only"),
    (
        "listener.security.protocol.map",
        "Kafka's launcher maps its CONTROLLER listener",
    ),
    (
        "ssl.keystore.type",
        "Gregor reads PEM keystores only, so PEM is its default (Kafka's is JKS)",
    ),
    (
        "ssl.truststore.type",
        "Gregor reads PEM truststores only, so PEM is its default (Kafka's is JKS)",
    ),
    (
        "sasl.enabled.mechanisms",
        "Gregor enables every mechanism it has; Kafka's default GSSAPI it lacks",
    ),
    (
        "controller.listener.names",
        "Kafka needs a controller listener, Gregor has none",
    ),
    (
        "controller.quorum.bootstrap.servers",
        "Kafka's launcher sets its controller quorum",
    ),
    ("inter.broker.listener.name", "set by Kafka's launcher only"),
    ("process.roles", "set by Kafka's launcher only"),
    ("node.id", "Kafka requires it, Gregor defaults it to 1"),
    ("broker.id", "Kafka's launcher sets it"),
    (
        "log.dirs",
        "each run's own directory; Gregor's default is ./gregor-data",
    ),
    (
        "max.connections",
        "Gregor caps connections at 10000 by default, Kafka does not",
    ),
    (
        "group.initial.rebalance.delay.ms",
        "Gregor's default is 0, the value Kafka's example config sets",
    ),
    (
        "num.partitions",
        "set by Kafka's launcher (to Kafka's default)",
    ),
    (
        "min.insync.replicas",
        "Kafka's storage format writes it as a dynamic default",
    ),
    (
        "offsets.topic.replication.factor",
        "Kafka's launcher sets 1 for a single node",
    ),
    (
        "transaction.state.log.replication.factor",
        "Kafka's launcher sets 1 for a single node",
    ),
    (
        "transaction.state.log.min.isr",
        "Kafka's launcher sets 1 for a single node",
    ),
    (
        "share.coordinator.state.topic.replication.factor",
        "Kafka's launcher sets 1 for a single node",
    ),
    (
        "share.coordinator.state.topic.min.isr",
        "Kafka's launcher sets 1 for a single node",
    ),
];

fn fixture(resource: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/configs.{resource}.kafka.tsv"))
}

/// ConfigDump's lines by config name: the other fields, tab-separated.
fn parse(text: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    text.lines()
        .map(|l| {
            let fields: Vec<String> = l.split('\t').map(str::to_string).collect();
            anyhow::ensure!(fields.len() == 8, "not a ConfigDump line: {l}");
            Ok((fields[0].clone(), fields[1..].to_vec()))
        })
        .collect()
}

/// Where `got` differs from Kafka's `expected`: names, type (field 0), read-only (2) and
/// sensitive (3) always; source (1), value (4) and synonyms (5) unless the key deviates.
fn differences(
    expected: &BTreeMap<String, Vec<String>>,
    got: &BTreeMap<String, Vec<String>>,
    deviations: &[(&str, &str)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (name, want) in expected {
        let Some(have) = got.get(name) else {
            out.push(format!("{name}: missing"));
            continue;
        };
        let deviates = deviations.iter().any(|(k, _)| k == name);
        let fields: &[usize] = if deviates {
            &[0, 2, 3]
        } else {
            &[0, 1, 2, 3, 4, 5]
        };
        for &i in fields {
            if want[i] != have[i] {
                out.push(format!(
                    "{name}: field {i} is `{}`, Kafka's is `{}`",
                    have[i], want[i]
                ));
            }
        }
    }
    for name in got.keys().filter(|n| !expected.contains_key(*n)) {
        out.push(format!("{name}: not listed by Kafka"));
    }
    out
}

/// Dumps one resource and checks it against its fixture (or records it).
fn check(
    broker: &Running,
    resource: &str,
    args: &[&str],
    deviations: &[(&str, &str)],
) -> anyhow::Result<()> {
    let record = vs_kafka() && std::env::var("GREGOR_RECORD_FIXTURES").is_ok_and(|v| v == "1");
    let mut all = vec![broker.bootstrap.as_str()];
    all.extend_from_slice(args);
    let output = run_java_program("ConfigDump", &all)?.ok()?;
    if record {
        if broker.kind == Kind::Kafka {
            std::fs::write(fixture(resource), &output.stdout)?;
        }
        return Ok(());
    }
    let expected = parse(&std::fs::read_to_string(fixture(resource))?)?;
    let got = parse(&output.stdout)?;
    // Kafka's own runs differ from its fixture in ports and paths, which the deviations cover.
    let diff = differences(&expected, &got, deviations);
    anyhow::ensure!(
        diff.is_empty(),
        "{resource} configs differ from Kafka 4.4's:\n{}",
        diff.join("\n")
    );
    Ok(())
}

#[test]
fn broker_topic_and_group_configs_are_kafkas() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        check(broker, "broker", &["broker", "1"], VALUE_DEVIATIONS)?;
        kafka_tools::run(
            kafka_tools::TOPICS,
            &[
                "--bootstrap-server",
                &broker.bootstrap,
                "--create",
                "--topic",
                "configs-probe",
            ],
        )?
        .ok()?;
        let min_isr = [VALUE_DEVIATIONS
            .iter()
            .find(|(k, _)| *k == "min.insync.replicas")
            .copied()
            .unwrap_or_default()];
        check(broker, "topic", &["topic", "configs-probe"], &min_isr)?;
        // A group that does not exist yet has every config at its default, as in Kafka.
        check(broker, "group", &["group", "configs-probe-group"], &[])?;
        Ok(())
    })
}
