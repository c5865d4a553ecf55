//! The sparse per-segment indexes, memory-mapped as Kafka keeps them.

pub mod offset_index;
pub mod time_index;

pub use offset_index::OffsetIndex;
pub use time_index::TimeIndex;
