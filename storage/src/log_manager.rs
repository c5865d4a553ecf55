//! All partition logs of one data dir; Kafka's LogManager.
//!
//! Owns the data dir: its lock file (flock, held while the manager lives), the clean-shutdown
//! marker, the recovery-point and log-start-offset checkpoints, and one folder per partition.
//! Retention and time-based flushing run when the broker calls `maintain`, so tests drive time.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::cleaner::{LogCleaner, SharedLogs};
use crate::config::{CleanerConfig, LogConfig};
use crate::error::{Result, StorageError};
use crate::file_names::{
    parse_partition_dir_name, partition_dir_name, CLEANER_OFFSET_CHECKPOINT, CLEAN_SHUTDOWN_FILE,
    DELETE_DIR_SUFFIX, LOCK_FILE, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
};
use crate::log::PartitionLog;
use crate::log_loader::{self, Checkpoints};
use crate::meta_files::{read_checkpoint, sync_dir, write_checkpoint};

/// A topic name and partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// Builds a topic-partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// The logs of a data dir.
pub struct LogManager {
    data_dir: PathBuf,
    /// Held open for its flock: a second broker on the same dir fails to take it.
    _lock: File,
    default_config: LogConfig,
    /// Shared with the cleaner threads, which pick the logs to clean from it.
    logs: SharedLogs,
    was_clean: bool,
    /// The log cleaner, once started; stopped before the logs close.
    cleaner: Mutex<Option<LogCleaner>>,
    /// Held while the checkpoints are written: upkeep, DeleteRecords and the cleaner write
    /// them from different threads, through the same temporary files.
    checkpoint_lock: Arc<Mutex<()>>,
    /// The scrub thread, once started; stopped before the logs close.
    scrub: Mutex<Option<crate::scrub::Scrub>>,
    /// When `maintain` last wrote each checkpoint, and how often it should.
    checkpoint_schedule: Mutex<CheckpointSchedule>,
}

/// When the periodic checkpoints are due (Kafka's `log.flush.offset.checkpoint.interval.ms`
/// and `log.flush.start.offset.checkpoint.interval.ms`).
#[derive(Debug, Default)]
struct CheckpointSchedule {
    recovery_point_interval_ms: i64,
    log_start_interval_ms: i64,
    /// When `maintain` last wrote them (`None`: not yet).
    recovery_point_written_ms: Option<i64>,
    log_start_written_ms: Option<i64>,
}

impl CheckpointSchedule {
    /// Whether each checkpoint is due at `now_ms`, marking the due ones written.
    fn due(&mut self, now_ms: i64) -> (bool, bool) {
        let due = |last: &mut Option<i64>, interval: i64| {
            let due = last.is_none_or(|t| now_ms.saturating_sub(t) >= interval);
            if due {
                *last = Some(now_ms);
            }
            due
        };
        (
            due(
                &mut self.recovery_point_written_ms,
                self.recovery_point_interval_ms,
            ),
            due(&mut self.log_start_written_ms, self.log_start_interval_ms),
        )
    }
}

/// Bytes of trusted segments whose CRCs start-up still checks before it answers, newest
/// segments first: a small data dir (a test's) is checked whole as before the scrub existed,
/// and a large one costs no more than this much reading. 1 MiB, not more: on a cold cache
/// 8 MiB took 10-17 ms, which made a data dir whose newest segment was 8 MB start slower
/// than one whose newest segments were nearly empty.
pub const START_CHECK_BYTES: u64 = 1 << 20;

/// Scrubs the newest trusted segments of `logs` within `budget` bytes, shared out in turn.
/// It stops at the first lazy segment that does not fit: a lazy segment is opened to learn
/// its size, and a large data dir must not pay an open per partition for nothing.
fn check_newest(logs: &HashMap<TopicPartition, Arc<PartitionLog>>, budget: u64) -> Result<()> {
    let mut sorted: Vec<_> = logs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut left = budget;
    for (_, log) in sorted {
        if left == 0 {
            break;
        }
        let (checked, stopped_at_lazy) = log.scrub_newest(left)?;
        left -= checked.min(left);
        if stopped_at_lazy {
            break;
        }
    }
    Ok(())
}

