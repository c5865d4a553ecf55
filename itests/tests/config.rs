//! The operator's view of the real binary: configuration precedence (file < KAFKA_* < GREGOR_* <
//! flags), Kafka's own example server.properties, every start-up error with its message and
//! exit code, JSON logs with per-request DEBUG lines, the health check, and the start-up time
//! and idle memory (printed, never asserted).

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gregor_itests::clients::{consume_all, create_topic, make_records, produce_all, producer};
use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use gregor_itests::raw::RawClient;
use gregor_itests::{gregor_bin, without_broker_settings, TestBroker};
use gregor_protocol::StrBytes;

/// How a gregor run that was expected to stop ended.
#[derive(Debug)]
struct Exit {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `program args` (gregor unless wrapped) to its exit, which must come within 20 s.
fn run_command(mut command: Command) -> anyhow::Result<Exit> {
    let mut child = command
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    // Polls for the process to end: the only waiting here is for the process itself.
    while child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            child.kill()?;
            let out = child.wait_with_output()?;
            anyhow::bail!(
                "gregor did not exit within 20 s; stdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output()?;
    Ok(Exit {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

fn run_gregor(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Exit> {
    let mut command = Command::new(gregor_bin());
    without_broker_settings(&mut command)
        .args(args)
        .envs(env.iter().copied());
    run_command(command)
}

/// Asserts a failed start: exit `code`, and each of `needles` in stderr.
fn assert_fails(exit: &Exit, code: i32, needles: &[&str]) {
    assert_eq!(exit.code, Some(code), "{exit:#?}");
    for needle in needles {
        assert!(
            exit.stderr.contains(needle),
            "missing {needle:?} in {exit:#?}"
        );
    }
    assert!(
        !exit.stdout.contains("listening on"),
        "it started anyway: {exit:#?}"
    );
}

fn properties_file(dir: &Path, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join("server.properties");
    std::fs::File::create(&path)?.write_all(text.as_bytes())?;
    Ok(path)
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The partition count of `topic`, created on first mention by Metadata with auto-creation.
fn auto_created_partitions(bootstrap: &str, topic: &'static str) -> anyhow::Result<usize> {
    let mut client = RawClient::connect(bootstrap)?;
    let request = MetadataRequest::default()
        .with_topics(Some(vec![MetadataRequestTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str(topic))))]))
        .with_allow_auto_topic_creation(true);
    let mut partitions = 0;
    // The first answer may be LEADER_NOT_AVAILABLE while the topic is created.
    for _ in 0..2 {
        let response: MetadataResponse = client.call(ApiKey::Metadata, 12, &request)?;
        partitions = response.topics[0].partitions.len();
    }
    Ok(partitions)
}

/// `key=value` as `--print-config` shows it, with the comment line naming its source.
fn printed(exit: &Exit, key: &str) -> (String, String) {
    let lines: Vec<&str> = exit.stdout.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.starts_with(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not printed: {exit:#?}"));
    let value = lines[i].split_once('=').unwrap().1.to_string();
    let origin = lines[i - 1].trim_start_matches("# ").to_string();
    (value, origin)
}

#[test]
fn file_then_kafka_env_then_gregor_env_then_flags() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = properties_file(dir.path(), "num.partitions=2\nlog.segment.bytes=2000000\n")?;
    let file_arg = file.to_str().unwrap();
    let config = ["--config", file_arg, "--print-config"];

    let exit = run_gregor(&config, &[])?;
    assert_eq!(exit.code, Some(0), "{exit:#?}");
    assert_eq!(
        printed(&exit, "num.partitions"),
        ("2".into(), format!("{file_arg}:1"))
    );

    let kafka = ("KAFKA_NUM_PARTITIONS", "5");
    let exit = run_gregor(&config, &[kafka])?;
    assert_eq!(
        printed(&exit, "num.partitions"),
        (
            "5".into(),
            "environment variable KAFKA_NUM_PARTITIONS".into()
        )
    );

    let gregor = ("GREGOR_NUM_PARTITIONS", "3");
    let exit = run_gregor(&config, &[kafka, gregor])?;
    assert_eq!(
        printed(&exit, "num.partitions"),
        (
            "3".into(),
            "environment variable GREGOR_NUM_PARTITIONS".into()
        )
    );
    // A key no source sets keeps coming from the file.
    assert_eq!(printed(&exit, "log.segment.bytes").0, "2000000");

    let mut with_flag = config.to_vec();
    with_flag.extend(["--num-partitions", "4"]);
    let exit = run_gregor(&with_flag, &[kafka, gregor])?;
    assert_eq!(
        printed(&exit, "num.partitions"),
        ("4".into(), "command-line flag --num-partitions".into())
    );
    let mut with_set = config.to_vec();
    with_set.extend(["--set", "num.partitions=6"]);
    let exit = run_gregor(&with_set, &[gregor])?;
    assert_eq!(printed(&exit, "num.partitions").0, "6");

    // The same precedence reaches the running broker: topics created on first use get the
    // partition count of the winning source.
    let broker = TestBroker::start_with_env(&["--config", file_arg], &[kafka, gregor])?;
    assert_eq!(auto_created_partitions(&broker.bootstrap(), "from-env")?, 3);
    assert!(
        broker.log().contains("GREGOR_NUM_PARTITIONS"),
        "banner names the sources"
    );
    let broker =
        TestBroker::start_with_env(&["--config", file_arg, "--num-partitions", "4"], &[gregor])?;
    assert_eq!(
        auto_created_partitions(&broker.bootstrap(), "from-flag")?,
        4
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kafkas_example_server_properties_starts_with_one_warning_per_ignored_key(
) -> anyhow::Result<()> {
    let file = fixture("server.properties");
    // The harness's --listen and --data-dir replace the file's :9092 and /tmp/kraft-combined-logs;
    // the advertised address is replaced through the environment, as in a container.
    let broker = TestBroker::start_with_env(
        &["--config", file.to_str().unwrap()],
        &[("GREGOR_ADVERTISED_LISTENERS", "PLAINTEXT://127.0.0.1:0")],
    )?;
    let log = broker.log();
    let ignored = [
        "process.roles",
        "controller.quorum.bootstrap.servers",
        "inter.broker.listener.name",
        "num.network.threads",
        "num.io.threads",
        "socket.send.buffer.bytes",
        "socket.receive.buffer.bytes",
        "num.recovery.threads.per.data.dir",
        "offsets.topic.replication.factor",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "log.retention.check.interval.ms",
    ];
    for key in ignored {
        let warnings = log
            .lines()
            .filter(|l| l.contains("WARN") && l.contains(&format!("ignoring {key} (")))
            .count();
        assert_eq!(warnings, 1, "{key}: {warnings} warnings in\n{log}");
    }
    assert!(
        log.contains(&format!("{}:24", file.display())),
        "warnings name file:line"
    );
    // The harness's --listen replaced the file's listeners; on their own, the file's are read
    // as the PLAINTEXT one served and the controller one skipped.
    let exit = run_gregor(&["--config", file.to_str().unwrap(), "--print-config"], &[])?;
    assert_eq!(exit.code, Some(0), "{exit:#?}");
    assert!(
        exit.stderr
            .contains("ignoring the KRaft controller listener CONTROLLER://:9093"),
        "{exit:#?}"
    );
    assert!(!log.contains("ERROR"), "{log}");

    // And it serves: a few records there and back.
    create_topic(&broker.bootstrap(), "from-kafka-config", 1).await?;
    let records = make_records(10, 1, 20);
    let (p, _) = producer(&broker.bootstrap(), &[])?;
    produce_all(&p, "from-kafka-config", &records)?;
    let got = consume_all(
        &broker.bootstrap(),
        "from-kafka-config",
        1,
        10,
        Duration::from_secs(30),
    )?;
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 10);
    Ok(())
}

#[test]
fn configuration_mistakes_name_the_key_and_where_it_was_set() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = properties_file(dir.path(), "# comment\nnum.partitions=1\nnum.partition=3\n")?;
    let exit = run_gregor(&["--config", file.to_str().unwrap()], &[])?;
    assert_fails(
        &exit,
        2,
        &[
            "unknown setting `num.partition`",
            &format!("{}:3", file.display()),
            "did you mean `num.partitions`",
        ],
    );

    let exit = run_gregor(&[], &[("GREGOR_NUM_PARTITIONS", "zero")])?;
    assert_fails(
        &exit,
        2,
        &[
            "`zero` for num.partitions",
            "environment variable GREGOR_NUM_PARTITIONS",
            "whole number",
        ],
    );

    let exit = run_gregor(&["--set", "log.cleanup.policy=compact,shred"], &[])?;
    assert_fails(
        &exit,
        2,
        &[
            "--set log.cleanup.policy=compact,shred",
            "compact and delete",
        ],
    );

    let exit = run_gregor(&["--listen", "SSL://127.0.0.1:0"], &[])?;
    // An SSL listener needs a keystore: the error names the key to set.
    assert_fails(&exit, 2, &["ssl.keystore.location", "SSL listener"]);

    let exit = run_gregor(&["--config", "/nonexistent/server.properties"], &[])?;
    assert_fails(
        &exit,
        2,
        &["cannot read config file /nonexistent/server.properties"],
    );
    Ok(())
}

#[test]
fn port_already_in_use() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let other = tempfile::tempdir()?;
    let listen = format!("127.0.0.1:{}", broker.port());
    let exit = run_gregor(
        &[
            "--listen",
            &listen,
            "--data-dir",
            other.path().to_str().unwrap(),
        ],
        &[],
    )?;
    assert_fails(
        &exit,
        1,
        &[
            &format!("cannot listen on {listen}"),
            "already in use",
            "--listen",
        ],
    );
    Ok(())
}

#[test]
fn data_dir_locked_by_another_broker() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let data_dir = broker.data_dir();
    let exit = run_gregor(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &[],
    )?;
    let holder = format!("(process {})", broker.pid().unwrap());
    assert_fails(
        &exit,
        1,
        &[
            "is locked by another running Gregor broker",
            &holder,
            "--data-dir",
        ],
    );
    Ok(())
}

#[test]
fn data_dir_not_writable() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755))?;
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir)?;
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o555))?;
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
    ];
    // root writes anywhere: run the broker as nobody instead.
    let command = if std::fs::metadata("/proc/self")?.uid() == 0 {
        if Command::new("setpriv").arg("--version").output().is_err() {
            println!("skipped: running as root and setpriv is not installed");
            return Ok(());
        }
        let mut c = Command::new("setpriv");
        without_broker_settings(&mut c)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(gregor_bin())
            .args(args);
        c
    } else {
        let mut c = Command::new(gregor_bin());
        without_broker_settings(&mut c).args(args);
        c
    };
    let exit = run_command(command)?;
    assert_fails(
        &exit,
        1,
        &[
            &format!("data dir {} is not writable", data_dir.display()),
            "chown",
            "--data-dir",
        ],
    );
    Ok(())
}

