//! The transaction coordinator with a virtual clock: every state and error of each API, and a
//! property test of random client operations and crashes against a model.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use gregor_protocol::ResponseError;
use proptest::prelude::*;

use super::coordinator::*;
use super::metadata::TransactionState;
use super::records::TxnRecord;

/// A coordinator whose writes always succeed, applied at once, with the log kept for crash
/// recovery; producer ids count from 1000.
struct Harness {
    c: TransactionCoordinator,
    ids: Arc<AtomicI64>,
    log: Vec<TxnRecord>,
    now: i64,
}

fn ids_from(next: Arc<AtomicI64>) -> Box<dyn FnMut() -> i64 + Send> {
    Box::new(move || next.fetch_add(1, Ordering::SeqCst))
}

impl Harness {
    fn new() -> Harness {
        Harness::with(TxnConfig::default())
    }

    fn with(config: TxnConfig) -> Harness {
        let ids = Arc::new(AtomicI64::new(1000));
        Harness {
            c: TransactionCoordinator::new(config, ids_from(ids.clone())),
            ids,
            log: Vec::new(),
            now: 1_000_000,
        }
    }

    /// Runs a request; a write is applied and its response returned.
    fn run(&mut self, request: TxnRequest) -> TxnResponse {
        match self.c.handle(request, self.now) {
            Step::Reply(r) => r,
            Step::Write {
                record, response, ..
            } => {
                self.log.push(record.clone());
                self.c.apply(record);
                response
            }
        }
    }

    /// Carries out the effects: markers are "written" at once, requests sent back.
    fn settle(&mut self) {
        loop {
            let effects = self.c.take_effects();
            if effects.is_empty() {
                return;
            }
            for e in effects {
                let request = match e {
                    TxnEffect::WriteMarkers(job) => TxnRequest::MarkersWritten {
                        transactional_id: job.transactional_id,
                        producer_id: job.producer_id,
                        producer_epoch: job.producer_epoch,
                        commit: job.commit,
                    },
                    TxnEffect::Request(r) => r,
                };
                self.run(request);
            }
        }
    }

    /// A crash: a new coordinator from the records written.
    fn restart(&mut self) {
        let mut c = TransactionCoordinator::new(self.c.config.clone(), ids_from(self.ids.clone()));
        for r in &self.log {
            c.replay(r.clone());
        }
        c.recover();
        self.c = c;
    }

