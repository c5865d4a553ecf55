//! The brokers under test, each started fresh (new data dir, free ports) for every round, and
//! the wait for its first successful Metadata response, which is the startup figure: Gregor,
//! Apache Kafka, and franz-go's kfake (an in-memory fake for client tests) as a third column.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::cleanup::{self, ScratchDir, Spawned};
use crate::raw::messages::{ApiKey, MetadataRequest, MetadataResponse};
use crate::raw::RawClient;

/// Which broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// This project.
    Gregor,
    /// Apache Kafka, single node KRaft.
    Kafka,
    /// franz-go's kfake: an in-memory fake cluster written for client tests, one broker.
    Kfake,
}

impl Kind {
    /// The name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gregor => "Gregor",
            Kind::Kafka => "Kafka",
            Kind::Kfake => "kfake",
        }
    }
}

/// How to start one kind of broker.
pub enum Launcher {
    /// The `gregor` binary at this path.
    Gregor(PathBuf),
    /// Apache Kafka from this folder of jars, run by `java`.
    Kafka(PathBuf),
    /// The kfake launcher (`itests/bench/kfake`) built at this path.
    Kfake(PathBuf),
}

/// A broker process started for one round.
pub struct Running {
    /// Which broker.
    pub kind: Kind,
    /// `127.0.0.1:port` of its client listener.
    pub bootstrap: String,
    /// From spawning the process to the first Metadata response listing a broker.
    pub startup: Duration,
    /// The listeners beside PLAINTEXT (`start_with_listeners`): name and `127.0.0.1:port`.
    pub extra_listeners: Vec<(String, String)>,
    /// Its log file's name in `dir`: Gregor's stderr, Kafka's log4j file.
    log: &'static str,
    /// Declared before `dir`, so the process is gone before its data dir is removed.
    process: Spawned,
    /// How to start the same broker again on the same data dir and port (`restart`).
    relaunch: Relaunch,
    /// Data dir, config and log of this round.
    dir: ScratchDir,
}

/// What `Running::restart` needs to start a broker again as it was started.
enum Relaunch {
    Gregor {
        bin: PathBuf,
        port: u16,
        settings: Vec<(String, String)>,
        /// Listeners beside PLAINTEXT: name (also its security protocol) and port.
        extra: Vec<(String, u16)>,
    },
    Kafka {
        lib: PathBuf,
        port: u16,
        extra: Vec<(String, u16)>,
    },
    Kfake {
        bin: PathBuf,
        port: u16,
        settings: Vec<(String, String)>,
    },
}

/// Longest a broker may take to answer Metadata after it starts.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a broker may take to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// The heap `bin/kafka-server-start.sh` gives the broker unless `KAFKA_HEAP_OPTS` says otherwise.
const KAFKA_HEAP: [&str; 2] = ["-Xmx1G", "-Xms1G"];

/// `KAFKA_JVM_PERFORMANCE_OPTS` as `bin/kafka-run-class.sh` sets it by default.
const KAFKA_JVM_OPTS: [&str; 6] = [
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
];

impl Launcher {
    /// Which broker this starts.
    pub fn kind(&self) -> Kind {
        match self {
            Launcher::Gregor(_) => Kind::Gregor,
            Launcher::Kafka(_) => Kind::Kafka,
            Launcher::Kfake(_) => Kind::Kfake,
        }
    }

    /// Starts a fresh broker and waits for its first Metadata response.
    pub fn start(&self) -> anyhow::Result<Running> {
        self.start_with(&[])
    }

    /// Starts a fresh broker with these broker settings (Kafka's key names) on top of the
    /// defaults: `--set KEY=VALUE` for Gregor, lines of `server.properties` for Kafka, `-c
    /// KEY=VALUE` for kfake (which honours the keys it knows).
    pub fn start_with(&self, settings: &[(&str, &str)]) -> anyhow::Result<Running> {
        self.start_with_listeners(settings, &[])
    }

