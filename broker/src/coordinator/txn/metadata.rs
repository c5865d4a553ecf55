//! One transactional id's state; Kafka's TransactionMetadata and TransactionState.

use std::collections::BTreeSet;

/// No producer id (Kafka's `RecordBatch.NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;
/// No producer epoch (Kafka's `RecordBatch.NO_PRODUCER_EPOCH`).
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// A transaction's state, with Kafka's ids (the `TransactionStatus` of the log value) and names
/// (DescribeTransactions, ListTransactions).
///
/// - `Empty`: no transaction; from InitProducerId (from any state but Ongoing and Prepare*).
/// - `Ongoing`: partitions were added; from AddPartitionsToTxn/AddOffsetsToTxn.
/// - `PrepareCommit`/`PrepareAbort`: the decision is logged, markers are being written; from
///   EndTxn on Ongoing, or (abort) an InitProducerId fencing, or a timeout.
/// - `CompleteCommit`/`CompleteAbort`: every marker is written; from Prepare*.
/// - `PrepareEpochFence`: Kafka's transient state while a fencing abort is prepared. Gregor
///   never holds it: writes of one id are serialized, so the fence is written as PrepareAbort
///   with the bumped epoch directly.
/// - `Dead`: the id expired; its tombstone is written and it is forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransactionState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TransactionState {
    /// Every state, in id order.
    pub const ALL: [TransactionState; 8] = [
        TransactionState::Empty,
        TransactionState::Ongoing,
        TransactionState::PrepareCommit,
        TransactionState::PrepareAbort,
        TransactionState::CompleteCommit,
        TransactionState::CompleteAbort,
        TransactionState::Dead,
        TransactionState::PrepareEpochFence,
    ];

    /// Kafka's id, as the log value stores it.
    pub fn id(self) -> i8 {
        match self {
            TransactionState::Empty => 0,
            TransactionState::Ongoing => 1,
            TransactionState::PrepareCommit => 2,
            TransactionState::PrepareAbort => 3,
            TransactionState::CompleteCommit => 4,
            TransactionState::CompleteAbort => 5,
            TransactionState::Dead => 6,
            TransactionState::PrepareEpochFence => 7,
        }
    }

    /// The state of id `id`.
    pub fn from_id(id: i8) -> Option<TransactionState> {
        TransactionState::ALL.into_iter().find(|s| s.id() == id)
    }

    /// Kafka's name, as the admin APIs report it.
    pub fn name(self) -> &'static str {
        match self {
            TransactionState::Empty => "Empty",
            TransactionState::Ongoing => "Ongoing",
            TransactionState::PrepareCommit => "PrepareCommit",
            TransactionState::PrepareAbort => "PrepareAbort",
            TransactionState::CompleteCommit => "CompleteCommit",
            TransactionState::CompleteAbort => "CompleteAbort",
            TransactionState::Dead => "Dead",
            TransactionState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state named `name` (ListTransactions' filters).
    pub fn from_name(name: &str) -> Option<TransactionState> {
        TransactionState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether the decision is logged and markers are being written.
    pub fn is_prepare(self) -> bool {
        matches!(
            self,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        )
    }

    /// Whether no transaction is under way (a new one may begin).
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TransactionState::Empty
                | TransactionState::CompleteCommit
                | TransactionState::CompleteAbort
        )
    }
}

/// A topic partition of a transaction.
pub type TxnPartition = (String, i32);

/// What the coordinator keeps per transactional id (Kafka's TransactionMetadata); all of it but
/// `last_producer_epoch` is in the log value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionMetadata {
    /// The producer id in use.
    pub producer_id: i64,
    /// The producer id before the last rotation (epoch exhaustion), or -1.
    pub previous_producer_id: i64,
    /// The producer id the next completion rotates to (KIP-890 epoch overflow), or -1.
    pub next_producer_id: i64,
    /// The producer's epoch; -1 before the first InitProducerId is written.
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId or EndTxn v5 is recognised;
    /// not in the log (Kafka neither), -1 after a load.
    pub last_producer_epoch: i16,
    /// The producer's `transaction.timeout.ms`.
    pub timeout_ms: i32,
    /// Where the transaction stands.
    pub state: TransactionState,
    /// The partitions of the ongoing (or completing) transaction.
    pub partitions: BTreeSet<TxnPartition>,
    /// When the transaction began (ms since the epoch), or -1.
    pub start_ms: i64,
    /// When this metadata last changed (ms since the epoch).
    pub last_update_ms: i64,
    /// The transaction version the client used (2: KIP-890 epoch bumps on EndTxn).
    pub client_transaction_version: i16,
}

impl TransactionMetadata {
    /// Metadata of a transactional id seen for the first time: a fresh producer id, no epoch.
    pub fn new(producer_id: i64, timeout_ms: i32, now: i64) -> TransactionMetadata {
        TransactionMetadata {
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TransactionState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now,
            client_transaction_version: 0,
        }
    }

    /// Kafka's `isEpochExhausted`: one bump left at most, kept for fencing.
    pub fn is_epoch_exhausted(epoch: i16) -> bool {
        epoch >= i16::MAX - 1
    }

    /// Whether this producer's epoch is exhausted.
    pub fn is_producer_epoch_exhausted(&self) -> bool {
        Self::is_epoch_exhausted(self.producer_epoch)
    }
}
