//! The transaction APIs (InitProducerId with a transactional id, AddPartitionsToTxn,
//! AddOffsetsToTxn, EndTxn, DescribeTransactions, ListTransactions) as calls on the
//! transaction coordinator, and TxnOffsetCommit as a call on the group coordinator; Kafka's
//! KafkaApis handlers for them. Versions are read here and nowhere below.

use std::collections::BTreeMap;
use std::sync::Arc;

use gregor_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use gregor_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use gregor_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use gregor_protocol::messages::list_transactions_response::TransactionState as ListedState;
use gregor_protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, DescribeTransactionsRequest, DescribeTransactionsResponse,
    EndTxnRequest, EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListTransactionsRequest, ListTransactionsResponse, OffsetFetchRequest, OffsetFetchResponse,
    ProducerId, RequestKind, ResponseKind, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use gregor_protocol::request::Request;
use gregor_protocol::{ResponseError, StrBytes};

use crate::broker::Broker;
use crate::coordinator::txn::metadata::TxnPartition;
use crate::coordinator::txn::{TxnRequest, TxnResponse};
use crate::coordinator::GroupCoordinator;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Calls the transaction coordinator; a stopped one is answered as Kafka answers while it
/// is not active.
async fn call(broker: &Broker, request: TxnRequest) -> Result<TxnResponse, ResponseError> {
    broker
        .txn_coordinator
        .call(request)
        .await
        .ok_or(ResponseError::CoordinatorNotAvailable)
}

