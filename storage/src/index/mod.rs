//! The sparse per-segment indexes, memory-mapped as Kafka keeps them: one `AbstractIndex` of
//! fixed-size entries under the offset and time indexes, and the transaction index of aborted
//! transactions (written through, not mapped).

pub mod abstract_index;
pub mod offset_index;
pub mod time_index;
pub mod transaction_index;

pub use abstract_index::{AbstractIndex, IndexEntry};
pub use offset_index::OffsetIndex;
pub use time_index::TimeIndex;
pub use transaction_index::{AbortedTxn, AbortedTxnSearch, TransactionIndex};
