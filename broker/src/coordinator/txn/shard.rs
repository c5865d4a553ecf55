//! The transaction coordinator on the coordinator runtime (Kafka's TransactionStateManager's
//! log half), and its load from `__transaction_state` at start (Kafka's
//! loadTransactionsForTxnTopicPartition): every record is replayed in order, then the
//! transactions caught between Prepare and Complete get their markers written again.

use bytes::Bytes;
use gregor_protocol::record_batch::decode_records;
use gregor_storage::PartitionLog;

use super::coordinator::{Step, TransactionCoordinator, TxnEffect, TxnRequest, TxnResponse};
use super::records::{encode_batch, TxnRecord};
use crate::coordinator::loader::{for_each_batch, ReplayError};
use crate::coordinator::runtime::{CoordinatorShard, Outcome};
use crate::coordinator::ReplyId;

/// The coordinator as the runtime drives it: the runtime's clock is monotonic and starts at 0,
/// the coordinator's is the wall clock its timestamps are logged in.
pub struct TxnShard {
    /// The state machine.
    pub coordinator: TransactionCoordinator,
    /// Milliseconds since the epoch.
    wall: fn() -> i64,
    /// When (runtime clock) the timers next run.
    next_tick: i64,
}

impl TxnShard {
    /// The shard of `coordinator`, reading the wall clock from `wall`.
    pub fn new(coordinator: TransactionCoordinator, wall: fn() -> i64) -> TxnShard {
        TxnShard {
            coordinator,
            wall,
            next_tick: 0,
        }
    }
}

impl CoordinatorShard for TxnShard {
    type Request = TxnRequest;
    type Response = TxnResponse;
    type Record = TxnRecord;
    type Pending = ();
    type Effect = TxnEffect;
    type Event = ();

    fn keys_changed(request: &TxnRequest) -> Vec<String> {
        request
            .transactional_id()
            .map(str::to_string)
            .into_iter()
            .collect()
    }

    fn execute(
        &mut self,
        request: TxnRequest,
        _reply_id: ReplyId,
        _now: i64,
    ) -> Outcome<TxnResponse, TxnRecord, ()> {
        match self.coordinator.handle(request, (self.wall)()) {
            Step::Reply(response) => Outcome::Reply(response, Vec::new()),
            Step::Write {
                record,
                response,
                failed,
            } => Outcome::Write {
                records: vec![record],
                response,
                failed,
            },
        }
    }

    fn apply(&mut self, records: Vec<TxnRecord>) {
        for record in records {
            self.coordinator.apply(record);
        }
    }

    fn complete(&mut self, _: (), _: bool, _: i64) -> Vec<(ReplyId, TxnResponse)> {
        Vec::new()
    }

    fn tick(&mut self, now: i64) -> Vec<(ReplyId, TxnResponse)> {
        self.coordinator.tick((self.wall)());
        self.next_tick = now + self.coordinator.tick_interval_ms();
        Vec::new()
    }

    fn next_deadline(&self) -> Option<i64> {
        Some(self.next_tick)
    }

    fn take_background_records(&mut self) -> Vec<TxnRecord> {
        Vec::new()
    }

    fn encode(records: &[TxnRecord], timestamp: i64) -> Option<Vec<u8>> {
        encode_batch(records, timestamp)
    }

    fn take_effects(&mut self) -> Vec<TxnEffect> {
        self.coordinator.take_effects()
    }
}

