//! `kafka-consumer-groups` (Apache Kafka 4.4's tool) on a consumer-protocol group (KIP-848):
//! `--describe` (offsets, lag, owners), `--describe --members --verbose` (epochs, current and
//! target assignments), `--describe --state` (state, coordinator, assignor, epochs), then, with
//! the members gone, `--reset-offsets` and `--delete`. Each output, normalized (member ids and
//! the coordinator's port replaced, whitespace collapsed), must read as Kafka 4.4's, recorded in
//! `fixtures/consumer_protocol_tools.kafka.txt`; with `GREGOR_VS_KAFKA=1` the run against Kafka
//! is checked against the fixture too (`GREGOR_RECORD_FIXTURES=1` rewrites it instead).

use std::collections::BTreeMap;
use std::path::PathBuf;

use gregor_itests::bench::brokers::Kind;
use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    describe_group, partitions, produce, wait_balanced, wait_for_values, Client, Member,
    MemberConfig, BROKER_SETTINGS, WAIT,
};
use gregor_itests::kafka_tools::{poll, run, CONSUMER_GROUPS};
use gregor_itests::reference::{each_broker, vs_kafka};

const GROUP: &str = "order-processors";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/consumer_protocol_tools.kafka.txt")
}

/// `text` with the member ids and client ids replaced by `<member>` (which member the range
/// assignor gives two partitions follows the random member ids), epochs by `<epoch>` (how many
/// bumps two members joining at once take depends on timing), the broker's port replaced, the
/// rows sorted (the tool prints members in no set order) and runs of spaces collapsed (column
/// widths follow the longest value).
fn normalize(text: &str, ids: &BTreeMap<String, String>, port: &str) -> String {
    let mut header: Vec<String> = Vec::new();
    let mut columns: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        if words.first().is_some_and(|w| w == "GROUP") {
            columns = words.clone();
            header.push(words.join(" "));
            continue;
        }
        if words.first().is_none_or(|w| w != GROUP) {
            header.push(words.join(" "));
            continue;
        }
        for (i, w) in words.iter_mut().enumerate() {
            if ids.contains_key(w.as_str()) || ids.values().any(|c| c == w) {
                *w = "<member>".into();
            }
            if columns.get(i).is_some_and(|c| c.ends_with("EPOCH")) {
                *w = "<epoch>".into();
            }
            *w = w.replace(port, "<port>");
        }
        rows.push(words.join(" "));
    }
    rows.sort();
    header.extend(rows);
    header.join("\n")
}

#[test]
fn consumer_groups_tool_on_a_consumer_protocol_group() -> anyhow::Result<()> {
    let record = vs_kafka() && std::env::var("GREGOR_RECORD_FIXTURES").is_ok_and(|v| v == "1");
    each_broker(BROKER_SETTINGS, |broker| {
        let b = &broker.bootstrap;
        let port = b.rsplit(':').next().unwrap_or_default().to_string();
        let tool = |args: &[&str]| {
            run(
                CONSUMER_GROUPS,
                &[&["--bootstrap-server", b.as_str()][..], args].concat(),
            )
        };
        create_topic(b, "orders", 3)?;
        let config = MemberConfig::new(Client::Java, GROUP, "orders", Some("range"));
        let mut m1 = Member::start(b, "java-1", &config)?;
        let mut m2 = Member::start(b, "java-2", &config)?;
        wait_balanced(&[&m1, &m2], &partitions("orders", 3), WAIT)?;
        let expected = produce(b, "orders", 3, "order", 30)?;
        wait_for_values(&[&m1, &m2], &expected, WAIT)?;
        // Settled: Stable, and every offset committed to the end.
        let ids: BTreeMap<String, String> = poll(WAIT, || {
            let g = describe_group(b, GROUP)?;
            let out = tool(&["--describe", "--group", GROUP])?;
            let caught_up = out
                .stdout
                .lines()
                .filter(|l| l.starts_with(GROUP))
                .filter(|l| l.split_whitespace().nth(5) == Some("0"))
                .count()
                == 3;
            let settled = g.state == "Stable"
                && g.members
                    .iter()
                    .all(|m| m.epoch == g.epoch && m.assignment == m.target);
            Ok((settled && caught_up).then(|| {
                g.members
                    .iter()
                    .map(|m| (m.member_id.clone(), m.client_id.clone()))
                    .collect()
            }))
        })?;
        let mut outputs = Vec::new();
        for args in [
            &["--describe", "--group", GROUP][..],
            &["--describe", "--group", GROUP, "--members"],
            &["--describe", "--group", GROUP, "--members", "--verbose"],
            &["--describe", "--group", GROUP, "--state"],
            &["--describe", "--group", GROUP, "--state", "--verbose"],
        ] {
            let out = tool(args)?.ok()?;
            outputs.push((args.join(" "), normalize(&out.stdout, &ids, &port)));
        }
        m1.stop()?;
        m2.stop()?;
        let reset = poll(WAIT, || {
            let out = tool(&[
                "--reset-offsets",
                "--group",
                GROUP,
                "--topic",
                "orders",
                "--to-earliest",
                "--execute",
            ])?;
            Ok(out
                .success
                .then_some(out)
                .filter(|o| o.stdout.contains(GROUP)))
        })?;
        outputs.push((
            "--reset-offsets --to-earliest --execute".into(),
            normalize(&reset.stdout, &ids, &port),
        ));
        let described = tool(&["--describe", "--group", GROUP])?.ok()?;
        outputs.push((
            "--describe (after the reset, no members)".into(),
            normalize(&described.stdout, &ids, &port),
        ));
        let deleted = tool(&["--delete", "--group", GROUP])?.ok()?;
        outputs.push(("--delete".into(), normalize(&deleted.stdout, &ids, &port)));
        let listed = tool(&["--list"])?.ok()?;
        anyhow::ensure!(
            !listed.stdout.lines().any(|l| l == GROUP),
            "{GROUP} still listed after --delete: {listed:?}"
        );

        let text: String = outputs
            .iter()
            .map(|(args, out)| format!("== {args}\n{out}\n"))
            .collect();
        match broker.kind {
            Kind::Kafka if record => std::fs::write(fixture(), &text)?,
            Kind::Gregor if record => {}
            kind => {
                let want = std::fs::read_to_string(fixture())?;
                anyhow::ensure!(
                    text == want,
                    "{} prints otherwise than the fixture:\n--- fixture\n{want}\n--- {}\n{text}",
                    kind.name(),
                    kind.name()
                );
            }
        }
        Ok(())
    })
}
