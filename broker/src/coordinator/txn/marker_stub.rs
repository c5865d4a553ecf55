//! Stand-in for the replica manager's marker append, which the data-plane branch (`txn-log`)
//! provides with this signature; removed when that branch is merged.

use crate::error::KafkaError;
use crate::replica_manager::ReplicaManager;

/// A transaction's outcome, as its markers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnResult {
    Commit,
    Abort,
}

impl ReplicaManager {
    /// Writes commit or abort markers into `partitions` (stand-in: writes nothing).
    pub async fn write_txn_markers(
        &self,
        _producer_id: i64,
        _producer_epoch: i16,
        _coordinator_epoch: i32,
        _result: TxnResult,
        partitions: &[(String, i32)],
    ) -> Vec<((String, i32), Result<(), KafkaError>)> {
        partitions.iter().map(|p| (p.clone(), Ok(()))).collect()
    }
}
