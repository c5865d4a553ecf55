//! Online migration between the classic and the consumer group protocol (KIP-848, Kafka 4's
//! default `group.consumer.migration.policy=bidirectional`): two classic consumers share a
//! topic of three partitions; a `group.protocol=consumer` consumer joins, which upgrades the
//! group to a consumer group with the classic members kept in it; then it leaves, which
//! downgrades the group back to classic. After each step every partition has exactly one owner,
//! no partition is ever owned by two members at once, and every record is consumed. rdkafka
//! members (each its own OS process); against Apache Kafka too with `GREGOR_VS_KAFKA=1`.

use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    assert_never_two_owners, describe_group, partitions, produce, wait_balanced, wait_for_values,
    Client, Member, MemberConfig, BROKER_SETTINGS, WAIT,
};
use gregor_itests::reference::each_broker;

#[test]
fn classic_group_upgrades_and_downgrades_online() -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = &broker.bootstrap;
        let (group, topic) = ("migrating", "orders");
        create_topic(b, topic, 3)?;
        let all = partitions(topic, 3);
        let consumer = MemberConfig::new(Client::Rdkafka, group, topic, None);
        let classic = MemberConfig {
            protocol: Some("classic".into()),
            ..consumer.clone()
        };
        let m1 = Member::start(b, "classic-1", &classic)?;
        let m2 = Member::start(b, "classic-2", &classic)?;
        wait_balanced(&[&m1, &m2], &all, WAIT)?;
        let mut expected = produce(b, topic, 3, "before", 150)?;
        wait_for_values(&[&m1, &m2], &expected, WAIT)?;
        anyhow::ensure!(
            describe_group(b, group).is_err(),
            "a classic group is not described as a consumer group"
        );

        // Upgrade: the consumer-protocol member joins the classic group.
        let mut m3 = Member::start(b, "consumer-3", &consumer)?;
        let shares = wait_balanced(&[&m1, &m2, &m3], &all, WAIT)?;
        let described = describe_group(b, group)?;
        anyhow::ensure!(
            described.members.len() == 3,
            "one consumer group of three members: {described:?}"
        );
        expected.extend(produce(b, topic, 3, "upgraded", 150)?);
        wait_for_values(&[&m1, &m2, &m3], &expected, WAIT)?;
        println!("upgraded: {shares:?}, epoch {}", described.epoch);

        // Downgrade: the last consumer-protocol member leaves; the rest rebalance as classic.
        m3.stop()?;
        let shares = wait_balanced(&[&m1, &m2], &all, WAIT)?;
        expected.extend(produce(b, topic, 3, "downgraded", 150)?);
        wait_for_values(&[&m1, &m2, &m3], &expected, WAIT)?;
        anyhow::ensure!(
            describe_group(b, group).is_err(),
            "the group is classic again"
        );
        println!("downgraded: {shares:?}");
        assert_never_two_owners(&[&m1, &m2, &m3])?;
        Ok(())
    })
}
