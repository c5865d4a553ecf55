//! Smoke tests with the Python clients, confluent-kafka (librdkafka) and kafka-python (pure
//! Python): create a topic, produce, consume in a group, commit, list groups. The clients live
//! in a virtualenv at the workspace root (`.venv`), made on first use from
//! `itests/python/requirements.txt`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use anyhow::{bail, Context};
use gregor_itests::TestBroker;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The virtualenv's python, creating the virtualenv if it is missing.
fn python() -> anyhow::Result<PathBuf> {
    static MAKE: Mutex<()> = Mutex::new(());
    let _once = MAKE.lock().unwrap_or_else(|e| e.into_inner());
    let venv = workspace().join(".venv");
    let python = venv.join("bin").join("python");
    let requirements = workspace().join("itests/python/requirements.txt");
    let importable = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", "import confluent_kafka, kafka"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !importable(&python) {
        let status = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()?;
        if !status.success() {
            bail!("python3 -m venv failed ({status})");
        }
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "-q", "-r"])
            .arg(&requirements)
            .status()
            .context("pip install")?;
        if !status.success() || !importable(&python) {
            bail!(
                "pip install -r {} failed ({status})",
                requirements.display()
            );
        }
    }
    Ok(python)
}

fn run_script(script: &str, extra: &[&str]) -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    run_script_on(&broker.bootstrap(), script, extra)
}

fn run_script_on(bootstrap: &str, script: &str, extra: &[&str]) -> anyhow::Result<()> {
    let python = python()?;
    let output = Command::new(python)
        .arg(workspace().join("itests/python").join(script))
        .arg(bootstrap)
        .args(extra)
        // cargo test points LD_LIBRARY_PATH at rdkafka-sys's librdkafka; confluent-kafka
        // brings its own.
        .env_remove("LD_LIBRARY_PATH")
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    if !output.status.success() || !stdout.lines().any(|l| l == "OK") {
        bail!(
            "{script} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
            output.status
        );
    }
    Ok(())
}

#[test]
fn confluent_kafka_produce_consume_commit_list() -> anyhow::Result<()> {
    run_script("smoke_confluent.py", &[])
}

#[test]
fn kafka_python_produce_consume_commit_list() -> anyhow::Result<()> {
    run_script("smoke_kafka_python.py", &[])
}

/// confluent-kafka over SASL_SSL with SCRAM-SHA-512, the user made through
/// AlterUserScramCredentials on the PLAINTEXT listener.
#[test]
fn confluent_kafka_over_sasl_ssl() -> anyhow::Result<()> {
    use gregor_itests::security::{add_scram_user, listener_port, openssl_available, Certs};
    if !openssl_available() {
        return Ok(());
    }
    let certs = Certs::generate()?;
    let mut args = vec![
        "--set".to_string(),
        "listeners=PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0".to_string(),
    ];
    args.extend(certs.keystore_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let broker = TestBroker::start(&args)?;
    add_scram_user(&broker.bootstrap(), "py", "py-secret", 2)?;
    let sasl_ssl = format!("127.0.0.1:{}", listener_port(&broker, "SASL_SSL")?);
    run_script_on(
        &sasl_ssl,
        "sasl_ssl_confluent.py",
        &[&certs.ca(), "py", "py-secret"],
    )
}
