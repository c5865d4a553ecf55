//! Loading a coordinator's state from its internal log at start-up; Kafka's
//! CoordinatorLoaderImpl. Every record of `__consumer_offsets` is read back in order into a
//! fresh `GroupCoordinator`; a record that cannot be read stops the start with its file and
//! offset. A log in the format-1 layout is then rewritten as one snapshot of what is live, and
//! its log start moved past the rest; otherwise the log cleaner keeps the log small (the topic
//! is compacted, as Kafka's is).

use gregor_protocol::record_batch::{decode_records, parse_batches, BatchHeader};
use gregor_storage::PartitionLog;

use super::classic_group::ClassicGroup;
use super::group_apis::Changes;
use super::group_coordinator::{CoordinatorConfig, GroupCoordinator};
use super::records::{encode_batch, CoordinatorRecord, Legacy, RecordError};
use super::writer::AppendBatches;
use crate::broker::now_ms;
use bytes::Bytes;

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

/// Calls `apply` with the header and bytes of every batch of `log`, in order: the walk the
/// group and the transaction coordinators' loads share.
pub(crate) fn for_each_batch(
    log: &PartitionLog,
    mut apply: impl FnMut(&BatchHeader, &[u8]) -> Result<(), ReplayError>,
) -> Result<(), ReplayError> {
    let mut offset = log.log_start_offset();
    let end = log.log_end_offset();
    while offset < end {
        let chunk = log
            .read(offset, 1 << 20)
            .map_err(|e| ReplayError::read(log, offset, e))?;
        if chunk.records.is_empty() {
            break;
        }
        let headers =
            parse_batches(&chunk.records).map_err(|e| ReplayError::read(log, offset, e))?;
        let mut pos = 0;
        for h in headers {
            let batch = &chunk.records[pos..pos + h.size];
            pos += h.size;
            offset = h.base_offset + i64::from(h.last_offset_delta) + 1;
            apply(&h, batch)?;
        }
    }
    Ok(())
}

impl ReplayError {
    /// `log` could not be read at `offset`.
    pub(crate) fn read(log: &PartitionLog, offset: i64, cause: impl std::fmt::Display) -> Self {
        ReplayError::Read {
            log: log.dir().display().to_string(),
            offset,
            cause: cause.to_string(),
        }
    }
}

/// Applies every record of the offsets log; returns (records applied, records read).
fn replay(
    log: &PartitionLog,
    coordinator: &mut GroupCoordinator,
    legacy: Legacy,
) -> Result<(usize, usize), ReplayError> {
    let name = log.dir().display().to_string();
    let mut applied = 0;
    let mut read = 0;
    for_each_batch(log, |h, batch| {
        let batch_offset = h.base_offset;
        let records = decode_records(batch).map_err(|e| ReplayError::read(log, batch_offset, e))?;
        if h.is_control() {
            // A transaction's marker: its pending offsets are committed or dropped.
            let kind = records
                .first()
                .and_then(|(k, _)| k.as_deref())
                .and_then(gregor_record::control::ControlRecordType::parse);
            match kind {
                Some(gregor_record::control::ControlRecordType::Commit) => {
                    coordinator.complete_txn_offsets(h.producer_id, true)
                }
                Some(gregor_record::control::ControlRecordType::Abort) => {
                    coordinator.complete_txn_offsets(h.producer_id, false)
                }
                _ => {}
            }
            read += records.len();
            return Ok(());
        }
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
            let record = match record {
                // An offset of a transaction: pending until its marker.
                Some(CoordinatorRecord::Offset(key, Some(value))) if h.is_transactional() => {
                    Some(CoordinatorRecord::TxnOffset {
                        producer_id: h.producer_id,
                        producer_epoch: h.producer_epoch,
                        key,
                        value,
                    })
                }
                other => other,
            };
            match record {
                // A group's last metadata: members, generation and assignment, as they
                // were (the runtime's clock starts at 0 once replay is done).
                Some(CoordinatorRecord::Group(id, Some(meta))) => {
                    let restored = ClassicGroup::from_metadata(&id, &meta, 0);
                    coordinator.groups.insert(id, restored);
                    applied += 1;
                }
                Some(record) => {
                    coordinator.apply_records(vec![record]);
                    applied += 1;
                }
                None => {}
            }
        }
        Ok(())
    })?;
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
    coordinator.apply_records(emptied);
    Ok((applied, read))
}

/// Appends what is live (groups' metadata and offsets) as one snapshot through `append`, and
/// moves the log start past everything before it.
fn snapshot(
    log: &PartitionLog,
    append: &AppendBatches,
    coordinator: &GroupCoordinator,
) -> Result<(), String> {
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
    let first = match encode_batch(&records, now_ms()) {
        Some(batch) => append(Bytes::from(batch))?,
        // Nothing live: everything before the end is superseded.
        None => log.log_end_offset(),
    };
    log.advance_log_start(first).map_err(|e| e.to_string())?;
    tracing::info!(
        records = records.len(),
        from = first,
        "rewrote the offsets log in Kafka's schemas"
    );
    Ok(())
}

