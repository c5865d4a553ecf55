//! The benchmark behind the `bench` binary: Gregor and Apache Kafka (and, in a full run,
//! franz-go's kfake as a third column) started fresh in turn, driven by the same rdkafka load,
//! round after round, with medians written as Markdown and JSON. Issue 6 describes what is
//! measured and the targets.

pub mod brokers;
pub mod cleanup;
pub mod compact;
pub mod groups;
pub mod live_view;
pub mod load;
pub mod mixed;
pub mod procfs;
pub mod raw_load;
pub mod report;
pub mod scale;
pub mod secure;
pub mod startup;
pub mod txn;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use brokers::Launcher;
use compact::CompactSpec;
use load::{GroupProtocol, ProduceSpec};
use report::{Better, Metric, RunInfo, Samples, Target};

/// What the command line asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Run Apache Kafka too (the default); false with `--gregor-only`.
    pub vs_kafka: bool,
    /// Run franz-go's kfake as a third column: `--kfake`/`--no-kfake`; unset, in full runs only.
    pub kfake: Option<bool>,
    /// Short workloads, for a run in well under 3 minutes.
    pub quick: bool,
    /// Rounds per broker.
    pub rounds: usize,
    /// A `gregor` binary to use instead of building the release one.
    pub gregor_bin: Option<PathBuf>,
    /// Where results.md and results.json go.
    pub out: PathBuf,
    /// Only these scenario groups (produce, consume, latency, group, commit, compact, txn, raw,
    /// security); all when empty (but for security in quick mode). Startup and memory are measured in every round.
    pub only: Vec<String>,
    /// Keep Gregor's live view open (its event stream read, `/metrics` scraped each second)
    /// through each Gregor round, to measure what an open page costs.
    pub live_view: bool,
}

/// The usage text.
pub const USAGE: &str = "\
usage: bench [--vs-kafka | --gregor-only] [--kfake | --no-kfake] [--quick] [--rounds N]
             [--gregor-bin PATH] [--out DIR] [--only LIST] [--live-view]

  --vs-kafka        run Gregor and Apache Kafka 4.4.0 (the default); Kafka's jars come from Maven
                    Central on first use; without Java or Maven the run goes on with Gregor only
  --gregor-only     run Gregor only
  --kfake           also run franz-go's kfake (an in-memory fake cluster for client tests,
                    built with Go on first use) as a third column; the default in full runs
  --no-kfake        leave kfake out (the default with --quick)
  --quick           small workloads (about 1-2 minutes with Kafka)
  --rounds N        rounds per broker, alternating the brokers (default: 1 in a full
                    run, which then fits in 15 minutes; 3 with --quick or --only)
  --gregor-bin PATH use this gregor binary (default: `cargo build --release -p gregor`;
                    the GREGOR_BIN variable does the same)
  --out DIR         where results.md and results.json go (default: target/bench)
  --only LIST       run only these scenarios, comma-separated:
                    produce,consume,latency,group,commit,compact,txn,raw,security,
                    startup,startup-big,scale,groups,mixed
                    (raw: pre-encoded Produce and header-only Fetch over raw sockets;
                    security: produce and consume over SSL and SASL_SSL/SCRAM-SHA-256
                    listeners, left out of quick runs unless named;
                    startup: first Metadata after a clean stop and a kill -9 on 1 GiB of data,
                    not in --quick; startup-big: the same on 10 GiB too, only when named;
                    scale: 10,000 partitions; groups: 1,000 groups committing over raw
                    sockets; mixed: the latency run quiet, beside a flat-out
                    raw producer and after a 3 GB fill; these three in full
                    runs only unless named here; security and these three run in
                    every round when named, in the first round of a full run)
                    (startup and memory are always measured)
  --live-view       keep Gregor's live view open through its rounds (the page's event
                    stream read, /metrics scraped every second), to compare with a run
                    without it";

impl Options {
    /// Parses the arguments after the program name.
    pub fn parse(args: impl IntoIterator<Item = String>) -> anyhow::Result<Options> {
        let mut options = Options {
            vs_kafka: true,
            kfake: None,
            quick: false,
            rounds: 0,
            gregor_bin: std::env::var_os("GREGOR_BIN").map(PathBuf::from),
            out: default_out_dir(),
            only: Vec::new(),
            live_view: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let mut value =
                |name: &str| args.next().with_context(|| format!("{name} needs a value"));
            match arg.as_str() {
                "--vs-kafka" => options.vs_kafka = true,
                "--gregor-only" => options.vs_kafka = false,
                "--kfake" => options.kfake = Some(true),
                "--no-kfake" => options.kfake = Some(false),
                "--live-view" => options.live_view = true,
                "--quick" => options.quick = true,
                "--rounds" => {
                    options.rounds = value("--rounds")?.parse().context("--rounds N")?;
                    if options.rounds == 0 {
                        bail!("--rounds must be at least 1");
                    }
                }
                "--gregor-bin" => options.gregor_bin = Some(value("--gregor-bin")?.into()),
                "--out" => options.out = value("--out")?.into(),
                "--only" => {
                    options.only = value("--only")?.split(',').map(str::to_string).collect();
                    if let Some(bad) = options
                        .only
                        .iter()
                        .find(|s| !SCENARIOS.contains(&s.as_str()))
                    {
                        bail!("--only: unknown scenario {bad:?} (known: {SCENARIOS:?})");
                    }
                }
                other => bail!("unknown argument {other:?}\n{USAGE}"),
            }
        }
        if options.rounds == 0 {
            options.rounds = default_rounds(options.quick, &options.only);
        }
        Ok(options)
    }
}

