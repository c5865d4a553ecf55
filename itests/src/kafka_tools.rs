//! Apache Kafka's own command-line tools, run as their `bin/*.sh` scripts run them: the tool
//! class on `java -cp 'lib/*'` (Kafka Streams and Connect programs run the same way, see
//! `apps`). The jars come from Maven Central through `itests/java/pom.xml`
//! (fetched once, on first use, into `itests/java/target/lib`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// `kafka-topics.sh`.
pub const TOPICS: &str = "org.apache.kafka.tools.TopicCommand";
/// `kafka-console-producer.sh`.
pub const CONSOLE_PRODUCER: &str = "org.apache.kafka.tools.ConsoleProducer";
/// `kafka-console-consumer.sh`.
pub const CONSOLE_CONSUMER: &str = "org.apache.kafka.tools.consumer.ConsoleConsumer";
/// `kafka-consumer-groups.sh`.
pub const CONSUMER_GROUPS: &str = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";
/// `kafka-configs.sh`.
pub const CONFIGS: &str = "org.apache.kafka.tools.ConfigCommand";
/// `kafka-acls.sh`.
pub const ACLS: &str = "org.apache.kafka.tools.AclCommand";
/// `kafka-delete-records.sh`.
pub const DELETE_RECORDS: &str = "org.apache.kafka.tools.DeleteRecordsCommand";
/// `kafka-log-dirs.sh`.
pub const LOG_DIRS: &str = "org.apache.kafka.tools.LogDirsCommand";
/// `kafka-features.sh`.
pub const FEATURES: &str = "org.apache.kafka.tools.FeatureCommand";
/// `kafka-metadata-quorum.sh`.
pub const METADATA_QUORUM: &str = "org.apache.kafka.tools.MetadataQuorumCommand";
/// `kafka-producer-perf-test.sh`.
pub const PRODUCER_PERF: &str = "org.apache.kafka.tools.ProducerPerformance";
/// `kafka-consumer-perf-test.sh`.
pub const CONSUMER_PERF: &str = "org.apache.kafka.tools.ConsumerPerformance";

/// The Kafka release whose tools the tests run (kept in step with `pom.xml`).
pub const KAFKA_VERSION: &str = "4.4.0";

/// Longest a tool run may take before the test fails.
const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn java_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("java")
}

/// Longest a Maven fetch of a pom's jars may take: a registry that stalls fails it instead of
/// holding a test (or CI) until an outer limit, with nothing said.
const MAVEN_LIMIT: Duration = Duration::from_secs(900);

/// `mvn dependency:copy-dependencies` of `pom` (into its `target/lib`), bounded: a transfer
/// that stalls for two minutes fails (Maven's own default waits half an hour), and the whole
/// fetch, in a process group of its own, is killed after [`MAVEN_LIMIT`]. `what` names it in
/// errors.
pub fn maven_fetch(pom: &Path, what: &str) -> anyhow::Result<()> {
    let mut cmd = Command::new("mvn");
    cmd.args(["-q", "-B"])
        // Read timeouts of the wagon transport (Maven 3.8) and of the resolver's (3.9).
        .arg("-Dmaven.wagon.rto=120000")
        .arg("-Daether.connector.requestTimeout=120000")
        .arg("-f")
        .arg(pom)
        .arg("dependency:copy-dependencies")
        .stdin(Stdio::null());
    let status = crate::bench::cleanup::spawn(&mut cmd, &format!("mvn fetching {what}"))
        .context("is Maven installed?")?
        .wait_within(MAVEN_LIMIT)?;
    if !status.success() {
        bail!("mvn could not fetch {what} ({status})");
    }
    Ok(())
}

/// The folder of jars, fetching them with Maven if they are not there yet.
pub fn lib_dir() -> anyhow::Result<PathBuf> {
    static FETCH: Mutex<()> = Mutex::new(());
    let _once = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let lib = java_dir().join("target").join("lib");
    // One jar of each part the tests run, so a folder fetched before a part was added to the
    // pom is fetched again.
    let markers = [
        "kafka-tools",
        "kafka-streams",
        "connect-runtime",
        "connect-json",
    ]
    .map(|jar| lib.join(format!("{jar}-{KAFKA_VERSION}.jar")));
    let complete = || markers.iter().all(|m| m.exists());
    if !complete() {
        let what = format!("Apache Kafka {KAFKA_VERSION}'s tools");
        maven_fetch(&java_dir().join("pom.xml"), &what)?;
        if !complete() {
            bail!("mvn left some of {what} out of {}", lib.display());
        }
    }
    Ok(lib)
}

/// A `java` command for `class`, as `kafka-run-class.sh` starts it.
pub fn command(class: &str, args: &[&str]) -> anyhow::Result<Command> {
    command_with(&[], &[], class, args)
}

/// `command` with these JVM options too, and these folders or jars on the classpath after
/// Kafka's jars.
pub fn command_with(
    jvm_options: &[&str],
    classpath: &[&Path],
    class: &str,
    args: &[&str],
) -> anyhow::Result<Command> {
    let lib = lib_dir()?;
    let mut entries = vec![format!("{}/*", lib.display())];
    entries.extend(classpath.iter().map(|p| p.display().to_string()));
    let mut cmd = Command::new("java");
    cmd.args(jvm_options)
        .arg("-Xmx256M")
        .arg("-XX:+UseSerialGC")
        .arg("-Djava.awt.headless=true")
        // Keep the tools' output to what a user reads; warnings still show.
        .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .arg("-cp")
        .arg(entries.join(":"))
        .arg(class)
        .args(args);
    Ok(cmd)
}

