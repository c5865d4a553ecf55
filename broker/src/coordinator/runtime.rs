//! Drives the group coordinator; Kafka's CoordinatorRuntime, for one coordinator on one node.
//!
//! The contract:
//! - One task owns the state machine (`GroupCoordinator`). Requests arrive on a channel with a
//!   reply handle; timers come from the machine's next deadline, on a clock that starts at 0
//!   when the task does (tests drive the same loop by hand with a clock of their own).
//! - A request that changes durable state comes back from `service::execute` as records to
//!   write. They go to the one writer (`writer`), and only once it reports them in the log are
//!   they applied and the request answered. A failed write answers the request with an error
//!   and leaves the state as it was: nothing was applied.
//! - The task never waits for a write. While one is under way, later requests that change the
//!   same group wait (in order) until it is done, so each sees the state the write leaves;
//!   requests for other groups, and reads, go ahead. A commit's fsync thus holds up only its
//!   own group, and writes queued meanwhile share the next append (and fsync).
//! - Stopping (the handle's `shutdown`): no new requests are taken, the writes under way are
//!   finished and answered, then the task ends; the broker closes the logs after that.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gregor_protocol::messages::ResponseKind;
use gregor_storage::PartitionLog;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::group_apis::Changes;
use super::group_coordinator::Response;
use super::group_coordinator::{CoordinatorConfig, GroupCoordinator, PendingSync, Reply, ReplyId};
use super::loader::{self, ReplayError};
use super::records::Legacy;
use super::service::{self, GroupRequest, Outcome, WRITE_FAILED};
use super::writer::{AppendBatches, LogWriter, WriteId, WriteQueue, Written};
use crate::broker::now_ms;

type Call = (GroupRequest, oneshot::Sender<ResponseKind>);

/// Sends requests to the coordinator task, and stops it.
#[derive(Clone, Debug)]
pub struct CoordinatorHandle {
    tx: mpsc::UnboundedSender<Call>,
    /// Cancelled to stop the task.
    stop: CancellationToken,
    /// The task, so `shutdown` can wait for it.
    tasks: TaskTracker,
}

impl CoordinatorHandle {
    /// Hands a request to the coordinator and waits for its answer (which may take a whole
    /// rebalance). `None` if the coordinator has stopped.
    pub async fn call(&self, request: GroupRequest) -> Option<ResponseKind> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((request, tx)).ok()?;
        rx.await.ok()
    }

    /// Stops the coordinator once the writes under way are done and answered.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// A coordinator's handle and what starts its task: the broker holds the handle from its
/// construction, and starts the task once its internal log is open.
pub fn channel() -> (CoordinatorHandle, CoordinatorStarter) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let handle = CoordinatorHandle {
        tx,
        stop: stop.clone(),
        tasks: tasks.clone(),
    };
    (handle, CoordinatorStarter { rx, stop, tasks })
}

/// Starts the coordinator task of a `channel`.
pub struct CoordinatorStarter {
    rx: mpsc::UnboundedReceiver<Call>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl CoordinatorStarter {
    /// Loads the coordinator's state from `log` (offset values of version 1 read as `legacy`
    /// says), then starts its task and writer on the current tokio runtime. Requests sent
    /// before this wait in the channel.
    /// Writes go through `append` (the partition layer's coordinator append); `log` is read at
    /// start-up.
    pub fn start(
        self,
        log: Arc<PartitionLog>,
        append: AppendBatches,
        config: CoordinatorConfig,
        legacy: Legacy,
    ) -> Result<(), ReplayError> {
        let coordinator = loader::load(&log, &append, config, legacy)?;
        let (written_tx, written_rx) = mpsc::unbounded_channel();
        let writer = LogWriter::start(append, written_tx).map_err(|e| ReplayError::Read {
            log: log.dir().display().to_string(),
            offset: log.log_end_offset(),
            cause: format!("starting the writer thread: {e}"),
        })?;
        let started = Instant::now();
        let clock: Clock = Box::new(move || started.elapsed().as_millis() as i64);
        let runtime = Runtime::new(coordinator, writer, clock);
        self.tasks
            .spawn(runtime.run(self.rx, written_rx, self.stop));
        Ok(())
    }
}

/// The coordinator's clock: monotonic milliseconds.
pub type Clock = Box<dyn Fn() -> i64 + Send>;

/// A write under way and what to do once it is done.
enum InFlight {
    /// A request's records: apply and answer `response`, or answer `failed`.
    Request {
        tx: oneshot::Sender<ResponseKind>,
        records: Changes,
        response: Box<ResponseKind>,
        failed: Box<ResponseKind>,
        groups: Vec<String>,
    },
    /// A leader's assignment: complete the sync either way.
    Sync {
        pending: Box<PendingSync>,
        groups: Vec<String>,
    },
    /// Records no request waits for (a group became Empty).
    Background,
}

/// The coordinator task's state.
struct Runtime<W: WriteQueue> {
    coordinator: GroupCoordinator,
    writer: W,
    clock: Clock,
    /// Parked JoinGroup/SyncGroup answers, by the id the coordinator knows them under.
    parked: HashMap<ReplyId, oneshot::Sender<ResponseKind>>,
    next_reply: ReplyId,
    /// Writes submitted and not yet reported, by id.
    in_flight: HashMap<WriteId, InFlight>,
    next_write: WriteId,
    /// Per group, how many of its writes are under way.
    busy: HashMap<String, usize>,
    /// Requests waiting for a write of their group, in arrival order.
    waiting: VecDeque<Call>,
}

impl<W: WriteQueue> Runtime<W> {
    fn new(coordinator: GroupCoordinator, writer: W, clock: Clock) -> Runtime<W> {
        Runtime {
            coordinator,
            writer,
            clock,
            parked: HashMap::new(),
            next_reply: 0,
            in_flight: HashMap::new(),
            next_write: 0,
            busy: HashMap::new(),
            waiting: VecDeque::new(),
        }
    }

