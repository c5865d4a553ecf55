//! Kafka 4.4's admin tools against Gregor and, with `GREGOR_VS_KAFKA=1`, against Kafka, each
//! output held to what both print (issue 18): `kafka-topics --describe` through
//! DescribeTopicPartitions (its ELR columns, which the Metadata fallback prints as N/A),
//! `kafka-delete-records.sh`, `kafka-log-dirs.sh --describe`, `kafka-features.sh describe` and
//! `kafka-metadata-quorum.sh describe --status` and `--replication`. The tools run side by
//! side: each is a JVM start, and they do not depend on one another.

use gregor_itests::kafka_tools::{
    run, ToolOutput, DELETE_RECORDS, FEATURES, LOG_DIRS, METADATA_QUORUM, TOPICS,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_storage::batch::build_test_batch;

/// Words of each line, so column padding does not matter.
fn words(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect()
}

/// The value after `key` on the line that starts with it.
fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

fn check_topics_describe(out: &ToolOutput) {
    let lines = words(&out.stdout);
    assert_eq!(lines.len(), 3, "{out:?}");
    assert!(
        lines[0].starts_with("Topic: tools TopicId: ")
            && lines[0].contains("PartitionCount: 2 ReplicationFactor: 1 Configs:"),
        "{}",
        lines[0]
    );
    for (i, line) in lines[1..].iter().enumerate() {
        assert_eq!(
            line,
            &format!("Topic: tools Partition: {i} Leader: 1 Replicas: 1 Isr: 1 Elr: LastKnownElr:")
        );
    }
}

fn check_delete_records(out: &ToolOutput) {
    let mut lines = words(&out.stdout);
    lines.sort();
    assert_eq!(
        lines,
        [
            "Executing records delete operation",
            "Records delete operation completed:",
            "partition: tools-0 low_watermark: 3",
            "partition: tools-1 low_watermark: 0",
        ],
        "{out:?}"
    );
}

fn check_log_dirs(out: &ToolOutput, size: u64) -> anyhow::Result<()> {
    let json = out
        .stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| anyhow::anyhow!("no JSON in {out:?}"))?;
    let v: serde_json::Value = serde_json::from_str(json)?;
    let brokers = v["brokers"].as_array().expect("brokers");
    assert_eq!(brokers.len(), 1);
    assert_eq!(brokers[0]["broker"], 1);
    let dirs = brokers[0]["logDirs"].as_array().expect("logDirs");
    assert_eq!(dirs.len(), 1);
    assert!(dirs[0]["error"].is_null());
    assert!(dirs[0]["logDir"]
        .as_str()
        .is_some_and(|d| d.ends_with("/data")));
    let mut partitions: Vec<(String, u64, i64, bool)> = dirs[0]["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| {
            (
                p["partition"].as_str().unwrap_or_default().to_string(),
                p["size"].as_u64().unwrap_or(u64::MAX),
                p["offsetLag"].as_i64().unwrap_or(-1),
                p["isFuture"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    partitions.sort();
    assert_eq!(
        partitions,
        [
            ("tools-0".to_string(), size, 0, false),
            ("tools-1".to_string(), 0, 0, false)
        ]
    );
    Ok(())
}

fn check_features(out: &ToolOutput) {
    // Kafka lists more features (transaction.version, ...); both list these.
    let lines: Vec<String> = words(&out.stdout)
        .into_iter()
        .map(|l| l.split(" Epoch:").next().unwrap_or_default().to_string())
        .collect();
    for expected in [
        "Feature: group.version SupportedMinVersion: 0 SupportedMaxVersion: 1 FinalizedVersionLevel: 1",
        "Feature: kraft.version SupportedMinVersion: 0 SupportedMaxVersion: 1 FinalizedVersionLevel: 1",
        "Feature: metadata.version SupportedMinVersion: 3.3-IV3 SupportedMaxVersion: 4.4-IV2 FinalizedVersionLevel: 4.4-IV2",
    ] {
        assert!(lines.iter().any(|l| l == expected), "{expected} not in {out:?}");
    }
}

fn check_quorum_status(out: &ToolOutput) {
    let text = &out.stdout;
    assert_eq!(field(text, "LeaderId:"), Some("1"), "{out:?}");
    assert_eq!(field(text, "LeaderEpoch:"), Some("1"));
    assert!(field(text, "HighWatermark:").is_some_and(|h| h.parse::<i64>().is_ok_and(|h| h >= 0)));
    assert_eq!(field(text, "MaxFollowerLag:"), Some("0"));
    assert_eq!(field(text, "MaxFollowerLagTimeMs:"), Some("0"));
    assert_eq!(field(text, "CurrentObservers:"), Some("[]"));
    let voters: serde_json::Value =
        serde_json::from_str(field(text, "CurrentVoters:").unwrap_or("null")).unwrap_or_default();
    let voters = voters.as_array().expect("voters");
    assert_eq!(voters.len(), 1, "{out:?}");
    assert_eq!(voters[0]["id"], 1);
    assert_eq!(voters[0]["directoryId"].as_str().map(str::len), Some(22));
    assert_eq!(voters[0]["endpoints"].as_array().map(Vec::len), Some(1));
}

fn check_quorum_replication(out: &ToolOutput) {
    let lines = words(&out.stdout);
    assert_eq!(lines.len(), 2, "{out:?}");
    assert_eq!(
        lines[0],
        "NodeId DirectoryId LogEndOffset Lag LastFetchTimestamp LastCaughtUpTimestamp Status"
    );
    let row: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(
        (row[0], row[3], row[6]),
        ("1", "0", "Leader"),
        "{}",
        lines[1]
    );
}

#[test]
fn kafkas_admin_tools_work_as_against_kafka() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let b = broker.bootstrap.as_str();
        let mut client = RawClient::connect(b)?;
        assert_eq!(client.create_topic("tools", 2, &[])?.0, 0);
        client.wait_for_topic("tools")?;
        let batch = build_test_batch(3, 10, now_ms());
        assert_eq!(client.produce("tools", -1, batch.clone())?.0, 0);
        let offsets = tempfile::NamedTempFile::new()?;
        std::fs::write(
            offsets.path(),
            r#"{"partitions":[{"topic":"tools","partition":0,"offset":-1},{"topic":"tools","partition":1,"offset":0}],"version":1}"#,
        )?;
        let offsets_file = offsets.path().display().to_string();
        let runs: Vec<(&str, Vec<&str>)> = vec![
            (TOPICS, vec!["--describe", "--topic", "tools"]),
            (DELETE_RECORDS, vec!["--offset-json-file", &offsets_file]),
            (LOG_DIRS, vec!["--describe", "--topic-list", "tools"]),
            (FEATURES, vec!["describe"]),
            (METADATA_QUORUM, vec!["describe", "--status"]),
            (METADATA_QUORUM, vec!["describe", "--replication"]),
        ];
        let started = std::time::Instant::now();
        let outputs = std::thread::scope(|scope| {
            let handles: Vec<_> = runs
                .iter()
                .map(|(class, args)| {
                    scope.spawn(move || {
                        let all = [&["--bootstrap-server", b][..], args].concat();
                        run(class, &all).and_then(ToolOutput::ok)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("tool thread"))
                .collect::<anyhow::Result<Vec<_>>>()
        })?;
        eprintln!(
            "six tools against {} took {:?}",
            broker.kind.name(),
            started.elapsed()
        );
        check_topics_describe(&outputs[0]);
        check_delete_records(&outputs[1]);
        check_log_dirs(&outputs[2], batch.len() as u64)?;
        check_features(&outputs[3]);
        check_quorum_status(&outputs[4]);
        check_quorum_replication(&outputs[5]);
        Ok(())
    })
}

/// Now, for record timestamps: a batch from 1970 would be old enough for retention to delete.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
