//! The transaction coordinator's state machine; Kafka's TransactionCoordinator and the
//! in-memory half of its TransactionStateManager.
//!
//! Pure: every call takes `now` (wall-clock ms, as Kafka's timestamps in the log are), and a
//! change comes back as a `Step::Write` of one `TxnRecord`, applied only once it is in the log
//! (`apply`). Writes of one transactional id are serialized by the runtime, so a request always
//! sees the state the previous write left, and Kafka's `pendingState` is not needed. What the
//! coordinator needs done outside itself is queued as `TxnEffect`s: markers to write once a
//! PrepareCommit or PrepareAbort is applied (or found at load), and the aborts and expiries
//! its timers decide, which come back as requests so they are serialized like a client's.
//!
//! Errors are Kafka's for the same cases (TransactionCoordinator.scala): a request for an
//! unknown id or another producer id gets INVALID_PRODUCER_ID_MAPPING, an older epoch
//! PRODUCER_FENCED, a transaction whose markers are being written CONCURRENT_TRANSACTIONS, an
//! EndTxn that does not fit the state INVALID_TXN_STATE, and a verification (AddPartitionsToTxn
//! v4+ verify-only) of a partition not in the transaction TRANSACTION_ABORTABLE.

use std::collections::BTreeSet;

use gregor_protocol::ResponseError;

use super::metadata::{
    TransactionMetadata, TransactionState, TxnPartition, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
};
use super::records::TxnRecord;

/// The broker settings the coordinator follows, with Kafka's defaults.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: how long an idle id is kept.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub expire_interval_ms: i64,
    /// The partition of `__consumer_offsets` a group's offsets live in (one on this node).
    pub offsets_partitions: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
            abort_interval_ms: 10_000,
            expire_interval_ms: 3_600_000,
            offsets_partitions: 1,
        }
    }
}

/// The group coordinator's internal topic, whose partition a group's offsets go to.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// A call on the coordinator, with no wire versions in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnRequest {
    /// InitProducerId with a transactional id; `expected`: the producer id and epoch the
    /// client has (v3+), for recovering from a fatal error without fencing itself.
    InitProducerId {
        transactional_id: String,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    },
    /// AddPartitionsToTxn (v0-3, or v4+ not verify-only).
    AddPartitions {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TxnPartition>,
    },
    /// AddPartitionsToTxn v4+ verify-only: are these partitions in the transaction?
    VerifyPartitions {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TxnPartition>,
    },
    /// AddOffsetsToTxn: the group's `__consumer_offsets` partition joins the transaction.
    AddOffsets {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        group_id: String,
    },
    /// EndTxn; `bump_epoch`: v5 of a `transaction.version` 2 client (KIP-890).
    EndTxn {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        bump_epoch: bool,
    },
    /// DescribeTransactions.
    Describe { transactional_ids: Vec<String> },
    /// ListTransactions: empty filters match everything; `min_duration_ms` -1 for none;
    /// `id_pattern` (v2, KIP-1152) a regular expression the whole id must match, checked valid
    /// by the caller.
    List {
        states: Vec<String>,
        producer_ids: Vec<i64>,
        min_duration_ms: i64,
        id_pattern: Option<String>,
    },
    /// The markers of a prepared transaction are written (from `markers`).
    MarkersWritten {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    },
    /// Abort a transaction that outlived its timeout (from `tick`).
    AbortTimedOut {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
    },
    /// Forget an id idle longer than `transactional.id.expiration.ms` (from `tick`).
    Expire {
        transactional_id: String,
        producer_id: i64,
        producer_epoch: i16,
    },
}

impl TxnRequest {
    /// The transactional id whose state the request may change; none for reads.
    pub fn transactional_id(&self) -> Option<&str> {
        match self {
            TxnRequest::InitProducerId {
                transactional_id, ..
            }
            | TxnRequest::AddPartitions {
                transactional_id, ..
            }
            | TxnRequest::VerifyPartitions {
                transactional_id, ..
            }
            | TxnRequest::AddOffsets {
                transactional_id, ..
            }
            | TxnRequest::EndTxn {
                transactional_id, ..
            }
            | TxnRequest::MarkersWritten {
                transactional_id, ..
            }
            | TxnRequest::AbortTimedOut {
                transactional_id, ..
            }
            | TxnRequest::Expire {
                transactional_id, ..
            } => Some(transactional_id),
            TxnRequest::Describe { .. } | TxnRequest::List { .. } => None,
        }
    }
}

