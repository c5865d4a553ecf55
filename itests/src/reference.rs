//! Runs a scenario against Gregor, and against Apache Kafka too when `GREGOR_VS_KAFKA=1`, so a
//! regression test's expectations are checked to be Kafka's own (the Kafka the benchmark starts:
//! 4.4.0, single-node KRaft, jars from Maven Central on first use; needs Java and Maven).
//! `GREGOR_VS_KAFKA=only` runs the scenarios against Kafka alone: a test written ahead of the
//! feature it checks is validated that way before Gregor can pass it.

use anyhow::Context;

use crate::bench::brokers::{kafka_lib_dir, Launcher, Running};

/// Whether this run also checks scenarios against Apache Kafka.
pub fn vs_kafka() -> bool {
    std::env::var("GREGOR_VS_KAFKA").is_ok_and(|v| v == "1" || v == "only")
}

/// Whether this run checks scenarios against Apache Kafka alone (`GREGOR_VS_KAFKA=only`).
pub fn kafka_only() -> bool {
    std::env::var("GREGOR_VS_KAFKA").is_ok_and(|v| v == "only")
}

/// Runs `scenario` against a fresh Gregor started with `settings` (Kafka's broker keys), then,
/// with `GREGOR_VS_KAFKA=1`, against a fresh Apache Kafka started with the same settings. A
/// failure names the broker it happened on.
pub fn each_broker(
    settings: &[(&str, &str)],
    scenario: impl Fn(&Running) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    each_broker_mut(settings, |broker| scenario(broker))
}

/// `each_broker` for a scenario that restarts the broker (`Running::restart`).
pub fn each_broker_mut(
    settings: &[(&str, &str)],
    mut scenario: impl FnMut(&mut Running) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut launchers = Vec::new();
    if !kafka_only() {
        launchers.push(Launcher::Gregor(crate::gregor_bin()));
    }
    if vs_kafka() {
        launchers.push(Launcher::Kafka(kafka_lib_dir()?));
    }
    for launcher in launchers {
        let kind = launcher.kind();
        let mut broker = launcher.start_with(settings)?;
        let outcome = scenario(&mut broker);
        let log = log_tail(&broker);
        let stopped = broker.stop();
        outcome.with_context(|| format!("against {}; end of its log:\n{log}", kind.name()))?;
        stopped?;
    }
    Ok(())
}

/// The last lines of the broker's own log.
fn log_tail(broker: &Running) -> String {
    let text = std::fs::read_to_string(broker.log_path()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits until the broker coordinates `group` and has loaded its coordinator state: Apache
/// Kafka creates `__consumer_offsets` on the first FindCoordinator and answers
/// COORDINATOR_NOT_AVAILABLE, then NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS while its
/// partitions load.
pub fn wait_for_group_coordinator(bootstrap: &str, group: &str) -> anyhow::Result<()> {
    use crate::raw::messages::offset_fetch_request::OffsetFetchRequestGroup;
    use crate::raw::messages::{
        ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetFetchRequest,
        OffsetFetchResponse,
    };
    use crate::raw::RawClient;
    use gregor_protocol::{ResponseError, StrBytes};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut client = RawClient::connect(bootstrap)?;
    let group_id = StrBytes::from_string(group.to_string());
    loop {
        let found: FindCoordinatorResponse = client.call(
            ApiKey::FindCoordinator,
            3,
            &FindCoordinatorRequest::default()
                .with_key(group_id.clone())
                .with_key_type(0),
        )?;
        let mut error = found.error_code;
        if error == 0 {
            let fetched: OffsetFetchResponse = client.call(
                ApiKey::OffsetFetch,
                8,
                &OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default(
                )
                .with_group_id(GroupId(group_id.clone()))]),
            )?;
            error = fetched.groups.first().map_or(-1, |g| g.error_code);
            // GROUP_ID_NOT_FOUND (kfake's answer for a group with no offsets) also comes from a
            // coordinator that is ready: it knows the group is not there.
            if error == 0 || error == ResponseError::GroupIdNotFound.code() {
                return Ok(());
            }
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!("no coordinator for group {group}: error {error}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
