//! A transactional batch produced on a raw socket, its partition added to the transaction
//! with AddPartitionsToTxn first (the coordinator verifies every transactional Produce):
//! accepted with the request's transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED
//! without one, as Kafka answers), it holds read_committed readers at its first offset
//! (ListOffsets and Fetch report that last stable offset and serve nothing past it), and
//! DescribeProducers shows the open transaction; a client's own transaction marker is refused.

use gregor_itests::raw::messages::describe_producers_request::TopicRequest;
use gregor_itests::raw::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_itests::raw::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use gregor_itests::raw::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_itests::raw::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, DescribeProducersRequest,
    DescribeProducersResponse, FetchRequest, FetchResponse, InitProducerIdRequest,
    InitProducerIdResponse, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest,
    ProduceResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;
use gregor_storage::batch::{build_test_batch, build_test_txn_batch};
use gregor_storage::{EndTxnMarker, TxnResult};

const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const INVALID_RECORD: i16 = 87;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Produce v9 of `batch` to `txn-0`, with `transactional_id`: (error code, base offset).
fn produce(
    client: &mut RawClient,
    transactional_id: Option<&str>,
    batch: Vec<u8>,
) -> anyhow::Result<(i16, i64)> {
    let request = ProduceRequest::default()
        .with_transactional_id(transactional_id.map(|t| StrBytes::from_string(t.into()).into()))
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(StrBytes::from_static_str("txn").into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.into()))])]);
    let response: ProduceResponse = client.call(ApiKey::Produce, 9, &request)?;
    let p = &response.responses[0].partition_responses[0];
    Ok((p.error_code, p.base_offset))
}

/// ListOffsets v7 latest at `isolation_level`.
fn latest(client: &mut RawClient, isolation_level: i8) -> anyhow::Result<i64> {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(StrBytes::from_static_str("txn").into())
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let response: ListOffsetsResponse = client.call(ApiKey::ListOffsets, 7, &request)?;
    Ok(response.topics[0].partitions[0].offset)
}

#[test]
fn a_transactional_batch_holds_read_committed_readers_at_its_start() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let (code, message) = client.create_topic("txn", 1, &[])?;
    assert_eq!(code, 0, "{message}");
    client.wait_for_topic("txn")?;
    let now = now_ms();
    let init: InitProducerIdResponse = client.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(StrBytes::from_static_str("raw-txn").into()))
            .with_transaction_timeout_ms(600_000),
    )?;
    assert_eq!((init.error_code, init.producer_epoch), (0, 0));
    let producer_id = init.producer_id.0;
    let added: AddPartitionsToTxnResponse = client.call(
        ApiKey::AddPartitionsToTxn,
        3,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(StrBytes::from_static_str("raw-txn").into())
            .with_v3_and_below_producer_id(init.producer_id)
            .with_v3_and_below_producer_epoch(0)
            .with_v3_and_below_topics(vec![
                gregor_itests::raw::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(StrBytes::from_static_str("txn").into())
                    .with_partitions(vec![0]),
            ]),
    )?;
    assert_eq!(
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );

    assert_eq!(
        produce(&mut client, None, build_test_batch(2, 10, now))?,
        (0, 0)
    );
    let txn = build_test_txn_batch(producer_id, 0, 0, 3, now);
    assert_eq!(
        produce(&mut client, None, txn.clone())?.0,
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        "transactional records without a transactional id"
    );
    assert_eq!(produce(&mut client, Some("raw-txn"), txn)?, (0, 2));
    let marker = EndTxnMarker {
        result: TxnResult::Commit,
        coordinator_epoch: 0,
    }
    .batch(producer_id, 0, now);
    assert_eq!(
        produce(&mut client, Some("raw-txn"), marker)?.0,
        INVALID_RECORD,
        "only the broker writes markers"
    );

    assert_eq!(
        latest(&mut client, 0)?,
        5,
        "read_uncommitted: the high watermark"
    );
    assert_eq!(
        latest(&mut client, 1)?,
        2,
        "read_committed: the open transaction's start"
    );

    let fetch = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(1)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(StrBytes::from_static_str("txn").into())
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let response: FetchResponse = client.call(ApiKey::Fetch, 11, &fetch)?;
    let p = &response.responses[0].partitions[0];
    assert_eq!(
        (p.error_code, p.high_watermark, p.last_stable_offset),
        (0, 5, 2)
    );
    let records = p.records.clone().unwrap_or_default();
    let bases: Vec<i64> = gregor_storage::batch::headers(&records)
        .map(|h| h.map(|(_, h)| h.base_offset))
        .collect::<Result<_, _>>()?;
    assert_eq!(bases, vec![0], "nothing of the open transaction");
    assert_eq!(p.aborted_transactions.as_ref().map(Vec::len), Some(0));

    let describe = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(StrBytes::from_static_str("txn").into())
        .with_partition_indexes(vec![0])]);
    let response: DescribeProducersResponse =
        client.call(ApiKey::DescribeProducers, 0, &describe)?;
    let producers = &response.topics[0].partitions[0].active_producers;
    assert_eq!(producers.len(), 1);
    assert_eq!(
        (
            producers[0].producer_id.0,
            producers[0].current_txn_start_offset
        ),
        (producer_id, 2)
    );
    Ok(())
}
