//! Offsets of a consumer that has a `group.id` but assigns its partitions itself (`assign`, no
//! `subscribe`), as with Java's consumer after `assign`: newly assigned partitions start from the
//! group's committed offsets (then `auto.offset.reset`), commits go to the group's coordinator with
//! generation -1 and no member id, and `enable.auto.commit` commits what earlier polls returned.
//!
//! The coordinator accepts such commits only while the group has no active members (a subscribed
//! member elsewhere makes it answer UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION): that is reported as a
//! failed commit, not retried.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use kafkaroo_group::member::OffsetToCommit;
use kafkaroo_net::Client;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::commit::{self, CommitState, Committer, OffsetAndMetadata, PendingCommit};
use crate::coordinator;
use crate::engine::Shared;
use crate::error::Error;
use crate::record::{ConsumerRecord, TopicPartition};

enum Job {
    Commit {
        offsets: Vec<OffsetToCommit>,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    /// Start positions of newly assigned partitions (with the engine version they were assigned at).
    StartPositions(Vec<(TopicPartition, u64)>),
}

/// Commits and committed-offset lookups for an `assign`ed consumer with a `group.id`, done in order
/// by one task.
pub(crate) struct Standalone {
    jobs: mpsc::UnboundedSender<Job>,
    engine: Arc<Shared>,
    /// Stored offsets and the auto-commit schedule.
    state: Mutex<CommitState>,
}

impl Standalone {
    /// Starts the task that talks to the group's coordinator.
    pub(crate) fn start(client: Client, group_id: String, engine: Arc<Shared>) -> Arc<Self> {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(client, group_id, engine.clone(), rx));
        Arc::new(Self {
            jobs,
            engine,
            state: Mutex::new(CommitState::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CommitState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Looks up where the newly assigned `partitions` start; the engine waits for the answer.
    pub(crate) fn start_positions(&self, partitions: Vec<(TopicPartition, u64)>) {
        if !partitions.is_empty() {
            let _ = self.jobs.send(Job::StartPositions(partitions));
        }
    }

    /// Commits `offsets`, or with `None` the position of every assigned partition (what `poll` handed
    /// out). Commits land in the order they were started.
    pub(crate) fn commit(&self, offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>) -> PendingCommit {
        let offsets = match offsets {
            Some(o) => o.into_iter().map(|(tp, o)| o.into_commit(tp)).collect(),
            None => self.positions(),
        };
        self.send_commit(offsets)
    }

    fn send_commit(&self, offsets: Vec<OffsetToCommit>) -> PendingCommit {
        let (reply, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError(Job::Commit { reply, .. })) =
            self.jobs.send(Job::Commit { offsets, reply })
        {
            self.engine.telemetry.commit_failed("closed");
            let _ = reply.send(Err(Error::Closed));
        }
        PendingCommit::new(rx)
    }

    /// The delivered position of every assigned partition that has one.
    fn positions(&self) -> Vec<OffsetToCommit> {
        let st = self.engine.lock();
        st.partitions
            .keys()
            .filter_map(|tp| st.delivered_offset(tp))
            .collect()
    }

    pub(crate) fn store_offset(&self, tp: TopicPartition, offset: OffsetAndMetadata) {
        self.lock().store(tp, offset);
    }

    /// Commits the stored offsets (`None` when nothing was stored). Taken and started under one lock,
    /// so two callers cannot reorder.
    pub(crate) fn commit_stored(&self) -> Option<PendingCommit> {
        let mut state = self.lock();
        let stored = state.take_stored()?;
        Some(self.send_commit(stored.into_iter().map(|(tp, o)| o.into_commit(tp)).collect()))
    }

    /// Auto-commit from the application's task (`poll`/`recv`): the positions that changed since the
    /// last one. Returns when the next is due.
    pub(crate) fn maybe_auto_commit(self: &Arc<Self>) -> Option<Instant> {
        let config = &self.engine.config;
        if !config.enable_auto_commit {
            return None;
        }
        let now = Instant::now();
        let mut state = self.lock();
        if let Err(at) = state.auto_commit_due(now, config.auto_commit_interval) {
            return Some(at);
        }
        let (next, offsets) = state.start_auto_commit(now, config.auto_commit_interval, self.positions());
        if offsets.is_empty() {
            return Some(next);
        }
        let sent = commit::sent(&offsets);
        state.auto_committed(&sent);
        drop(state);
        let pending = self.send_commit(offsets);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = pending.await {
                warn!(error = %e, "auto-commit failed; the next one retries");
                this.lock().auto_commit_failed(&sent);
            }
        });
        Some(next)
    }
}

impl Committer for Standalone {
    fn commit(
        &self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error> {
        Ok(Self::commit(self, offsets))
    }

    fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        let tp = TopicPartition::new(record.topic(), record.partition());
        Self::store_offset(self, tp, OffsetAndMetadata::after(record));
        Ok(())
    }

