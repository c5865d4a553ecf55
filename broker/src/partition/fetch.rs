//! The reads of a Fetch and its wait; Kafka's `ReplicaManager.fetchMessages`, `readFromLog`
//! and `DelayedFetch`.
//!
//! `fetch_messages` reads every requested partition once, in request order, within one
//! response budget (`Budget`, KIP-74). When fewer than `min_bytes` came back and no partition
//! failed, it waits on the partitions' high-watermark watches until one moves or `max_wait_ms`
//! passes, then reads again: nothing sleeps in a loop, and an append between a read and the
//! wait still wakes it (the watches are subscribed before the first read). A partition that
//! fails is answered at once with its error, as Kafka answers. Each partition reports its high
//! watermark, last stable offset and log start offset as they were when it was read, and a
//! read_committed read the aborted transactions that may hold its records (Kafka's
//! `LocalLog.addAbortedTransactions`), so the consumer can skip them.

use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use gregor_storage::ReadInfo;
use tokio::sync::watch;

use super::{IsolationLevel, Partition};
use crate::error::KafkaError;

/// Kafka's broker-side `fetch.max.bytes` (55 MiB): the most record bytes a Fetch response
/// carries whatever the request asks for (beyond a first batch that is larger on its own), so
/// no client can make the broker build a 2 GiB response.
const FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

/// What the whole Fetch asks for (Kafka's `FetchParams`).
#[derive(Debug, Clone, Copy)]
pub struct FetchParams {
    /// The longest the fetch may wait for `min_bytes`.
    pub max_wait_ms: i32,
    /// Record bytes that answer the fetch before `max_wait_ms`.
    pub min_bytes: i32,
    /// Record bytes the response may carry (the broker caps it further).
    pub max_bytes: i32,
    /// Which offsets the reader may see.
    pub isolation: IsolationLevel,
}

/// One requested partition.
pub struct FetchPartition {
    /// The partition, or why the request cannot have it (unknown topic or partition).
    pub partition: Result<Partition, KafkaError>,
    /// The offset to read from.
    pub fetch_offset: i64,
    /// The partition's own limit (`partition_max_bytes`).
    pub max_bytes: usize,
}

/// What one partition answers.
#[derive(Debug, Clone)]
pub struct FetchPartitionData {
    /// Why the partition could not be read; then `records` is empty.
    pub error: Option<KafkaError>,
    /// The high watermark, -1 when the partition is unknown.
    pub high_watermark: i64,
    /// The last stable offset, -1 when the partition is unknown.
    pub last_stable_offset: i64,
    /// The log start offset, -1 when the partition is unknown.
    pub log_start_offset: i64,
    /// Whole batches; empty, never absent, when there is nothing (librdkafka 2.12 rejects a
    /// whole response with a null record set).
    pub records: Bytes,
    /// For read_committed, the aborted transactions that may hold records of `records`, in
    /// marker order; `None` for read_uncommitted.
    pub aborted_transactions: Option<Vec<gregor_storage::AbortedTxn>>,
}

/// Reads `partitions` for one Fetch, waiting up to `max_wait_ms` for `min_bytes`. The answer
/// has one entry per requested partition, in request order.
pub async fn fetch_messages(
    params: FetchParams,
    partitions: &[FetchPartition],
) -> Vec<FetchPartitionData> {
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(params.max_wait_ms.max(0) as u64);
    let min_bytes = params.min_bytes.max(0) as usize;
    let max_bytes = response_max_bytes(params.max_bytes);
    // Subscribed before the first read, so an append between the read and the wait still wakes us.
    let mut watches: Vec<watch::Receiver<i64>> = partitions
        .iter()
        .filter_map(|p| p.partition.as_ref().ok().map(Partition::subscribe))
        .collect();
    loop {
        let (data, bytes, errors) = read_all(partitions, max_bytes, params.isolation);
        let done = bytes >= min_bytes
            || errors
            || watches.is_empty()
            || tokio::time::Instant::now() >= deadline;
        if done {
            return data;
        }
        let changed = select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        match tokio::time::timeout_at(deadline, changed).await {
            Ok((Ok(()), _, _)) => {}
            // Timed out, or a log went away (its topic was deleted): answer with what is there.
            _ => return read_all(partitions, max_bytes, params.isolation).0,
        }
        for w in &mut watches {
            w.borrow_and_update();
        }
    }
}