/// Runs the single-file Java program `itests/java/src/{name}.java` (class `name`) with `args`
/// on the tools' jars, as `java -cp 'target/lib/*' {name}.java ARGS` would, compiled once by
/// `compiled_program`.
pub fn run_java_program(name: &str, args: &[&str]) -> anyhow::Result<ToolOutput> {
    let lib = lib_dir()?;
    let classes = compiled_program(name)?;
    let mut cmd = Command::new("java");
    cmd.arg("-Xmx256M")
        .arg("-XX:+UseSerialGC")
        .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .arg("-cp")
        .arg(format!("{}:{}/*", classes.display(), lib.display()))
        .arg(name)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().context("starting java")?;
    wait(child, name)
}

/// The folder of classes of the single-file program `itests/java/src/{name}.java`, compiled
/// once per version of its source into `itests/java/target/classes` (the source launcher
/// compiles on every run, some seconds more each time); test processes racing to compile it
/// each write their own folder and the first rename wins.
pub fn compiled_program(name: &str) -> anyhow::Result<PathBuf> {
    // The scratch folder is per process: threads of one test binary take turns.
    static COMPILE: Mutex<()> = Mutex::new(());
    let lib = lib_dir()?;
    let _once = COMPILE.lock().unwrap_or_else(|e| e.into_inner());
    let source = java_dir().join("src").join(format!("{name}.java"));
    let text = std::fs::read(&source).with_context(|| format!("reading {}", source.display()))?;
    let version = text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let classes = java_dir()
        .join("target")
        .join("classes")
        .join(format!("{name}-{version:016x}"));
    if !classes.join(format!("{name}.class")).exists() {
        let scratch = classes.with_extension(format!("tmp{}", std::process::id()));
        let compiled = Command::new("javac")
            .arg("-nowarn")
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg("-d")
            .arg(&scratch)
            .arg(&source)
            .output()
            .context("running javac (is a JDK installed?)")?;
        if !compiled.status.success() {
            bail!(
                "javac {} failed:\n{}",
                source.display(),
                String::from_utf8_lossy(&compiled.stderr)
            );
        }
        if std::fs::rename(&scratch, &classes).is_err() {
            // Another test compiled the same source first.
            let _ = std::fs::remove_dir_all(&scratch);
        }
    }
    Ok(classes)
}

/// What a finished tool printed.
#[derive(Debug)]
pub struct ToolOutput {
    /// Exit status was success.
    pub success: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl ToolOutput {
    /// Fails with everything the tool printed unless it succeeded.
    pub fn ok(self) -> anyhow::Result<ToolOutput> {
        if !self.success {
            bail!(
                "tool failed\nstdout:\n{}\nstderr:\n{}",
                self.stdout,
                self.stderr
            );
        }
        Ok(self)
    }
}

impl From<Output> for ToolOutput {
    fn from(o: Output) -> Self {
        ToolOutput {
            success: o.status.success(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs a tool to completion with `stdin` as its input.
pub fn run_with_input(class: &str, args: &[&str], stdin: &str) -> anyhow::Result<ToolOutput> {
    let mut child = command(class, args)?
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting java")?;
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin.as_bytes())?;
    drop(input);
    wait(child, class)
}

/// Runs a tool to completion with no input.
pub fn run(class: &str, args: &[&str]) -> anyhow::Result<ToolOutput> {
    run_with_input(class, args, "")
}

/// Starts a long-running tool (a console consumer); it is killed when the guard drops.
pub fn spawn(class: &str, args: &[&str]) -> anyhow::Result<ToolProcess> {
    let child = command(class, args)?
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting java")?;
    Ok(ToolProcess { child: Some(child) })
}

fn wait(child: Child, class: &str) -> anyhow::Result<ToolOutput> {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(TOOL_TIMEOUT) {
        Ok(output) => Ok(output?.into()),
        Err(_) => {
            kill9(pid);
            bail!("{class} did not finish within {TOOL_TIMEOUT:?}")
        }
    }
}

/// Sends SIGKILL to `pid` (the waiting thread owns the `Child`).
fn kill9(pid: u32) {
    let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
}

/// A running tool process.
pub struct ToolProcess {
    child: Option<Child>,
}

impl ToolProcess {
    /// Stops the tool (SIGTERM, as Ctrl-C would; the console consumer then leaves its group)
    /// and returns what it printed.
    pub fn stop(mut self) -> anyhow::Result<ToolOutput> {
        let child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        wait(child, "tool")
    }

    /// Kills the tool with SIGKILL: no LeaveGroup.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }
}

impl Drop for ToolProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `check` every 250 ms until it returns `Some`, failing after `timeout`.
pub fn poll<T>(
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// One partition row of `kafka-consumer-groups --describe --group G`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribedOffset {
    /// TOPIC.
    pub topic: String,
    /// PARTITION.
    pub partition: i32,
    /// LAG, as printed (`-` when nothing is committed).
    pub lag: String,
    /// CLIENT-ID of the owner, or None when no member owns it.
    pub client_id: Option<String>,
}

/// The partition rows `kafka-consumer-groups --describe --group group` prints
/// (GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID).
pub fn describe_offsets(bootstrap: &str, group: &str) -> anyhow::Result<Vec<DescribedOffset>> {
    let out = run(
        CONSUMER_GROUPS,
        &[
            "--bootstrap-server",
            bootstrap,
            "--describe",
            "--group",
            group,
        ],
    )?
    .ok()?;
    let mut rows = Vec::new();
    for line in out.stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() != 9 || words[0] != group {
            continue;
        }
        let Ok(partition) = words[2].parse() else {
            continue;
        };
        rows.push(DescribedOffset {
            topic: words[1].to_string(),
            partition,
            lag: words[5].to_string(),
            client_id: (words[8] != "-").then(|| words[8].to_string()),
        });
    }
    Ok(rows)
}
