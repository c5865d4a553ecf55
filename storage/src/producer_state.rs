//! Idempotent-producer state of one partition; Kafka's ProducerStateManager.
//!
//! For every producer id seen in the log it keeps the epoch and the sequence ranges and offsets
//! of its last five batches (a producer has at most five requests in flight), so a retried batch
//! is recognised and answered with the offsets it got the first time instead of being appended
//! twice. All of it comes from batch headers: nothing is decompressed.
//!
//! The state is rebuilt at load from a snapshot file `{offset:020}.snapshot` (the state of every
//! producer after all batches below `offset`) plus a replay of the batches after it; without a
//! usable snapshot the whole log is replayed.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use crate::batch::BatchHeader;
use crate::error::{Result, StorageError};

/// How many batches per producer are remembered for duplicate detection (Kafka's
/// `NUM_BATCHES_TO_RETAIN`, which matches the clients' `max.in.flight.requests.per.connection`
/// limit for idempotence).
pub const BATCHES_TO_RETAIN: usize = 5;

/// How long a producer that writes nothing is remembered (Kafka's `producer.id.expiration.ms`
/// default, one day).
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;

/// Suffix of producer-state snapshot files.
pub const SNAPSHOT_SUFFIX: &str = ".snapshot";

/// Version byte of the snapshot layout below.
const SNAPSHOT_VERSION: u8 = 1;

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
    /// The newest epoch the producer wrote with.
    pub epoch: i16,
    /// The newest batches of that epoch, oldest first.
    pub batches: VecDeque<BatchMetadata>,
}

impl ProducerStateEntry {
    fn last(&self) -> Option<&BatchMetadata> {
        self.batches.back()
    }
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
}

impl ProducerBatch {
    /// The producer fields of `header`.
    pub fn of(header: &BatchHeader) -> ProducerBatch {
        ProducerBatch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            first_seq: header.base_sequence,
            last_seq: increment_sequence(header.base_sequence, header.last_offset_delta),
        }
    }

    /// Whether the batch is from an idempotent producer.
    pub fn is_idempotent(&self) -> bool {
        self.producer_id >= 0
    }
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

/// Why a batch of an idempotent producer was refused.
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
}

/// The outcome of checking an append against the producer state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append the batches.
    Append,
    /// A retry of a batch already in the log: answer with its offsets, append nothing.
    Duplicate(BatchMetadata),
}

