//! A regular-expression subscription with the consumer group protocol (KIP-848): a member
//! subscribed to `^orders-.*` (the broker matches it, RE2 syntax, against whole topic names)
//! gets the partitions of the matching topic, never those of `payments`, and picks up a
//! matching topic created after it joined, then consumes from it. With the Java client
//! (SubscriptionPattern) and with rdkafka (a subscription starting with `^`); against Apache
//! Kafka too with `GREGOR_VS_KAFKA=1`.

use std::collections::BTreeSet;

use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    partitions, produce, wait_for_values, Client, Member, MemberConfig, Tp, BROKER_SETTINGS, WAIT,
};
use gregor_itests::kafka_tools::poll;
use gregor_itests::reference::each_broker;

fn picks_up_a_new_topic(client: Client) -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = &broker.bootstrap;
        create_topic(b, "orders-eu", 2)?;
        create_topic(b, "payments", 1)?;
        let config = MemberConfig {
            client,
            group: "regex-group".into(),
            topics: Vec::new(),
            pattern: Some("^orders-.*".into()),
            assignor: None,
            protocol: None,
        };
        let member = Member::start(b, &format!("{}-1", client.name()), &config)?;
        let wait_owned = |want: BTreeSet<Tp>| {
            poll(WAIT, || Ok((member.owned() == want).then_some(())))
                .map_err(|e| anyhow::anyhow!("owning {want:?}: {e}\n{}", member.summary()))
        };
        wait_owned(partitions("orders-eu", 2).into_iter().collect())?;
        let mut expected = produce(b, "orders-eu", 2, "eu", 20)?;
        wait_for_values(&[&member], &expected, WAIT)?;

        create_topic(b, "orders-us", 3)?;
        let mut both: BTreeSet<Tp> = partitions("orders-eu", 2).into_iter().collect();
        both.extend(partitions("orders-us", 3));
        wait_owned(both)?;
        expected.extend(produce(b, "orders-us", 3, "us", 30)?);
        wait_for_values(&[&member], &expected, WAIT)?;
        let log = member.log();
        anyhow::ensure!(
            log.records.iter().all(|r| r.tp.0 != "payments")
                && log
                    .callbacks
                    .iter()
                    .all(|c| c.partitions.iter().all(|p| p.0 != "payments")),
            "payments does not match ^orders-.*: {}",
            member.summary()
        );
        Ok(())
    })
}

#[test]
fn java_picks_up_a_topic_created_after_it_joined() -> anyhow::Result<()> {
    picks_up_a_new_topic(Client::Java)
}

#[test]
fn rdkafka_picks_up_a_topic_created_after_it_joined() -> anyhow::Result<()> {
    picks_up_a_new_topic(Client::Rdkafka)
}