/// Replays `log` into a new coordinator (offset values of version 1 read as `legacy` says),
/// rewriting a format-1 log through `append`.
pub fn load(
    log: &PartitionLog,
    append: &AppendBatches,
    config: CoordinatorConfig,
    legacy: Legacy,
) -> Result<GroupCoordinator, ReplayError> {
    let mut coordinator = GroupCoordinator::new(config);
    let (records, _) = replay(log, &mut coordinator, legacy)?;
    // Members restored from the log get a full session to heartbeat again.
    coordinator.consumer.on_loaded(0);
    tracing::info!(
        records,
        groups = coordinator.groups.len(),
        consumer_groups = coordinator.consumer.groups.len(),
        committed_partitions = coordinator.offsets.len(),
        "replayed __consumer_offsets"
    );
    if legacy == Legacy::Format1 {
        // Everything live, rewritten in Kafka's schemas, and the old records dropped: after
        // this the data dir may say format 2. Should a crash come first, a restart reads the
        // old records as format 1 again and the rewritten ones (value v3) as Kafka's.
        snapshot(log, append, &coordinator).map_err(|cause| ReplayError::Upgrade {
            log: log.dir().display().to_string(),
            cause,
        })?;
    }
    Ok(coordinator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;
    use gregor_protocol::record_batch::{encode_records, RecordRef};
    use gregor_storage::{LogConfig, LogManager, TopicPartition};
    use std::sync::Arc;

    use crate::coordinator::offsets::OffsetKey;

    fn log_appender(log: &Arc<PartitionLog>) -> AppendBatches {
        let log = log.clone();
        Arc::new(move |batches: Bytes| {
            log.append(&batches, 1_000)
                .map(|info| info.base_offset)
                .map_err(|e| e.to_string())
        })
    }

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
        snapshot(&log, &log_appender(&log), &old).unwrap();

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
    fn transactional_offsets_replay_as_pending_until_their_marker() {
        use gregor_record::control::{EndTxnMarker, TxnResult};
        let dir = tempfile::tempdir().unwrap();
        let (_logs, log) = offsets_log(dir.path());
        let txn = |producer_id: i64, offset: i64| CoordinatorRecord::TxnOffset {
            producer_id,
            producer_epoch: 0,
            key: ("g".into(), "t".into(), producer_id as i32),
            value: crate::coordinator::offsets::CommittedOffset {
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_time_ms: 1_000,
            },
        };
        // Producer 1 commits, producer 2 aborts, producer 3 is still open.
        for (pid, offset) in [(1, 10), (2, 20), (3, 30)] {
            log.append(&encode_batch(&[txn(pid, offset)], 1_000).unwrap(), 1_000)
                .unwrap();
        }
        for (pid, result) in [(1, TxnResult::Commit), (2, TxnResult::Abort)] {
            let marker = EndTxnMarker {
                result,
                coordinator_epoch: 0,
            }
            .batch(pid, 0, 1_000);
            log.append(&marker, 1_000).unwrap();
        }
        let mut c = GroupCoordinator::new(CoordinatorConfig::default());
        replay(&log, &mut c, Legacy::None).unwrap();
        assert_eq!(c.offsets.get("g", "t", 1).map(|o| o.offset), Some(10));
        assert!(c.offsets.get("g", "t", 2).is_none(), "aborted");
        assert!(c.offsets.get("g", "t", 3).is_none(), "still pending");
        assert!(c.pending_txn_offsets.is_pending("g", "t", 3));
        assert!(!c.pending_txn_offsets.is_pending("g", "t", 1));
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

    #[test]
    fn consumer_groups_come_back_with_members_epochs_and_assignments() {
        use crate::coordinator::group::manager::HeartbeatRequest;
        use crate::coordinator::group::topics::{TopicImage, TopicInfo, TopicSource};
        let dir = tempfile::tempdir().unwrap();
        let (_logs, log) = offsets_log(dir.path());
        let topics = || {
            TopicImage::new([TopicInfo {
                id: uuid::Uuid::from_u128(1),
                name: "t".into(),
                partitions: 3,
            }])
        };
        let config = CoordinatorConfig {
            topics: TopicSource::new(topics),
            ..CoordinatorConfig::default()
        };
        let mut before = GroupCoordinator::new(config.clone());
        for member in ["a", "b"] {
            let req = HeartbeatRequest {
                group_id: "g".into(),
                member_id: member.into(),
                rebalance_timeout_ms: 10_000,
                subscribed_topic_names: Some(vec!["t".into()]),
                owned: Some(Default::default()),
                member_id_required: true,
                ..HeartbeatRequest::default()
            };
            let (response, records) = before.consumer_group_heartbeat(0, &req);
            assert_eq!(response.error_code, 0);
            log.append(&encode_batch(&records, 1_000).unwrap(), 1_000)
                .unwrap();
            before.apply(records);
        }
        let after = load(&log, &log_appender(&log), config, Legacy::None).unwrap();
        assert_eq!(after.consumer.groups, before.consumer.groups);
        let g = &after.consumer.groups["g"];
        assert_eq!(
            (g.group_epoch, g.assignment_epoch, g.members.len()),
            (2, 2, 2)
        );
        assert!(
            after.groups.is_empty(),
            "no classic group made up from the records"
        );
    }
}
