//! The mixed row (issue 21): end-to-end latency of a steady 5,000 records/s topic on a quiet
//! broker, while a raw producer writes 1 KiB records to another topic as fast as it can, and
//! right after that broker wrote a 3 GB fill. The last two show whether the kernel's writeback
//! of dirty page cache stalls the write path. Each broker gets a fresh process of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::brokers::{Kind, Launcher};
use super::load::{self, Latency};
use super::raw_load::{self, RawProduceSpec};
use super::report::{Better, Metric, Samples, Target};

/// Bytes of 1 KiB values the fill writes before the after-fill case (the order of what the
/// full benchmark has written when its latency row runs, per the issue).
const FILL_BYTES: u64 = 3_000_000_000;
/// Bytes of one raw produce call of the fast producer; it starts another until told to stop.
const BULK_CHUNK: u64 = 64 << 20;
/// Dirty page cache below which the quiet case may start.
const QUIET_DIRTY: u64 = 256 << 20;
/// Longest wait for dirty page cache to drain before the quiet case (the machine is shared).
const QUIET_WAIT: Duration = Duration::from_secs(60);

/// The three cases, in the order they run: key part and label.
const CASES: [(&str, &str); 3] = [
    ("quiet", "quiet broker"),
    (
        "loaded",
        "while a raw producer writes 1 KiB records to another topic flat out",
    ),
    ("after_fill", "right after a 3 GB fill of another topic"),
];

/// The rows, in table order.
pub fn metrics(rate: u32) -> Vec<Metric> {
    let mut m = Vec::new();
    for (case, label) in CASES {
        for (q, target) in [
            ("p50", Target::None),
            ("p99", Target::Below(1.0)),
            ("p999", Target::None),
        ] {
            let name = if q == "p999" { "p99.9" } else { q };
            m.push(Metric {
                key: format!("mixed_{case}_{q}_ms"),
                label: format!("Mixed: end-to-end latency {name} at {rate} records/s, {label}"),
                unit: "ms",
                better: Better::Lower,
                target,
            });
        }
    }
    m
}

/// What the row runs, for the workload note.
pub fn workload_text(rate: u32, run: Duration) -> String {
    format!(
        "Mixed: a broker of its own per round; the latency run ({rate} records/s of 100 B, \
         acks=all, {} s, after an untimed run of the same on a topic of its own) on a \
         quiet broker (after Dirty in /proc/meminfo fell below {} MiB), \
         then while the raw producer (1 KiB records, acks=1, one partition, 5 requests in \
         flight) writes another topic as fast as it can, then right after the raw producer \
         wrote {} GB to a third topic.",
        run.as_secs(),
        QUIET_DIRTY >> 20,
        FILL_BYTES / 1_000_000_000
    )
}

/// `Dirty` and `Writeback` of `/proc/meminfo`, in bytes.
fn dirty() -> (u64, u64) {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| {
                l[name.len()..]
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()
            })
            .map_or(0, |kib: u64| kib * 1024)
    };
    (field("Dirty:"), field("Writeback:"))
}

fn dirty_text() -> String {
    let (d, w) = dirty();
    format!("Dirty {} MiB, Writeback {} MiB", d >> 20, w >> 20)
}

/// Runs the three cases on a fresh broker and adds their samples.
pub fn round(
    launcher: &Launcher,
    rate: u32,
    run: Duration,
    samples: &mut Samples,
    pids: &mut Vec<u32>,
) -> anyhow::Result<()> {
    let broker = launcher.start()?;
    pids.push(broker.pid());
    let result = measure(&broker.bootstrap, broker.kind, rate, run, samples);
    let stopped = broker.stop();
    result?;
    stopped
}

fn measure(
    bootstrap: &str,
    kind: Kind,
    rate: u32,
    run: Duration,
    samples: &mut Samples,
) -> anyhow::Result<()> {
    for topic in [
        "mixed-warmup",
        "mixed-quiet",
        "mixed-loaded",
        "mixed-after-fill",
    ] {
        load::create_topic(bootstrap, topic, 1)?;
    }
    for topic in ["mixed-bulk", "mixed-fill"] {
        load::create_topic(bootstrap, topic, 1)?;
    }
    // A fresh JVM interprets its hot paths for the first seconds and fell behind 5,000
    // requests/s (Kafka's quiet p50 was over a second): one untimed run warms either broker.
    load::latency(bootstrap, "mixed-warmup", rate, run, 100).context("warm-up")?;
    let waited = Instant::now();
    while dirty().0 > QUIET_DIRTY && waited.elapsed() < QUIET_WAIT {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("bench:   mixed quiet: starting with {}", dirty_text());
    let quiet = load::latency(bootstrap, "mixed-quiet", rate, run, 100).context("quiet")?;
    report(kind, "quiet", &quiet, samples);

    let stop = Arc::new(AtomicBool::new(false));
    let bulk = {
        let (bootstrap, stop) = (bootstrap.to_string(), stop.clone());
        std::thread::spawn(move || -> anyhow::Result<(u64, Duration)> {
            let started = Instant::now();
            let mut bytes = 0;
            while !stop.load(Ordering::Relaxed) {
                let spec = RawProduceSpec {
                    record_bytes: 1024,
                    bytes: BULK_CHUNK,
                    acks: 1,
                    partitions: 1,
                };
                bytes += raw_load::produce(&bootstrap, "mixed-bulk", spec)?
                    .throughput
                    .bytes;
            }
            Ok((bytes, started.elapsed()))
        })
    };
    eprintln!("bench:   mixed loaded: starting with {}", dirty_text());
    let loaded = load::latency(bootstrap, "mixed-loaded", rate, run, 100);
    stop.store(true, Ordering::Relaxed);
    let written = bulk
        .join()
        .map_err(|_| anyhow::anyhow!("the bulk producer panicked"))?
        .context("the bulk producer")?;
    let loaded = loaded.context("loaded")?;
    eprintln!(
        "bench:   mixed loaded: the bulk producer wrote {:.0} MiB/s; now {}",
        written.0 as f64 / (1u64 << 20) as f64 / written.1.as_secs_f64(),
        dirty_text()
    );
    report(kind, "loaded", &loaded, samples);

    let fill = RawProduceSpec {
        record_bytes: 1024,
        bytes: FILL_BYTES,
        acks: 1,
        partitions: 1,
    };
    let filled = raw_load::produce(bootstrap, "mixed-fill", fill).context("the fill")?;
    eprintln!(
        "bench:   mixed fill: {:.0} MiB/s; after-fill case starting with {}",
        filled.throughput.mib_per_s(),
        dirty_text()
    );
    let after = load::latency(bootstrap, "mixed-after-fill", rate, run, 100).context("after")?;
    report(kind, "after_fill", &after, samples);
    Ok(())
}

fn report(kind: Kind, case: &str, l: &Latency, samples: &mut Samples) {
    eprintln!(
        "bench:   mixed {case}: p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms \
         ({} records, {:.0}/s delivered; {})",
        l.p50,
        l.p99,
        l.p999,
        l.max,
        l.samples,
        l.delivered_per_s,
        dirty_text()
    );
    samples.add(&format!("mixed_{case}_p50_ms"), kind, l.p50);
    samples.add(&format!("mixed_{case}_p99_ms"), kind, l.p99);
    samples.add(&format!("mixed_{case}_p999_ms"), kind, l.p999);
}
