//! The lesson's Experiment 2 with the consumer group protocol (KIP-848): consumers, each its own
//! OS process, come one by one (1, 2, 3), one leaves, then two more make 4 on 3 partitions, so
//! one is idle. After every step each partition has exactly one owner and the shares are even;
//! no partition is ever owned by two members at once (by their listeners' callbacks), nothing
//! is lost and nothing committed is delivered again. Run with Java and range and with rdkafka
//! and uniform; every pair with `GREGOR_CONSUMER_PROTOCOL_ALL=1`; against Apache Kafka too with
//! `GREGOR_VS_KAFKA=1`.

use std::collections::BTreeSet;
use std::time::Instant;

use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    all_variants, assert_never_two_owners, assert_no_committed_redelivery, partitions, produce,
    wait_balanced, wait_for_values, Client, Member, MemberConfig, BROKER_SETTINGS, WAIT,
};
use gregor_itests::reference::each_broker;

fn experiment_2(client: Client, assignor: &str) -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = &broker.bootstrap;
        create_topic(b, "orders", 3)?;
        let config = MemberConfig::new(client, "order-processors", "orders", Some(assignor));
        let all = partitions("orders", 3);
        let mut members: Vec<Member> = Vec::new();
        let mut expected = BTreeSet::new();
        let mut step = |members: &mut Vec<Member>, label: &str, join: usize, leave: bool| {
            let started = Instant::now();
            if leave {
                members[0].stop()?;
            }
            for _ in 0..join {
                let name = format!("{}-{}", client.name(), members.len() + 1);
                members.push(Member::start(b, &name, &config)?);
            }
            let everyone: Vec<&Member> = members.iter().collect();
            let shares = wait_balanced(&everyone, &all, WAIT)?;
            println!(
                "{client:?} {assignor} {label}: {} members settled in {:?}: {shares:?}",
                shares.len(),
                started.elapsed()
            );
            expected.extend(produce(b, "orders", 3, label, 60)?);
            wait_for_values(&everyone, &expected, WAIT)?;
            anyhow::Ok(shares)
        };
        step(&mut members, "one", 1, false)?;
        step(&mut members, "two", 1, false)?;
        step(&mut members, "three", 1, false)?;
        step(&mut members, "left", 0, true)?;
        let shares = step(&mut members, "four", 2, false)?;
        let idle = shares.iter().filter(|s| s.is_empty()).count();
        anyhow::ensure!(
            shares.len() == 4 && idle == 1,
            "4 consumers on 3 partitions: one idle, {shares:?}"
        );
        let everyone: Vec<&Member> = members.iter().collect();
        assert_never_two_owners(&everyone)?;
        assert_no_committed_redelivery(&everyone)?;
        Ok(())
    })
}

#[test]
fn java_range() -> anyhow::Result<()> {
    experiment_2(Client::Java, "range")
}

#[test]
fn rdkafka_uniform() -> anyhow::Result<()> {
    experiment_2(Client::Rdkafka, "uniform")
}

#[test]
fn other_variants() -> anyhow::Result<()> {
    if !all_variants() {
        return Ok(());
    }
    experiment_2(Client::Java, "uniform")?;
    experiment_2(Client::Rdkafka, "range")
}