/// InitProducerId with a transactional id.
pub async fn init_producer_id(
    broker: &Arc<Broker>,
    r: &InitProducerIdRequest,
    transactional_id: &str,
) -> InitProducerIdResponse {
    let expected = (r.producer_id.0 >= 0).then_some((r.producer_id.0, r.producer_epoch));
    let answer = call(
        broker,
        TxnRequest::InitProducerId {
            transactional_id: transactional_id.to_string(),
            timeout_ms: r.transaction_timeout_ms,
            expected,
        },
    )
    .await;
    let result = match answer {
        Ok(TxnResponse::InitProducerId(result)) => result,
        Ok(_) => Err(ResponseError::UnknownServerError),
        Err(e) => Err(e),
    };
    match result {
        Ok((pid, epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(e) => InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

/// The partitions of a request that name an existing topic partition, and the rest.
fn known_partitions(
    broker: &Broker,
    topics: &[AddPartitionsToTxnTopic],
) -> (Vec<TxnPartition>, Vec<TxnPartition>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for t in topics {
        let count = broker
            .topics
            .get(t.name.as_str())
            .map_or(0, |m| m.partitions);
        for &p in &t.partitions {
            let tp = (t.name.to_string(), p);
            if (0..count).contains(&p) {
                known.push(tp);
            } else {
                unknown.push(tp);
            }
        }
    }
    (known, unknown)
}

/// Per-topic results from per-partition errors.
fn topic_results(
    errors: impl IntoIterator<Item = ((String, i32), i16)>,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let mut by_topic: BTreeMap<String, Vec<AddPartitionsToTxnPartitionResult>> = BTreeMap::new();
    for ((topic, partition), code) in errors {
        by_topic.entry(topic).or_default().push(
            AddPartitionsToTxnPartitionResult::default()
                .with_partition_index(partition)
                .with_partition_error_code(code),
        );
    }
    by_topic
        .into_iter()
        .map(|(topic, results)| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(s(&topic).into())
                .with_results_by_partition(results)
        })
        .collect()
}

/// One transaction of AddPartitionsToTxn: per-partition error codes. As Kafka: partitions
/// that do not exist get UNKNOWN_TOPIC_OR_PARTITION and the others OPERATION_NOT_ATTEMPTED,
/// without asking the coordinator.
async fn add_partitions_of(
    broker: &Broker,
    transactional_id: &str,
    producer_id: i64,
    producer_epoch: i16,
    topics: &[AddPartitionsToTxnTopic],
    verify_only: bool,
) -> Vec<((String, i32), i16)> {
    let (known, unknown) = known_partitions(broker, topics);
    if !unknown.is_empty() {
        let missing = unknown
            .into_iter()
            .map(|p| (p, ResponseError::UnknownTopicOrPartition.code()));
        let skipped = known
            .into_iter()
            .map(|p| (p, ResponseError::OperationNotAttempted.code()));
        return missing.chain(skipped).collect();
    }
    let id = transactional_id.to_string();
    let request = if verify_only {
        TxnRequest::VerifyPartitions {
            transactional_id: id,
            producer_id,
            producer_epoch,
            partitions: known.clone(),
        }
    } else {
        TxnRequest::AddPartitions {
            transactional_id: id,
            producer_id,
            producer_epoch,
            partitions: known.clone(),
        }
    };
    match call(broker, request).await {
        Ok(TxnResponse::Verified(results)) => results
            .into_iter()
            .map(|(p, e)| (p, e.map_or(0, |e| e.code())))
            .collect(),
        Ok(TxnResponse::Added(result)) => {
            let code = result.err().map_or(0, |e| e.code());
            known.into_iter().map(|p| (p, code)).collect()
        }
        other => {
            let code = other
                .err()
                .unwrap_or(ResponseError::UnknownServerError)
                .code();
            known.into_iter().map(|p| (p, code)).collect()
        }
    }
}

/// AddPartitionsToTxn: one transaction (v0-3, from clients) or a batch of them (v4+, from
/// brokers, usually verify-only).
pub async fn add_partitions_to_txn(
    broker: &Arc<Broker>,
    r: &AddPartitionsToTxnRequest,
    version: i16,
) -> AddPartitionsToTxnResponse {
    if version <= 3 {
        let results = add_partitions_of(
            broker,
            r.v3_and_below_transactional_id.as_str(),
            r.v3_and_below_producer_id.0,
            r.v3_and_below_producer_epoch,
            &r.v3_and_below_topics,
            false,
        )
        .await;
        return AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(topic_results(results));
    }
    let mut results = Vec::new();
    for t in &r.transactions {
        let codes = add_partitions_of(
            broker,
            t.transactional_id.as_str(),
            t.producer_id.0,
            t.producer_epoch,
            &t.topics,
            t.verify_only,
        )
        .await;
        results.push(
            AddPartitionsToTxnResult::default()
                .with_transactional_id(t.transactional_id.clone())
                .with_topic_results(topic_results(codes)),
        );
    }
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// AddOffsetsToTxn.
pub async fn add_offsets_to_txn(
    broker: &Arc<Broker>,
    r: &AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let code = match call(
        broker,
        TxnRequest::AddOffsets {
            transactional_id: r.transactional_id.to_string(),
            producer_id: r.producer_id.0,
            producer_epoch: r.producer_epoch,
            group_id: r.group_id.to_string(),
        },
    )
    .await
    {
        Ok(TxnResponse::Added(result)) => result.err().map_or(0, |e| e.code()),
        Ok(_) => ResponseError::UnknownServerError.code(),
        Err(e) => e.code(),
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}

/// EndTxn; v5 is KIP-890's, whose epoch the coordinator bumps.
pub async fn end_txn(broker: &Arc<Broker>, r: &EndTxnRequest, version: i16) -> EndTxnResponse {
    let answer = call(
        broker,
        TxnRequest::EndTxn {
            transactional_id: r.transactional_id.to_string(),
            producer_id: r.producer_id.0,
            producer_epoch: r.producer_epoch,
            commit: r.committed,
            bump_epoch: version >= 5,
        },
    )
    .await;
    let result = match answer {
        Ok(TxnResponse::EndTxn(result)) => result,
        Ok(_) => Err(ResponseError::UnknownServerError),
        Err(e) => Err(e),
    };
    match result {
        Ok((pid, epoch)) => EndTxnResponse::default()
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch),
        Err(e) => EndTxnResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    }
}

/// DescribeTransactions.
pub async fn describe_transactions(
    broker: &Arc<Broker>,
    r: &DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let ids: Vec<String> = r.transactional_ids.iter().map(|i| i.to_string()).collect();
    let described = match call(
        broker,
        TxnRequest::Describe {
            transactional_ids: ids.clone(),
        },
    )
    .await
    {
        Ok(TxnResponse::Described(d)) => d,
        _ => {
            let states = ids
                .iter()
                .map(|id| {
                    TransactionState::default()
                        .with_transactional_id(s(id).into())
                        .with_error_code(ResponseError::CoordinatorNotAvailable.code())
                })
                .collect();
            return DescribeTransactionsResponse::default().with_transaction_states(states);
        }
    };
    let states = described
        .into_iter()
        .map(|d| {
            let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in d.partitions {
                topics.entry(t).or_default().push(p);
            }
            TransactionState::default()
                .with_error_code(d.error.map_or(0, |e| e.code()))
                .with_transactional_id(s(&d.transactional_id).into())
                .with_transaction_state(s(d.state))
                .with_transaction_timeout_ms(d.timeout_ms)
                .with_transaction_start_time_ms(d.start_ms)
                .with_producer_id(ProducerId(d.producer_id))
                .with_producer_epoch(d.producer_epoch)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(s(&t).into())
                                .with_partitions(ps)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// ListTransactions (v1 adds the duration filter, v2 the transactional id pattern; an empty
/// pattern filters nothing, an invalid one is INVALID_REGULAR_EXPRESSION, as in Kafka).
pub async fn list_transactions(
    broker: &Arc<Broker>,
    r: &ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let id_pattern = r
        .transactional_id_pattern
        .as_ref()
        .filter(|p| version >= 2 && !p.is_empty())
        .map(|p| p.to_string());
    if let Some(p) = &id_pattern {
        if crate::coordinator::txn::coordinator::whole_match(p).is_err() {
            return ListTransactionsResponse::default()
                .with_error_code(ResponseError::InvalidRegularExpression.code());
        }
    }
    let request = TxnRequest::List {
        states: r.state_filters.iter().map(|s| s.to_string()).collect(),
        producer_ids: r.producer_id_filters.iter().map(|p| p.0).collect(),
        min_duration_ms: if version >= 1 { r.duration_filter } else { -1 },
        id_pattern,
    };
    match call(broker, request).await {
        Ok(TxnResponse::Listed {
            transactions,
            unknown_states,
        }) => ListTransactionsResponse::default()
            .with_unknown_state_filters(unknown_states.iter().map(|u| s(u)).collect())
            .with_transaction_states(
                transactions
                    .into_iter()
                    .map(|t| {
                        ListedState::default()
                            .with_transactional_id(s(&t.transactional_id).into())
                            .with_producer_id(ProducerId(t.producer_id))
                            .with_transaction_state(s(t.state))
                    })
                    .collect(),
            ),
        _ => ListTransactionsResponse::default()
            .with_error_code(ResponseError::CoordinatorNotAvailable.code()),
    }
}

/// The first TxnOffsetCommit version that adds the group's offsets partition to the
/// transaction itself (KIP-890 part 2: a `transaction.version` 2 client sends no
/// AddOffsetsToTxn).
const IMPLICIT_ADD_TXN_OFFSET_COMMIT_VERSION: i16 = 5;

/// The TxnOffsetCommit error for a failed implicit add, as the Java client reads them: a fenced
/// producer is INVALID_PRODUCER_EPOCH, a coordinator busy or away is retried.
fn implicit_add_error(e: ResponseError) -> ResponseError {
    match e {
        ResponseError::ProducerFenced => ResponseError::InvalidProducerEpoch,
        ResponseError::ConcurrentTransactions
        | ResponseError::CoordinatorNotAvailable
        | ResponseError::NotCoordinator => ResponseError::CoordinatorLoadInProgress,
        other => other,
    }
}

/// Every partition of `r` answered with `error`.
pub(super) fn txn_offset_commit_failed(r: &TxnOffsetCommitRequest, error: i16) -> ResponseKind {
    use gregor_protocol::messages::txn_offset_commit_response::{
        TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
    };
    let topics = r
        .topics
        .iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error)
                        })
                        .collect(),
                )
        })
        .collect();
    ResponseKind::TxnOffsetCommit(TxnOffsetCommitResponse::default().with_topics(topics))
}

/// TxnOffsetCommit, to the group coordinator; from v5 the group's offsets partition first
/// joins the transaction. As Kafka, the partitions of unknown topics get
/// UNKNOWN_TOPIC_OR_PARTITION and are not stored.
pub async fn txn_offset_commit(
    broker: &Arc<Broker>,
    request: &Request,
    r: &TxnOffsetCommitRequest,
    peer: std::net::SocketAddr,
) -> Option<ResponseKind> {
    if request.version >= IMPLICIT_ADD_TXN_OFFSET_COMMIT_VERSION {
        let add = TxnRequest::AddOffsets {
            transactional_id: r.transactional_id.to_string(),
            producer_id: r.producer_id.0,
            producer_epoch: r.producer_epoch,
            group_id: r.group_id.to_string(),
        };
        let error = match call(broker, add).await {
            Ok(TxnResponse::Added(result)) => result.err(),
            Ok(_) => Some(ResponseError::UnknownServerError),
            Err(e) => Some(e),
        };
        if let Some(e) = error {
            return Some(txn_offset_commit_failed(r, implicit_add_error(e).code()));
        }
    }
    let mut known = r.clone();
    let mut unknown = Vec::new();
    for t in &mut known.topics {
        let count = broker
            .topics
            .get(t.name.as_str())
            .map_or(0, |m| m.partitions);
        let (keep, drop): (Vec<_>, Vec<_>) = t
            .partitions
            .drain(..)
            .partition(|p| (0..count).contains(&p.partition_index));
        t.partitions = keep;
        unknown.extend(
            drop.into_iter()
                .map(|p| (t.name.clone(), p.partition_index)),
        );
    }
    known.topics.retain(|t| !t.partitions.is_empty());
    let mut response = if known.topics.is_empty() {
        TxnOffsetCommitResponse::default()
    } else {
        let call = crate::coordinator::service::GroupRequest {
            body: RequestKind::TxnOffsetCommit(known),
            version: request.version,
            client_id: request
                .header
                .client_id
                .as_deref()
                .unwrap_or("")
                .to_string(),
            client_host: format!("/{}", peer.ip()),
            group_config: Default::default(),
            topic_describe: None,
        };
        match broker.coordinator.call(call).await? {
            ResponseKind::TxnOffsetCommit(r) => r,
            other => return Some(other),
        }
    };
    use gregor_protocol::messages::txn_offset_commit_response::{
        TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
    };
    for (topic, partition) in unknown {
        let answer = TxnOffsetCommitResponsePartition::default()
            .with_partition_index(partition)
            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
        match response.topics.iter_mut().find(|t| t.name == topic) {
            Some(t) => t.partitions.push(answer),
            None => response.topics.push(
                TxnOffsetCommitResponseTopic::default()
                    .with_name(topic)
                    .with_partitions(vec![answer]),
            ),
        }
    }
    Some(ResponseKind::TxnOffsetCommit(response))
}

/// OffsetFetch with `require_stable` (v7+): a partition with an offset pending in a
/// transaction answers UNSTABLE_OFFSET_COMMIT and no offset, so the consumer waits for the
/// transaction to end (Kafka's OffsetMetadataManager.fetchOffsets).
pub fn mark_unstable(
    coordinator: &GroupCoordinator,
    r: &OffsetFetchRequest,
    response: &mut OffsetFetchResponse,
) {
    let pending = &coordinator.pending_txn_offsets;
    if pending.is_empty() {
        return;
    }
    let code = ResponseError::UnstableOffsetCommit.code();
    if r.require_stable {
        for t in &mut response.topics {
            for p in &mut t.partitions {
                if pending.is_pending(r.group_id.as_str(), t.name.as_str(), p.partition_index) {
                    p.error_code = code;
                    p.committed_offset = -1;
                }
            }
        }
    }
    // v8+ asks per group; `require_stable` is the request's.
    if r.require_stable {
        for g in &mut response.groups {
            for t in &mut g.topics {
                for p in &mut t.partitions {
                    if pending.is_pending(g.group_id.as_str(), t.name.as_str(), p.partition_index) {
                        p.error_code = code;
                        p.committed_offset = -1;
                    }
                }
            }
        }
    }
}
