//! Drives a coordinator's state machine; Kafka's CoordinatorRuntime, for one node. Two shards
//! run on it: the group coordinator (`service` makes `GroupCoordinator` a `CoordinatorShard`)
//! and the transaction coordinator (`txn::shard`); each has its own task, writer and log.
//!
//! The contract:
//! - One task owns the state machine (a `CoordinatorShard`: pure, no tokio inside, time passed
//!   in). Requests arrive on a channel with a reply handle; timers come from the shard's next
//!   deadline, on a clock that starts at 0 when the task does (tests drive the same loop by
//!   hand with a clock of their own).
//! - A request that changes durable state comes back from `CoordinatorShard::execute` as
//!   records to write. They go to the one writer (`writer`), and only once it reports them in
//!   the log are they applied and the request answered. A failed write answers the request with
//!   an error and leaves the state as it was: nothing was applied.
//! - The task never waits for an fsync: it appends in place only where an append is a
//!   page-cache write (which the kernel may still hold up under writeback pressure, as it
//!   holds up Kafka's coordinator threads), and hands writes to a writer thread where each is
//!   fsynced (`writer::WriteMode`). Either way a write's outcome comes back as an event of its own.
//!   Until it has, later requests that change the same key (a group, a transactional id)
//!   wait, in order, so each sees the state the write leaves; requests for other keys, and
//!   reads, go ahead. With the thread, a commit's fsync holds up only its own group, and
//!   writes queued meanwhile share the next append.
//! - Work a shard starts outside itself (the transaction coordinator's markers) comes back
//!   from `CoordinatorShard::take_effects` after each event and goes to the sink the shard was
//!   started with; what that work finds comes back as ordinary requests.
//! - Reads from outside (the live view) go through the same channel as a closure run on the
//!   task between two events (`CoordinatorHandle::read`): a consistent view, no lock.
//! - Events the shard reports (`CoordinatorShard::take_events`, taken after every event) go to
//!   the handle's `EventLog`: a ring of recent ones and a bounded broadcast channel.
//! - Stopping (the handle's `shutdown`): no new requests are taken, the writes under way are
//!   finished and answered, then the task ends; the broker closes the logs after that.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gregor_storage::PartitionLog;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::events::EventLog;
use super::group_coordinator::{CoordinatorConfig, GroupCoordinator, ReplyId};
use super::loader::{self, ReplayError};
use super::records::Legacy;
use super::writer::{AppendBatches, WriteId, WriteMode, WriteQueue, Writer, Written};

/// A coordinator's state machine, as the runtime drives it (Kafka's CoordinatorShard).
pub trait CoordinatorShard: Send + 'static {
    /// A request as the connection hands it over.
    type Request: Send + 'static;
    /// An answer.
    type Response: Send + 'static;
    /// One record of the coordinator's internal log.
    type Record: Clone + Send + 'static;
    /// What waits for its records to be written before it can finish (a leader's SyncGroup).
    type Pending: Send + 'static;
    /// Work the shard asks of the world outside it (transaction markers to write).
    type Effect: Send + 'static;
    /// What the shard tells watchers happened (a member joined, a rebalance started).
    type Event: Clone + Send + 'static;

    /// The keys whose durable state `request` may change; reads name none.
    fn keys_changed(request: &Self::Request) -> Vec<String>;
    /// Runs a request at `now`; a request that must wait for others is parked under `reply_id`.
    fn execute(
        &mut self,
        request: Self::Request,
        reply_id: ReplyId,
        now: i64,
    ) -> Outcome<Self::Response, Self::Record, Self::Pending>;
    /// Applies records that were written.
    fn apply(&mut self, records: Vec<Self::Record>);
    /// Finishes what waited for its records (`written`: they are in the log).
    fn complete(
        &mut self,
        pending: Self::Pending,
        written: bool,
        now: i64,
    ) -> Vec<(ReplyId, Self::Response)>;
    /// Timers due at `now`: answers to parked requests.
    fn tick(&mut self, now: i64) -> Vec<(ReplyId, Self::Response)>;
    /// When `tick` next has something to do.
    fn next_deadline(&self) -> Option<i64>;
    /// Records no request waits for, due now (written in the background, as Kafka does).
    fn take_background_records(&mut self) -> Vec<Self::Record>;
    /// Records as batches to append, stamped `timestamp`; `None` for none.
    fn encode(records: &[Self::Record], timestamp: i64) -> Option<Vec<u8>>;
    /// Effects due now, taken after every event; none by default.
    fn take_effects(&mut self) -> Vec<Self::Effect> {
        Vec::new()
    }
    /// Events due at `now`, taken after every event; none by default.
    fn take_events(&mut self, _now: i64) -> Vec<Self::Event> {
        Vec::new()
    }
    /// Drops the events loading left (replayed history is not news).
    fn clear_events(&mut self) {}
}

