//! The group coordinator; Apache Kafka's classic GroupCoordinator.
//!
//! `GroupCoordinator` is a deterministic state machine: every call takes the current time in
//! milliseconds, and requests that must wait (a JoinGroup until the rebalance completes, a
//! follower's SyncGroup until the leader's arrives) are parked under a caller-chosen `ReplyId`
//! and answered later through `Reply`s returned by other calls or by `tick`. No tokio inside;
//! `runtime` drives it from one task, with a real clock, and makes offsets durable.

pub mod classic_group;
pub mod group;
pub mod group_apis;
pub mod group_coordinator;
pub mod loader;
pub mod offsets;
pub mod records;
pub mod runtime;
pub mod service;
pub mod writer;

pub use group_coordinator::{CoordinatorConfig, GroupCoordinator, Reply, ReplyId, Response};

#[cfg(test)]
mod tests;
