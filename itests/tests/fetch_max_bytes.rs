//! Issue 13: a Fetch v16 with `max_bytes` 1,000,000 over partitions holding ~920 KB batches got
//! 1.84 MB back (a whole batch from a later partition too), which librdkafka rejects ("Invalid
//! response size") and refetches forever. Only the first batch may go over the client's limits
//! (KIP-74), so the response holds exactly one whole batch and at most `max_bytes` beyond it.
//! Kafka may also send the start of a next batch (it cuts by bytes, the client drops the torn
//! tail); Gregor sends whole batches only. Both are checked with `GREGOR_VS_KAFKA=1`.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use gregor_itests::raw::messages::create_topics_request::CreatableTopic;
use gregor_itests::raw::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_itests::raw::messages::metadata_request::MetadataRequestTopic;
use gregor_itests::raw::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_itests::raw::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::reference::each_broker;
use gregor_protocol::record_batch::encode_records;
use gregor_protocol::StrBytes;

const TOPIC: &str = "big-batches";
/// Each batch holds one record of this many bytes: two of them exceed `MAX_BYTES`.
const VALUE_LEN: usize = 920_000;
const MAX_BYTES: i32 = 1_000_000;

fn name(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn create_topic(client: &mut RawClient) -> anyhow::Result<()> {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![CreatableTopic::default()
            .with_name(name(TOPIC).into())
            .with_num_partitions(2)
            .with_replication_factor(1)]);
    let response: CreateTopicsResponse = client.call(ApiKey::CreateTopics, 5, &request)?;
    let code = response.topics[0].error_code;
    ensure!(code == 0, "CreateTopics: error {code}");
    Ok(())
}

/// Appends one batch of one `VALUE_LEN` record to `partition`, retrying while a fresh topic's
/// leader is not known yet (Kafka answers NOT_LEADER or UNKNOWN_TOPIC for a moment).
fn produce_batch(client: &mut RawClient, partition: i32) -> anyhow::Result<()> {
    let value = vec![b'v'; VALUE_LEN];
    let batch = encode_records(now_ms(), &[(None, Some(&value))]);
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(name(TOPIC).into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch.into()))])]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response: ProduceResponse = client.call(ApiKey::Produce, 9, &request)?;
        let code = response.responses[0].partition_responses[0].error_code;
        if code == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("Produce to partition {partition}: error {code}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sizes of the whole batches at the front of `records`; bytes after them are a torn batch,
/// which Kafka may send and clients drop.
fn whole_batches(records: &[u8]) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut at = 0;
    while records.len() - at >= 12 {
        let length = i32::from_be_bytes(records[at + 8..at + 12].try_into().expect("4 bytes"));
        let size = 12 + length.max(0) as usize;
        if at + size > records.len() {
            break;
        }
        sizes.push(size);
        at += size;
    }
    sizes
}

#[test]
fn fetch_keeps_to_max_bytes_but_for_the_first_batch() -> anyhow::Result<()> {
    each_broker(&[], |broker| {
        let mut client = RawClient::connect(&broker.bootstrap)?;
        create_topic(&mut client)?;
        produce_batch(&mut client, 0)?;
        produce_batch(&mut client, 0)?;
        produce_batch(&mut client, 1)?;
        let metadata: MetadataResponse = client.call(
            ApiKey::Metadata,
            12,
            &MetadataRequest::default().with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(name(TOPIC).into()))
            ])),
        )?;
        let topic_id = metadata.topics[0].topic_id;
        let fetch = FetchRequest::default()
            .with_max_wait_ms(500)
            .with_min_bytes(1)
            .with_max_bytes(MAX_BYTES)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic_id(topic_id)
                .with_partitions(
                    (0..2)
                        .map(|p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(0)
                                .with_partition_max_bytes(1 << 20)
                        })
                        .collect(),
                )]);
        let response: FetchResponse = client.call(ApiKey::Fetch, 16, &fetch)?;
        let mut batches = Vec::new();
        let mut total = 0;
        for partition in response.responses.iter().flat_map(|t| &t.partitions) {
            ensure!(
                partition.error_code == 0,
                "partition {}: error {}",
                partition.partition_index,
                partition.error_code
            );
            let records = partition.records.as_deref().unwrap_or_default();
            total += records.len();
            batches.extend(
                whole_batches(records)
                    .into_iter()
                    .map(|size| (partition.partition_index, size)),
            );
        }
        ensure!(
            batches.len() == 1,
            "the response holds whole batches {batches:?} ({total} record bytes) for max_bytes \
             {MAX_BYTES}: only the first batch may go over it"
        );
        ensure!(
            batches[0].0 == 0,
            "the one batch comes from partition 0, the first: {batches:?}"
        );
        ensure!(
            total <= (MAX_BYTES as usize).max(batches[0].1),
            "{total} record bytes for max_bytes {MAX_BYTES}"
        );
        Ok(())
    })
    .context("a Fetch over ~920 KB batches with max_bytes 1,000,000")
}
