//! The transaction coordinator; Apache Kafka's TransactionCoordinator with its
//! TransactionStateManager and TransactionMarkerChannelManager, for one node.
//!
//! `TransactionCoordinator` (`coordinator`) is a pure state machine over
//! `TransactionMetadata` (`metadata`): every call takes the wall-clock time, and a change comes
//! back as one record of `__transaction_state` (`records`, Kafka's `TransactionLogKey`/
//! `TransactionLogValue`) to write before it is applied. `shard` runs it on the coordinator
//! runtime and loads it from its log; `markers` writes the commit and abort markers into the
//! partitions of a transaction once its PrepareCommit or PrepareAbort is in the log, and tells
//! the coordinator, which then writes CompleteCommit or CompleteAbort.

pub mod completions;
pub mod coordinator;
pub mod markers;
pub mod metadata;
pub mod records;
pub mod shard;
pub mod verifier;

pub use coordinator::{
    MarkerJob, Step, TransactionCoordinator, TxnConfig, TxnEffect, TxnRequest, TxnResponse,
};
pub use metadata::{TransactionMetadata, TransactionState};
pub use shard::TxnShard;

#[cfg(test)]
mod tests;