    fn init(&mut self, id: &str) -> Result<(i64, i16), ResponseError> {
        match self.run(TxnRequest::InitProducerId {
            transactional_id: id.into(),
            timeout_ms: 60_000,
            expected: None,
        }) {
            TxnResponse::InitProducerId(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn add(
        &mut self,
        id: &str,
        (pid, epoch): (i64, i16),
        topic: &str,
    ) -> Result<(), ResponseError> {
        match self.run(TxnRequest::AddPartitions {
            transactional_id: id.into(),
            producer_id: pid,
            producer_epoch: epoch,
            partitions: vec![(topic.into(), 0)],
        }) {
            TxnResponse::Added(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn end(
        &mut self,
        id: &str,
        (pid, epoch): (i64, i16),
        commit: bool,
    ) -> Result<(i64, i16), ResponseError> {
        match self.run(TxnRequest::EndTxn {
            transactional_id: id.into(),
            producer_id: pid,
            producer_epoch: epoch,
            commit,
            bump_epoch: false,
        }) {
            TxnResponse::EndTxn(r) => r,
            other => panic!("{other:?}"),
        }
    }

    fn state(&self, id: &str) -> Option<TransactionState> {
        self.c.txns.get(id).map(|m| m.state)
    }
}

#[test]
fn init_gives_a_fresh_id_epoch_0_and_bumps_the_epoch_on_each_init() {
    let mut h = Harness::new();
    assert_eq!(h.init("tx"), Ok((1000, 0)));
    assert_eq!(h.state("tx"), Some(TransactionState::Empty));
    assert_eq!(h.init("tx"), Ok((1000, 1)));
    assert_eq!(h.init("other"), Ok((1001, 0)));
}

#[test]
fn init_refuses_empty_ids_and_timeouts_out_of_range() {
    let mut h = Harness::new();
    let init = |h: &mut Harness, id: &str, timeout_ms| {
        h.run(TxnRequest::InitProducerId {
            transactional_id: id.into(),
            timeout_ms,
            expected: None,
        })
    };
    assert_eq!(
        init(&mut h, "", 1000),
        TxnResponse::InitProducerId(Err(ResponseError::InvalidRequest))
    );
    assert_eq!(
        init(&mut h, "tx", 900_001),
        TxnResponse::InitProducerId(Err(ResponseError::InvalidTransactionTimeout))
    );
    assert_eq!(
        init(&mut h, "tx", 0),
        TxnResponse::InitProducerId(Err(ResponseError::InvalidTransactionTimeout))
    );
    assert!(h.c.txns.is_empty(), "nothing written for a refused init");
}

#[test]
fn a_commit_goes_through_prepare_and_complete_once_markers_are_written() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.add("tx", p, "a").unwrap();
    assert_eq!(h.state("tx"), Some(TransactionState::Ongoing));
    assert_eq!(h.end("tx", p, true), Ok(p));
    assert_eq!(h.state("tx"), Some(TransactionState::PrepareCommit));
    // While the markers are in flight, the next transaction must wait.
    assert_eq!(
        h.add("tx", p, "b"),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(
        h.end("tx", p, true),
        Err(ResponseError::ConcurrentTransactions)
    );
    assert_eq!(h.end("tx", p, false), Err(ResponseError::InvalidTxnState));
    assert_eq!(h.init("tx"), Err(ResponseError::ConcurrentTransactions));
    let effects = h.c.take_effects();
    assert_eq!(
        effects,
        vec![TxnEffect::WriteMarkers(MarkerJob {
            transactional_id: "tx".into(),
            producer_id: p.0,
            producer_epoch: p.1,
            commit: true,
            partitions: vec![("a".into(), 0)],
            coordinator_epoch: 0,
        })]
    );
    h.run(TxnRequest::MarkersWritten {
        transactional_id: "tx".into(),
        producer_id: p.0,
        producer_epoch: p.1,
        commit: true,
    });
    assert_eq!(h.state("tx"), Some(TransactionState::CompleteCommit));
    assert!(h.c.txns["tx"].partitions.is_empty());
    // A retried EndTxn of the same outcome succeeds; the other outcome does not.
    assert_eq!(h.end("tx", p, true), Ok(p));
    assert_eq!(h.end("tx", p, false), Err(ResponseError::InvalidTxnState));
    // And the next transaction may begin.
    h.add("tx", p, "b").unwrap();
    assert_eq!(h.state("tx"), Some(TransactionState::Ongoing));
}

#[test]
fn an_abort_completes_as_complete_abort() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.add("tx", p, "a").unwrap();
    h.end("tx", p, false).unwrap();
    assert_eq!(h.state("tx"), Some(TransactionState::PrepareAbort));
    h.settle();
    assert_eq!(h.state("tx"), Some(TransactionState::CompleteAbort));
    assert_eq!(h.end("tx", p, false), Ok(p));
    assert_eq!(h.end("tx", p, true), Err(ResponseError::InvalidTxnState));
}

#[test]
fn end_txn_errors() {
    let mut h = Harness::new();
    assert_eq!(
        h.end("nope", (1, 0), true),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    let p = h.init("tx").unwrap();
    assert_eq!(
        h.end("tx", p, true),
        Err(ResponseError::InvalidTxnState),
        "Empty"
    );
    h.add("tx", p, "a").unwrap();
    assert_eq!(
        h.end("tx", (p.0 + 1, p.1), true),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    assert_eq!(
        h.end("tx", (p.0, p.1 + 1), true),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(h.end("", p, true), Err(ResponseError::InvalidRequest));
}

#[test]
fn add_partitions_errors_and_the_already_added_shortcut() {
    let mut h = Harness::new();
    assert_eq!(
        h.add("nope", (1, 0), "a"),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    let p = h.init("tx").unwrap();
    assert_eq!(
        h.add("tx", (p.0 + 5, p.1), "a"),
        Err(ResponseError::InvalidProducerIdMapping)
    );
    assert_eq!(
        h.add("tx", (p.0, p.1 + 1), "a"),
        Err(ResponseError::ProducerFenced)
    );
    h.add("tx", p, "a").unwrap();
    let start = h.c.txns["tx"].start_ms;
    h.now += 5;
    let written = h.log.len();
    h.add("tx", p, "a").unwrap();
    assert_eq!(h.log.len(), written, "no write for partitions already in");
    h.add("tx", p, "b").unwrap();
    assert_eq!(
        h.c.txns["tx"].start_ms, start,
        "the start stays the first add's"
    );
    assert_eq!(h.c.txns["tx"].partitions.len(), 2);
}

#[test]
fn add_offsets_adds_the_groups_offsets_partition() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    let r = h.run(TxnRequest::AddOffsets {
        transactional_id: "tx".into(),
        producer_id: p.0,
        producer_epoch: p.1,
        group_id: "g".into(),
    });
    assert_eq!(r, TxnResponse::Added(Ok(())));
    assert!(h.c.txns["tx"]
        .partitions
        .contains(&("__consumer_offsets".to_string(), 0)));
}

#[test]
fn verification_says_which_partitions_are_in_the_transaction() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.add("tx", p, "a").unwrap();
    let r = h.run(TxnRequest::VerifyPartitions {
        transactional_id: "tx".into(),
        producer_id: p.0,
        producer_epoch: p.1,
        partitions: vec![("a".into(), 0), ("b".into(), 0)],
    });
    assert_eq!(
        r,
        TxnResponse::Verified(vec![
            (("a".into(), 0), None),
            (("b".into(), 0), Some(ResponseError::TransactionAbortable))
        ])
    );
    let r = h.run(TxnRequest::VerifyPartitions {
        transactional_id: "tx".into(),
        producer_id: p.0,
        producer_epoch: p.1 + 1,
        partitions: vec![("a".into(), 0)],
    });
    assert_eq!(
        r,
        TxnResponse::Verified(vec![(("a".into(), 0), Some(ResponseError::ProducerFenced))])
    );
}

#[test]
fn init_during_an_ongoing_transaction_fences_it_and_the_retry_succeeds() {
    let mut h = Harness::new();
    let old = h.init("tx").unwrap();
    h.add("tx", old, "a").unwrap();
    // A second producer with the same id.
    assert_eq!(h.init("tx"), Err(ResponseError::ConcurrentTransactions));
    assert_eq!(h.state("tx"), Some(TransactionState::PrepareAbort));
    let fenced_epoch = h.c.txns["tx"].producer_epoch;
    assert_eq!(fenced_epoch, old.1 + 1);
    // The abort markers carry the bumped epoch, which fences the old producer's writes.
    let effects = h.c.take_effects();
    assert!(
        matches!(&effects[..], [TxnEffect::WriteMarkers(j)] if !j.commit && j.producer_epoch == fenced_epoch)
    );
    for e in effects {
        if let TxnEffect::WriteMarkers(j) = e {
            h.run(TxnRequest::MarkersWritten {
                transactional_id: j.transactional_id,
                producer_id: j.producer_id,
                producer_epoch: j.producer_epoch,
                commit: j.commit,
            });
        }
    }
    let new = h.init("tx").unwrap();
    assert_eq!(new, (old.0, old.1 + 2));
    // The old producer is fenced everywhere.
    assert_eq!(h.add("tx", old, "a"), Err(ResponseError::ProducerFenced));
    assert_eq!(h.end("tx", old, true), Err(ResponseError::ProducerFenced));
}

#[test]
fn init_with_an_expected_producer_checks_it() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    let init = |h: &mut Harness, expected| match h.run(TxnRequest::InitProducerId {
        transactional_id: "tx".into(),
        timeout_ms: 1000,
        expected: Some(expected),
    }) {
        TxnResponse::InitProducerId(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        init(&mut h, (p.0 + 7, 0)),
        Err(ResponseError::ProducerFenced)
    );
    assert_eq!(init(&mut h, p), Ok((p.0, p.1 + 1)));
    // A retry of that bump (its answer lost) gets the same epoch again.
    assert_eq!(init(&mut h, p), Ok((p.0, p.1 + 1)));
    // An epoch older than both is fenced.
    assert_eq!(init(&mut h, (p.0, 5)), Err(ResponseError::ProducerFenced));
}

#[test]
fn an_exhausted_epoch_rotates_to_a_new_producer_id() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.c.txns.get_mut("tx").unwrap().producer_epoch = i16::MAX - 1;
    let (pid, epoch) = h.init("tx").unwrap();
    assert_ne!(pid, p.0);
    assert_eq!(epoch, 0);
    assert_eq!(h.c.txns["tx"].previous_producer_id, p.0);
}

#[test]
fn end_txn_v5_bumps_the_epoch_and_a_retry_is_recognised() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.add("tx", p, "a").unwrap();
    let end = |h: &mut Harness, epoch| match h.run(TxnRequest::EndTxn {
        transactional_id: "tx".into(),
        producer_id: p.0,
        producer_epoch: epoch,
        commit: true,
        bump_epoch: true,
    }) {
        TxnResponse::EndTxn(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(end(&mut h, p.1), Ok((p.0, p.1 + 1)));
    assert_eq!(end(&mut h, p.1), Err(ResponseError::ConcurrentTransactions));
    h.settle();
    assert_eq!(
        end(&mut h, p.1),
        Ok((p.0, p.1 + 1)),
        "retry after completion"
    );
    assert_eq!(end(&mut h, p.1 + 5), Err(ResponseError::ProducerFenced));
}

#[test]
fn end_txn_v5_aborts_a_transaction_the_coordinator_never_saw_begin() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    let end = |h: &mut Harness, epoch, commit| match h.run(TxnRequest::EndTxn {
        transactional_id: "tx".into(),
        producer_id: p.0,
        producer_epoch: epoch,
        commit,
        bump_epoch: true,
    }) {
        TxnResponse::EndTxn(r) => r,
        other => panic!("{other:?}"),
    };
    // Nothing was added (the client's Produce requests never arrived): a commit is refused,
    // an abort goes through with the epoch bumped and no partition to write a marker to.
    assert_eq!(end(&mut h, p.1, true), Err(ResponseError::InvalidTxnState));
    assert_eq!(end(&mut h, p.1, false), Ok((p.0, p.1 + 1)));
    let jobs = h.c.take_effects();
    assert!(
        matches!(&jobs[..], [TxnEffect::WriteMarkers(j)] if j.partitions.is_empty() && !j.commit),
        "{jobs:?}"
    );
    for job in jobs {
        let TxnEffect::WriteMarkers(job) = job else {
            unreachable!()
        };
        h.run(TxnRequest::MarkersWritten {
            transactional_id: job.transactional_id,
            producer_id: job.producer_id,
            producer_epoch: job.producer_epoch,
            commit: job.commit,
        });
    }
    assert_eq!(h.state("tx"), Some(TransactionState::CompleteAbort));
    // A retry of that abort (its answer lost) gets the same epoch; the next one bumps again.
    assert_eq!(end(&mut h, p.1, false), Ok((p.0, p.1 + 1)));
    assert_eq!(end(&mut h, p.1 + 1, false), Ok((p.0, p.1 + 2)));
    h.settle();
    // Without the bump (EndTxn v4 and below) nothing begins: a commit after the abort is refused.
    assert_eq!(
        h.end("tx", (p.0, p.1 + 2), true),
        Err(ResponseError::InvalidTxnState)
    );
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_with_a_bumped_epoch() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.add("tx", p, "a").unwrap();
    h.now += 59_000;
    h.c.tick(h.now);
    h.settle();
    assert_eq!(h.state("tx"), Some(TransactionState::Ongoing), "not yet");
    h.now += 2_000;
    h.c.tick(h.now);
    h.settle();
    assert_eq!(h.state("tx"), Some(TransactionState::CompleteAbort));
    assert_eq!(h.end("tx", p, true), Err(ResponseError::ProducerFenced));
    assert_eq!(h.init("tx"), Ok((p.0, p.1 + 2)));
}

#[test]
fn idle_ids_expire_after_the_expiration_and_busy_ones_do_not() {
    let mut h = Harness::with(TxnConfig {
        id_expiration_ms: 10_000,
        ..TxnConfig::default()
    });
    h.init("idle").unwrap();
    let p = h.init("busy").unwrap();
    h.add("busy", p, "a").unwrap();
    h.c.tick(h.now);
    h.settle();
    assert_eq!(h.c.txns.len(), 2);
    h.now += 3_600_000;
    h.c.tick(h.now);
    h.settle();
    assert!(!h.c.txns.contains_key("idle"));
    // The busy one was aborted by its timeout instead, and is idle from now on.
    assert_eq!(h.state("busy"), Some(TransactionState::CompleteAbort));
    assert_eq!(
        h.log.last().unwrap().value.as_ref().map(|m| m.state),
        Some(TransactionState::CompleteAbort)
    );
    assert!(h
        .log
        .iter()
        .any(|r| r.transactional_id == "idle" && r.value.is_none()));
}

#[test]
fn describe_and_list() {
    let mut h = Harness::new();
    let p = h.init("a").unwrap();
    h.add("a", p, "t").unwrap();
    h.init("b").unwrap();
    match h.run(TxnRequest::Describe {
        transactional_ids: vec!["a".into(), "zz".into(), "".into()],
    }) {
        TxnResponse::Described(d) => {
            assert_eq!(d[0].state, "Ongoing");
            assert_eq!(d[0].partitions, vec![("t".to_string(), 0)]);
            assert_eq!(d[0].start_ms, h.now);
            assert_eq!(d[1].error, Some(ResponseError::TransactionalIdNotFound));
            assert_eq!(d[2].error, Some(ResponseError::InvalidRequest));
        }
        other => panic!("{other:?}"),
    }
    let list =
        |h: &mut Harness, states: Vec<&str>, pids: Vec<i64>, d: i64| match h.run(TxnRequest::List {
            states: states.into_iter().map(String::from).collect(),
            producer_ids: pids,
            min_duration_ms: d,
            id_pattern: None,
        }) {
            TxnResponse::Listed {
                transactions,
                unknown_states,
            } => (
                transactions
                    .into_iter()
                    .map(|t| t.transactional_id)
                    .collect::<Vec<_>>(),
                unknown_states,
            ),
            other => panic!("{other:?}"),
        };
    assert_eq!(list(&mut h, vec![], vec![], -1).0, vec!["a", "b"]);
    assert_eq!(
        list(&mut h, vec!["Ongoing", "Bogus"], vec![], -1),
        (vec!["a".to_string()], vec!["Bogus".to_string()])
    );
    assert_eq!(list(&mut h, vec![], vec![p.0], -1).0, vec!["a"]);
    assert!(list(&mut h, vec![], vec![], 1_000).0.is_empty());
    h.now += 2_000;
    assert_eq!(list(&mut h, vec![], vec![], 1_000).0, vec!["a"]);
    // v2's pattern must match the whole id, as Java's Matcher.matches.
    let by_pattern = |h: &mut Harness, pattern: &str| match h.run(TxnRequest::List {
        states: Vec::new(),
        producer_ids: Vec::new(),
        min_duration_ms: -1,
        id_pattern: Some(pattern.to_string()),
    }) {
        TxnResponse::Listed { transactions, .. } => transactions
            .into_iter()
            .map(|t| t.transactional_id)
            .collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    assert_eq!(by_pattern(&mut h, "[ab]"), vec!["a", "b"]);
    assert_eq!(by_pattern(&mut h, "b"), vec!["b"]);
    assert!(by_pattern(&mut h, "a.+").is_empty());
}

#[test]
fn a_crash_after_prepare_rewrites_the_markers_and_completes() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.add("tx", p, "a").unwrap();
    h.end("tx", p, true).unwrap();
    h.c.take_effects(); // the markers never got written
    h.restart();
    assert_eq!(h.state("tx"), Some(TransactionState::PrepareCommit));
    h.settle();
    assert_eq!(h.state("tx"), Some(TransactionState::CompleteCommit));
}

#[test]
fn markers_written_for_another_epoch_change_nothing() {
    let mut h = Harness::new();
    let p = h.init("tx").unwrap();
    h.add("tx", p, "a").unwrap();
    h.end("tx", p, true).unwrap();
    let r = h.run(TxnRequest::MarkersWritten {
        transactional_id: "tx".into(),
        producer_id: p.0,
        producer_epoch: p.1 + 1,
        commit: true,
    });
    assert_eq!(r, TxnResponse::Done);
    assert_eq!(h.state("tx"), Some(TransactionState::PrepareCommit));
}

/// A client operation of the property test.
#[derive(Debug, Clone)]
enum Op {
    Init(usize),
    Add(usize, u8),
    AddOffsets(usize),
    End(usize, bool),
    /// Markers of every prepared transaction are written.
    Markers,
    /// Time passes and the timers run.
    Wait(i64),
    /// The broker dies: effects not carried out are lost; the log is replayed.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize).prop_map(Op::Init),
        (0..2usize, 0..3u8).prop_map(|(p, t)| Op::Add(p, t)),
        (0..2usize).prop_map(Op::AddOffsets),
        (0..2usize, any::<bool>()).prop_map(|(p, c)| Op::End(p, c)),
        Just(Op::Markers),
        (1..40_000i64).prop_map(Op::Wait),
        Just(Op::Crash),
    ]
}

/// The model: per producer (two clients share one transactional id), what it believes; and
/// what has been decided and completed.
#[derive(Debug, Default, Clone)]
struct Model {
    /// The producer id and epoch the newest successful init handed out.
    current: Option<(i64, i16)>,
    /// Whether a transaction begun by `current` is open (partitions added, no EndTxn yet).
    open: bool,
}

proptest! {
    #[test]
    fn random_clients_and_crashes_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = Harness::with(TxnConfig { abort_interval_ms: 1_000, ..TxnConfig::default() });
        // Each client's (pid, epoch), as its last init answered.
        let mut clients: [Option<(i64, i16)>; 2] = [None, None];
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Init(c) => {
                    if let Ok(p) = h.init("tx") {
                        // A new epoch fences every earlier one.
                        prop_assert!(model.current.is_none_or(|old| p != old));
                        clients[c] = Some(p);
                        model.current = Some(p);
                        model.open = false;
                    }
                }
                Op::Add(c, t) => {
                    if let Some(p) = clients[c] {
                        let r = h.add("tx", p, &format!("t{t}"));
                        if Some(p) != model.current {
                            prop_assert!(r.is_err(), "a fenced producer added partitions");
                        }
                        if r.is_ok() {
                            model.open = true;
                        }
                    }
                }
                Op::AddOffsets(c) => {
                    if let Some(p) = clients[c] {
                        let r = h.run(TxnRequest::AddOffsets {
                            transactional_id: "tx".into(),
                            producer_id: p.0,
                            producer_epoch: p.1,
                            group_id: "g".into(),
                        });
                        if Some(p) != model.current {
                            prop_assert!(r != TxnResponse::Added(Ok(())));
                        }
                        if r == TxnResponse::Added(Ok(())) {
                            model.open = true;
                        }
                    }
                }
                Op::End(c, commit) => {
                    if let Some(p) = clients[c] {
                        let r = h.end("tx", p, commit);
                        if Some(p) != model.current {
                            prop_assert!(r.is_err() || !model.open, "a fenced producer ended a transaction");
                        }
                        if r.is_ok() {
                            model.open = false;
                        }
                    }
                }
                Op::Markers => h.settle(),
                Op::Wait(ms) => {
                    h.now += ms;
                    h.c.tick(h.now);
                    h.settle();
                    model.open = model.open && h.state("tx") == Some(TransactionState::Ongoing);
                }
                Op::Crash => {
                    h.c.take_effects();
                    let before = h.c.txns.clone();
                    h.restart();
                    // The log holds exactly what was applied (last_producer_epoch aside).
                    let strip = |m: &super::metadata::TransactionMetadata| {
                        let mut m = m.clone();
                        m.last_producer_epoch = -1;
                        m
                    };
                    let after: Vec<_> = h.c.txns.values().map(strip).collect();
                    let expect: Vec<_> = before.values().map(strip).collect();
                    prop_assert_eq!(after, expect);
                }
            }
            // Invariants: only Ongoing and Prepare* hold partitions; an epoch never goes down.
            if let Some(m) = h.c.txns.get("tx") {
                prop_assert!(
                    m.partitions.is_empty()
                        || matches!(m.state, TransactionState::Ongoing | TransactionState::PrepareCommit | TransactionState::PrepareAbort),
                    "{:?}", m
                );
                prop_assert!(m.state != TransactionState::PrepareEpochFence && m.state != TransactionState::Dead);
            }
        }
        // At the end, with markers written and time past every timeout, nothing is left
        // prepared or ongoing: every logged decision is completed.
        h.settle();
        h.now += 1_000_000;
        h.c.tick(h.now);
        h.settle();
        if let Some(m) = h.c.txns.get("tx") {
            prop_assert!(m.state.is_idle(), "{:?}", m);
        }
    }
}
