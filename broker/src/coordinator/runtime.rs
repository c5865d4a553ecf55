//! Drives the coordinator from one task: requests arrive on a channel with a reply handle,
//! timers come from the coordinator's next deadline, and offset changes are appended to the
//! internal `__consumer_offsets` log before their request is answered. At start-up the log is
//! replayed, and rewritten as a snapshot when it holds mostly superseded records.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gregor_protocol::messages::leave_group_response::MemberResponse;
use gregor_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
    OffsetFetchResponseTopics,
};
use gregor_protocol::messages::{
    HeartbeatResponse, LeaveGroupResponse, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, RequestKind, ResponseKind,
};
use gregor_protocol::record_batch::{decode_records, encode_records, parse_batches, RecordRef};
use gregor_protocol::ResponseError;
use gregor_storage::PartitionLog;
use tokio::sync::{mpsc, oneshot};

use super::classic_group::ClassicGroup;
use super::group_apis::Changes;
use super::group_coordinator::{CoordinatorConfig, GroupCoordinator, Reply, ReplyId, Response};
use super::records::{CoordinatorRecord, Legacy, RecordError};
use crate::broker::now_ms;

/// The answer to a request whose records could not be written: retriable, so the client tries
/// again (Kafka answers a failed coordinator write this way when the log cannot take it now).
const WRITE_FAILED: ResponseError = ResponseError::CoordinatorNotAvailable;

/// A group request as the connection received it.
#[derive(Debug)]
pub struct GroupRequest {
    /// The decoded body.
    pub body: RequestKind,
    /// Its version.
    pub version: i16,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's address.
    pub client_host: String,
}

type Call = (GroupRequest, oneshot::Sender<ResponseKind>);

/// Sends requests to the coordinator task.
#[derive(Clone, Debug)]
pub struct CoordinatorHandle {
    tx: mpsc::UnboundedSender<Call>,
}

impl CoordinatorHandle {
    /// Hands a request to the coordinator and waits for its answer (which may take a whole
    /// rebalance). `None` if the coordinator has stopped.
    pub async fn call(&self, request: GroupRequest) -> Option<ResponseKind> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((request, tx)).ok()?;
        rx.await.ok()
    }
}

/// The coordinator task's state.
struct Runtime {
    coordinator: GroupCoordinator,
    log: Arc<PartitionLog>,
    /// Parked JoinGroup/SyncGroup answers, by the id the coordinator knows them under.
    parked: HashMap<ReplyId, oneshot::Sender<ResponseKind>>,
    next_reply: ReplyId,
    /// Origin of the coordinator's clock (monotonic milliseconds).
    started: Instant,
}

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The log could not be read.
    #[error("reading {log} at offset {offset}: {cause}")]
    Read {
        log: String,
        offset: i64,
        cause: String,
    },
    /// A record the coordinator cannot understand: replaying past it would lose state.
    #[error("{log}: the record at offset {offset} cannot be read ({cause}); start a Gregor that wrote it, or move this data dir aside")]
    Record {
        log: String,
        offset: i64,
        cause: RecordError,
    },
    /// A format-1 offsets log could not be rewritten in Kafka's schemas.
    #[error("rewriting {log} in Apache Kafka's record schemas: {cause}")]
    Upgrade { log: String, cause: String },
}