/// One transactional id as DescribeTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnDescription {
    pub transactional_id: String,
    /// NONE, or INVALID_REQUEST / TRANSACTIONAL_ID_NOT_FOUND.
    pub error: Option<ResponseError>,
    pub state: &'static str,
    pub timeout_ms: i32,
    pub start_ms: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub partitions: Vec<TxnPartition>,
}

/// One transactional id as ListTransactions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnListing {
    pub transactional_id: String,
    pub producer_id: i64,
    pub state: &'static str,
}

/// The coordinator's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnResponse {
    /// InitProducerId: the producer id and epoch.
    InitProducerId(Result<(i64, i16), ResponseError>),
    /// AddPartitionsToTxn and AddOffsetsToTxn: one error for every partition.
    Added(Result<(), ResponseError>),
    /// Verify-only AddPartitionsToTxn: an error for every partition.
    Verified(Vec<(TxnPartition, Option<ResponseError>)>),
    /// EndTxn: the producer id and epoch to use from now on (v5).
    EndTxn(Result<(i64, i16), ResponseError>),
    /// DescribeTransactions.
    Described(Vec<TxnDescription>),
    /// ListTransactions: the matches, and the state filters that name no state.
    Listed {
        transactions: Vec<TxnListing>,
        unknown_states: Vec<String>,
    },
    /// An internal request was carried out (or found moot).
    Done,
}

/// What a request comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Answer now; nothing changes.
    Reply(TxnResponse),
    /// Write `record`, then apply it and answer `response`; answer `failed` if it cannot be
    /// written.
    Write {
        record: TxnRecord,
        response: TxnResponse,
        failed: TxnResponse,
    },
}

/// Markers to write for a prepared transaction (Kafka's TxnMarkerEntry, one per transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<TxnPartition>,
    /// The coordinator's epoch (`TransactionCoordinator::coordinator_epoch`).
    pub coordinator_epoch: i32,
}

/// Work for the world outside the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnEffect {
    /// Write these markers, then send `MarkersWritten`.
    WriteMarkers(MarkerJob),
    /// Send this request back to the coordinator (a timeout's abort, an id's expiry).
    Request(TxnRequest),
}

/// The answer when a write of `__transaction_state` failed: retriable, as Kafka maps a
/// failed append of the transaction log.
pub const WRITE_FAILED: ResponseError = ResponseError::CoordinatorNotAvailable;

/// Every transactional id's state, and the timers.
pub struct TransactionCoordinator {
    /// The settings.
    pub config: TxnConfig,
    /// Per transactional id, its state as of the last write applied.
    pub txns: std::collections::BTreeMap<String, TransactionMetadata>,
    /// Hands out producer ids (the broker's `ProducerIdManager`).
    ids: Box<dyn FnMut() -> i64 + Send>,
    /// Effects not yet taken.
    effects: Vec<TxnEffect>,
    /// When (wall ms) ids were last checked for expiry; `None` before the first tick.
    last_expire_check: Option<i64>,
    /// The epoch the markers carry, so a partition can refuse those of a deposed coordinator:
    /// as Kafka's, the leader epoch of the `__transaction_state` partition at the load
    /// (`onElection`); set by `shard::load`.
    pub coordinator_epoch: i32,
}

impl std::fmt::Debug for TransactionCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionCoordinator")
            .field("txns", &self.txns)
            .finish()
    }
}

fn new_record(id: &str, m: TransactionMetadata) -> TxnRecord {
    TxnRecord {
        transactional_id: id.to_string(),
        value: Some(m),
    }
}

impl TransactionCoordinator {
    /// An empty coordinator taking producer ids from `ids`.
    pub fn new(config: TxnConfig, ids: Box<dyn FnMut() -> i64 + Send>) -> TransactionCoordinator {
        TransactionCoordinator {
            config,
            txns: Default::default(),
            ids,
            effects: Vec::new(),
            last_expire_check: None,
            coordinator_epoch: 0,
        }
    }

