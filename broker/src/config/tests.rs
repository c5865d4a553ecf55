//! Resolution of the configuration sources (the process-level tests are in itests/tests/config.rs).

use std::io::Write;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn cli_with_file(f: &tempfile::NamedTempFile) -> Cli {
    Cli {
        config: Some(f.path().to_path_buf()),
        ..Cli::default()
    }
}

#[test]
fn defaults_match_the_old_flags() {
    let c = Config::load(&Cli::default(), env(&[])).unwrap().config;
    assert_eq!(c.listen, "127.0.0.1:9092".parse().unwrap());
    assert_eq!(c.data_dir, PathBuf::from("./gregor-data"));
    assert_eq!(c.num_partitions, 1);
    assert!(c.auto_create_topics);
    assert_eq!(c.node_id, 1);
    assert_eq!(c.max_request_bytes, 100 * 1024 * 1024);
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(c.group_min_session_timeout_ms, 6000);
    assert_eq!(c.log, LogConfig::default());
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn file_then_kafka_env_then_gregor_env_then_flags() {
    let f = file("num.partitions=2\nnode.id=7\nmessage.max.bytes=100\nlog.segment.bytes=1000\n");
    let mut cli = cli_with_file(&f);
    let loaded = Config::load(
        &cli,
        env(&[
            ("KAFKA_NUM_PARTITIONS", "3"),
            ("KAFKA_NODE_ID", "8"),
            ("GREGOR_NUM_PARTITIONS", "4"),
            ("KAFKA_MESSAGE_MAX_BYTES", "200"),
        ]),
    )
    .unwrap();
    assert_eq!(loaded.config.num_partitions, 4);
    assert_eq!(loaded.config.node_id, 8);
    assert_eq!(loaded.config.message_max_bytes, 200);
    assert_eq!(loaded.config.log.segment_bytes, 1000);
    assert_eq!(
        loaded.settings["num.partitions"].1,
        Origin::Env("GREGOR_NUM_PARTITIONS".into())
    );
    cli.num_partitions = Some("5".into());
    cli.set = vec!["log.segment.bytes=2000".into()];
    let c = Config::load(&cli, env(&[("GREGOR_NUM_PARTITIONS", "4")]))
        .unwrap()
        .config;
    assert_eq!(c.num_partitions, 5);
    assert_eq!(c.log.segment_bytes, 2000);
}

#[test]
fn retention_units_finest_wins_within_a_source_latest_source_wins_across() {
    let f = file("log.retention.hours=1\nlog.retention.ms=5000\n");
    let c = Config::load(&cli_with_file(&f), env(&[])).unwrap().config;
    assert_eq!(c.log.retention_ms, 5000);
    let c = Config::load(
        &cli_with_file(&f),
        env(&[("GREGOR_LOG_RETENTION_MINUTES", "2")]),
    )
    .unwrap()
    .config;
    assert_eq!(c.log.retention_ms, 120_000);
    let c = Config::load(
        &cli_with_file(&f),
        env(&[("GREGOR_LOG_RETENTION_HOURS", "-1")]),
    )
    .unwrap()
    .config;
    assert_eq!(c.log.retention_ms, -1);
}

#[test]
fn flush_every_message_means_fsync_always() {
    let cli = Cli {
        fsync_always: true,
        ..Cli::default()
    };
    let c = Config::load(&cli, env(&[])).unwrap().config;
    assert_eq!(c.log.fsync, FsyncPolicy::Always);
    let c = Config::load(
        &Cli::default(),
        env(&[("GREGOR_LOG_FLUSH_INTERVAL_MESSAGES", "10")]),
    )
    .unwrap()
    .config;
    assert_eq!(c.log.fsync, FsyncPolicy::Os);
    assert_eq!(c.log.flush_messages, 10);
}

#[test]
fn unknown_keys_name_their_source() {
    let f = file("num.partitions=1\n\nnum.partition=3\n");
    let err = Config::load(&cli_with_file(&f), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("num.partition`"), "{err}");
    assert!(err.contains(&format!("{}:3", f.path().display())), "{err}");
    assert!(err.contains("did you mean `num.partitions`"), "{err}");

    let err = Config::load(&Cli::default(), env(&[("GREGOR_NUM_PARTITION", "3")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("environment variable GREGOR_NUM_PARTITION"),
        "{err}"
    );

    let cli = Cli {
        set: vec!["bogus.key=1".into()],
        ..Cli::default()
    };
    let err = Config::load(&cli, env(&[])).unwrap_err().to_string();
    assert!(err.contains("command-line flag --set bogus.key=1"), "{err}");
}

#[test]
fn malformed_values_name_key_source_and_expectation() {
    let f = file("num.partitions=many\n");
    let err = Config::load(&cli_with_file(&f), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`many` for num.partitions"), "{err}");
    assert!(err.contains(":1"), "{err}");
    let cli = Cli {
        auto_create_topics: Some("yes".into()),
        ..Cli::default()
    };
    let err = Config::load(&cli, env(&[])).unwrap_err().to_string();
    assert!(err.contains("--auto-create-topics"), "{err}");
    assert!(err.contains("true or false"), "{err}");
    let err = Config::load(&Cli::default(), env(&[("GREGOR_LISTENERS", "SSL://:9093")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ssl.keystore.location") && err.contains("SSL listener"),
        "{err}"
    );
    let err = Config::load(
        &Cli::default(),
        env(&[("GREGOR_LISTENERS", "CLIENT://:9093")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("GREGOR_LISTENERS") && err.contains("CLIENT:PLAINTEXT"),
        "{err}"
    );
}

#[test]
fn several_listeners_with_their_security_and_secrets_hidden() {
    let f = file(
        "listeners=PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,INTERNAL://127.0.0.1:9095\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,INTERNAL:SASL_PLAINTEXT\n\
         advertised.listeners=PLAINTEXT://localhost:9092,SASL_SSL://broker.example:9094\n\
         inter.broker.listener.name=PLAINTEXT\n\
         ssl.keystore.location=/etc/gregor/broker.pem\n\
         sasl.enabled.mechanisms=SCRAM-SHA-256,PLAIN\n\
         listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice=\"alice-secret\";\n\
         ssl.key.password=hunter2\n",
    );
    let loaded = Config::load(&cli_with_file(&f), env(&[])).unwrap();
    let c = &loaded.config;
    let names: Vec<&str> = c.listeners.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, vec!["PLAINTEXT", "SASL_SSL", "INTERNAL"]);
    assert_eq!(
        c.listeners[1].advertised.as_deref(),
        Some("broker.example:9094")
    );
    assert_eq!(
        c.listeners[2].protocol,
        crate::config::SecurityProtocol::SaslPlaintext
    );
    assert!(c.security["SASL_SSL"].ssl.is_some());
    assert!(c.security["SASL_SSL"].sasl.is_some());
    let internal = c.security["INTERNAL"].sasl.as_ref().unwrap();
    assert!(internal.jaas["PLAIN"].expose().contains("user_alice"));
    // inter.broker.listener.name is accepted and ignored.
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("inter.broker.listener.name")));
    let printed = render_settings(&loaded.settings);
    assert!(
        !printed.contains("hunter2") && !printed.contains("alice-secret"),
        "{printed}"
    );
    assert!(printed.contains("ssl.key.password=[hidden]"), "{printed}");
    assert!(!format!("{:?}", c.security).contains("alice-secret"));
}

#[test]
fn ignored_kafka_keys_warn_once_each() {
    let f = file("process.roles=broker,controller\nnum.io.threads=8\nnum.io.threads=9\n");
    let loaded = Config::load(
        &cli_with_file(&f),
        env(&[
            ("KAFKA_PROCESS_ROLES", "broker"),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
            ("KAFKA_SOMETHING_NEW", "1"),
            ("GREGOR_BIN", "/x"),
            ("GREGOR_TEST_LOG", "debug"),
        ]),
    )
    .unwrap();
    let w = &loaded.warnings;
    assert_eq!(
        w.iter().filter(|w| w.contains("process.roles")).count(),
        1,
        "{w:?}"
    );
    assert_eq!(
        w.iter().filter(|w| w.contains("num.io.threads")).count(),
        1,
        "{w:?}"
    );
    // An unknown KAFKA_ variable warns; JVM options and test tooling are passed over.
    assert!(w.iter().any(|w| w.contains("KAFKA_SOMETHING_NEW")), "{w:?}");
    assert_eq!(w.len(), 3, "{w:?}");
}

#[test]
fn kafka_listener_lists_and_log_dirs() {
    let f = file(
        "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://:9093\n\
         advertised.listeners=PLAINTEXT://broker.example:19092,CONTROLLER://localhost:9093\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         log.dirs=/a, /b\n",
    );
    let loaded = Config::load(&cli_with_file(&f), env(&[])).unwrap();
    let c = &loaded.config;
    assert_eq!(c.listen, "127.0.0.1:9092".parse().unwrap());
    assert_eq!(
        c.advertised_listener.as_deref(),
        Some("broker.example:19092")
    );
    assert_eq!(
        c.advertised(c.listen),
        ("broker.example".to_string(), 19092)
    );
    assert_eq!(c.data_dir, PathBuf::from("/a"));
    assert!(loaded.warnings.iter().any(|w| w.contains("/b")));
}

#[test]
fn broker_id_is_used_when_node_id_is_not_set() {
    let c = Config::load(&Cli::default(), env(&[("GREGOR_BROKER_ID", "4")]))
        .unwrap()
        .config;
    assert_eq!(c.node_id, 4);
}

#[test]
fn print_config_round_trips_through_the_parser() {
    let loaded = Config::load(&Cli::default(), env(&[("GREGOR_NUM_PARTITIONS", "3")])).unwrap();
    let text = render_settings(&loaded.settings);
    let f = file(&text);
    let again = Config::load(&cli_with_file(&f), env(&[])).unwrap();
    assert_eq!(again.config.num_partitions, 3);
    assert!(text.contains("# environment variable GREGOR_NUM_PARTITIONS\nnum.partitions=3\n"));
}

#[test]
fn consumer_group_settings_have_kafkas_defaults_and_bounds() {
    use crate::coordinator::group::assignors::Assignor;
    let c = Config::load(&Cli::default(), env(&[])).unwrap().config;
    let g = &c.consumer_group;
    assert_eq!(
        (g.session_timeout_ms, g.heartbeat_interval_ms),
        (45_000, 5_000)
    );
    assert_eq!(g.max_size, i32::MAX as usize);
    assert_eq!(g.assignors, vec![Assignor::Uniform, Assignor::Range]);
    // A lesson sets them low: the bounds first, in a server.properties file.
    let f = file(
        "group.consumer.min.session.timeout.ms=1000\ngroup.consumer.session.timeout.ms=6000\n\
         group.consumer.min.heartbeat.interval.ms=100\ngroup.consumer.heartbeat.interval.ms=500\n\
         group.consumer.assignors=range,uniform\ngroup.consumer.max.size=3\n",
    );
    let g = Config::load(&cli_with_file(&f), env(&[]))
        .unwrap()
        .config
        .consumer_group;
    assert_eq!(
        (g.session_timeout_ms, g.heartbeat_interval_ms, g.max_size),
        (6_000, 500, 3)
    );
    assert_eq!(g.assignors, vec![Assignor::Range, Assignor::Uniform]);
    // Below the default minimum of 45 s: refused, naming the key.
    let f = file("group.consumer.session.timeout.ms=6000\n");
    let err = Config::load(&cli_with_file(&f), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("group.consumer.session.timeout.ms"), "{err}");
    let f = file("group.consumer.assignors=sticky\n");
    let err = Config::load(&cli_with_file(&f), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("group.consumer.assignors"), "{err}");
}