/// Rounds when `--rounds` is not given: one in a full run, which must fit in 15 minutes
/// (issue 21; three rounds took about 28 minutes), three otherwise, for medians.
fn default_rounds(quick: bool, only: &[String]) -> usize {
    if !quick && only.is_empty() {
        1
    } else {
        3
    }
}

/// `$CARGO_TARGET_DIR/bench`, else `target/bench` in the workspace.
fn default_out_dir() -> PathBuf {
    target_dir().join("bench")
}

/// `$CARGO_TARGET_DIR`, else `target` in the workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("target"),
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("itests sits in the workspace")
        .to_path_buf()
}

/// Workload sizes of a mode.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    /// Records per produce run with 1 KiB values.
    produce_1k: u64,
    /// Records per produce run with 100 B values.
    produce_100b: u64,
    /// Bytes written (1 KiB records) and then read back by the consume run.
    consume_bytes: u64,
    /// Length of the fixed-rate latency run.
    latency_run: Duration,
    /// Quiet time after startup before idle memory is read.
    idle_settle: Duration,
    /// Records the committing consumer reads, committing after each.
    commits: u64,
    /// The compacted topic's first cleaning.
    compact: CompactSpec,
    /// Timed transactions of the transactions row.
    transactions: u64,
}

const FULL: Sizes = Sizes {
    produce_1k: 512 * 1024,
    produce_100b: 2_000_000,
    consume_bytes: 1 << 30,
    latency_run: Duration::from_secs(10),
    idle_settle: Duration::from_secs(3),
    commits: 20_000,
    compact: CompactSpec {
        bytes: 1 << 30,
        keys: 100_000,
        segment_bytes: 64 << 20,
        timeout: Duration::from_secs(300),
    },
    transactions: 1_000,
};

const QUICK: Sizes = Sizes {
    produce_1k: 64 * 1024,
    produce_100b: 400_000,
    consume_bytes: 128 << 20,
    latency_run: Duration::from_secs(2),
    idle_settle: Duration::from_secs(1),
    commits: 2_000,
    compact: CompactSpec {
        bytes: 8 << 20,
        keys: 1_000,
        segment_bytes: 1 << 20,
        timeout: Duration::from_secs(60),
    },
    // About 10 a second with rdkafka on either broker: a few seconds each.
    transactions: 20,
};

/// The scenario groups `--only` can pick.
const SCENARIOS: [&str; 14] = [
    "produce",
    "consume",
    "latency",
    "group",
    "commit",
    "compact",
    "txn",
    "raw",
    "security",
    "startup",
    "startup-big",
    "scale",
    "groups",
    "mixed",
];

impl Options {
    fn runs(&self, scenario: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == scenario)
    }

    /// A scenario too long for `--quick`: named in `--only`, or a full run of everything.
    fn runs_heavy(&self, scenario: &str) -> bool {
        self.only.iter().any(|s| s == scenario) || (self.only.is_empty() && !self.quick)
    }

    /// A long scenario in round `round`: every round when named in `--only`, the first round
    /// only in a full run, which must fit in 15 minutes (issue 21).
    fn runs_heavy_in(&self, round: usize, scenario: &str) -> bool {
        self.only.iter().any(|s| s == scenario) || (round == 1 && self.runs_heavy(scenario))
    }
}

/// Fixed rate of the latency run, records per second.
const LATENCY_RATE: u32 = 5_000;
/// Value size in the latency run.
const LATENCY_RECORD_BYTES: usize = 100;
/// Partitions of the group's topic, shared by the members.
const GROUP_PARTITIONS: i32 = 6;
/// Members in the group run.
const GROUP_MEMBERS: usize = 3;
/// Groups formed per round (each a new group): one sample is at the mercy of where the
/// members' heartbeats fall.
const GROUP_RUNS: usize = 3;
/// The consumer protocol's heartbeat interval on both brokers (the broker sets it), the classic
/// members' `heartbeat.interval.ms`.
const CONSUMER_HEARTBEAT_MS: u32 = 100;

const GIB: f64 = (1u64 << 30) as f64;
const MIB: f64 = (1u64 << 20) as f64;

/// A record size as the table names it: "1 KiB" or "100 B".
pub(crate) fn size_label(record_bytes: usize) -> String {
    if record_bytes == 1024 {
        "1 KiB".to_string()
    } else {
        format!("{record_bytes} B")
    }
}

/// The produce runs: value size, acks, partitions.
fn produce_specs(sizes: Sizes) -> Vec<ProduceSpec> {
    let mut specs = Vec::new();
    for (record_bytes, records) in [(1024, sizes.produce_1k), (100, sizes.produce_100b)] {
        for acks in ["1", "all"] {
            for partitions in [1, 8] {
                specs.push(ProduceSpec {
                    record_bytes,
                    records,
                    acks,
                    partitions,
                    keys: None,
                });
            }
        }
    }
    specs
}