/// The record bytes a response may carry, as Kafka computes them: the smaller of the client's
/// `max_bytes` and the broker's cap. Even 0 still gets the first batch (`Budget`).
fn response_max_bytes(requested: i32) -> usize {
    (requested.max(0) as usize).min(FETCH_MAX_BYTES)
}

/// Reads every partition once, in request order, within the response's `max_bytes`: the data,
/// the record bytes gathered, and whether any partition has an error.
fn read_all(
    partitions: &[FetchPartition],
    max_bytes: usize,
    isolation: IsolationLevel,
) -> (Vec<FetchPartitionData>, usize, bool) {
    let mut out = Vec::with_capacity(partitions.len());
    let mut budget = Budget::new(max_bytes);
    let mut total = 0usize;
    let mut errors = false;
    for p in partitions {
        let data = match &p.partition {
            Err(e) => {
                errors = true;
                FetchPartitionData {
                    error: Some(e.clone()),
                    high_watermark: -1,
                    last_stable_offset: -1,
                    log_start_offset: -1,
                    records: Bytes::new(),
                    aborted_transactions: None,
                }
            }
            Ok(partition) => {
                let log = PartitionRead {
                    partition,
                    isolation,
                };
                match read_partition(&log, p.fetch_offset, p.max_bytes, &mut budget) {
                    Ok(read) => {
                        total += read.records.len();
                        FetchPartitionData {
                            error: None,
                            high_watermark: read.high_watermark,
                            // As of the read: never above the high watermark it reports.
                            last_stable_offset: partition
                                .last_stable_offset()
                                .min(read.high_watermark),
                            log_start_offset: read.log_start_offset,
                            aborted_transactions: aborted_transactions(
                                partition,
                                isolation,
                                p.fetch_offset,
                                &read.records,
                            ),
                            records: read.records,
                        }
                    }
                    Err(e) => {
                        errors = true;
                        FetchPartitionData {
                            error: Some(e.into()),
                            high_watermark: partition.high_watermark(),
                            last_stable_offset: partition.last_stable_offset(),
                            log_start_offset: partition.log_start_offset(),
                            records: Bytes::new(),
                            aborted_transactions: None,
                        }
                    }
                }
            }
        };
        out.push(data);
    }
    (out, total, errors)
}

/// The aborted transactions a read_committed reader of `records` (read from `fetch_offset`)
/// must know: those with records between the fetch offset and the end of the last batch read.
fn aborted_transactions(
    partition: &Partition,
    isolation: IsolationLevel,
    fetch_offset: i64,
    records: &[u8],
) -> Option<Vec<gregor_storage::AbortedTxn>> {
    if isolation != IsolationLevel::ReadCommitted {
        return None;
    }
    let upper = gregor_storage::batch::headers(records)
        .map_while(Result::ok)
        .last()
        .map(|(_, h)| h.next_offset());
    Some(upper.map_or_else(Vec::new, |upper| {
        partition.aborted_transactions(fetch_offset, upper)
    }))
}

/// A partition read at one isolation level.
struct PartitionRead<'a> {
    partition: &'a Partition,
    isolation: IsolationLevel,
}

impl ReadBatches for PartitionRead<'_> {
    fn read_batches(&self, offset: i64, max_bytes: usize) -> gregor_storage::Result<ReadInfo> {
        self.partition.read(offset, max_bytes, self.isolation)
    }
}

/// A partition's read as the budget sees it: whole batches from the one holding `offset`, up
/// to `max_bytes` but at least one (`PartitionLog::read`). A trait so the budget is tested
/// over plain lists of batch sizes.
trait ReadBatches {
    fn read_batches(&self, offset: i64, max_bytes: usize) -> gregor_storage::Result<ReadInfo>;
}

/// Reads one partition within what `budget` grants it, and charges what it keeps.
fn read_partition(
    log: &impl ReadBatches,
    fetch_offset: i64,
    partition_max_bytes: usize,
    budget: &mut Budget,
) -> gregor_storage::Result<ReadInfo> {
    let Some(limit) = budget.grant(partition_max_bytes) else {
        // Nothing left for this partition; the offset is still checked, as a read would.
        let mut read = log.read_batches(fetch_offset, 0)?;
        read.records = Bytes::new();
        return Ok(read);
    };
    let mut read = log.read_batches(fetch_offset, limit)?;
    if !budget.take(limit, read.records.len()) {
        read.records = Bytes::new();
    }
    Ok(read)
}

