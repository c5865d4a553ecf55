//! How a coordinator's records reach its internal log (`__consumer_offsets`,
//! `__transaction_state`), appended through the partition layer (origin Coordinator). Kafka's
//! CoordinatorRuntime appends on its event threads through the partition's append path.
//!
//! Two ways, chosen per log at start (`WriteMode::for_log`):
//! - In place: each write is appended on the coordinator's task as it is submitted. Without an
//!   fsync per append that is a page-cache write of a few microseconds, as on Kafka's event
//!   threads; handing it to a thread instead cost a thread wake-up each way, which measured as
//!   most of an OffsetCommit's time in the broker (p50 135 against 57 microseconds).
//! - A writer thread, when every append is fsynced (`--fsync-always`, `flush.messages=1`), so
//!   no async worker waits for the disk: whatever is queued when the thread wakes goes out as
//!   one append (one batch per write, one fsync for all of them: group commit).
//!
//! Either way each write's outcome is reported back by its id and the runtime applies it when
//! it next looks: from the thread on the channel the writer was made with; in place, kept in
//! the writer (`WriteQueue::pop_done`). Not on the channel: the task that appends is the one
//! that receives, and a send woke the task while it ran, which tokio answers by polling it
//! again and waking an idle worker to help, which finds nothing (two futex calls and a
//! context switch per offset commit).

use std::collections::VecDeque;
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;

use bytes::Bytes;
use gregor_storage::{FsyncPolicy, LogConfig};

use crate::broker::now_ms;

/// Appends encoded batches to the coordinator's partition and returns the first batch's base
/// offset; called on a blocking thread (the writer's, or at start-up). The broker's is the
/// partition layer's coordinator append; tests append to a bare log.
pub type AppendBatches = Arc<dyn Fn(Bytes) -> Result<i64, String> + Send + Sync>;

/// Identifies one submitted write.
pub type WriteId = u64;

/// Where a coordinator's writes go: the log thread, or a test's stand-in.
pub trait WriteQueue<R>: Send {
    /// Queues `records` as write `id`; its outcome comes back from `pop_done` (a write done in
    /// place) or through the channel the queue was made with.
    fn submit(&mut self, id: WriteId, records: Vec<R>);

    /// The outcome of a write done as it was submitted, oldest first; `None` when there is
    /// none (the writer thread reports on its channel instead).
    fn pop_done(&mut self) -> Option<Written> {
        None
    }
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

/// Where a coordinator's writes are appended (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// On the coordinator's task, as each write is submitted.
    InPlace,
    /// On a writer thread, queued writes sharing one append and its fsync.
    Thread,
}

impl WriteMode {
    /// A thread where every append of a log with `config` waits for an fsync, else in place.
    /// An occasional fsync (`flush.messages` above 1, `flush.ms`) then runs in place, as it
    /// does on Kafka's coordinator threads.
    pub fn for_log(config: &LogConfig) -> WriteMode {
        if config.fsync == FsyncPolicy::Always || config.flush_messages <= 1 {
            WriteMode::Thread
        } else {
            WriteMode::InPlace
        }
    }
}

/// Appends each write on the caller, the coordinator's task.
pub struct InPlaceWriter<R> {
    append: AppendBatches,
    encode: Encode<R>,
    /// Outcomes the runtime has not taken yet, in submission order.
    done: VecDeque<Written>,
}

impl<R: Send> WriteQueue<R> for InPlaceWriter<R> {
    fn submit(&mut self, id: WriteId, records: Vec<R>) {
        let ok = match (self.encode)(&records, now_ms()) {
            None => true,
            Some(batches) => match (self.append)(Bytes::from(batches)) {
                Ok(_) => true,
                Err(e) => {
                    tracing::warn!(cause = %e, "could not write to a coordinator log");
                    false
                }
            },
        };
        self.done.push_back((id, ok));
    }

    fn pop_done(&mut self) -> Option<Written> {
        self.done.pop_front()
    }
}

/// A coordinator's writer, in the mode its log asks for.
pub enum Writer<R> {
    /// Appends on the coordinator's task.
    InPlace(InPlaceWriter<R>),
    /// Hands writes to the writer thread.
    Thread(LogWriter<R>),
}

