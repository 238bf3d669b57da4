//! Idempotence (KIP-98, KIP-360, KIP-679): the producer id and epoch, each partition's sequence numbers,
//! and what to do when a batch fails. Pure: no I/O and no clock, so every rule is unit-tested.
//!
//! The rules, as the Java producer applies them:
//! - sequences count records per partition from 0 and wrap from `i32::MAX` to 0;
//! - a retried batch keeps its sequence, so a broker that already wrote it answers with the original
//!   offset (or DUPLICATE_SEQUENCE_NUMBER) instead of writing it twice;
//! - OUT_OF_ORDER_SEQUENCE_NUMBER for a batch that is not the next after the last acknowledged one means
//!   an earlier batch failed first: retry it, in order, after that one;
//! - a batch that fails for good after it was sent leaves its sequence unresolved: the epoch is bumped
//!   locally (a new producer id when the epoch would overflow) and every partition starts again at 0;
//! - UNKNOWN_PRODUCER_ID after the log start moved past everything acknowledged means retention removed
//!   the producer's state: bump and retry; otherwise it fails like any unresolved sequence.

use kafkaroo_records::ProducerState;
use kafkaroo_wire::ErrorCode;

/// The producer id and epoch from InitProducerId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerId {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
}

impl ProducerId {
    /// The next epoch, or `None` when it would overflow and a new producer id is needed.
    pub(crate) fn bumped(self) -> Option<Self> {
        let epoch = self.epoch.checked_add(1)?;
        Some(Self { id: self.id, epoch })
    }

    pub(crate) fn state(self, base_sequence: i32) -> ProducerState {
        ProducerState {
            producer_id: self.id,
            producer_epoch: self.epoch,
            base_sequence,
        }
    }
}

/// `seq + by`, wrapping from `i32::MAX` to 0 as the broker does.
pub(crate) fn increment(seq: i32, by: i32) -> i32 {
    if seq > i32::MAX - by {
        by - (i32::MAX - seq) - 1
    } else {
        seq + by
    }
}

/// One partition's sequence numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sequences {
    /// The sequence of the next new batch's first record.
    pub(crate) next: i32,
    /// The last record sequence the broker acknowledged under the current epoch.
    pub(crate) last_acked: Option<i32>,
    /// Its offset.
    pub(crate) last_acked_offset: Option<i64>,
}

impl Sequences {
    /// Takes the sequences of a new batch of `count` records; returns its base sequence.
    pub(crate) fn assign(&mut self, count: i32) -> i32 {
        let base = self.next;
        self.next = increment(base, count);
        base
    }

    /// Records an acknowledged batch.
    pub(crate) fn acked(&mut self, base_sequence: i32, count: i32, base_offset: i64) {
        let last = increment(base_sequence, count - 1);
        let newer = self.last_acked.is_none_or(|l| is_after(last, l));
        if newer {
            self.last_acked = Some(last);
            if base_offset >= 0 {
                self.last_acked_offset = Some(base_offset + i64::from(count) - 1);
            }
        }
    }

    /// Whether `base_sequence` is the batch right after the last acknowledged one.
    pub(crate) fn is_next(&self, base_sequence: i32) -> bool {
        match self.last_acked {
            Some(l) => base_sequence == increment(l, 1),
            None => base_sequence == 0,
        }
    }
}

/// `a` comes after `b` in sequence order, allowing for one wrap.
fn is_after(a: i32, b: i32) -> bool {
    let d = i64::from(a) - i64::from(b);
    (d > 0 && d < i64::from(i32::MAX / 2)) || d < -i64::from(i32::MAX / 2)
}

/// What to do with a batch after the broker answered (or the request failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// The batch is written.
    Success,
    /// Send it again (same sequence, unless the epoch is bumped first).
    Retry,
    /// Fail its records.
    Fail,
}

/// The decision, and what must happen before the next send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) action: Action,
    /// Leaders may have moved: refresh metadata.
    pub(crate) refresh_metadata: bool,
    /// Sequences are unresolved: bump the epoch and start every partition at 0.
    pub(crate) bump_epoch: bool,
}

/// The facts a decision needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context {
    pub(crate) idempotent: bool,
    /// Attempts and time remain.
    pub(crate) can_retry: bool,
    pub(crate) base_sequence: i32,
    pub(crate) sequences: Sequences,
    /// From the response (-1 if unknown).
    pub(crate) log_start_offset: i64,
}

/// Errors after which the partition's leader may have moved (Java's `InvalidMetadataException`s).
pub(crate) fn is_metadata_error(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NOT_LEADER_OR_FOLLOWER
            | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            | ErrorCode::LEADER_NOT_AVAILABLE
            | ErrorCode::FENCED_LEADER_EPOCH
            | ErrorCode::UNKNOWN_LEADER_EPOCH
            | ErrorCode::KAFKA_STORAGE_ERROR
            | ErrorCode::NOT_COORDINATOR
    )
}