fn produce_key(s: &ProduceSpec) -> String {
    format!(
        "produce_{}b_acks{}_p{}",
        s.record_bytes, s.acks, s.partitions
    )
}

/// Every reported figure, in table order.
fn metrics(sizes: Sizes, quick: bool) -> Vec<Metric> {
    let mut m = Vec::new();
    let mut add = |key: String, label: String, unit, better, target| {
        m.push(Metric {
            key,
            label,
            unit,
            better,
            target,
        })
    };
    for s in produce_specs(sizes) {
        let size = size_label(s.record_bytes);
        add(
            produce_key(&s),
            format!(
                "Produce {size}, acks={}, {} partition{}",
                s.acks,
                s.partitions,
                if s.partitions == 1 { "" } else { "s" }
            ),
            "MiB/s",
            Better::Higher,
            Target::RatioAtLeast(2.0),
        );
    }
    add(
        "consume_1kib_p1".into(),
        format!(
            "Consume {} MiB of 1 KiB records from the start, 1 partition",
            sizes.consume_bytes >> 20
        ),
        "MiB/s",
        Better::Higher,
        Target::RatioAtLeast(2.0),
    );
    for (key, label, target) in [
        ("latency_p50_ms", "End-to-end latency p50", Target::None),
        (
            "latency_p99_ms",
            "End-to-end latency p99",
            Target::RatioAtMostAndBelow(0.2, 1.0),
        ),
        ("latency_p999_ms", "End-to-end latency p99.9", Target::None),
    ] {
        add(
            key.into(),
            format!("{label} at {LATENCY_RATE} records/s"),
            "ms",
            Better::Lower,
            target,
        );
    }
    add(
        "latency_delivered_per_s".into(),
        format!(
            "Records/s the latency run delivered (offered {LATENCY_RATE}; less means queueing)"
        ),
        "records/s",
        Better::Higher,
        Target::None,
    );
    add(
        "startup_ms".into(),
        "Process start to first Metadata response".into(),
        "ms",
        Better::Lower,
        Target::Below(20.0),
    );
    add(
        "idle_rss_mib".into(),
        "Idle RSS after startup".into(),
        "MiB",
        Better::Lower,
        Target::Below(15.0),
    );
    add(
        "peak_rss_mib".into(),
        "Peak RSS (VmHWM) by the end of the load".into(),
        "MiB",
        Better::Lower,
        Target::None,
    );
    add(
        "anon_rss_mib".into(),
        "Anonymous RSS (RssAnon: heap, not mapped files) at the end of the load".into(),
        "MiB",
        Better::Lower,
        Target::None,
    );
    add(
        "cpu_per_gib_produced".into(),
        "Broker CPU per GiB produced (1 KiB, acks=1)".into(),
        "s/GiB",
        Better::Lower,
        Target::RatioAtMost(0.5),
    );
    add(
        "cpu_per_gib_consumed".into(),
        "Broker CPU per GiB consumed".into(),
        "s/GiB",
        Better::Lower,
        Target::RatioAtMost(0.5),
    );
    add(
        "commits_per_s".into(),
        "Offset commits/s of one consumer committing (sync) after every record".into(),
        "commits/s",
        Better::Higher,
        Target::RatioAtLeast(3.0),
    );
    add(
        "group3_assigned_ms".into(),
        format!(
            "Group of {GROUP_MEMBERS}: last subscribe to all {GROUP_PARTITIONS} partitions assigned"
        ),
        "ms",
        Better::Lower,
        Target::Below(100.0),
    );
    add(
        "group3_consumer_assigned_ms".into(),
        format!(
            "Group of {GROUP_MEMBERS}, consumer protocol (KIP-848, heartbeat every \
             {CONSUMER_HEARTBEAT_MS} ms): last subscribe to all {GROUP_PARTITIONS} partitions \
             assigned"
        ),
        "ms",
        Better::Lower,
        Target::RatioAtMostAndBelow(1.0, CONSUMER_HEARTBEAT_MS as f64),
    );
    for (client, name) in [("", "rdkafka"), ("_java", "Java")] {
        add(
            format!("txn{client}_per_s"),
            format!(
                "Transactions/s: begin, {} records of 1 KiB over {} partitions, commit (one \
                 transactional {name} producer)",
                txn::RECORDS_PER_TXN,
                txn::PARTITIONS
            ),
            "txns/s",
            Better::Higher,
            Target::RatioAtLeast(2.0),
        );
        for label in ["p50", "p99"] {
            add(
                format!("txn{client}_latency_{label}_ms"),
                format!(
                    "End-to-end latency {label} of the {name} producer's transactions, send to \
                     read_committed delivery"
                ),
                "ms",
                Better::Lower,
                Target::None,
            );
        }
    }
    let c = sizes.compact;
    add(
        "compact_mib_per_s".into(),
        format!(
            "Compaction: first cleaning of {} MiB of 1 KiB records over {} keys (MiB of log \
             read / s)",
            c.bytes >> 20,
            c.keys
        ),
        "MiB/s",
        Better::Higher,
        Target::RatioAtLeast(2.0),
    );
    add(
        "compact_wall_s".into(),
        "Compaction: log made compacted to cleaned segments swapped in".into(),
        "s",
        Better::Lower,
        Target::None,
    );
    add(
        "compact_cpu_s".into(),
        "Compaction: broker CPU during the first cleaning".into(),
        "s",
        Better::Lower,
        Target::None,
    );
    add(
        "compact_after_mib".into(),
        "Compaction: cleaned segments' size after the first cleaning".into(),
        "MiB",
        Better::Lower,
        Target::None,
    );
    m.extend(raw_load::metrics(quick));
    m
}