    async fn run(
        mut self,
        mut calls: mpsc::UnboundedReceiver<Call>,
        mut written: mpsc::UnboundedReceiver<Written>,
        stop: CancellationToken,
    ) {
        loop {
            let sleep = match self.coordinator.next_deadline() {
                Some(d) => Duration::from_millis(d.saturating_sub((self.clock)()).max(0) as u64),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                _ = stop.cancelled() => break,
                call = calls.recv() => match call {
                    Some(call) => self.on_call(call),
                    None => break,
                },
                Some((id, ok)) = written.recv() => self.on_written(id, ok),
                _ = tokio::time::sleep(sleep) => self.on_tick(),
            }
        }
        // Finish what was written or is being written, so no acknowledged change is lost and
        // no client waits for an answer that never comes.
        calls.close();
        while !self.in_flight.is_empty() {
            match written.recv().await {
                Some((id, ok)) => self.on_written(id, ok),
                None => break,
            }
        }
    }

    /// A request arrived: run it, or let it wait for its group's write.
    fn on_call(&mut self, call: Call) {
        let blocked = call
            .0
            .groups_changed()
            .iter()
            .any(|g| self.busy.contains_key(*g));
        if blocked || self.waits_behind_earlier(&call) {
            self.waiting.push_back(call);
        } else {
            self.execute(call);
        }
    }

    /// Whether an earlier request for one of the call's groups is still waiting (order per
    /// group is kept).
    fn waits_behind_earlier(&self, call: &Call) -> bool {
        let groups = call.0.groups_changed();
        !groups.is_empty()
            && self
                .waiting
                .iter()
                .any(|(w, _)| w.groups_changed().iter().any(|g| groups.contains(g)))
    }

    fn execute(&mut self, (request, tx): Call) {
        let now = (self.clock)();
        let groups: Vec<String> = request
            .groups_changed()
            .iter()
            .map(|g| g.to_string())
            .collect();
        self.next_reply += 1;
        let reply_id = self.next_reply;
        match service::execute(&mut self.coordinator, request, reply_id, now, now_ms()) {
            Outcome::Reply(response, replies) => {
                let _ = tx.send(*response);
                self.deliver(replies);
            }
            Outcome::Parked(replies) => {
                self.parked.insert(reply_id, tx);
                self.deliver(replies);
            }
            Outcome::Ignored => {}
            Outcome::Write {
                records,
                response,
                failed,
            } => {
                if records.is_empty() {
                    let _ = tx.send(*response);
                    return;
                }
                let write = InFlight::Request {
                    tx,
                    records: records.clone(),
                    response,
                    failed,
                    groups,
                };
                self.submit(records, write);
            }
            Outcome::Sync { replies, pending } => {
                self.parked.insert(reply_id, tx);
                self.deliver(replies);
                let records = vec![pending.record.clone()];
                self.submit(records, InFlight::Sync { pending, groups });
            }
        }
        self.write_emptied_groups();
    }

    fn submit(&mut self, records: Changes, write: InFlight) {
        self.next_write += 1;
        let id = self.next_write;
        if let InFlight::Request { groups, .. } | InFlight::Sync { groups, .. } = &write {
            for g in groups {
                *self.busy.entry(g.clone()).or_default() += 1;
            }
        }
        self.in_flight.insert(id, write);
        self.writer.submit(id, records);
    }

