//! The benchmark harness (`bench`) in its short mode, so it keeps working: against Gregor only
//! by default, with Apache Kafka too when `GREGOR_BENCH_KAFKA=1` (that needs Java and Maven and
//! adds about a minute). It checks that every figure was produced and that no broker process
//! outlived the run; the figures themselves are never judged here.

use std::process::Command;

use gregor_itests::gregor_bin;

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
        });
    let output = cmd.output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
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
