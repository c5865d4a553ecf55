//! The lesson's consumer-group experiments against the real broker, each consumer its own OS
//! process (`group_member`): assignment splits, members coming and going, a member killed with
//! SIGKILL, each assignor, broker restarts with committed offsets, and added partitions.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use gregor_itests::clients::create_topic;
use gregor_itests::group::{
    assert_no_committed_redelivery, produce_values, wait_for_assignment, wait_for_values,
    GroupMember,
};
use gregor_itests::TestBroker;

const WAIT: Duration = Duration::from_secs(60);

fn values(prefix: &str, count: usize) -> BTreeSet<String> {
    (0..count).map(|i| format!("{prefix}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn experiment_1_two_consumers_split_three_partitions() -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "orders", 3).await?;
    let m1 = GroupMember::start(&b, "order-processors", "orders", "range", 6000)?;
    let m2 = GroupMember::start(&b, "order-processors", "orders", "range", 6000)?;
    let assignments = wait_for_assignment(&[&m1, &m2], 3, WAIT)?;
    let mut sizes: Vec<usize> = assignments.iter().map(Vec::len).collect();
    sizes.sort();
    assert_eq!(
        sizes,
        vec![1, 2],
        "3 partitions split 2 + 1: {assignments:?}"
    );
    produce_values(&b, "orders", 3, "order", 300)?;
    wait_for_values(&[&m1, &m2], &values("order", 300), WAIT)?;
    let delivered: usize = [&m1, &m2]
        .iter()
        .map(|m| m.log.lock().unwrap().records.len())
        .sum();
    assert_eq!(
        delivered, 300,
        "every record consumed exactly once across the group"
    );
    Ok(())
}

/// Experiment 2: 1, 2, 3 consumers, one leaves, then 4 on 3 partitions (one idle); after every
/// step each partition has one owner and nothing is lost.
fn experiment_2(assignor: &str) -> anyhow::Result<()> {
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    let topic = format!("orders-{assignor}");
    tokio::runtime::Runtime::new()?.block_on(create_topic(&b, &topic, 3))?;
    let group = format!("g-{assignor}");
    let mut members = vec![GroupMember::start(&b, &group, &topic, assignor, 6000)?];
    let mut expected = BTreeSet::new();
    let mut step = |members: &Vec<GroupMember>, label: &str| -> anyhow::Result<()> {
        let running: Vec<&GroupMember> = members.iter().filter(|m| m.running()).collect();
        let started = Instant::now();
        let assignments = wait_for_assignment(&running, 3, WAIT)?;
        println!(
            "{assignor} {label}: {} members settled in {:?}: {assignments:?}",
            running.len(),
            started.elapsed()
        );
        produce_values(&b, &topic, 3, label, 60)?;
        expected.extend(values(label, 60));
        wait_for_values(&members.iter().collect::<Vec<_>>(), &expected, WAIT)?;
        Ok(())
    };
    step(&members, "one")?;
    members.push(GroupMember::start(&b, &group, &topic, assignor, 6000)?);
    step(&members, "two")?;
    let third_subscribed = Instant::now();
    members.push(GroupMember::start(&b, &group, &topic, assignor, 6000)?);
    let running: Vec<&GroupMember> = members.iter().collect();
    wait_for_assignment(&running, 3, WAIT)?;
    println!(
        "{assignor}: third consumer subscribe to all three assigned: {:?}",
        third_subscribed.elapsed()
    );
    step(&members, "three")?;
    members[0].stop()?;
    step(&members, "left")?;
    members.push(GroupMember::start(&b, &group, &topic, assignor, 6000)?);
    members.push(GroupMember::start(&b, &group, &topic, assignor, 6000)?);
    step(&members, "four")?;
    let running: Vec<&GroupMember> = members.iter().filter(|m| m.running()).collect();
    assert_eq!(running.len(), 4);
    let idle = running
        .iter()
        .filter(|m| m.assignment().is_some_and(|a| a.is_empty()))
        .count();
    assert_eq!(idle, 1, "4 consumers on 3 partitions: one idle");
    assert_no_committed_redelivery(&members.iter().collect::<Vec<_>>());
    Ok(())
}

#[test]
fn experiment_2_range() -> anyhow::Result<()> {
    experiment_2("range")
}

#[test]
fn experiment_2_roundrobin() -> anyhow::Result<()> {
    experiment_2("roundrobin")
}

#[test]
fn experiment_2_cooperative_sticky() -> anyhow::Result<()> {
    experiment_2("cooperative-sticky")
}

#[tokio::test(flavor = "multi_thread")]
async fn experiment_3_killed_consumer_partitions_move_and_come_back() -> anyhow::Result<()> {
    let broker = TestBroker::start(&["--group-min-session-timeout-ms", "1000"])?;
    let b = broker.bootstrap();
    create_topic(&b, "orders", 3).await?;
    let mut members: Vec<GroupMember> = (0..3)
        .map(|_| GroupMember::start(&b, "order-processors", "orders", "range", 2000))
        .collect::<Result<_, _>>()?;
    wait_for_assignment(&members.iter().collect::<Vec<_>>(), 3, WAIT)?;
    produce_values(&b, "orders", 3, "before", 90)?;
    let mut expected = values("before", 90);
    wait_for_values(&members.iter().collect::<Vec<_>>(), &expected, WAIT)?;

    members[0].kill9()?;
    let killed = Instant::now();
    let survivors: Vec<&GroupMember> = members.iter().filter(|m| m.running()).collect();
    wait_for_assignment(&survivors, 3, WAIT)?;
    println!(
        "partitions of the killed consumer moved after {:?} (session timeout 2 s)",
        killed.elapsed()
    );
    produce_values(&b, "orders", 3, "after-kill", 90)?;
    expected.extend(values("after-kill", 90));
    wait_for_values(&members.iter().collect::<Vec<_>>(), &expected, WAIT)?;

    members.push(GroupMember::start(
        &b,
        "order-processors",
        "orders",
        "range",
        2000,
    )?);
    let running: Vec<&GroupMember> = members.iter().filter(|m| m.running()).collect();
    let assignments = wait_for_assignment(&running, 3, WAIT)?;
    assert!(
        assignments.iter().all(|a| !a.is_empty()),
        "the restarted consumer gets partitions again: {assignments:?}"
    );
    produce_values(&b, "orders", 3, "rejoined", 90)?;
    expected.extend(values("rejoined", 90));
    wait_for_values(&members.iter().collect::<Vec<_>>(), &expected, WAIT)?;
    assert_no_committed_redelivery(&members.iter().collect::<Vec<_>>());
    Ok(())
}

/// Committed offsets survive a broker restart (clean, then kill -9): a new consumer resumes
/// where the group committed and sees only the records produced since.
#[tokio::test(flavor = "multi_thread")]
async fn committed_offsets_survive_broker_restarts() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "orders", 3).await?;
    for (round, kill) in [("clean", false), ("killed", true)] {
        let mut m = GroupMember::start(&b, "resumers", "orders", "range", 6000)?;
        wait_for_assignment(&[&m], 3, WAIT)?;
        produce_values(&b, "orders", 3, round, 60)?;
        let wanted = values(round, 60);
        wait_for_values(&[&m], &wanted, WAIT)?;
        // Every delivered record's commit was acknowledged before the member moved on.
        let deadline = Instant::now() + WAIT;
        while {
            let log = m.log.lock().unwrap();
            log.committed.len() < log.records.len()
        } {
            anyhow::ensure!(Instant::now() < deadline, "commits not acknowledged");
            std::thread::sleep(Duration::from_millis(10));
        }
        m.stop()?;
        if kill {
            broker.kill9()?;
        } else {
            broker.stop()?;
        }
        broker.restart()?;
    }
    let m = GroupMember::start(&b, "resumers", "orders", "range", 6000)?;
    wait_for_assignment(&[&m], 3, WAIT)?;
    produce_values(&b, "orders", 3, "fresh", 30)?;
    wait_for_values(&[&m], &values("fresh", 30), WAIT)?;
    std::thread::sleep(Duration::from_millis(500));
    let old: Vec<String> = m
        .log
        .lock()
        .unwrap()
        .records
        .iter()
        .map(|r| r.2.clone())
        .filter(|v| !v.starts_with("fresh"))
        .collect();
    assert!(
        old.is_empty(),
        "records committed before the restarts were delivered again: {:?}",
        &old[..old.len().min(5)]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn added_partitions_are_assigned() -> anyhow::Result<()> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
    use rdkafka::client::DefaultClientContext;
    let broker = TestBroker::start(&[])?;
    let b = broker.bootstrap();
    create_topic(&b, "growing", 2).await?;
    let m1 = GroupMember::start(&b, "growers", "growing", "range", 6000)?;
    let m2 = GroupMember::start(&b, "growers", "growing", "range", 6000)?;
    wait_for_assignment(&[&m1, &m2], 2, WAIT)?;
    let admin: AdminClient<DefaultClientContext> = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", &b)
        .create()?;
    let results = admin
        .create_partitions(&[NewPartitions::new("growing", 4)], &AdminOptions::new())
        .await?;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let assignments = wait_for_assignment(&[&m1, &m2], 4, WAIT)?;
    println!("after CreatePartitions: {assignments:?}");
    produce_values(&b, "growing", 4, "grown", 40)?;
    wait_for_values(&[&m1, &m2], &values("grown", 40), WAIT)?;
    Ok(())
}