/// Replays `log` (whose offset values of version 1 are read as `legacy` says), then spawns the
/// coordinator task. A log in the format-1 layout is rewritten in Kafka's.
pub fn start(
    log: Arc<PartitionLog>,
    config: CoordinatorConfig,
    legacy: Legacy,
) -> Result<CoordinatorHandle, ReplayError> {
    let mut coordinator = GroupCoordinator::new(config);
    let (records, replayed) = replay(&log, &mut coordinator, legacy)?;
    tracing::info!(
        records,
        committed_partitions = coordinator.offsets.len(),
        "replayed group offsets"
    );
    if legacy == Legacy::Format1 {
        // Everything live, rewritten in Kafka's schemas, and the old records dropped: after
        // this the data dir may say format 2. Should a crash come first, a restart reads the
        // old records as format 1 again and the rewritten ones (value v3) as Kafka's.
        snapshot(&log, &coordinator).map_err(|e| ReplayError::Upgrade {
            log: log.dir().display().to_string(),
            cause: e.to_string(),
        })?;
    } else if replayed > 2 * coordinator.offsets.len() + 1000 {
        if let Err(e) = snapshot(&log, &coordinator) {
            tracing::warn!(cause = %e, "could not compact the offsets log");
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let runtime = Runtime {
        coordinator,
        log,
        parked: HashMap::new(),
        next_reply: 0,
        started: Instant::now(),
    };
    tokio::spawn(runtime.run(rx));
    Ok(CoordinatorHandle { tx })
}

/// Applies every record of the offsets log; returns (records applied, records read).
fn replay(
    log: &PartitionLog,
    coordinator: &mut GroupCoordinator,
    legacy: Legacy,
) -> Result<(usize, usize), ReplayError> {
    let name = log.dir().display().to_string();
    let read_error = |offset: i64, cause: String| ReplayError::Read {
        log: name.clone(),
        offset,
        cause,
    };
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    let mut applied = 0;
    let mut read = 0;
    while offset < end {
        let chunk = log
            .read(offset, 1 << 20)
            .map_err(|e| read_error(offset, e.to_string()))?;
        if chunk.records.is_empty() {
            break;
        }
        let headers =
            parse_batches(&chunk.records).map_err(|e| read_error(offset, e.to_string()))?;
        let mut pos = 0;
        for h in headers {
            let batch = &chunk.records[pos..pos + h.size];
            pos += h.size;
            let batch_offset = h.base_offset;
            offset = h.base_offset + i64::from(h.last_offset_delta) + 1;
            let records =
                decode_records(batch).map_err(|e| read_error(batch_offset, e.to_string()))?;
            for (key, value) in records {
                read += 1;
                // Kafka writes no keyless record here; nothing to apply.
                let Some(key) = key else { continue };
                let record =
                    CoordinatorRecord::decode(Bytes::from(key), value.map(Bytes::from), legacy)
                        .map_err(|cause| ReplayError::Record {
                            log: name.clone(),
                            offset: batch_offset,
                            cause,
                        })?;
                match record {
                    // A group's last metadata: members, generation and assignment, as they
                    // were (the runtime's clock starts at 0 once replay is done).
                    Some(CoordinatorRecord::Group(id, Some(meta))) => {
                        let restored = ClassicGroup::from_metadata(&id, &meta, 0);
                        coordinator.groups.insert(id, restored);
                        applied += 1;
                    }
                    Some(record) => {
                        coordinator.apply(vec![record]);
                        applied += 1;
                    }
                    None => {}
                }
            }
        }
    }
    // A group with neither members nor offsets left is gone (format 1 wrote no group
    // tombstones: its deleted groups are known only by their offsets' tombstones).
    let live: std::collections::BTreeSet<&str> = coordinator
        .offsets
        .all()
        .map(|(k, _)| k.0.as_str())
        .collect();
    let emptied: Changes = coordinator
        .groups
        .values()
        .filter(|g| g.members.is_empty() && !live.contains(g.id.as_str()))
        .map(|g| CoordinatorRecord::Group(g.id.clone(), None))
        .collect();
    coordinator.apply(emptied);
    Ok((applied, read))
}

/// Appends the live offsets as one snapshot and moves the log start past everything before it.
fn snapshot(
    log: &PartitionLog,
    coordinator: &GroupCoordinator,
) -> Result<(), gregor_storage::StorageError> {
    let groups = coordinator
        .groups
        .values()
        .filter(|g| g.generation > 0)
        .map(|g| CoordinatorRecord::Group(g.id.clone(), Some(g.to_metadata(&Default::default()))));
    let offsets = coordinator
        .offsets
        .all()
        .map(|(k, v)| CoordinatorRecord::Offset(k.clone(), Some(v.clone())));
    let records: Changes = groups.chain(offsets).collect();
    let first = match append_records(log, &records)? {
        Some(first) => first,
        // Nothing live: everything before the end is superseded.
        None => log.log_end_offset(),
    };
    log.advance_log_start(first)?;
    tracing::info!(
        records = records.len(),
        from = first,
        "compacted the offsets log"
    );
    Ok(())
}

/// Appends records as one batch; the base offset, if anything was written.
fn append_records(
    log: &PartitionLog,
    records: &[CoordinatorRecord],
) -> Result<Option<i64>, gregor_storage::StorageError> {
    if records.is_empty() {
        return Ok(None);
    }
    let encoded: Vec<(Bytes, Option<Bytes>)> = records.iter().map(|r| r.encode()).collect();
    let refs: Vec<RecordRef<'_>> = encoded
        .iter()
        .map(|(k, v)| (Some(&k[..]), v.as_deref()))
        .collect();
    let batch = encode_records(now_ms(), &refs);
    Ok(Some(log.append(&batch, now_ms())?.base_offset))
}

impl Runtime {
    fn now(&self) -> i64 {
        self.started.elapsed().as_millis() as i64
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Call>) {
        loop {
            let deadline = self.coordinator.next_deadline();
            let sleep = match deadline {
                Some(d) => Duration::from_millis(d.saturating_sub(self.now()).max(0) as u64),
                None => Duration::from_secs(3600),
            };
            tokio::select! {
                call = rx.recv() => match call {
                    Some((request, reply)) => self.handle(request, reply),
                    None => return,
                },
                _ = tokio::time::sleep(sleep) => {
                    let replies = self.coordinator.tick(self.now());
                    self.deliver(replies);
                }
            }
            self.write_emptied_groups();
        }
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

    fn park(&mut self, tx: oneshot::Sender<ResponseKind>) -> ReplyId {
        self.next_reply += 1;
        self.parked.insert(self.next_reply, tx);
        self.next_reply
    }

    /// Appends the changes' records, then applies the changes; false, with nothing applied,
    /// if the append failed.
    fn persist(&mut self, changes: Changes) -> bool {
        let written = self.write(&changes);
        if written {
            self.coordinator.apply(changes);
        }
        written
    }

    /// Appends records to `__consumer_offsets`; false if the append failed.
    fn write(&self, records: &[CoordinatorRecord]) -> bool {
        // The append is a copy into the page cache, or a group-commit fsync with
        // --fsync-always: short enough to run here, and writes must not overtake each other.
        match tokio::task::block_in_place(|| append_records(&self.log, records)) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(cause = %e, "could not write to __consumer_offsets");
                false
            }
        }
    }

    /// Writes the metadata of groups whose last member left. Kafka only logs a failure here:
    /// the group is Empty in memory either way, and a restart that brings back its old members
    /// sees them expire after their session timeout.
    fn write_emptied_groups(&mut self) {
        let records = self.coordinator.take_emptied_group_records();
        if !records.is_empty() {
            self.write(&records);
        }
    }

    fn handle(&mut self, request: GroupRequest, tx: oneshot::Sender<ResponseKind>) {
        let now = self.now();
        let v = request.version;
        let response = match request.body {
            RequestKind::JoinGroup(r) => {
                let id = self.park(tx);
                let replies = self.coordinator.join_group(
                    now,
                    id,
                    v,
                    &r,
                    &request.client_id,
                    &request.client_host,
                );
                self.deliver(replies);
                return;
            }
            RequestKind::SyncGroup(r) => {
                let id = self.park(tx);
                let (replies, pending) = self.coordinator.sync_group(id, &r);
                self.deliver(replies);
                if let Some(sync) = pending {
                    let written = self.write(std::slice::from_ref(&sync.record));
                    let replies =
                        self.coordinator
                            .complete_sync(self.now(), sync, written, WRITE_FAILED);
                    self.deliver(replies);
                }
                return;
            }
            RequestKind::Heartbeat(r) => {
                let code = self.coordinator.heartbeat(
                    now,
                    r.group_id.as_str(),
                    r.member_id.as_str(),
                    r.group_instance_id.as_deref(),
                    r.generation_id,
                );
                ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(ok_code(code)))
            }
            RequestKind::LeaveGroup(r) => {
                let leaving: Vec<(String, Option<String>)> = if v >= 3 {
                    r.members
                        .iter()
                        .map(|m| {
                            (
                                m.member_id.to_string(),
                                m.group_instance_id.as_ref().map(|i| i.to_string()),
                            )
                        })
                        .collect()
                } else {
                    vec![(r.member_id.to_string(), None)]
                };
                let (top, codes, replies) =
                    self.coordinator
                        .leave_group(now, r.group_id.as_str(), &leaving);
                self.deliver(replies);
                let mut response = LeaveGroupResponse::default();
                if v >= 3 {
                    response.members = r
                        .members
                        .iter()
                        .zip(codes)
                        .map(|(m, c)| {
                            MemberResponse::default()
                                .with_member_id(m.member_id.clone())
                                .with_group_instance_id(m.group_instance_id.clone())
                                .with_error_code(c.map_or(0, |e| e.code()))
                        })
                        .collect();
                } else {
                    response.error_code = top.map_or(0, |e| e.code());
                }
                ResponseKind::LeaveGroup(response)
            }
            RequestKind::OffsetCommit(r) => {
                let (mut response, changes) = self.coordinator.commit_offsets(now_ms(), v, &r);
                if !self.persist(changes) {
                    for t in &mut response.topics {
                        for p in &mut t.partitions {
                            p.error_code = WRITE_FAILED.code();
                        }
                    }
                }
                ResponseKind::OffsetCommit(response)
            }
            RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(self.fetch_offsets(&r, v)),
            RequestKind::ListGroups(r) => {
                ResponseKind::ListGroups(self.coordinator.list_groups(&r))
            }
            RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(
                self.coordinator
                    .describe_groups(&r.groups, v, r.include_authorized_operations),
            ),
            RequestKind::DeleteGroups(r) => {
                let (mut response, changes) = self.coordinator.delete_groups(&r.groups_names);
                if !self.persist(changes) {
                    for result in &mut response.results {
                        if result.error_code == 0 {
                            result.error_code = WRITE_FAILED.code();
                        }
                    }
                }
                ResponseKind::DeleteGroups(response)
            }
            RequestKind::OffsetDelete(r) => {
                let (mut response, changes) = self.coordinator.delete_offsets(&r);
                if !self.persist(changes) {
                    response = OffsetDeleteResponse::default().with_error_code(WRITE_FAILED.code());
                }
                ResponseKind::OffsetDelete(response)
            }
            _ => return,
        };
        let _ = tx.send(response);
    }

    fn fetch_offsets(&self, r: &OffsetFetchRequest, v: i16) -> OffsetFetchResponse {
        if v >= 8 {
            let groups = r
                .groups
                .iter()
                .map(|g| {
                    let wanted = g.topics.as_ref().map(|ts| {
                        ts.iter()
                            .map(|t| (t.name.0.clone(), t.partition_indexes.clone()))
                            .collect()
                    });
                    let topics = self
                        .coordinator
                        .fetch_offsets(g.group_id.as_str(), wanted)
                        .into_iter()
                        .map(|(name, partitions)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(name.into())
                                .with_partitions(partitions)
                        })
                        .collect();
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_topics(topics)
                })
                .collect();
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let wanted = r.topics.as_ref().map(|ts| {
            ts.iter()
                .map(|t| (t.name.0.clone(), t.partition_indexes.clone()))
                .collect()
        });
        let topics = self
            .coordinator
            .fetch_offsets(r.group_id.as_str(), wanted)
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(|p| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_committed_offset(p.committed_offset)
                            .with_committed_leader_epoch(p.committed_leader_epoch)
                            .with_metadata(p.metadata)
                    })
                    .collect();
                OffsetFetchResponseTopic::default()
                    .with_name(name.into())
                    .with_partitions(partitions)
            })
            .collect();
        OffsetFetchResponse::default().with_topics(topics)
    }
}

