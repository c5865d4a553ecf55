//! Apache Kafka 4.4's own tools against a SASL_SSL listener: `kafka-configs` creates a SCRAM
//! user (over PLAINTEXT) and describes it, then the console producer and consumer run with a
//! client properties file (SCRAM-SHA-256 over TLS with a PEM truststore), as an application's
//! production configuration would.

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
    run_with_input(
        CONSOLE_PRODUCER,
        &[
            "--bootstrap-server",
            &sasl_ssl,
            "--topic",
            "java-secure",
            "--command-config",
            &props,
        ],
        "one\ntwo\nthree\n",
    )?
    .ok()?;
    let consumed = run(
        CONSOLE_CONSUMER,
        &[
            "--bootstrap-server",
            &sasl_ssl,
            "--topic",
            "java-secure",
            "--from-beginning",
            "--max-messages",
            "3",
            "--timeout-ms",
            "60000",
            "--command-config",
            &props,
        ],
    )?
    .ok()?;
    assert_eq!(
        consumed.stdout.lines().collect::<Vec<_>>(),
        vec!["one", "two", "three"]
    );

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
