//! What the live view shows, as plain data read from the broker at the moment it is asked:
//! topics with their partitions' offsets and sizes, and the rates between two snapshots. The
//! JSON API serves these structs as they are (their field names are the API, documented in the
//! README). Kafka has no counterpart: this is what UIs assemble from the admin APIs.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::broker::Broker;

/// One partition's log, now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartitionView {
    /// Partition index.
    pub partition: i32,
    /// First offset still in the log.
    pub log_start_offset: i64,
    /// The offset the next record will get (the high watermark: what consumers can read).
    pub end_offset: i64,
    /// Bytes on disk.
    pub size_bytes: u64,
    /// Records appended per second since the previous snapshot (0 for the first).
    pub records_in_per_sec: f64,
}

/// One topic, now.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopicView {
    /// Topic name.
    pub name: String,
    /// Whether it is one of Kafka's internal topics (`__consumer_offsets`).
    pub internal: bool,
    /// Its partitions, by index.
    pub partitions: Vec<PartitionView>,
}

/// Everything the page shows at one moment.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Snapshot {
    /// Milliseconds since the Unix epoch when it was taken.
    pub taken_ms: i64,
    /// Topics by name.
    pub topics: Vec<TopicView>,
}

/// Reads every topic's partitions; `previous` (an earlier snapshot) gives the rates.
pub fn snapshot(broker: &Broker, now_ms: i64, previous: Option<&Snapshot>) -> Snapshot {
    let earlier: BTreeMap<(&str, i32), i64> = previous
        .map(|p| {
            p.topics
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(move |pv| ((t.name.as_str(), pv.partition), pv.end_offset))
                })
                .collect()
        })
        .unwrap_or_default();
    let elapsed_s = previous.map_or(0.0, |p| (now_ms - p.taken_ms) as f64 / 1000.0);
    let mut topics: Vec<TopicView> = broker
        .topics
        .all()
        .into_iter()
        .map(|topic| {
            let partitions = (0..topic.partitions)
                .filter_map(|p| {
                    let log = broker.partition_log(&topic.name, p)?;
                    let end = log.high_watermark();
                    let rate = match earlier.get(&(topic.name.as_str(), p)) {
                        Some(before) if elapsed_s > 0.0 && end >= *before => {
                            (end - before) as f64 / elapsed_s
                        }
                        _ => 0.0,
                    };
                    Some(PartitionView {
                        partition: p,
                        log_start_offset: log.log_start_offset(),
                        end_offset: end,
                        size_bytes: log.size_bytes(),
                        records_in_per_sec: rate,
                    })
                })
                .collect();
            TopicView {
                internal: crate::topics::is_internal_topic(&topic.name),
                name: topic.name,
                partitions,
            }
        })
        .collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Snapshot {
        taken_ms: now_ms,
        topics,
    }
}

/// A per-partition metric family: name, type, help, and the value of a partition.
type PartitionFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&PartitionView) -> String,
);

/// The topic and partition metrics in Prometheus' text format, under the names of the Kafka
/// ecosystem's exporters (danielqsj/kafka_exporter for offsets, the JMX exporter for log sizes).
pub fn write_topic_metrics(out: &mut String, snapshot: &Snapshot) {
    use std::fmt::Write;
    let families: [PartitionFamily; 3] = [
        (
            "kafka_topic_partition_current_offset",
            "gauge",
            "The offset the next record of the partition will get.",
            |p| p.end_offset.to_string(),
        ),
        (
            "kafka_topic_partition_oldest_offset",
            "gauge",
            "The first offset still in the partition's log.",
            |p| p.log_start_offset.to_string(),
        ),
        (
            "kafka_log_log_size",
            "gauge",
            "Bytes of the partition's log on disk.",
            |p| p.size_bytes.to_string(),
        ),
    ];
    let _ = writeln!(
        out,
        "# HELP kafka_topic_partitions Partitions of the topic."
    );
    let _ = writeln!(out, "# TYPE kafka_topic_partitions gauge");
    for t in &snapshot.topics {
        let _ = writeln!(
            out,
            "kafka_topic_partitions{{topic=\"{}\"}} {}",
            escape(&t.name),
            t.partitions.len()
        );
    }
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for t in &snapshot.topics {
            for p in &t.partitions {
                let _ = writeln!(
                    out,
                    "{name}{{topic=\"{}\",partition=\"{}\"}} {}",
                    escape(&t.name),
                    p.partition,
                    value(p)
                );
            }
        }
    }
}

/// A label value as the exposition format quotes it.
pub fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
