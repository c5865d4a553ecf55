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
