//! Apache Kafka's MirrorMaker 2 in dedicated mode (`bin/connect-mirror-maker.sh`, class
//! `org.apache.kafka.connect.mirror.MirrorMaker`) for the mirroring tests: its jars (fetched
//! with Maven from `itests/java/mirror/pom.xml`, apart from the 4.4.0 tools), its properties
//! made from a fixture file with the test's addresses, and the process, logging to a file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{bail, Context};

use crate::bench::cleanup::{self, Spawned};

/// The MirrorMaker release the tests run (kept in step with `itests/java/mirror/pom.xml`):
/// Maven Central serves no 4.4.0 `connect-mirror`.
pub const MM2_VERSION: &str = "4.3.1";

/// The dedicated-mode entry point `bin/connect-mirror-maker.sh` runs.
const MIRROR_MAKER: &str = "org.apache.kafka.connect.mirror.MirrorMaker";

/// How long MirrorMaker may take to exit after SIGTERM (it stops its connectors and flushes).
const STOP_GRACE: Duration = Duration::from_secs(60);

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("java")
        .join("mirror")
}

/// The folder of MirrorMaker's jars, fetched with Maven on first use.
pub fn lib_dir() -> anyhow::Result<PathBuf> {
    static FETCH: Mutex<()> = Mutex::new(());
    let _once = FETCH.lock().unwrap_or_else(|e| e.into_inner());
    let lib = project().join("target").join("lib");
    let marker = lib.join(format!("connect-mirror-{MM2_VERSION}.jar"));
    if !marker.exists() {
        let what = format!("MirrorMaker {MM2_VERSION}");
        crate::kafka_tools::maven_fetch(&project().join("pom.xml"), &what)?;
        if !marker.exists() {
            bail!("mvn left {} out", marker.display());
        }
    }
    Ok(lib)
}

/// The text of `itests/fixtures/{name}`.
pub fn fixture(name: &str) -> anyhow::Result<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// `properties` with each `{alias}.bootstrap.servers` of `bootstraps` set to its address and,
/// when `one_replica`, every `*replication.factor` set to 1 (a one-node target cluster); every
/// other line as it is. Fails if a key to set is not in the file: the fixture and the test
/// must not drift apart.
pub fn with_addresses(
    properties: &str,
    bootstraps: &[(&str, &str)],
    one_replica: bool,
) -> anyhow::Result<String> {
    let mut seen = vec![false; bootstraps.len()];
    let mut out = String::new();
    for line in properties.lines() {
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim())
            .filter(|_| !line.trim_start().starts_with('#'));
        let replaced = key.and_then(|key| {
            if let Some(i) = bootstraps
                .iter()
                .position(|(alias, _)| key == format!("{alias}.bootstrap.servers"))
            {
                seen[i] = true;
                Some(format!("{key} = {}", bootstraps[i].1))
            } else if one_replica && key.ends_with("replication.factor") {
                Some(format!("{key} = 1"))
            } else {
                None
            }
        });
        out.push_str(replaced.as_deref().unwrap_or(line));
        out.push('\n');
    }
    if let Some(i) = seen.iter().position(|s| !s) {
        bail!("no {}.bootstrap.servers in the properties", bootstraps[i].0);
    }
    Ok(out)
}

/// A running MirrorMaker process.
pub struct MirrorMaker {
    name: String,
    process: Spawned,
    log: PathBuf,
}

impl MirrorMaker {
    /// Starts MirrorMaker on `properties` (written to `<dir>/<name>.properties`); it logs at
    /// INFO to `<dir>/<name>.log`, as `connect-log4j2.yaml` has it do.
    pub fn start(name: &str, properties: &str, dir: &Path) -> anyhow::Result<MirrorMaker> {
        let lib = lib_dir()?;
        let config = dir.join(format!("{name}.properties"));
        std::fs::write(&config, properties)?;
        let log = dir.join(format!("{name}.log"));
        let log4j = dir.join(format!("{name}-log4j2.properties"));
        std::fs::write(
            &log4j,
            format!(
                "status = warn\n\
                 appender.file.type = File\n\
                 appender.file.name = FILE\n\
                 appender.file.fileName = {}\n\
                 appender.file.append = true\n\
                 appender.file.layout.type = PatternLayout\n\
                 appender.file.layout.pattern = [%d] %p %m (%c)%n\n\
                 rootLogger.level = INFO\n\
                 rootLogger.appenderRef.file.ref = FILE\n",
                log.display()
            ),
        )?;
        let mut cmd = Command::new("java");
        cmd.args(["-Xmx512M", "-XX:+UseG1GC", "-Djava.awt.headless=true"])
            .arg(format!("-Dlog4j2.configurationFile={}", log4j.display()))
            .arg("-cp")
            .arg(format!("{}/*", lib.display()))
            .arg(MIRROR_MAKER)
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{name}.stderr")))?,
            );
        let process = cleanup::spawn(&mut cmd, name)?;
        Ok(MirrorMaker {
            name: name.to_string(),
            process,
            log,
        })
    }

    /// Fails, with the end of its log, if the process has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.process.exited() {
            bail!("{} exited ({status})\n{}", self.name, self.log_tail(40));
        }
        Ok(())
    }

    /// Stops it with SIGTERM (its shutdown hook stops the connectors and commits their offsets).
    pub fn stop(self) -> anyhow::Result<()> {
        self.process.terminate(STOP_GRACE)?;
        Ok(())
    }

    /// Kills it with SIGKILL: no offsets are committed, so it copies again from the last ones
    /// it committed.
    pub fn kill9(self) -> anyhow::Result<()> {
        self.process.kill()?;
        Ok(())
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        format!(
            "---- {} log, last lines ----\n{}",
            self.name,
            all[all.len().saturating_sub(lines)..].join("\n")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::with_addresses;

    #[test]
    fn sets_addresses_and_replication_factors_only() {
        let text = "# a.bootstrap.servers = x\na.bootstrap.servers = old\nreplication.factor = 3\n\
                    x.y.replication.factor=3\nother = 3\n";
        let out = with_addresses(text, &[("a", "127.0.0.1:1")], true).unwrap();
        assert_eq!(
            out,
            "# a.bootstrap.servers = x\na.bootstrap.servers = 127.0.0.1:1\nreplication.factor = 1\n\
             x.y.replication.factor = 1\nother = 3\n"
        );
        assert!(with_addresses(text, &[("b", "h:1")], false).is_err());
    }
}
