//! A Stable consumer-protocol group (KIP-848) survives broker restarts, after SIGTERM and after
//! kill -9, as it does with Apache Kafka: the group's records are in `__consumer_offsets`, so
//! the members (two Java consumers and an rdkafka one, each its own OS process) carry on with
//! the same member ids, epochs and partitions, and no new assignment happens: their rebalance
//! listeners are not called again, and ConsumerGroupDescribe shows the group as before. Against
//! Apache Kafka too with `GREGOR_VS_KAFKA=1`.

use std::time::Instant;

use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    assert_no_committed_redelivery, describe_group, partitions, produce, wait_balanced,
    wait_for_values, Client, DescribedGroup, Member, MemberConfig, WAIT,
};
use gregor_itests::kafka_tools::poll;
use gregor_itests::reference::each_broker_mut;

/// `BROKER_SETTINGS` with a session timeout of 30 s: no member dies here, and a restart (Kafka
/// takes ten seconds or more on a small machine) must not outlast the members' sessions.
const SETTINGS: &[(&str, &str)] = &[
    ("group.consumer.session.timeout.ms", "30000"),
    ("group.consumer.min.session.timeout.ms", "1000"),
    ("group.consumer.heartbeat.interval.ms", "500"),
    ("group.consumer.min.heartbeat.interval.ms", "100"),
    ("offsets.topic.num.partitions", "1"),
];

/// Waits until ConsumerGroupDescribe shows `group` Stable: every member at the group epoch
/// with its target assignment.
fn wait_stable(bootstrap: &str, group: &str) -> anyhow::Result<DescribedGroup> {
    let mut last = None;
    poll(WAIT, || {
        let Ok(g) = describe_group(bootstrap, group) else {
            return Ok(None);
        };
        let stable = g.state == "Stable"
            && g.epoch == g.assignment_epoch
            && g.members
                .iter()
                .all(|m| m.epoch == g.epoch && m.assignment == m.target);
        last = Some(g.clone());
        Ok(stable.then_some(g))
    })
    .map_err(|e| anyhow::anyhow!("{group} not Stable: {e}; last seen {last:?}"))
}

#[test]
fn a_stable_group_keeps_epochs_and_partitions_across_restarts() -> anyhow::Result<()> {
    each_broker_mut(SETTINGS, |broker| {
        let b = broker.bootstrap.clone();
        create_topic(&b, "orders", 3)?;
        let java = MemberConfig::new(Client::Java, "survivors", "orders", Some("uniform"));
        let rdkafka = MemberConfig {
            client: Client::Rdkafka,
            ..java.clone()
        };
        let members = [
            Member::start(&b, "java-1", &java)?,
            Member::start(&b, "java-2", &java)?,
            Member::start(&b, "rdkafka-3", &rdkafka)?,
        ];
        let members: Vec<&Member> = members.iter().collect();
        wait_balanced(&members, &partitions("orders", 3), WAIT)?;
        let mut expected = produce(&b, "orders", 3, "before", 30)?;
        wait_for_values(&members, &expected, WAIT)?;
        let stable = wait_stable(&b, "survivors")?;
        let callbacks: Vec<usize> = members.iter().map(|m| m.log().callbacks.len()).collect();

        for (how, kill9) in [("SIGTERM", false), ("kill -9", true)] {
            let restarted = Instant::now();
            broker.restart(kill9)?;
            expected.extend(produce(&b, "orders", 3, how, 30)?);
            wait_for_values(&members, &expected, WAIT)?;
            println!(
                "after a {how} restart the members consumed again within {:?}",
                restarted.elapsed()
            );
            let after = wait_stable(&b, "survivors")?;
            anyhow::ensure!(
                after == stable,
                "after a {how} restart the group changed:\nbefore {stable:?}\nafter  {after:?}"
            );
            for (m, before) in members.iter().zip(&callbacks) {
                let log = m.log();
                anyhow::ensure!(
                    log.callbacks.len() == *before,
                    "{} saw a new assignment after the {how} restart: {:?}",
                    m.name,
                    &log.callbacks[*before..]
                );
            }
        }
        assert_no_committed_redelivery(&members)?;
        Ok(())
    })
}