    /// A write is done (`ok`: its records are in the log): apply and answer, then run what
    /// waited for it.
    fn on_written(&mut self, id: WriteId, ok: bool) {
        let Some(write) = self.in_flight.remove(&id) else {
            return;
        };
        let groups = match write {
            InFlight::Request {
                tx,
                records,
                response,
                failed,
                groups,
            } => {
                if ok {
                    self.coordinator.apply(records);
                    let _ = tx.send(*response);
                } else {
                    let _ = tx.send(*failed);
                }
                groups
            }
            InFlight::Sync { pending, groups } => {
                let now = (self.clock)();
                let replies = self
                    .coordinator
                    .complete_sync(now, *pending, ok, WRITE_FAILED);
                self.deliver(replies);
                groups
            }
            InFlight::Background => Vec::new(),
        };
        for g in groups {
            if let Some(n) = self.busy.get_mut(&g) {
                *n -= 1;
                if *n == 0 {
                    self.busy.remove(&g);
                }
            }
        }
        self.run_waiting();
        self.write_emptied_groups();
    }

    /// Runs, in order, the waiting requests whose groups are free now.
    fn run_waiting(&mut self) {
        let waiting = std::mem::take(&mut self.waiting);
        for call in waiting {
            self.on_call(call);
        }
    }

    fn on_tick(&mut self) {
        let replies = self.coordinator.tick((self.clock)());
        self.deliver(replies);
        self.write_emptied_groups();
    }

    fn deliver(&mut self, replies: Vec<Reply>) {
        for reply in replies {
            if let Some(tx) = self.parked.remove(&reply.id) {
                let body = match reply.response {
                    Response::Join(r) => ResponseKind::JoinGroup(r),
                    Response::Sync(r) => ResponseKind::SyncGroup(r),
                };
                let _ = tx.send(body);
            }
        }
    }

    /// Writes the metadata of groups whose last member left. Kafka only logs a failure here:
    /// the group is Empty in memory either way, and a restart that brings back its old members
    /// sees them expire after their session timeout.
    fn write_emptied_groups(&mut self) {
        let records = self.coordinator.take_emptied_group_records();
        if !records.is_empty() {
            self.submit(records, InFlight::Background);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Mutex;

    use gregor_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use gregor_protocol::messages::{
        GroupId, OffsetCommitRequest, OffsetFetchRequest, RequestKind, TopicName,
    };
    use gregor_protocol::StrBytes;

    use super::*;
    use crate::coordinator::records::CoordinatorRecord;

    /// A writer that only records what it was given: the test says when a write is done.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(WriteId, Changes)>>>);

    impl WriteQueue for Recorder {
        fn submit(&mut self, id: WriteId, records: Changes) {
            self.0.lock().unwrap().push((id, records));
        }
    }

    fn runtime() -> (Runtime<Recorder>, Recorder, Arc<AtomicI64>) {
        let writes = Recorder::default();
        let now = Arc::new(AtomicI64::new(0));
        let clock_now = now.clone();
        let clock: Clock = Box::new(move || clock_now.load(Ordering::SeqCst));
        let coordinator = GroupCoordinator::new(CoordinatorConfig::default());
        (
            Runtime::new(coordinator, writes.clone(), clock),
            writes,
            now,
        )
    }

    fn s(v: &str) -> StrBytes {
        StrBytes::from_string(v.to_string())
    }

    fn request(body: RequestKind) -> GroupRequest {
        GroupRequest {
            body,
            version: 8,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn commit(group: &str, offset: i64) -> GroupRequest {
        request(RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_generation_id_or_member_epoch(-1)
                .with_member_id(s(""))
                .with_topics(vec![OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("t")))
                    .with_partitions(vec![OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)])]),
        ))
    }

    fn call(rt: &mut Runtime<Recorder>, request: GroupRequest) -> oneshot::Receiver<ResponseKind> {
        let (tx, rx) = oneshot::channel();
        rt.on_call((request, tx));
        rx
    }

    fn commit_code(rx: &mut oneshot::Receiver<ResponseKind>) -> Option<i16> {
        match rx.try_recv().ok()? {
            ResponseKind::OffsetCommit(r) => Some(r.topics[0].partitions[0].error_code),
            other => panic!("{other:?}"),
        }
    }

    fn committed(rt: &Runtime<Recorder>, group: &str) -> Option<i64> {
        rt.coordinator.offsets.get(group, "t", 0).map(|o| o.offset)
    }

    #[test]
    fn a_commit_is_applied_and_answered_only_once_written() {
        let (mut rt, writes, _) = runtime();
        let mut answer = call(&mut rt, commit("g", 5));
        assert_eq!(
            commit_code(&mut answer),
            None,
            "not answered before the write"
        );
        assert_eq!(committed(&rt, "g"), None, "not applied before the write");
        let (id, records) = writes.0.lock().unwrap()[0].clone();
        assert!(matches!(&records[..], [CoordinatorRecord::Offset(_, Some(v))] if v.offset == 5));
        rt.on_written(id, true);
        assert_eq!(commit_code(&mut answer), Some(0));
        assert_eq!(committed(&rt, "g"), Some(5));
    }

