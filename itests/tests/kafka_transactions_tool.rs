//! `kafka-transactions.sh list` and `describe` (Kafka 4.x's TransactionsCommand) show an
//! ongoing transaction: one begun on the wire (InitProducerId, AddPartitionsToTxn) and left
//! open.

use gregor_itests::clients::create_topic;
use gregor_itests::kafka_tools::run;
use gregor_itests::raw::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use gregor_itests::raw::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, InitProducerIdRequest,
    InitProducerIdResponse,
};
use gregor_itests::raw::RawClient;
use gregor_itests::TestBroker;
use gregor_protocol::StrBytes;

/// `kafka-transactions.sh`.
const TRANSACTIONS: &str = "org.apache.kafka.tools.TransactionsCommand";

#[tokio::test(flavor = "multi_thread")]
async fn list_and_describe_show_an_ongoing_transaction() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "out", 2).await?;
    let mut client = RawClient::connect(&b)?;
    let init: InitProducerIdResponse = client
        .call(
            ApiKey::InitProducerId,
            4,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(StrBytes::from_static_str("open-tx").into()))
                .with_transaction_timeout_ms(600_000),
        )
        .map_err(|e| anyhow::anyhow!("{e} at line {}; broker log:\n{}", line!(), broker.log()))?;
    assert_eq!(init.error_code, 0);
    let added: AddPartitionsToTxnResponse = client
        .call(
            ApiKey::AddPartitionsToTxn,
            3,
            &AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(StrBytes::from_static_str("open-tx").into())
                .with_v3_and_below_producer_id(init.producer_id)
                .with_v3_and_below_producer_epoch(init.producer_epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(StrBytes::from_static_str("out").into())
                    .with_partitions(vec![0, 1])]),
        )
        .map_err(|e| anyhow::anyhow!("{e} at line {}; broker log:\n{}", line!(), broker.log()))?;
    let codes: Vec<i16> = added.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(codes, vec![0, 0]);

    let list = run(TRANSACTIONS, &["--bootstrap-server", &b, "list"])?.ok()?;
    let row = list
        .stdout
        .lines()
        .find(|l| l.contains("open-tx"))
        .unwrap_or_else(|| panic!("no row for open-tx:\n{}", list.stdout));
    assert!(row.contains("Ongoing"), "{row}");
    assert!(row.contains(&init.producer_id.0.to_string()), "{row}");

    // ListTransactions v2 (KIP-1152): the pattern must match the whole transactional id.
    for (pattern, listed) in [("open-.*", true), ("open", false), ("other-.*", false)] {
        let out = run(
            TRANSACTIONS,
            &[
                "--bootstrap-server",
                &b,
                "list",
                "--transactional-id-pattern",
                pattern,
            ],
        )?
        .ok()?;
        assert_eq!(
            out.stdout.contains("open-tx"),
            listed,
            "pattern {pattern}:\n{}",
            out.stdout
        );
    }

    let describe = run(
        TRANSACTIONS,
        &[
            "--bootstrap-server",
            &b,
            "describe",
            "--transactional-id",
            "open-tx",
        ],
    )?
    .ok()?;
    let out = &describe.stdout;
    assert!(out.contains("Ongoing"), "{out}");
    assert!(out.contains("out-0") && out.contains("out-1"), "{out}");
    Ok(())
}
