//! The topics the coordinator assigns from: name, id and partition count of every topic, as the
//! broker knows them when a heartbeat arrives (Kafka's coordinator reads its MetadataImage).
//! `TopicSource` hands the coordinator a fresh image; tests build images by hand.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic id.
    pub id: Uuid,
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
}

/// Every topic, by name and by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicImage {
    by_name: BTreeMap<String, TopicInfo>,
    by_id: BTreeMap<Uuid, String>,
}

impl TopicImage {
    /// An image of `topics`.
    pub fn new(topics: impl IntoIterator<Item = TopicInfo>) -> TopicImage {
        let mut image = TopicImage::default();
        for t in topics {
            image.by_id.insert(t.id, t.name.clone());
            image.by_name.insert(t.name.clone(), t);
        }
        image
    }

    /// The topic called `name`.
    pub fn get(&self, name: &str) -> Option<&TopicInfo> {
        self.by_name.get(name)
    }

    /// The topic with id `id`.
    pub fn by_id(&self, id: Uuid) -> Option<&TopicInfo> {
        self.by_id.get(&id).and_then(|n| self.by_name.get(n))
    }

    /// Every topic name, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }
}

/// Where the coordinator reads the current topics from: the broker's topic store, or nothing
/// (no topics) in tests that do not set one.
#[derive(Clone, Default)]
pub struct TopicSource(Option<Arc<dyn Fn() -> TopicImage + Send + Sync>>);

impl TopicSource {
    /// A source that calls `read` for each image.
    pub fn new(read: impl Fn() -> TopicImage + Send + Sync + 'static) -> TopicSource {
        TopicSource(Some(Arc::new(read)))
    }

    /// The topics now.
    pub fn image(&self) -> TopicImage {
        self.0.as_ref().map(|read| read()).unwrap_or_default()
    }
}

impl fmt::Debug for TopicSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "TopicSource(broker)"
        } else {
            "TopicSource(none)"
        })
    }
}