/// Runs the whole benchmark and writes the results; returns the Markdown table.
pub fn run(options: &Options) -> anyhow::Result<String> {
    let run_started = Instant::now();
    let started_utc = utc_now();
    let sizes = if options.quick { QUICK } else { FULL };
    let gregor = Launcher::Gregor(gregor_binary(options)?);
    let kafka = if options.vs_kafka {
        match brokers::kafka_lib_dir() {
            Ok(lib) => Ok(Launcher::Kafka(lib)),
            Err(e) => {
                eprintln!(
                    "bench: Apache Kafka is unavailable, so this run measures Gregor only: {e:#}\n\
                     bench: (install a JDK 17+ and Maven, or pass --gregor-only to skip this)"
                );
                Err(format!("{e:#}"))
            }
        }
    } else {
        Err("--gregor-only".to_string())
    };
    let kfake = if options.kfake.unwrap_or(!options.quick) {
        match brokers::kfake_binary(&target_dir()) {
            Ok(bin) => Ok(Launcher::Kfake(bin)),
            Err(e) => {
                eprintln!("bench: kfake is unavailable, so this run leaves it out: {e:#}");
                Err(format!("{e:#}"))
            }
        }
    } else {
        Err("not asked for (--kfake)".to_string())
    };
    // The security rows take a broker of their own: not in quick runs unless named, and in
    // the first round only of a full run.
    let security = if options.runs_heavy("security") {
        Some(secure::Material::generate()?)
    } else {
        None
    };
    let load_before = loadavg();
    let mut samples = Samples::default();
    let mut errors = Vec::new();
    let mut pids = Vec::new();
    // First, on a machine nothing has loaded yet: after the rounds, the first broker to start
    // paid for the memory the rounds had used (kfake's holds its whole load in RAM, 19 GB in a
    // full run), and its clean start took 1.7 s against 38 ms on its own.
    let startup_sizes = startup_round(
        options,
        &gregor,
        kafka.as_ref().ok(),
        &mut samples,
        &mut errors,
    );
    for round in 1..=options.rounds {
        let mut order = vec![&gregor];
        if let Ok(k) = &kafka {
            // Alternate who goes first, so a drift of the machine shows on both sides.
            if round % 2 == 0 {
                order.insert(0, k);
            } else {
                order.push(k);
            }
        }
        // A reference column, not a contender: always last.
        if let Ok(f) = &kfake {
            order.push(f);
        }
        for launcher in order {
            let name = launcher.kind().name();
            eprintln!("bench: round {round}/{}: {name}", options.rounds);
            let round_started = Instant::now();
            let r = one_round(launcher, options, round, sizes, &mut samples, &mut pids);
            if let Err(e) = r {
                eprintln!("bench: round {round} {name} failed: {e:#}");
                errors.push(format!("round {round} {name}: {e:#}"));
            }
            // kfake has no log cleaner.
            if options.runs("compact") && launcher.kind() != brokers::Kind::Kfake {
                if let Err(e) = compact_round(launcher, sizes, &mut samples, &mut pids) {
                    eprintln!("bench: round {round} {name} compaction failed: {e:#}");
                    errors.push(format!("round {round} {name} compaction: {e:#}"));
                }
            }
            if let Some(material) = security
                .as_ref()
                .filter(|_| launcher.kind() != brokers::Kind::Kfake)
                .filter(|_| options.runs_heavy_in(round, "security"))
            {
                let (records, bytes) = (sizes.produce_1k, sizes.consume_bytes);
                let r = secure::round(launcher, material, records, bytes, &mut samples, &mut pids);
                if let Err(e) = r {
                    eprintln!("bench: round {round} {name} security rows failed: {e:#}");
                    errors.push(format!("round {round} {name} security: {e:#}"));
                }
            }
            if options.runs_heavy_in(round, "mixed") && launcher.kind() != brokers::Kind::Kfake {
                let r = mixed::round(
                    launcher,
                    LATENCY_RATE,
                    sizes.latency_run,
                    &mut samples,
                    &mut pids,
                );
                if let Err(e) = r {
                    eprintln!("bench: round {round} {name} mixed failed: {e:#}");
                    errors.push(format!("round {round} {name} mixed: {e:#}"));
                }
            }
            // Once: creating 10,000 partitions takes Kafka a while.
            if round == 1 && options.runs_heavy("scale") && launcher.kind() != brokers::Kind::Kfake
            {
                if let Err(e) = scale::round(launcher, &mut samples, &mut pids) {
                    eprintln!("bench: round {round} {name} scale failed: {e:#}");
                    errors.push(format!("round {round} {name} scale: {e:#}"));
                }
            }
            eprintln!(
                "bench: round {round} {name} took {:.1} s",
                round_started.elapsed().as_secs_f64()
            );
        }
    }
    let info = RunInfo {
        mode: if options.quick { "quick" } else { "full" },
        rounds: options.rounds,
        kafka: kafka
            .as_ref()
            .map(|_| brokers::KAFKA_VERSION.to_string())
            .map_err(Clone::clone),
        kfake: kfake
            .as_ref()
            .map(|_| brokers::KFAKE_VERSION.to_string())
            .map_err(Clone::clone),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        load_before,
        load_after: loadavg(),
        started_utc,
        elapsed_s: run_started.elapsed().as_secs_f64(),
        errors,
        pids,
        workload: format!(
            "{} {}{}{}{}{}{}",
            workload_text(sizes),
            raw_load::workload_text(options.quick),
            match security {
                Some(_) => format!(
                    " {}",
                    secure::workload_text(sizes.produce_1k, sizes.consume_bytes)
                ),
                None => String::new(),
            },
            if options.runs_heavy("scale") {
                format!(" {}", scale::workload_text())
            } else {
                String::new()
            },
            if options.runs_heavy("groups") {
                format!(" {}", groups::workload_text())
            } else {
                String::new()
            },
            if options.runs_heavy("mixed") {
                format!(" {}", mixed::workload_text(LATENCY_RATE, sizes.latency_run))
            } else {
                String::new()
            },
            if startup_sizes.is_empty() {
                String::new()
            } else {
                format!(
                    " {}",
                    startup::workload_text(&startup_sizes, startup::can_drop_caches())
                )
            }
        ),
    };
    let mut metrics = metrics(sizes, options.quick);
    // The long rows only when they ran, so every row of the table has figures.
    if security.is_some() {
        metrics.extend(secure::metrics(sizes.consume_bytes));
    }
    if options.runs_heavy("scale") {
        metrics.extend(scale::metrics());
    }
    if options.runs_heavy("groups") {
        metrics.extend(groups::metrics());
    }
    if options.runs_heavy("mixed") {
        metrics.extend(mixed::metrics(LATENCY_RATE));
    }
    metrics.extend(startup::metrics(&startup_sizes));
    let md = report::markdown(&info, &metrics, &samples);
    std::fs::create_dir_all(&options.out)
        .with_context(|| format!("creating {}", options.out.display()))?;
    std::fs::write(options.out.join("results.md"), &md)?;
    std::fs::write(
        options.out.join("results.json"),
        serde_json::to_string_pretty(&report::json(&info, &metrics, &samples))?,
    )?;
    eprintln!(
        "bench: wrote {} and results.json",
        options.out.join("results.md").display()
    );
    Ok(md)
}

