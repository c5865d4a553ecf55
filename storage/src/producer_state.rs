//! Producer state of one partition: idempotent sequences and open transactions; Kafka's
//! ProducerStateManager with its ProducerAppendInfo checks.
//!
//! For every producer id seen in the log it keeps the epoch and the sequence ranges and offsets
//! of its last five batches (a producer has at most five requests in flight), so a retried batch
//! is recognised and answered with the offsets it got the first time instead of being appended
//! twice. For a transactional producer it also keeps the first offset of its ongoing
//! transaction (Kafka's `currentTxnFirstOffset`) and the epoch of the coordinator whose marker
//! last ended one. The partition's open transactions, ordered by first offset, give the last
//! stable offset: a transaction stays unstable from its first record until its commit or abort
//! marker is below the high watermark (Kafka's `ongoingTxns` and `unreplicatedTxns`). All of it
//! comes from batch headers and the one record of a control batch: nothing is decompressed.
//!
//! The state is rebuilt at load from a snapshot file `{offset:020}.snapshot` (the state of every
//! producer after all batches below `offset`) plus a replay of the batches after it; without a
//! usable snapshot the whole log is replayed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::batch::BatchHeader;
use crate::error::{Result, StorageError};
pub use gregor_record::control::{EndTxnMarker, TxnResult};

/// How many batches per producer are remembered for duplicate detection (Kafka's
/// `NUM_BATCHES_TO_RETAIN`, which matches the clients' `max.in.flight.requests.per.connection`
/// limit for idempotence).
pub const BATCHES_TO_RETAIN: usize = 5;

/// How long a producer that writes nothing is remembered (Kafka's `producer.id.expiration.ms`
/// default, one day).
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;

/// Suffix of producer-state snapshot files.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";

/// Version byte of the snapshot layout below (1: before transactions, still read).
const SNAPSHOT_VERSION: u8 = 2;

/// Kafka's `RecordBatch.NO_PARTITION_LEADER_EPOCH`-style "none" for a coordinator epoch.
const NO_COORDINATOR_EPOCH: i32 = -1;

/// One batch a producer wrote: its sequence range and where it landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record.
    pub last_seq: i32,
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The batch's max timestamp (for `producer.id.expiration.ms`).
    pub max_timestamp: i64,
}

/// What the log knows of one producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateEntry {
    /// The newest epoch the producer wrote with (a marker may bump it).
    pub epoch: i16,
    /// The newest data batches of that epoch, oldest first.
    pub batches: VecDeque<BatchMetadata>,
    /// The epoch of the coordinator whose marker last ended a transaction of this producer
    /// (-1: none); an older coordinator's marker is fenced.
    pub coordinator_epoch: i32,
    /// First offset of the producer's ongoing transaction (Kafka's `currentTxnFirstOffset`).
    pub current_txn_first_offset: Option<i64>,
    /// Max timestamp of the producer's newest batch or marker (for expiry).
    pub last_timestamp: i64,
}

impl ProducerStateEntry {
    fn new(epoch: i16) -> ProducerStateEntry {
        ProducerStateEntry {
            epoch,
            batches: VecDeque::new(),
            coordinator_epoch: NO_COORDINATOR_EPOCH,
            current_txn_first_offset: None,
            last_timestamp: -1,
        }
    }

    fn last(&self) -> Option<&BatchMetadata> {
        self.batches.back()
    }

    /// A batch or marker of `epoch` arrives: a newer epoch forgets the older one's batches.
    fn bump_epoch(&mut self, epoch: i16) {
        if self.epoch != epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
    }
}

/// One producer as DescribeProducers reports it (Kafka's `ProducerStateEntry` seen through
/// `UnifiedLog.activeProducers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActiveProducer {
    /// The producer id.
    pub producer_id: i64,
    /// The newest epoch it wrote with.
    pub epoch: i16,
    /// Sequence of its newest record, or -1 when no batch of this epoch is known.
    pub last_sequence: i32,
    /// Max timestamp of its newest batch or marker, or -1 when none is known.
    pub last_timestamp: i64,
    /// The epoch of the coordinator whose marker last ended its transaction, or -1.
    pub coordinator_epoch: i32,
    /// First offset of its ongoing transaction, or -1.
    pub current_txn_start_offset: i64,
}

/// What a producer's batch is, as the producer state sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchKind {
    /// Records; `transactional` when attributes bit 4 is set.
    Data { transactional: bool },
    /// A commit or abort marker.
    Marker(EndTxnMarker),
    /// Any other control batch (one the cleaner emptied, a leader change): no producer state.
    OtherControl,
}

