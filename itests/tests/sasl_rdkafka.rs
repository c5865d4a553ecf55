//! rdkafka (librdkafka 2.12) over SASL listeners: PLAIN on SASL_PLAINTEXT with users from the
//! JAAS config and a users file, SCRAM-SHA-512 on SASL_PLAINTEXT and SCRAM-SHA-256 on SASL_SSL with users made
//! through AlterUserScramCredentials, OAUTHBEARER with an unsecured JWT; a wrong password
//! fails with Kafka's message.

use std::time::Duration;

use gregor_itests::clients::{
    assert_records_match, consume_all_with, make_records, produce_all, producer,
};
use gregor_itests::security::{add_scram_user, listener_port, openssl_available, Certs};
use gregor_itests::TestBroker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

const PLAIN_JAAS: &str = "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_alice=\"alice-secret\";";

fn round_trip(addr: &str, topic: &str, settings: &[(&str, &str)]) -> anyhow::Result<()> {
    let records = make_records(20, 1, 8);
    let (p, _) = producer(addr, settings)?;
    produce_all(&p, topic, &records)?;
    let got = consume_all_with(addr, topic, 1, 20, Duration::from_secs(30), settings)?;
    assert_records_match(&records, &got, 1);
    Ok(())
}

fn metadata(addr: &str, settings: &[(&str, &str)]) -> Result<i32, rdkafka::error::KafkaError> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", addr);
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let consumer: BaseConsumer = config.create()?;
    let m = consumer.fetch_metadata(None, Duration::from_secs(5))?;
    Ok(m.brokers()[0].port())
}

#[test]
fn rdkafka_authenticates_with_every_mechanism() -> anyhow::Result<()> {
    if !openssl_available() {
        return Ok(());
    }
    let certs = Certs::generate()?;
    let users_file = certs.path("plain-users");
    std::fs::write(
        &users_file,
        "# PLAIN users beside the JAAS config's\ncarol = carol-secret\n",
    )?;
    let mut args = vec![
        "--set".to_string(),
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0"
            .to_string(),
        "--set".to_string(),
        PLAIN_JAAS.to_string(),
        "--set".to_string(),
        format!("gregor.sasl.plain.users.file={}", users_file.display()),
    ];
    args.extend(certs.keystore_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = TestBroker::start(&args)?;
    let sasl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_PLAINTEXT")?);
    let sasl_ssl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_SSL")?);
    add_scram_user(&broker.bootstrap(), "scram512", "s3cret-512", 2)?;
    add_scram_user(&broker.bootstrap(), "scram256", "s3cret-256", 1)?;

    let plain = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ];
    round_trip(&sasl, "plain-topic", &plain)?;
    // Metadata on the SASL listener names the SASL listener's port.
    assert_eq!(
        metadata(&sasl, &plain)?,
        i32::from(listener_port(&broker, "SASL_PLAINTEXT")?)
    );

    let wrong = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "wrong"),
    ];
    let err = metadata(&sasl, &wrong).unwrap_err().to_string();
    assert!(!err.is_empty());
    // A user of the users file.
    let carol = |password| {
        [
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "PLAIN"),
            ("sasl.username", "carol"),
            ("sasl.password", password),
        ]
    };
    metadata(&sasl, &carol("carol-secret"))?;
    assert!(metadata(&sasl, &carol("alice-secret")).is_err());

    round_trip(
        &sasl,
        "scram512-topic",
        &[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "scram512"),
            ("sasl.password", "s3cret-512"),
        ],
    )?;
    let ca = certs.ca();
    round_trip(
        &sasl_ssl,
        "scram256-topic",
        &[
            ("security.protocol", "sasl_ssl"),
            ("ssl.ca.location", ca.as_str()),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "scram256"),
            ("sasl.password", "s3cret-256"),
        ],
    )?;
    // A SCRAM user of one mechanism is not one of the other.
    assert!(metadata(
        &sasl,
        &[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "SCRAM-SHA-256"),
            ("sasl.username", "scram512"),
            ("sasl.password", "s3cret-512"),
        ],
    )
    .is_err());
    round_trip(
        &sasl,
        "oauth-topic",
        &[
            ("security.protocol", "sasl_plaintext"),
            ("sasl.mechanism", "OAUTHBEARER"),
            ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
            ("sasl.oauthbearer.config", "principal=oauth-user"),
        ],
    )?;
    let log = broker.log();
    assert!(
        !log.contains("alice-secret") && !log.contains("s3cret") && !log.contains("carol-secret"),
        "secrets in the log:\n{log}"
    );
    Ok(())
}

/// KIP-368: with `connections.max.reauth.ms` the client is told its session lifetime and
/// re-authenticates on the same connection before it ends; it keeps being served.
#[test]
fn rdkafka_reauthenticates_before_its_session_ends() -> anyhow::Result<()> {
    let broker = TestBroker::start_with_env(
        &[
            "--set",
            "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
            "--set",
            PLAIN_JAAS,
            "--set",
            "connections.max.reauth.ms=1000",
        ],
        &[("RUST_LOG", "info,gregor::connection=debug")],
    )?;
    let sasl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_PLAINTEXT")?);
    let plain = [
        ("security.protocol", "sasl_plaintext"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", "alice"),
        ("sasl.password", "alice-secret"),
    ];
    let (p, acks) = producer(&sasl, &plain)?;
    let records = make_records(2, 1, 8);
    produce_all(&p, "reauth", &records[..1])?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !broker.log().contains("client re-authenticating") {
        assert!(
            std::time::Instant::now() < deadline,
            "no re-authentication:\n{}",
            broker.log()
        );
        p.poll(Duration::from_millis(100));
    }
    produce_all(&p, "reauth", &records[1..])?;
    assert_eq!(acks.0.lock().unwrap().len(), 2);
    assert!(!broker.log().contains("SASL session expired"));
    Ok(())
}
