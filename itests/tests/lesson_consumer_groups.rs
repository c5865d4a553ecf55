//! The lesson command, `gregor-lesson consumer-groups`, runs Experiments 1-3 with real
//! consumers, and what it narrates is what the coordinator did: at each of its pauses the test
//! asks Apache Kafka's `kafka-consumer-groups --describe` who owns each partition and compares it
//! with the owners table the lesson just printed, then presses Enter. Classic (range) and
//! consumer protocol runs pause; a cooperative-sticky run goes without pauses (`--no-pause`), as
//! it would in a script. `GREGOR_LESSON_ALL=1` adds roundrobin and the consumer protocol's range
//! assignor. With `GREGOR_VS_KAFKA=1` the lesson runs against Apache Kafka too.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};
use gregor_itests::consumer_protocol::BROKER_SETTINGS;
use gregor_itests::kafka_tools::describe_offsets;
use gregor_itests::reference::each_broker;

/// The lesson binary, built beside the broker (`cargo build -p gregor-lesson`).
fn lesson_bin() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .context("target dir")?
        .join("gregor-lesson");
    if !bin.exists() {
        bail!(
            "{} not found: build it with `cargo build -p gregor-lesson`",
            bin.display()
        );
    }
    Ok(bin)
}

/// Partition -> owning client id, from the lesson's owners table (idle members own nothing).
type Owners = BTreeMap<i32, String>;

/// Reads `  consumer-1: orders-0, orders-2` into the owners map.
fn table_line(topic: &str, line: &str, owners: &mut Owners) -> bool {
    let Some((name, owned)) = line.strip_prefix("  ").and_then(|l| l.split_once(": ")) else {
        return false;
    };
    if owned != "(idle)" {
        for p in owned.split(", ") {
            let p = p
                .strip_prefix(topic)
                .and_then(|p| p.strip_prefix('-'))
                .and_then(|p| p.parse().ok());
            if let Some(p) = p {
                owners.insert(p, name.to_string());
            }
        }
    }
    true
}

/// Partition -> client id as `kafka-consumer-groups --describe` shows them.
fn described(bootstrap: &str, group: &str, topic: &str) -> anyhow::Result<Owners> {
    Ok(describe_offsets(bootstrap, group)?
        .into_iter()
        .filter(|r| r.topic == topic)
        .filter_map(|r| Some((r.partition, r.client_id?)))
        .collect())
}

/// Runs the lesson to its end; with pauses, checks each owners table against the tool.
/// Returns everything it printed.
fn lesson(bootstrap: &str, protocol: &str, assignor: &str, pause: bool) -> anyhow::Result<String> {
    let (topic, group) = (
        format!("orders-{protocol}-{assignor}"),
        format!("op-{protocol}-{assignor}"),
    );
    let mut args = vec![
        "consumer-groups".to_string(),
        format!("--bootstrap={bootstrap}"),
        format!("--protocol={protocol}"),
        format!("--assignor={assignor}"),
        format!("--topic={topic}"),
        format!("--group={group}"),
    ];
    if !pause {
        args.push("--no-pause".into());
    }
    let mut child = Command::new(lesson_bin()?)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let stdout = child.stdout.take().context("stdout")?;
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = String::new();
    let mut table = Owners::new();
    let mut in_table = false;
    let mut pauses = 0;
    loop {
        let line = match lines.recv_timeout(Duration::from_secs(180)) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                bail!("the lesson printed nothing for 180 s:\n{printed}");
            }
        };
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("  ") {
            if !in_table {
                table.clear();
                in_table = true;
            }
            table_line(&topic, &line, &mut table);
            continue;
        }
        in_table = false;
        if line.starts_with("[press Enter") {
            pauses += 1;
            let tool = described(bootstrap, &group, &topic)?;
            // At every pause the group has settled: each partition has an owner.
            if tool.len() != 3 || tool != table {
                let _ = child.kill();
                bail!(
                    "pause {pauses}: the lesson's table {table:?} is not what \
                     kafka-consumer-groups shows, {tool:?}:\n{printed}"
                );
            }
            writeln!(stdin)?;
        }
    }
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "the lesson failed:\n{printed}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if pause && pauses != 5 {
        bail!("{pauses} pauses, expected 5:\n{printed}");
    }
    Ok(printed)
}

/// The steps in the order the lesson must narrate them, and its summary.
fn check_story(printed: &str) -> anyhow::Result<()> {
    let steps = [
        "consumer-1 joined;",
        "consumer-2 joined;",
        "consumer-3 joined;",
        "consumer-4 joined;",
        "is idle",
        "consumer-2 left the group",
        "kill -9 ",
        "session timed out;",
        "was restarted and joined again;",
        "0 lost,",
    ];
    let mut at = 0;
    for step in steps {
        match printed[at..].find(step) {
            Some(i) => at += i + step.len(),
            None => bail!("{step:?} missing or out of order in:\n{printed}"),
        }
    }
    // Experiment 1's split: one consumer with two partitions, one with one.
    let split: Vec<usize> = printed
        .lines()
        .skip_while(|l| !l.starts_with("consumer-2 joined;"))
        .skip(1)
        .take(2)
        .map(|l| l.matches(", ").count() + 1)
        .collect();
    let mut split = split;
    split.sort_unstable();
    if split != [1, 2] {
        bail!("Experiment 1 is not split 2+1 ({split:?}):\n{printed}");
    }
    Ok(())
}

#[test]
fn the_lesson_narrates_what_the_coordinator_did() -> anyhow::Result<()> {
    let all = std::env::var("GREGOR_LESSON_ALL").is_ok_and(|v| v == "1");
    each_broker(BROKER_SETTINGS, |broker| {
        let b = broker.bootstrap.as_str();
        let mut runs = vec![
            ("classic", "range", true),
            ("consumer", "uniform", true),
            ("classic", "cooperative-sticky", false),
        ];
        if all {
            runs.push(("classic", "roundrobin", false));
            runs.push(("consumer", "range", false));
        }
        for (protocol, assignor, pause) in runs {
            let printed = lesson(b, protocol, assignor, pause)
                .with_context(|| format!("{protocol} protocol, {assignor}"))?;
            check_story(&printed).with_context(|| format!("{protocol} protocol, {assignor}"))?;
            eprintln!("lesson, {protocol} protocol, {assignor}: as the coordinator did it");
        }
        Ok(())
    })
}