/// Heartbeat's "no error" travels as code 0.
fn ok_code(code: ResponseError) -> i16 {
    match code {
        ResponseError::Unknown(0) => 0,
        other => other.code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use gregor_storage::{LogConfig, LogManager, TopicPartition};

    use crate::coordinator::offsets::OffsetKey;

    fn offsets_log(dir: &std::path::Path) -> (LogManager, Arc<PartitionLog>) {
        let logs = LogManager::open(dir, LogConfig::default()).unwrap();
        let log = logs
            .get_or_create(
                &TopicPartition::new("__consumer_offsets", 0),
                LogConfig::default(),
            )
            .unwrap();
        (logs, log)
    }

    /// An offset record as a format-1 data dir holds it: Kafka's key, Gregor's old value.
    fn format1_record(group: &str, partition: i32, offset: i64) -> (Bytes, Bytes) {
        let key = CoordinatorRecord::Offset((group.into(), "t".into(), partition), None)
            .encode()
            .0;
        let mut value = bytes::BytesMut::new();
        value.put_u16(1);
        value.put_i64(offset);
        value.put_i32(4);
        value.put_i64(1_000);
        value.put_u16(2);
        value.put_slice(b"md");
        (key, value.freeze())
    }

    fn offsets_of(coordinator: &GroupCoordinator) -> Vec<(OffsetKey, i64, String)> {
        coordinator
            .offsets
            .all()
            .map(|(k, v)| (k.clone(), v.offset, v.metadata.clone()))
            .collect()
    }

    #[test]
    fn a_format1_log_is_rewritten_in_kafkas_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let (_logs, log) = offsets_log(dir.path());
        let records = [format1_record("g", 0, 10), format1_record("g", 1, 11)];
        let refs: Vec<RecordRef<'_>> = records
            .iter()
            .map(|(k, v)| (Some(&k[..]), Some(&v[..])))
            .collect();
        log.append(&encode_records(1_000, &refs), 1_000).unwrap();

        let mut old = GroupCoordinator::new(CoordinatorConfig::default());
        replay(&log, &mut old, Legacy::Format1).unwrap();
        let expected = vec![
            (("g".to_string(), "t".to_string(), 0), 10, "md".to_string()),
            (("g".to_string(), "t".to_string(), 1), 11, "md".to_string()),
        ];
        assert_eq!(offsets_of(&old), expected);
        snapshot(&log, &old).unwrap();

        // After the rewrite the log reads as Kafka's format...
        let mut new = GroupCoordinator::new(CoordinatorConfig::default());
        replay(&log, &mut new, Legacy::None).unwrap();
        assert_eq!(offsets_of(&new), expected);
        // ...and, should the broker have died before format-version said 2, as format 1 too.
        let mut again = GroupCoordinator::new(CoordinatorConfig::default());
        replay(&log, &mut again, Legacy::Format1).unwrap();
        assert_eq!(offsets_of(&again), expected);
    }

    #[test]
    fn an_unreadable_record_stops_the_replay_with_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (_logs, log) = offsets_log(dir.path());
        let good = CoordinatorRecord::Offset(("g".into(), "t".into(), 0), None).encode();
        let mut bad_value = bytes::BytesMut::new();
        bad_value.put_i16(9); // no OffsetCommitValue version 9
        let refs: Vec<RecordRef<'_>> = vec![(Some(&good.0[..]), None)];
        log.append(&encode_records(1_000, &refs), 1_000).unwrap();
        let refs: Vec<RecordRef<'_>> = vec![(Some(&good.0[..]), Some(&bad_value[..]))];
        log.append(&encode_records(1_000, &refs), 1_000).unwrap();
        let mut c = GroupCoordinator::new(CoordinatorConfig::default());
        let err = replay(&log, &mut c, Legacy::None).unwrap_err();
        assert!(
            matches!(err, ReplayError::Record { offset: 1, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("__consumer_offsets-0"), "{err}");
    }
}
