//! `read_committed` filtering of aborted transactions, as the Java consumer does it.
//!
//! The broker returns data up to the LSO plus the list of transactions aborted in that range,
//! `(producer_id, first_offset)`. Walking the batches in order:
//! 1. every aborted transaction with `first_offset <= batch.last_offset` becomes "active"
//!    (its producer id enters the aborted set);
//! 2. a control batch is never delivered; an ABORT marker removes its producer from the set;
//! 3. a transactional batch from a producer in the set is skipped whole.
//!
//! Batches without a producer id (-1) bypass steps 1-3 (they cannot be transactional).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use crate::batch::RecordBatch;
use crate::control::ControlType;
use crate::error::DecodeError;

/// What to do with a batch under `read_committed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BatchVerdict {
    /// Deliver its records.
    Deliver,
    /// A control batch (transaction marker): advance past it, deliver nothing.
    SkipControl,
    /// Part of an aborted transaction: advance past it, deliver nothing.
    SkipAborted,
}

/// The batch facts the filter needs; lets the algorithm be driven without decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchSummary {
    /// Producer id (-1 if none).
    pub producer_id: i64,
    /// `base_offset + last_offset_delta`.
    pub last_offset: i64,
    /// Attribute bit 4.
    pub is_transactional: bool,
    /// Attribute bit 5.
    pub is_control: bool,
    /// A control batch whose record is an ABORT marker.
    pub is_abort_marker: bool,
}

/// Aborted-transaction filter for one partition's fetch response. Feed it every batch in order,
/// including control batches. One filter per (partition, fetch response).
#[derive(Debug, Clone, Default)]
pub struct AbortedTransactionFilter {
    /// Pending aborted transactions, min-heap by first offset.
    pending: BinaryHeap<Reverse<(i64, i64)>>,
    /// Producers whose transaction is currently aborted.
    aborted: HashSet<i64>,
}

impl AbortedTransactionFilter {
    /// Builds the filter from the response's `aborted_transactions` as `(producer_id, first_offset)`.
    pub fn new(aborted_transactions: impl IntoIterator<Item = (i64, i64)>) -> Self {
        Self {
            pending: aborted_transactions
                .into_iter()
                .map(|(producer_id, first_offset)| Reverse((first_offset, producer_id)))
                .collect(),
            aborted: HashSet::new(),
        }
    }

    /// Classifies a decoded batch (parses the control record of control batches).
    pub fn check(&mut self, batch: &RecordBatch) -> Result<BatchVerdict, DecodeError> {
        let is_abort_marker = batch.is_control()
            && batch.header().producer_id >= 0
            && matches!(
                batch.control_record()?,
                Some(c) if c.kind == ControlType::Abort
            );
        Ok(self.check_summary(&BatchSummary {
            producer_id: batch.header().producer_id,
            last_offset: batch.last_offset(),
            is_transactional: batch.is_transactional(),
            is_control: batch.is_control(),
            is_abort_marker,
        }))
    }

    /// The algorithm itself, on plain facts.
    pub fn check_summary(&mut self, b: &BatchSummary) -> BatchVerdict {
        if b.producer_id >= 0 {
            while let Some(&Reverse((first_offset, producer_id))) = self.pending.peek() {
                if first_offset > b.last_offset {
                    break;
                }
                self.pending.pop();
                self.aborted.insert(producer_id);
            }
            if b.is_control && b.is_abort_marker {
                self.aborted.remove(&b.producer_id);
            } else if !b.is_control && b.is_transactional && self.aborted.contains(&b.producer_id) {
                return BatchVerdict::SkipAborted;
            }
        }
        if b.is_control {
            BatchVerdict::SkipControl
        } else {
            BatchVerdict::Deliver
        }
    }

    /// `true` while some aborted transaction is pending or active.
    pub fn has_aborted(&self) -> bool {
        !self.pending.is_empty() || !self.aborted.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pid: i64, last: i64, txn: bool) -> BatchSummary {
        BatchSummary {
            producer_id: pid,
            last_offset: last,
            is_transactional: txn,
            is_control: false,
            is_abort_marker: false,
        }
    }

    fn marker(pid: i64, offset: i64, abort: bool) -> BatchSummary {
        BatchSummary {
            producer_id: pid,
            last_offset: offset,
            is_transactional: true,
            is_control: true,
            is_abort_marker: abort,
        }
    }

    use BatchVerdict::*;

    #[test]
    fn aborted_transaction_skipped_until_its_marker() {
        // pid 7 aborts a txn spanning offsets 0..=5 (marker at 6); pid 8 commits 3..=4 (marker 5).
        let mut f = AbortedTransactionFilter::new([(7, 0)]);
        assert_eq!(f.check_summary(&data(7, 2, true)), SkipAborted);
        assert_eq!(f.check_summary(&data(8, 4, true)), Deliver);
        assert_eq!(f.check_summary(&marker(8, 5, false)), SkipControl);
        assert_eq!(f.check_summary(&data(7, 5, true)), SkipAborted);
        assert_eq!(f.check_summary(&marker(7, 6, true)), SkipControl);
        // pid 7's next transaction (not aborted) is delivered.
        assert_eq!(f.check_summary(&data(7, 9, true)), Deliver);
        assert!(!f.has_aborted());
    }

    #[test]
    fn abort_only_applies_from_first_offset() {
        let mut f = AbortedTransactionFilter::new([(7, 10)]);
        // Committed txn of pid 7 before the aborted one.
        assert_eq!(f.check_summary(&data(7, 5, true)), Deliver);
        assert_eq!(f.check_summary(&marker(7, 6, false)), SkipControl);
        assert_eq!(f.check_summary(&data(7, 12, true)), SkipAborted);
        assert_eq!(f.check_summary(&marker(7, 13, true)), SkipControl);
        assert_eq!(f.check_summary(&data(7, 14, true)), Deliver);
    }

    #[test]
    fn non_transactional_and_no_producer_batches_always_delivered() {
        let mut f = AbortedTransactionFilter::new([(7, 0), (-1, 0)]);
        assert_eq!(f.check_summary(&data(7, 3, false)), Deliver);
        assert_eq!(f.check_summary(&data(-1, 3, false)), Deliver);
        assert_eq!(f.check_summary(&data(7, 4, true)), SkipAborted);
    }

    #[test]
    fn same_producer_aborting_twice() {
        // Two aborted txns of pid 3, first offsets 0 and 20.
        let mut f = AbortedTransactionFilter::new([(3, 20), (3, 0)]);
        assert_eq!(f.check_summary(&data(3, 1, true)), SkipAborted);
        assert_eq!(f.check_summary(&marker(3, 2, true)), SkipControl);
        assert_eq!(f.check_summary(&data(3, 10, true)), Deliver);
        assert_eq!(f.check_summary(&marker(3, 11, false)), SkipControl);
        assert_eq!(f.check_summary(&data(3, 21, true)), SkipAborted);
        assert_eq!(f.check_summary(&marker(3, 22, true)), SkipControl);
        assert_eq!(f.check_summary(&data(3, 23, true)), Deliver);
    }

    #[test]
    fn commit_marker_does_not_clear_abort() {
        let mut f = AbortedTransactionFilter::new([(5, 0)]);
        assert_eq!(f.check_summary(&marker(5, 0, false)), SkipControl);
        assert_eq!(f.check_summary(&data(5, 1, true)), SkipAborted);
    }
}