/// Decides a batch's fate from the partition's error code; `None` is a transport failure (the batch
/// may or may not have been written).
pub(crate) fn decide(code: Option<ErrorCode>, cx: &Context) -> Decision {
    let decision = |action, refresh_metadata| Decision {
        action,
        refresh_metadata,
        // A sent batch that fails leaves a hole in the partition's sequences.
        bump_epoch: cx.idempotent && action == Action::Fail,
    };
    let retry_or_fail = |refresh| {
        if cx.can_retry {
            decision(Action::Retry, refresh)
        } else {
            decision(Action::Fail, refresh)
        }
    };
    let Some(code) = code else {
        return retry_or_fail(true);
    };
    match code {
        ErrorCode::NONE => decision(Action::Success, false),
        ErrorCode::DUPLICATE_SEQUENCE_NUMBER if cx.idempotent => decision(Action::Success, false),
        ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER if cx.idempotent => {
            if cx.sequences.is_next(cx.base_sequence) {
                decision(Action::Fail, false)
            } else {
                // An earlier batch failed first; this one goes again after it.
                retry_or_fail(false)
            }
        }
        ErrorCode::UNKNOWN_PRODUCER_ID if cx.idempotent => {
            let removed_by_retention = cx
                .sequences
                .last_acked_offset
                .is_some_and(|o| cx.log_start_offset > o);
            if removed_by_retention && cx.can_retry {
                Decision {
                    action: Action::Retry,
                    refresh_metadata: false,
                    bump_epoch: true,
                }
            } else {
                decision(Action::Fail, false)
            }
        }
        code if code.is_retriable() => retry_or_fail(is_metadata_error(code)),
        _ => decision(Action::Fail, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(base_sequence: i32, last_acked: Option<i32>) -> Context {
        Context {
            idempotent: true,
            can_retry: true,
            base_sequence,
            sequences: Sequences {
                next: 100,
                last_acked,
                last_acked_offset: last_acked.map(|s| 1000 + i64::from(s)),
            },
            log_start_offset: 0,
        }
    }

    #[test]
    fn sequences_wrap_like_the_broker() {
        assert_eq!(increment(5, 3), 8);
        assert_eq!(increment(i32::MAX, 1), 0);
        assert_eq!(increment(i32::MAX - 1, 3), 1);
        let mut s = Sequences {
            next: i32::MAX - 1,
            ..Sequences::default()
        };
        assert_eq!(s.assign(5), i32::MAX - 1);
        assert_eq!(s.next, 3);
        s.acked(i32::MAX - 1, 5, 10);
        assert_eq!((s.last_acked, s.last_acked_offset), (Some(2), Some(14)));
        assert!(s.is_next(3));
        // An older acknowledgement (a late duplicate) does not move it back.
        s.acked(i32::MAX - 10, 2, 1);
        assert_eq!(s.last_acked, Some(2));
    }

    #[test]
    fn out_of_order_is_retried_behind_an_earlier_failure_and_fails_when_next() {
        let later = decide(Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER), &cx(20, Some(9)));
        assert_eq!((later.action, later.bump_epoch), (Action::Retry, false));
        let next = decide(Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER), &cx(10, Some(9)));
        assert_eq!((next.action, next.bump_epoch), (Action::Fail, true));
        let first = decide(Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER), &cx(0, None));
        assert_eq!(first.action, Action::Fail);
    }

    #[test]
    fn duplicates_are_successes_and_retries_keep_order() {
        let d = decide(Some(ErrorCode::DUPLICATE_SEQUENCE_NUMBER), &cx(10, Some(9)));
        assert_eq!(d.action, Action::Success);
        let t = decide(None, &cx(10, Some(9)));
        assert_eq!(
            (t.action, t.refresh_metadata, t.bump_epoch),
            (Action::Retry, true, false)
        );
        let n = decide(Some(ErrorCode::NOT_LEADER_OR_FOLLOWER), &cx(10, Some(9)));
        assert_eq!((n.action, n.refresh_metadata), (Action::Retry, true));
        let r = decide(Some(ErrorCode::NOT_ENOUGH_REPLICAS), &cx(10, Some(9)));
        assert_eq!((r.action, r.refresh_metadata), (Action::Retry, false));
    }

    #[test]
    fn exhausted_or_fatal_failures_bump_the_epoch() {
        let mut c = cx(10, Some(9));
        c.can_retry = false;
        let d = decide(Some(ErrorCode::REQUEST_TIMED_OUT), &c);
        assert_eq!((d.action, d.bump_epoch), (Action::Fail, true));
        let d = decide(Some(ErrorCode::MESSAGE_TOO_LARGE), &cx(10, Some(9)));
        assert_eq!((d.action, d.bump_epoch), (Action::Fail, true));
        let mut plain = cx(-1, None);
        plain.idempotent = false;
        let d = decide(Some(ErrorCode::MESSAGE_TOO_LARGE), &plain);
        assert_eq!((d.action, d.bump_epoch), (Action::Fail, false));
        assert_eq!(
            ProducerId {
                id: 1,
                epoch: i16::MAX
            }
            .bumped(),
            None
        );
        assert_eq!(
            ProducerId { id: 1, epoch: 4 }.bumped(),
            Some(ProducerId { id: 1, epoch: 5 })
        );
    }

    #[test]
    fn unknown_producer_id_after_retention_is_retried_with_a_new_epoch() {
        let mut c = cx(10, Some(9)); // last acked offset 1009
        c.log_start_offset = 2000;
        let d = decide(Some(ErrorCode::UNKNOWN_PRODUCER_ID), &c);
        assert_eq!((d.action, d.bump_epoch), (Action::Retry, true));
        c.log_start_offset = 5;
        let d = decide(Some(ErrorCode::UNKNOWN_PRODUCER_ID), &c);
        assert_eq!((d.action, d.bump_epoch), (Action::Fail, true));
    }
}
