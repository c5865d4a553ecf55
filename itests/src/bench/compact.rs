//! The compaction scenario: the first cleaning of a compacted topic, timed from the moment its
//! log becomes cleanable to the moment the broker has swapped in the cleaned segments. Kafka's
//! counterpart is the `LogCleaner` (its `CleanerThread` running `Cleaner.doClean`).
//!
//! The topic is written with `cleanup.policy=delete` and switched to `compact` once every record
//! is acknowledged: created compacted, it would be cleaned from its first rolled segment on,
//! while the producer still writes, and the figure would be many small cleanings racing the
//! producer. After the switch every segment below the active one (which no cleaner touches) is
//! dirty, so the dirty ratio is 1 and the cleaner starts at its next check.
//!
//! The end is an event, never a sleep: the broker says the cleaning is done (its `cleaned log`
//! line, or `cleaner-offset-checkpoint` reaching the active segment) and the cleaned segments
//! hold under a third of what they held. The size alone would not do: the cleaner swaps one
//! group of segments at a time, the size falls in steps, and the last steps are small because
//! the latest records, which survive, sit at the end.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::brokers::Running;
use super::load::{self, ProduceSpec};
use super::procfs;
use crate::raw::RawClient;

/// Broker settings of the compaction round, the same on both brokers: the cleaner looks for
/// work every 100 ms instead of every 15 s, so its wait weighs little on the figure.
pub const BROKER_SETTINGS: [(&str, &str); 1] = [("log.cleaner.backoff.ms", "100")];

/// Value size of the records.
pub const RECORD_BYTES: usize = 1024;

/// What the scenario writes and how its topic is set up.
#[derive(Debug, Clone, Copy)]
pub struct CompactSpec {
    /// Bytes of values produced, in records of [`RECORD_BYTES`].
    pub bytes: u64,
    /// Distinct keys the records are spread over, uniformly at random.
    pub keys: u64,
    /// `segment.bytes` of the topic.
    pub segment_bytes: u64,
    /// Longest the cleaning may take.
    pub timeout: Duration,
}

/// What the first cleaning did.
#[derive(Debug, Clone)]
pub struct Cleaning {
    /// `.log` bytes of the segments below the active one when the log became cleanable: what
    /// the cleaning has to read.
    pub before: u64,
    /// `.log` bytes of the segments below that offset once cleaned.
    pub after: u64,
    /// From the config change to the end seen.
    pub elapsed: Duration,
    /// Broker CPU seconds (utime+stime) over `elapsed`.
    pub cpu_seconds: f64,
    /// What told the end: the broker's log line or its checkpoint file.
    pub seen_by: &'static str,
    /// The broker's own account of the cleaning: its log lines about it.
    pub broker_says: String,
}

impl Cleaning {
    /// MiB of log read by the cleaning per second (`before` over `elapsed`).
    pub fn mib_per_s(&self) -> f64 {
        self.before as f64 / (1024.0 * 1024.0) / self.elapsed.as_secs_f64()
    }
}

