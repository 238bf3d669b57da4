//! The rebalance listener, and the context its callbacks get to act on the consumer.

use super::GroupShared;
use crate::commit::{OffsetAndMetadata, PendingCommit};
use crate::control;
use crate::engine::OffsetSpec;
use crate::error::Error;
use crate::record::TopicPartition;

/// Callbacks on partition ownership changes of a group member.
///
/// They run on the application's task inside [`Consumer::poll`](crate::Consumer::poll),
/// [`recv`](crate::Consumer::recv) or [`close`](crate::Consumer::close), in the order the changes
/// happened, so the records of earlier polls are processed when they run (Java's contract):
/// - `on_assigned` when a rebalance completed, with the newly added partitions (possibly none). They
///   are assigned already: they can be paused or seeked (a seek overrides the committed offset they
///   would start from);
/// - `on_revoked` with partitions being given up. No record of them is handed out any more. Commits
///   started here (through the [`RebalanceContext`] or a [`CommitHandle`](crate::CommitHandle), e.g.
///   `commit(None)` for the positions, or `commit_stored()`) complete before the partitions are
///   released to another member; with `enable.auto.commit` their positions are committed as well;
/// - `on_lost` when membership was lost: the partitions may already belong to another member, nothing
///   of them is committed.
///
/// Each callback has a `_with` form that also gets a [`RebalanceContext`], through which it can pause,
/// resume, seek, read positions and commit, as a Java listener calls into its consumer. Implement
/// whichever form you need: the `_with` forms call the plain ones by default, so implement one form
/// per callback, not both.
///
/// Offsets stored with `store_offset` for partitions that were revoked or lost are dropped after the
/// callback.
///
/// ```
/// use kafkaroo::{RebalanceContext, RebalanceListener, TopicPartition};
///
/// /// The application paused everything (its worker queue is full): partitions it gets meanwhile
/// /// start paused too, and are resumed with the others.
/// struct KeepPaused {
///     paused: std::sync::Arc<std::sync::atomic::AtomicBool>,
/// }
///
/// impl RebalanceListener for KeepPaused {
///     fn on_assigned_with(&mut self, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
///         if self.paused.load(std::sync::atomic::Ordering::Relaxed) {
///             ctx.pause(partitions).expect("newly assigned partitions are assigned");
///         }
///     }
/// }
/// ```
pub trait RebalanceListener: Send {
    /// Partitions newly assigned.
    fn on_assigned(&mut self, _partitions: &[TopicPartition]) {}
    /// Partitions about to be given up.
    fn on_revoked(&mut self, _partitions: &[TopicPartition]) {}
    /// Partitions already lost.
    fn on_lost(&mut self, _partitions: &[TopicPartition]) {}

    /// Partitions newly assigned, with the consumer's [`RebalanceContext`]. Calls
    /// [`on_assigned`](RebalanceListener::on_assigned) unless implemented.
    fn on_assigned_with(&mut self, _ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.on_assigned(partitions);
    }
    /// Partitions about to be given up, with the consumer's [`RebalanceContext`] (they are no longer
    /// fetched: they cannot be paused or seeked, but their positions can be read and committed). Calls
    /// [`on_revoked`](RebalanceListener::on_revoked) unless implemented.
    fn on_revoked_with(&mut self, _ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.on_revoked(partitions);
    }
    /// Partitions already lost, with the consumer's [`RebalanceContext`]. Calls
    /// [`on_lost`](RebalanceListener::on_lost) unless implemented.
    fn on_lost_with(&mut self, _ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        self.on_lost(partitions);
    }
}

/// What a [`RebalanceListener`] callback can do to its consumer while it runs (inside `poll`, `recv`
/// or `close`, on the application's task): the consumer's pause, resume, seek, position and commit
/// calls, for the partitions the consumer has. Partitions being revoked are no longer fetched, so
/// pausing or seeking them fails with [`Error::NotAssigned`]; their positions can still be read and
/// committed until the callback returns.
pub struct RebalanceContext<'a> {
    group: &'a GroupShared,
}

impl std::fmt::Debug for RebalanceContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebalanceContext")
            .field("assignment", &self.assignment())
            .finish()
    }
}

impl<'a> RebalanceContext<'a> {
    pub(crate) fn new(group: &'a GroupShared) -> Self {
        Self { group }
    }

    /// The partitions this member owns now, including those being revoked until `on_revoked` returns.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.group.lock().member.assignment()
    }

    /// [`Consumer::pause`](crate::Consumer::pause): in `on_assigned`, the newly assigned partitions
    /// are not fetched at all until resumed.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        control::pause(self.group.engine(), partitions)
    }

    /// [`Consumer::resume`](crate::Consumer::resume).
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        control::resume(self.group.engine(), partitions)
    }

    /// [`Consumer::paused`](crate::Consumer::paused).
    pub fn paused(&self) -> Vec<TopicPartition> {
        control::paused(self.group.engine())
    }

    /// [`Consumer::seek`](crate::Consumer::seek). In `on_assigned`, overrides the committed offset the
    /// partition would start from.
    pub fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<(), Error> {
        control::seek(self.group.engine(), partition, offset)
    }

    /// [`Consumer::seek_to_beginning`](crate::Consumer::seek_to_beginning).
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        control::seek_spec(self.group.engine(), partitions, OffsetSpec::Earliest)
    }

    /// [`Consumer::seek_to_end`](crate::Consumer::seek_to_end).
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        control::seek_spec(self.group.engine(), partitions, OffsetSpec::Latest)
    }

    /// [`Consumer::seek_to_timestamp`](crate::Consumer::seek_to_timestamp).
    pub fn seek_to_timestamp(
        &mut self,
        partitions: &[TopicPartition],
        timestamp_ms: i64,
    ) -> Result<(), Error> {
        control::seek_spec(
            self.group.engine(),
            partitions,
            OffsetSpec::Timestamp(timestamp_ms),
        )
    }

    /// The offset of the next record `poll` hands out for `partition` (for a partition being revoked:
    /// the next one it would have handed out, what a commit of it covers). `None` when not known
    /// yet, without waiting: a newly assigned partition gets its position from the committed offset
    /// (or `auto.offset.reset`) after `on_assigned`, unless it was seeked. Fails with
    /// [`Error::NotAssigned`] for a partition this member does not own.
    pub fn position(&self, partition: &TopicPartition) -> Result<Option<i64>, Error> {
        self.group.position(partition)
    }

    /// [`CommitHandle::commit`](crate::CommitHandle::commit): in `on_revoked`, the partitions are
    /// released only after the commit completed.
    pub fn commit(
        &mut self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error> {
        self.group.commit(offsets)
    }

    /// [`CommitHandle::commit_stored`](crate::CommitHandle::commit_stored): in `on_revoked`, the
    /// partitions are released only after the commit completed.
    pub fn commit_stored(&mut self) -> Result<Option<PendingCommit>, Error> {
        self.group.commit_stored()
    }
}
