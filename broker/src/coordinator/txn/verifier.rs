//! Verifying a transactional Produce before it is appended (KIP-890 part 1); Kafka's
//! AddPartitionsToTxnManager with the verify-only AddPartitionsToTxn, asked in-process: the
//! partition must be in the producer's ongoing transaction, so a late or zombie write cannot
//! land outside one (where no marker would ever close it, holding the last stable offset).
//! From Produce v12 (KIP-890 part 2, what a `transaction.version` 2 client sends) the partition
//! is added instead, as Kafka's `addPartition` operation: such a client sends no
//! AddPartitionsToTxn.
//!
//! An add that finds the producer's previous transaction still writing its markers
//! (CONCURRENT_TRANSACTIONS) waits for them, up to `add.partitions.to.txn.retry.backoff.max.ms`,
//! and is asked again, as Kafka retries it on the server (KAFKA-18654): the client's own retry of
//! a refused Produce would come only after its `retry.backoff.ms` (100 ms by default). Kafka asks
//! again every `add.partitions.to.txn.retry.backoff.ms`; this asks once the markers are in
//! (`completions`).
//!
//! The coordinator's answers become Produce errors as Kafka maps them: PRODUCER_FENCED is
//! INVALID_PRODUCER_EPOCH, TRANSACTION_ABORTABLE is INVALID_TXN_STATE below v12 (older clients
//! know no other), and a coordinator busy or away is the retriable NOT_ENOUGH_REPLICAS.

use std::sync::Arc;
use std::time::Duration;

use gregor_protocol::ResponseError;

use super::completions::Completions;
use super::coordinator::{TxnRequest, TxnResponse};
use super::shard::TxnShard;
use crate::coordinator::runtime::CoordinatorHandle;
use crate::error::KafkaError;
use crate::replica_manager::{BoxFuture, TxnProduce, TxnVerifier};

/// Asks the transaction coordinator.
pub struct CoordinatorVerifier {
    /// The transaction coordinator.
    pub txn: CoordinatorHandle<TxnShard>,
    /// Rung when a transaction's markers are written.
    pub completions: Arc<Completions>,
    /// `add.partitions.to.txn.retry.backoff.max.ms`: how long an add waits for the markers of
    /// the producer's previous transaction.
    pub max_wait: Duration,
}

impl CoordinatorVerifier {
    /// Runs `request`, an add of partitions to `transactional_id`'s transaction, again each
    /// time the markers of its previous transaction are written, while it is answered
    /// CONCURRENT_TRANSACTIONS and `max_wait` has not passed; returns the last answer's error.
    async fn add_waiting_for_markers(
        &self,
        transactional_id: &str,
        request: TxnRequest,
    ) -> Option<ResponseError> {
        let deadline = tokio::time::Instant::now() + self.max_wait;
        loop {
            // Watched before asking, so markers done in between still wake this.
            let notify = self.completions.watch(transactional_id);
            let completed = notify.notified();
            let error = self.ask(request.clone()).await;
            if error != Some(ResponseError::ConcurrentTransactions)
                || tokio::time::timeout_at(deadline, completed).await.is_err()
            {
                return error;
            }
        }
    }