    /// Runs a request at `now`.
    pub fn handle(&mut self, request: TxnRequest, now: i64) -> Step {
        match request {
            TxnRequest::InitProducerId {
                transactional_id,
                timeout_ms,
                expected,
            } => self.init_producer_id(&transactional_id, timeout_ms, expected, now),
            TxnRequest::AddPartitions {
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
            } => self.add_partitions(
                &transactional_id,
                producer_id,
                producer_epoch,
                partitions,
                now,
            ),
            TxnRequest::VerifyPartitions {
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
            } => Step::Reply(TxnResponse::Verified(self.verify_partitions(
                &transactional_id,
                producer_id,
                producer_epoch,
                partitions,
            ))),
            TxnRequest::AddOffsets {
                transactional_id,
                producer_id,
                producer_epoch,
                group_id,
            } => {
                let partition = (OFFSETS_TOPIC.to_string(), self.offsets_partition(&group_id));
                self.add_partitions(
                    &transactional_id,
                    producer_id,
                    producer_epoch,
                    vec![partition],
                    now,
                )
            }
            TxnRequest::EndTxn {
                transactional_id,
                producer_id,
                producer_epoch,
                commit,
                bump_epoch,
            } => self.end_txn(
                &transactional_id,
                producer_id,
                producer_epoch,
                commit,
                bump_epoch,
                now,
            ),
            TxnRequest::Describe { transactional_ids } => {
                Step::Reply(TxnResponse::Described(self.describe(&transactional_ids)))
            }
            TxnRequest::List {
                states,
                producer_ids,
                min_duration_ms,
                id_pattern,
            } => Step::Reply(self.list(
                &states,
                &producer_ids,
                min_duration_ms,
                id_pattern.as_deref(),
                now,
            )),
            TxnRequest::MarkersWritten {
                transactional_id,
                producer_id,
                producer_epoch,
                commit,
            } => self.complete(&transactional_id, producer_id, producer_epoch, commit, now),
            TxnRequest::AbortTimedOut {
                transactional_id,
                producer_id,
                producer_epoch,
            } => match self.txns.get(&transactional_id) {
                Some(m)
                    if m.state == TransactionState::Ongoing
                        && m.producer_id == producer_id
                        && m.producer_epoch == producer_epoch =>
                {
                    tracing::info!(
                        transactional_id,
                        producer_id,
                        "aborting a transaction that outlived its timeout"
                    );
                    let record = new_record(&transactional_id, fence(m, now));
                    Step::Write {
                        record,
                        response: TxnResponse::Done,
                        failed: TxnResponse::Done,
                    }
                }
                _ => Step::Reply(TxnResponse::Done),
            },
            TxnRequest::Expire {
                transactional_id,
                producer_id,
                producer_epoch,
            } => match self.txns.get(&transactional_id) {
                Some(m)
                    if m.state.is_idle()
                        && m.producer_id == producer_id
                        && m.producer_epoch == producer_epoch
                        && self.expired(m, now) =>
                {
                    Step::Write {
                        record: TxnRecord {
                            transactional_id,
                            value: None,
                        },
                        response: TxnResponse::Done,
                        failed: TxnResponse::Done,
                    }
                }
                _ => Step::Reply(TxnResponse::Done),
            },
        }
    }

    /// The `__consumer_offsets` partition of `group` (Kafka's `partitionFor`: the hash of the
    /// group id modulo the partition count; one partition here).
    fn offsets_partition(&self, group: &str) -> i32 {
        let n = self.config.offsets_partitions.max(1);
        java_string_hash(group).unsigned_abs() as i32 % n
    }

