//! Commits as the application sees them, in group mode and in assign mode alike: the offsets
//! ([`OffsetAndMetadata`]), a commit's outcome ([`PendingCommit`]), the handle that commits from
//! anywhere ([`CommitHandle`]), and the stored offsets and auto-commit schedule both modes keep
//! ([`CommitState`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use kafkaroo_group::member::{CommitOutcome, OffsetToCommit};
use tokio::sync::oneshot;

use crate::error::Error;
use crate::record::{ConsumerRecord, TopicPartition};

/// An offset to commit, or a committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record (KIP-320).
    pub leader_epoch: Option<i32>,
    /// Commit metadata.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// An offset without epoch or metadata.
    pub fn new(offset: i64) -> Self {
        Self {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }

    /// What the commit request carries for `tp`.
    pub(crate) fn into_commit(self, tp: TopicPartition) -> OffsetToCommit {
        OffsetToCommit {
            partition: tp,
            offset: self.offset,
            leader_epoch: self.leader_epoch,
            metadata: self.metadata,
        }
    }

    /// The offset after `record` (what to commit once it is processed), with its leader epoch, so a
    /// single record can be committed the way `store_offset` would.
    pub fn after(record: &ConsumerRecord) -> Self {
        let epoch = record.leader_epoch();
        Self {
            offset: record.offset() + 1,
            leader_epoch: (epoch >= 0).then_some(epoch),
            metadata: None,
        }
    }
}

/// The outcome of a commit, to await (or drop: the commit goes on).
#[must_use = "a PendingCommit does nothing unless awaited; dropping it is fine if the outcome is not needed"]
#[derive(Debug)]
pub struct PendingCommit {
    rx: oneshot::Receiver<Result<(), Error>>,
}

impl PendingCommit {
    pub(crate) fn new(rx: oneshot::Receiver<Result<(), Error>>) -> Self {
        Self { rx }
    }
}

impl Future for PendingCommit {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(Error::Closed)))
    }
}

/// Commits and stores offsets of the group member from anywhere: another task, or inside
/// [`RebalanceListener::on_revoked`](crate::RebalanceListener::on_revoked) (where the revocation
/// waits for the commits started).
///
/// Get one with [`Consumer::commit_handle`](crate::Consumer::commit_handle), before or after
/// `subscribe`. Without `subscribe`, a consumer with a `group.id` commits for the partitions it
/// `assign`ed (generation -1, as Java's consumer does); without a `group.id` it fails with a
/// configuration error.
#[derive(Clone, Default)]
pub struct CommitHandle {
    /// The group member's, set at `subscribe`.
    pub(crate) group: Arc<OnceLock<Arc<dyn Committer>>>,
    /// With a `group.id`: an `assign`ed consumer's, used until `subscribe`.
    pub(crate) standalone: Option<Arc<dyn Committer>>,
}

/// How one mode commits: the group member (`crate::group`) or an `assign`ed consumer with a
/// `group.id` (`crate::standalone`). [`CommitHandle`] calls either the same way.
pub(crate) trait Committer: Send + Sync {
    /// See [`CommitHandle::commit`].
    fn commit(
        &self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error>;
    /// See [`CommitHandle::store_offset`].
    fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error>;
    /// See [`CommitHandle::commit_stored`].
    fn commit_stored(&self) -> Result<Option<PendingCommit>, Error>;
}

impl std::fmt::Debug for CommitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHandle")
            .field("subscribed", &self.group.get().is_some())
            .finish()
    }
}

impl CommitHandle {
    /// The group member once subscribed, else the assign-mode committer when there is a `group.id`.
    fn committer(&self) -> Result<&dyn Committer, Error> {
        match (self.group.get(), &self.standalone) {
            (Some(group), _) => Ok(group.as_ref()),
            (None, Some(standalone)) => Ok(standalone.as_ref()),
            (None, None) => Err(Error::Config("not subscribed to a consumer group".into())),
        }
    }

    /// Commits `offsets` (the next offset to consume per partition), or with `None` the positions of
    /// every owned partition (what `poll` handed out). Retriable errors are retried until
    /// `request.timeout.ms`; commits land in the order they were started. Refused with
    /// [`Error::NotOwned`] for partitions this member does not own.
    pub fn commit(
        &self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error> {
        self.committer()?.commit(offsets)
    }

    /// Marks `record` as processed: [`commit_stored`](CommitHandle::commit_stored) commits the offset
    /// after it (with its leader epoch). A group member refuses the store with [`Error::NotOwned`] when
    /// the record's partition was revoked or lost since it was polled (its new owner will process it).
    pub fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        self.committer()?.store_offset(record)
    }

    /// Commits the offsets stored with `store_offset` (`None` when nothing was stored).
    pub fn commit_stored(&self) -> Result<Option<PendingCommit>, Error> {
        self.committer()?.commit_stored()
    }
}

pub(crate) fn outcome_result(outcome: CommitOutcome) -> Result<(), Error> {
    if outcome.is_ok() {
        return Ok(());
    }
    let reason = outcome
        .failed
        .iter()
        .map(|(tp, e)| format!("{tp}: {e}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(Error::Commit {
        failed: outcome.failed.iter().map(|(tp, _)| tp.clone()).collect(),
        reason,
    })
}

/// What group mode and assign mode both keep between commits: the offsets stored with
/// `store_offset` until `commit_stored`, and the auto-commit schedule with what it last committed
/// (an unchanged position is not committed again).
#[derive(Debug, Default)]
pub(crate) struct CommitState {
    stored: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// When the next auto-commit is due (armed at the first look).
    auto_commit_at: Option<Instant>,
    last_auto: BTreeMap<TopicPartition, i64>,
}

