//! Waiting for a transaction's markers; Kafka has no counterpart (its ReplicaManager polls the
//! coordinator again every `add.partitions.to.txn.retry.backoff.ms` instead).
//!
//! While the markers of a transactional id's last transaction are being written, the
//! coordinator answers an add of a partition for that id CONCURRENT_TRANSACTIONS. The markers
//! task rings `done` once it has told the coordinator the markers are in; a request sent to
//! the coordinator after that runs after the CompleteCommit or CompleteAbort is applied (the
//! runtime serializes an id's writes), so whoever waited can ask again at once rather than
//! after a fixed back-off.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Per transactional id, what wakes those waiting for its markers.
#[derive(Debug, Default)]
pub struct Completions {
    /// Ids someone waits for; an entry goes when its markers are done.
    waiting: Mutex<HashMap<String, Arc<Notify>>>,
}

impl Completions {
    /// What `done(transactional_id)` will wake: create a `notified()` future from it before
    /// asking the coordinator, so a completion in between is not missed.
    pub fn watch(&self, transactional_id: &str) -> Arc<Notify> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        waiting
            .entry(transactional_id.to_string())
            .or_default()
            .clone()
    }

    /// Whether anyone watches `transactional_id` (for tests that must know a waiter is there).
    #[cfg(test)]
    pub fn is_watched(&self, transactional_id: &str) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(transactional_id)
    }

    /// The markers of `transactional_id`'s transaction are written and the coordinator told.
    pub fn done(&self, transactional_id: &str) {
        let notify = self
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(transactional_id);
        if let Some(n) = notify {
            n.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn done_wakes_a_watcher_of_that_id_only() {
        let c = Completions::default();
        let a = c.watch("a");
        let b = c.watch("b");
        let woken_a = a.notified();
        let woken_b = b.notified();
        c.done("a");
        woken_a.await;
        // "b" was not done: its future stays pending.
        assert!(futures_util::FutureExt::now_or_never(woken_b).is_none());
        // A later watch of "a" waits for its next completion.
        let again = c.watch("a");
        assert!(!Arc::ptr_eq(&a, &again));
    }
}