fn workload_text(s: Sizes) -> String {
    format!(
        "Workload: produce runs of {} records of 1 KiB and {} of 100 B (rdkafka, linger.ms=5, no \
         compression, round-robin over the partitions, one producer); consume of {} MiB by one \
         consumer taking records off its queue in batches, after the fill is synced to disk \
         (sync(2): Gregor's writeback thread would count in its CPU, Kafka's kernel flusher \
         threads in neither); latency: {LATENCY_RATE} records/s \
         of {LATENCY_RECORD_BYTES} B for {} s, acks=all, linger.ms=0, timed from each record's \
         intended send time; group: {GROUP_RUNS} new groups per round of {GROUP_MEMBERS} \
         consumers subscribing at once (heartbeat.interval.ms=100, {GROUP_PARTITIONS} \
         partitions) after a one-member warm-up group, with the classic protocol and with the \
         consumer protocol (KIP-848: group.protocol=consumer, the broker's uniform assignor). \
         Both brokers on default settings (no fsync per write) but for \
         group.consumer.heartbeat.interval.ms={CONSUMER_HEARTBEAT_MS} and its lower bound \
         (Kafka's is 5 s), the classic members' heartbeat cadence; Kafka with the 1 GiB heap of kafka-server-start.sh and G1; CPU is the \
         broker process's utime+stime, RSS its VmRSS/VmHWM (the java process for Kafka); VmHWM \
         counts the pages of memory-mapped files a process has read, so Gregor's includes the \
         segments its consumers read, which RssAnon leaves out. Compaction: a broker of its own \
         per round with log.cleaner.backoff.ms=100 (otherwise defaults: one cleaner thread, \
         128 MiB dedupe buffer); one partition, segment.bytes={} MiB, \
         min.cleanable.dirty.ratio=0.5, min.compaction.lag.ms=0; {} MiB of 1 KiB values with \
         8-byte keys drawn uniformly from {} (the same sequence on both brokers) written with \
         cleanup.policy=delete, then switched to compact, so the whole log becomes cleanable at \
         once; timed from the switch until the broker reports the cleaning done (its log line \
         or cleaner-offset-checkpoint) and the segments below the active one hold under a third \
         of their bytes; MiB/s is their bytes before over that time. Transactions: {} timed \
         transactions back to back from one transactional producer (linger.ms=5) over a \
         3-partition topic, read from its start by an rdkafka read_committed consumer \
         (fetch.wait.max.ms=100); latency from each record's send call to its delivery; the \
         rdkafka producer after one untimed transaction (rdkafka 0.39's commit_transaction \
         first flushes with a poll of at least 100 ms while a record is unacknowledged, so that \
         row stays near 10/s on any broker, and times a tenth as many), the Java producer (Kafka {} clients, a process of \
         its own) after {} untimed ones.",
        s.produce_1k,
        s.produce_100b,
        s.consume_bytes >> 20,
        s.latency_run.as_secs(),
        s.compact.segment_bytes >> 20,
        s.compact.bytes >> 20,
        s.compact.keys,
        s.transactions,
        crate::kafka_tools::KAFKA_VERSION,
        txn::JAVA_WARMUP,
    )
}

