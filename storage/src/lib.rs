//! Gregor's storage: one append-only log per topic-partition, in Kafka's on-disk layout.
//!
//! A partition is a folder `{topic}-{partition}` of segments (`{base_offset:020}.log` with a
//! sparse `.index` and `.timeindex`, and a `.txnindex` of aborted transactions once one ends
//! there), plus producer-state `.snapshot`s. Record batches are stored exactly as they arrive on the
//! wire (Kafka's v2 format), so a fetch serves bytes straight from the segment mapping. This crate
//! knows nothing about sockets or Kafka requests.

pub mod batch;
pub mod cleaner;
pub mod config;
pub mod error;
pub mod file_names;
pub mod file_store;
#[doc(hidden)]
pub mod fuzzing;
pub mod index;
pub mod log;
pub mod log_loader;
pub mod log_manager;
pub mod log_segment;
pub mod mapped_file;
pub mod meta_files;
pub mod producer_state;
pub mod scrub;
pub mod timestamps;
pub mod writeback;

pub use cleaner::LogCleaner;
pub use config::{CleanerConfig, CleanupPolicy, FsyncPolicy, LogConfig, TimestampType};
pub use error::{Result, StorageError};
pub use gregor_record::control::{EndTxnMarker, TxnResult};
pub use index::AbortedTxn;
pub use log::{AppendInfo, PartitionLog, ReadInfo, TimestampOffset};
pub use log_manager::{LogManager, TopicPartition};
pub use meta_files::write_atomically;