/// A read of the shard's state, run on its task between two events.
pub type ReadFn<S> = Box<dyn FnOnce(&S) + Send>;

/// What the coordinator task takes from its channel.
enum Message<S: CoordinatorShard> {
    /// A request and where its answer goes.
    Call(Call<S>),
    /// A read-only look at the state (the live view's snapshots).
    Read(ReadFn<S>),
}

/// Where a shard's effects go (a channel to the task that carries them out).
pub type EffectSink<E> = Box<dyn FnMut(E) + Send>;

/// What a request comes to.
#[derive(Debug)]
pub enum Outcome<Resp, Rec, Pending> {
    /// Answer with this now, and deliver these answers to parked requests.
    Reply(Resp, Vec<(ReplyId, Resp)>),
    /// The request is parked under its reply id; deliver these answers now (its own may be
    /// among them).
    Parked(Vec<(ReplyId, Resp)>),
    /// Not a request of this coordinator: no answer (the connection closes).
    Ignored,
    /// Write `records`, then apply them and answer `response`; if the write fails, answer
    /// `failed` and change nothing.
    Write {
        /// The records the request stands for.
        records: Vec<Rec>,
        /// The answer once they are written.
        response: Resp,
        /// The answer if they cannot be.
        failed: Resp,
    },
    /// The request is parked under its reply id: deliver `replies`, write `records`, then
    /// `complete` the pending work (written or not).
    WriteThen {
        /// Answers to deliver now.
        replies: Vec<(ReplyId, Resp)>,
        /// The records to write first.
        records: Vec<Rec>,
        /// What finishes after the write.
        pending: Pending,
    },
}

type Call<S> = (
    <S as CoordinatorShard>::Request,
    oneshot::Sender<<S as CoordinatorShard>::Response>,
);

/// Sends requests to a coordinator's task, and stops it. `S` defaults to the group
/// coordinator, so `CoordinatorHandle` alone is the group coordinator's handle.
pub struct CoordinatorHandle<S: CoordinatorShard = GroupCoordinator> {
    tx: mpsc::UnboundedSender<Message<S>>,
    /// The events the task publishes.
    events: Arc<EventLog<S::Event>>,
    /// Cancelled to stop the task.
    stop: CancellationToken,
    /// The task, so `shutdown` can wait for it.
    tasks: TaskTracker,
}

