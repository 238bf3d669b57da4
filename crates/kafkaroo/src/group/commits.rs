//! Starting commits (explicit, stored and auto) for the group member. The member state machine
//! orders them and refuses partitions not owned; the outcome reaches the [`PendingCommit`].

use std::time::{Duration, Instant};

use kafkaroo_group::MemberState;
use kafkaroo_group::member::CommitKind;
use tokio::sync::oneshot;
use tracing::debug;

use super::{GroupShared, Inner};
use crate::commit::{Committer, OffsetAndMetadata, PendingCommit};
use crate::error::Error;
use crate::record::{ConsumerRecord, TopicPartition};
use crate::telemetry::group_error_type;

impl GroupShared {
    /// A sync commit (retried up to `request.timeout.ms`) of `offsets`, or of the owned positions.
    pub(crate) fn commit(
        &self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error> {
        self.start_commit(offsets, Some(self.engine.config.request_timeout))
    }

    /// Commits the offsets stored with `store_offset` (`None` when nothing was stored).
    pub(crate) fn commit_stored(&self) -> Result<Option<PendingCommit>, Error> {
        // Taken and started under one lock: two concurrent calls cannot start their commits in the
        // other order (an older offset landing last), and a refused commit gives the offsets back.
        let mut inner = self.lock();
        let Some(mut stored) = inner.commits.take_stored() else {
            return Ok(None);
        };
        let offsets = stored.clone().into_iter().collect();
        let started = self.start_commit_locked(
            &mut inner,
            Some(offsets),
            Some(self.engine.config.request_timeout),
        );
        match &started {
            Ok(_) => {}
            // Never put back what can never be committed: it would refuse every later commit.
            Err(Error::NotOwned { partitions }) => {
                for tp in partitions {
                    stored.remove(tp);
                }
                inner.commits.restore(stored);
            }
            Err(_) => inner.commits.restore(stored),
        }
        drop(inner);
        let pending = started?;
        self.wake.notify_one();
        Ok(Some(pending))
    }

    /// Queues a commit; `None` offsets commit the positions of owned partitions. `retry_for`: retried
    /// (sync) up to that long, else sent once (async).
    pub(crate) fn start_commit(
        &self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
        retry_for: Option<Duration>,
    ) -> Result<PendingCommit, Error> {
        let mut inner = self.lock();
        let pending = self.start_commit_locked(&mut inner, offsets, retry_for)?;
        drop(inner);
        self.wake.notify_one();
        Ok(pending)
    }

    /// [`start_commit`](Self::start_commit) with the group state already locked; the caller wakes
    /// the group task.
    fn start_commit_locked(
        &self,
        inner: &mut Inner,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
        retry_for: Option<Duration>,
    ) -> Result<PendingCommit, Error> {
        if let Some(e) = &inner.fatal {
            self.engine
                .telemetry
                .commit_failed(crate::telemetry::error_type(e));
            return Err(e.clone());
        }
        let offsets = match offsets {
            Some(o) => o.into_iter().map(|(tp, o)| o.into_commit(tp)).collect(),
            None => self.owned_positions(inner),
        };
        let now = Instant::now();
        let kind = match retry_for {
            Some(t) => CommitKind::Sync { deadline: now + t },
            None => CommitKind::Async,
        };
        let id = inner.commit(offsets, kind, now).map_err(|e| {
            // Refused before it was sent (not owned, rebalance in progress...): a failed commit too.
            self.engine.telemetry.commit_failed(group_error_type(&e));
            Error::from_group(e)
        })?;
        let (tx, rx) = oneshot::channel();
        inner.waiters.insert(id, tx);
        if inner.collecting_revoke_commits {
            inner.revoke_commits.insert(id);
        }
        Ok(PendingCommit::new(rx))
    }

    /// Remembers the offset after `record` for `commit_stored`, if this member owns its partition:
    /// a store for a partition revoked or lost meanwhile (a worker task finishing late) is refused
    /// with [`Error::NotOwned`], under the same lock the revocation drops stored offsets with.
    pub(crate) fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        let tp = TopicPartition::new(record.topic(), record.partition());
        let mut inner = self.lock();
        if !inner.member.owns(&tp) {
            return Err(Error::NotOwned { partitions: vec![tp] });
        }
        inner.commits.store(tp, OffsetAndMetadata::after(record));
        Ok(())
    }

    /// Auto-commit of the positions of owned partitions, every `auto.commit.interval.ms`, from the
    /// application's task (`poll`/`recv`): what earlier polls returned has been processed. Returns
    /// when the next one is due.
    pub(crate) fn maybe_auto_commit(&self) -> Option<Instant> {
        let config = &self.engine.config;
        if !config.enable_auto_commit {
            return None;
        }
        let now = Instant::now();
        let mut inner = self.lock();
        if let Err(at) = inner.commits.auto_commit_due(now, config.auto_commit_interval) {
            return Some(at);
        }
        if inner.member.state() != MemberState::Stable || inner.auto_commit.is_some() {
            return Some(now + config.retry_backoff);
        }
        let positions = self.owned_positions(&inner);
        let (next, offsets) = inner
            .commits
            .start_auto_commit(now, config.auto_commit_interval, positions);
        if offsets.is_empty() {
            return Some(next);
        }
        let sent = crate::commit::sent(&offsets);
        match inner.commit(offsets, CommitKind::Async, now) {
            Ok(id) => {
                inner.auto_commit = Some(id);
                inner.commits.auto_committed(&sent);
                drop(inner);
                self.wake.notify_one();
            }
            Err(e) => {
                debug!(error = %e, "auto-commit refused");
                self.engine.telemetry.commit_failed(group_error_type(&e));
            }
        }
        Some(next)
    }
}

impl Committer for GroupShared {
    fn commit(
        &self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error> {
        Self::commit(self, offsets)
    }

    fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        Self::store_offset(self, record)
    }

    fn commit_stored(&self) -> Result<Option<PendingCommit>, Error> {
        Self::commit_stored(self)
    }
}