/// Replays every record of `log` into `coordinator`, then queues the markers of transactions
/// left prepared, which carry `coordinator_epoch` as every marker of this coordinator does
/// (Kafka's: the leader epoch of the log's partition). Returns the number of records replayed.
pub fn load(
    log: &PartitionLog,
    coordinator_epoch: i32,
    coordinator: &mut TransactionCoordinator,
) -> Result<usize, ReplayError> {
    coordinator.coordinator_epoch = coordinator_epoch;
    let name = log.dir().display().to_string();
    let mut replayed = 0;
    for_each_batch(log, |h, batch| {
        if h.is_control() {
            return Ok(());
        }
        let records =
            decode_records(batch).map_err(|e| ReplayError::read(log, h.base_offset, e))?;
        for (key, value) in records {
            let Some(key) = key else { continue };
            let record =
                TxnRecord::decode(Bytes::from(key), value.map(Bytes::from)).map_err(|cause| {
                    ReplayError::Record {
                        log: name.clone(),
                        offset: h.base_offset,
                        cause,
                    }
                })?;
            if let Some(record) = record {
                coordinator.replay(record);
                replayed += 1;
            }
        }
        Ok(())
    })?;
    coordinator.recover();
    Ok(replayed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinator::txn::{MarkerJob, TransactionState, TxnConfig};
    use gregor_storage::{LogConfig, LogManager, TopicPartition};

    fn coordinator() -> TransactionCoordinator {
        let mut next = 100;
        TransactionCoordinator::new(
            TxnConfig::default(),
            Box::new(move || {
                next += 1;
                next
            }),
        )
    }

    #[test]
    fn a_load_replays_the_log_and_rewrites_the_markers_of_prepared_transactions_at_its_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let logs = LogManager::open(dir.path(), LogConfig::default()).unwrap();
        let log = logs
            .get_or_create(
                &TopicPartition::new("__transaction_state", 0),
                LogConfig::default(),
            )
            .unwrap();
        // What a coordinator writes for: a, committed and completed; b, prepared to commit
        // when the broker died; c, expired.
        let mut live = coordinator();
        let mut written = Vec::new();
        let mut run = |c: &mut TransactionCoordinator, r: TxnRequest, now| {
            if let Step::Write { record, .. } = c.handle(r, now) {
                written.push(record.clone());
                c.apply(record);
            }
        };
        for id in ["a", "b", "c"] {
            run(
                &mut live,
                TxnRequest::InitProducerId {
                    transactional_id: id.into(),
                    timeout_ms: 60_000,
                    expected: None,
                },
                1_000,
            );
        }
        for id in ["a", "b"] {
            let pid = live.txns[id].producer_id;
            run(
                &mut live,
                TxnRequest::AddPartitions {
                    transactional_id: id.into(),
                    producer_id: pid,
                    producer_epoch: 0,
                    partitions: vec![("t".into(), 0)],
                },
                2_000,
            );
            run(
                &mut live,
                TxnRequest::EndTxn {
                    transactional_id: id.into(),
                    producer_id: pid,
                    producer_epoch: 0,
                    commit: true,
                    bump_epoch: false,
                },
                3_000,
            );
        }
        let a = live.txns["a"].producer_id;
        run(
            &mut live,
            TxnRequest::MarkersWritten {
                transactional_id: "a".into(),
                producer_id: a,
                producer_epoch: 0,
                commit: true,
            },
            4_000,
        );
        written.push(TxnRecord {
            transactional_id: "c".into(),
            value: None,
        });
        log.append(&encode_batch(&written, 5_000).unwrap(), 5_000)
            .unwrap();

        let mut loaded = coordinator();
        assert_eq!(load(&log, 7, &mut loaded).unwrap(), written.len());
        assert_eq!(loaded.txns["a"].state, TransactionState::CompleteCommit);
        assert_eq!(loaded.txns["b"].state, TransactionState::PrepareCommit);
        assert!(!loaded.txns.contains_key("c"));
        let b = loaded.txns["b"].producer_id;
        assert_eq!(
            loaded.take_effects(),
            vec![TxnEffect::WriteMarkers(MarkerJob {
                transactional_id: "b".into(),
                producer_id: b,
                producer_epoch: 0,
                commit: true,
                partitions: vec![("t".into(), 0)],
                coordinator_epoch: 7,
            })]
        );
    }
}