impl<S: CoordinatorShard> Clone for CoordinatorHandle<S> {
    fn clone(&self) -> Self {
        CoordinatorHandle {
            tx: self.tx.clone(),
            events: self.events.clone(),
            stop: self.stop.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

impl<S: CoordinatorShard> std::fmt::Debug for CoordinatorHandle<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoordinatorHandle")
            .field("stopped", &self.stop.is_cancelled())
            .finish()
    }
}

impl<S: CoordinatorShard> CoordinatorHandle<S> {
    /// Hands a request to the coordinator and waits for its answer (which may take a whole
    /// rebalance). `None` if the coordinator has stopped.
    pub async fn call(&self, request: S::Request) -> Option<S::Response> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Message::Call((request, tx))).ok()?;
        rx.await.ok()
    }

    /// Runs `read` on the coordinator's task, between two events, and returns what it
    /// returns: a consistent look at the state without a lock. `None` if it has stopped.
    pub async fn read<R: Send + 'static>(
        &self,
        read: impl FnOnce(&S) -> R + Send + 'static,
    ) -> Option<R> {
        let (tx, rx) = oneshot::channel();
        let f: ReadFn<S> = Box::new(move |shard| {
            let _ = tx.send(read(shard));
        });
        self.tx.send(Message::Read(f)).ok()?;
        rx.await.ok()
    }

    /// The coordinator's events: the recent ones and a stream of the next.
    pub fn events(&self) -> &EventLog<S::Event> {
        &self.events
    }

    /// Hands a request to the coordinator without waiting for its answer (work a coordinator
    /// sends itself, such as its markers being written). `false` if it has stopped.
    pub fn send(&self, request: S::Request) -> bool {
        let (tx, _rx) = oneshot::channel();
        self.tx.send(Message::Call((request, tx))).is_ok()
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
pub fn channel<S: CoordinatorShard>() -> (CoordinatorHandle<S>, CoordinatorStarter<S>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let events = Arc::new(EventLog::default());
    let handle = CoordinatorHandle {
        tx,
        events: events.clone(),
        stop: stop.clone(),
        tasks: tasks.clone(),
    };
    (
        handle,
        CoordinatorStarter {
            rx,
            events,
            stop,
            tasks,
        },
    )
}

/// Starts the coordinator task of a `channel`.
pub struct CoordinatorStarter<S: CoordinatorShard = GroupCoordinator> {
    rx: mpsc::UnboundedReceiver<Message<S>>,
    events: Arc<EventLog<S::Event>>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl<S: CoordinatorShard> CoordinatorStarter<S> {
    /// Starts the task of `shard` (already loaded from its log) and its writer on the current
    /// tokio runtime. Writes go through `append` in `mode`, effects to `effects`. Requests
    /// sent before this wait in the channel.
    pub fn start_shard(
        self,
        shard: S,
        append: AppendBatches,
        mode: WriteMode,
        effects: EffectSink<S::Effect>,
    ) -> std::io::Result<()> {
        let (written_tx, written_rx) = mpsc::unbounded_channel();
        let writer = Writer::start(mode, append, S::encode, written_tx)?;
        let started = Instant::now();
        let clock: Clock = Box::new(move || started.elapsed().as_millis() as i64);
        let mut runtime = Runtime::new(shard, writer, clock);
        runtime.shard.clear_events();
        runtime.effects = Some(effects);
        runtime.events = Some(self.events);
        // Effects the load left (markers of transactions caught half-way).
        runtime.send_effects();
        self.tasks
            .spawn(runtime.run(self.rx, written_rx, self.stop));
        Ok(())
    }
}

impl CoordinatorStarter<GroupCoordinator> {
    /// Loads the group coordinator's state from `log` (offset values of version 1 read as
    /// `legacy` says), then starts its task and writer on the current tokio runtime. Writes go
    /// through `append` (the partition layer's coordinator append). Requests sent before this
    /// wait in the channel.
    pub fn start(
        self,
        log: Arc<PartitionLog>,
        append: AppendBatches,
        config: CoordinatorConfig,
        legacy: Legacy,
    ) -> Result<(), ReplayError> {
        let coordinator = loader::load(&log, &append, config, legacy)?;
        let mode = WriteMode::for_log(&log.config());
        self.start_shard(coordinator, append, mode, Box::new(|_| {}))
            .map_err(|e| ReplayError::Read {
                log: log.dir().display().to_string(),
                offset: log.log_end_offset(),
                cause: format!("starting the writer thread: {e}"),
            })
    }
}

/// Most queued messages the task takes in one turn of its loop, between looks at its timer
/// and at `stop`.
const BURST: usize = 64;

/// The coordinator's clock: monotonic milliseconds.
pub type Clock = Box<dyn Fn() -> i64 + Send>;

/// A write under way and what to do once it is done.
enum InFlight<S: CoordinatorShard> {
    /// A request's records: apply and answer `response`, or answer `failed`.
    Request {
        tx: oneshot::Sender<S::Response>,
        records: Vec<S::Record>,
        response: S::Response,
        failed: S::Response,
        keys: Vec<String>,
    },
    /// Work that finishes after its write, either way.
    Pending {
        pending: S::Pending,
        keys: Vec<String>,
    },
    /// Records no request waits for.
    Background,
}

/// The coordinator task's state.
struct Runtime<S: CoordinatorShard, W: WriteQueue<S::Record>> {
    shard: S,
    writer: W,
    clock: Clock,
    /// Parked answers, by the id the shard knows them under.
    parked: HashMap<ReplyId, oneshot::Sender<S::Response>>,
    next_reply: ReplyId,
    /// Writes submitted and not yet reported, by id.
    in_flight: HashMap<WriteId, InFlight<S>>,
    next_write: WriteId,
    /// Per key, how many of its writes are under way.
    busy: HashMap<String, usize>,
    /// Requests waiting for a write of their key, in arrival order.
    waiting: VecDeque<Call<S>>,
    /// Where the shard's effects go; `None` in tests, which take them from the shard.
    effects: Option<EffectSink<S::Effect>>,
    /// Where the shard's events go; `None` in tests, which take them from the shard.
    events: Option<Arc<EventLog<S::Event>>>,
}

impl<S: CoordinatorShard, W: WriteQueue<S::Record>> Runtime<S, W> {
    fn new(shard: S, writer: W, clock: Clock) -> Runtime<S, W> {
        Runtime {
            shard,
            writer,
            clock,
            parked: HashMap::new(),
            next_reply: 0,
            in_flight: HashMap::new(),
            next_write: 0,
            busy: HashMap::new(),
            waiting: VecDeque::new(),
            effects: None,
            events: None,
        }
    }

    /// Hands the shard's due effects to the sink.
    fn send_effects(&mut self) {
        if let Some(sink) = self.effects.as_mut() {
            for effect in self.shard.take_effects() {
                sink(effect);
            }
        }
    }

    async fn run(
        mut self,
        mut calls: mpsc::UnboundedReceiver<Message<S>>,
        mut written: mpsc::UnboundedReceiver<Written>,
        stop: CancellationToken,
    ) {
        // One timer, moved only when the shard's next deadline does: the deadline is a scan of
        // the shard's state, and a timer set anew per event was a timer-wheel entry per event.
        let mut timer = std::pin::pin!(tokio::time::sleep(Duration::ZERO));
        let mut armed_for: Option<Option<i64>> = None;
        loop {
            let deadline = self.shard.next_deadline();
            if armed_for != Some(deadline) {
                let wait = match deadline {
                    Some(d) => {
                        Duration::from_millis(d.saturating_sub((self.clock)()).max(0) as u64)
                    }
                    None => Duration::from_secs(3600),
                };
                timer.as_mut().reset(tokio::time::Instant::now() + wait);
                armed_for = Some(deadline);
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                message = calls.recv() => match message {
                    Some(message) => self.on_message(message),
                    None => break,
                },
                Some((id, ok)) = written.recv() => self.on_written(id, ok),
                () = &mut timer => {
                    self.on_tick();
                    armed_for = None;
                }
            }
            // What is queued already is taken now, not one turn of the loop each: a write done
            // in place was reported as it was submitted, and requests that arrived meanwhile
            // (other connections') need no new deadline in between. Bounded, so the timer and
            // `stop` are looked at between bursts.
            for _ in 0..BURST {
                self.take_written(&mut written);
                match calls.try_recv() {
                    Ok(message) => self.on_message(message),
                    Err(_) => break,
                }
            }
            self.take_written(&mut written);
        }
        // Finish what is being written, so no acknowledged change is lost and no client waits
        // for an answer that never comes.
        calls.close();
        self.take_written(&mut written);
        while !self.in_flight.is_empty() {
            match written.recv().await {
                Some((id, ok)) => self.on_written(id, ok),
                None => break,
            }
        }
    }

    /// Applies every write outcome there is, the in-place writer's and the writer thread's,
    /// including those of writes that the applied ones let run.
    fn take_written(&mut self, written: &mut mpsc::UnboundedReceiver<Written>) {
        loop {
            let next = self.writer.pop_done().or_else(|| written.try_recv().ok());
            let Some((id, ok)) = next else { break };
            self.on_written(id, ok);
        }
    }

    fn on_message(&mut self, message: Message<S>) {
        match message {
            Message::Call(call) => self.on_call(call),
            Message::Read(read) => read(&self.shard),
        }
    }

    /// A request arrived: run it, or let it wait for its key's write.
    fn on_call(&mut self, call: Call<S>) {
        let keys = S::keys_changed(&call.0);
        let blocked = keys.iter().any(|k| self.busy.contains_key(k))
            || (!keys.is_empty()
                && self
                    .waiting
                    .iter()
                    .any(|(w, _)| S::keys_changed(w).iter().any(|k| keys.contains(k))));
        if blocked {
            self.waiting.push_back(call);
        } else {
            self.execute(call, keys);
        }
    }

    fn execute(&mut self, (request, tx): Call<S>, keys: Vec<String>) {
        let now = (self.clock)();
        self.next_reply += 1;
        let reply_id = self.next_reply;
        match self.shard.execute(request, reply_id, now) {
            Outcome::Reply(response, replies) => {
                let _ = tx.send(response);
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
                    let _ = tx.send(response);
                    return;
                }
                let write = InFlight::Request {
                    tx,
                    records: records.clone(),
                    response,
                    failed,
                    keys,
                };
                self.submit(records, write);
            }
            Outcome::WriteThen {
                replies,
                records,
                pending,
            } => {
                self.parked.insert(reply_id, tx);
                self.deliver(replies);
                self.submit(records, InFlight::Pending { pending, keys });
            }
        }
        self.write_background();
    }

    fn submit(&mut self, records: Vec<S::Record>, write: InFlight<S>) {
        self.next_write += 1;
        let id = self.next_write;
        if let InFlight::Request { keys, .. } | InFlight::Pending { keys, .. } = &write {
            for k in keys {
                *self.busy.entry(k.clone()).or_default() += 1;
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
        let keys = match write {
            InFlight::Request {
                tx,
                records,
                response,
                failed,
                keys,
            } => {
                if ok {
                    self.shard.apply(records);
                    let _ = tx.send(response);
                } else {
                    let _ = tx.send(failed);
                }
                keys
            }
            InFlight::Pending { pending, keys } => {
                let now = (self.clock)();
                let replies = self.shard.complete(pending, ok, now);
                self.deliver(replies);
                keys
            }
            InFlight::Background => Vec::new(),
        };
        for k in keys {
            if let Some(n) = self.busy.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.busy.remove(&k);
                }
            }
        }
        // Run, in order, the waiting requests whose keys are free now.
        for call in std::mem::take(&mut self.waiting) {
            self.on_call(call);
        }
        self.write_background();
    }

    fn on_tick(&mut self) {
        let replies = self.shard.tick((self.clock)());
        self.deliver(replies);
        self.write_background();
    }

    fn deliver(&mut self, replies: Vec<(ReplyId, S::Response)>) {
        for (id, response) in replies {
            if let Some(tx) = self.parked.remove(&id) {
                let _ = tx.send(response);
            }
        }
    }

    /// After every event: records no request waits for go to the writer, effects to the sink,
    /// events to the event log.
    fn write_background(&mut self) {
        let records = self.shard.take_background_records();
        if !records.is_empty() {
            self.submit(records, InFlight::Background);
        }
        self.send_effects();
        if let Some(log) = &self.events {
            let events = self.shard.take_events((self.clock)());
            log.publish(events, crate::broker::now_ms());
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
        GroupId, OffsetCommitRequest, OffsetFetchRequest, RequestKind, ResponseKind, TopicName,
    };
    use gregor_protocol::StrBytes;

    use super::*;
    use crate::coordinator::group_apis::Changes;
    use crate::coordinator::group_coordinator::GroupCoordinator;
    use crate::coordinator::records::CoordinatorRecord;
    use crate::coordinator::service::{GroupRequest, WRITE_FAILED};

    /// A writer that only records what it was given: the test says when a write is done.
    #[derive(Clone, Default)]
    struct Recorder(Arc<Mutex<Vec<(WriteId, Changes)>>>);

    impl WriteQueue<CoordinatorRecord> for Recorder {
        fn submit(&mut self, id: WriteId, records: Changes) {
            self.0.lock().unwrap().push((id, records));
        }
    }

    fn runtime() -> (
        Runtime<GroupCoordinator, Recorder>,
        Recorder,
        Arc<AtomicI64>,
    ) {
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
            group_config: Default::default(),
            topic_describe: None,
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

    fn call(
        rt: &mut Runtime<GroupCoordinator, Recorder>,
        request: GroupRequest,
    ) -> oneshot::Receiver<ResponseKind> {
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

    fn committed(rt: &Runtime<GroupCoordinator, Recorder>, group: &str) -> Option<i64> {
        rt.shard.offsets.get(group, "t", 0).map(|o| o.offset)
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
        assert!(rt.shard.groups["g"].members[&member].assignment.is_empty());
    }

    mod txn {
        use super::*;
        use crate::coordinator::txn::records::TxnRecord;
        use crate::coordinator::txn::{
            TransactionCoordinator, TransactionState, TxnConfig, TxnEffect, TxnRequest,
            TxnResponse, TxnShard,
        };

        /// The writes submitted, in order.
        type Submitted = Arc<Mutex<Vec<(WriteId, Vec<TxnRecord>)>>>;

        #[derive(Clone, Default)]
        struct TxnRecorder(Submitted);

        impl WriteQueue<TxnRecord> for TxnRecorder {
            fn submit(&mut self, id: WriteId, records: Vec<TxnRecord>) {
                self.0.lock().unwrap().push((id, records));
            }
        }

        fn runtime() -> (Runtime<TxnShard, TxnRecorder>, TxnRecorder) {
            let writes = TxnRecorder::default();
            let coordinator = TransactionCoordinator::new(TxnConfig::default(), Box::new(|| 7));
            let shard = TxnShard::new(coordinator, || 1_000);
            (Runtime::new(shard, writes.clone(), Box::new(|| 0)), writes)
        }

        fn call(
            rt: &mut Runtime<TxnShard, TxnRecorder>,
            request: TxnRequest,
        ) -> oneshot::Receiver<TxnResponse> {
            let (tx, rx) = oneshot::channel();
            rt.on_call((request, tx));
            rx
        }

        fn last_write(writes: &TxnRecorder) -> WriteId {
            writes.0.lock().unwrap().last().unwrap().0
        }

        #[test]
        fn markers_start_only_once_the_prepare_is_written_and_not_if_it_fails() {
            let (mut rt, writes) = runtime();
            let mut init = call(
                &mut rt,
                TxnRequest::InitProducerId {
                    transactional_id: "tx".into(),
                    timeout_ms: 60_000,
                    expected: None,
                },
            );
            rt.on_written(last_write(&writes), true);
            assert_eq!(
                init.try_recv().unwrap(),
                TxnResponse::InitProducerId(Ok((7, 0)))
            );
            let mut add = call(
                &mut rt,
                TxnRequest::AddPartitions {
                    transactional_id: "tx".into(),
                    producer_id: 7,
                    producer_epoch: 0,
                    partitions: vec![("t".into(), 0)],
                },
            );
            rt.on_written(last_write(&writes), true);
            assert_eq!(add.try_recv().unwrap(), TxnResponse::Added(Ok(())));
            let end = || TxnRequest::EndTxn {
                transactional_id: "tx".into(),
                producer_id: 7,
                producer_epoch: 0,
                commit: true,
                bump_epoch: false,
            };
            // The PrepareCommit cannot be written: an error, no markers, still Ongoing.
            let mut failed = call(&mut rt, end());
            assert!(failed.try_recv().is_err(), "not answered before the write");
            rt.on_written(last_write(&writes), false);
            assert_eq!(
                failed.try_recv().unwrap(),
                TxnResponse::EndTxn(Err(gregor_protocol::ResponseError::CoordinatorNotAvailable))
            );
            assert!(rt.shard.take_effects().is_empty());
            assert_eq!(
                rt.shard.coordinator.txns["tx"].state,
                TransactionState::Ongoing
            );
            // Retried and written: answered, and the markers are due.
            let mut ok = call(&mut rt, end());
            rt.on_written(last_write(&writes), true);
            assert_eq!(ok.try_recv().unwrap(), TxnResponse::EndTxn(Ok((7, 0))));
            assert!(matches!(
                &rt.shard.take_effects()[..],
                [TxnEffect::WriteMarkers(job)] if job.commit && job.partitions.len() == 1
            ));
        }
    }
}
