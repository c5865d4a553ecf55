//! The lesson's Experiment 3 with the consumer group protocol (KIP-848): of three consumers,
//! each its own OS process, one is killed with SIGKILL. Its partitions move to the others once
//! the session timeout (`group.consumer.session.timeout.ms`, 6 s here) fences it, while the
//! others never stop consuming their own partitions (no revocation of them, and they keep
//! delivering; with the sticky uniform assignor they keep all they had); a consumer started again gets partitions back; nothing is lost
//! and nothing committed is delivered again. Run with Java and uniform and with rdkafka and
//! range; every pair with `GREGOR_CONSUMER_PROTOCOL_ALL=1`; against Apache Kafka too with
//! `GREGOR_VS_KAFKA=1`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    all_variants, assert_never_two_owners, assert_no_committed_redelivery, now_micros, partitions,
    produce, wait_balanced, wait_for_values, CallbackKind, Client, Member, MemberConfig,
    SteadyProducer, Tp, BROKER_SETTINGS, SESSION_TIMEOUT, WAIT,
};
use gregor_itests::reference::each_broker;

fn experiment_3(client: Client, assignor: &str) -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = &broker.bootstrap;
        create_topic(b, "orders", 3)?;
        let config = MemberConfig::new(client, "order-processors", "orders", Some(assignor));
        let all = partitions("orders", 3);
        let mut members: Vec<Member> = (1..=3)
            .map(|i| Member::start(b, &format!("{}-{i}", client.name()), &config))
            .collect::<Result<_, _>>()?;
        wait_balanced(&members.iter().collect::<Vec<_>>(), &all, WAIT)?;
        let mut expected = produce(b, "orders", 3, "before", 90)?;
        wait_for_values(&members.iter().collect::<Vec<_>>(), &expected, WAIT)?;

        // A record every 20 ms throughout, so each partition keeps having something to deliver.
        let steady = SteadyProducer::start(b, "orders", 3, "steady", Duration::from_millis(20))?;
        let kept: BTreeMap<String, BTreeSet<Tp>> = members[1..]
            .iter()
            .map(|m| (m.name.clone(), m.owned()))
            .collect();
        let callbacks_before: Vec<usize> = members[1..]
            .iter()
            .map(|m| m.log().callbacks.len())
            .collect();
        members[0].kill9()?;
        let killed = Instant::now();
        let killed_ts = now_micros();
        let survivors: Vec<&Member> = members[1..].iter().collect();
        let shares = wait_balanced(&survivors, &all, WAIT)?;
        let moved = killed.elapsed();
        let moved_ts = now_micros();
        println!(
            "{client:?} {assignor}: the killed consumer's partitions moved after {moved:?} \
             (session timeout {SESSION_TIMEOUT:?}): {shares:?}"
        );
        for (m, before) in survivors.iter().zip(&callbacks_before) {
            let log = m.log();
            // Its own partitions: those it held before the kill and holds after the move. The
            // uniform assignor is sticky, so that is all it held; range may hand one of them
            // to the other survivor (Kafka's does), revoking it first.
            let own: BTreeSet<Tp> = kept[&m.name].intersection(&log.owned).cloned().collect();
            if assignor == "uniform" {
                anyhow::ensure!(
                    own == kept[&m.name],
                    "{} lost some of {:?} to the move (now {:?})",
                    m.name,
                    kept[&m.name],
                    log.owned
                );
            }
            let taken: Vec<_> = log.callbacks[*before..]
                .iter()
                .filter(|c| c.kind != CallbackKind::Assigned)
                .filter(|c| c.partitions.iter().any(|p| own.contains(p)))
                .collect();
            anyhow::ensure!(
                taken.is_empty(),
                "{} had its own partitions taken while another was fenced: {taken:?}",
                m.name
            );
            // Its own partitions kept delivering while the killed member's were waiting.
            for tp in &own {
                let during = log
                    .records
                    .iter()
                    .filter(|r| &r.tp == tp && r.ts > killed_ts && r.ts < moved_ts)
                    .count();
                anyhow::ensure!(
                    during > 0,
                    "{} consumed nothing of its own {tp:?} between the kill and the move",
                    m.name
                );
            }
        }

        members.push(Member::start(b, &format!("{}-4", client.name()), &config)?);
        let running: Vec<&Member> = members.iter().filter(|m| m.running()).collect();
        let shares = wait_balanced(&running, &all, WAIT)?;
        anyhow::ensure!(
            !members[3].owned().is_empty(),
            "the restarted consumer got partitions: {shares:?}"
        );
        expected.extend(steady.stop()?);
        expected.extend(produce(b, "orders", 3, "after", 90)?);
        let everyone: Vec<&Member> = members.iter().collect();
        wait_for_values(&everyone, &expected, WAIT)?;
        assert_never_two_owners(&everyone)?;
        assert_no_committed_redelivery(&everyone)?;
        Ok(())
    })
}

#[test]
fn java_uniform() -> anyhow::Result<()> {
    experiment_3(Client::Java, "uniform")
}

#[test]
fn rdkafka_range() -> anyhow::Result<()> {
    experiment_3(Client::Rdkafka, "range")
}

#[test]
fn other_variants() -> anyhow::Result<()> {
    if !all_variants() {
        return Ok(());
    }
    experiment_3(Client::Java, "range")?;
    experiment_3(Client::Rdkafka, "uniform")
}
