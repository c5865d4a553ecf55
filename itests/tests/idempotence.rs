//! The idempotent producer on the wire: a Produce request sent twice (same producer id, epoch
//! and sequence) is stored once and both replies carry the first offset, also across a clean
//! restart and a `kill -9`; a gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER, an old
//! epoch INVALID_PRODUCER_EPOCH; a transactional id gets its coordinator and producer id.

use gregor_itests::clients::{create_topic, record_count};
use gregor_itests::raw::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_itests::raw::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProduceRequest, ProduceResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;
use gregor_storage::batch::{build_test_batch, set_test_producer};

const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const PRODUCE_VERSION: i16 = 9;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn produce_request(topic: &str, pid: i64, epoch: i16, seq: i32, count: i32) -> ProduceRequest {
    let mut batch = build_test_batch(count, 50, now_ms());
    set_test_producer(&mut batch, pid, epoch, seq);
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(StrBytes::from_string(topic.to_string()).into())
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch.into()))])])
}

/// (error code, base offset) of partition 0 in a Produce response.
fn outcome(response: &ProduceResponse) -> (i16, i64) {
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

fn produce(client: &mut RawClient, request: &ProduceRequest) -> anyhow::Result<(i16, i64)> {
    let response: ProduceResponse = client.call(ApiKey::Produce, PRODUCE_VERSION, request)?;
    Ok(outcome(&response))
}

fn init_producer_id(
    client: &mut RawClient,
    transactional_id: Option<&str>,
) -> anyhow::Result<InitProducerIdResponse> {
    let request = InitProducerIdRequest::default()
        .with_transactional_id(transactional_id.map(|t| StrBytes::from_string(t.into()).into()))
        .with_transaction_timeout_ms(60_000);
    client.call(ApiKey::InitProducerId, 4, &request)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_sent_twice_is_stored_once() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "idem", 1).await?;
    let mut client = RawClient::connect(&b)?;
    let init = init_producer_id(&mut client, None)?;
    assert_eq!(init.error_code, 0);
    let (pid, epoch) = (init.producer_id.0, init.producer_epoch);
    assert!(pid >= 0);

    assert_eq!(
        produce(&mut client, &produce_request("idem", pid, epoch, 0, 3))?,
        (0, 0)
    );
    // The same request twice back to back on the wire, as a client retrying after a lost
    // response would send it: both answers name the first offset.
    let request = produce_request("idem", pid, epoch, 3, 2);
    let first = client.frame(ApiKey::Produce, PRODUCE_VERSION, &request)?;
    let again = client.frame(ApiKey::Produce, PRODUCE_VERSION, &request)?;
    client.send_bytes(&[first, again].concat())?;
    let r1: ProduceResponse = client.read_response(ApiKey::Produce, PRODUCE_VERSION)?;
    let r2: ProduceResponse = client.read_response(ApiKey::Produce, PRODUCE_VERSION)?;
    assert_eq!(outcome(&r1), (0, 3));
    assert_eq!(
        outcome(&r2),
        (0, 3),
        "the duplicate is answered with the first offset"
    );
    assert_eq!(
        record_count(&b, "idem", 1)?,
        5,
        "the duplicate was not stored"
    );

    // A gap, then an older epoch: refused, nothing stored.
    assert_eq!(
        produce(&mut client, &produce_request("idem", pid, epoch, 9, 1))?.0,
        OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    assert_eq!(
        produce(&mut client, &produce_request("idem", pid, epoch + 1, 0, 1))?,
        (0, 5)
    );
    assert_eq!(
        produce(&mut client, &produce_request("idem", pid, epoch, 5, 1))?.0,
        INVALID_PRODUCER_EPOCH
    );
    assert_eq!(record_count(&b, "idem", 1)?, 6);

    // The producer state outlives a clean restart and a crash.
    let retry = produce_request("idem", pid, epoch + 1, 0, 1);
    broker.stop()?;
    broker.restart()?;
    let mut client = RawClient::connect(&b)?;
    assert_eq!(
        produce(&mut client, &retry)?,
        (0, 5),
        "duplicate after a clean restart"
    );
    assert_eq!(
        produce(&mut client, &produce_request("idem", pid, epoch + 1, 1, 1))?,
        (0, 6)
    );
    broker.kill9()?;
    broker.restart()?;
    let mut client = RawClient::connect(&b)?;
    assert_eq!(
        produce(&mut client, &produce_request("idem", pid, epoch + 1, 1, 1))?,
        (0, 6),
        "duplicate after kill -9"
    );
    assert_eq!(record_count(&b, "idem", 1)?, 7);

    // Ids handed out after the restarts are new ones.
    let later = init_producer_id(&mut client, None)?;
    assert!(
        later.producer_id.0 > pid,
        "{} after {pid}",
        later.producer_id.0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transactional_id_finds_its_coordinator_and_gets_a_producer_id() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let mut client = RawClient::connect(&b)?;
    let find: FindCoordinatorResponse = client.call(
        ApiKey::FindCoordinator,
        4,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![StrBytes::from_static_str("my-tx")]),
    )?;
    assert_eq!(find.coordinators[0].error_code, 0);
    assert_eq!(find.coordinators[0].port, i32::from(broker.port()));
    let first = init_producer_id(&mut client, Some("my-tx"))?;
    assert_eq!(first.error_code, 0);
    assert_eq!(first.producer_epoch, 0);
    // Initialising the same id again fences the first producer: same id, next epoch.
    let second = init_producer_id(&mut client, Some("my-tx"))?;
    assert_eq!(
        (second.producer_id, second.producer_epoch),
        (first.producer_id, 1)
    );
    Ok(())
}
