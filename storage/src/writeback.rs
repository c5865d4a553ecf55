//! Smooth writeback of appended bytes (issue 21): after every `bytes_per_sync` bytes appended
//! to a segment, one background thread per broker asks the kernel to start writing that range
//! to disk (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), then waits for the range before it to
//! be written. Dirty page cache then stays near `bytes_per_sync` per busy log instead of
//! growing to the kernel's `dirty_background_ratio`, where the flusher's bulk writeback stalls
//! appends for milliseconds. RocksDB's `bytes_per_sync` does the same; Kafka has no
//! counterpart (it leaves writeback to the kernel). No durability promise comes from this:
//! only an fsync (`flush.messages`, `flush.ms`, a roll, a close) makes data durable, and
//! appends never wait for this thread.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use crate::log_segment::LogSegment;

/// Default `gregor.log.bytes.per.sync`: RocksDB's recommended 1 MiB.
pub const DEFAULT_BYTES_PER_SYNC: u64 = 1 << 20;

/// `gregor.log.bytes.per.sync` of this process (0: off, writeback is left to the kernel).
static BYTES_PER_SYNC: AtomicU64 = AtomicU64::new(DEFAULT_BYTES_PER_SYNC);

/// Sets how many appended bytes of a segment make its range due for writeback (0: never).
pub fn set_bytes_per_sync(bytes: u64) {
    BYTES_PER_SYNC.store(bytes, Ordering::Relaxed);
}

/// A writeback failure the next fsync of the log must report: waiting on writeback consumes
/// the kernel's error report for the file, so an fsync after it would otherwise succeed
/// although the page cache holds bytes the disk lost.
#[derive(Debug, Default)]
pub struct Failure(Mutex<Option<String>>);

impl Failure {
    /// The first failure seen, if any.
    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, what: String) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(what);
    }
}

/// How far one log's active segment has been handed to the writeback thread. Lives under the
/// log's append lock.
#[derive(Debug, Default)]
pub struct Cursor {
    /// Base offset of the segment `handed` counts in.
    base: i64,
    /// Bytes of that segment already handed over.
    handed: u64,
}

impl Cursor {
    /// After an append brought `segment` to `size` bytes: hands the bytes not yet handed to
    /// the writeback thread once there are at least `bytes_per_sync` of them.
    pub fn appended(&mut self, segment: &Arc<LogSegment>, failure: &Arc<Failure>) {
        let threshold = BYTES_PER_SYNC.load(Ordering::Relaxed);
        if threshold == 0 {
            return;
        }
        let size = segment.size();
        if let Some((start, end)) = self.due(segment.base_offset(), size, threshold) {
            thread().submit(Job {
                segment: segment.clone(),
                failure: failure.clone(),
                start,
                end,
            });
        }
    }

    /// The range `[start, end)` due for writeback, if any, given the segment's base and size.
    fn due(&mut self, base: i64, size: u64, threshold: u64) -> Option<(u64, u64)> {
        if base != self.base || size < self.handed {
            // A new segment (a roll), or a segment cut back by recovery.
            self.base = base;
            self.handed = 0;
        }
        if size - self.handed < threshold {
            return None;
        }
        let start = self.handed;
        self.handed = size;
        Some((start, size))
    }
}

/// A range of a segment's `.log` to write back.
struct Job {
    /// Held so the segment lives until the job is done; once the segment has released its
    /// descriptor (sealed and synced whole) the job has nothing left to do.
    segment: Arc<LogSegment>,
    /// The log's, set if the job fails.
    failure: Arc<Failure>,
    start: u64,
    end: u64,
}

/// The queue of the one writeback thread.
struct Thread {
    jobs: Mutex<VecDeque<Job>>,
    wake: Condvar,
}

/// The process's writeback thread, started on first use. One per broker (process), not per
/// partition: it only starts and waits for kernel writeback, so one keeps up with the disk.
fn thread() -> &'static Arc<Thread> {
    static THREAD: OnceLock<Arc<Thread>> = OnceLock::new();
    THREAD.get_or_init(|| {
        let t = Arc::new(Thread {
            jobs: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
        });
        let worker = t.clone();
        let spawned = std::thread::Builder::new()
            .name("log-writeback".into())
            .spawn(move || worker.run());
        if let Err(e) = spawned {
            // Without the thread writeback is the kernel's, as with bytes_per_sync 0.
            tracing::warn!(cause = %e, "the writeback thread did not start");
            BYTES_PER_SYNC.store(0, Ordering::Relaxed);
        }
        t
    })
}

impl Thread {
    /// Queues `job`, merged into a queued job of the same segment that it continues, so a
    /// thread that falls behind a fast writer leaves one job per segment, not one per MiB.
    fn submit(&self, job: Job) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(queued) = jobs
            .iter_mut()
            .find(|q| Arc::ptr_eq(&q.segment, &job.segment) && q.end == job.start)
        {
            queued.end = job.end;
            return;
        }
        jobs.push_back(job);
        drop(jobs);
        self.wake.notify_one();
    }

    fn run(&self) {
        // The job whose writeback was started last: waited for after the next one starts, so
        // the disk always has one range queued while the dirty data stays bounded.
        let mut previous: Option<Job> = None;
        loop {
            let job = {
                let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(job) = jobs.pop_front() {
                        break job;
                    }
                    if let Some(p) = previous.take() {
                        // Nothing new: finish the last range before sleeping.
                        drop(jobs);
                        p.wait();
                        jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
                        continue;
                    }
                    jobs = self.wake.wait(jobs).unwrap_or_else(|e| e.into_inner());
                }
            };
            job.start_write();
            if let Some(p) = previous.replace(job) {
                p.wait();
            }
        }
    }
}

impl Job {
    /// Starts writeback of the range (returns once the pages are queued to the disk).
    fn start_write(&self) {
        let r = self
            .segment
            .start_writeback(self.start, self.end, libc::SYNC_FILE_RANGE_WRITE);
        self.check(r);
    }

    /// Waits until the range is written.
    fn wait(&self) {
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE
            | libc::SYNC_FILE_RANGE_WRITE
            | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        let r = self.segment.start_writeback(self.start, self.end, flags);
        self.check(r);
    }

    fn check(&self, result: std::io::Result<()>) {
        if let Err(e) = result {
            let path = self.segment.log_path();
            tracing::warn!(segment = %path.display(), cause = %e, "writeback failed; the next flush takes the log offline");
            self.failure
                .set(format!("writeback of {} failed: {e}", path.display()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn a_range_is_due_once_it_reaches_the_threshold() {
        let mut c = Cursor::default();
        assert_eq!(c.due(0, 100, 1000), None);
        assert_eq!(c.due(0, 1500, 1000), Some((0, 1500)));
        assert_eq!(c.due(0, 2000, 1000), None);
        assert_eq!(c.due(0, 2500, 1000), Some((1500, 2500)));
    }

    #[test]
    fn a_new_segment_starts_from_its_beginning() {
        let mut c = Cursor::default();
        assert_eq!(c.due(0, 1500, 1000), Some((0, 1500)));
        assert_eq!(c.due(7, 500, 1000), None);
        assert_eq!(c.due(7, 1200, 1000), Some((0, 1200)));
        // Cut back (recovery): counted again from the start.
        assert_eq!(c.due(7, 100, 1000), None);
        assert_eq!(c.due(7, 1100, 1000), Some((0, 1100)));
    }
}
