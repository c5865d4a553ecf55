//! The benchmark harness (`bench`) in its short mode, so it keeps working: against Gregor only
//! by default, with Apache Kafka too when `GREGOR_BENCH_KAFKA=1` (that needs Java and Maven and
//! adds about a minute). It checks that every figure was produced and that no broker process
//! outlived the run; the figures themselves are never judged here.
//!
//! The run is bounded: a bench that has not finished within `GREGOR_BENCH_TIMEOUT_S` (900 s)
//! fails the test with what it printed and the stacks of the bench and of every process it
//! started (gdb's, jstack's for JVMs, where installed), then its process group is stopped with
//! SIGTERM (the bench's handler stops the brokers) and SIGKILL.
//! CI once hung here until its own limit, with nothing to show what the bench waited for.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor_itests::gregor_bin;

/// How long a quick run may take before the test calls it hung (it takes 2 to 4 minutes).
fn timeout() -> Duration {
    let secs = std::env::var("GREGOR_BENCH_TIMEOUT_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(900);
    Duration::from_secs(secs)
}

/// The process ids whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(list) = std::fs::read_to_string(path) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// A process's command line, for the report.
fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// Every thread's stack of `pid`, by gdb, or why there are none.
fn stacks(pid: u32) -> String {
    let out = Command::new("timeout")
        .args(["60", "gdb", "-batch", "-nx", "-p"])
        .arg(pid.to_string())
        .args(["-ex", "thread apply all bt 30"])
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout);
            // Only the frames: gdb's banner and symbol-loading lines say nothing here.
            text.lines()
                .filter(|l| l.starts_with('#') || l.starts_with("Thread "))
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(e) => format!("(no stacks: gdb could not run: {e})"),
    }
}

/// Every thread's stack of the JVM `pid`, by the JDK's jstack, or why there are none.
fn java_stacks(pid: u32) -> String {
    match Command::new("timeout")
        .args(["60", "jstack"])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => String::from_utf8_lossy(&o.stdout).into_owned(),
        Err(e) => format!("(no stacks: jstack could not run: {e})"),
    }
}

/// What a hung run was doing: the bench's stacks, and those of each process it started.
fn hang_report(bench: &Child) -> String {
    let pid = bench.id();
    let mut report = format!("== bench (pid {pid}) stacks:\n{}\n", stacks(pid));
    for child in children(pid) {
        let line = cmdline(child);
        let short: String = line.chars().take(300).collect();
        report.push_str(&format!("== child {child}: {short}\n"));
        // A JVM's stacks through gdb are not Java frames: jstack gives those.
        report.push_str(&if line.contains("java") {
            java_stacks(child)
        } else {
            stacks(child)
        });
        report.push('\n');
    }
    report
}

/// Stops a hung bench: SIGTERM to its process group (its handler stops every broker, which
/// run in groups of their own; what else it started, Maven say, is in its group), then SIGKILL.
fn stop(bench: &mut Child) {
    let group = -(bench.id() as i32);
    // SAFETY: kill(2) of the process group this test started; the bench is not reaped yet.
    unsafe { libc::kill(group, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = bench.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: as above; the group may hold processes the bench left.
    unsafe { libc::kill(group, libc::SIGKILL) };
    let _ = bench.wait();
}

#[test]
fn quick_bench_reports_every_figure_and_leaves_no_process() -> anyhow::Result<()> {
    let out = tempfile::tempdir()?;
    let with_kafka = std::env::var("GREGOR_BENCH_KAFKA").is_ok_and(|v| v == "1");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bench"));
    cmd.args(["--quick", "--rounds", "1", "--gregor-bin"])
        .arg(gregor_bin())
        .arg("--out")
        .arg(out.path())
        .arg(if with_kafka {
            "--vs-kafka"
        } else {
            "--gregor-only"
        })
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A group of its own, so a hung run is stopped with whatever it started.
        .process_group(0);
    let started = Instant::now();
    let mut bench = cmd.spawn()?;
    // Read as the bench writes, so a full pipe never stalls it and a hung run still shows
    // how far it came.
    let said = Arc::new(Mutex::new(String::new()));
    let stderr = bench.stderr.take().expect("piped stderr");
    let reader = {
        let said = Arc::clone(&said);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut said = said.lock().unwrap();
                said.push_str(&line);
                said.push('\n');
            }
        })
    };
    let mut stdout_pipe = bench.stdout.take().expect("piped stdout");
    let stdout_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout_pipe.read_to_string(&mut text);
        text
    });
    let limit = timeout();
    let status = loop {
        if let Some(status) = bench.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            let report = hang_report(&bench);
            stop(&mut bench);
            // Bounded: a process outside the group may still hold the pipe.
            let until = Instant::now() + Duration::from_secs(10);
            while !reader.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(50));
            }
            panic!(
                "the quick bench did not finish within {limit:?}; it printed:\n{}\n{report}",
                said.lock().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = reader.join();
    let stdout = stdout_reader.join().unwrap_or_default();
    let stderr = said.lock().unwrap().clone();
    eprintln!(
        "the quick bench took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    assert!(status.success(), "bench failed:\n{stderr}");
    assert!(
        stdout.contains("| Scenario | Unit | Gregor | Kafka |"),
        "no table printed:\n{stdout}"
    );
    assert!(out.path().join("results.md").exists());

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json"))?)?;
    let run = &json["run"];
    assert_eq!(run["errors"], serde_json::json!([]), "{stderr}");
    let metrics = json["metrics"].as_array().expect("metrics array");
    // 32 rows, then 20 of the raw load generator (issue 21).
    assert_eq!(metrics.len(), 32 + 20, "every scenario has a row");
    for m in metrics {
        assert!(
            m["gregor"]["median"].is_number(),
            "no Gregor figure for {}",
            m["key"]
        );
        if with_kafka {
            assert!(
                m["kafka"]["median"].is_number(),
                "no Kafka figure for {}",
                m["key"]
            );
        }
    }
    let pids = run["pids"].as_array().expect("pids");
    // Each broker twice: once for the scenarios on defaults, once for compaction.
    assert_eq!(pids.len(), if with_kafka { 4 } else { 2 });
    for pid in pids {
        let pid = pid.as_u64().expect("pid");
        // A zombie would still have a /proc entry; the harness reaps what it starts.
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "broker process {pid} outlived the benchmark"
        );
    }
    Ok(())
}
