//! A transaction left open past its `transaction.timeout.ms` is aborted by the coordinator
//! (checked every `transaction.abort.timed.out.transaction.cleanup.interval.ms`, here 100 ms):
//! DescribeTransactions shows it CompleteAbort with the epoch bumped (the producer is fenced),
//! and a timeout above `transaction.max.timeout.ms` is INVALID_TRANSACTION_TIMEOUT.

use std::time::{Duration, Instant};

use gregor_itests::raw::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use gregor_itests::raw::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, DescribeTransactionsRequest,
    DescribeTransactionsResponse, InitProducerIdRequest, InitProducerIdResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

const INVALID_TRANSACTION_TIMEOUT: i16 = 50;

fn init(client: &mut RawClient, timeout_ms: i32) -> anyhow::Result<InitProducerIdResponse> {
    client.call(
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(StrBytes::from_static_str("slow").into()))
            .with_transaction_timeout_ms(timeout_ms),
    )
}

#[test]
fn an_open_transaction_is_aborted_after_its_timeout() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[
        "--set",
        "transaction.abort.timed.out.transaction.cleanup.interval.ms=100",
        "--set",
        "transaction.max.timeout.ms=60000",
    ])?;
    let mut client = RawClient::connect(&broker.bootstrap())?;
    let (code, message) = client.create_topic("t", 1, &[])?;
    assert_eq!(code, 0, "{message}");
    assert_eq!(
        init(&mut client, 60_001)?.error_code,
        INVALID_TRANSACTION_TIMEOUT
    );
    let producer = init(&mut client, 500)?;
    assert_eq!(producer.error_code, 0);
    let added: AddPartitionsToTxnResponse = client.call(
        ApiKey::AddPartitionsToTxn,
        3,
        &AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(StrBytes::from_static_str("slow").into())
            .with_v3_and_below_producer_id(producer.producer_id)
            .with_v3_and_below_producer_epoch(producer.producer_epoch)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(StrBytes::from_static_str("t").into())
                .with_partitions(vec![0])]),
    )?;
    assert_eq!(
        added.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
        0
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let state = loop {
        let described: DescribeTransactionsResponse = client.call(
            ApiKey::DescribeTransactions,
            0,
            &DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![StrBytes::from_static_str("slow").into()]),
        )?;
        let state = described.transaction_states[0].clone();
        if state.transaction_state.as_str() == "CompleteAbort" || Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(state.transaction_state.as_str(), "CompleteAbort");
    assert_eq!(state.producer_id, producer.producer_id);
    assert_eq!(state.producer_epoch, producer.producer_epoch + 1, "fenced");
    assert!(state.topics.is_empty());
    Ok(())
}
