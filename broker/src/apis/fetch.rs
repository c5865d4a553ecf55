//! Fetch: serve whole batches straight from the segment mappings, and long-poll: when fewer than
//! `min_bytes` are there, wait on the partitions' end-offset watches until data arrives or
//! `max_wait_ms` passes. Nothing sleeps in a loop. The response stays within the client's
//! `max_bytes` and each `partition_max_bytes` but for one first batch (`Budget`, KIP-74).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use gregor_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use gregor_protocol::messages::{FetchRequest, FetchResponse};
use gregor_protocol::ResponseError;
use gregor_storage::{PartitionLog, ReadInfo};
use tokio::sync::watch;

use crate::apis::topic_name;
use crate::broker::Broker;
use crate::error::storage_error_code;

/// Kafka's broker-side `fetch.max.bytes` (55 MiB): the most record bytes a Fetch response
/// carries whatever the request asks for (beyond a first batch that is larger on its own), so
/// no client can make the broker build a 2 GiB response.
const FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

/// One requested partition, resolved.
struct Wanted {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    log: Result<Arc<PartitionLog>, ResponseError>,
}

/// Handles a Fetch request, waiting up to `max_wait_ms` for `min_bytes`.
pub async fn handle(broker: &Arc<Broker>, request: &FetchRequest, version: i16) -> FetchResponse {
    let mut topics: Vec<FetchableTopicResponse> = Vec::with_capacity(request.topics.len());
    let mut wanted = Vec::new();
    for topic in &request.topics {
        // From v13 on topics are named by id.
        let (meta, unknown) = if version >= 13 {
            (
                broker.topics.by_id(topic.topic_id),
                ResponseError::UnknownTopicId,
            )
        } else {
            (
                broker.topics.get(topic.topic.as_str()),
                ResponseError::UnknownTopicOrPartition,
            )
        };
        let name = meta
            .as_ref()
            .map_or_else(|| topic.topic.clone(), |m| topic_name(&m.name));
        topics.push(
            FetchableTopicResponse::default()
                .with_topic(name)
                .with_topic_id(topic.topic_id),
        );
        for p in &topic.partitions {
            let log = match &meta {
                None => Err(unknown),
                Some(m) => broker
                    .partition_log(&m.name, p.partition)
                    .ok_or(ResponseError::UnknownTopicOrPartition),
            };
            wanted.push(Wanted {
                topic_index: topics.len() - 1,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                log,
            });
        }
    }

    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(request.max_wait_ms.max(0) as u64);
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_bytes = response_max_bytes(request.max_bytes);
    // Subscribed before the first read, so an append between the read and the wait still wakes us.
    let mut watches: Vec<watch::Receiver<i64>> = wanted
        .iter()
        .filter_map(|w| w.log.as_ref().ok().map(|l| l.subscribe()))
        .collect();
    loop {
        let (partitions, bytes, errors) = read_all(&wanted, max_bytes);
        let done = bytes >= min_bytes
            || errors
            || watches.is_empty()
            || tokio::time::Instant::now() >= deadline;
        if done {
            return respond(topics, partitions);
        }
        let changed = select_all(watches.iter_mut().map(|w| Box::pin(w.changed())));
        match tokio::time::timeout_at(deadline, changed).await {
            Ok((Ok(()), _, _)) => {}
            // Timed out, or a log went away (its topic was deleted): answer with what is there.
            _ => {
                let (partitions, _, _) = read_all(&wanted, max_bytes);
                return respond(topics, partitions);
            }
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

fn respond(
    mut topics: Vec<FetchableTopicResponse>,
    partitions: Vec<(usize, PartitionData)>,
) -> FetchResponse {
    for (topic_index, data) in partitions {
        topics[topic_index].partitions.push(data);
    }
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics)
}

/// Reads every wanted partition once, in request order, within the response's `max_bytes`:
/// the data, the record bytes gathered, and whether any partition has an error (errors are
/// answered at once, as Kafka does). Partitions without data carry empty records, never null:
/// librdkafka 2.12 rejects a whole response with a null record set.
fn read_all(wanted: &[Wanted], max_bytes: usize) -> (Vec<(usize, PartitionData)>, usize, bool) {
    let mut out = Vec::with_capacity(wanted.len());
    let mut budget = Budget::new(max_bytes);
    let mut total = 0usize;
    let mut errors = false;
    for w in wanted {
        let base = PartitionData::default().with_partition_index(w.partition);
        let data = match &w.log {
            Err(code) => {
                errors = true;
                base.with_error_code(code.code())
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_records(Some(Bytes::new()))
            }
            Ok(log) => match read_partition(log.as_ref(), w, &mut budget) {
                Ok(read) => {
                    total += read.records.len();
                    base.with_high_watermark(read.high_watermark)
                        .with_last_stable_offset(read.high_watermark)
                        .with_log_start_offset(read.log_start_offset)
                        .with_records(Some(read.records))
                }
                Err(e) => {
                    errors = true;
                    base.with_error_code(storage_error_code(&e).code())
                        .with_high_watermark(log.high_watermark())
                        .with_last_stable_offset(log.high_watermark())
                        .with_log_start_offset(log.log_start_offset())
                        .with_records(Some(Bytes::new()))
                }
            },
        };
        out.push((w.topic_index, data));
    }
    (out, total, errors)
}

/// A partition's read as the budget sees it: whole batches from the one holding `offset`, up
/// to `max_bytes` but at least one (`PartitionLog::read`). A trait so the budget is tested
/// over plain lists of batch sizes.
trait ReadBatches {
    fn read_batches(&self, offset: i64, max_bytes: usize) -> gregor_storage::Result<ReadInfo>;
}

impl ReadBatches for PartitionLog {
    fn read_batches(&self, offset: i64, max_bytes: usize) -> gregor_storage::Result<ReadInfo> {
        self.read(offset, max_bytes)
    }
}

/// Reads one partition within what `budget` grants it, and charges what it keeps.
fn read_partition(
    log: &impl ReadBatches,
    w: &Wanted,
    budget: &mut Budget,
) -> gregor_storage::Result<ReadInfo> {
    let Some(limit) = budget.grant(w.max_bytes) else {
        // Nothing left for this partition; the offset is still checked, as a read would.
        let mut read = log.read_batches(w.fetch_offset, 0)?;
        read.records = Bytes::new();
        return Ok(read);
    };
    let mut read = log.read_batches(w.fetch_offset, limit)?;
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
                let w = Wanted {
                    topic_index: 0,
                    partition: 0,
                    fetch_offset: 0,
                    max_bytes: *partition_max_bytes,
                    log: Err(ResponseError::UnknownServerError),
                };
                let read = read_partition(log, &w, &mut budget).expect("reads never fail here");
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
}