    fn init_producer_id(
        &mut self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        now: i64,
    ) -> Step {
        let fail = |e| Step::Reply(TxnResponse::InitProducerId(Err(e)));
        if id.is_empty() {
            return fail(ResponseError::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return fail(ResponseError::InvalidTransactionTimeout);
        }
        let current = match self.txns.get(id) {
            Some(m) => m.clone(),
            None => TransactionMetadata::new((self.ids)(), timeout_ms, now),
        };
        if let Some((pid, epoch)) = expected {
            // Kafka's isValidProducerId: a fresh id, the same producer (its epoch is checked
            // below), or a retry after a rotation the client never heard of.
            let valid = current.producer_epoch == NO_PRODUCER_EPOCH
                || pid == current.producer_id
                || (pid == current.previous_producer_id
                    && TransactionMetadata::is_epoch_exhausted(epoch));
            if !valid {
                return fail(ResponseError::ProducerFenced);
            }
        }
        match current.state {
            TransactionState::PrepareCommit | TransactionState::PrepareAbort => {
                fail(ResponseError::ConcurrentTransactions)
            }
            TransactionState::Ongoing => {
                // Abort the ongoing transaction with a bumped epoch (fencing its producer), and
                // have the client retry: the retry bumps the epoch again.
                Step::Write {
                    record: new_record(id, fence(&current, now)),
                    response: TxnResponse::InitProducerId(Err(
                        ResponseError::ConcurrentTransactions,
                    )),
                    failed: TxnResponse::InitProducerId(Err(WRITE_FAILED)),
                }
            }
            TransactionState::Empty
            | TransactionState::CompleteCommit
            | TransactionState::CompleteAbort
            | TransactionState::Dead
            | TransactionState::PrepareEpochFence => {
                let mut next = current.clone();
                if current.is_producer_epoch_exhausted()
                    && expected.is_none_or(|(_, e)| e == current.producer_epoch)
                {
                    // Kafka's prepareProducerIdRotation.
                    next.previous_producer_id = current.producer_id;
                    next.producer_id = (self.ids)();
                    next.producer_epoch = 0;
                    next.last_producer_epoch = if expected.is_some() {
                        current.producer_epoch
                    } else {
                        NO_PRODUCER_EPOCH
                    };
                } else {
                    // Kafka's prepareIncrementProducerEpoch.
                    let bumped = current.producer_epoch.saturating_add(1);
                    let (epoch, last) = match expected {
                        None => (bumped, NO_PRODUCER_EPOCH),
                        Some((_, e))
                            if current.producer_epoch == NO_PRODUCER_EPOCH
                                || e == current.producer_epoch =>
                        {
                            (bumped, current.producer_epoch)
                        }
                        // A retry of a bump whose answer was lost.
                        Some((_, e)) if e == current.last_producer_epoch => {
                            (current.producer_epoch, current.last_producer_epoch)
                        }
                        Some(_) => return fail(ResponseError::ProducerFenced),
                    };
                    next.producer_epoch = epoch;
                    next.last_producer_epoch = last;
                }
                next.state = TransactionState::Empty;
                next.partitions.clear();
                next.timeout_ms = timeout_ms;
                next.start_ms = -1;
                next.last_update_ms = now;
                let answer = (next.producer_id, next.producer_epoch);
                Step::Write {
                    record: new_record(id, next),
                    response: TxnResponse::InitProducerId(Ok(answer)),
                    failed: TxnResponse::InitProducerId(Err(WRITE_FAILED)),
                }
            }
        }
    }

    /// The checks AddPartitionsToTxn and its verification share.
    fn check_producer(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TransactionMetadata, ResponseError> {
        if id.is_empty() {
            return Err(ResponseError::InvalidRequest);
        }
        let m = self
            .txns
            .get(id)
            .ok_or(ResponseError::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return Err(ResponseError::ProducerFenced);
        }
        if m.state.is_prepare() {
            return Err(ResponseError::ConcurrentTransactions);
        }
        Ok(m)
    }

    fn add_partitions(
        &mut self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TxnPartition>,
        now: i64,
    ) -> Step {
        let m = match self.check_producer(id, producer_id, producer_epoch) {
            Ok(m) => m,
            Err(e) => return Step::Reply(TxnResponse::Added(Err(e))),
        };
        if m.state == TransactionState::Ongoing
            && partitions.iter().all(|p| m.partitions.contains(p))
        {
            return Step::Reply(TxnResponse::Added(Ok(())));
        }
        let mut next = m.clone();
        if m.state != TransactionState::Ongoing {
            next.start_ms = now;
            next.partitions.clear();
        }
        next.state = TransactionState::Ongoing;
        next.partitions.extend(partitions);
        next.last_update_ms = now;
        Step::Write {
            record: new_record(id, next),
            response: TxnResponse::Added(Ok(())),
            failed: TxnResponse::Added(Err(WRITE_FAILED)),
        }
    }

    fn verify_partitions(
        &self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: Vec<TxnPartition>,
    ) -> Vec<(TxnPartition, Option<ResponseError>)> {
        match self.check_producer(id, producer_id, producer_epoch) {
            Err(e) => partitions.into_iter().map(|p| (p, Some(e))).collect(),
            Ok(m) => partitions
                .into_iter()
                .map(|p| {
                    let e =
                        (!m.partitions.contains(&p)).then_some(ResponseError::TransactionAbortable);
                    (p, e)
                })
                .collect(),
        }
    }

    fn end_txn(
        &mut self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        bump_epoch: bool,
        now: i64,
    ) -> Step {
        let fail = |e| Step::Reply(TxnResponse::EndTxn(Err(e)));
        if id.is_empty() {
            return fail(ResponseError::InvalidRequest);
        }
        let Some(m) = self.txns.get(id) else {
            return fail(ResponseError::InvalidProducerIdMapping);
        };
        if m.producer_id != producer_id {
            return fail(ResponseError::InvalidProducerIdMapping);
        }
        // KIP-890: a v5 retry carries the epoch before the bump the first attempt made.
        let retry_of_bump = m.client_transaction_version >= 2
            && m.last_producer_epoch != NO_PRODUCER_EPOCH
            && m.last_producer_epoch == producer_epoch;
        let current = producer_epoch == m.producer_epoch;
        // KIP-890: a `transaction.version` 2 client adds partitions only with its Produce
        // requests, so it may abort a transaction the coordinator never saw begin (none of its
        // records arrived); as Kafka, that abort goes through, with no markers, and bumps the
        // epoch like any other.
        let empty_abort = bump_epoch
            && !commit
            && current
            && matches!(
                m.state,
                TransactionState::Empty
                    | TransactionState::CompleteCommit
                    | TransactionState::CompleteAbort
            );
        let valid_epoch = if bump_epoch {
            match m.state {
                TransactionState::Ongoing | TransactionState::Empty => current,
                _ => retry_of_bump || empty_abort,
            }
        } else {
            current
        };
        if !valid_epoch {
            return fail(ResponseError::ProducerFenced);
        }
        let same = |s: TransactionState| {
            (s == TransactionState::PrepareCommit || s == TransactionState::CompleteCommit)
                == commit
        };
        match m.state {
            TransactionState::Ongoing => self.prepare_end(id, commit, bump_epoch, now),
            _ if empty_abort => self.prepare_end(id, false, true, now),
            TransactionState::CompleteCommit | TransactionState::CompleteAbort if same(m.state) => {
                Step::Reply(TxnResponse::EndTxn(Ok((m.producer_id, m.producer_epoch))))
            }
            TransactionState::PrepareCommit | TransactionState::PrepareAbort if same(m.state) => {
                fail(ResponseError::ConcurrentTransactions)
            }
            _ => fail(ResponseError::InvalidTxnState),
        }
    }

    /// PrepareCommit or PrepareAbort of `id`'s transaction, with the KIP-890 epoch bump (and a
    /// next producer id once the epoch is exhausted) when `bump_epoch`.
    fn prepare_end(&mut self, id: &str, commit: bool, bump_epoch: bool, now: i64) -> Step {
        let Some(m) = self.txns.get(id) else {
            return Step::Reply(TxnResponse::EndTxn(Err(
                ResponseError::InvalidProducerIdMapping,
            )));
        };
        let mut next = m.clone();
        next.state = if commit {
            TransactionState::PrepareCommit
        } else {
            TransactionState::PrepareAbort
        };
        next.last_update_ms = now;
        if bump_epoch {
            next.client_transaction_version = 2;
            next.last_producer_epoch = m.producer_epoch;
            next.producer_epoch = m.producer_epoch.saturating_add(1);
            if m.is_producer_epoch_exhausted() {
                next.next_producer_id = (self.ids)();
            }
        }
        let answer = answer_after_end(&next);
        Step::Write {
            record: new_record(id, next),
            response: TxnResponse::EndTxn(Ok(answer)),
            failed: TxnResponse::EndTxn(Err(WRITE_FAILED)),
        }
    }

    /// Every marker is written: CompleteCommit or CompleteAbort, the partitions cleared.
    fn complete(
        &mut self,
        id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now: i64,
    ) -> Step {
        let want = if commit {
            TransactionState::PrepareCommit
        } else {
            TransactionState::PrepareAbort
        };
        let Some(m) = self.txns.get(id).filter(|m| {
            m.state == want && m.producer_id == producer_id && m.producer_epoch == producer_epoch
        }) else {
            return Step::Reply(TxnResponse::Done);
        };
        let mut next = m.clone();
        next.state = if commit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        next.partitions.clear();
        next.last_update_ms = now;
        if m.next_producer_id != NO_PRODUCER_ID {
            // KIP-890 epoch overflow: the producer carries on under its next id.
            next.previous_producer_id = m.producer_id;
            next.producer_id = m.next_producer_id;
            next.next_producer_id = NO_PRODUCER_ID;
            next.producer_epoch = 0;
            next.last_producer_epoch = NO_PRODUCER_EPOCH;
        }
        Step::Write {
            record: new_record(id, next),
            response: TxnResponse::Done,
            failed: TxnResponse::Done,
        }
    }

    fn describe(&self, ids: &[String]) -> Vec<TxnDescription> {
        ids.iter()
            .map(|id| {
                let mut d = TxnDescription {
                    transactional_id: id.clone(),
                    error: None,
                    state: "",
                    timeout_ms: 0,
                    start_ms: -1,
                    producer_id: NO_PRODUCER_ID,
                    producer_epoch: NO_PRODUCER_EPOCH,
                    partitions: Vec::new(),
                };
                match self.txns.get(id) {
                    _ if id.is_empty() => d.error = Some(ResponseError::InvalidRequest),
                    Some(m) if m.state != TransactionState::Dead => {
                        d.state = m.state.name();
                        d.timeout_ms = m.timeout_ms;
                        d.start_ms = m.start_ms;
                        d.producer_id = m.producer_id;
                        d.producer_epoch = m.producer_epoch;
                        d.partitions = m.partitions.iter().cloned().collect();
                    }
                    _ => d.error = Some(ResponseError::TransactionalIdNotFound),
                }
                d
            })
            .collect()
    }

    fn list(
        &self,
        states: &[String],
        producer_ids: &[i64],
        min_duration_ms: i64,
        id_pattern: Option<&str>,
        now: i64,
    ) -> TxnResponse {
        // An invalid pattern (the caller refuses them) matches nothing.
        let pattern = id_pattern.map(|p| whole_match(p).ok());
        let unknown_states: Vec<String> = states
            .iter()
            .filter(|s| TransactionState::from_name(s).is_none())
            .cloned()
            .collect();
        let wanted: BTreeSet<TransactionState> = states
            .iter()
            .filter_map(|s| TransactionState::from_name(s))
            .collect();
        let transactions = self
            .txns
            .iter()
            .filter(|(id, m)| {
                pattern
                    .as_ref()
                    .is_none_or(|p| p.as_ref().is_some_and(|p| p.is_match(id)))
                    && (states.is_empty() || wanted.contains(&m.state))
                    && (producer_ids.is_empty() || producer_ids.contains(&m.producer_id))
                    && (min_duration_ms < 0
                        || (m.state == TransactionState::Ongoing
                            && now - m.start_ms > min_duration_ms))
            })
            .map(|(id, m)| TxnListing {
                transactional_id: id.clone(),
                producer_id: m.producer_id,
                state: m.state.name(),
            })
            .collect();
        TxnResponse::Listed {
            transactions,
            unknown_states,
        }
    }

    fn expired(&self, m: &TransactionMetadata, now: i64) -> bool {
        now - m.last_update_ms >= self.config.id_expiration_ms
    }

    /// Applies a record that is in the log (a write's, answered after this).
    pub fn apply(&mut self, record: TxnRecord) {
        if let Some(m) = &record.value {
            if m.state.is_prepare() {
                self.effects.push(TxnEffect::WriteMarkers(markers(
                    &record.transactional_id,
                    m,
                    self.coordinator_epoch,
                )));
            }
        }
        self.replay(record);
    }

    /// Applies a record read back from the log at load: nothing is started.
    pub fn replay(&mut self, record: TxnRecord) {
        match record.value {
            Some(m) => {
                self.txns.insert(record.transactional_id, m);
            }
            None => {
                self.txns.remove(&record.transactional_id);
            }
        }
    }

    /// After a load: the markers of every transaction caught between its Prepare and its
    /// Complete are written again (Kafka's loader hands them to the marker channel manager).
    pub fn recover(&mut self) {
        let jobs: Vec<TxnEffect> = self
            .txns
            .iter()
            .filter(|(_, m)| m.state.is_prepare())
            .map(|(id, m)| TxnEffect::WriteMarkers(markers(id, m, self.coordinator_epoch)))
            .collect();
        self.effects.extend(jobs);
    }

    /// The timers, at `now`: transactions past their timeout are aborted (Kafka's
    /// abortTimedOutTransactions) and, every expiry interval, idle ids past
    /// `transactional.id.expiration.ms` removed; both come back as requests.
    pub fn tick(&mut self, now: i64) {
        for (id, m) in &self.txns {
            if m.state == TransactionState::Ongoing && now - m.start_ms > i64::from(m.timeout_ms) {
                self.effects
                    .push(TxnEffect::Request(TxnRequest::AbortTimedOut {
                        transactional_id: id.clone(),
                        producer_id: m.producer_id,
                        producer_epoch: m.producer_epoch,
                    }));
            }
        }
        let due = self
            .last_expire_check
            .is_none_or(|last| now - last >= self.config.expire_interval_ms);
        if due {
            self.last_expire_check = Some(now);
            for (id, m) in &self.txns {
                if m.state.is_idle() && self.expired(m, now) {
                    self.effects.push(TxnEffect::Request(TxnRequest::Expire {
                        transactional_id: id.clone(),
                        producer_id: m.producer_id,
                        producer_epoch: m.producer_epoch,
                    }));
                }
            }
        }
    }

    /// How often `tick` should run.
    pub fn tick_interval_ms(&self) -> i64 {
        self.config
            .abort_interval_ms
            .min(self.config.expire_interval_ms)
            .max(1)
    }

    /// Effects due, in the order they arose.
    pub fn take_effects(&mut self) -> Vec<TxnEffect> {
        std::mem::take(&mut self.effects)
    }
}

/// Kafka's prepareFenceProducerEpoch followed by the abort: PrepareAbort with the epoch
/// bumped, so the old producer's writes (and its EndTxn) are refused from now on.
fn fence(m: &TransactionMetadata, now: i64) -> TransactionMetadata {
    let mut next = m.clone();
    next.producer_epoch = m.producer_epoch.saturating_add(1);
    next.last_producer_epoch = NO_PRODUCER_EPOCH;
    next.state = TransactionState::PrepareAbort;
    next.last_update_ms = now;
    next
}

/// The producer id and epoch EndTxn answers once `prepared` is written.
fn answer_after_end(prepared: &TransactionMetadata) -> (i64, i16) {
    if prepared.next_producer_id != NO_PRODUCER_ID {
        (prepared.next_producer_id, 0)
    } else {
        (prepared.producer_id, prepared.producer_epoch)
    }
}

fn markers(id: &str, m: &TransactionMetadata, coordinator_epoch: i32) -> MarkerJob {
    MarkerJob {
        transactional_id: id.to_string(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        commit: m.state == TransactionState::PrepareCommit,
        partitions: m.partitions.iter().cloned().collect(),
        coordinator_epoch,
    }
}

/// A regular expression that must match the whole text, as Java's `Matcher.matches`.
pub fn whole_match(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::Regex::new(&format!("^(?:{pattern})$"))
}

/// Java's `String.hashCode`, which Kafka's `partitionFor` uses.
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}
