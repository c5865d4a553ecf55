//! The log cleaner: background threads that compact logs whose `cleanup.policy` has
//! `compact`, keeping the latest record of each key; Kafka's `LogCleaner` with its
//! `LogCleanerManager` (which log to clean next) and `CleanerThread`s.
//!
//! Each of `log.cleaner.threads` threads takes, in turn, the log with the highest dirty ratio
//! above its `min.cleanable.dirty.ratio` (or one past `max.compaction.lag.ms`, or one whose
//! tombstones' delete horizon has passed), cleans it (see [`clean`]) and looks again; with
//! nothing to clean it sleeps `log.cleaner.backoff.ms`. A log is cleaned by one thread at a
//! time: the thread holds the log's cleaner state for the whole cleaning, and deleting or
//! closing the log aborts and waits for it. A log whose cleaning fails is left alone until the
//! broker restarts (Kafka marks it uncleanable), since cleaning it again would fail again.

pub mod clean;
pub mod offset_map;
pub mod throttler;
pub mod transactions;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::CleanerConfig;
use crate::error::Result;
use crate::log::PartitionLog;
use crate::log_manager::TopicPartition;
use crate::log_segment::wall_clock_ms;

pub use clean::{CleanStats, Cleaner, LogToClean};
pub use offset_map::OffsetMap;
pub use throttler::Throttler;

thread_local! {
    /// The step at which a test wants this thread's cleaning to stop as if the process died.
    static CRASH_AT: std::cell::Cell<Option<&'static str>> = const { std::cell::Cell::new(None) };
}

/// Makes this thread's next cleaning panic at `step` (one of [`CRASH_STEPS`]), leaving the
/// files exactly as a kill -9 there would; `None` turns it off. For crash tests.
#[doc(hidden)]
pub fn crash_at(step: Option<&'static str>) {
    CRASH_AT.with(|c| c.set(step));
}

/// The steps of a swap a crash test can stop at, in order.
#[doc(hidden)]
pub const CRASH_STEPS: &[&str] = &[
    "cleaned_synced",
    "swap_renamed",
    "first_old_deleted",
    "swap_in_place",
    "old_removed",
];

pub(crate) fn failpoint(step: &'static str) {
    if CRASH_AT.with(|c| c.get()) == Some(step) {
        panic!("simulated crash at {step}");
    }
}

/// Writes the data dir's checkpoints; the cleaner calls it before it first swaps segments of a
/// log, so that from then on a restart knows the log may have offset gaps.
pub type Checkpointer = Arc<dyn Fn() -> Result<()> + Send + Sync>;

/// The logs of a data dir, shared by the log manager and the cleaner threads.
pub type SharedLogs = Arc<RwLock<HashMap<TopicPartition, Arc<PartitionLog>>>>;

/// State the cleaner threads share.
struct Shared {
    logs: SharedLogs,
    checkpoint: Checkpointer,
    config: CleanerConfig,
    throttler: Throttler,
    /// Set to stop the threads; the condvar wakes them from their back-off.
    stopped: Mutex<bool>,
    wake: Condvar,
    /// Logs whose cleaning failed, by folder: skipped until the broker restarts.
    uncleanable: Mutex<HashSet<PathBuf>>,
    /// Cleanings done so far (for tests and diagnostics).
    cleanings: Mutex<u64>,
}

