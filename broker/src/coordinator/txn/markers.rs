//! Writing a transaction's markers; Kafka's TransactionMarkerChannelManager, for one node.
//!
//! Once a PrepareCommit or PrepareAbort is in `__transaction_state` (or found there at load),
//! the coordinator hands over a `MarkerJob`. Its markers go into every partition of the
//! transaction through the replica manager; a partition of `__consumer_offsets` is then also
//! handed to the group coordinator, which commits or drops the transaction's pending offsets.
//! A partition that fails is retried with a back-off until it takes the marker, except one
//! whose topic is gone (Kafka drops those too). Then the coordinator is told, and writes
//! CompleteCommit or CompleteAbort. A crash anywhere in between leaves the Prepare record as
//! the last word, so the load starts the job again; markers written twice are harmless (the
//! second finds no ongoing transaction of that producer).

use std::sync::{Arc, Weak};
use std::time::Duration;

use gregor_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use gregor_protocol::messages::{ProducerId, RequestKind, WriteTxnMarkersRequest};
use gregor_protocol::ResponseError;
use tokio::sync::mpsc;

use super::completions::Completions;
use super::coordinator::{MarkerJob, TxnEffect, TxnRequest, OFFSETS_TOPIC};
use super::shard::TxnShard;
use crate::broker::Broker;
use crate::coordinator::runtime::{CoordinatorHandle, EffectSink};
use crate::coordinator::service::GroupRequest;
use crate::replica_manager::TxnResult;

/// The longest wait between two attempts at a partition that refuses its marker.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Starts the task that carries out the coordinator's effects; returns the sink the runtime
/// hands them to. `completions` is rung for each transaction whose markers are written, once
/// the coordinator is told. The task ends when the runtime (and so the sink) is gone.
pub fn start(
    broker: Weak<Broker>,
    txn: CoordinatorHandle<TxnShard>,
    completions: Arc<Completions>,
) -> EffectSink<TxnEffect> {
    let (tx, mut rx) = mpsc::unbounded_channel::<TxnEffect>();
    tokio::spawn(async move {
        while let Some(effect) = rx.recv().await {
            match effect {
                TxnEffect::Request(request) => {
                    txn.send(request);
                }
                TxnEffect::WriteMarkers(job) => {
                    let broker = broker.clone();
                    let txn = txn.clone();
                    let completions = completions.clone();
                    tokio::spawn(async move {
                        let id = job.transactional_id.clone();
                        if let Some(done) = write_markers(&broker, job).await {
                            txn.send(done);
                            completions.done(&id);
                        }
                    });
                }
            }
        }
    });
    Box::new(move |effect| {
        let _ = tx.send(effect);
    })
}

/// Writes the job's markers until every partition has taken its own; returns the request
/// telling the coordinator, or `None` once the broker is gone (shutdown: the load redoes it).
async fn write_markers(broker: &Weak<Broker>, job: MarkerJob) -> Option<TxnRequest> {
    let result = if job.commit {
        TxnResult::Commit
    } else {
        TxnResult::Abort
    };
    let mut left = job.partitions.clone();
    let mut backoff = Duration::from_millis(20);
    while !left.is_empty() {
        let b = broker.upgrade()?;
        let outcomes = b
            .replica_manager
            .write_txn_markers(
                job.producer_id,
                job.producer_epoch,
                job.coordinator_epoch,
                result,
                &left,
            )
            .await;
        let mut retry = Vec::new();
        for (partition, outcome) in outcomes {
            match outcome {
                Ok(()) if partition.0 == OFFSETS_TOPIC => {
                    if !complete_offsets(&b, &job, partition.1).await {
                        retry.push(partition);
                    }
                }
                Ok(()) => {}
                Err(e) if e.code == ResponseError::UnknownTopicOrPartition => {
                    tracing::warn!(
                        partition = %format!("{}-{}", partition.0, partition.1),
                        transactional_id = job.transactional_id,
                        "dropping the marker of a partition that no longer exists"
                    );
                }
                Err(e) => {
                    tracing::debug!(cause = %e, "marker not written; retrying");
                    retry.push(partition);
                }
            }
        }
        left = retry;
        if !left.is_empty() {
            drop(b);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    Some(TxnRequest::MarkersWritten {
        transactional_id: job.transactional_id,
        producer_id: job.producer_id,
        producer_epoch: job.producer_epoch,
        commit: job.commit,
    })
}

/// Tells the group coordinator the marker is in its partition, so the transaction's pending
/// offsets are committed or dropped (Kafka's onTransactionCompleted).
async fn complete_offsets(broker: &Broker, job: &MarkerJob, partition: i32) -> bool {
    let marker = WritableTxnMarker::default()
        .with_producer_id(ProducerId(job.producer_id))
        .with_producer_epoch(job.producer_epoch)
        .with_transaction_result(job.commit)
        .with_coordinator_epoch(job.coordinator_epoch)
        .with_topics(vec![WritableTxnMarkerTopic::default()
            .with_name(gregor_protocol::StrBytes::from_static_str(OFFSETS_TOPIC).into())
            .with_partition_indexes(vec![partition])]);
    let request = GroupRequest {
        body: RequestKind::WriteTxnMarkers(
            WriteTxnMarkersRequest::default().with_markers(vec![marker]),
        ),
        version: 1,
        client_id: String::new(),
        client_host: String::new(),
        group_config: Default::default(),
        topic_describe: None,
    };
    broker.coordinator.call(request).await.is_some()
}