#[test]
fn data_dir_of_another_format() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir)?;
    std::fs::write(
        data_dir.join("format-version"),
        "format.version=99\nwritten.by=gregor 9.9.9\n",
    )?;
    let exit = run_gregor(
        &[
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
        &[],
    )?;
    assert_fails(
        &exit,
        1,
        &[
            "written by gregor 9.9.9, in data format 99",
            "reads formats 1 to 2",
            "--data-dir",
        ],
    );

    // A data dir this build wrote carries its format.
    let mut broker = TestBroker::start(&[])?;
    broker.stop()?;
    let text = std::fs::read_to_string(broker.data_dir().join("format-version"))?;
    assert!(text.contains("format.version=2\n"), "{text}");
    Ok(())
}

#[test]
fn advertised_listener_the_listener_cannot_accept() -> anyhow::Result<()> {
    // 127.0.0.2 is this machine (all of 127/8 is loopback), but the listener takes 127.0.0.1
    // only: every client would fail after its first metadata request. An advertised port of
    // 0 means the bound port.
    let data_dir = tempfile::tempdir()?;
    let exit = run_gregor(
        &[
            "--listen",
            "127.0.0.1:0",
            "--advertised-listener",
            "127.0.0.2:0",
        ],
        &[("GREGOR_LOG_DIRS", data_dir.path().to_str().unwrap())],
    )?;
    assert_fails(
        &exit,
        1,
        &[
            "advertised listener unreachable",
            "127.0.0.2",
            "--listen 0.0.0.0:",
        ],
    );

    let exit = run_gregor(&["--advertised-listener", "0.0.0.0:9092"], &[])?;
    assert_fails(&exit, 2, &["--advertised-listener", "wildcard address"]);

    // Another machine's address may be reached through a tunnel or proxy: a warning only.
    let broker = TestBroker::start(&["--advertised-listener", "192.0.2.1:9092"])?;
    assert!(
        broker.log().contains("tunnel, proxy or port mapping"),
        "{}",
        broker.log()
    );
    Ok(())
}