/// One broker, started fresh, through every scenario, then stopped.
fn one_round(
    launcher: &Launcher,
    options: &Options,
    round: usize,
    sizes: Sizes,
    samples: &mut Samples,
    pids: &mut Vec<u32>,
) -> anyhow::Result<()> {
    let kind = launcher.kind();
    // Defaults but for the consumer protocol's heartbeat interval, which only its group row
    // uses (Kafka's lower bound, 5 s, lowered to allow it).
    let heartbeat = CONSUMER_HEARTBEAT_MS.to_string();
    let broker = launcher.start_with(&[
        ("group.consumer.heartbeat.interval.ms", &heartbeat),
        ("group.consumer.min.heartbeat.interval.ms", &heartbeat),
    ])?;
    let pid = broker.pid();
    pids.push(pid);
    let watcher = if options.live_view && kind == brokers::Kind::Gregor {
        Some(live_view::Watcher::start(&broker).context("opening the live view")?)
    } else {
        None
    };
    let bootstrap = broker.bootstrap.clone();
    samples.add("startup_ms", kind, broker.startup.as_secs_f64() * 1e3);
    eprintln!(
        "bench:   {} answered Metadata {:.1} ms after start (pid {pid}, {})",
        kind.name(),
        broker.startup.as_secs_f64() * 1e3,
        broker.dir().display()
    );
    // Run the scenarios; stop the broker whatever they did.
    let result = (|| -> anyhow::Result<()> {
        std::thread::sleep(sizes.idle_settle);
        samples.add("idle_rss_mib", kind, procfs::memory(pid)?.rss as f64 / MIB);

        for spec in produce_specs(sizes)
            .into_iter()
            .filter(|_| options.runs("produce"))
        {
            let key = produce_key(&spec);
            let topic = key.replace('_', "-");
            load::create_topic(&bootstrap, &topic, spec.partitions)?;
            let (broker0, client0) = (procfs::cpu_seconds(pid)?, own_cpu()?);
            let t = load::produce(&bootstrap, &topic, spec).with_context(|| key.clone())?;
            // Who was busy: on a small machine the one producer can be the limit, not the broker.
            eprintln!(
                "bench:   {key}: {:.1} MiB/s in {:.2} s; CPU s: broker {:.2}, load generator {:.2}",
                t.mib_per_s(),
                t.elapsed.as_secs_f64(),
                procfs::cpu_seconds(pid)? - broker0,
                own_cpu()? - client0
            );
            samples.add(&key, kind, t.mib_per_s());
        }

        if options.runs("consume") {
            let topic = "consume-1kib";
            load::create_topic(&bootstrap, topic, 1)?;
            let fill = ProduceSpec {
                record_bytes: 1024,
                records: sizes.consume_bytes / 1024,
                acks: "1",
                partitions: 1,
                keys: None,
            };
            let (cpu0, own0) = (procfs::cpu_seconds(pid)?, own_cpu()?);
            let written = load::produce(&bootstrap, topic, fill).context("filling the topic")?;
            let (cpu1, own1) = (procfs::cpu_seconds(pid)?, own_cpu()?);
            settle_writeback();
            let (read0, own_read0) = (procfs::cpu_seconds(pid)?, own_cpu()?);
            let read = load::consume(&bootstrap, topic, 1, written.records).context("consume")?;
            let (cpu2, own2) = (procfs::cpu_seconds(pid)?, own_cpu()?);
            samples.add(
                "cpu_per_gib_produced",
                kind,
                (cpu1 - cpu0) / (written.bytes as f64 / GIB),
            );
            samples.add("consume_1kib_p1", kind, read.mib_per_s());
            samples.add(
                "cpu_per_gib_consumed",
                kind,
                (cpu2 - read0) / (read.bytes as f64 / GIB),
            );
            eprintln!(
                "bench:   fill {:.1} MiB/s, CPU s: broker {:.2}, load generator {:.2}; \
                 consume {:.1} MiB/s, CPU s: broker {:.2}, load generator {:.2}",
                written.mib_per_s(),
                cpu1 - cpu0,
                own1 - own0,
                read.mib_per_s(),
                cpu2 - read0,
                own2 - own_read0,
            );
        }

        if options.runs("latency") {
            let topic = "latency";
            load::create_topic(&bootstrap, topic, 1)?;
            let l = load::latency(
                &bootstrap,
                topic,
                LATENCY_RATE,
                sizes.latency_run,
                LATENCY_RECORD_BYTES,
            )
            .context("latency")?;
            eprintln!(
            "bench:   latency p50 {:.3} ms, p99 {:.3} ms, p99.9 {:.3} ms, max {:.3} ms ({} records, {:.0}/s delivered)",
            l.p50, l.p99, l.p999, l.max, l.samples, l.delivered_per_s
        );
            samples.add("latency_p50_ms", kind, l.p50);
            samples.add("latency_p99_ms", kind, l.p99);
            samples.add("latency_p999_ms", kind, l.p999);
            samples.add("latency_delivered_per_s", kind, l.delivered_per_s);
        }

        if options.runs("group") {
            let topic = "group";
            load::create_topic(&bootstrap, topic, GROUP_PARTITIONS)?;
            for (protocol, key) in [
                (GroupProtocol::Classic, "group3_assigned_ms"),
                (GroupProtocol::Consumer, "group3_consumer_assigned_ms"),
            ] {
                // The first group use makes Kafka create __consumer_offsets (and load its
                // consumer-protocol machinery); keep that out of the figure.
                let warmup = format!("bench-warmup-{protocol:?}");
                load::group_join(&bootstrap, topic, GROUP_PARTITIONS, &warmup, 1, protocol)
                    .with_context(|| format!("{protocol:?} warm-up group"))?;
                for i in 0..GROUP_RUNS {
                    let joined = load::group_join(
                        &bootstrap,
                        topic,
                        GROUP_PARTITIONS,
                        &format!("bench-group-{protocol:?}-{i}"),
                        GROUP_MEMBERS,
                        protocol,
                    )
                    .with_context(|| format!("{protocol:?} group"))?;
                    eprintln!(
                        "bench:   {protocol:?} group of {GROUP_MEMBERS} assigned in {:.1} ms",
                        joined.as_secs_f64() * 1e3
                    );
                    samples.add(key, kind, joined.as_secs_f64() * 1e3);
                }
            }
        }

        if options.runs("commit") {
            let topic = "commit";
            load::create_topic(&bootstrap, topic, 1)?;
            let fill = ProduceSpec {
                record_bytes: 100,
                records: sizes.commits,
                acks: "1",
                partitions: 1,
                keys: None,
            };
            load::produce(&bootstrap, topic, fill).context("filling the commit topic")?;
            // Kafka answers NOT_COORDINATOR until it has created and loaded __consumer_offsets
            // (the group rows warm it up when they run first).
            crate::reference::wait_for_group_coordinator(&bootstrap, load::COMMIT_GROUP)?;
            let (cpu0, own0) = (procfs::cpu_seconds(pid)?, own_cpu()?);
            let rate = load::commit_each(&bootstrap, topic, sizes.commits).context("commit")?;
            eprintln!(
                "bench:   {rate:.0} commits/s; CPU s: broker {:.2}, load generator {:.2}",
                procfs::cpu_seconds(pid)? - cpu0,
                own_cpu()? - own0
            );
            samples.add("commits_per_s", kind, rate);
        }

        if options.runs("txn") {
            for (client, topic, key) in [
                (txn::Client::Rdkafka, "txn", "txn"),
                (txn::Client::Java, "txn-java", "txn_java"),
            ] {
                load::create_topic(&bootstrap, topic, txn::PARTITIONS)?;
                let (cpu0, own0) = (procfs::cpu_seconds(pid)?, own_cpu()?);
                // rdkafka's row is pinned near 10/s by the client: a tenth of the count tells
                // as much in a tenth of the time.
                let count = match client {
                    txn::Client::Rdkafka => sizes.transactions.div_ceil(10),
                    txn::Client::Java => sizes.transactions,
                };
                let t = txn::run(&bootstrap, topic, count, client)
                    .with_context(|| format!("{client:?} transactions"))?;
                eprintln!(
                    "bench:   {client:?}: {:.0} transactions/s, read_committed latency p50 {:.2} \
                     ms, p99 {:.2} ms ({} records); CPU s: broker {:.2}, load generator {:.2}",
                    t.per_s,
                    t.p50,
                    t.p99,
                    t.samples,
                    procfs::cpu_seconds(pid)? - cpu0,
                    own_cpu()? - own0
                );
                samples.add(&format!("{key}_per_s"), kind, t.per_s);
                samples.add(&format!("{key}_latency_p50_ms"), kind, t.p50);
                samples.add(&format!("{key}_latency_p99_ms"), kind, t.p99);
            }
        }

        if options.runs("raw") {
            raw_load::round(&bootstrap, pid, kind, options.quick, samples)?;
        }

        if options.runs_heavy_in(round, "groups") && kind != brokers::Kind::Kfake {
            groups::round(&bootstrap, pid, kind, samples).context("groups")?;
        }

        let memory = procfs::memory(pid)?;
        samples.add("peak_rss_mib", kind, memory.peak as f64 / MIB);
        samples.add("anon_rss_mib", kind, memory.anon as f64 / MIB);
        Ok(())
    })();
    if let Some(w) = watcher {
        eprintln!("bench:   the live view sent {} KiB", w.bytes() >> 10);
    }
    let stopped = broker.stop();
    result?;
    stopped
}

