//! Transactions in the log: the last stable offset and the aborted-transaction index survive a
//! clean restart, an unclean one, and the loss of the `.txnindex` files (rebuilt from the log).

use std::path::Path;

use gregor_storage::batch::{build_test_batch, build_test_txn_batch};
use gregor_storage::file_names::{CLEAN_SHUTDOWN_FILE, TXN_INDEX_SUFFIX};
use gregor_storage::producer_state::Origin;
use gregor_storage::{AbortedTxn, EndTxnMarker, LogConfig, LogManager, TopicPartition, TxnResult};

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 1024,
        retention_ms: -1,
        ..LogConfig::default()
    }
}

fn tp() -> TopicPartition {
    TopicPartition::new("txn", 0)
}

fn marker(producer_id: i64, result: TxnResult) -> Vec<u8> {
    EndTxnMarker {
        result,
        coordinator_epoch: 0,
    }
    .batch(producer_id, 0, 1_000)
}

/// What a read_committed reader depends on.
#[derive(Debug, PartialEq)]
struct Seen {
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Vec<AbortedTxn>,
    open: Vec<(i64, i64)>,
}

fn seen(manager: &LogManager) -> Seen {
    let log = manager.get(&tp()).unwrap();
    Seen {
        high_watermark: log.high_watermark(),
        last_stable_offset: log.last_stable_offset(),
        aborted: log.aborted_transactions(0, log.high_watermark()),
        open: log.producer_state().ongoing_transactions(),
    }
}

/// Producer 1 aborts a transaction spread over several segments, producer 2 commits one,
/// producer 3 aborts one, producer 4 leaves one open; plain records in between.
fn fill(dir: &Path) -> Seen {
    let manager = LogManager::open(dir, config()).unwrap();
    let log = manager.get_or_create(&tp(), config()).unwrap();
    let plain = |n| log.append(&build_test_batch(n, 40, 1_000), 0).unwrap();
    let txn = |pid, seq, n| {
        log.append(&build_test_txn_batch(pid, 0, seq, n, 1_000), 0)
            .unwrap()
    };
    let end = |pid, result| {
        log.append_as(&marker(pid, result), 0, Origin::Coordinator)
            .unwrap()
    };
    plain(3);
    let first_1 = txn(1, 0, 4).base_offset;
    plain(5);
    txn(2, 0, 2);
    txn(1, 4, 6);
    plain(6);
    txn(1, 10, 3);
    let abort_1 = end(1, TxnResult::Abort).base_offset;
    end(2, TxnResult::Commit);
    let first_3 = txn(3, 0, 2).base_offset;
    let first_4 = txn(4, 0, 2).base_offset;
    plain(4);
    let abort_3 = end(3, TxnResult::Abort).base_offset;
    plain(2);
    assert!(log.segment_count() >= 3, "the transactions span segments");
    let before = seen(&manager);
    assert_eq!(before.last_stable_offset, first_4);
    assert_eq!(before.open, vec![(first_4, 4)]);
    assert_eq!(
        before
            .aborted
            .iter()
            .map(|a| (a.producer_id, a.first_offset, a.last_offset))
            .collect::<Vec<_>>(),
        vec![(1, first_1, abort_1), (3, first_3, abort_3)]
    );
    // Producer 4's open transaction began before producer 3's abort.
    assert_eq!(before.aborted[1].last_stable_offset, first_4);
    // Reads from after producer 1's abort see only producer 3's.
    assert_eq!(log.aborted_transactions(abort_1 + 1, abort_3 + 1).len(), 1);
    before
}

fn txn_index_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("txn-0"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_str().unwrap().ends_with(TXN_INDEX_SUFFIX))
        .collect()
}

#[test]
fn a_clean_restart_keeps_open_transactions_and_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let before = fill(dir.path());
    {
        let manager = LogManager::open(dir.path(), config()).unwrap();
        manager.shutdown().unwrap();
    }
    assert!(dir.path().join(CLEAN_SHUTDOWN_FILE).exists());
    let manager = LogManager::open(dir.path(), config()).unwrap();
    assert_eq!(seen(&manager), before);
}