/// The running cleaner threads.
pub struct LogCleaner {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl LogCleaner {
    /// Starts `config.threads` cleaner threads over `logs`.
    pub fn start(logs: SharedLogs, config: CleanerConfig, checkpoint: Checkpointer) -> LogCleaner {
        let shared = Arc::new(Shared {
            logs,
            checkpoint,
            throttler: Throttler::new(config.max_io_bytes_per_second),
            config,
            stopped: Mutex::new(false),
            wake: Condvar::new(),
            uncleanable: Mutex::new(HashSet::new()),
            cleanings: Mutex::new(0),
        });
        let threads = (0..shared.config.threads)
            .filter_map(|n| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("log-cleaner-{n}"))
                    .spawn(move || run(&shared))
                    .inspect_err(
                        |e| tracing::error!(cause = %e, "could not start a log cleaner thread"),
                    )
                    .ok()
            })
            .collect();
        tracing::info!(threads = shared.config.threads, "started the log cleaner");
        LogCleaner { shared, threads }
    }

    /// Cleanings completed since start.
    pub fn cleanings(&self) -> u64 {
        *self
            .shared
            .cleanings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the threads to look for work now (after a config change, in tests).
    pub fn wake(&self) {
        self.shared.wake.notify_all();
    }

    /// Stops the threads, waiting for cleanings in progress to give up.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        *self
            .shared
            .stopped
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = true;
        self.shared.wake.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for LogCleaner {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stopped(shared: &Shared) -> bool {
    *shared.stopped.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(shared: &Shared) {
    let per_thread = shared.config.dedupe_buffer_size / shared.config.threads.max(1) as u64;
    let mut map = OffsetMap::with_buffer(per_thread);
    while !stopped(shared) {
        let worked = clean_filthiest(shared, &mut map);
        if !worked {
            let guard = shared.stopped.lock().unwrap_or_else(|e| e.into_inner());
            if *guard {
                break;
            }
            let backoff = Duration::from_millis(shared.config.backoff_ms.max(1));
            let _ = shared.wake.wait_timeout(guard, backoff);
        }
    }
}

/// Picks the log most in need of cleaning and cleans it; false when none needed it.
fn clean_filthiest(shared: &Shared, map: &mut OffsetMap) -> bool {
    let logs: Vec<Arc<PartitionLog>> = shared
        .logs
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect();
    let now = wall_clock_ms();
    let skipped = shared
        .uncleanable
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut best: Option<(f64, Arc<PartitionLog>)> = None;
    for log in logs {
        // A log the scrub has not finished may hold damaged batches the cleaner would copy
        // into a segment nothing checks again: it waits for the scrub.
        if !log.config().cleanup.compact
            || log.cleaning_aborted()
            || skipped.contains(log.dir())
            || log.needs_scrub()
        {
            continue;
        }
        let Some(state) = log.try_cleaner_state() else {
            continue;
        };
        let measured = clean::measure(&log, &state, now);
        drop(state);
        if !worth_cleaning(&log, &measured) {
            continue;
        }
        let ratio = measured.dirty_ratio();
        if best.as_ref().is_none_or(|(r, _)| ratio > *r) {
            best = Some((ratio, log));
        }
    }
    let Some((_, log)) = best else {
        return false;
    };
    match clean_log(&log, now, map, &shared.throttler, &*shared.checkpoint) {
        Ok(Some(_)) => {
            *shared.cleanings.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::error!(log = %log.dir().display(), cause = %e, "cleaning failed; the log is left uncleaned until restart");
            shared
                .uncleanable
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(log.dir().to_path_buf());
            false
        }
    }
}

/// Kafka's choice: a dirty part above the log's minimum ratio, or a dirty part past
/// `max.compaction.lag.ms`, or tombstones whose horizon has passed.
fn worth_cleaning(log: &PartitionLog, measured: &LogToClean) -> bool {
    let min_ratio = log.config().min_cleanable_dirty_ratio;
    (measured.dirty_bytes > 0
        && (measured.needs_compaction_now || measured.dirty_ratio() > min_ratio))
        || measured.horizon_passed
}

/// Cleans `log` once at `now_ms`, whatever its dirty ratio, waiting for a cleaning another
/// thread has in progress; `checkpoint` makes the data dir's checkpoints durable. `Ok(None)`
/// when there was nothing to do or the cleaning gave way.
pub fn clean_log(
    log: &PartitionLog,
    now_ms: i64,
    map: &mut OffsetMap,
    throttler: &Throttler,
    checkpoint: &dyn Fn() -> Result<()>,
) -> Result<Option<CleanStats>> {
    let mut state = log.cleaner_state();
    if log.cleaning_aborted() {
        return Ok(None);
    }
    let to_clean = clean::measure(log, &state, now_ms);
    if to_clean.dirty_bytes == 0 && !to_clean.horizon_passed {
        return Ok(None);
    }
    let started = Instant::now();
    let cleaner = Cleaner {
        log,
        config: log.config(),
        now_ms,
        throttler,
        checkpoint,
    };
    let stats = cleaner.clean(&to_clean, map, &mut state)?;
    if let Some(stats) = &stats {
        clean::log_stats(log, stats, started);
    }
    Ok(stats)
}
