//! Producer ids for InitProducerId; Kafka's `ProducerIdManager` (which takes blocks of ids from
//! the controller; a single node hands them out itself).

use std::sync::atomic::{AtomicI64, Ordering};

/// Hands out producer ids that are unique across restarts.
#[derive(Debug)]
pub struct ProducerIdManager {
    /// The next id to hand out. Ids only grow: it starts past every id the logs still hold
    /// producer state for, and past the ids handed out before a restart (it is seeded from the
    /// clock, and fewer than 1,000 ids a second are handed out).
    next: AtomicI64,
}

impl ProducerIdManager {
    /// A manager whose first id is past `max_logged_id` (the largest id in the logs' producer
    /// state, if any) and at least `now_ms`.
    pub fn new(now_ms: i64, max_logged_id: Option<i64>) -> ProducerIdManager {
        ProducerIdManager {
            next: AtomicI64::new(now_ms.max(max_logged_id.map_or(0, |id| id + 1))),
        }
    }

    /// A fresh id.
    pub fn allocate(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_past_the_clock_and_the_logs_and_grow() {
        let ids = ProducerIdManager::new(1_000, Some(5_000));
        assert_eq!(ids.allocate(), 5_001);
        assert_eq!(ids.allocate(), 5_002);
        assert_eq!(ProducerIdManager::new(1_000, Some(7)).allocate(), 1_000);
        assert_eq!(ProducerIdManager::new(1_000, None).allocate(), 1_000);
    }
}