#[test]
fn an_unclean_restart_rebuilds_them_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let before = fill(dir.path());
    // No shutdown: the next open recovers every segment.
    let manager = LogManager::open(dir.path(), config()).unwrap();
    assert_eq!(seen(&manager), before);
    drop(manager);
    // Lost indexes are rebuilt too.
    let lost = txn_index_files(dir.path());
    assert!(!lost.is_empty());
    for path in lost {
        std::fs::remove_file(path).unwrap();
    }
    let manager = LogManager::open(dir.path(), config()).unwrap();
    assert_eq!(seen(&manager), before);
    // A torn index is rebuilt as well.
    manager.shutdown().unwrap();
    drop(manager);
    let indexed = txn_index_files(dir.path())
        .into_iter()
        .find(|p| std::fs::metadata(p).unwrap().len() > 0)
        .unwrap();
    let bytes = std::fs::read(&indexed).unwrap();
    std::fs::write(&indexed, &bytes[..bytes.len() - 3]).unwrap();
    let manager = LogManager::open(dir.path(), config()).unwrap();
    assert_eq!(seen(&manager), before);
}

#[test]
fn ending_the_open_transaction_after_a_restart_frees_the_last_stable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let before = fill(dir.path());
    let manager = LogManager::open(dir.path(), config()).unwrap();
    let log = manager.get(&tp()).unwrap();
    log.append_as(&marker(4, TxnResult::Commit), 0, Origin::Coordinator)
        .unwrap();
    assert_eq!(log.last_stable_offset(), before.high_watermark + 1);
    assert!(log.producer_state().ongoing_transactions().is_empty());
}

mod crash {
    //! A kill -9 at any byte of the active segment, with or without the transaction index's
    //! last write: after recovery the open transactions, the last stable offset and the
    //! aborted transactions are those of the batches that survived, as an independent model
    //! of Kafka's rules computes them.

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[derive(Debug, Clone)]
    enum Write {
        /// Everything so far synced and the recovery point checkpointed.
        Checkpoint,
        Plain,
        Txn(i64),
        End(i64, bool),
    }

    fn write() -> impl Strategy<Value = Write> {
        prop_oneof![
            1 => Just(Write::Checkpoint),
            2 => Just(Write::Plain),
            4 => (1i64..4).prop_map(Write::Txn),
            3 => ((1i64..4), any::<bool>()).prop_map(|(p, c)| Write::End(p, c)),
        ]
    }

    /// Open transactions (producer -> first offset), last stable offset and aborted
    /// transactions (producer, first, marker).
    type Expected = (BTreeMap<i64, i64>, i64, Vec<(i64, i64, i64)>);

    /// What `writes` at their offsets, up to `end`, leave.
    fn model(writes: &[(i64, Write)], end: i64) -> Expected {
        let mut open = BTreeMap::new();
        let mut aborted = Vec::new();
        for (offset, w) in writes.iter().filter(|(o, _)| *o < end) {
            match w {
                Write::Plain | Write::Checkpoint => {}
                Write::Txn(p) => {
                    open.entry(*p).or_insert(*offset);
                }
                Write::End(p, commit) => {
                    if let Some(first) = open.remove(p) {
                        if !commit {
                            aborted.push((*p, first, *offset));
                        }
                    }
                }
            }
        }
        let lso = open.values().min().copied().unwrap_or(end);
        (open, lso, aborted)
    }

    /// Each batch of a segment file: the offset after it and the byte position after it.
    fn segment_batches(path: &Path) -> Vec<(i64, usize)> {
        let bytes = std::fs::read(path).unwrap();
        let mut out = Vec::new();
        let mut pos = 0;
        while let Ok(h) = gregor_storage::batch::parse_header(&bytes[pos..]) {
            pos += h.size;
            out.push((h.next_offset(), pos));
        }
        out
    }

