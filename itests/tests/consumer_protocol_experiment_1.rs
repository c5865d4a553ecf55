//! The lesson's Experiment 1 with the consumer group protocol (KIP-848, `group.protocol=
//! consumer`): two consumers, each its own OS process, on a topic of three partitions split
//! them 2 + 1 by the broker's assignment, and every record is consumed exactly once. Run with
//! the Java client and the uniform assignor and with rdkafka and range; every pair with
//! `GREGOR_CONSUMER_PROTOCOL_ALL=1`; against Apache Kafka too with `GREGOR_VS_KAFKA=1`.

use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    all_variants, assert_never_two_owners, deliveries, partitions, produce, wait_balanced,
    wait_for_values, Client, Member, MemberConfig, BROKER_SETTINGS, WAIT,
};
use gregor_itests::reference::each_broker;

fn experiment_1(client: Client, assignor: &str) -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = &broker.bootstrap;
        create_topic(b, "orders", 3)?;
        let config = MemberConfig::new(client, "order-processors", "orders", Some(assignor));
        let m1 = Member::start(b, &format!("{}-1", client.name()), &config)?;
        let m2 = Member::start(b, &format!("{}-2", client.name()), &config)?;
        let members = [&m1, &m2];
        let shares = wait_balanced(&members, &partitions("orders", 3), WAIT)?;
        let mut sizes: Vec<usize> = shares.iter().map(|s| s.len()).collect();
        sizes.sort_unstable();
        anyhow::ensure!(sizes == [1, 2], "3 partitions split 2 + 1: {shares:?}");

        let expected = produce(b, "orders", 3, "order", 300)?;
        wait_for_values(&members, &expected, WAIT)?;
        let delivered = deliveries(&members);
        let again: Vec<_> = delivered.iter().filter(|(_, n)| **n > 1).collect();
        anyhow::ensure!(
            again.is_empty() && delivered.len() == 300,
            "every record consumed exactly once: {} delivered, again {again:?}",
            delivered.len()
        );
        assert_never_two_owners(&members)?;
        println!("{client:?} {assignor}: split {shares:?}");
        Ok(())
    })
}

#[test]
fn java_uniform() -> anyhow::Result<()> {
    experiment_1(Client::Java, "uniform")
}

#[test]
fn rdkafka_range() -> anyhow::Result<()> {
    experiment_1(Client::Rdkafka, "range")
}

#[test]
fn other_variants() -> anyhow::Result<()> {
    if !all_variants() {
        return Ok(());
    }
    experiment_1(Client::Java, "range")?;
    experiment_1(Client::Rdkafka, "uniform")
}