impl<R: Send + 'static> Writer<R> {
    /// A writer in `mode` appending through `append`, encoding with `encode`; the thread's
    /// outcomes go to `done`. Only the thread mode can fail to start.
    pub fn start(
        mode: WriteMode,
        append: AppendBatches,
        encode: Encode<R>,
        done: tokio::sync::mpsc::UnboundedSender<Written>,
    ) -> std::io::Result<Writer<R>> {
        Ok(match mode {
            WriteMode::InPlace => Writer::InPlace(InPlaceWriter {
                append,
                encode,
                done: VecDeque::new(),
            }),
            WriteMode::Thread => Writer::Thread(LogWriter::start(append, encode, done)?),
        })
    }
}

impl<R: Send> WriteQueue<R> for Writer<R> {
    fn submit(&mut self, id: WriteId, records: Vec<R>) {
        match self {
            Writer::InPlace(w) => w.submit(id, records),
            Writer::Thread(w) => w.submit(id, records),
        }
    }

    fn pop_done(&mut self) -> Option<Written> {
        match self {
            Writer::InPlace(w) => w.pop_done(),
            Writer::Thread(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_only_where_every_append_is_fsynced() {
        let mut config = LogConfig::default();
        assert_eq!(WriteMode::for_log(&config), WriteMode::InPlace);
        config.flush_messages = 1;
        assert_eq!(WriteMode::for_log(&config), WriteMode::Thread);
        config.flush_messages = 1000;
        assert_eq!(WriteMode::for_log(&config), WriteMode::InPlace);
        config.fsync = FsyncPolicy::Always;
        assert_eq!(WriteMode::for_log(&config), WriteMode::Thread);
    }

    fn encode(records: &[u8], _now: i64) -> Option<Vec<u8>> {
        (!records.is_empty()).then(|| records.to_vec())
    }

    /// A log that refuses the batch `[0xff]` (a full disk) and keeps the rest.
    fn test_log() -> (std::sync::Arc<std::sync::Mutex<Vec<u8>>>, AppendBatches) {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let appended = log.clone();
        let append: AppendBatches = std::sync::Arc::new(move |bytes: Bytes| {
            if bytes.as_ref() == [0xff] {
                return Err("disk full".into());
            }
            let mut log = appended.lock().unwrap();
            log.extend_from_slice(&bytes);
            Ok(log.len() as i64)
        });
        (log, append)
    }

    /// Both modes append every write's records in order and report each by its id; a write
    /// of no records succeeds without an append.
    #[test]
    fn both_modes_append_in_order_and_report_each_write() {
        for mode in [WriteMode::InPlace, WriteMode::Thread] {
            let (log, append) = test_log();
            let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
            let mut writer = Writer::start(mode, append, encode, done_tx).unwrap();
            writer.submit(1, vec![1, 2]);
            writer.submit(2, vec![]);
            writer.submit(3, vec![3]);
            // In place they are kept in the writer; the thread sends them.
            let mut outcomes: Vec<Written> = std::iter::from_fn(|| writer.pop_done()).collect();
            while outcomes.len() < 3 {
                outcomes.push(done.blocking_recv().unwrap());
            }
            outcomes.sort();
            assert_eq!(outcomes, vec![(1, true), (2, true), (3, true)], "{mode:?}");
            assert_eq!(*log.lock().unwrap(), vec![1, 2, 3], "{mode:?}");
        }
    }

    /// In place, a failed append fails its own write only, and is reported before `submit`
    /// returns, so the runtime sees it on its next look; nothing goes to the channel, whose
    /// receiver is the task doing the append.
    #[test]
    fn in_place_a_failed_append_fails_only_its_write() {
        let (log, append) = test_log();
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let mut writer = Writer::start(WriteMode::InPlace, append, encode, done_tx).unwrap();
        writer.submit(1, vec![0xff]);
        assert_eq!(writer.pop_done(), Some((1, false)));
        writer.submit(2, vec![4]);
        writer.submit(3, vec![5]);
        assert_eq!(writer.pop_done(), Some((2, true)));
        assert_eq!(writer.pop_done(), Some((3, true)));
        assert_eq!(writer.pop_done(), None);
        assert!(done.try_recv().is_err());
        assert_eq!(*log.lock().unwrap(), vec![4, 5]);
    }
}
