//! Topic metadata: name, topic id, partition count and config overrides, persisted in the data
//! dir as `topics.json` (replaced atomically) together with the cluster and directory ids in
//! `meta.properties`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::BrokerError;

/// One topic as the broker knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    /// Topic name.
    pub name: String,
    /// Stable random id, given at creation (clients use it from Fetch v13 and Metadata v10 on).
    pub id: Uuid,
    /// Number of partitions.
    pub partitions: i32,
    /// Per-topic config overrides, Kafka key names (`retention.ms`, ...).
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TopicsFile {
    topics: Vec<TopicMeta>,
}

/// All topics, and where they are saved.
#[derive(Debug)]
pub struct TopicStore {
    path: PathBuf,
    topics: RwLock<BTreeMap<String, TopicMeta>>,
}

impl TopicStore {
    /// Loads `topics.json` from `data_dir` (none yet means no topics).
    pub fn load(data_dir: &Path) -> Result<TopicStore, BrokerError> {
        let path = data_dir.join("topics.json");
        let topics = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<TopicsFile>(&bytes)
                    .map_err(|e| BrokerError::Metadata(format!("{}: {e}", path.display())))?
                    .topics
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(BrokerError::Metadata(format!("{}: {e}", path.display()))),
        };
        let topics = topics.into_iter().map(|t| (t.name.clone(), t)).collect();
        Ok(TopicStore {
            path,
            topics: RwLock::new(topics),
        })
    }

    fn save(&self, topics: &BTreeMap<String, TopicMeta>) -> Result<(), BrokerError> {
        let file = TopicsFile {
            topics: topics.values().cloned().collect(),
        };
        let bytes =
            serde_json::to_vec_pretty(&file).map_err(|e| BrokerError::Metadata(e.to_string()))?;
        gregor_storage::write_atomically(&self.path, &bytes)?;
        Ok(())
    }

    /// The topic named `name`.
    pub fn get(&self, name: &str) -> Option<TopicMeta> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The topic with id `id`.
    pub fn by_id(&self, id: Uuid) -> Option<TopicMeta> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .find(|t| t.id == id)
            .cloned()
    }

    /// Every topic, by name.
    pub fn all(&self) -> Vec<TopicMeta> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Adds a topic; `Ok(false)` if one of that name exists.
    pub fn create(&self, topic: TopicMeta) -> Result<bool, BrokerError> {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        if topics.contains_key(&topic.name) {
            return Ok(false);
        }
        let name = topic.name.clone();
        topics.insert(name.clone(), topic);
        if let Err(e) = self.save(&topics) {
            // Keep memory and disk in agreement: a topic that was not saved does not exist.
            topics.remove(&name);
            return Err(e);
        }
        Ok(true)
    }

    /// Changes a topic with `change`; returns the new value, or `None` if there is no such topic.
    pub fn update(
        &self,
        name: &str,
        change: impl FnOnce(&mut TopicMeta),
    ) -> Result<Option<TopicMeta>, BrokerError> {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let Some(old) = topics.get(name).cloned() else {
            return Ok(None);
        };
        let mut new = old.clone();
        change(&mut new);
        topics.insert(name.to_string(), new.clone());
        if let Err(e) = self.save(&topics) {
            topics.insert(name.to_string(), old);
            return Err(e);
        }
        Ok(Some(new))
    }

    /// Removes a topic, returning it.
    pub fn delete(&self, name: &str) -> Result<Option<TopicMeta>, BrokerError> {
        let mut topics = self.topics.write().unwrap_or_else(|e| e.into_inner());
        let Some(old) = topics.remove(name) else {
            return Ok(None);
        };
        if let Err(e) = self.save(&topics) {
            topics.insert(name.to_string(), old);
            return Err(e);
        }
        Ok(Some(old))
    }
}

/// What `meta.properties` holds: Kafka's `cluster.id` and `directory.id` (KIP-858), both 16
/// random bytes in URL-safe base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// Stable id of this single-node cluster.
    pub cluster_id: String,
    /// Stable id of the data dir (DescribeQuorum reports it as the voter's directory).
    pub directory_id: Uuid,
}

