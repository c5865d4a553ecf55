//! Committed offsets, as the coordinator keeps them in memory; Kafka's OffsetMetadataManager
//! store. They are made durable as records of `__consumer_offsets` (`records`); replaying the
//! log in order and keeping the last value per key rebuilds the store.

use std::collections::BTreeMap;

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Next offset to consume.
    pub offset: i64,
    /// Leader epoch the client saw, or -1.
    pub leader_epoch: i32,
    /// Client-supplied metadata string.
    pub metadata: String,
    /// When it was committed.
    pub commit_time_ms: i64,
}

/// (group, topic, partition).
pub type OffsetKey = (String, String, i32);

/// Every committed offset.
#[derive(Debug, Default)]
pub struct OffsetStore {
    offsets: BTreeMap<OffsetKey, CommittedOffset>,
}

impl OffsetStore {
    /// Sets or (with `None`) deletes an offset.
    pub fn apply(&mut self, key: OffsetKey, value: Option<CommittedOffset>) {
        match value {
            Some(v) => {
                self.offsets.insert(key, v);
            }
            None => {
                self.offsets.remove(&key);
            }
        }
    }

    /// The committed offset of one partition.
    pub fn get(&self, group: &str, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets
            .get(&(group.to_string(), topic.to_string(), partition))
    }

    /// Every committed partition of `group`.
    pub fn of_group<'a>(
        &'a self,
        group: &'a str,
    ) -> impl Iterator<Item = (&'a str, i32, &'a CommittedOffset)> + 'a {
        self.offsets
            .iter()
            .filter(move |((g, _, _), _)| g == group)
            .map(|((_, t, p), v)| (t.as_str(), *p, v))
    }

    /// Whether `group` has any committed offset.
    pub fn has_group(&self, group: &str) -> bool {
        self.of_group(group).next().is_some()
    }

    /// The keys of every offset of `group`.
    pub fn keys_of_group(&self, group: &str) -> Vec<OffsetKey> {
        self.offsets
            .keys()
            .filter(|(g, _, _)| g == group)
            .cloned()
            .collect()
    }

    /// Every offset, for a snapshot.
    pub fn all(&self) -> impl Iterator<Item = (&OffsetKey, &CommittedOffset)> {
        self.offsets.iter()
    }

    /// Number of committed partitions.
    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Whether nothing is committed.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}