#[test]
fn json_logs_carry_each_request_at_debug() -> anyhow::Result<()> {
    let mut broker = TestBroker::start_with_env(
        &["--log-format", "json"],
        &[("RUST_LOG", "info,gregor::connection=debug")],
    )?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let response: ApiVersionsResponse =
        client.call(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default())?;
    assert_eq!(response.error_code, 0);
    drop(client);
    // Stopping flushes every line the broker wrote.
    broker.stop()?;
    let log = broker.log();
    let mut events = Vec::new();
    for line in log.lines() {
        if line.starts_with('{') {
            events.push(serde_json::from_str::<serde_json::Value>(line)?);
        } else {
            // The banner goes to stdout, which the harness copies into the same file.
            assert!(
                line.starts_with("gregor ") || line.starts_with("  "),
                "not JSON: {line}"
            );
        }
    }
    let handled = events
        .iter()
        .find(|e| e["fields"]["message"] == "handled" && e["span"]["api"] == "ApiVersions")
        .unwrap_or_else(|| panic!("no request line in\n{log}"));
    assert_eq!(handled["level"], "DEBUG");
    assert_eq!(handled["span"]["client_id"], "gregor-itests");
    assert!(handled["fields"]["micros"].is_u64(), "{handled}");
    let ready = events
        .iter()
        .find(|e| e["fields"]["message"] == "ready")
        .unwrap_or_else(|| panic!("no ready event in\n{log}"));
    assert_eq!(ready["fields"]["listener"], broker.bootstrap());
    Ok(())
}

