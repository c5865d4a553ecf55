//! No stop-the-world with the consumer group protocol (KIP-848): while a third member joins a
//! group of two (a Java consumer and an rdkafka one, each its own OS process, one group), the
//! two keep fetching from the partitions they keep: no revocation of those reaches them, and
//! their records keep arriving. The largest gap in each one's consumption of its kept
//! partitions during the join is measured and printed, beside the largest gap before the join
//! over as long a time (never asserted: it depends on the machine). Against Apache Kafka too
//! with `GREGOR_VS_KAFKA=1`.

use std::collections::BTreeSet;
use std::time::Duration;

use gregor_itests::bench::load::create_topic;
use gregor_itests::consumer_protocol::{
    assert_never_two_owners, assert_no_committed_redelivery, now_micros, partitions, wait_balanced,
    wait_for_values, CallbackKind, Client, Member, MemberConfig, SteadyProducer, Tp,
    BROKER_SETTINGS, WAIT,
};
use gregor_itests::reference::each_broker;

/// The largest gap, in milliseconds, between consecutive records of `member` on `own` within
/// `[from, to]` (microsecond timestamps), counting from `from` and up to `to`.
fn largest_gap(member: &Member, own: &BTreeSet<Tp>, from: u64, to: u64) -> f64 {
    let log = member.log();
    let mut stamps: Vec<u64> = log
        .records
        .iter()
        .filter(|r| own.contains(&r.tp) && r.ts >= from && r.ts <= to)
        .map(|r| r.ts)
        .collect();
    stamps.push(from);
    stamps.push(to);
    stamps.sort_unstable();
    stamps.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0) as f64 / 1e3
}

/// Waits until `member` has delivered at least `n` records with a timestamp after `since`.
fn wait_records_after(member: &Member, since: u64, n: usize) -> anyhow::Result<()> {
    gregor_itests::kafka_tools::poll(WAIT, || {
        let got = member.log().records.iter().filter(|r| r.ts > since).count();
        Ok((got >= n).then_some(()))
    })
    .map_err(|e| anyhow::anyhow!("{}: {e}\n{}", member.name, member.summary()))
}

#[test]
fn members_keep_fetching_their_partitions_while_one_joins() -> anyhow::Result<()> {
    each_broker(BROKER_SETTINGS, |broker| {
        let b = &broker.bootstrap;
        let topic = "orders";
        create_topic(b, topic, 6)?;
        let all = partitions(topic, 6);
        let java = MemberConfig::new(Client::Java, "order-processors", topic, Some("uniform"));
        let rdkafka = MemberConfig {
            client: Client::Rdkafka,
            ..java.clone()
        };
        let first = Member::start(b, "java-1", &java)?;
        let second = Member::start(b, "rdkafka-2", &rdkafka)?;
        wait_balanced(&[&first, &second], &all, WAIT)?;
        let steady = SteadyProducer::start(b, topic, 6, "steady", Duration::from_millis(5))?;
        let warm = now_micros();
        for m in [&first, &second] {
            wait_records_after(m, warm, 100)?;
        }
        let before: Vec<BTreeSet<Tp>> = [&first, &second].map(|m| m.owned()).to_vec();
        let callbacks_before = [&first, &second].map(|m| m.log().callbacks.len());

        let joined = now_micros();
        let third = Member::start(b, "java-3", &java)?;
        let members = [&first, &second, &third];
        wait_balanced(&members, &all, WAIT)?;
        let balanced = now_micros();
        // The newcomer consuming is the end of the join.
        wait_records_after(&third, balanced, 20)?;
        let done = now_micros();
        let expected = steady.stop()?;
        wait_for_values(&members, &expected, WAIT)?;

        for (i, m) in [&first, &second].into_iter().enumerate() {
            let log = m.log();
            let own: BTreeSet<Tp> = before[i].intersection(&log.owned).cloned().collect();
            anyhow::ensure!(!own.is_empty(), "{} kept nothing: {}", m.name, m.summary());
            let taken: Vec<_> = log.callbacks[callbacks_before[i]..]
                .iter()
                .filter(|c| c.kind != CallbackKind::Assigned)
                .filter(|c| c.partitions.iter().any(|p| own.contains(p)))
                .collect();
            anyhow::ensure!(
                taken.is_empty(),
                "{} had partitions it keeps revoked during the join: {taken:?}",
                m.name
            );
            drop(log);
            let span = done - joined;
            println!(
                "{} ({:?} kept of {:?}): largest gap in its consumption during the join \
                 ({:.0} ms, {:.0} ms to balanced): {:.1} ms; over as long before the join: \
                 {:.1} ms",
                m.name,
                own,
                before[i],
                span as f64 / 1e3,
                (balanced - joined) as f64 / 1e3,
                largest_gap(m, &own, joined, done),
                largest_gap(m, &own, joined.saturating_sub(span).max(warm), joined),
            );
        }
        assert_never_two_owners(&members)?;
        assert_no_committed_redelivery(&members)?;
        Ok(())
    })
}