/// The start-up rows, once per broker (not per round: each fills its data dir), unless
/// `--quick` leaves them out; returns the sizes measured.
fn startup_round(
    options: &Options,
    gregor: &Launcher,
    kafka: Option<&Launcher>,
    samples: &mut Samples,
    errors: &mut Vec<String>,
) -> Vec<u64> {
    let big = options.only.iter().any(|s| s == "startup-big");
    if !big && (options.quick || !options.runs("startup")) {
        return Vec::new();
    }
    let sizes = startup::sizes(big, if big { startup::big_bytes() } else { 0 });
    for &bytes in &sizes {
        for launcher in std::iter::once(gregor).chain(kafka) {
            let name = launcher.kind().name();
            eprintln!("bench: start-up with {} MiB: {name}", bytes >> 20);
            if let Err(e) = startup::round(launcher, bytes, samples) {
                eprintln!("bench: start-up {name} failed: {e:#}");
                errors.push(format!("start-up {} MiB {name}: {e:#}", bytes >> 20));
            }
        }
    }
    sizes
}

/// The compaction scenario on a broker of its own, started with the cleaner settings, so every
/// other scenario runs on the defaults.
fn compact_round(
    launcher: &Launcher,
    sizes: Sizes,
    samples: &mut Samples,
    pids: &mut Vec<u32>,
) -> anyhow::Result<()> {
    let kind = launcher.kind();
    let broker = launcher.start_with(&compact::BROKER_SETTINGS)?;
    pids.push(broker.pid());
    let result = compact::run(&broker, "compact", sizes.compact);
    let stopped = broker.stop();
    let c = result?;
    eprintln!(
        "bench:   compact: {:.1} MiB below the active segment cleaned to {:.1} MiB in {:.2} s \
         ({:.1} MiB/s; end seen by {}); CPU s: broker {:.2}; the broker says: {}",
        c.before as f64 / MIB,
        c.after as f64 / MIB,
        c.elapsed.as_secs_f64(),
        c.mib_per_s(),
        c.seen_by,
        c.cpu_seconds,
        c.broker_says
    );
    samples.add("compact_mib_per_s", kind, c.mib_per_s());
    samples.add("compact_wall_s", kind, c.elapsed.as_secs_f64());
    samples.add("compact_cpu_s", kind, c.cpu_seconds);
    samples.add("compact_after_mib", kind, c.after as f64 / MIB);
    stopped
}

