//! `__consumer_offsets` is compacted by the log cleaner, as in Kafka: a group that commits many
//! times leaves one commit record per partition after a cleaning, and after a restart (SIGTERM,
//! then kill -9) the group's committed offsets are the last ones it committed.

use std::time::{Duration, Instant};

use gregor_itests::clients::create_topic;
use gregor_itests::TestBroker;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const COMMITS: i64 = 600;

fn consumer(bootstrap: &str) -> anyhow::Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "committer")
        .set("enable.auto.commit", "false")
        .create()?)
}

fn committed(bootstrap: &str) -> anyhow::Result<Vec<Offset>> {
    let c = consumer(bootstrap)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("events", 0);
    tpl.add_partition("events", 1);
    let got = c.committed_offsets(tpl, Duration::from_secs(10))?;
    Ok(got.elements().iter().map(|e| e.offset()).collect())
}

/// (records before, records after) of the first cleaning of `__consumer_offsets-0` whose end
/// offset reaches `offset`, waiting for it.
fn wait_for_cleaning(broker: &TestBroker, offset: u64) -> anyhow::Result<(u64, u64)> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(name))
            .and_then(|v| v.parse::<u64>().ok())
    };
    loop {
        let found = broker.log().lines().find_map(|line| {
            let cleaned = line.contains("cleaned log") && line.contains("__consumer_offsets-0");
            let end = field(line, "end_offset=")?;
            (cleaned && end >= offset)
                .then(|| {
                    Some((
                        field(line, "records_before=")?,
                        field(line, "records_after=")?,
                    ))
                })
                .flatten()
        });
        if let Some(found) = found {
            return Ok(found);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no cleaning of __consumer_offsets-0 within 60 s:\n{}",
            broker.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_offsets_log_is_compacted_and_commits_survive_restarts() -> anyhow::Result<()> {
    let mut broker = TestBroker::start(&["--set", "log.cleaner.backoff.ms=50"])?;
    let b = broker.bootstrap();
    create_topic(&b, "events", 2).await?;
    // Small, quickly rolled segments, so the cleaner reaches the commits within the test.
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &b).create()?;
    let alter =
        AlterConfig::new(ResourceSpecifier::Topic("__consumer_offsets")).set("segment.ms", "100");
    for result in admin.alter_configs(&[alter], &AdminOptions::new()).await? {
        result.map_err(|(r, e)| anyhow::anyhow!("altering {r:?}: {e}"))?;
    }

    let c = consumer(&b)?;
    for n in 1..=COMMITS {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("events", 0, Offset::Offset(n))?;
        tpl.add_partition_offset("events", 1, Offset::Offset(2 * n))?;
        c.commit(&tpl, CommitMode::Sync)?;
    }
    drop(c);
    let (before, after) = wait_for_cleaning(&broker, COMMITS as u64)?;
    assert!(
        after < before / 10,
        "the cleaning kept {after} of {before} records"
    );
    let expected = vec![Offset::Offset(COMMITS), Offset::Offset(2 * COMMITS)];
    assert_eq!(committed(&b)?, expected);

    broker.stop()?;
    broker.restart()?;
    assert_eq!(committed(&broker.bootstrap())?, expected, "after SIGTERM");
    broker.kill9()?;
    broker.restart()?;
    assert_eq!(committed(&broker.bootstrap())?, expected, "after kill -9");
    Ok(())
}
