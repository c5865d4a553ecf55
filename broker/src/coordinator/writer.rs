//! The one writer of a coordinator's internal log: a thread of its own that appends the
//! coordinator's records to `__consumer_offsets` through the partition layer (origin
//! Coordinator), so no async worker ever waits for an append, a segment roll or an fsync.
//! Kafka's CoordinatorRuntime writes through the partition's append path the same way, off
//! the request threads.
//!
//! Writes are appended in the order they were submitted. Whatever is queued when the thread
//! wakes goes out as one append (one batch per write, one fsync with `--fsync-always` for all
//! of them: group commit), and each write's outcome is reported back by its id.

use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use bytes::Bytes;

use crate::broker::now_ms;

/// Appends encoded batches to the coordinator's partition and returns the first batch's base
/// offset; called on a blocking thread (the writer's, or at start-up). The broker's is the
/// partition layer's coordinator append; tests append to a bare log.
pub type AppendBatches = Arc<dyn Fn(Bytes) -> Result<i64, String> + Send + Sync>;

/// Identifies one submitted write.
pub type WriteId = u64;

/// Where a coordinator's writes go: the log thread, or a test's stand-in.
pub trait WriteQueue<R>: Send {
    /// Queues `records` as write `id`; its outcome comes back through the channel the queue
    /// was made with.
    fn submit(&mut self, id: WriteId, records: Vec<R>);
}

/// Encodes a write's records as batches stamped `timestamp` (`None` for none).
pub type Encode<R> = fn(&[R], i64) -> Option<Vec<u8>>;

/// The outcome of one write: `true` when its records are in the log.
pub type Written = (WriteId, bool);

/// Submits writes of records `R` to the writer thread.
pub struct LogWriter<R> {
    jobs: std_mpsc::Sender<(WriteId, Vec<R>)>,
}

impl<R: Send + 'static> LogWriter<R> {
    /// Starts the writer thread encoding with `encode` and appending through `append`;
    /// outcomes go to `done`. The thread ends once this `LogWriter` is dropped and the queued
    /// writes are done.
    pub fn start(
        append: AppendBatches,
        encode: Encode<R>,
        done: tokio::sync::mpsc::UnboundedSender<Written>,
    ) -> std::io::Result<LogWriter<R>> {
        let (jobs, queue) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("coordinator-writer".into())
            .spawn(move || write_loop(&append, encode, &queue, &done))?;
        Ok(LogWriter { jobs })
    }
}

impl<R: Send> WriteQueue<R> for LogWriter<R> {
    fn submit(&mut self, id: WriteId, records: Vec<R>) {
        // The thread only ends after this sender is gone, so the send cannot fail.
        let _ = self.jobs.send((id, records));
    }
}

fn write_loop<R>(
    append: &AppendBatches,
    encode: Encode<R>,
    queue: &std_mpsc::Receiver<(WriteId, Vec<R>)>,
    done: &tokio::sync::mpsc::UnboundedSender<Written>,
) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        jobs.extend(queue.try_iter());
        let now = now_ms();
        let batches: Vec<u8> = jobs
            .iter()
            .filter_map(|(_, records)| encode(records, now))
            .flatten()
            .collect();
        // One append for every queued write: all of them land, or (a full disk, a failed
        // write) none.
        let ok = batches.is_empty()
            || match append(Bytes::from(batches)) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(cause = %e, writes = jobs.len(), "could not write to a coordinator log");
                    false
                }
            };
        for (id, _) in jobs {
            let _ = done.send((id, ok));
        }
    }
}
