//! The groups as the live view shows them: the coordinator's read-only snapshot of each group
//! (taken on its task, between two events) with each partition's committed offset and lag
//! against the partition layer's high watermark, the figures `kafka-consumer-groups
//! --describe` prints. Kafka has no counterpart on the broker; its tools assemble this from
//! DescribeGroups, OffsetFetch and ListOffsets.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::broker::Broker;
use crate::coordinator::group::snapshot::GroupSnapshot;

/// One partition a group owns or has committed.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OffsetView {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// The member that owns it now, if any.
    pub member_id: Option<String>,
    /// The next offset the group will consume, if it committed one.
    pub committed_offset: Option<i64>,
    /// The partition's high watermark, if the partition exists.
    pub end_offset: Option<i64>,
    /// `end_offset - committed_offset`, when both are known.
    pub lag: Option<i64>,
}

/// One group, now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GroupView {
    /// Kind, state, epochs and members, as the coordinator sees them.
    #[serde(flatten)]
    pub group: GroupSnapshot,
    /// Rebalances started since the broker started.
    pub rebalances: u64,
    /// Owned or committed partitions, by topic and index.
    pub offsets: Vec<OffsetView>,
}

/// What the coordinator's task hands back: snapshots, committed offsets, rebalance counts.
type Read = Vec<(GroupSnapshot, Vec<(String, i32, i64)>, u64)>;

/// Every group, or `None` if the coordinator has stopped.
pub async fn groups(broker: &Broker) -> Option<Vec<GroupView>> {
    let read: Read = broker
        .coordinator
        .read(|c| {
            let topics = c.config.topics.image();
            c.snapshot(&topics)
                .into_iter()
                .map(|g| {
                    let offsets = c
                        .offsets
                        .of_group(&g.group_id)
                        .map(|(t, p, o)| (t.to_string(), p, o.offset))
                        .collect();
                    let rebalances = c.events.rebalances(&g.group_id);
                    (g, offsets, rebalances)
                })
                .collect()
        })
        .await?;
    Some(
        read.into_iter()
            .map(|(group, committed, rebalances)| view(broker, group, committed, rebalances))
            .collect(),
    )
}

fn view(
    broker: &Broker,
    group: GroupSnapshot,
    committed: Vec<(String, i32, i64)>,
    rebalances: u64,
) -> GroupView {
    let mut owners: BTreeMap<(String, i32), String> = BTreeMap::new();
    for m in &group.members {
        for tp in &m.assigned {
            for p in &tp.partitions {
                owners.insert((tp.topic.clone(), *p), m.member_id.clone());
            }
        }
    }
    let committed: BTreeMap<(String, i32), i64> =
        committed.into_iter().map(|(t, p, o)| ((t, p), o)).collect();
    let keys: BTreeSet<&(String, i32)> = owners.keys().chain(committed.keys()).collect();
    let offsets = keys
        .into_iter()
        .map(|key| {
            let end = broker
                .partition_log(&key.0, key.1)
                .map(|l| l.high_watermark());
            let offset = committed.get(key).copied().filter(|o| *o >= 0);
            OffsetView {
                topic: key.0.clone(),
                partition: key.1,
                member_id: owners.get(key).cloned(),
                committed_offset: offset,
                end_offset: end,
                lag: match (end, offset) {
                    (Some(e), Some(o)) => Some((e - o).max(0)),
                    _ => None,
                },
            }
        })
        .collect();
    GroupView {
        group,
        rebalances,
        offsets,
    }
}

/// A per-partition group metric family: name, help, and the value of a partition (if any).
type OffsetFamily = (&'static str, &'static str, fn(&OffsetView) -> Option<i64>);

/// A metric with one value per group: name, type, help, value.
type GroupFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&GroupView) -> u64,
);

/// The group metrics in Prometheus' text format, under danielqsj/kafka_exporter's names
/// where it has one (`kafka_consumergroup_*`, label `consumergroup`).
pub fn write_group_metrics(out: &mut String, groups: &[GroupView]) {
    use super::views::escape;
    use std::fmt::Write;
    let per_group: [GroupFamily; 2] = [
        (
            "kafka_consumergroup_members",
            "gauge",
            "Members of the consumer group.",
            |g| g.group.members.len() as u64,
        ),
        (
            "kafka_consumergroup_rebalances_total",
            "counter",
            "Rebalances the group started since the broker started.",
            |g| g.rebalances,
        ),
    ];
    for (name, kind, help, value) in per_group {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for g in groups {
            let _ = writeln!(
                out,
                "{name}{{consumergroup=\"{}\"}} {}",
                escape(&g.group.group_id),
                value(g)
            );
        }
    }
    let families: [OffsetFamily; 2] = [
        (
            "kafka_consumergroup_current_offset",
            "The offset the group committed for the partition (the next it will consume).",
            |o| o.committed_offset,
        ),
        (
            "kafka_consumergroup_lag",
            "Records of the partition the group has not committed yet (high watermark minus committed offset).",
            |o| o.lag,
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for g in groups {
            for o in &g.offsets {
                if let Some(v) = value(o) {
                    let _ = writeln!(
                        out,
                        "{name}{{consumergroup=\"{}\",topic=\"{}\",partition=\"{}\"}} {v}",
                        escape(&g.group.group_id),
                        escape(&o.topic),
                        o.partition
                    );
                }
            }
        }
    }
    // kafka_exporter's `kafka_consumergroup_lag_sum` is left out: promtool refuses a `_sum`
    // suffix on a gauge, and `sum by (consumergroup, topic) (kafka_consumergroup_lag)` is it.
}