/// The gregor binary: as given, or built now in release mode.
fn gregor_binary(options: &Options) -> anyhow::Result<PathBuf> {
    if let Some(bin) = &options.gregor_bin {
        if !bin.exists() {
            bail!("gregor binary {} does not exist", bin.display());
        }
        return Ok(bin.clone());
    }
    eprintln!("bench: building the release gregor binary (cargo build --release -p gregor)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "build",
            "--release",
            "-p",
            "gregor",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo build")?;
    if !output.status.success() {
        bail!("cargo build --release -p gregor failed ({})", output.status);
    }
    // Cargo names each built executable in its JSON messages, wherever the target dir is.
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "gregor" {
            if let Some(exe) = msg["executable"].as_str() {
                return Ok(exe.into());
            }
        }
    }
    bail!("cargo build did not report a gregor executable")
}

/// Waits until the page cache holds no dirty data (sync(2)), between a fill and the consume
/// row that reads it, so that the row measures reading and not the fill's writeback: Gregor
/// writes back on a thread of its own (`bytes_per_sync`), counted in its CPU, and Kafka leaves
/// it to the kernel's flusher threads, counted in neither broker's.
fn settle_writeback() {
    // SAFETY: sync(2) takes no arguments, touches no memory of ours and cannot fail.
    unsafe { libc::sync() };
}

/// CPU seconds this process (the load generator) has used.
fn own_cpu() -> anyhow::Result<f64> {
    procfs::cpu_seconds(std::process::id())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default()
}

/// The current UTC time as `date -u` would print it, without a date crate.
fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::Options;

    fn options(args: &[&str]) -> Options {
        Options::parse(args.iter().map(|a| a.to_string())).unwrap()
    }

    #[test]
    fn long_rows_run_once_in_a_full_run_and_every_round_when_named() {
        let full = options(&[]);
        assert!(full.runs_heavy_in(1, "mixed"));
        assert!(!full.runs_heavy_in(2, "mixed"));
        let named = options(&["--only", "mixed,raw"]);
        assert!(named.runs_heavy_in(3, "mixed"));
        assert!(!named.runs_heavy_in(1, "security"));
        assert!(!options(&["--quick"]).runs_heavy_in(1, "groups"));
    }

    #[test]
    fn a_full_run_does_one_round_unless_asked_for_more() {
        assert_eq!(options(&[]).rounds, 1);
        assert_eq!(options(&["--rounds", "3"]).rounds, 3);
        assert_eq!(options(&["--quick"]).rounds, 3);
        assert_eq!(options(&["--only", "commit"]).rounds, 3);
        assert!(Options::parse(["--rounds".to_string(), "0".to_string()]).is_err());
    }
}