#[test]
fn healthcheck_asks_the_configured_broker() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let listen = format!("127.0.0.1:{}", broker.port());
    let exit = run_gregor(
        &["--healthcheck"],
        &[("GREGOR_LISTENERS", &format!("PLAINTEXT://{listen}"))],
    )?;
    assert_eq!(exit.code, Some(0), "{exit:#?}");
    assert!(exit.stdout.contains("healthy"), "{exit:#?}");
    broker.stop()?;
    let exit = run_gregor(&["--healthcheck", "--listen", &listen], &[])?;
    assert_eq!(exit.code, Some(1), "{exit:#?}");
    assert!(exit.stderr.contains("cannot connect"), "{exit:#?}");
    Ok(())
}

#[test]
fn version_and_help_describe_everything() -> anyhow::Result<()> {
    let exit = run_gregor(&["--version"], &[])?;
    assert_eq!(exit.code, Some(0));
    assert!(exit
        .stdout
        .starts_with(&format!("gregor {}", env!("CARGO_PKG_VERSION"))));
    assert!(
        exit.stdout.contains("data dir format: 2"),
        "{}",
        exit.stdout
    );
    let exit = run_gregor(&["--help"], &[])?;
    assert_eq!(exit.code, Some(0));
    for needle in [
        "--config",
        "--log-format",
        "--print-config",
        "--healthcheck",
        "KAFKA_ADVERTISED_LISTENERS",
        "log.retention.hours",
        "GREGOR_NUM_PARTITIONS",
        "offsets.retention.minutes",
    ] {
        assert!(exit.stdout.contains(needle), "--help lacks {needle}");
    }
    Ok(())
}

#[test]
fn time_to_listening_and_idle_memory() -> anyhow::Result<()> {
    let started = Instant::now();
    let broker = TestBroker::start(&[])?;
    let to_listening = started.elapsed();
    let pid = broker.pid().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .map(|l| l.trim_start_matches("VmRSS:").trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let own = broker
        .log()
        .lines()
        .find_map(|l| l.split("started in ").nth(1).map(str::to_string))
        .unwrap_or_default();
    println!(
        "time to listening (spawn to banner): {:.1} ms; the broker's own figure: {own}; idle RSS: {rss}",
        to_listening.as_secs_f64() * 1000.0
    );
    Ok(())
}
