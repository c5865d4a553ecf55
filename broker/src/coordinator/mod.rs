//! The group coordinator; Apache Kafka's classic GroupCoordinator.
//!
//! `GroupCoordinator` is a deterministic state machine: every call takes the current time in
//! milliseconds, and requests that must wait (a JoinGroup until the rebalance completes, a
//! follower's SyncGroup until the leader's arrives) are parked under a caller-chosen `ReplyId`
//! and answered later through `Reply`s returned by other calls or by `tick`. No tokio inside;
//! `runtime` drives it from one task, with a real clock, and makes offsets durable.
//!
//! `txn` is the transaction coordinator, a second shard on the same runtime; `txn_offsets` is
//! the group coordinator's side of TxnOffsetCommit.

pub mod classic_group;
pub mod events;
pub mod group;
pub mod group_apis;
pub mod group_coordinator;
pub mod group_events;
pub mod loader;
pub mod offsets;
pub mod records;
pub mod runtime;
pub mod service;
pub mod txn;
pub mod txn_offsets;
pub mod writer;

pub use group_coordinator::{CoordinatorConfig, GroupCoordinator, Reply, ReplyId, Response};

#[cfg(test)]
mod tests;