/// The producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: HashMap<i64, ProducerStateEntry>,
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

    /// The largest producer id tracked (so ids handed out after a restart are new).
    pub fn max_producer_id(&self) -> Option<i64> {
        self.producers.keys().copied().max()
    }

    /// Checks the batches of one append as Kafka's leader does: epoch not older than the
    /// producer's, a retried batch is a duplicate, otherwise each batch must follow the one
    /// before it (a new epoch starts at sequence 0). Later batches of the same append are
    /// checked against the earlier ones.
    pub fn check(&self, batches: &[ProducerBatch]) -> Result<SequenceCheck, SequenceError> {
        // Within one append, the last batch checked per producer (epoch, last sequence).
        let mut pending: Vec<(i64, i16, i32)> = Vec::new();
        for batch in batches.iter().filter(|b| b.is_idempotent()) {
            if batch.first_seq < 0 {
                return Err(SequenceError::MissingSequence {
                    producer_id: batch.producer_id,
                });
            }
            let entry = self.producers.get(&batch.producer_id);
            let earlier = pending
                .iter()
                .rev()
                .find(|(id, _, _)| *id == batch.producer_id)
                .copied();
            let (epoch, last_seq) = match (earlier, entry) {
                (Some((_, epoch, seq)), _) => (Some(epoch), Some(seq)),
                (None, Some(entry)) => (Some(entry.epoch), entry.last().map(|b| b.last_seq)),
                (None, None) => (None, None),
            };
            if let Some(current) = epoch {
                if batch.epoch < current {
                    return Err(SequenceError::InvalidProducerEpoch {
                        producer_id: batch.producer_id,
                        epoch: batch.epoch,
                        current,
                    });
                }
            }
            if earlier.is_none() {
                if let Some(entry) = entry.filter(|e| e.epoch == batch.epoch) {
                    if let Some(dup) = entry
                        .batches
                        .iter()
                        .find(|b| b.first_seq == batch.first_seq && b.last_seq == batch.last_seq)
                    {
                        return Ok(SequenceCheck::Duplicate(*dup));
                    }
                }
            }
            match epoch {
                // A producer the log does not know (new, or all its batches removed by
                // retention): any sequence is accepted, as Kafka does.
                None => {}
                // A new epoch starts again at sequence 0.
                Some(current) if current != batch.epoch && batch.first_seq != 0 => {
                    return Err(out_of_order(batch, -1));
                }
                Some(current) if current != batch.epoch => {}
                Some(_) => match last_seq {
                    Some(last) if !in_sequence(last, batch.first_seq) => {
                        return Err(out_of_order(batch, last));
                    }
                    _ => {}
                },
            }
            pending.push((batch.producer_id, batch.epoch, batch.last_seq));
        }
        Ok(SequenceCheck::Append)
    }

    /// Records an appended (or replayed) batch at `[first_offset, last_offset]`.
    pub fn update(
        &mut self,
        batch: &ProducerBatch,
        first_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
    ) {
        if !batch.is_idempotent() {
            return;
        }
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerStateEntry {
                epoch: batch.epoch,
                batches: VecDeque::new(),
            });
        if entry.epoch != batch.epoch {
            entry.epoch = batch.epoch;
            entry.batches.clear();
        }
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
    }

    /// Each producer's id and the last offset of its newest batch.
    pub fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(id, entry)| entry.last().map(|b| (*id, b.last_offset)))
            .collect()
    }

    /// Forgets producers none of whose remembered batches is at or above `log_start_offset`
    /// (their records were deleted; Kafka does the same when the log start moves).
    pub fn truncate_head(&mut self, log_start_offset: i64) {
        self.producers.retain(|_, entry| {
            entry
                .last()
                .is_none_or(|b| b.last_offset >= log_start_offset)
        });
    }

    /// Forgets producers whose newest batch is older than `expiration_ms`
    /// (`producer.id.expiration.ms`).
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers.retain(|_, entry| {
            entry
                .last()
                .is_none_or(|b| now_ms.saturating_sub(b.max_timestamp) <= expiration_ms)
        });
    }

    /// The state as a snapshot file's bytes: version, CRC32C of the rest, then the entries.
    pub fn encode_snapshot(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let entry = &self.producers[&id];
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&entry.epoch.to_be_bytes());
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

    /// Reads a snapshot written by `encode_snapshot`; `None` if it is damaged or of another
    /// version (the caller then rebuilds from the log).
    pub fn decode_snapshot(bytes: &[u8]) -> Option<ProducerStateManager> {
        let (&version, rest) = bytes.split_first()?;
        if version != SNAPSHOT_VERSION || rest.len() < 4 {
            return None;
        }
        let (crc, body) = rest.split_at(4);
        if crc32c::crc32c(body) != u32::from_be_bytes(crc.try_into().ok()?) {
            return None;
        }
        let mut r = Reader(body);
        let count = r.u32()?;
        let mut producers = HashMap::new();
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let n = r.u8()? as usize;
            if n > BATCHES_TO_RETAIN {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchMetadata {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    max_timestamp: r.i64()?,
                });
            }
            producers.insert(id, ProducerStateEntry { epoch, batches });
        }
        r.0.is_empty().then_some(ProducerStateManager { producers })
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
        }
    }

    #[test]
    fn retry_is_a_duplicate_with_the_first_offsets() {
        let mut s = ProducerStateManager::new();
        let b = batch(7, 0, 0, 4);
        assert_eq!(s.check(&[b]), Ok(SequenceCheck::Append));
        s.update(&b, 100, 104, 1);
        match s.check(&[b]) {
            Ok(SequenceCheck::Duplicate(m)) => {
                assert_eq!((m.first_offset, m.last_offset), (100, 104))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.check(&[batch(7, 0, 5, 5)]), Ok(SequenceCheck::Append));
    }

    #[test]
    fn gaps_old_epochs_and_new_epochs() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(7, 3, 0, 9), 0, 9, 1);
        assert!(matches!(
            s.check(&[batch(7, 3, 11, 11)]),
            Err(SequenceError::OutOfOrderSequence { last_seq: 9, .. })
        ));
        assert!(matches!(
            s.check(&[batch(7, 2, 10, 10)]),
            Err(SequenceError::InvalidProducerEpoch { current: 3, .. })
        ));
        assert_eq!(s.check(&[batch(7, 4, 0, 0)]), Ok(SequenceCheck::Append));
        assert!(matches!(
            s.check(&[batch(7, 4, 5, 5)]),
            Err(SequenceError::OutOfOrderSequence { .. })
        ));
        // Unknown producers may start anywhere (their records may have been deleted).
        assert_eq!(s.check(&[batch(8, 0, 42, 50)]), Ok(SequenceCheck::Append));
        assert_eq!(s.check(&[batch(-1, -1, -1, -1)]), Ok(SequenceCheck::Append));
        assert!(matches!(
            s.check(&[batch(9, 0, -1, -1)]),
            Err(SequenceError::MissingSequence { .. })
        ));
    }

    #[test]
    fn batches_of_one_append_follow_each_other() {
        let mut s = ProducerStateManager::new();
        s.update(&batch(7, 0, 0, 1), 0, 1, 1);
        assert_eq!(
            s.check(&[batch(7, 0, 2, 3), batch(7, 0, 4, 4)]),
            Ok(SequenceCheck::Append)
        );
        assert!(s.check(&[batch(7, 0, 2, 3), batch(7, 0, 2, 3)]).is_err());
    }

    #[test]
    fn sequences_wrap() {
        assert_eq!(increment_sequence(i32::MAX, 1), 0);
        assert_eq!(increment_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(increment_sequence(5, 3), 8);
        let mut s = ProducerStateManager::new();
        s.update(&batch(1, 0, i32::MAX - 1, i32::MAX), 0, 1, 1);
        assert_eq!(s.check(&[batch(1, 0, 0, 0)]), Ok(SequenceCheck::Append));
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

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = ProducerStateManager::decode_snapshot(&bytes);
        }
    }
}