impl CommitState {
    pub(crate) fn store(&mut self, tp: TopicPartition, offset: OffsetAndMetadata) {
        self.stored.insert(tp, offset);
    }

    /// Takes the stored offsets (`None` when nothing is stored).
    pub(crate) fn take_stored(&mut self) -> Option<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        (!self.stored.is_empty()).then(|| std::mem::take(&mut self.stored))
    }

    /// Puts back what [`take_stored`](Self::take_stored) took, for a commit that was refused.
    pub(crate) fn restore(&mut self, stored: BTreeMap<TopicPartition, OffsetAndMetadata>) {
        self.stored = stored;
    }

    /// Partitions revoked or lost: what was stored for them, and remembered of their auto-commits,
    /// goes.
    pub(crate) fn forget(&mut self, partitions: &[TopicPartition]) {
        for tp in partitions {
            self.stored.remove(tp);
            self.last_auto.remove(tp);
        }
    }

    /// `Err(when)` while the next auto-commit is not due; the first is due `interval` after the first
    /// look.
    pub(crate) fn auto_commit_due(
        &mut self,
        now: Instant,
        interval: std::time::Duration,
    ) -> Result<(), Instant> {
        let at = *self.auto_commit_at.get_or_insert(now + interval);
        if now < at { Err(at) } else { Ok(()) }
    }

    /// An auto-commit starts: the next is due `interval` from now (returned), and of `positions`
    /// only those that changed since the last auto-commit are committed.
    pub(crate) fn start_auto_commit(
        &mut self,
        now: Instant,
        interval: std::time::Duration,
        positions: Vec<OffsetToCommit>,
    ) -> (Instant, Vec<OffsetToCommit>) {
        let next = now + interval;
        self.auto_commit_at = Some(next);
        let changed = positions
            .into_iter()
            .filter(|o| self.last_auto.get(&o.partition) != Some(&o.offset))
            .collect();
        (next, changed)
    }

    /// The auto-commit of `offsets` was sent.
    pub(crate) fn auto_committed(&mut self, offsets: &[(TopicPartition, i64)]) {
        self.last_auto.extend(offsets.iter().cloned());
    }

    /// The auto-commit of `offsets` failed: the next one commits them again.
    pub(crate) fn auto_commit_failed(&mut self, offsets: &[(TopicPartition, i64)]) {
        for (tp, offset) in offsets {
            if self.last_auto.get(tp) == Some(offset) {
                self.last_auto.remove(tp);
            }
        }
    }
}

/// The partitions and offsets of `offsets`, to remember what an auto-commit sent.
pub(crate) fn sent(offsets: &[OffsetToCommit]) -> Vec<(TopicPartition, i64)> {
    offsets.iter().map(|o| (o.partition.clone(), o.offset)).collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(tp: &TopicPartition, offset: i64) -> OffsetToCommit {
        OffsetToCommit::new(tp.clone(), offset)
    }

    #[test]
    fn auto_commit_is_due_each_interval_and_skips_unchanged_positions() {
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let interval = Duration::from_secs(5);
        let now = Instant::now();
        let mut state = CommitState::default();
        assert_eq!(
            state.auto_commit_due(now, interval),
            Err(now + interval),
            "armed at the first look"
        );
        let due = now + interval;
        assert_eq!(state.auto_commit_due(due, interval), Ok(()));
        let (next, offsets) = state.start_auto_commit(due, interval, vec![at(&a, 3), at(&b, 7)]);
        assert_eq!((next, offsets.len()), (due + interval, 2));
        state.auto_committed(&sent(&offsets));
        assert_eq!(state.auto_commit_due(due, interval), Err(next));
        let (_, offsets) = state.start_auto_commit(next, interval, vec![at(&a, 3), at(&b, 9)]);
        assert_eq!(
            offsets,
            vec![at(&b, 9)],
            "an unchanged position is not committed again"
        );
        state.auto_committed(&sent(&offsets));
        // b failed: the next auto-commit sends it again; a (committed earlier) stays skipped.
        state.auto_commit_failed(&[(b.clone(), 9)]);
        let (_, offsets) = state.start_auto_commit(next, interval, vec![at(&a, 3), at(&b, 9)]);
        assert_eq!(offsets, vec![at(&b, 9)]);
        // A partition revoked and assigned back is committed again.
        state.forget(std::slice::from_ref(&a));
        let (_, offsets) = state.start_auto_commit(next, interval, vec![at(&a, 3)]);
        assert_eq!(offsets, vec![at(&a, 3)]);
    }

    #[test]
    fn stored_offsets_are_taken_once_and_forgotten_with_their_partition() {
        let (a, b) = (TopicPartition::new("t", 0), TopicPartition::new("t", 1));
        let mut state = CommitState::default();
        assert!(state.take_stored().is_none());
        state.store(a.clone(), OffsetAndMetadata::new(4));
        state.store(b.clone(), OffsetAndMetadata::new(8));
        state.forget(std::slice::from_ref(&b));
        let taken = state.take_stored().expect("stored");
        assert_eq!(taken.keys().collect::<Vec<_>>(), [&a]);
        assert!(state.take_stored().is_none(), "taken once");
        state.restore(taken);
        assert_eq!(
            state.take_stored().map(|s| s[&a].offset),
            Some(4),
            "a refused commit gives them back"
        );
    }
}