    /// The error of the coordinator's answer to `request`, if any.
    async fn ask(&self, request: TxnRequest) -> Option<ResponseError> {
        match self.txn.call(request).await {
            Some(TxnResponse::Verified(results)) => results.into_iter().find_map(|(_, e)| e),
            Some(TxnResponse::Added(result)) => result.err(),
            Some(_) => Some(ResponseError::UnknownServerError),
            None => Some(ResponseError::CoordinatorNotAvailable),
        }
    }
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
            let error = if produce.produce_version >= IMPLICIT_ADD_PRODUCE_VERSION {
                let request = TxnRequest::AddPartitions {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                };
                self.add_waiting_for_markers(produce.transactional_id, request)
                    .await
            } else {
                // Kafka does not wait here either: this client sent AddPartitionsToTxn and
                // had its answer, so its partition is in the transaction or never will be.
                self.ask(TxnRequest::VerifyPartitions {
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                })
                .await
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use tokio::sync::mpsc;

    use super::*;
    use crate::coordinator::runtime;
    use crate::coordinator::txn::{MarkerJob, TransactionCoordinator, TxnConfig, TxnEffect};

    /// A verifier on a coordinator whose writes always succeed, and the marker jobs it hands out.
    fn verifier(max_wait: Duration) -> (CoordinatorVerifier, mpsc::UnboundedReceiver<MarkerJob>) {
        let (handle, starter) = runtime::channel::<TxnShard>();
        let coordinator = TransactionCoordinator::new(TxnConfig::default(), Box::new(|| 7));
        let offset = AtomicI64::new(0);
        let append: crate::coordinator::writer::AppendBatches =
            Arc::new(move |_| Ok(offset.fetch_add(1, Ordering::Relaxed)));
        let (jobs_tx, jobs) = mpsc::unbounded_channel();
        let effects = Box::new(move |effect| {
            if let TxnEffect::WriteMarkers(job) = effect {
                let _ = jobs_tx.send(job);
            }
        });
        starter
            .start_shard(
                TxnShard::new(coordinator, crate::broker::now_ms),
                append,
                crate::coordinator::writer::WriteMode::InPlace,
                effects,
            )
            .unwrap();
        let verifier = CoordinatorVerifier {
            txn: handle,
            completions: Arc::default(),
            max_wait,
        };
        (verifier, jobs)
    }

    /// Begins a transaction of "tx" on `t-0` and commits it (EndTxn v5), so its markers are
    /// due; returns the producer id and the epoch after the commit's bump.
    async fn commit_pending(v: &CoordinatorVerifier) -> (i64, i16) {
        let init = TxnRequest::InitProducerId {
            transactional_id: "tx".into(),
            timeout_ms: 60_000,
            expected: None,
        };
        let Some(TxnResponse::InitProducerId(Ok((pid, epoch)))) = v.txn.call(init).await else {
            panic!("no producer id");
        };
        let add = TxnRequest::AddPartitions {
            transactional_id: "tx".into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: vec![("t".into(), 0)],
        };
        assert_eq!(v.ask(add).await, None);
        let end = TxnRequest::EndTxn {
            transactional_id: "tx".into(),
            producer_id: pid,
            producer_epoch: epoch,
            commit: true,
            bump_epoch: true,
        };
        let Some(TxnResponse::EndTxn(Ok(after))) = v.txn.call(end).await else {
            panic!("commit refused");
        };
        after
    }

    /// The next transaction's first Produce (v12, adding its partition).
    fn produce((producer_id, producer_epoch): (i64, i16)) -> TxnProduce<'static> {
        TxnProduce {
            transactional_id: "tx",
            producer_id,
            producer_epoch,
            topic: "t",
            partition: 1,
            produce_version: IMPLICIT_ADD_PRODUCE_VERSION,
        }
    }

    #[tokio::test]
    async fn a_produce_adding_its_partition_waits_for_the_previous_transactions_markers() {
        let (v, mut jobs) = verifier(Duration::from_secs(300));
        let v = Arc::new(v);
        let next = commit_pending(&v).await;
        let job = jobs.recv().await.expect("the commit's markers");
        let verifying = tokio::spawn({
            let v = v.clone();
            async move { v.verify(produce(next)).await }
        });
        // The verifier watches before it asks; on this one-thread runtime its first poll both
        // watches and sends, so once it watches, its add is in the coordinator's queue.
        while !v.completions.is_watched("tx") {
            tokio::task::yield_now().await;
        }
        // A read queued behind the add returns once the add is answered (refused: the markers
        // are due); the verifier, woken first, has taken the answer when this task runs again.
        v.txn.read(|_| ()).await.unwrap();
        tokio::task::yield_now().await;
        assert!(!verifying.is_finished(), "the add was not held");
        v.txn.send(TxnRequest::MarkersWritten {
            transactional_id: job.transactional_id,
            producer_id: job.producer_id,
            producer_epoch: job.producer_epoch,
            commit: job.commit,
        });
        v.completions.done("tx");
        assert_eq!(verifying.await.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_produce_whose_previous_transaction_never_completes_is_refused_retriably() {
        let (v, _jobs) = verifier(Duration::ZERO);
        let next = commit_pending(&v).await;
        let refused = v.verify(produce(next)).await.unwrap_err();
        assert_eq!(refused.code, ResponseError::NotEnoughReplicas);
    }
}