/// Creates `topic`, fills it with `spec.bytes` of keyed 1 KiB records, makes it compacted and
/// waits for the end of its first cleaning.
pub fn run(broker: &Running, topic: &str, spec: CompactSpec) -> anyhow::Result<Cleaning> {
    let mut client = RawClient::connect(&broker.bootstrap)?;
    let segment_bytes = spec.segment_bytes.to_string();
    let (code, message) = client.create_topic(
        topic,
        1,
        &[
            ("cleanup.policy", "delete"),
            ("segment.bytes", &segment_bytes),
            ("min.cleanable.dirty.ratio", "0.5"),
            ("min.compaction.lag.ms", "0"),
        ],
    )?;
    if code != 0 {
        bail!("creating {topic}: error {code}: {message}");
    }
    load::wait_for_leaders(&broker.bootstrap, topic, 1)?;
    let fill = ProduceSpec {
        record_bytes: RECORD_BYTES,
        records: spec.bytes / RECORD_BYTES as u64,
        acks: "1",
        partitions: 1,
        keys: Some(spec.keys),
    };
    let written = load::produce(&broker.bootstrap, topic, fill).context("filling the topic")?;
    eprintln!(
        "bench:   compact: {} records over {} keys written at {:.1} MiB/s",
        written.records,
        spec.keys,
        written.mib_per_s()
    );

    let dir = broker.data_dir().join(format!("{topic}-0"));
    let listed = segments(&dir)?;
    let Some(&(active, _)) = listed.last() else {
        bail!("no segments in {}", dir.display());
    };
    let before = bytes_below(&listed, active);
    if before == 0 {
        bail!("{topic} has one segment, which is active: nothing to clean");
    }
    let log_name = format!("{topic}-0");
    let checkpoint = broker.data_dir().join("cleaner-offset-checkpoint");
    let mut log = LogTail::at_end(broker.log_path())?;
    let mut said: Vec<String> = Vec::new();
    let mut seen_by = None;
    let pid = broker.pid();

    let cpu0 = procfs::cpu_seconds(pid)?;
    let started = Instant::now();
    let (code, message) = client.alter_topic_config(topic, &[("cleanup.policy", "compact")])?;
    if code != 0 {
        bail!("making {topic} compacted: error {code}: {message}");
    }
    loop {
        if take_cleaned_lines(&mut log, &log_name, &mut said)? {
            seen_by.get_or_insert("its log");
        }
        if seen_by.is_none() {
            let text = std::fs::read_to_string(&checkpoint).unwrap_or_default();
            if checkpointed(&text, topic).is_some_and(|offset| offset >= active) {
                seen_by = Some("cleaner-offset-checkpoint");
            }
        }
        if let Some(seen_by) = seen_by {
            let after = bytes_below(&segments(&dir)?, active);
            if after * 3 < before {
                let elapsed = started.elapsed();
                let cpu_seconds = procfs::cpu_seconds(pid)? - cpu0;
                // Timed; the broker's own account may land just after the checkpoint (Gregor
                // writes it first) or after the line that ended the wait (Kafka's statistics).
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline && !account_complete(&said, &log_name) {
                    take_cleaned_lines(&mut log, &log_name, &mut said)?;
                    std::thread::sleep(Duration::from_millis(5));
                }
                return Ok(Cleaning {
                    before,
                    after,
                    elapsed,
                    cpu_seconds,
                    seen_by,
                    broker_says: said.join(" / "),
                });
            }
        }
        if started.elapsed() > spec.timeout {
            bail!(
                "{log_name}: cleaning not done {:?} after it became compacted (end seen by: \
                 {seen_by:?}; segments below offset {active}: {} of {before} bytes; the broker \
                 said: {said:?})",
                spec.timeout,
                bytes_below(&segments(&dir)?, active)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Adds the new lines of `log` about the cleaning of `log_name` to `said`: its `cleaned log`
/// line and Kafka's statistics line after it. True when a `cleaned log` line was among them.
fn take_cleaned_lines(
    log: &mut LogTail,
    log_name: &str,
    said: &mut Vec<String>,
) -> anyhow::Result<bool> {
    let mut cleaned = false;
    for line in log.lines()? {
        if names_cleaned_log(&line, log_name) {
            cleaned = true;
            said.push(line.trim().to_string());
        } else if !said.is_empty() && line.contains("of log processed") {
            said.push(line.trim().to_string());
        }
    }
    Ok(cleaned)
}

/// Whether `said` holds the broker's account: a `cleaned log` line and, for Kafka's, the
/// statistics line that follows it.
fn account_complete(said: &[String], log_name: &str) -> bool {
    let Some(at) = said.iter().position(|l| names_cleaned_log(l, log_name)) else {
        return false;
    };
    !said[at].contains("Log cleaner thread")
        || said[at + 1..]
            .iter()
            .any(|l| l.contains("of log processed"))
}

/// The segments of a partition folder, `(base offset, .log bytes)` by base offset: files named
/// `{base_offset:020}.log`, so a cleaner's `.cleaned`, `.swap` and `.deleted` files are left out.
fn segments(dir: &Path) -> anyhow::Result<Vec<(i64, u64)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(base) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if base.len() != 20 || !base.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A file the cleaner renamed away since the listing is no longer a segment.
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        found.push((base.parse()?, meta.len()));
    }
    found.sort_unstable();
    Ok(found)
}

/// Bytes of the segments whose base offset is below `offset`.
fn bytes_below(segments: &[(i64, u64)], offset: i64) -> u64 {
    segments
        .iter()
        .filter(|(base, _)| *base < offset)
        .map(|(_, bytes)| bytes)
        .sum()
}

/// The offset `cleaner-offset-checkpoint` holds for partition 0 of `topic`. Kafka's
/// `OffsetCheckpointFile` layout: a version line, an entry count, `topic partition offset` lines.
fn checkpointed(text: &str, topic: &str) -> Option<i64> {
    text.lines().skip(2).find_map(|line| {
        let mut fields = line.split_whitespace();
        match (fields.next(), fields.next(), fields.next(), fields.next()) {
            (Some(t), Some("0"), Some(offset), None) if t == topic => offset.parse().ok(),
            _ => None,
        }
    })
}

/// Whether `line` is a broker's "cleaned log" line about `log_name`: Kafka's "Log cleaner thread
/// 0 cleaned log compact-0 (dirty section = [0, 1048577])", Gregor's `cleaned log` event with a
/// `log` field naming the partition (or its folder).
fn names_cleaned_log(line: &str, log_name: &str) -> bool {
    let part_of_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    line.contains("cleaned log")
        && line.match_indices(log_name).any(|(at, _)| {
            let before = line[..at].chars().next_back();
            let after = line[at + log_name.len()..].chars().next();
            !before.is_some_and(part_of_name) && !after.is_some_and(part_of_name)
        })
}

/// The lines a log file gains, read from where the last call stopped.
struct LogTail {
    path: PathBuf,
    /// Bytes of the file already read.
    pos: u64,
    /// The end of the last read that was not yet a whole line.
    partial: Vec<u8>,
}

impl LogTail {
    /// Follows `path` from its current end.
    fn at_end(path: PathBuf) -> anyhow::Result<LogTail> {
        let pos = std::fs::metadata(&path).map_or(0, |m| m.len());
        Ok(LogTail {
            path,
            pos,
            partial: Vec::new(),
        })
    }

    /// The whole lines written since the last call.
    fn lines(&mut self) -> anyhow::Result<Vec<String>> {
        let Ok(mut file) = File::open(&self.path) else {
            return Ok(Vec::new());
        };
        file.seek(SeekFrom::Start(self.pos))?;
        let read = file.read_to_end(&mut self.partial)?;
        self.pos += read as u64;
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else {
            return Ok(Vec::new());
        };
        let whole: Vec<u8> = self.partial.drain(..=end).collect();
        Ok(String::from_utf8_lossy(&whole)
            .lines()
            .map(str::to_string)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kafkas_checkpoint_layout() {
        let text = "0\n3\nother 0 7\ncompact 1 9\ncompact 0 1048577\n";
        assert_eq!(checkpointed(text, "compact"), Some(1_048_577));
        assert_eq!(checkpointed(text, "other"), Some(7));
        assert_eq!(checkpointed(text, "comp"), None);
        assert_eq!(checkpointed("", "compact"), None);
        assert_eq!(checkpointed("0\n1\ncompact 0\n", "compact"), None);
    }

    #[test]
    fn finds_both_brokers_cleaned_lines_for_this_log_only() {
        let kafka = "\tLog cleaner thread 0 cleaned log compact-0 (dirty section = [0, 1048577])";
        assert!(names_cleaned_log(kafka, "compact-0"));
        assert!(!names_cleaned_log(kafka, "act-0"));
        assert!(!names_cleaned_log(
            "\tLog cleaner thread 0 cleaned log compact-01 (dirty section = [0, 9])",
            "compact-0"
        ));
        let gregor = "2025-01-01T00:00:00Z  INFO gregor_storage::cleaner: cleaned log \
                      log=compact-0 bytes_before=1000 bytes_after=10 keys=5 duration_ms=3";
        assert!(names_cleaned_log(gregor, "compact-0"));
        assert!(names_cleaned_log(
            "INFO cleaned log log=/tmp/x/data/compact-0 bytes_before=1",
            "compact-0"
        ));
        assert!(names_cleaned_log(
            "INFO cleaned log log=\"compact-0\"",
            "compact-0"
        ));
        assert!(!names_cleaned_log(
            "INFO Beginning cleaning of log compact-0",
            "compact-0"
        ));
    }

    #[test]
    fn an_account_is_complete_with_kafkas_statistics_or_gregors_one_line() {
        let kafka = "Log cleaner thread 0 cleaned log compact-0 (dirty section = [0, 9])";
        let stats = "9.0 MB of log processed in 1.0 seconds (9.0 MB/sec).";
        let gregor = "INFO cleaned log log=/d/compact-0 bytes_before=9 duration_ms=1";
        let owned = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        assert!(!account_complete(&[], "compact-0"));
        assert!(!account_complete(&owned(&[kafka]), "compact-0"));
        assert!(account_complete(&owned(&[kafka, stats]), "compact-0"));
        assert!(account_complete(&owned(&[gregor]), "compact-0"));
    }

    #[test]
    fn lists_segments_and_sums_those_below_the_active_one() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        for (name, bytes) in [
            ("00000000000000000000.log", 10),
            ("00000000000000000100.log", 20),
            ("00000000000000000200.log", 5),
            ("00000000000000000000.log.cleaned", 3),
            ("00000000000000000100.log.deleted", 20),
            ("00000000000000000100.index", 8),
            ("leader-epoch-checkpoint", 4),
        ] {
            std::fs::write(dir.path().join(name), vec![0u8; bytes])?;
        }
        let listed = segments(dir.path())?;
        assert_eq!(listed, vec![(0, 10), (100, 20), (200, 5)]);
        assert_eq!(bytes_below(&listed, 200), 30);
        Ok(())
    }

    #[test]
    fn log_tail_returns_whole_new_lines_once() -> anyhow::Result<()> {
        use std::io::Write;
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("broker.log");
        std::fs::write(&path, "old line\n")?;
        let mut tail = LogTail::at_end(path.clone())?;
        assert!(tail.lines()?.is_empty());
        let mut file = std::fs::OpenOptions::new().append(true).open(&path)?;
        file.write_all(b"first\nsecond, half")?;
        assert_eq!(tail.lines()?, vec!["first"]);
        file.write_all(b" done\n")?;
        assert_eq!(tail.lines()?, vec!["second, half done"]);
        assert!(tail.lines()?.is_empty());
        Ok(())
    }
}