/// The producer fields of a batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    /// The producer id; -1 for batches of a producer without idempotence.
    pub producer_id: i64,
    /// The producer epoch.
    pub epoch: i16,
    /// Sequence of the first record.
    pub first_seq: i32,
    /// Sequence of the last record (wraps to 0 after `i32::MAX`, as Kafka's sequences do).
    pub last_seq: i32,
    /// Data or marker.
    pub kind: BatchKind,
}

impl ProducerBatch {
    /// The producer fields of the batch `header` describes, which starts `batch` (read only
    /// for a control batch, whose one record is the marker).
    pub fn of(batch: &[u8], header: &BatchHeader) -> ProducerBatch {
        let kind = if header.is_control() {
            EndTxnMarker::parse(batch, header).map_or(BatchKind::OtherControl, BatchKind::Marker)
        } else {
            BatchKind::Data {
                transactional: header.is_transactional(),
            }
        };
        ProducerBatch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            first_seq: header.base_sequence,
            last_seq: increment_sequence(header.base_sequence, header.last_offset_delta),
            kind,
        }
    }

    /// Whether the batch is from an idempotent producer.
    pub fn is_idempotent(&self) -> bool {
        self.producer_id >= 0
    }
}

/// Who appends, which decides what is checked (Kafka's `AppendOrigin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A producer: sequences, epochs and transaction state are all checked.
    Client,
    /// A coordinator (its own records, transaction markers): its batches carry no sequence,
    /// so only epochs and coordinator epochs are checked.
    Coordinator,
}

/// `seq + delta`, wrapping past `i32::MAX` to 0 as Kafka's sequence numbers do.
pub fn increment_sequence(seq: i32, delta: i32) -> i32 {
    if seq > i32::MAX - delta {
        delta - (i32::MAX - seq) - 1
    } else {
        seq + delta
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq == last_seq.wrapping_add(1) || (next_seq == 0 && last_seq == i32::MAX)
}

/// Why a producer's batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The batch's epoch is older than the producer's current one (a zombie producer).
    #[error("producer {producer_id} epoch {epoch} is older than its current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// The batch does not follow the producer's last sequence (records would be lost or
    /// reordered).
    #[error(
        "producer {producer_id} epoch {epoch}: sequence {first_seq} does not follow {last_seq}"
    )]
    OutOfOrderSequence {
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    },
    /// An idempotent batch without a sequence number.
    #[error("producer {producer_id}: batch has no sequence number")]
    MissingSequence { producer_id: i64 },
    /// A non-transactional batch while the producer has a transaction open.
    #[error("producer {producer_id} sent a non-transactional batch while its transaction is open")]
    InvalidTxnState { producer_id: i64 },
    /// A marker from a coordinator older than the one that wrote the producer's last marker.
    #[error("marker of producer {producer_id} from coordinator epoch {coordinator_epoch}, older than {current}")]
    CoordinatorFenced {
        producer_id: i64,
        coordinator_epoch: i32,
        current: i32,
    },
}

/// The outcome of checking an append against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append the batches.
    Append,
    /// A retry of a batch already in the log: answer with its offsets, append nothing.
    Duplicate(BatchMetadata),
}

/// A transaction a marker ended (Kafka's `CompletedTxn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of the transaction's first record in this partition.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// Whether it was aborted.
    pub aborted: bool,
}

/// The last known record of a producer, which the cleaner keeps (Kafka's
/// `lastRecordsOfActiveProducers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRecord {
    /// Last offset of its newest data batch of the current epoch, if any.
    pub last_data_offset: Option<i64>,
    /// Its current epoch (a marker that bumped it is then its last record).
    pub epoch: i16,
}

/// The producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerStateEntry>,
    /// Open transactions by first offset, to producer id (Kafka's `ongoingTxns`).
    ongoing: BTreeMap<i64, i64>,
    /// Ended transactions whose marker is not yet below the high watermark, by first offset
    /// (Kafka's `unreplicatedTxns`): still unstable, since a reader could see their records
    /// but not yet the marker that says what became of them.
    unreplicated: BTreeMap<i64, CompletedTxn>,
}

/// One producer as seen while the batches of one append are checked in turn.
#[derive(Debug, Clone, Copy)]
struct View {
    epoch: Option<i16>,
    last_seq: Option<i32>,
    in_txn: bool,
    coordinator_epoch: i32,
}

