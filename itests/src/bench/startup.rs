//! The start-up rows (issue 21): time from spawning a broker on a data dir that already holds
//! `bytes` of records to its first Metadata answer, after a clean stop (SIGTERM) and after a
//! kill -9, on a cold page cache where the harness may drop it (root). Kafka's counterpart
//! is the same run of `kafka.Kafka` on its own data dir.
//!
//! One broker per size: a topic of [`PARTITIONS`] partitions is filled by the raw producer
//! with 1 KiB records in [`SEGMENT_BYTES`] segments, the broker stopped with SIGTERM and
//! started again (the clean-stop figure); then [`TAIL_BYTES`] more are written into the
//! active segments, the broker left one recovery-point checkpoint interval to write its
//! checkpoints, killed with SIGKILL and started again (the kill -9 figure: what recovery
//! scans is the data past the recovery point, the tail); then the same again (the second
//! kill -9: a start after a recovery must leave checkpoints that bound the next one just as
//! well). Data dirs are removed as each broker stops.

use std::time::Duration;

use anyhow::Context;

use super::brokers::{Kind, Launcher, Running};
use super::load::create_topic;
use super::raw_load::{self, RawProduceSpec};
use super::report::{Better, Metric, Samples, Target};

/// Partitions of the filled topic.
const PARTITIONS: i32 = 16;
/// `log.segment.bytes` of both brokers: many segments per partition (1 GiB: 64 in all).
const SEGMENT_BYTES: u64 = 16 << 20;
/// Written after the clean restart, before the kill: unflushed data in the active segments.
const TAIL_BYTES: u64 = 32 << 20;
/// `log.flush.offset.checkpoint.interval.ms` of both brokers, and how long the run waits
/// before the kill so that one was written.
const CHECKPOINT_INTERVAL_MS: u64 = 2_000;

/// The data sizes measured: 1 GiB always, and with `--only startup-big` the large one,
/// 10 GiB where the disk has room for it (`big_bytes`).
pub fn sizes(big: bool, big_bytes: u64) -> Vec<u64> {
    let mut sizes = vec![1 << 30];
    if big {
        sizes.push(big_bytes);
    }
    sizes
}

fn label(bytes: u64) -> String {
    format!("{} GiB", bytes >> 30)
}

fn key(stop: &str, bytes: u64) -> String {
    format!("startup_{stop}_{}gib_ms", bytes >> 30)
}

/// The rows for `sizes`, in table order.
pub fn metrics(sizes: &[u64]) -> Vec<Metric> {
    let mut m = Vec::new();
    for &bytes in sizes {
        m.push(Metric {
            key: key("clean", bytes),
            label: format!(
                "Start-up: first Metadata after a clean stop, {} of data",
                label(bytes)
            ),
            unit: "ms",
            better: Better::Lower,
            target: Target::Below(50.0),
        });
        m.push(Metric {
            key: key("kill9", bytes),
            label: format!(
                "Start-up: first Metadata after kill -9, {} of data, {} MiB unflushed",
                label(bytes),
                TAIL_BYTES >> 20
            ),
            unit: "ms",
            better: Better::Lower,
            target: Target::RatioAtMost(1.0),
        });
        m.push(Metric {
            key: key("kill9_again", bytes),
            label: format!(
                "Start-up: first Metadata after a second kill -9 in a row, {} of data",
                label(bytes)
            ),
            unit: "ms",
            better: Better::Lower,
            target: Target::RatioAtMost(1.0),
        });
    }
    m
}

/// What the rows do, for the report's workload paragraph.
pub fn workload_text(sizes: &[u64], cold: bool) -> String {
    format!(
        "Start-up: a broker of its own per size ({}), log.segment.bytes={} MiB, \
         log.flush.offset.checkpoint.interval.ms={CHECKPOINT_INTERVAL_MS}, otherwise defaults; \
         one topic of {PARTITIONS} partitions filled by the raw producer (1 KiB records, \
         acks=1); SIGTERM and start again (clean stop), then {} MiB more, {} s to checkpoint, \
         SIGKILL and start again (kill -9), and that once more (a second kill -9); time from spawning the process until Metadata \
         lists every partition of the topic with a leader and ListOffsets answers for each; page cache {}.",
        sizes.iter().map(|b| label(*b)).collect::<Vec<_>>().join(", "),
        SEGMENT_BYTES >> 20,
        TAIL_BYTES >> 20,
        CHECKPOINT_INTERVAL_MS.div_ceil(1000) + 1,
        if cold {
            "dropped before each start (sync; echo 3 > /proc/sys/vm/drop_caches)"
        } else {
            "NOT dropped (not root): warm-cache figures"
        }
    )
}

