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
use std::time::{Duration, Instant};

use kafkaroo_group::member::{CommitParams, OffsetToCommit, Request, Response, Target};
use kafkaroo_net::{Backoff, BackoffConfig, Client};
use kafkaroo_wire::ErrorCode;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::engine::Shared;
use crate::error::Error;
use crate::group::{self, OffsetAndMetadata, PendingCommit};
use crate::record::TopicPartition;

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
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Offsets stored with `store_offset`, committed by `commit_stored`.
    stored: BTreeMap<TopicPartition, OffsetAndMetadata>,
    /// When the next auto-commit is due.
    auto_commit_at: Option<Instant>,
    /// What auto-commit last committed, so an unchanged position is not committed again.
    last_auto: BTreeMap<TopicPartition, i64>,
}

impl Standalone {
    /// Starts the task that talks to the group's coordinator.
    pub(crate) fn start(client: Client, group_id: String, engine: Arc<Shared>) -> Arc<Self> {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(client, group_id, engine.clone(), rx));
        Arc::new(Self {
            jobs,
            engine,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
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
            .filter_map(|tp| {
                let (offset, leader_epoch) = st.delivered_position(tp)?;
                Some(OffsetToCommit {
                    partition: tp.clone(),
                    offset,
                    leader_epoch,
                    metadata: None,
                })
            })
            .collect()
    }

    pub(crate) fn store_offset(&self, tp: TopicPartition, offset: OffsetAndMetadata) {
        self.lock().stored.insert(tp, offset);
    }

    /// Commits the stored offsets (`None` when nothing was stored). Taken and started under one lock,
    /// so two callers cannot reorder.
    pub(crate) fn commit_stored(&self) -> Option<PendingCommit> {
        let mut state = self.lock();
        if state.stored.is_empty() {
            return None;
        }
        let stored = std::mem::take(&mut state.stored);
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
        let at = *state
            .auto_commit_at
            .get_or_insert(now + config.auto_commit_interval);
        if now < at {
            return Some(at);
        }
        let next = now + config.auto_commit_interval;
        state.auto_commit_at = Some(next);
        let offsets: Vec<OffsetToCommit> = self
            .positions()
            .into_iter()
            .filter(|o| state.last_auto.get(&o.partition) != Some(&o.offset))
            .collect();
        if offsets.is_empty() {
            return Some(next);
        }
        let sent: Vec<(TopicPartition, i64)> =
            offsets.iter().map(|o| (o.partition.clone(), o.offset)).collect();
        state.last_auto.extend(sent.iter().cloned());
        drop(state);
        let pending = self.send_commit(offsets);
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Err(e) = pending.await {
                warn!(error = %e, "auto-commit failed; the next one retries");
                let mut state = this.lock();
                for (tp, offset) in sent {
                    if state.last_auto.get(&tp) == Some(&offset) {
                        state.last_auto.remove(&tp);
                    }
                }
            }
        });
        Some(next)
    }
}

/// The coordinator task: one job at a time, in the order they were sent.
async fn run(client: Client, group_id: String, engine: Arc<Shared>, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let timeout = engine.config.request_timeout;
    let backoff = engine.config.retry_backoff_config();
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Commit { offsets, reply } => {
                let result = commit(&client, &group_id, offsets, timeout, backoff).await;
                if let Err((_, error_type)) = &result {
                    engine.telemetry.commit_failed(error_type);
                }
                let _ = reply.send(result.map_err(|(e, _)| e));
            }
            Job::StartPositions(partitions) => {
                let tps: Vec<TopicPartition> = partitions.iter().map(|(tp, _)| tp.clone()).collect();
                let result = group::fetch_committed(&client, &group_id, &tps, timeout, backoff).await;
                apply_start_positions(&engine, &partitions, result);
            }
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
            .filter(|p| p.version == *version && p.awaiting_committed)
        else {
            continue;
        };
        p.awaiting_committed = false;
        match &result {
            Ok(committed) => {
                if let Some(Some(c)) = committed.get(tp) {
                    debug!(partition = %tp, offset = c.offset, "starting at the committed offset");
                    p.position = Some(c.offset);
                    p.last_epoch = c.leader_epoch;
                }
            }
            Err(e) => {
                let e = e.clone();
                st.fail(tp, e);
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

/// OffsetCommit with generation -1 and no member id, retried (with a fresh coordinator lookup) until
/// `timeout` for retriable errors. A failure comes with its `error.type` for the metric.
async fn commit(
    client: &Client,
    group_id: &str,
    offsets: Vec<OffsetToCommit>,
    timeout: Duration,
    retry_backoff: BackoffConfig,
) -> Result<(), (Error, &'static str)> {
    if offsets.is_empty() {
        return Ok(());
    }
    let all: Vec<TopicPartition> = offsets.iter().map(|o| o.partition.clone()).collect();
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::new(retry_backoff);
    let mut last = String::from("no attempt");
    loop {
        if Instant::now() >= deadline {
            let error = Error::Commit {
                failed: all,
                reason: format!("gave up after {timeout:?}: {last}"),
            };
            return Err((error, "timeout"));
        }
        let find = Request::FindCoordinator {
            group_id: group_id.to_owned(),
        };
        let node = match group::execute(client, Target::AnyBroker, &find, timeout).await {
            Response::FindCoordinator {
                error_code: 0,
                node_id,
            } => node_id,
            Response::FindCoordinator { error_code, .. } if !ErrorCode(error_code).is_retriable() => {
                let error = Error::Commit {
                    failed: all,
                    reason: format!("FindCoordinator: {}", ErrorCode(error_code)),
                };
                return Err((error, ErrorCode(error_code).name()));
            }
            other => {
                last = format!("FindCoordinator: {other:?}");
                tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
                continue;
            }
        };
        let request = Request::OffsetCommit(CommitParams {
            group_id: group_id.to_owned(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
            offsets: offsets.clone(),
        });
        match group::execute(client, Target::Coordinator(node), &request, timeout).await {
            Response::OffsetCommit { partitions } => {
                let errors: Vec<(TopicPartition, ErrorCode)> = partitions
                    .into_iter()
                    .map(|(tp, code)| (tp, ErrorCode(code)))
                    .filter(|(_, code)| !code.is_ok())
                    .collect();
                if errors.is_empty() {
                    return Ok(());
                }
                let reason = errors
                    .iter()
                    .map(|(tp, code)| format!("{tp}: {code}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                if let Some(&(_, code)) = errors.iter().find(|(_, code)| !code.is_retriable()) {
                    let error = Error::Commit {
                        failed: errors.into_iter().map(|(tp, _)| tp).collect(),
                        reason,
                    };
                    return Err((error, code.name()));
                }
                last = reason;
            }
            other => last = format!("OffsetCommit: {other:?}"),
        }
        tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
    }
}