impl View {
    fn of(entry: Option<&ProducerStateEntry>) -> View {
        match entry {
            Some(e) => View {
                epoch: Some(e.epoch),
                last_seq: e.last().map(|b| b.last_seq),
                in_txn: e.current_txn_first_offset.is_some(),
                coordinator_epoch: e.coordinator_epoch,
            },
            None => View {
                epoch: None,
                last_seq: None,
                in_txn: false,
                coordinator_epoch: NO_COORDINATOR_EPOCH,
            },
        }
    }
}

impl ProducerStateManager {
    /// An empty state.
    pub fn new() -> ProducerStateManager {
        ProducerStateManager::default()
    }

    /// The entry of `producer_id`, if the log has batches of it.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerStateEntry> {
        self.producers.get(&producer_id)
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// Whether no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Every producer tracked, by producer id.
    pub fn active_producers(&self) -> Vec<ActiveProducer> {
        let mut out: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&producer_id, entry)| ActiveProducer {
                producer_id,
                epoch: entry.epoch,
                last_sequence: entry.last().map_or(-1, |b| b.last_seq),
                last_timestamp: entry.last_timestamp,
                coordinator_epoch: entry.coordinator_epoch,
                current_txn_start_offset: entry.current_txn_first_offset.unwrap_or(-1),
            })
            .collect();
        out.sort_by_key(|p| p.producer_id);
        out
    }

    /// The largest producer id tracked (so ids handed out after a restart are new).
    pub fn max_producer_id(&self) -> Option<i64> {
        self.producers.keys().copied().max()
    }

    /// The first offset of the earliest transaction that is open or whose marker is not yet
    /// below the high watermark (Kafka's `firstUnstableOffset`); `None` when all is stable.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        let ongoing = self.ongoing.keys().next().copied();
        let unreplicated = self.unreplicated.keys().next().copied();
        match (ongoing, unreplicated) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The high watermark reached `high_watermark`: transactions whose marker lies below it
    /// are stable now (Kafka's `onHighWatermarkUpdated`).
    pub fn on_high_watermark(&mut self, high_watermark: i64) {
        self.unreplicated
            .retain(|_, txn| txn.last_offset >= high_watermark);
    }

    /// The last stable offset right after `txn` ended, as its transaction index entry records
    /// it (Kafka's `lastStableOffset(CompletedTxn)`): the first offset of the earliest other
    /// open transaction, else the offset after the marker.
    pub fn last_stable_offset_after(&self, txn: &CompletedTxn) -> i64 {
        self.ongoing
            .iter()
            .find(|(_, pid)| **pid != txn.producer_id)
            .map_or(txn.last_offset + 1, |(first, _)| *first)
    }

    /// The open transactions, as (first offset, producer id), oldest first.
    pub fn ongoing_transactions(&self) -> Vec<(i64, i64)> {
        self.ongoing.iter().map(|(f, p)| (*f, *p)).collect()
    }

    /// Checks the batches of one append as Kafka's leader does (`ProducerAppendInfo`): epoch
    /// not older than the producer's; for a client, a retried batch is a duplicate, otherwise
    /// each batch must follow the one before it (a new epoch starts at sequence 0); a producer
    /// with an open transaction writes only transactional batches; a marker's coordinator epoch
    /// is not older than the last one. Later batches of the same append are checked against
    /// the earlier ones.
    pub fn check(
        &self,
        batches: &[ProducerBatch],
        origin: Origin,
    ) -> Result<SequenceCheck, SequenceError> {
        // Within one append, each producer as the earlier batches left it.
        let mut pending: Vec<(i64, View)> = Vec::new();
        for batch in batches.iter().filter(|b| b.is_idempotent()) {
            let pid = batch.producer_id;
            let entry = self.producers.get(&pid);
            let earlier = pending.iter().rposition(|(id, _)| *id == pid);
            let view = earlier.map_or_else(|| View::of(entry), |i| pending[i].1);
            let check_epoch = |current: Option<i16>| match current {
                Some(current) if batch.epoch < current => {
                    Err(SequenceError::InvalidProducerEpoch {
                        producer_id: pid,
                        epoch: batch.epoch,
                        current,
                    })
                }
                _ => Ok(()),
            };
            let next = match batch.kind {
                BatchKind::OtherControl => continue,
                BatchKind::Marker(marker) => {
                    check_epoch(view.epoch)?;
                    if marker.coordinator_epoch < view.coordinator_epoch {
                        return Err(SequenceError::CoordinatorFenced {
                            producer_id: pid,
                            coordinator_epoch: marker.coordinator_epoch,
                            current: view.coordinator_epoch,
                        });
                    }
                    View {
                        epoch: Some(batch.epoch),
                        last_seq: view.last_seq.filter(|_| view.epoch == Some(batch.epoch)),
                        in_txn: false,
                        coordinator_epoch: marker.coordinator_epoch,
                    }
                }
                BatchKind::Data { transactional } => {
                    let client = origin == Origin::Client;
                    if client && batch.first_seq < 0 {
                        return Err(SequenceError::MissingSequence { producer_id: pid });
                    }
                    check_epoch(view.epoch)?;
                    if client && earlier.is_none() {
                        if let Some(dup) = entry.filter(|e| e.epoch == batch.epoch).and_then(|e| {
                            e.batches.iter().find(|b| {
                                b.first_seq == batch.first_seq && b.last_seq == batch.last_seq
                            })
                        }) {
                            return Ok(SequenceCheck::Duplicate(*dup));
                        }
                    }
                    if client {
                        match view.epoch {
                            // A producer the log does not know (new, or all its batches removed
                            // by retention): any sequence is accepted, as Kafka does.
                            None => {}
                            // A new epoch starts again at sequence 0.
                            Some(current) if current != batch.epoch && batch.first_seq != 0 => {
                                return Err(out_of_order(batch, -1));
                            }
                            Some(current) if current != batch.epoch => {}
                            Some(_) => match view.last_seq {
                                Some(last) if !in_sequence(last, batch.first_seq) => {
                                    return Err(out_of_order(batch, last));
                                }
                                _ => {}
                            },
                        }
                    }
                    if view.in_txn && !transactional {
                        return Err(SequenceError::InvalidTxnState { producer_id: pid });
                    }
                    View {
                        epoch: Some(batch.epoch),
                        last_seq: Some(batch.last_seq),
                        in_txn: view.in_txn || transactional,
                        coordinator_epoch: view.coordinator_epoch,
                    }
                }
            };
            match earlier {
                Some(i) => pending[i].1 = next,
                None => pending.push((pid, next)),
            }
        }
        Ok(SequenceCheck::Append)
    }

    /// Records an appended (or replayed) batch at `[first_offset, last_offset]`; for a marker
    /// (at `first_offset`), the transaction it ended, if the producer had one open.
    pub fn update(
        &mut self,
        batch: &ProducerBatch,
        first_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
    ) -> Option<CompletedTxn> {
        if !batch.is_idempotent() {
            return None;
        }
        let pid = batch.producer_id;
        match batch.kind {
            BatchKind::OtherControl => None,
            BatchKind::Data { transactional } => {
                let entry = self
                    .producers
                    .entry(pid)
                    .or_insert_with(|| ProducerStateEntry::new(batch.epoch));
                entry.bump_epoch(batch.epoch);
                if entry.batches.len() == BATCHES_TO_RETAIN {
                    entry.batches.pop_front();
                }
                entry.batches.push_back(BatchMetadata {
                    first_seq: batch.first_seq,
                    last_seq: batch.last_seq,
                    first_offset,
                    last_offset,
                    max_timestamp,
                });
                entry.last_timestamp = max_timestamp;
                if transactional && entry.current_txn_first_offset.is_none() {
                    entry.current_txn_first_offset = Some(first_offset);
                    self.ongoing.insert(first_offset, pid);
                }
                None
            }
            BatchKind::Marker(marker) => {
                let entry = self
                    .producers
                    .entry(pid)
                    .or_insert_with(|| ProducerStateEntry::new(batch.epoch));
                entry.bump_epoch(batch.epoch);
                entry.coordinator_epoch = marker.coordinator_epoch;
                entry.last_timestamp = max_timestamp;
                // A marker of a transaction with no records here changes no offset.
                let first = entry.current_txn_first_offset.take()?;
                self.ongoing.remove(&first);
                let txn = CompletedTxn {
                    producer_id: pid,
                    first_offset: first,
                    last_offset: first_offset,
                    aborted: marker.result == TxnResult::Abort,
                };
                self.unreplicated.insert(first, txn);
                Some(txn)
            }
        }
    }

    /// Each producer's last record, which the cleaner keeps so the producer's sequence and
    /// epoch checks survive a cleaning.
    pub fn last_records(&self) -> HashMap<i64, LastRecord> {
        self.producers
            .iter()
            .map(|(id, entry)| {
                (
                    *id,
                    LastRecord {
                        last_data_offset: entry.last().map(|b| b.last_offset),
                        epoch: entry.epoch,
                    },
                )
            })
            .collect()
    }

    /// Forgets producers none of whose remembered batches is at or above `log_start_offset`
    /// (their records were deleted; Kafka does the same when the log start moves), unless a
    /// transaction of theirs is open: its marker is still to come.
    pub fn truncate_head(&mut self, log_start_offset: i64) {
        self.producers.retain(|_, entry| {
            entry.current_txn_first_offset.is_some()
                || entry
                    .last()
                    .is_none_or(|b| b.last_offset >= log_start_offset)
        });
        self.unreplicated
            .retain(|_, txn| txn.last_offset >= log_start_offset);
    }

    /// Forgets producers whose newest batch or marker is older than `expiration_ms`
    /// (`producer.id.expiration.ms`), except those with an open transaction (Kafka's
    /// `isProducerExpired`).
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers.retain(|_, entry| {
            entry.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(entry.last_timestamp) <= expiration_ms
        });
    }

    /// The state as a snapshot file's bytes: version, CRC32C of the rest, then the entries.
    /// Ended transactions not yet below the high watermark are left out: after a restart the
    /// high watermark is the log end.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let entry = &self.producers[&id];
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&entry.epoch.to_be_bytes());
            body.extend_from_slice(&entry.coordinator_epoch.to_be_bytes());
            body.extend_from_slice(&entry.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            body.extend_from_slice(&entry.last_timestamp.to_be_bytes());
            body.push(entry.batches.len() as u8);
            for b in &entry.batches {
                body.extend_from_slice(&b.first_seq.to_be_bytes());
                body.extend_from_slice(&b.last_seq.to_be_bytes());
                body.extend_from_slice(&b.first_offset.to_be_bytes());
                body.extend_from_slice(&b.last_offset.to_be_bytes());
                body.extend_from_slice(&b.max_timestamp.to_be_bytes());
            }
        }
        let mut out = Vec::with_capacity(body.len() + 5);
        out.push(SNAPSHOT_VERSION);
        out.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Reads a snapshot written by `encode_snapshot` (or by a Gregor before transactions,
    /// version 1); `None` if it is damaged or of another version (the caller then rebuilds
    /// from the log).
    pub fn decode_snapshot(bytes: &[u8]) -> Option<ProducerStateManager> {
        let (&version, rest) = bytes.split_first()?;
        if !(1..=SNAPSHOT_VERSION).contains(&version) || rest.len() < 4 {
            return None;
        }
        let (crc, body) = rest.split_at(4);
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        let count = r.u32()?;
        let mut state = ProducerStateManager::new();
        for _ in 0..count {
            let id = r.i64()?;
            let mut entry = ProducerStateEntry::new(r.i16()?);
            if version >= 2 {
                entry.coordinator_epoch = r.i32()?;
                entry.current_txn_first_offset = Some(r.i64()?).filter(|o| *o >= 0);
                entry.last_timestamp = r.i64()?;
            }
            let n = r.u8()? as usize;
            if n > BATCHES_TO_RETAIN {
                return None;
            }
            for _ in 0..n {
                entry.batches.push_back(BatchMetadata {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    max_timestamp: r.i64()?,
                });
            }
            if version == 1 {
                entry.last_timestamp = entry.last().map_or(-1, |b| b.max_timestamp);
            }
            if let Some(first) = entry.current_txn_first_offset {
                // Two open transactions cannot start at one offset.
                if state.ongoing.insert(first, id).is_some() {
                    return None;
                }
            }
            state.producers.insert(id, entry);
        }
        r.0.is_empty().then_some(state)
    }
}