/// The record bytes one Fetch response may still carry (Kafka's `limitBytes` and
/// `minOneMessage` in `ReplicaManager.readFromLog`, KIP-74). Partitions are read in request
/// order, each up to the smaller of its `partition_max_bytes` and what the response has left.
/// Only the first batch of the first partition that returns data may be larger than that, so a
/// batch above the client's limits never blocks its consumer; no other batch goes over, or the
/// client rejects the whole response (librdkafka: "Invalid response size") and refetches it
/// forever.
#[derive(Debug, Clone, Copy)]
struct Budget {
    /// Record bytes the response may still carry.
    left: usize,
    /// True until some partition returned data: until then a read may return one batch larger
    /// than its limit.
    first_batch_free: bool,
}

impl Budget {
    fn new(max_bytes: usize) -> Budget {
        Budget {
            left: max_bytes,
            first_batch_free: true,
        }
    }

    /// The limit for the next partition's read, or `None` when it must read nothing.
    fn grant(&self, partition_max_bytes: usize) -> Option<usize> {
        let limit = partition_max_bytes.min(self.left);
        (limit > 0 || self.first_batch_free).then_some(limit)
    }

    /// Charges `read` bytes that a read with `limit` returned (whole batches up to `limit`, or
    /// one batch above it) and says whether the response keeps them: a batch above the limit
    /// only while the first batch is free.
    fn take(&mut self, limit: usize, read: usize) -> bool {
        if read > limit && !self.first_batch_free {
            return false;
        }
        if read > 0 {
            self.first_batch_free = false;
        }
        self.left = self.left.saturating_sub(read);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A partition's batch sizes from the fetch offset on, read the way `LogSegment::read`
    /// reads: whole batches up to the limit, but at least one.
    #[derive(Debug, Clone)]
    struct Batches(Vec<usize>);

    impl ReadBatches for Batches {
        fn read_batches(&self, _: i64, max_bytes: usize) -> gregor_storage::Result<ReadInfo> {
            let mut len = 0;
            for (i, size) in self.0.iter().enumerate() {
                if i > 0 && len + size > max_bytes {
                    break;
                }
                len += size;
            }
            Ok(ReadInfo {
                records: Bytes::from(vec![0u8; len]),
                high_watermark: self.0.len() as i64,
                log_start_offset: 0,
            })
        }
    }

    impl Batches {
        /// How many whole batches `len` bytes are, if they are a prefix of whole batches.
        fn count(&self, len: usize) -> Option<usize> {
            let mut sum = 0;
            for (i, size) in self.0.iter().enumerate() {
                if sum == len {
                    return Some(i);
                }
                sum += size;
            }
            (sum == len).then_some(self.0.len())
        }
    }

    /// Bytes each partition returns, reading them in order through one budget.
    fn fetch(partitions: &[(Batches, usize)], max_bytes: usize) -> Vec<usize> {
        let mut budget = Budget::new(max_bytes);
        partitions
            .iter()
            .map(|(log, partition_max_bytes)| {
                let read = read_partition(log, 0, *partition_max_bytes, &mut budget)
                    .expect("reads never fail here");
                read.records.len()
            })
            .collect()
    }

    fn batch_size() -> impl Strategy<Value = usize> {
        prop_oneof![1usize..200, 200usize..5_000, 5_000usize..50_000]
    }

    fn limit() -> impl Strategy<Value = usize> {
        prop_oneof![Just(0usize), 1usize..1_000, 1_000usize..100_000]
    }

    fn partitions() -> impl Strategy<Value = Vec<(Batches, usize)>> {
        prop::collection::vec(
            (
                prop::collection::vec(batch_size(), 0..6).prop_map(Batches),
                limit(),
            ),
            1..8,
        )
    }

    proptest! {
        /// Only the first batch of the first partition with data may go over a limit, whole
        /// batches are returned, and that first partition always gets its first batch.
        #[test]
        fn only_the_first_batch_goes_over_the_limits(
            partitions in partitions(),
            max_bytes in limit(),
        ) {
            let got = fetch(&partitions, max_bytes);
            let first = partitions.iter().position(|(log, _)| !log.0.is_empty());
            let mut batches = 0;
            for (i, ((log, partition_max_bytes), len)) in partitions.iter().zip(&got).enumerate() {
                let count = log.count(*len);
                prop_assert!(count.is_some(), "partition {i}: {len} bytes are not whole batches");
                let count = count.unwrap_or_default();
                batches += count;
                if Some(i) == first {
                    prop_assert!(count >= 1, "the first partition with data got nothing");
                }
                if *len > *partition_max_bytes {
                    prop_assert!(
                        Some(i) == first && count == 1,
                        "partition {i}: {len} bytes over its {partition_max_bytes}"
                    );
                }
            }
            let total: usize = got.iter().sum();
            prop_assert!(
                total <= max_bytes || batches == 1,
                "{total} bytes in {batches} batches over max_bytes {max_bytes}"
            );
        }

        /// Within the limits, each partition gets as much as Kafka gives it: every whole batch
        /// that fits both its own limit and what the response has left.
        #[test]
        fn each_partition_gets_what_fits(
            partitions in partitions(),
            max_bytes in limit(),
        ) {
            let got = fetch(&partitions, max_bytes);
            let mut left = max_bytes;
            let mut first_free = true;
            for ((log, partition_max_bytes), len) in partitions.iter().zip(&got) {
                let room = (*partition_max_bytes).min(left);
                let mut want = 0;
                for (i, size) in log.0.iter().enumerate() {
                    if want + size > room && !(i == 0 && first_free) {
                        break;
                    }
                    want += size;
                    if want > room {
                        break;
                    }
                }
                prop_assert_eq!(*len, want);
                if want > 0 {
                    first_free = false;
                }
                left = left.saturating_sub(want);
            }
        }
    }

    #[test]
    fn the_broker_caps_what_a_client_asks() {
        assert_eq!(response_max_bytes(i32::MAX), FETCH_MAX_BYTES);
        assert_eq!(response_max_bytes(1_000_000), 1_000_000);
        assert_eq!(response_max_bytes(0), 0);
        assert_eq!(response_max_bytes(-5), 0);
    }

    #[test]
    fn a_later_partition_does_not_overflow_the_response() {
        // Issue 13: two 922 KB batches in two partitions under max_bytes 1,000,000.
        let partitions = [
            (Batches(vec![922_000]), 1 << 20),
            (Batches(vec![922_000]), 1 << 20),
        ];
        assert_eq!(fetch(&partitions, 1_000_000), vec![922_000, 0]);
    }

    #[test]
    fn an_empty_first_partition_leaves_the_first_batch_free() {
        let partitions = [(Batches(vec![]), 10), (Batches(vec![50, 5]), 10)];
        assert_eq!(fetch(&partitions, 10), vec![0, 50]);
    }

    /// read_committed stops at the last stable offset and names the aborted transaction in
    /// range; read_uncommitted reads on to the high watermark and names none.
    #[test]
    fn read_committed_stops_at_the_open_transaction_and_names_the_aborted_one() {
        use gregor_storage::batch::{build_test_batch, build_test_txn_batch};
        use gregor_storage::producer_state::Origin;
        use gregor_storage::{EndTxnMarker, LogConfig, LogManager, TopicPartition, TxnResult};
        let dir = tempfile::tempdir().unwrap();
        let logs = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        let tp = TopicPartition::new("t", 0);
        let log = logs.get_or_create(&tp, LogConfig::default()).unwrap();
        log.append(&build_test_batch(2, 10, 0), 0).unwrap();
        log.append(&build_test_txn_batch(1, 0, 0, 3, 0), 0).unwrap();
        let abort = EndTxnMarker {
            result: TxnResult::Abort,
            coordinator_epoch: 0,
        }
        .batch(1, 0, 0);
        log.append_as(&abort, 0, Origin::Coordinator).unwrap();
        log.append(&build_test_txn_batch(2, 0, 0, 2, 0), 0).unwrap();
        let partition = Partition::new(tp, log);
        let wanted = [FetchPartition {
            partition: Ok(partition),
            fetch_offset: 0,
            max_bytes: 1 << 20,
        }];
        let (committed, _, _) = read_all(&wanted, 1 << 20, IsolationLevel::ReadCommitted);
        let committed = &committed[0];
        assert_eq!(
            (committed.high_watermark, committed.last_stable_offset),
            (8, 6)
        );
        let batches: Vec<_> = gregor_storage::batch::headers(&committed.records)
            .map(|h| h.unwrap().1.base_offset)
            .collect();
        assert_eq!(batches, vec![0, 2, 5], "nothing of the open transaction");
        let aborted = committed.aborted_transactions.clone().unwrap();
        assert_eq!(
            aborted
                .iter()
                .map(|a| (a.producer_id, a.first_offset))
                .collect::<Vec<_>>(),
            vec![(1, 2)]
        );
        let (all, _, _) = read_all(&wanted, 1 << 20, IsolationLevel::ReadUncommitted);
        assert_eq!(gregor_storage::batch::headers(&all[0].records).count(), 4);
        assert_eq!(all[0].aborted_transactions, None);
    }
}