    fn files(dir: &Path, suffix: &str) -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir.join("txn-0"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_str().unwrap().ends_with(suffix))
            .collect();
        v.sort();
        v
    }

    fn run(writes: Vec<Write>, cut: prop::sample::Index, drop_index_tail: bool) {
        let dir = tempfile::tempdir().unwrap();
        let mut at = Vec::new();
        let mut checkpointed = 0;
        {
            let manager = LogManager::open(dir.path(), config()).unwrap();
            let log = manager.get_or_create(&tp(), config()).unwrap();
            let mut seq = std::collections::HashMap::new();
            for w in writes {
                if let Write::Checkpoint = w {
                    log.flush().unwrap();
                    manager.write_checkpoints().unwrap();
                    checkpointed = log.log_end_offset();
                    continue;
                }
                let info = match &w {
                    Write::Checkpoint => continue,
                    Write::Plain => log.append(&build_test_batch(2, 30, 1_000), 0),
                    Write::Txn(p) => {
                        let s = seq.entry(*p).or_insert(0);
                        *s += 2;
                        log.append(&build_test_txn_batch(*p, 0, *s - 2, 2, 1_000), 0)
                    }
                    Write::End(p, commit) => {
                        let result = if *commit {
                            TxnResult::Commit
                        } else {
                            TxnResult::Abort
                        };
                        log.append_as(&marker(*p, result), 0, Origin::Coordinator)
                    }
                }
                .unwrap();
                at.push((info.base_offset, w));
            }
            // Killed: no shutdown, no flush.
        }
        let last_log = files(dir.path(), ".log").pop().unwrap();
        let base = gregor_storage::file_names::parse_base_offset(
            last_log.file_name().unwrap().to_str().unwrap(),
            ".log",
        )
        .unwrap();
        let batches = segment_batches(&last_log);
        let keep = cut.index(batches.len() + 1);
        let (end, len) = match keep {
            0 => (base, 0),
            k => batches[k - 1],
        };
        // The torn write: the kept batches and the first bytes of the next one.
        let data = std::fs::read(&last_log).unwrap();
        let torn = batches
            .get(keep)
            .map_or(len, |(_, next_end)| (len + 7).min(next_end - 1));
        std::fs::write(&last_log, &data[..torn]).unwrap();
        // The page cache lost the index's last entry: possible only for a marker the last
        // checkpointed flush did not cover.
        if drop_index_tail {
            if let Some(index) = files(dir.path(), TXN_INDEX_SUFFIX).pop() {
                let bytes = std::fs::read(&index).unwrap();
                if bytes.len() >= 34 {
                    let last = &bytes[bytes.len() - 34..];
                    let marker = i64::from_be_bytes(last[18..26].try_into().unwrap());
                    if marker >= checkpointed {
                        std::fs::write(&index, &bytes[..bytes.len() - 34]).unwrap();
                    }
                }
            }
        }
        let manager = LogManager::open(dir.path(), config()).unwrap();
        let log = manager.get(&tp()).unwrap();
        let (open, lso, aborted) = model(&at, end);
        assert_eq!(log.log_end_offset(), end);
        assert_eq!(log.last_stable_offset(), lso);
        let open_seen: BTreeMap<i64, i64> = log
            .producer_state()
            .ongoing_transactions()
            .into_iter()
            .map(|(first, p)| (p, first))
            .collect();
        assert_eq!(open_seen, open);
        let aborted_seen: Vec<_> = log
            .aborted_transactions(0, end)
            .iter()
            .map(|a| (a.producer_id, a.first_offset, a.last_offset))
            .collect();
        assert_eq!(aborted_seen, aborted);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_kill_at_any_batch_recovers_the_transactions_of_what_survived(
            writes in proptest::collection::vec(write(), 1..40),
            cut in any::<prop::sample::Index>(),
            drop_index_tail in any::<bool>(),
        ) {
            run(writes, cut, drop_index_tail);
        }
    }
}

/// A segment's `.txnindex` goes with it when DeleteRecords deletes the segment.
#[test]
fn deleting_a_segment_deletes_its_transaction_index() {
    let dir = tempfile::tempdir().unwrap();
    let manager = LogManager::open(dir.path(), config()).unwrap();
    let log = manager.get_or_create(&tp(), config()).unwrap();
    log.append(&build_test_txn_batch(1, 0, 0, 2, 1_000), 0)
        .unwrap();
    log.append_as(&marker(1, TxnResult::Abort), 0, Origin::Coordinator)
        .unwrap();
    let indexes = txn_index_files(dir.path());
    assert_eq!(indexes.len(), 1);
    while log.segment_count() < 3 {
        log.append(&build_test_batch(3, 40, 1_000), 0).unwrap();
    }
    let second = log.segments()[1].base_offset();
    manager.advance_log_start(&tp(), second).unwrap();
    assert!(!indexes[0].exists(), "the index went with its segment");
    assert!(log
        .aborted_transactions(second, log.high_watermark())
        .is_empty());
}
