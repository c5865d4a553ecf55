//! Apache Kafka 4.4's own tools against a SASL_SSL listener: `kafka-configs` creates a SCRAM
//! user (over PLAINTEXT) and describes it, then the console producer and consumer run with a
//! client properties file (SCRAM-SHA-256 over TLS with a PEM truststore), as an application's
//! production configuration would. The same tools with OAUTHBEARER's unsecured tokens, as
//! Kafka's default login handler makes them for development.

use gregor_itests::kafka_tools::{
    run, run_with_input, CONFIGS, CONSOLE_CONSUMER, CONSOLE_PRODUCER,
};
use gregor_itests::security::{listener_port, openssl_available, Certs};
use gregor_itests::TestBroker;

#[test]
fn kafka_configs_makes_a_scram_user_the_console_clients_use_over_sasl_ssl() -> anyhow::Result<()> {
    if !openssl_available() {
        return Ok(());
    }
    let certs = Certs::generate()?;
    let mut args = vec![
        "--set".to_string(),
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0".to_string(),
        "--set".to_string(),
        "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512".to_string(),
    ];
    args.extend(certs.keystore_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = TestBroker::start(&args)?;
    let plain = broker.bootstrap();
    let sasl_ssl = format!("localhost:{}", listener_port(&broker, "SASL_SSL")?);

    run(
        CONFIGS,
        &[
            "--bootstrap-server", &plain, "--alter", "--add-config",
            "SCRAM-SHA-256=[iterations=8192,password=alice-secret],SCRAM-SHA-512=[password=alice-secret]",
            "--entity-type", "users", "--entity-name", "alice",
        ],
    )?
    .ok()?;
    let described = run(
        CONFIGS,
        &[
            "--bootstrap-server",
            &plain,
            "--describe",
            "--entity-type",
            "users",
            "--entity-name",
            "alice",
        ],
    )?
    .ok()?;
    assert!(
        described.stdout.contains("SCRAM-SHA-256=iterations=8192")
            && described.stdout.contains("SCRAM-SHA-512=iterations=4096"),
        "{described:?}"
    );

    let properties = certs.path("client.properties");
    std::fs::write(
        &properties,
        format!(
            "security.protocol=SASL_SSL\n\
             sasl.mechanism=SCRAM-SHA-256\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"alice-secret\";\n\
             ssl.truststore.type=PEM\n\
             ssl.truststore.location={}\n",
            certs.ca()
        ),
    )?;
    let props = properties.display().to_string();
    console_round_trip(&sasl_ssl, "java-secure", &props)?;

    // A wrong password: Kafka's message, and the tool fails.
    std::fs::write(
        &properties,
        std::fs::read_to_string(&properties)?.replace("alice-secret", "wrong"),
    )?;
    let failed = run(
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            &sasl_ssl,
            "--topic",
            "java-secure",
            "--from-beginning",
            "--max-messages",
            "1",
            "--timeout-ms",
            "20000",
            "--command-config",
            &props,
        ],
    )?;
    let all = format!("{}{}", failed.stdout, failed.stderr);
    assert!(
        all.contains("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256"),
        "{all}"
    );
    Ok(())
}

#[test]
fn console_clients_use_oauthbearer_unsecured_tokens() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[
        "--set",
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
        "--set",
        "sasl.enabled.mechanisms=OAUTHBEARER",
    ])?;
    let sasl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_PLAINTEXT")?);
    let dir = tempfile::tempdir()?;
    let properties = dir.path().join("client.properties");
    // No login callback handler named: the Java client's default for OAUTHBEARER makes an
    // unsecured JWS token with this subject.
    std::fs::write(
        &properties,
        "security.protocol=SASL_PLAINTEXT\n\
         sasl.mechanism=OAUTHBEARER\n\
         sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";\n",
    )?;
    // Only an authenticated client gets past SaslAuthenticate on this listener.
    console_round_trip(&sasl, "java-oauth", &properties.display().to_string())
}

/// Three lines through the console producer and back through the console consumer, both with
/// the client properties file `props`.
fn console_round_trip(bootstrap: &str, topic: &str, props: &str) -> anyhow::Result<()> {
    run_with_input(
        CONSOLE_PRODUCER,
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--command-config",
            props,
        ],
        "one\ntwo\nthree\n",
    )?
    .ok()?;
    let consumed = run(
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            bootstrap,
            "--topic",
            topic,
            "--from-beginning",
            "--max-messages",
            "3",
            "--timeout-ms",
            "60000",
            "--command-config",
            props,
        ],
    )?
    .ok()?;
    assert_eq!(
        consumed.stdout.lines().collect::<Vec<_>>(),
        vec!["one", "two", "three"]
    );
    Ok(())
}