/// The large size: 10 GiB when the temp dir's disk has more than 25 GB free (the data, the
/// other broker's leftovers and the disk's other users), else 4 GiB.
pub fn big_bytes() -> u64 {
    let free = free_bytes(&std::env::temp_dir()).unwrap_or(0);
    if free > 25_000_000_000 {
        10 << 30
    } else {
        eprintln!(
            "bench: only {} GB free in the temp dir: the large start-up row uses 4 GiB, not 10",
            free / 1_000_000_000
        );
        4 << 30
    }
}

fn free_bytes(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we own; the path is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statvfs(c.as_ptr(), &mut st) } == 0)
        .then(|| st.f_bavail as u64 * st.f_frsize as u64)
}

/// Whether this process may drop the page cache.
pub fn can_drop_caches() -> bool {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/proc/sys/vm/drop_caches")
        .is_ok()
}

/// Writes dirty pages back and drops the page cache, so the next start reads from the disk.
fn drop_caches() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    if let Err(e) = std::fs::write("/proc/sys/vm/drop_caches", "3\n") {
        eprintln!("bench:   could not drop the page cache: {e}");
    }
}

/// Both start-up rows for one broker and one size.
pub fn round(launcher: &Launcher, bytes: u64, samples: &mut Samples) -> anyhow::Result<()> {
    let kind = launcher.kind();
    let segment = SEGMENT_BYTES.to_string();
    let interval = CHECKPOINT_INTERVAL_MS.to_string();
    let mut broker = launcher.start_with(&[
        ("log.segment.bytes", &segment),
        ("log.flush.offset.checkpoint.interval.ms", &interval),
    ])?;
    let topic = "startup";
    create_topic(&broker.bootstrap, topic, PARTITIONS)?;
    // Kafka leads a new topic's partitions a moment after Metadata lists their leaders.
    crate::raw::RawClient::connect(&broker.bootstrap)?.wait_for_topic(topic)?;
    let fill = |bootstrap: &str, bytes: u64| {
        raw_load::produce(
            bootstrap,
            topic,
            RawProduceSpec {
                record_bytes: 1024,
                bytes,
                acks: 1,
                partitions: PARTITIONS,
            },
        )
    };
    let filled = fill(&broker.bootstrap, bytes).context("filling the start-up topic")?;
    eprintln!(
        "bench:   startup {}: {} filled at {:.1} MiB/s",
        kind.name(),
        label(bytes),
        filled.throughput.mib_per_s()
    );

    broker.restart_with(false, drop_caches)?;
    let clean_ms = served_ms(&broker, topic)?;
    samples.add(&key("clean", bytes), kind, clean_ms);

    // Killed twice: the second start follows one that recovered, whose checkpoints must
    // still bound what the next recovery reads.
    let mut kill_ms = [0.0; 2];
    for (stop, ms) in ["kill9", "kill9_again"].iter().zip(&mut kill_ms) {
        fill(&broker.bootstrap, TAIL_BYTES).context("writing the unflushed tail")?;
        std::thread::sleep(Duration::from_millis(CHECKPOINT_INTERVAL_MS + 1_000));
        broker.restart_with(true, drop_caches)?;
        *ms = served_ms(&broker, topic)?;
        samples.add(&key(stop, bytes), kind, *ms);
    }
    let [kill_ms, again_ms] = kill_ms;
    eprintln!(
        "bench:   startup {} {}: first Metadata {clean_ms:.1} ms after a clean stop, \
         {kill_ms:.1} ms after kill -9, {again_ms:.1} ms after a second one{}",
        kind.name(),
        label(bytes),
        if kind == Kind::Gregor {
            format!("; it says: {}", loaded_lines(&broker.log_path()))
        } else {
            String::new()
        }
    );
    broker.stop()
}

/// Milliseconds from spawning the restarted `broker` until Metadata lists every partition of
/// `topic` with a leader and ListOffsets answers for each: Kafka answers Metadata before it
/// has loaded the logs and led them.
fn served_ms(broker: &Running, topic: &str) -> anyhow::Result<f64> {
    let waited = std::time::Instant::now();
    crate::raw::RawClient::connect(&broker.bootstrap)?.wait_for_topic(topic)?;
    Ok((broker.startup + waited.elapsed()).as_secs_f64() * 1e3)
}

/// Gregor's lines on where its start-up time went (one pair per start).
fn loaded_lines(log: &std::path::Path) -> String {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("loaded logs") || l.contains("opened the broker's state"))
        .map(|l| l.split_once("INFO").map_or(l, |(_, rest)| rest).trim())
        .collect::<Vec<_>>()
        .join(" | ")
}