/// Threads that load partition folders: a trusted load is almost all waiting for the disk
/// (directory listings, inodes, the active segment's tail) on a cold cache, which overlaps
/// well however few the cores; a recovery's CRC scan takes what cores there are.
const LOAD_THREADS: usize = 16;

/// Loads the partition folders `jobs` on up to `LOAD_THREADS` threads.
fn load_in_parallel(
    jobs: Vec<(TopicPartition, PathBuf, Checkpoints)>,
    config: &LogConfig,
    clean: bool,
) -> Result<HashMap<TopicPartition, Arc<PartitionLog>>> {
    let threads = LOAD_THREADS.min(jobs.len().max(1));
    let queue = Mutex::new(jobs.into_iter());
    let loaded = Mutex::new(HashMap::new());
    let failed: Mutex<Option<StorageError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                if failed.lock().unwrap_or_else(|e| e.into_inner()).is_some() {
                    return;
                }
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((tp, dir, checkpoints)) = next else {
                    return;
                };
                match log_loader::load(&dir, config.clone(), checkpoints, clean) {
                    Ok(log) => {
                        loaded
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(tp, Arc::new(log));
                    }
                    Err(e) => {
                        failed
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(loaded.into_inner().unwrap_or_else(|e| e.into_inner())),
    }
}

impl LogManager {
    /// Opens (creating if needed) `data_dir`, locks it, and loads every partition folder in it,
    /// recovering logs when the previous run did not shut down cleanly.
    pub fn open(data_dir: &Path, default_config: LogConfig) -> Result<LogManager> {
        Self::open_checking(data_dir, default_config, START_CHECK_BYTES)
    }

    /// `open`, checking at most `start_check_bytes` of trusted segments before returning
    /// (`START_CHECK_BYTES` for `open`); the scrub and the read path check the rest.
    pub fn open_checking(
        data_dir: &Path,
        default_config: LogConfig,
        start_check_bytes: u64,
    ) -> Result<LogManager> {
        std::fs::create_dir_all(data_dir)
            .map_err(StorageError::io("creating data dir", data_dir))?;
        let lock_path = data_dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(StorageError::io("opening lock file", &lock_path))?;
        // SAFETY: plain syscall on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                return Err(StorageError::Locked(data_dir.to_path_buf()));
            }
            return Err(StorageError::io("locking data dir", &lock_path)(err));
        }

        let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
        let was_clean = marker.exists();
        let recovery_points = read_checkpoint(&data_dir.join(RECOVERY_POINT_CHECKPOINT));
        let log_starts = read_checkpoint(&data_dir.join(LOG_START_OFFSET_CHECKPOINT));
        let cleaned = read_checkpoint(&data_dir.join(CLEANER_OFFSET_CHECKPOINT));
        let mut jobs = Vec::new();
        let entries =
            std::fs::read_dir(data_dir).map_err(StorageError::io("listing data dir", data_dir))?;
        for entry in entries {
            let entry = entry.map_err(StorageError::io("listing data dir", data_dir))?;
            if !entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(DELETE_DIR_SUFFIX) {
                std::fs::remove_dir_all(entry.path())
                    .map_err(StorageError::io("removing deleted partition", entry.path()))?;
                continue;
            }
            let Some((topic, partition)) = parse_partition_dir_name(name) else {
                continue;
            };
            let tp = TopicPartition::new(topic, partition);
            let checkpoints = Checkpoints {
                recovery_point: recovery_points.get(&tp).copied(),
                log_start_offset: log_starts.get(&tp).copied(),
                cleaned: cleaned.get(&tp).copied(),
            };
            jobs.push((tp, entry.path(), checkpoints));
        }
        let started = std::time::Instant::now();
        let logs = load_in_parallel(jobs, &default_config, was_clean)?;
        let load_ms = started.elapsed().as_millis() as u64;
        check_newest(&logs, start_check_bytes)?;
        // From here on a crash is unclean until `shutdown` writes the marker again.
        if was_clean {
            std::fs::remove_file(&marker)
                .map_err(StorageError::io("removing clean-shutdown marker", &marker))?;
            sync_dir(data_dir)?;
        }
        tracing::info!(data_dir = %data_dir.display(), partitions = logs.len(), was_clean, load_ms, elapsed_ms = started.elapsed().as_millis() as u64, "loaded logs");
        Ok(LogManager {
            data_dir: data_dir.to_path_buf(),
            _lock: lock,
            default_config,
            logs: Arc::new(RwLock::new(logs)),
            was_clean,
            cleaner: Mutex::new(None),
            checkpoint_lock: Arc::new(Mutex::new(())),
            scrub: Mutex::new(None),
            checkpoint_schedule: Mutex::new(CheckpointSchedule::default()),
        })
    }

    /// Starts the background scrub of the CRCs start-up trusted, at `bytes_per_second`
    /// (`gregor.log.scrub.bytes.per.second`; 0 leaves it off, fetches still check).
    pub fn start_scrub(&self, bytes_per_second: u64) {
        if bytes_per_second == 0 {
            tracing::info!("the scrub is off: fetches check the CRCs of batches start-up trusted as they serve them");
            return;
        }
        let mut scrub = self.scrub.lock().unwrap_or_else(|e| e.into_inner());
        if scrub.is_none() {
            *scrub = Some(crate::scrub::Scrub::start(
                self.logs.clone(),
                bytes_per_second,
            ));
        }
    }

    /// Bytes the scrub has still to check (0 once it is done).
    pub fn scrub_pending_bytes(&self) -> u64 {
        crate::scrub::pending_bytes(&self.logs)
    }

    /// How often `maintain` writes the recovery-point and the log-start-offset checkpoints
    /// (`log.flush.offset.checkpoint.interval.ms`, `log.flush.start.offset.checkpoint.interval.ms`;
    /// every call until set). Shutdown and DeleteRecords write them at once regardless.
    pub fn set_checkpoint_intervals(&self, recovery_point_ms: i64, log_start_ms: i64) {
        let mut schedule = self
            .checkpoint_schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        schedule.recovery_point_interval_ms = recovery_point_ms.max(0);
        schedule.log_start_interval_ms = log_start_ms.max(0);
    }

    /// Starts the log cleaner threads (unless `log.cleaner.enable` is off or there are no
    /// threads).
    pub fn start_cleaner(&self, config: CleanerConfig) {
        if !config.enable || config.threads == 0 {
            tracing::info!("the log cleaner is off: compacted topics keep every record");
            return;
        }
        let mut cleaner = self.cleaner.lock().unwrap_or_else(|e| e.into_inner());
        if cleaner.is_none() {
            let (data_dir, logs) = (self.data_dir.clone(), self.logs.clone());
            let held = self.checkpoint_lock.clone();
            let checkpoint: crate::cleaner::Checkpointer =
                Arc::new(move || write_checkpoints(&data_dir, &logs, &held));
            *cleaner = Some(LogCleaner::start(self.logs.clone(), config, checkpoint));
        }
    }

    /// Cleanings the cleaner threads completed (0 when they are off).
    pub fn cleanings(&self) -> u64 {
        self.cleaner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map_or(0, LogCleaner::cleanings)
    }

    /// Wakes the cleaner threads to look for work now.
    pub fn wake_cleaner(&self) {
        if let Some(cleaner) = self
            .cleaner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            cleaner.wake();
        }
    }

    /// The data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The settings new logs get unless told otherwise.
    pub fn default_config(&self) -> &LogConfig {
        &self.default_config
    }

    /// Whether the previous run ended with a clean shutdown.
    pub fn was_clean_shutdown(&self) -> bool {
        self.was_clean
    }

    /// The log of `tp`, if it exists.
    pub fn get(&self, tp: &TopicPartition) -> Option<Arc<PartitionLog>> {
        self.logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tp)
            .cloned()
    }

    /// The log of `tp`, created with `config` if it does not exist yet.
    pub fn get_or_create(
        &self,
        tp: &TopicPartition,
        config: LogConfig,
    ) -> Result<Arc<PartitionLog>> {
        if let Some(log) = self.get(tp) {
            return Ok(log);
        }
        let mut logs = self.logs.write().unwrap_or_else(|e| e.into_inner());
        if let Some(log) = logs.get(tp) {
            return Ok(log.clone());
        }
        let dir = self
            .data_dir
            .join(partition_dir_name(&tp.topic, tp.partition));
        std::fs::create_dir_all(&dir)
            .map_err(StorageError::io("creating partition folder", &dir))?;
        sync_dir(&self.data_dir)?;
        let log = Arc::new(log_loader::load(
            &dir,
            config,
            Checkpoints::default(),
            true,
        )?);
        logs.insert(tp.clone(), log.clone());
        Ok(log)
    }

    /// Deletes the log of `tp`: its folder is renamed out of the way first, so a crash mid-way
    /// leaves a `-delete` folder that the next start removes.
    pub fn delete(&self, tp: &TopicPartition) -> Result<()> {
        let Some(log) = self
            .logs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tp)
        else {
            return Err(StorageError::UnknownPartition(tp.to_string()));
        };
        // A cleaning in progress writes into the folder: stop it first.
        log.abort_cleaning();
        let dir = log.dir().to_path_buf();
        drop(log);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let doomed = self.data_dir.join(format!(
            "{}.{nanos:x}{DELETE_DIR_SUFFIX}",
            partition_dir_name(&tp.topic, tp.partition)
        ));
        std::fs::rename(&dir, &doomed)
            .map_err(StorageError::io("renaming deleted partition", &dir))?;
        sync_dir(&self.data_dir)?;
        std::fs::remove_dir_all(&doomed)
            .map_err(StorageError::io("removing deleted partition", &doomed))?;
        Ok(())
    }

    /// Moves the log start offset of `tp` (DeleteRecords) and checkpoints it at once, so the
    /// deleted records stay deleted across a crash.
    pub fn advance_log_start(&self, tp: &TopicPartition, offset: i64) -> Result<i64> {
        let log = self
            .get(tp)
            .ok_or_else(|| StorageError::UnknownPartition(tp.to_string()))?;
        let start = log.advance_log_start(offset)?;
        self.write_checkpoints()?;
        Ok(start)
    }

    /// Every topic-partition with a log, sorted.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let mut out: Vec<_> = self
            .logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        out.sort();
        out
    }

    fn all_logs(&self) -> Vec<(TopicPartition, Arc<PartitionLog>)> {
        self.logs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(tp, l)| (tp.clone(), l.clone()))
            .collect()
    }

    /// The largest producer id with batches in any log, so new ids never collide with them.
    pub fn max_producer_id(&self) -> Option<i64> {
        self.all_logs()
            .iter()
            .filter_map(|(_, log)| log.max_producer_id())
            .max()
    }

    /// Periodic upkeep at `now_ms`: retention, `flush.ms`, producer expiry, and the checkpoints.
    pub fn maintain(&self, now_ms: i64) -> Result<()> {
        let mut first_error = None;
        for (tp, log) in self.all_logs() {
            log.expire_producers(now_ms, crate::producer_state::PRODUCER_ID_EXPIRATION_MS);
            let outcome = log
                .apply_retention(now_ms)
                .and_then(|_| log.roll_if_due(now_ms))
                .and_then(|_| log.flush_rolled_segments())
                .and_then(|_| log.flush_if_due(now_ms));
            if let Err(e) = outcome {
                tracing::warn!(partition = %tp, cause = %e, "log upkeep failed");
                first_error.get_or_insert(e);
            }
        }
        let (recovery, starts) = self
            .checkpoint_schedule
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .due(now_ms);
        write_checkpoints_of(
            &self.data_dir,
            &self.logs,
            &self.checkpoint_lock,
            recovery,
            starts,
        )?;
        first_error.map_or(Ok(()), Err)
    }

    /// Writes the recovery-point, log-start-offset and cleaner-offset checkpoints.
    pub fn write_checkpoints(&self) -> Result<()> {
        write_checkpoints(&self.data_dir, &self.logs, &self.checkpoint_lock)
    }
    /// Flushes and closes every log, writes the checkpoints and, only if all of that worked,
    /// the clean-shutdown marker. Logs take no appends afterwards.
    pub fn shutdown(&self) -> Result<()> {
        if let Some(scrub) = self.scrub.lock().unwrap_or_else(|e| e.into_inner()).take() {
            scrub.shutdown();
        }
        if let Some(cleaner) = self
            .cleaner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            cleaner.shutdown();
        }
        close_all(&self.all_logs())?;
        self.write_checkpoints()?;
        let marker = self.data_dir.join(CLEAN_SHUTDOWN_FILE);
        File::create(&marker)
            .map_err(StorageError::io("writing clean-shutdown marker", &marker))?;
        sync_dir(&self.data_dir)
    }
}