    /// As `start_with`, with listeners named `extra` (each named after its security protocol:
    /// SSL, SASL_SSL, SASL_PLAINTEXT) on free ports beside PLAINTEXT, which stays the first
    /// and the inter-broker one; their addresses are in `Running::extra_listeners`. Not for
    /// kfake.
    pub fn start_with_listeners(
        &self,
        settings: &[(&str, &str)],
        extra: &[&str],
    ) -> anyhow::Result<Running> {
        let extra = extra
            .iter()
            .map(|name| Ok((name.to_string(), free_port()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        match self {
            Launcher::Gregor(bin) => start_gregor(bin, settings, extra),
            Launcher::Kafka(lib) => start_kafka(lib, settings, extra),
            Launcher::Kfake(_) if !extra.is_empty() => {
                bail!("kfake is started with a PLAINTEXT listener only")
            }
            Launcher::Kfake(bin) => start_kfake(bin, settings),
        }
    }
}

fn owned(settings: &[(&str, &str)]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn start_kfake(bin: &Path, settings: &[(&str, &str)]) -> anyhow::Result<Running> {
    let dir = ScratchDir::new("kfake")?;
    let relaunch = Relaunch::Kfake {
        bin: bin.to_path_buf(),
        port: free_port()?,
        settings: owned(settings),
    };
    let (process, started) = launch(&relaunch, &dir)?;
    finish_start(Kind::Kfake, process, relaunch, dir, started, "stderr.log")
}

fn start_gregor(
    bin: &Path,
    settings: &[(&str, &str)],
    extra: Vec<(String, u16)>,
) -> anyhow::Result<Running> {
    let dir = ScratchDir::new("gregor")?;
    let relaunch = Relaunch::Gregor {
        bin: bin.to_path_buf(),
        port: free_port()?,
        settings: owned(settings),
        extra,
    };
    let (process, started) = launch(&relaunch, &dir)?;
    finish_start(Kind::Gregor, process, relaunch, dir, started, "broker.log")
}

/// Spawns the broker process `how` describes, in `dir` (already formatted, for Kafka).
fn launch(how: &Relaunch, dir: &ScratchDir) -> anyhow::Result<(Spawned, Instant)> {
    match how {
        Relaunch::Gregor {
            bin,
            port,
            settings,
            extra,
        } => {
            let mut cmd = Command::new(bin);
            let listen: String = std::iter::once(format!("PLAINTEXT://127.0.0.1:{port}"))
                .chain(extra.iter().map(|(n, p)| format!("{n}://127.0.0.1:{p}")))
                .collect::<Vec<_>>()
                .join(",");
            // Both brokers run on their defaults, whatever this shell's GREGOR_* variables say.
            crate::without_broker_settings(&mut cmd)
                .arg("--listen")
                .arg(listen)
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                // The live view on a free port, so brokers running side by side do not compete.
                .arg("--http-listen=127.0.0.1:0")
                .args(settings.iter().map(|(k, v)| format!("--set={k}={v}")))
                .env(
                    "RUST_LOG",
                    std::env::var("GREGOR_TEST_LOG").unwrap_or_else(|_| "info".into()),
                )
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(dir.append("stdout.log")?)
                .stderr(dir.append("broker.log")?);
            let started = Instant::now();
            Ok((cleanup::spawn(&mut cmd, "gregor")?, started))
        }
        Relaunch::Kafka { lib, .. } => {
            let mut cmd = kafka_java(lib, dir, "kafka.Kafka");
            cmd.arg(dir.path().join("server.properties"))
                .stdout(dir.append("stdout.log")?)
                .stderr(dir.append("stderr.log")?);
            let started = Instant::now();
            Ok((cleanup::spawn(&mut cmd, "kafka")?, started))
        }
        Relaunch::Kfake {
            bin,
            port,
            settings,
        } => {
            let mut cmd = Command::new(bin);
            cmd.arg(format!("-port={port}"))
                .args(settings.iter().map(|(k, v)| format!("-c={k}={v}")))
                .stdin(Stdio::null())
                .stdout(dir.append("stdout.log")?)
                .stderr(dir.append("stderr.log")?);
            let started = Instant::now();
            Ok((cleanup::spawn(&mut cmd, "kfake")?, started))
        }
    }
}

/// A `java` command running `class` of Kafka's jars with the broker's JVM options and the
/// log4j config in `dir`.
fn kafka_java(lib: &Path, dir: &ScratchDir, class: &str) -> Command {
    let mut cmd = Command::new("java");
    cmd.args(KAFKA_HEAP)
        .args(KAFKA_JVM_OPTS)
        .arg(format!(
            "-Dlog4j2.configurationFile={}",
            dir.path().join("log4j2.properties").display()
        ))
        .arg(format!("-Dkafka.logs.dir={}", dir.path().display()))
        .arg("-cp")
        .arg(format!("{}/*", lib.display()))
        .arg(class)
        .stdin(Stdio::null());
    cmd
}

fn start_kafka(
    lib: &Path,
    settings: &[(&str, &str)],
    extra: Vec<(String, u16)>,
) -> anyhow::Result<Running> {
    let dir = ScratchDir::new("kafka")?;
    let port = free_port()?;
    let controller_port = free_port()?;
    let data = dir.path().join("data");
    let properties = dir.path().join("server.properties");
    let extra_listeners: String = extra
        .iter()
        .map(|(n, p)| format!(",{n}://127.0.0.1:{p}"))
        .collect();
    let extra_protocols: String = extra.iter().map(|(n, _)| format!(",{n}:{n}")).collect();
    std::fs::write(
        &properties,
        format!(
            "# Single node KRaft: one process is broker and controller.\n\
             process.roles=broker,controller\n\
             node.id=1\n\
             controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}{extra_listeners}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}{extra_listeners}\n\
             controller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{extra_protocols}\n\
             log.dirs={data}\n\
             num.partitions=1\n\
             offsets.topic.replication.factor=1\n\
             transaction.state.log.replication.factor=1\n\
             transaction.state.log.min.isr=1\n\
             share.coordinator.state.topic.replication.factor=1\n\
             share.coordinator.state.topic.min.isr=1\n\
             group.initial.rebalance.delay.ms=0\n\
             {extra}",
            data = data.display(),
            extra = settings
                .iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect::<String>()
        ),
    )?;
    let log4j = dir.path().join("log4j2.properties");
    std::fs::write(
        &log4j,
        format!(
            "# INFO into a file, as config/log4j2.yaml has the broker log to server.log.\n\
             status = warn\n\
             appender.file.type = File\n\
             appender.file.name = FILE\n\
             appender.file.fileName = {}\n\
             appender.file.layout.type = PatternLayout\n\
             appender.file.layout.pattern = [%d] %p %m (%c)%n\n\
             rootLogger.level = INFO\n\
             rootLogger.appenderRef.file.ref = FILE\n",
            dir.path().join("server.log").display()
        ),
    )?;
    // bin/kafka-storage.sh format --standalone: a one-voter controller quorum.
    let format = kafka_java(lib, &dir, "kafka.tools.StorageTool")
        // `--cluster-id=ID` in one word: a random id may start with '-', which the tool's
        // argument parser would take for an option.
        .arg("format")
        .arg(format!("--cluster-id={}", kafka_cluster_id()?))
        .arg("-c")
        .arg(&properties)
        .arg("--standalone")
        .output()
        .context("running Kafka's storage tool (is java installed?)")?;
    if !format.status.success() {
        bail!(
            "formatting Kafka's storage failed ({}):\n{}{}",
            format.status,
            String::from_utf8_lossy(&format.stdout),
            String::from_utf8_lossy(&format.stderr)
        );
    }
    let relaunch = Relaunch::Kafka {
        lib: lib.to_path_buf(),
        port,
        extra,
    };
    let (process, started) = launch(&relaunch, &dir)?;
    finish_start(Kind::Kafka, process, relaunch, dir, started, "server.log")
}

fn finish_start(
    kind: Kind,
    process: Spawned,
    relaunch: Relaunch,
    dir: ScratchDir,
    started: Instant,
    log: &'static str,
) -> anyhow::Result<Running> {
    let (port, extra_listeners) = match &relaunch {
        Relaunch::Gregor { port, extra, .. } | Relaunch::Kafka { port, extra, .. } => (
            *port,
            extra
                .iter()
                .map(|(n, p)| (n.clone(), format!("127.0.0.1:{p}")))
                .collect(),
        ),
        Relaunch::Kfake { port, .. } => (*port, Vec::new()),
    };
    let bootstrap = format!("127.0.0.1:{port}");
    let mut process = process;
    let fail = |why: String, dir: &ScratchDir| {
        let mut text = String::new();
        for name in [log, "stdout.log", "stderr.log"] {
            if let Ok(t) = std::fs::read_to_string(dir.path().join(name)) {
                text.push_str(&t);
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        anyhow::anyhow!("{} {why}; end of its log:\n{tail}", kind.name())
    };
    loop {
        if first_metadata(&bootstrap).is_ok() {
            return Ok(Running {
                kind,
                bootstrap,
                startup: started.elapsed(),
                extra_listeners,
                log,
                process,
                relaunch,
                dir,
            });
        }
        if let Some(status) = process.exited() {
            return Err(fail(format!("exited while starting ({status})"), &dir));
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            return Err(fail(
                format!("did not answer Metadata within {STARTUP_TIMEOUT:?}"),
                &dir,
            ));
        }
        // Fine steps while a fast start is possible, then coarse ones, so polling does not
        // take CPU from a slow starter on a small machine.
        let step = if started.elapsed() < Duration::from_millis(200) {
            Duration::from_micros(100)
        } else {
            Duration::from_millis(5)
        };
        std::thread::sleep(step);
    }
}

/// One Metadata v12 request for all topics on a new connection; Ok once it lists a broker.
fn first_metadata(bootstrap: &str) -> anyhow::Result<()> {
    let mut client = RawClient::connect(bootstrap)?;
    let response: MetadataResponse = client.call(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(None),
    )?;
    if response.brokers.is_empty() {
        bail!("no brokers in Metadata yet");
    }
    Ok(())
}

impl Running {
    /// The broker's OS process id (for Kafka, the `java` process).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `127.0.0.1:port` of the extra listener `name` (`Launcher::start_with_listeners`).
    pub fn listener(&self, name: &str) -> anyhow::Result<&str> {
        self.extra_listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, addr)| addr.as_str())
            .with_context(|| format!("no {name} listener was asked for"))
    }

    /// Its data dir, config and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its data dir (`--data-dir`, `log.dirs`): Kafka's layout in both, a `{topic}-{partition}`
    /// folder per partition and the offset checkpoint files.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The file it logs to (INFO and up).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join(self.log)
    }

    /// Stops the process, with SIGTERM (then SIGKILL after a grace period) or, when `kill9`,
    /// with SIGKILL at once, and starts it again on the same data dir and port; waits for its
    /// first Metadata response, as at the first start.
    pub fn restart(&mut self, kill9: bool) -> anyhow::Result<()> {
        self.restart_with(kill9, || {})
    }

    /// `restart`, running `between` once the old process is gone and before the new one
    /// starts (the start-up rows drop the page cache there).
    pub fn restart_with(&mut self, kill9: bool, between: impl FnOnce()) -> anyhow::Result<()> {
        if self.kind == Kind::Kfake {
            bail!("kfake keeps its data in memory: a restart would start it empty");
        }
        // A placeholder takes the stopped process's place while the new one starts.
        let old = std::mem::replace(&mut self.process, Spawned::none());
        if kill9 {
            old.kill()?;
        } else {
            let status = old.terminate(STOP_GRACE)?;
            // The JVM exits with 143 (128 + SIGTERM) once its shutdown hooks have run.
            let clean =
                status.success() || (self.kind == Kind::Kafka && status.code() == Some(143));
            if !clean {
                bail!("{} exited with {status} after SIGTERM", self.kind.name());
            }
        }
        between();
        let (process, started) = launch(&self.relaunch, &self.dir)?;
        let relaunch = std::mem::replace(
            &mut self.relaunch,
            Relaunch::Kafka {
                lib: PathBuf::new(),
                port: 0,
                extra: Vec::new(),
            },
        );
        let dir = std::mem::replace(&mut self.dir, ScratchDir::none());
        let running = finish_start(self.kind, process, relaunch, dir, started, self.log)?;
        *self = running;
        Ok(())
    }

    /// Stops it (SIGTERM, then SIGKILL after a grace period) and removes its folder.
    pub fn stop(self) -> anyhow::Result<()> {
        let Running { process, dir, .. } = self;
        process.terminate(STOP_GRACE)?;
        drop(dir);
        Ok(())
    }
}

/// A port nothing listens on right now (bound and released; the broker binds it next).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A random cluster id as `kafka-storage.sh random-uuid` prints one: 16 random bytes in
/// URL-safe base64 without padding (22 characters).
fn kafka_cluster_id() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = String::new();
    for b in bytes {
        bits = (bits << 8) | u32::from(b);
        held += 8;
        while held >= 6 {
            held -= 6;
            out.push(ALPHABET[((bits >> held) & 63) as usize] as char);
        }
    }
    if held > 0 {
        out.push(ALPHABET[((bits << (6 - held)) & 63) as usize] as char);
    }
    Ok(out)
}

/// The Kafka release the benchmark runs (kept in step with `itests/bench/kafka-server/pom.xml`).
pub const KAFKA_VERSION: &str = "4.4.0";

/// The kfake the launcher's `go.mod` pins (kept in step by a test).
pub const KFAKE_VERSION: &str = "v0.0.0-20260918054303-01f206a7e32c";

/// The kfake launcher, built with `go build` from `itests/bench/kfake` into the target dir
/// (franz-go's modules come from the Go module proxy on first use).
pub fn kfake_binary(target_dir: &Path) -> anyhow::Result<PathBuf> {
    let source = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join("kfake");
    let bin = target_dir.join("kfake").join("kfake");
    eprintln!(
        "bench: building franz-go's kfake (go build, {})",
        source.display()
    );
    let status = Command::new("go")
        .current_dir(&source)
        .arg("build")
        .arg("-o")
        .arg(&bin)
        .arg(".")
        .status()
        .context("running go build (is Go installed?)")?;
    if !status.success() {
        bail!("go build of {} failed ({status})", source.display());
    }
    Ok(bin)
}

/// The folder of Kafka's broker jars, fetched with Maven on first use.
pub fn kafka_lib_dir() -> anyhow::Result<PathBuf> {
    let project = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("bench")
        .join("kafka-server");
    let lib = project.join("target").join("lib");
    let marker = lib.join(format!("kafka_2.13-{KAFKA_VERSION}.jar"));
    if !marker.exists() {
        eprintln!("bench: fetching Apache Kafka {KAFKA_VERSION} from Maven Central (once)");
        let what = format!("Apache Kafka {KAFKA_VERSION}");
        crate::kafka_tools::maven_fetch(&project.join("pom.xml"), &what)?;
        if !marker.exists() {
            bail!("mvn left {} out", marker.display());
        }
    }
    let java = Command::new("java")
        .arg("-version")
        .output()
        .context("running java -version (is a JDK 17+ installed?)")?;
    if !java.status.success() {
        bail!("java -version failed ({})", java.status);
    }
    Ok(lib)
}

#[cfg(test)]
mod tests {
    #[test]
    fn kfake_version_is_the_one_go_mod_pins() {
        let go_mod = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/kfake/go.mod"),
        )
        .unwrap();
        assert!(go_mod.contains(&format!("pkg/kfake {}", super::KFAKE_VERSION)));
    }

    #[test]
    fn cluster_id_is_22_url_safe_characters() {
        let id = super::kafka_cluster_id().unwrap();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
