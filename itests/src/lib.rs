//! End-to-end test support: start the real `gregor` binary as a process on a free port with a
//! temporary data dir, and stop it gently (SIGTERM) or not (SIGKILL).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub mod apps;
pub mod bench;
pub mod clients;
pub mod consumer_protocol;
pub mod group;
pub mod kafka_tools;
pub mod kcat;
pub mod mirror_maker;
pub mod raw;
pub mod reference;
pub mod rng;
pub mod secure_raw;
pub mod security;
pub mod tmpfs;

/// Keeps this process's `GREGOR_*` and `KAFKA_*` variables from a broker it starts: the broker
/// reads them as settings, and the tests' own knobs (`GREGOR_AUDIT_CYCLES`,
/// `GREGOR_BENCH_KAFKA`, ...) or whatever the developer's shell has must not reach it.
pub fn without_broker_settings(command: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("GREGOR_") || name.starts_with("KAFKA_") {
            command.env_remove(&key);
        }
    }
    command
}

/// Path of the `gregor` binary: `GREGOR_BIN`, or the one built next to this test executable.
pub fn gregor_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("GREGOR_BIN") {
        return bin.into();
    }
    // target/<profile>/deps/<test> -> target/<profile>/gregor
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .join("gregor")
}

/// A running broker process.
pub struct TestBroker {
    child: Option<Child>,
    port: u16,
    data_dir: tempfile::TempDir,
    log_path: PathBuf,
    extra_args: Vec<String>,
    /// Set when the data dir lives elsewhere than the temporary folder (a tmpfs, say).
    data_dir_override: Option<PathBuf>,
    /// Environment variables set on the process, after RUST_LOG (so they can replace it).
    env: Vec<(String, String)>,
}

impl TestBroker {
    /// Starts a broker with default settings plus `args`.
    pub fn start(args: &[&str]) -> anyhow::Result<TestBroker> {
        Self::start_with(None, args, &[])
    }

    /// Starts a broker whose data dir is `data_dir` (created if missing).
    pub fn start_in(data_dir: &Path, args: &[&str]) -> anyhow::Result<TestBroker> {
        Self::start_with(Some(data_dir.to_path_buf()), args, &[])
    }

    /// Starts a broker with default settings plus `args`, and `env` in its environment.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<TestBroker> {
        Self::start_with(None, args, env)
    }

    fn start_with(
        data_dir_override: Option<PathBuf>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<TestBroker> {
        let data_dir = tempfile::tempdir()?;
        let log_path = data_dir.path().join("broker.log");
        let mut broker = TestBroker {
            child: None,
            port: 0,
            data_dir,
            log_path,
            extra_args: args.iter().map(|s| s.to_string()).collect(),
            data_dir_override,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        broker.launch(0)?;
        Ok(broker)
    }

    /// Starts the process on `port` (0 for a free one) and waits for its listening line.
    fn launch(&mut self, port: u16) -> anyhow::Result<()> {
        let bin = gregor_bin();
        if !bin.exists() {
            bail!("gregor binary not found at {} (build it with `cargo build -p gregor`, or set GREGOR_BIN)", bin.display());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let mut command = Command::new(&bin);
        let mut child = without_broker_settings(&mut command)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(self.http_args())
            .args(&self.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("GREGOR_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            // Plain text in the log file, for people and for the tests that grep it.
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stdout_log = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log_path)?;
        let (tx, rx) = mpsc::channel();
        // Keeps draining stdout for the life of the process (a full pipe would block the
        // broker) and copies it into the log file beside stderr.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // One write per line: the broker appends its stderr to the same file, and
                // `writeln!` would write the text and the newline separately, letting a
                // log line land between them.
                let _ = stdout_log.write_all(format!("{line}\n").as_bytes());
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = parse_port(&line) {
                        self.port = port;
                        self.child = Some(child);
                        return Ok(());
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    let why = match e {
                        mpsc::RecvTimeoutError::Timeout => "did not report listening within 20 s",
                        mpsc::RecvTimeoutError::Disconnected => "exited before listening",
                    };
                    bail!(
                        "gregor {why} (status {status:?}); log {}:\n{}",
                        self.log_path.display(),
                        self.log()
                    );
                }
            }
        }
    }

    /// `127.0.0.1:port`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port the broker listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Each test broker's live view on a port of its own (the banner says which), unless the
    /// test chose.
    fn http_args(&self) -> Vec<&'static str> {
        let chosen = self
            .extra_args
            .iter()
            .any(|a| a.starts_with("--http-listen") || a == "--no-http");
        if chosen {
            Vec::new()
        } else {
            vec!["--http-listen", "127.0.0.1:0"]
        }
    }

    /// `host:port` of the live view, as the banner announced it.
    pub fn http_address(&self) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if let Some(rest) = log.split("live view: http://").nth(1) {
                if let Some(address) = rest.split('/').next() {
                    return Ok(address.to_string());
                }
            }
            if Instant::now() > deadline {
                bail!("no live view in the banner:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The broker's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The data dir the broker runs on.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir_override
            .clone()
            .unwrap_or_else(|| self.data_dir.path().join("data"))
    }

    /// Stops with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        signal(child.id(), "TERM")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!(
                        "gregor exited with {status} after SIGTERM; log:\n{}",
                        self.log()
                    );
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("gregor did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills with SIGKILL: no flush, no clean-shutdown marker.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts again on the same data dir and port.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        if self.child.is_some() {
            bail!("broker still running");
        }
        self.launch(self.port)
    }

    /// OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // libtest shows a test's output only when it fails, so this appears exactly when the
        // log is wanted, whether the test panicked or returned an error.
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
        eprintln!(
            "---- gregor log, last {} of {} lines ----\n{}",
            tail.len(),
            lines.len(),
            tail.join("\n")
        );
    }
}

/// How much of the broker log a dropped `TestBroker` prints.
const LOG_TAIL_LINES: usize = 80;

fn parse_port(line: &str) -> Option<u16> {
    let rest = line.split("listening on ").nth(1)?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit(':').next()?.parse().ok()
}

fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    if !status.success() {
        bail!("kill -{name} {pid} failed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_listening_line() {
        let line =
            "gregor 0.1.0 listening on 127.0.0.1:4321 (advertised 127.0.0.1:4321), data dir x";
        assert_eq!(super::parse_port(line), Some(4321));
    }
}