/// Threads that flush and close logs at shutdown. Closing is mostly waiting for fsyncs, and
/// concurrent ones share journal commits: one after another, 10,000 partitions took longer than
/// a service manager waits (Kafka closes logs on `num.recovery.threads.per.data.dir` threads).
const CLOSE_THREADS: usize = 16;

/// Flushes and closes every log, on [`CLOSE_THREADS`] threads; the first failure is returned
/// once all are done (each is logged).
fn close_all(logs: &[(TopicPartition, Arc<PartitionLog>)]) -> Result<()> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed: Mutex<Option<StorageError>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..CLOSE_THREADS.min(logs.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((tp, log)) = logs.get(i) else { return };
                if let Err(e) = log.flush().and_then(|_| log.close()) {
                    tracing::error!(partition = %tp, cause = %e, "closing log failed");
                    failed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(e);
                }
            });
        }
    });
    match failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Writes the data dir's checkpoints for `logs`: recovery points, log start offsets, and where
/// the cleaner got to in each log it has cleaned.
fn write_checkpoints(data_dir: &Path, logs: &SharedLogs, held: &Mutex<()>) -> Result<()> {
    write_checkpoints_of(data_dir, logs, held, true, true)
}

/// `write_checkpoints`, leaving out the recovery points or the log start offsets unless
/// `write_recovery` or `write_starts` (the cleaner's checkpoint is always written).
fn write_checkpoints_of(
    data_dir: &Path,
    logs: &SharedLogs,
    held: &Mutex<()>,
    write_recovery: bool,
    write_starts: bool,
) -> Result<()> {
    let _writing = held.lock().unwrap_or_else(|e| e.into_inner());
    let logs: Vec<(TopicPartition, Arc<PartitionLog>)> = logs
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(tp, l)| (tp.clone(), l.clone()))
        .collect();

    let recovery: BTreeMap<_, _> = logs
        .iter()
        .map(|(tp, l)| (tp.clone(), l.recovery_point()))
        .collect();
    let starts: BTreeMap<_, _> = logs
        .iter()
        .map(|(tp, l)| (tp.clone(), l.log_start_offset()))
        .collect();
    let cleaned: BTreeMap<_, _> = logs
        .iter()
        .filter_map(|(tp, l)| l.cleaner_checkpoint().map(|o| (tp.clone(), o)))
        .collect();
    if write_recovery {
        write_checkpoint(&data_dir.join(RECOVERY_POINT_CHECKPOINT), &recovery)?;
    }
    if write_starts {
        write_checkpoint(&data_dir.join(LOG_START_OFFSET_CHECKPOINT), &starts)?;
    }
    write_checkpoint(&data_dir.join(CLEANER_OFFSET_CHECKPOINT), &cleaned)
}