    #[test]
    fn a_failed_write_answers_an_error_and_changes_nothing() {
        let (mut rt, writes, _) = runtime();
        let mut first = call(&mut rt, commit("g", 5));
        rt.on_written(writes.0.lock().unwrap()[0].0, true);
        assert_eq!(commit_code(&mut first), Some(0));

        let mut second = call(&mut rt, commit("g", 9));
        rt.on_written(writes.0.lock().unwrap()[1].0, false);
        assert_eq!(commit_code(&mut second), Some(WRITE_FAILED.code()));
        assert_eq!(
            committed(&rt, "g"),
            Some(5),
            "the failed commit left the state as it was"
        );
        assert!(rt.busy.is_empty() && rt.in_flight.is_empty());
    }

    #[test]
    fn requests_wait_behind_their_groups_write_and_no_other() {
        let (mut rt, writes, _) = runtime();
        let mut a1 = call(&mut rt, commit("a", 1));
        let mut a2 = call(&mut rt, commit("a", 2));
        let mut b1 = call(&mut rt, commit("b", 1));
        // Group a's second commit waits for the first; b's goes to the writer at once.
        let submitted: Vec<WriteId> = writes.0.lock().unwrap().iter().map(|w| w.0).collect();
        assert_eq!(submitted.len(), 2, "{submitted:?}");
        assert_eq!(rt.waiting.len(), 1);
        // A read of group a does not wait: it sees what is written (nothing yet).
        let mut fetch = call(
            &mut rt,
            request(RequestKind::OffsetFetch(
                OffsetFetchRequest::default().with_groups(vec![
                    gregor_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(s("a"))),
                ]),
            )),
        );
        assert!(fetch.try_recv().is_ok());

        rt.on_written(submitted[1], true);
        assert_eq!(commit_code(&mut b1), Some(0));
        assert_eq!(commit_code(&mut a2), None);
        rt.on_written(submitted[0], true);
        assert_eq!(commit_code(&mut a1), Some(0));
        // Now a's second commit has gone to the writer, after the first.
        let third = writes.0.lock().unwrap()[2].0;
        assert!(rt.waiting.is_empty());
        rt.on_written(third, true);
        assert_eq!(commit_code(&mut a2), Some(0));
        assert_eq!(committed(&rt, "a"), Some(2));
    }

    #[test]
    fn a_leaders_sync_hands_out_the_assignment_only_once_written() {
        use gregor_protocol::messages::join_group_request::JoinGroupRequestProtocol;
        use gregor_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
        use gregor_protocol::messages::{JoinGroupRequest, SyncGroupRequest};
        let (mut rt, writes, _) = runtime();
        let join = |member: &str| {
            request(RequestKind::JoinGroup(
                JoinGroupRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_session_timeout_ms(10_000)
                    .with_rebalance_timeout_ms(10_000)
                    .with_member_id(s(member))
                    .with_protocol_type(s("consumer"))
                    .with_protocols(vec![JoinGroupRequestProtocol::default()
                        .with_name(s("range"))
                        .with_metadata(bytes::Bytes::from_static(b"m"))]),
            ))
        };
        let member = match call(&mut rt, join("")).try_recv().unwrap() {
            ResponseKind::JoinGroup(r) => r.member_id.to_string(),
            other => panic!("{other:?}"),
        };
        let generation = match call(&mut rt, join(&member)).try_recv().unwrap() {
            ResponseKind::JoinGroup(r) => r.generation_id,
            other => panic!("{other:?}"),
        };
        let sync = |_: ()| {
            request(RequestKind::SyncGroup(
                SyncGroupRequest::default()
                    .with_group_id(GroupId(s("g")))
                    .with_generation_id(generation)
                    .with_member_id(s(&member))
                    .with_assignments(vec![SyncGroupRequestAssignment::default()
                        .with_member_id(s(&member))
                        .with_assignment(bytes::Bytes::from_static(b"p0"))]),
            ))
        };
        let mut answer = call(&mut rt, sync(()));
        assert!(
            answer.try_recv().is_err(),
            "no assignment before its record is written"
        );
        let (id, records) = writes.0.lock().unwrap()[0].clone();
        assert!(matches!(&records[..], [CoordinatorRecord::Group(g, Some(_))] if g == "g"));
        rt.on_written(id, false);
        match answer.try_recv().unwrap() {
            ResponseKind::SyncGroup(r) => assert_eq!(r.error_code, WRITE_FAILED.code()),
            other => panic!("{other:?}"),
        }
        assert!(rt.coordinator.groups["g"].members[&member]
            .assignment
            .is_empty());
    }
}
