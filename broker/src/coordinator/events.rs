//! Where a coordinator's events go once the runtime takes them from its state machine: a
//! bounded ring of the latest ones (so a page opened late shows history) and a bounded tokio
//! broadcast channel for live listeners. Kafka has no counterpart; its closest are the
//! coordinator's INFO log lines ("Preparing to rebalance group ...").
//!
//! Publishing is a lock of a small ring and a broadcast send, done only when the state machine
//! produced an event (membership and assignment changes, a commit summary at most once a second
//! per group), never per request. A listener that falls behind the channel loses the oldest
//! events (`Lagged`) rather than holding up the coordinator.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

/// Events kept for listeners that arrive late.
pub const RING_CAPACITY: usize = 512;
/// Events a live listener may be behind before it loses the oldest.
pub const CHANNEL_CAPACITY: usize = 1024;

/// An event with its place in the sequence and when it happened.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stamped<E> {
    /// 1, 2, ...: a listener can tell a gap (and the page skips what it has seen).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The event.
    #[serde(flatten)]
    pub event: E,
}

/// The ring and the channel of one coordinator.
pub struct EventLog<E> {
    /// The latest events and the next sequence number; held while sending, so a subscriber
    /// that takes the ring and subscribes under the lock sees every event exactly once.
    ring: Mutex<(VecDeque<Stamped<E>>, u64)>,
    /// Live listeners.
    tx: broadcast::Sender<Stamped<E>>,
}

impl<E: Clone + Send + 'static> Default for EventLog<E> {
    fn default() -> Self {
        EventLog {
            ring: Mutex::new((VecDeque::with_capacity(RING_CAPACITY), 1)),
            tx: broadcast::channel(CHANNEL_CAPACITY).0,
        }
    }
}

impl<E: Clone + Send + 'static> EventLog<E> {
    /// Records `events`, stamped `time_ms`, and sends them to the live listeners.
    pub fn publish(&self, events: Vec<E>, time_ms: i64) {
        if events.is_empty() {
            return;
        }
        let mut guard = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let (ring, next) = &mut *guard;
        for event in events {
            let stamped = Stamped {
                seq: *next,
                time_ms,
                event,
            };
            *next += 1;
            if ring.len() == RING_CAPACITY {
                ring.pop_front();
            }
            // No receiver is not an error: nobody is watching.
            if self.tx.receiver_count() > 0 {
                let _ = self.tx.send(stamped.clone());
            }
            ring.push_back(stamped);
        }
    }

    /// The events kept so far, oldest first, and a receiver of every later one.
    pub fn subscribe(&self) -> (Vec<Stamped<E>>, broadcast::Receiver<Stamped<E>>) {
        let guard = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        (guard.0.iter().cloned().collect(), self.tx.subscribe())
    }

    /// The events kept so far, oldest first.
    pub fn recent(&self) -> Vec<Stamped<E>> {
        let guard = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        guard.0.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_subscriber_gets_history_then_live_events_without_gap_or_repeat() {
        let log = EventLog::<u32>::default();
        log.publish(vec![1, 2], 10);
        let (history, mut rx) = log.subscribe();
        log.publish(vec![3], 11);
        assert_eq!(
            history.iter().map(|s| (s.seq, s.event)).collect::<Vec<_>>(),
            [(1, 1), (2, 2)]
        );
        let live = rx.try_recv().unwrap();
        assert_eq!((live.seq, live.event, live.time_ms), (3, 3, 11));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn the_ring_keeps_only_the_latest() {
        let log = EventLog::<usize>::default();
        log.publish((0..RING_CAPACITY + 5).collect(), 0);
        let recent = log.recent();
        assert_eq!(recent.len(), RING_CAPACITY);
        assert_eq!(recent[0].event, 5);
        assert_eq!(recent.last().unwrap().seq, (RING_CAPACITY + 5) as u64);
    }
}
