//! The background scrub: checks, at low priority and a bounded rate, the CRCs of the batches a
//! trusted start-up did not read (see `log_loader`). No Kafka counterpart: Kafka reads no CRC
//! of a cleanly closed segment at all; Gregor keeps its promise that a batch damaged while the
//! broker was down is never served by checking them here, and on the read path until the
//! scrub got there.
//!
//! One thread walks the logs oldest segment first, a chunk at a time, and sleeps so that it
//! reads at most `bytes_per_second` (`gregor.log.scrub.bytes.per.second`). A damaged batch is
//! repaired as recovery would (`PartitionLog::repair_damage`, which logs a WARN naming the
//! file). Progress is observable: an INFO line when it starts and when it is done, and
//! `LogManager::scrub_pending_bytes`.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cleaner::SharedLogs;

/// Default `gregor.log.scrub.bytes.per.second`: 10 GiB are checked in under three minutes,
/// and on a disk doing 500 MB/s the scrub takes a tenth of it.
pub const DEFAULT_BYTES_PER_SECOND: u64 = 64 << 20;

/// The running scrub thread.
pub struct Scrub {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Scrub {
    /// Starts the thread over `logs` at `bytes_per_second` (must be above 0).
    pub fn start(logs: SharedLogs, bytes_per_second: u64) -> Scrub {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("gregor-scrub".into())
            .spawn(move || run(&logs, bytes_per_second.max(1), &flag))
            .map_err(|e| tracing::error!(cause = %e, "could not start the scrub thread; fetches still check unscrubbed batches"))
            .ok();
        Scrub { stop, thread }
    }

    /// Stops the thread and waits for it.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Scrub {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

/// Bytes the scrub still has to check in `logs`.
pub fn pending_bytes(logs: &SharedLogs) -> u64 {
    logs.read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .map(|l| l.unscrubbed_bytes())
        .sum()
}

fn run(logs: &SharedLogs, bytes_per_second: u64, stop: &(Mutex<bool>, Condvar)) {
    lower_priority();
    let pending = pending_bytes(logs);
    if pending == 0 {
        tracing::debug!("scrub: nothing to check");
        return;
    }
    tracing::info!(
        bytes = pending,
        bytes_per_second,
        "scrub started: checking the CRCs start-up trusted"
    );
    // A tenth of a second's worth per step, so the rate is smooth and a stop is quick.
    let chunk = (bytes_per_second / 10).clamp(4 << 10, 8 << 20);
    let started = Instant::now();
    let mut checked: u64 = 0;
    // Logs whose repair failed: fetches keep checking them, the scrub leaves them.
    let mut given_up = std::collections::HashSet::new();
    loop {
        let snapshot: Vec<_> = logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(tp, l)| l.needs_scrub() && !given_up.contains(*tp))
            .map(|(tp, l)| (tp.clone(), l.clone()))
            .collect();
        if snapshot.is_empty() {
            break;
        }
        for (tp, log) in snapshot {
            while log.needs_scrub() {
                match log.scrub_step(chunk) {
                    Ok(0) => break,
                    Ok(n) => checked += n,
                    Err(e) => {
                        tracing::warn!(partition = %tp, cause = %e, "scrub: could not repair a damaged batch; fetches keep checking this log");
                        given_up.insert(tp.clone());
                        break;
                    }
                }
                // Sleep until the bytes checked so far are within the rate.
                let due = Duration::from_secs_f64(checked as f64 / bytes_per_second as f64);
                let wait = due.saturating_sub(started.elapsed());
                let guard = stop.0.lock().unwrap_or_else(|e| e.into_inner());
                if *guard {
                    return;
                }
                if !wait.is_zero() {
                    let (guard, _) = stop
                        .1
                        .wait_timeout(guard, wait)
                        .unwrap_or_else(|e| e.into_inner());
                    if *guard {
                        return;
                    }
                }
            }
        }
    }
    tracing::info!(
        bytes = checked,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "scrub finished: every batch start-up trusted has been checked"
    );
}

/// Nice 10 for the CPU, lowest best-effort priority for the disk: the scrub must not slow
/// requests down.
fn lower_priority() {
    // SAFETY: plain syscalls about the calling thread.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
        // IOPRIO_WHO_PROCESS (1) of this thread (0), class best-effort (2) level 7.
        libc::syscall(libc::SYS_ioprio_set, 1, 0, (2 << 13) | 7);
    }
}
