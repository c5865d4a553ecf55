//! Every Admin call a UI or a tool makes (issue 18), through the Java AdminClient 4.4:
//! `itests/java/src/AdminProbe.java` creates topics, produces with an idempotent producer, then
//! prints one normalized line per call (describeCluster, describeTopics by name and by id,
//! consumer groups and their offsets, listOffsets, deleteRecords, describeLogDirs,
//! describeReplicaLogDirs, describeProducers, describeConfigs, describeFeatures, the ACL calls,
//! describeClientQuotas, describeUserScramCredentials, electLeaders, the reassignment calls,
//! describeMetadataQuorum). Kafka 4.4's lines are the fixture `fixtures/admin_probe.kafka.txt`;
//! Gregor's must be the same, except the deviations listed below with their reasons. With
//! `GREGOR_VS_KAFKA=1` the probe runs against Kafka too and its lines must be the fixture's
//! (`GREGOR_RECORD_FIXTURES=1` rewrites the fixture from that run instead).

use std::collections::BTreeMap;
use std::path::PathBuf;

use gregor_itests::bench::brokers::Kind;
use gregor_itests::kafka_tools::run_java_program;
use gregor_itests::reference::{each_broker, vs_kafka};

/// Calls Gregor answers otherwise than Kafka 4.4: the call, Gregor's line, and why.
const DEVIATIONS: &[(&str, &str, &str)] = &[
    (
        "describeProducers.afterDeleteRecords",
        "{probe-0=[id>=0 epoch=0 lastSequence=9 lastTimestamp=>0 coordinatorEpoch=OptionalInt.empty \
         txnStart=OptionalLong.empty], probe-1=[], probe-compact-0=[id>=0 epoch=0 lastSequence=2 \
         lastTimestamp=>0 coordinatorEpoch=OptionalInt.empty txnStart=OptionalLong.empty]}",
        "Gregor's log forgets a producer once all its batches are below the log start; Kafka 4 \
         keeps it until producer.id.expiration.ms",
    ),
    (
        "describeFeatures",
        "finalized={group.version=1..1, kraft.version=1..1, metadata.version=33..33, \
         transaction.version=2..2} supported={group.version=0..1, kraft.version=0..1, \
         metadata.version=7..33, transaction.version=0..2} epoch=set",
        "share.version, streams.version and eligible.leader.replicas.version come with the \
         APIs behind them",
    ),
    (
        "alterClientQuotas.validateOnly",
        "! UnsupportedVersionException: The node does not support ALTER_CLIENT_QUOTAS",
        "client quotas are neither stored nor enforced, so AlterClientQuotas is not served",
    ),
    (
        "describeMetadataQuorum",
        "leader=self epoch=1 highWatermark=0 voters=[self directory=set logEndOffset=0 \
         lastFetch=set lastCaughtUp=set] observers=[] nodes=[self endpoints=1]",
        "Gregor keeps no metadata log: its high watermark and end offset are 0",
    ),
];

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/admin_probe.kafka.txt")
}

/// The probe's lines by call name, in order.
fn lines(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    text.lines()
        .map(|l| {
            let (call, answer) = l
                .split_once(": ")
                .ok_or_else(|| anyhow::anyhow!("not a probe line: {l}"))?;
            Ok((call.to_string(), answer.to_string()))
        })
        .collect()
}

/// What differs between Kafka's lines and `got`, beyond the deviations allowed (`allowed`).
fn differences(
    kafka: &BTreeMap<String, String>,
    got: &BTreeMap<String, String>,
    allowed: &[(&str, &str, &str)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (call, expected) in kafka {
        let Some(answer) = got.get(call) else {
            out.push(format!("{call}: missing"));
            continue;
        };
        if answer == expected {
            if allowed.iter().any(|(c, _, _)| c == call) {
                eprintln!("{call} now answers as Kafka: drop it from DEVIATIONS");
            }
            continue;
        }
        match allowed.iter().find(|(c, _, _)| c == call) {
            Some((_, deviation, _)) if deviation == answer => {}
            _ => out.push(format!("{call}:\n  Kafka:  {expected}\n  got:    {answer}")),
        }
    }
    out.extend(
        got.keys()
            .filter(|c| !kafka.contains_key(*c))
            .map(|c| format!("{c}: not in Kafka's answers")),
    );
    out
}

#[test]
fn admin_calls_answer_as_kafka() -> anyhow::Result<()> {
    let recorded = std::fs::read_to_string(fixture())?;
    let kafka = lines(&recorded)?;
    let record = vs_kafka() && std::env::var("GREGOR_RECORD_FIXTURES").is_ok_and(|v| v == "1");
    each_broker(&[], |broker| {
        let started = std::time::Instant::now();
        let output = run_java_program("AdminProbe", &[&broker.bootstrap])?.ok()?;
        eprintln!(
            "AdminProbe against {} took {:?}",
            broker.kind.name(),
            started.elapsed()
        );
        let got = lines(&output.stdout)?;
        match broker.kind {
            Kind::Kafka if record => std::fs::write(fixture(), &output.stdout)?,
            Kind::Kafka => {
                let diff = differences(&kafka, &got, &[]);
                anyhow::ensure!(
                    diff.is_empty(),
                    "Kafka no longer answers as the fixture says:\n{}",
                    diff.join("\n")
                );
            }
            Kind::Gregor if record => {}
            Kind::Gregor => {
                let diff = differences(&kafka, &got, DEVIATIONS);
                anyhow::ensure!(
                    diff.is_empty(),
                    "Gregor answers otherwise than Kafka:\n{}",
                    diff.join("\n")
                );
            }
            // each_broker runs Gregor and Kafka only.
            Kind::Kfake => {}
        }
        Ok(())
    })
}
