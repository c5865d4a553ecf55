//! Fetch: serve whole batches straight from the segment mappings, and long-poll: when fewer than
//! `min_bytes` are there, wait on the partitions' end-offset watches until data arrives or
//! `max_wait_ms` passes. Nothing sleeps in a loop.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::select_all;
use gregor_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use gregor_protocol::messages::{FetchRequest, FetchResponse};
use gregor_protocol::ResponseError;
use gregor_storage::PartitionLog;
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
    let max_bytes = if request.max_bytes <= 0 {
        FETCH_MAX_BYTES
    } else {
        (request.max_bytes as usize).min(FETCH_MAX_BYTES)
    };
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

/// Reads every wanted partition once: the data, the bytes gathered, and whether any partition
/// has an error (errors are answered at once, as Kafka does). Partitions without data carry
/// empty records, never null: librdkafka 2.12 rejects a whole response with a null record set.
fn read_all(wanted: &[Wanted], max_bytes: usize) -> (Vec<(usize, PartitionData)>, usize, bool) {
    let mut out = Vec::with_capacity(wanted.len());
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
            Ok(log) => {
                // The response limit may cut later partitions to nothing, but the first one with
                // data always gets at least one whole batch (KIP-74).
                let room = if total == 0 {
                    w.max_bytes.min(max_bytes).max(1)
                } else {
                    w.max_bytes.min(max_bytes.saturating_sub(total))
                };
                if room == 0 {
                    let hw = log.high_watermark();
                    base.with_high_watermark(hw)
                        .with_last_stable_offset(hw)
                        .with_log_start_offset(log.log_start_offset())
                        .with_records(Some(Bytes::new()))
                } else {
                    match log.read(w.fetch_offset, room) {
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
                    }
                }
            }
        };
        out.push((w.topic_index, data));
    }
    (out, total, errors)
}