    fn commit_stored(&self) -> Result<Option<PendingCommit>, Error> {
        Ok(Self::commit_stored(self))
    }
}

/// The coordinator task: one job at a time, in the order they were sent.
async fn run(client: Client, group_id: String, engine: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let timeout = engine.config.request_timeout;
    let backoff = engine.config.retry_backoff_config();
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Commit { offsets, reply } => {
                let sent: Vec<(TopicPartition, i64)> =
                    offsets.iter().map(|o| (o.partition.clone(), o.offset)).collect();
                let result =
                    coordinator::commit_outside_group(&client, &group_id, offsets, timeout, backoff).await;
                match &result {
                    Ok(()) => set_committed(&engine, sent),
                    Err((_, error_type)) => engine.telemetry.commit_failed(error_type),
                }
                let _ = reply.send(result.map_err(|(e, _)| e));
            }
            Job::StartPositions(partitions) => {
                let tps: Vec<TopicPartition> = partitions.iter().map(|(tp, _)| tp.clone()).collect();
                let result = coordinator::fetch_committed(&client, &group_id, &tps, timeout, backoff).await;
                if let Ok(committed) = &result {
                    let known = committed
                        .iter()
                        .filter_map(|(tp, c)| Some((tp.clone(), c.as_ref()?.offset)));
                    set_committed(&engine, known);
                }
                apply_start_positions(&engine, &partitions, result);
            }
        }
    }
}

/// The group's committed offsets of assigned partitions are `offsets` now (for the committed lag).
fn set_committed(engine: &Shared, offsets: impl IntoIterator<Item = (TopicPartition, i64)>) {
    let isolation = engine.config.isolation_level;
    let mut st = engine.lock();
    for (tp, offset) in offsets {
        if let Some(p) = st.partitions.get_mut(&tp) {
            p.set_committed(offset, isolation);
        }
    }
}

/// Starts the partitions still waiting (same version) at their committed offsets; those without one
/// go on to `auto.offset.reset`. A failed lookup stops them with the error (a seek resumes them).
fn apply_start_positions(
    engine: &Shared,
    partitions: &[(TopicPartition, u64)],
    result: Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, Error>,
) {
    let mut st = engine.lock();
    for (tp, version) in partitions {
        let Some(p) = st
            .partitions
            .get_mut(tp)
            .filter(|p| p.version() == *version && p.is_awaiting_committed())
        else {
            continue;
        };
        match &result {
            Ok(committed) => match committed.get(tp) {
                Some(Some(c)) => {
                    debug!(partition = %tp, offset = c.offset, "starting at the committed offset");
                    p.start_from_committed(Some(c.offset), c.leader_epoch);
                }
                _ => p.start_from_committed(None, None),
            },
            Err(e) => {
                p.start_from_committed(None, None);
                st.fail(tp, e.clone());
            }
        }
    }
    let failed = !st.errors.is_empty();
    drop(st);
    engine.driver_wake.notify_one();
    engine.resolved.notify_waiters();
    if failed {
        engine.data_ready.notify_one();
    }
}
