//! ACLs end to end: with `authorizer.class.name` set, `kafka-acls.sh` run as a super user
//! (a SASL/PLAIN client property file) adds, lists and removes ACLs; a user with READ on a
//! topic and a group consumes it in that group but cannot produce to it, writes through a
//! PREFIXED ACL, and does not see topics it may not describe in all-topics Metadata; the ACLs
//! survive a restart, and `allow.everyone.if.no.acl.found` opens only the topics no ACL names.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor_itests::clients::{make_records, produce_all, producer};
use gregor_itests::kafka_tools::{run, ACLS};
use gregor_itests::security::listener_port;
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;

const JAAS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin=\"admin-secret\" user_alice=\"alice-secret\" user_bob=\"bob-secret\";";

fn user(name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("security.protocol", "sasl_plaintext".into()),
        ("sasl.mechanism", "PLAIN".into()),
        ("sasl.username", name.into()),
        ("sasl.password", format!("{name}-secret")),
    ]
}

fn settings<'a>(s: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    s.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn start(dir: &std::path::Path, allow_if_no_acl: bool) -> anyhow::Result<(TestBroker, String)> {
    let allow = format!("allow.everyone.if.no.acl.found={allow_if_no_acl}");
    let broker = TestBroker::start_in(
        dir,
        &[
            "--set",
            "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
            "--set",
            JAAS,
            "--set",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "--set",
            "super.users=User:admin;User:ops",
            "--set",
            &allow,
        ],
    )?;
    let sasl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_PLAINTEXT")?);
    Ok((broker, sasl))
}

/// The topics all-topics Metadata shows `as_user`.
fn visible_topics(addr: &str, as_user: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", addr);
    for (k, v) in user(as_user) {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config.create()?;
    let m = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(m.topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| t.name().to_string())
        .collect())
}

/// Delivery outcomes, errors by text.
#[derive(Clone, Default)]
struct Outcomes(Arc<Mutex<Vec<Result<(), String>>>>);

impl ClientContext for Outcomes {}

impl ProducerContext for Outcomes {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let outcome = result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string());
        self.0.lock().unwrap().push(outcome);
    }
}

/// Produces one record as `as_user`: Ok, or the delivery error's text.
fn produce_one(addr: &str, as_user: &str, topic: &str) -> anyhow::Result<Result<(), String>> {
    let outcomes = Outcomes::default();
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("message.timeout.ms", "15000");
    for (k, v) in user(as_user) {
        config.set(k, v);
    }
    let p: BaseProducer<Outcomes> = config.create_with_context(outcomes.clone())?;
    p.send(BaseRecord::to(topic).key("k").payload("v"))
        .map_err(|(e, _)| e)?;
    let _ = p.flush(Duration::from_secs(20));
    let got = outcomes.0.lock().unwrap().pop();
    got.ok_or_else(|| anyhow::anyhow!("no delivery report"))
}

#[test]
fn kafka_acls_grants_read_and_prefixed_write_and_metadata_hides_the_rest() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut broker, sasl) = start(dir.path(), false)?;
    let admin = user("admin");
    let records = make_records(5, 1, 8);
    let (p, _) = producer(&sasl, &settings(&admin))?;
    for topic in ["orders", "app-events", "open"] {
        produce_all(&p, topic, &records)?;
    }
    drop(p);

    let props = dir.path().join("admin.properties");
    std::fs::write(
        &props,
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n\
         sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\";\n",
    )?;
    let props = props.display().to_string();
    let acls = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", &sasl, "--command-config", &props];
        all.extend_from_slice(args);
        run(ACLS, &all)?.ok()
    };
    acls(&[
        "--add",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
        "--topic",
        "orders",
        "--group",
        "g1",
    ])?;
    acls(&[
        "--add",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Write",
        "--topic",
        "app-",
        "--resource-pattern-type",
        "prefixed",
    ])?;
    let listed = acls(&["--list", "--topic", "orders"])?;
    assert!(
        listed.stdout.contains("principal=User:alice")
            && listed.stdout.contains("operation=READ")
            && listed.stdout.contains("permissionType=ALLOW"),
        "{listed:?}"
    );

    // READ implies DESCRIBE; the prefixed WRITE too; `open` has no ACL and is hidden.
    let seen = visible_topics(&sasl, "alice")?;
    assert!(
        seen.contains("orders") && seen.contains("app-events"),
        "{seen:?}"
    );
    assert!(!seen.contains("open"), "{seen:?}");
    assert!(visible_topics(&sasl, "bob")?.is_empty());

    // Alice consumes `orders` in group g1 and commits.
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &sasl)
        .set("group.id", "g1")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    for (k, v) in user("alice") {
        config.set(k, v);
    }
    let consumer: BaseConsumer = config.create()?;
    consumer.subscribe(&["orders"])?;
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < records.len() && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            m?;
            got += 1;
        }
    }
    assert_eq!(got, records.len());
    consumer.commit_consumer_state(CommitMode::Sync)?;
    drop(consumer);

    // ... but cannot produce to it; the prefixed ACL lets her write app-*.
    let denied = produce_one(&sasl, "alice", "orders")?;
    assert!(
        denied.as_ref().is_err_and(|e| e.contains("authoriz")),
        "{denied:?}"
    );
    assert_eq!(produce_one(&sasl, "alice", "app-events")?, Ok(()));

    acls(&[
        "--remove",
        "--force",
        "--allow-principal",
        "User:alice",
        "--operation",
        "Read",
        "--topic",
        "orders",
        "--group",
        "g1",
    ])?;
    assert!(!visible_topics(&sasl, "alice")?.contains("orders"));

    // The ACLs are in the data dir; with allow.everyone.if.no.acl.found bob sees the topics no
    // ACL names, not app-events.
    broker.stop()?;
    let (_broker, sasl) = start(dir.path(), true)?;
    let seen = visible_topics(&sasl, "bob")?;
    assert!(seen.contains("open") && seen.contains("orders"), "{seen:?}");
    assert!(!seen.contains("app-events"), "{seen:?}");
    assert!(visible_topics(&sasl, "alice")?.contains("app-events"));
    Ok(())
}