fn out_of_order(batch: &ProducerBatch, last_seq: i32) -> SequenceError {
    SequenceError::OutOfOrderSequence {
        producer_id: batch.producer_id,
        epoch: batch.epoch,
        first_seq: batch.first_seq,
        last_seq,
    }
}

/// A cursor over snapshot bytes; every read fails cleanly past the end.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        if self.0.len() < N {
            return None;
        }
        let (head, tail) = self.0.split_at(N);
        self.0 = tail;
        head.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

/// Path of the snapshot holding the state below `offset`.
pub fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SNAPSHOT_SUFFIX}"))
}

/// Offsets of the snapshot files in `dir`, ascending.
pub fn list_snapshots(dir: &Path) -> Result<Vec<i64>> {
    let entries = std::fs::read_dir(dir).map_err(StorageError::io("listing snapshots", dir))?;
    let mut offsets = Vec::new();
    for entry in entries {
        let entry = entry.map_err(StorageError::io("listing snapshots", dir))?;
        if let Some(offset) = entry
            .file_name()
            .to_str()
            .and_then(|n| crate::file_names::parse_base_offset(n, SNAPSHOT_SUFFIX))
        {
            offsets.push(offset);
        }
    }
    offsets.sort_unstable();
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn batch(pid: i64, epoch: i16, first: i32, last: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: first,
            last_seq: last,
            kind: BatchKind::Data {
                transactional: false,
            },
        }
    }

    fn txn_batch(pid: i64, epoch: i16, first: i32, last: i32) -> ProducerBatch {
        ProducerBatch {
            kind: BatchKind::Data {
                transactional: true,
            },
            ..batch(pid, epoch, first, last)
        }
    }

    fn marker(pid: i64, epoch: i16, result: TxnResult, coordinator_epoch: i32) -> ProducerBatch {
        ProducerBatch {
            producer_id: pid,
            epoch,
            first_seq: -1,
            last_seq: -1,
            kind: BatchKind::Marker(EndTxnMarker {
                result,
                coordinator_epoch,
            }),
        }
    }

    #[test]
    fn transactions_stay_unstable_until_their_marker_is_committed() {
        let mut s = ProducerStateManager::new();
        assert_eq!(s.update(&txn_batch(1, 0, 0, 1), 10, 11, 1), None);
        s.update(&txn_batch(2, 0, 0, 0), 12, 12, 1);
        s.update(&txn_batch(1, 0, 2, 2), 13, 13, 1);
        assert_eq!(s.first_unstable_offset(), Some(10));
        assert_eq!(s.get(1).unwrap().current_txn_first_offset, Some(10));
        let ended = s.update(&marker(1, 0, TxnResult::Abort, 0), 14, 14, 2);
        let txn = ended.unwrap();
        assert_eq!(
            txn,
            CompletedTxn {
                producer_id: 1,
                first_offset: 10,
                last_offset: 14,
                aborted: true
            }
        );
        // Producer 2's transaction begins at 12, so that is the index entry's stable offset.
        assert_eq!(s.last_stable_offset_after(&txn), 12);
        // Until the marker is below the high watermark the transaction is still unstable.
        assert_eq!(s.first_unstable_offset(), Some(10));
        s.on_high_watermark(15);
        assert_eq!(s.first_unstable_offset(), Some(12));
        let txn = s
            .update(&marker(2, 0, TxnResult::Commit, 0), 15, 15, 2)
            .unwrap();
        assert!(!txn.aborted);
        assert_eq!(s.last_stable_offset_after(&txn), 16);
        s.on_high_watermark(16);
        assert_eq!(s.first_unstable_offset(), None);
        // A marker of a producer with nothing open ends nothing.
        assert_eq!(
            s.update(&marker(3, 0, TxnResult::Abort, 0), 16, 16, 2),
            None
        );
        assert_eq!(s.first_unstable_offset(), None);
    }

    #[test]
    fn transactional_checks_are_kafkas() {
        let mut s = ProducerStateManager::new();
        s.update(&txn_batch(1, 2, 0, 1), 0, 1, 1);
        assert_eq!(
            s.check(&[batch(1, 2, 2, 2)], Origin::Client),
            Err(SequenceError::InvalidTxnState { producer_id: 1 })
        );
        // Within one append too.
        assert_eq!(
            s.check(&[txn_batch(7, 0, 0, 0), batch(7, 0, 1, 1)], Origin::Client),
            Err(SequenceError::InvalidTxnState { producer_id: 7 })
        );
        assert!(matches!(
            s.check(&[marker(1, 1, TxnResult::Commit, 0)], Origin::Coordinator),
            Err(SequenceError::InvalidProducerEpoch { current: 2, .. })
        ));
        s.update(&marker(1, 3, TxnResult::Commit, 5), 2, 2, 1);
        let entry = s.get(1).unwrap();
        assert_eq!((entry.epoch, entry.coordinator_epoch), (3, 5));
        assert!(
            entry.batches.is_empty(),
            "a bumped epoch forgets the older batches"
        );
        assert_eq!(
            s.check(&[marker(1, 3, TxnResult::Abort, 4)], Origin::Coordinator),
            Err(SequenceError::CoordinatorFenced {
                producer_id: 1,
                coordinator_epoch: 4,
                current: 5
            })
        );
        // After the marker, plain writes are fine again; the new epoch starts at sequence 0.
        assert_eq!(
            s.check(&[batch(1, 3, 0, 0)], Origin::Client),
            Ok(SequenceCheck::Append)
        );
        // A coordinator's transactional batch carries no sequence.
        assert_eq!(
            s.check(&[txn_batch(9, 0, -1, -1)], Origin::Coordinator),
            Ok(SequenceCheck::Append)
        );
        assert!(s.check(&[txn_batch(9, 0, -1, -1)], Origin::Client).is_err());
    }

    #[test]
    fn open_transactions_survive_snapshots_expiry_and_head_truncation() {
        let mut s = ProducerStateManager::new();
        s.update(&txn_batch(1, 0, 0, 0), 10, 10, 1_000);
        s.update(&batch(2, 0, 0, 0), 11, 11, 1_000);
        s.expire(1_000_000, 10);
        assert!(s.get(1).is_some() && s.get(2).is_none());
        s.truncate_head(50);
        assert!(s.get(1).is_some());
        let decoded = ProducerStateManager::decode_snapshot(&s.encode_snapshot()).unwrap();
        assert_eq!(decoded.first_unstable_offset(), Some(10));
        assert_eq!(decoded, s);
        let described = decoded.active_producers();
        assert_eq!(described[0].current_txn_start_offset, 10);
    }

    /// A snapshot written before transactions (version 1) still loads.
    #[test]
    fn version_1_snapshots_are_read() {
        let mut body = Vec::new();
        body.extend_from_slice(&1u32.to_be_bytes());
        body.extend_from_slice(&7i64.to_be_bytes());
        body.extend_from_slice(&3i16.to_be_bytes());
        body.push(1);
        for v in [0i32, 4] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        for v in [100i64, 104, 5_000] {
            body.extend_from_slice(&v.to_be_bytes());
        }
        let mut bytes = vec![1u8];
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        bytes.extend_from_slice(&body);
        let s = ProducerStateManager::decode_snapshot(&bytes).unwrap();
        let entry = s.get(7).unwrap();
        assert_eq!((entry.epoch, entry.last_timestamp), (3, 5_000));
        assert_eq!(entry.current_txn_first_offset, None);
        assert_eq!(entry.batches[0].last_offset, 104);
    }

    #[test]
    fn retry_is_a_duplicate_with_the_first_offsets() {
        let mut s = ProducerStateManager::new();
        let b = batch(7, 0, 0, 4);
        assert_eq!(s.check(&[b], Origin::Client), Ok(SequenceCheck::Append));
        s.update(&b, 100, 104, 1);
        match s.check(&[b], Origin::Client) {
            Ok(SequenceCheck::Duplicate(m)) => {
                assert_eq!((m.first_offset, m.last_offset), (100, 104))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.check(&[batch(7, 0, 5, 5)], Origin::Client),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn gaps_old_epochs_and_new_epochs() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(7, 3, 0, 9), 0, 9, 1);
        assert!(matches!(
            s.check(&[batch(7, 3, 11, 11)], Origin::Client),
            Err(SequenceError::OutOfOrderSequence { last_seq: 9, .. })
        ));
        assert!(matches!(
            s.check(&[batch(7, 2, 10, 10)], Origin::Client),
            Err(SequenceError::InvalidProducerEpoch { current: 3, .. })
        ));
        assert_eq!(
            s.check(&[batch(7, 4, 0, 0)], Origin::Client),
            Ok(SequenceCheck::Append)
        );
        assert!(matches!(
            s.check(&[batch(7, 4, 5, 5)], Origin::Client),
            Err(SequenceError::OutOfOrderSequence { .. })
        ));
        // Unknown producers may start anywhere (their records may have been deleted).
        assert_eq!(
            s.check(&[batch(8, 0, 42, 50)], Origin::Client),
            Ok(SequenceCheck::Append)
        );
        assert_eq!(
            s.check(&[batch(-1, -1, -1, -1)], Origin::Client),
            Ok(SequenceCheck::Append)
        );
        assert!(matches!(
            s.check(&[batch(9, 0, -1, -1)], Origin::Client),
            Err(SequenceError::MissingSequence { .. })
        ));
    }

    #[test]
    fn batches_of_one_append_follow_each_other() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(7, 0, 0, 1), 0, 1, 1);
        assert_eq!(
            s.check(&[batch(7, 0, 2, 3), batch(7, 0, 4, 4)], Origin::Client),
            Ok(SequenceCheck::Append)
        );
        assert!(s
            .check(&[batch(7, 0, 2, 3), batch(7, 0, 2, 3)], Origin::Client)
            .is_err());
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(5, 3), 8);
        let mut s = ProducerStateManager::new();
        s.update(&batch(1, 0, i32::MAX - 1, i32::MAX), 0, 1, 1);
        assert_eq!(
            s.check(&[batch(1, 0, 0, 0)], Origin::Client),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn only_five_batches_are_remembered() {
        let mut s = ProducerStateManager::new();
        for i in 0..7 {
            s.update(&batch(1, 0, i, i), i64::from(i), i64::from(i), 1);
        }
        assert_eq!(s.get(1).unwrap().batches.len(), BATCHES_TO_RETAIN);
        assert_eq!(s.get(1).unwrap().batches[0].first_seq, 2);
    }

    #[test]
    fn head_truncation_and_expiry_forget_producers() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(1, 0, 0, 0), 10, 10, 1_000);
        s.update(&batch(2, 0, 0, 0), 20, 20, 5_000);
        s.truncate_head(15);
        assert!(s.get(1).is_none() && s.get(2).is_some());
        s.expire(10_000, 4_000);
        assert!(s.is_empty());
    }

    #[test]
    fn damaged_snapshots_are_refused() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(1, 0, 0, 4), 0, 4, 1);
        let mut bytes = s.encode_snapshot();
        assert_eq!(ProducerStateManager::decode_snapshot(&bytes), Some(s));
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(ProducerStateManager::decode_snapshot(&bytes), None);
        assert_eq!(ProducerStateManager::decode_snapshot(&[]), None);
        assert_eq!(ProducerStateManager::decode_snapshot(&bytes[..3]), None);
    }

    proptest! {
        #[test]
        fn snapshots_round_trip(entries in proptest::collection::vec(
            (0i64..50, 0i16..3, 0i32..1000, 0i32..20, 0i64..1_000_000), 0..60)) {
            let mut s = ProducerStateManager::new();
            for (pid, epoch, seq, n, offset) in entries {
                s.update(&batch(pid, epoch, seq, seq + n), offset, offset + i64::from(n), offset);
            }
            prop_assert_eq!(ProducerStateManager::decode_snapshot(&s.encode_snapshot()), Some(s));
        }

        /// Random transactional and plain writes of three producers, markers and high
        /// watermark moves, against a model: the checks refuse exactly the plain writes of a
        /// producer with an open transaction, and the last stable offset is the high watermark
        /// or the first offset of the earliest transaction not ended by a committed marker.
        #[test]
        fn last_stable_offset_follows_a_model(
            ops in proptest::collection::vec((0i64..3, 0u8..6, 1i32..4), 1..80)
        ) {
            let mut s = ProducerStateManager::new();
            let mut open: HashMap<i64, i64> = HashMap::new();
            let mut ended: Vec<(i64, i64)> = Vec::new();
            let mut seq: HashMap<i64, i32> = HashMap::new();
            let (mut offset, mut hw) = (0i64, 0i64);
            for (pid, kind, n) in ops {
                match kind {
                    0 | 1 => {
                        let first = *seq.get(&pid).unwrap_or(&0);
                        let mut b = batch(pid, 0, first, first + n - 1);
                        b.kind = BatchKind::Data { transactional: kind == 0 };
                        let refused = kind == 1 && open.contains_key(&pid);
                        let checked = s.check(&[b], Origin::Client);
                        prop_assert_eq!(checked.is_err(), refused, "{:?}", checked);
                        if !refused {
                            s.update(&b, offset, offset + i64::from(n) - 1, 1);
                            if kind == 0 {
                                open.entry(pid).or_insert(offset);
                            }
                            seq.insert(pid, first + n);
                            offset += i64::from(n);
                        }
                    }
                    2 | 3 => {
                        let result = if kind == 2 { TxnResult::Commit } else { TxnResult::Abort };
                        let m = marker(pid, 0, result, 0);
                        prop_assert_eq!(s.check(&[m], Origin::Coordinator), Ok(SequenceCheck::Append));
                        let completed = s.update(&m, offset, offset, 1);
                        let expected = open.remove(&pid).map(|first| CompletedTxn {
                            producer_id: pid,
                            first_offset: first,
                            last_offset: offset,
                            aborted: kind == 3,
                        });
                        prop_assert_eq!(completed, expected);
                        if let Some(first) = expected.map(|t| t.first_offset) {
                            ended.push((first, offset));
                        }
                        offset += 1;
                    }
                    _ => {
                        hw = offset;
                        s.on_high_watermark(hw);
                    }
                }
                ended.retain(|(_, marker)| *marker >= hw);
                let unstable = open.values().chain(ended.iter().map(|(f, _)| f)).min().copied();
                let model = unstable.map_or(hw, |u| u.min(hw));
                let lso = s.first_unstable_offset().map_or(hw, |u| u.min(hw));
                prop_assert_eq!(lso, model);
            }
            s.on_high_watermark(offset);
            let decoded = ProducerStateManager::decode_snapshot(&s.encode_snapshot());
            prop_assert_eq!(decoded.map(|d| d.ongoing_transactions()), Some(s.ongoing_transactions()));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ProducerStateManager::decode_snapshot(&bytes);
        }
    }
}