/// Reads `meta.properties`, creating it with fresh ids on first start; a file written before
/// Gregor kept a directory id gets one added, keeping its cluster id.
pub fn load_or_create_meta(data_dir: &Path, node_id: i32) -> Result<MetaProperties, BrokerError> {
    let path = data_dir.join("meta.properties");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
    };
    let cluster_id = value("cluster.id");
    let directory_id = value("directory.id").and_then(|v| base64_url_decode(&v));
    if let (Some(cluster_id), Some(directory_id)) = (&cluster_id, directory_id) {
        return Ok(MetaProperties {
            cluster_id: cluster_id.clone(),
            directory_id,
        });
    }
    let meta = MetaProperties {
        cluster_id: cluster_id.unwrap_or_else(|| base64_url(Uuid::new_v4().as_bytes())),
        directory_id: Uuid::new_v4(),
    };
    let text = format!(
        "version=1\ncluster.id={}\nnode.id={node_id}\ndirectory.id={}\n",
        meta.cluster_id,
        base64_url(meta.directory_id.as_bytes())
    );
    gregor_storage::write_atomically(&path, text.as_bytes())?;
    Ok(meta)
}

const BASE64_URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The 16 bytes of a UUID written by `base64_url`, if `text` is one.
fn base64_url_decode(text: &str) -> Option<Uuid> {
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = Vec::with_capacity(16);
    for c in text.bytes() {
        let v = BASE64_URL.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
        }
    }
    Uuid::from_slice(&out).ok()
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = BASE64_URL;
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Kafka's internal topics (`Topic.isInternal`): clients may not produce to them, and Metadata
/// marks them `is_internal`. Other names starting with `__` are ordinary topics.
pub const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// Whether `name` is one of Kafka's internal topics.
pub fn is_internal_topic(name: &str) -> bool {
    INTERNAL_TOPICS.contains(&name)
}

/// Kafka's topic name rules: 1-249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return Err("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > 249 {
        return Err(format!(
            "Topic name is illegal, it can't be longer than 249 characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(format!("Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_survive_reload() {
        let dir = tempfile::tempdir().unwrap();
        let store = TopicStore::load(dir.path()).unwrap();
        let t = TopicMeta {
            name: "a".into(),
            id: Uuid::new_v4(),
            partitions: 3,
            configs: BTreeMap::new(),
        };
        assert!(store.create(t.clone()).unwrap());
        assert!(!store.create(t.clone()).unwrap());
        store.update("a", |t| t.partitions = 4).unwrap();
        let again = TopicStore::load(dir.path()).unwrap();
        assert_eq!(again.get("a").unwrap().partitions, 4);
        assert_eq!(again.by_id(t.id).unwrap().name, "a");
        let meta = load_or_create_meta(dir.path(), 1).unwrap();
        assert_eq!(meta.cluster_id.len(), 22);
        assert_eq!(load_or_create_meta(dir.path(), 1).unwrap(), meta);
    }

    #[test]
    fn a_directory_id_is_added_to_an_older_meta_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.properties");
        std::fs::write(
            &path,
            "version=1\ncluster.id=abcdefghijklmnopqrstuv\nnode.id=1\n",
        )
        .unwrap();
        let meta = load_or_create_meta(dir.path(), 1).unwrap();
        assert_eq!(meta.cluster_id, "abcdefghijklmnopqrstuv");
        let text = std::fs::read_to_string(&path).unwrap();
        let written = text
            .lines()
            .find_map(|l| l.strip_prefix("directory.id="))
            .unwrap();
        assert_eq!(written.len(), 22);
        assert_eq!(base64_url_decode(written), Some(meta.directory_id));
        assert_eq!(load_or_create_meta(dir.path(), 1).unwrap(), meta);
    }

    #[test]
    fn only_kafkas_internal_topics_are_internal() {
        assert!(is_internal_topic("__consumer_offsets"));
        assert!(is_internal_topic("__transaction_state"));
        assert!(!is_internal_topic("__my_topic"));
        assert!(!is_internal_topic("orders"));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1-x_y").is_ok());
        for bad in ["", ".", "..", "a b", "é", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad}");
        }
    }
}
