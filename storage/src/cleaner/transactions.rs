//! What one cleaning knows of transactions as it walks the log in offset order; Kafka's
//! `CleanedTransactionMetadata`.
//!
//! The aborted transactions of the range (from the transaction indexes) are fed in by first
//! offset. A data batch of a producer whose aborted transaction has begun is aborted: its
//! records are neither mapped nor kept. A commit marker may go once no batch of its
//! transaction is left; an abort marker once its transaction's batches are all gone, and while
//! some still were in this cleaning the marker stays and its index entry is copied into the
//! cleaned segment. Either then waits out `delete.retention.ms` (the delete horizon) as a
//! tombstone does.

use std::collections::{BTreeMap, HashMap, HashSet};

use gregor_record::batch::BatchHeader;
use gregor_record::control::{EndTxnMarker, TxnResult};

use crate::index::AbortedTxn;

/// An aborted transaction the walk has entered.
#[derive(Debug, Clone, Copy)]
struct OngoingAbort {
    txn: AbortedTxn,
    /// Whether a batch of it was seen in this cleaning (then the marker stays).
    batch_seen: bool,
}

/// The transactions a cleaning walks through.
#[derive(Debug, Default)]
pub struct CleanedTransactions {
    /// Aborted transactions not yet entered, by first offset (several may share none: one
    /// producer has one transaction at a time).
    aborted: BTreeMap<(i64, i64), AbortedTxn>,
    /// Known aborted transactions, so one found again in a later segment's search is not fed
    /// in twice.
    known: HashSet<(i64, i64)>,
    /// Producers inside an aborted transaction.
    ongoing_aborted: HashMap<i64, OngoingAbort>,
    /// Producers inside a transaction that is not aborted (committed, or not yet ended).
    ongoing_committed: HashSet<i64>,
}

impl CleanedTransactions {
    /// Feeds in aborted transactions found in the indexes.
    pub fn add_aborted(&mut self, txns: impl IntoIterator<Item = AbortedTxn>) {
        for txn in txns {
            let key = (txn.first_offset, txn.producer_id);
            if self.known.insert(key) {
                self.aborted.insert(key, txn);
            }
        }
    }

    fn enter_up_to(&mut self, offset: i64) {
        while let Some(entry) = self.aborted.first_entry() {
            if entry.key().0 > offset {
                break;
            }
            let txn = entry.remove();
            self.ongoing_aborted
                .entry(txn.producer_id)
                .or_insert(OngoingAbort {
                    txn,
                    batch_seen: false,
                });
        }
    }

    /// A data batch: whether it belongs to an aborted transaction (Kafka's `onBatchRead`).
    pub fn on_batch(&mut self, header: &BatchHeader) -> bool {
        self.enter_up_to(header.last_offset());
        if !header.is_transactional() {
            return false;
        }
        match self.ongoing_aborted.get_mut(&header.producer_id) {
            Some(abort) => {
                abort.batch_seen = true;
                true
            }
            None => {
                self.ongoing_committed.insert(header.producer_id);
                false
            }
        }
    }

    /// A control batch (`batch` starts with it): whether it may be removed, and for an abort
    /// marker that stays, the index entry the cleaned segment must keep (Kafka's
    /// `onControlBatchRead`).
    pub fn on_control_batch(
        &mut self,
        batch: &[u8],
        header: &BatchHeader,
    ) -> (bool, Option<AbortedTxn>) {
        self.enter_up_to(header.last_offset());
        if header.record_count == 0 {
            // Emptied by an earlier cleaning: nothing left to keep.
            return (true, None);
        }
        let pid = header.producer_id;
        match EndTxnMarker::parse(batch, header).map(|m| m.result) {
            Some(TxnResult::Abort) => match self.ongoing_aborted.remove(&pid) {
                Some(abort) if abort.batch_seen => (false, Some(abort.txn)),
                _ => (true, None),
            },
            Some(TxnResult::Commit) => (!self.ongoing_committed.remove(&pid), None),
            // A control record of another type (or one that does not parse) stays.
            None => (false, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{build_test_batch, build_test_txn_batch, parse_header};

    fn aborted(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    fn at(mut batch: Vec<u8>, offset: i64) -> Vec<u8> {
        crate::batch::set_base_offset(&mut batch, offset);
        batch
    }

    fn marker(pid: i64, result: TxnResult, offset: i64) -> Vec<u8> {
        at(
            EndTxnMarker {
                result,
                coordinator_epoch: 0,
            }
            .batch(pid, 0, 0),
            offset,
        )
    }

    #[test]
    fn aborted_batches_go_and_markers_stay_while_their_batches_do() {
        let mut t = CleanedTransactions::default();
        t.add_aborted([aborted(1, 0, 3)]);
        t.add_aborted([aborted(1, 0, 3)]);
        let data = at(build_test_txn_batch(1, 0, 0, 2, 0), 0);
        assert!(t.on_batch(&parse_header(&data).unwrap()));
        let committed = at(build_test_txn_batch(2, 0, 0, 1, 0), 2);
        assert!(!t.on_batch(&parse_header(&committed).unwrap()));
        let plain = at(build_test_batch(1, 1, 0), 2);
        assert!(!t.on_batch(&parse_header(&plain).unwrap()));
        let abort = marker(1, TxnResult::Abort, 3);
        let (discard, keep) = t.on_control_batch(&abort, &parse_header(&abort).unwrap());
        assert!(!discard);
        assert_eq!(keep, Some(aborted(1, 0, 3)));
        let commit = marker(2, TxnResult::Commit, 4);
        assert_eq!(
            t.on_control_batch(&commit, &parse_header(&commit).unwrap()),
            (false, None)
        );

        // The next cleaning finds no batch of either transaction: both markers may go.
        let mut t = CleanedTransactions::default();
        t.add_aborted([aborted(1, 0, 3)]);
        assert_eq!(
            t.on_control_batch(&abort, &parse_header(&abort).unwrap()),
            (true, None)
        );
        assert_eq!(
            t.on_control_batch(&commit, &parse_header(&commit).unwrap()),
            (true, None)
        );
    }
}
