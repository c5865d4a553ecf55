//! Verifying a transactional Produce before it is appended (KIP-890 part 1); Kafka's
//! AddPartitionsToTxnManager with the verify-only AddPartitionsToTxn, asked in-process: the
//! partition must be in the producer's ongoing transaction, so a late or zombie write cannot
//! land outside one (where no marker would ever close it, holding the last stable offset).
//! From Produce v12 (KIP-890 part 2, what a `transaction.version` 2 client sends) the partition
//! is added instead, as Kafka's `addPartition` operation: such a client sends no
//! AddPartitionsToTxn.
//!
//! The coordinator's answers become Produce errors as Kafka maps them: PRODUCER_FENCED is
//! INVALID_PRODUCER_EPOCH, TRANSACTION_ABORTABLE is INVALID_TXN_STATE below v12 (older clients
//! know no other), and a coordinator busy or away is the retriable NOT_ENOUGH_REPLICAS.

use gregor_protocol::ResponseError;

use super::coordinator::{TxnRequest, TxnResponse};
use super::shard::TxnShard;
use crate::coordinator::runtime::CoordinatorHandle;
use crate::error::KafkaError;
use crate::replica_manager::{BoxFuture, TxnProduce, TxnVerifier};

/// Asks the transaction coordinator.
pub struct CoordinatorVerifier {
    /// The transaction coordinator.
    pub txn: CoordinatorHandle<TxnShard>,
}

/// The first Produce version whose transactional batches add their partition (KIP-890 part 2).
pub const IMPLICIT_ADD_PRODUCE_VERSION: i16 = 12;

/// The Produce error for a verification's answer.
fn produce_error(e: ResponseError, produce_version: i16) -> ResponseError {
    match e {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::TransactionAbortable if produce_version < IMPLICIT_ADD_PRODUCE_VERSION => {
            ResponseError::InvalidTxnState
        }
        ResponseError::ConcurrentTransactions
        | ResponseError::CoordinatorNotAvailable
        | ResponseError::NotCoordinator
        | ResponseError::CoordinatorLoadInProgress => ResponseError::NotEnoughReplicas,
        other => other,
    }
}

impl TxnVerifier for CoordinatorVerifier {
    fn verify<'a>(&'a self, produce: TxnProduce<'a>) -> BoxFuture<'a, Result<(), KafkaError>> {
        Box::pin(async move {
            let transactional_id = produce.transactional_id.to_string();
            let partitions = vec![(produce.topic.to_string(), produce.partition)];
            let (producer_id, producer_epoch) = (produce.producer_id, produce.producer_epoch);
            let request = if produce.produce_version >= IMPLICIT_ADD_PRODUCE_VERSION {
                TxnRequest::AddPartitions {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                }
            } else {
                TxnRequest::VerifyPartitions {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                }
            };
            let error = match self.txn.call(request).await {
                Some(TxnResponse::Verified(results)) => results.into_iter().find_map(|(_, e)| e),
                Some(TxnResponse::Added(result)) => result.err(),
                Some(_) => Some(ResponseError::UnknownServerError),
                None => Some(ResponseError::CoordinatorNotAvailable),
            };
            match error {
                None => Ok(()),
                Some(e) => Err(KafkaError::with_message(
                    produce_error(e, produce.produce_version),
                    format!(
                        "partition {}-{} is not in (and cannot join) the ongoing transaction of {} ({})",
                        produce.topic,
                        produce.partition,
                        produce.transactional_id,
                        e.code()
                    ),
                )),
            }
        })
    }
}
