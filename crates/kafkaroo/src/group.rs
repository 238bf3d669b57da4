//! Consumer groups: a background task drives the sans-IO [`GroupMember`] state machine of
//! `kafkaroo-group` (classic protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch) and applies its events to the fetch engine.
//!
//! - The driver sends each request the member asks for in its own tokio task, so a heartbeat never
//!   waits behind a JoinGroup that blocks for the rebalance timeout. Coordinator requests go over the
//!   dedicated [`Purpose::Group`] connection, never behind a fetch long-poll.
//! - Membership events change the fetch engine at once: `Revoked` and `Lost` stop fetching and drop
//!   buffered data of those partitions (no record of them is handed out any more); `OffsetsFetched`
//!   starts the assigned partitions from their committed offsets (or `auto.offset.reset`).
//! - The [`RebalanceListener`] callbacks and the commits that belong to them run on the
//!   application's task, at the next [`Consumer::poll`](crate::Consumer::poll) / `recv` (or in
//!   `close`), like the Java client: by then the application finished the records of the previous
//!   poll, so a commit there covers exactly what was processed. A revocation is acknowledged (the
//!   partitions released) only after the commits made in `on_revoked` (through a [`CommitHandle`]) and
//!   the auto-commit of the revoked partitions completed.
//! - Auto-commit runs at `poll`/`recv` too (when `auto.commit.interval.ms` elapsed), for the same
//!   reason: it commits what previous polls returned, never a record still being processed.
//! - `Fatal` is returned by the next [`Consumer::poll`](crate::Consumer::poll).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use kafkaroo_group::member::{
    CloseMode, CommitId, CommitKind, CommitOutcome, FetchedOffset, GroupEvent, JoinAnswer, JoinedMember,
    OffsetToCommit, Request, RequestId, Response, Target, TransportFailure,
};
use kafkaroo_group::{
    Assignor, CooperativeStickyAssignor, GroupMember, MemberConfig, MemberState, PartitionCounts,
    RangeAssignor, RoundRobinAssignor, StickyAssignor,
};
use kafkaroo_net::{Backoff, BackoffConfig, Client, Connection, Purpose};
use kafkaroo_wire::messages::join_group_request::JoinGroupRequestProtocol;
use kafkaroo_wire::messages::leave_group_request::MemberIdentity;
use kafkaroo_wire::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafkaroo_wire::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafkaroo_wire::messages::sync_group_request::SyncGroupRequestAssignment;
use kafkaroo_wire::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafkaroo_wire::{ErrorCode, StrBytes};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::config::ConsumerConfig;
use crate::engine::{PartitionState, Shared};
use crate::error::Error;
use crate::listener::{RebalanceContext, RebalanceListener};
use crate::record::{ConsumerRecord, TopicPartition};
use crate::standalone::Standalone;
use crate::telemetry::group_error_type;

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

/// The group membership health view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// The membership state.
    pub state: MemberState,
    /// The generation (-1 when not in one).
    pub generation: i32,
    /// The member id (empty before the first JoinGroup answer).
    pub member_id: String,
    /// The member id of the generation's leader (empty before the first JoinGroup answer); equal to
    /// `member_id` when this member computes the assignment.
    pub leader_id: String,
    /// The assignor the group selected (`None` before the first JoinGroup answer).
    pub protocol: Option<String>,
    /// The node id of the group coordinator, when known.
    pub coordinator: Option<i32>,
}

/// The state machine's configuration from the consumer's.
pub(crate) fn member_config(config: &ConsumerConfig, group_id: &str) -> Result<MemberConfig, Error> {
    let mut m = MemberConfig::new(group_id);
    m.group_instance_id = config.group_instance_id.clone();
    m.session_timeout = config.session_timeout;
    m.heartbeat_interval = config.heartbeat_interval;
    m.max_poll_interval = config.max_poll_interval;
    m.request_timeout = config.request_timeout;
    m.retry_backoff = config.retry_backoff;
    m.retry_backoff_max = config.retry_backoff_max;
    m.rack_id = config.client_rack.clone();
    m.jitter_seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut assignors: Vec<Arc<dyn Assignor>> = Vec::new();
    for name in &config.partition_assignment_strategy {
        if let Some(custom) = config.custom_assignors.iter().find(|a| a.name() == name) {
            assignors.push(custom.clone());
            continue;
        }
        let a = built_in_assignor(name).ok_or_else(|| {
            Error::Config(format!(
                "partition.assignment.strategy: unknown assignor {name:?}"
            ))
        })?;
        assignors.push(a);
    }
    m.assignors = assignors;
    Ok(m)
}

/// The assignor `partition.assignment.strategy` names without registering one.
pub(crate) fn built_in_assignor(name: &str) -> Option<Arc<dyn Assignor>> {
    Some(match name {
        "cooperative-sticky" => Arc::new(CooperativeStickyAssignor),
        "sticky" => Arc::new(StickyAssignor),
        "range" => Arc::new(RangeAssignor),
        "roundrobin" => Arc::new(RoundRobinAssignor),
        _ => return None,
    })
}

/// A membership change waiting for the application's task (listener and commits).
enum Callback {
    Assigned(Vec<TopicPartition>),
    /// The partitions, and their positions (what the application was given) for auto-commit.
    Revoked(Vec<TopicPartition>, Vec<OffsetToCommit>),
    Lost(Vec<TopicPartition>),
}

pub(crate) struct Inner {
    pub(crate) member: GroupMember,
    listener: Option<Box<dyn RebalanceListener>>,
    pub(crate) fatal: Option<Error>,
    /// Who waits for a commit's outcome.
    waiters: HashMap<CommitId, oneshot::Sender<Result<(), Error>>>,
    callbacks: VecDeque<Callback>,
    /// While `on_revoked` runs: commits started now hold the revocation back.
    collecting_revoke_commits: bool,
    /// The commits a revocation waits for before it is acknowledged.
    revoke_commits: HashSet<CommitId>,
    /// A revocation is waiting for `revoke_commits`.
    revoke_waiting: bool,
    /// Positions of partitions being revoked: gone from the fetch engine, still owned until the
    /// revocation is acknowledged (commits in `on_revoked` use them).
    revoking_positions: BTreeMap<TopicPartition, OffsetToCommit>,
    pub(crate) stored: BTreeMap<TopicPartition, OffsetAndMetadata>,
    auto_commit: Option<CommitId>,
    auto_commit_at: Option<Instant>,
    last_auto: BTreeMap<TopicPartition, i64>,
    pub(crate) closed: bool,
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
/// [`RebalanceListener::on_revoked`] (where the revocation waits for the commits started).
///
/// Get one with [`Consumer::commit_handle`](crate::Consumer::commit_handle), before or after
/// `subscribe`. Without `subscribe`, a consumer with a `group.id` commits for the partitions it
/// `assign`ed (generation -1, as Java's consumer does); without a `group.id` it fails with a
/// configuration error.
#[derive(Clone, Default)]
pub struct CommitHandle {
    pub(crate) group: Arc<OnceLock<Arc<GroupShared>>>,
    pub(crate) standalone: Option<Arc<Standalone>>,
}

impl std::fmt::Debug for CommitHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHandle")
            .field("subscribed", &self.group.get().is_some())
            .finish()
    }
}

impl CommitHandle {
    fn group(&self) -> Result<&Arc<GroupShared>, Error> {
        self.group
            .get()
            .ok_or_else(|| Error::Config("not subscribed to a consumer group".into()))
    }

    /// The assign-mode committer when the consumer has a `group.id` and did not subscribe.
    fn standalone(&self) -> Option<&Arc<Standalone>> {
        self.standalone.as_ref().filter(|_| self.group.get().is_none())
    }

    /// Commits `offsets` (the next offset to consume per partition), or with `None` the positions of
    /// every owned partition (what `poll` handed out). Retriable errors are retried until
    /// `request.timeout.ms`; commits land in the order they were started. Refused with
    /// [`Error::NotOwned`] for partitions this member does not own.
    pub fn commit(
        &self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error> {
        if let Some(s) = self.standalone() {
            return Ok(s.commit(offsets));
        }
        self.group()?.commit(offsets)
    }

    /// Marks `record` as processed: [`commit_stored`](CommitHandle::commit_stored) commits the offset
    /// after it (with its leader epoch). A group member refuses the store with [`Error::NotOwned`] when
    /// the record's partition was revoked or lost since it was polled (its new owner will process it).
    pub fn store_offset(&self, record: &ConsumerRecord) -> Result<(), Error> {
        if let Some(s) = self.standalone() {
            s.store_offset(
                TopicPartition::new(record.topic(), record.partition()),
                OffsetAndMetadata::after(record),
            );
            return Ok(());
        }
        self.group()?.store_offset(record)
    }

    /// Commits the offsets stored with `store_offset` (`None` when nothing was stored).
    pub fn commit_stored(&self) -> Result<Option<PendingCommit>, Error> {
        if let Some(s) = self.standalone() {
            return Ok(s.commit_stored());
        }
        self.group()?.commit_stored()
    }
}

pub(crate) struct GroupShared {
    inner: Mutex<Inner>,
    pub(crate) wake: Notify,
    pub(crate) changed: Notify,
    engine: Arc<Shared>,
}

impl GroupShared {
    pub(crate) fn new(
        member: GroupMember,
        listener: Option<Box<dyn RebalanceListener>>,
        engine: Arc<Shared>,
    ) -> Self {
        Self {
            inner: Mutex::new(Inner {
                member,
                listener,
                fatal: None,
                waiters: HashMap::new(),
                callbacks: VecDeque::new(),
                collecting_revoke_commits: false,
                revoke_commits: HashSet::new(),
                revoke_waiting: false,
                revoking_positions: BTreeMap::new(),
                stored: BTreeMap::new(),
                auto_commit: None,
                auto_commit_at: None,
                last_auto: BTreeMap::new(),
                closed: false,
            }),
            wake: Notify::new(),
            changed: Notify::new(),
            engine,
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn engine(&self) -> &Shared {
        &self.engine
    }

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
        if inner.stored.is_empty() {
            return Ok(None);
        }
        let mut stored = std::mem::take(&mut inner.stored);
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
                inner.stored = stored;
            }
            Err(_) => inner.stored = stored,
        }
        drop(inner);
        let pending = started?;
        self.wake.notify_one();
        Ok(Some(pending))
    }

    /// What `poll` hands out next for `tp`, or for a partition being revoked what it would have;
    /// `None` while unknown (waiting for the committed offset or a reset).
    pub(crate) fn position(&self, tp: &TopicPartition) -> Result<Option<i64>, Error> {
        {
            let st = self.engine.lock();
            if st.partitions.contains_key(tp) {
                return Ok(st.delivered_position(tp).map(|(offset, _)| offset));
            }
        }
        let inner = self.lock();
        match inner.revoking_positions.get(tp) {
            Some(p) => Ok(Some(p.offset)),
            None if inner.member.owns(tp) => Ok(None),
            None => Err(Error::NotAssigned {
                partition: tp.clone(),
            }),
        }
    }

    pub(crate) fn set_listener(&self, listener: Option<Box<dyn RebalanceListener>>) {
        if listener.is_some() {
            self.lock().listener = listener;
        }
    }

    pub(crate) fn state(&self) -> GroupState {
        let inner = self.lock();
        GroupState {
            state: inner.member.state(),
            generation: inner.member.generation(),
            member_id: inner.member.member_id().to_owned(),
            leader_id: inner.member.leader_id().to_owned(),
            protocol: inner.member.protocol_name().map(str::to_owned),
            coordinator: inner.member.coordinator(),
        }
    }

    /// Positions (what `poll` handed out) of the owned partitions that are fetching or being revoked.
    pub(crate) fn owned_positions(&self, inner: &Inner) -> Vec<OffsetToCommit> {
        let owned = inner.member.assignment();
        let st = self.engine.lock();
        owned
            .into_iter()
            .filter_map(|gtp| match st.delivered_position(&gtp) {
                Some((offset, leader_epoch)) => Some(OffsetToCommit {
                    partition: gtp,
                    offset,
                    leader_epoch,
                    metadata: None,
                }),
                None => inner.revoking_positions.get(&gtp).cloned(),
            })
            .collect()
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
        let id = inner.member.commit(offsets, kind, now).map_err(|e| {
            // Refused before it was sent (not owned, rebalance in progress...): a failed commit too.
            self.engine.telemetry.commit_failed(group_error_type(&e));
            Error::from_group(e)
        })?;
        let (tx, rx) = oneshot::channel();
        inner.waiters.insert(id, tx);
        if inner.collecting_revoke_commits {
            inner.revoke_commits.insert(id);
        }
        Ok(PendingCommit { rx })
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
        inner.stored.insert(tp, OffsetAndMetadata::after(record));
        Ok(())
    }

    /// Removes `partitions` from the fetch engine (buffered data dropped); returns their positions.
    fn purge(&self, partitions: &[kafkaroo_group::TopicPartition]) -> Vec<OffsetToCommit> {
        let mut out = Vec::new();
        let mut st = self.engine.lock();
        for tp in partitions {
            // Commit only what the application was given: records `recv` still holds are dropped
            // with the partition and not counted.
            if let Some((offset, leader_epoch)) = st.delivered_position(tp) {
                out.push(OffsetToCommit {
                    partition: tp.clone(),
                    offset,
                    leader_epoch,
                    metadata: None,
                });
            }
            st.partitions.remove(tp);
            st.undelivered
                .retain(|r| r.partition() != tp.partition || r.topic() != tp.topic);
        }
        drop(st);
        self.engine.driver_wake.notify_one();
        out
    }

    /// Applies the member's events to the fetch engine and queues the callbacks for the
    /// application's task. Called with the group state locked, on the group task.
    fn apply_events(&self, inner: &mut Inner) {
        let mut wake_app = false;
        while let Some(event) = inner.member.poll_event() {
            let now = Instant::now();
            match event {
                GroupEvent::StateChanged { from, to } => {
                    debug!(?from, ?to, "group member state changed");
                }
                GroupEvent::Assigned {
                    generation,
                    partitions,
                } => {
                    info!(generation, count = partitions.len(), "partitions assigned");
                    // Assigned at once (as in Java), so that `on_assigned` can pause or seek them; they
                    // are not fetched before their committed offsets are known (or a seek sets one).
                    let mut st = self.engine.lock();
                    for tp in &partitions {
                        if !st.partitions.contains_key(tp) {
                            let version = st.bump_version();
                            let mut p = PartitionState::new(tp, version, &self.engine.telemetry);
                            p.awaiting_committed = true;
                            st.partitions.insert(tp.clone(), p);
                        }
                    }
                    drop(st);
                    inner.callbacks.push_back(Callback::Assigned(partitions));
                    wake_app = true;
                }
                GroupEvent::OffsetsFetched { offsets } => {
                    let mut st = self.engine.lock();
                    for c in offsets {
                        let tp = c.partition.clone();
                        let position = c.offset;
                        let epoch = c.leader_epoch.filter(|e| *e >= 0);
                        match st.partitions.get_mut(&tp) {
                            // A seek (in `on_assigned`) overrides the committed offset.
                            Some(p) if p.awaiting_committed => {
                                p.awaiting_committed = false;
                                p.position = position;
                                p.last_epoch = epoch;
                            }
                            Some(_) => {}
                            None if inner.member.owns(&tp) => {
                                let version = st.bump_version();
                                let mut p = PartitionState::new(&tp, version, &self.engine.telemetry);
                                p.position = position;
                                p.last_epoch = epoch;
                                st.partitions.insert(tp, p);
                            }
                            None => {}
                        }
                    }
                    drop(st);
                    self.engine.driver_wake.notify_one();
                    self.engine.resolved.notify_waiters();
                }
                GroupEvent::Revoked { partitions } => {
                    info!(count = partitions.len(), "partitions revoked");
                    // Nothing of them is handed out from now on; what was handed out is final.
                    let positions = self.purge(&partitions);
                    inner
                        .revoking_positions
                        .extend(positions.iter().map(|p| (p.partition.clone(), p.clone())));
                    inner
                        .callbacks
                        .push_back(Callback::Revoked(partitions, positions));
                    wake_app = true;
                }
                GroupEvent::Lost { partitions, reason } => {
                    warn!(count = partitions.len(), %reason, "partitions lost");
                    self.purge(&partitions);
                    inner.callbacks.push_back(Callback::Lost(partitions));
                    wake_app = true;
                }
                GroupEvent::CommitResult(outcome) => {
                    if !outcome.is_ok() {
                        warn!(failed = ?outcome.failed, "commit failed");
                        let error_type = outcome
                            .failed
                            .first()
                            .map_or("other", |(_, e)| group_error_type(e));
                        self.engine.telemetry.commit_failed(error_type);
                    }
                    let id = outcome.id;
                    if inner.auto_commit == Some(id) {
                        inner.auto_commit = None;
                    }
                    if let Some(tx) = inner.waiters.remove(&id) {
                        let _ = tx.send(outcome_result(outcome));
                    }
                    if inner.revoke_commits.remove(&id)
                        && inner.revoke_commits.is_empty()
                        && inner.revoke_waiting
                    {
                        inner.revoke_waiting = false;
                        inner.member.revocation_done(now);
                        // `run_callbacks` stopped at the revocation: the callbacks queued behind it
                        // (the new assignment, which the member's next join waits for) need the
                        // application's task even when no record arrives to wake it.
                        wake_app |= !inner.callbacks.is_empty();
                    }
                }
                GroupEvent::Fatal(e) => {
                    warn!(error = %e, "group membership failed");
                    let e = Error::from_group(e);
                    for (_, tx) in inner.waiters.drain() {
                        let _ = tx.send(Err(e.clone()));
                    }
                    inner.fatal = Some(e);
                    wake_app = true;
                    self.changed.notify_waiters();
                }
                GroupEvent::Closed => {
                    inner.closed = true;
                    self.changed.notify_waiters();
                }
            }
        }
        if wake_app {
            // A `poll` waiting for data runs the callbacks.
            self.engine.data_ready.notify_one();
            self.changed.notify_waiters();
        }
    }

    /// Runs queued membership callbacks on the application's task: the listener, then the commits
    /// that must land before revoked partitions are released. Called by `poll`, `recv` and `close`.
    pub(crate) fn run_callbacks(&self) {
        loop {
            let (callback, mut listener) = {
                let mut inner = self.lock();
                // One revocation at a time: the member acknowledges each before the next one.
                if inner.revoke_waiting {
                    return;
                }
                let Some(callback) = inner.callbacks.pop_front() else {
                    return;
                };
                if matches!(callback, Callback::Revoked(..)) {
                    inner.collecting_revoke_commits = true;
                }
                let listener = inner.listener.take();
                (callback, listener)
            };
            // The listener runs without the lock held, so it may commit, pause or seek.
            if let Some(l) = listener.as_mut() {
                let mut ctx = RebalanceContext::new(self);
                match &callback {
                    Callback::Assigned(tps) => l.on_assigned_with(&mut ctx, tps),
                    Callback::Revoked(tps, _) => l.on_revoked_with(&mut ctx, tps),
                    Callback::Lost(tps) => l.on_lost_with(&mut ctx, tps),
                }
            }
            let mut inner = self.lock();
            if inner.listener.is_none() {
                inner.listener = listener;
            }
            inner.collecting_revoke_commits = false;
            let now = Instant::now();
            match callback {
                Callback::Assigned(_) => inner.member.assignment_done(now),
                Callback::Revoked(tps, positions) => {
                    for tp in &tps {
                        inner.stored.remove(tp);
                        inner.last_auto.remove(tp);
                        inner.revoking_positions.remove(tp);
                    }
                    if self.engine.config.enable_auto_commit && !positions.is_empty() {
                        let deadline = now + self.engine.config.request_timeout;
                        match inner.member.commit(positions, CommitKind::Sync { deadline }, now) {
                            Ok(id) => {
                                inner.revoke_commits.insert(id);
                            }
                            Err(e) => {
                                warn!(error = %e, "commit on revoke refused");
                                self.engine.telemetry.commit_failed(group_error_type(&e));
                            }
                        }
                    }
                    if inner.revoke_commits.is_empty() {
                        inner.member.revocation_done(now);
                    } else {
                        inner.revoke_waiting = true;
                    }
                }
                Callback::Lost(tps) => {
                    for tp in &tps {
                        inner.stored.remove(tp);
                        inner.last_auto.remove(tp);
                        inner.revoking_positions.remove(tp);
                    }
                }
            }
            drop(inner);
            self.wake.notify_one();
        }
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
        let at = *inner
            .auto_commit_at
            .get_or_insert(now + config.auto_commit_interval);
        if now < at {
            return Some(at);
        }
        let next = now + config.auto_commit_interval;
        if inner.member.state() != MemberState::Stable || inner.auto_commit.is_some() {
            return Some(now + config.retry_backoff);
        }
        inner.auto_commit_at = Some(next);
        let offsets: Vec<OffsetToCommit> = self
            .owned_positions(&inner)
            .into_iter()
            .filter(|o| inner.last_auto.get(&o.partition) != Some(&o.offset))
            .collect();
        if offsets.is_empty() {
            return Some(next);
        }
        let record: Vec<(TopicPartition, i64)> =
            offsets.iter().map(|o| (o.partition.clone(), o.offset)).collect();
        match inner.member.commit(offsets, CommitKind::Async, now) {
            Ok(id) => {
                inner.auto_commit = Some(id);
                inner.last_auto.extend(record);
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

fn outcome_result(outcome: CommitOutcome) -> Result<(), Error> {
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

enum Done {
    Response(RequestId, Response),
    Metadata(Option<PartitionCounts>),
}

/// The group driver: owns nothing but the shared state; runs until the member closed.
pub(crate) async fn run(group: Arc<GroupShared>, client: Client) {
    let mut tasks: JoinSet<Done> = JoinSet::new();
    // Which request each task answers, so that a task that dies (a panic) still answers it: the
    // member waits for every request it sent.
    let mut requests: HashMap<tokio::task::Id, RequestId> = HashMap::new();
    let mut metadata_at = Instant::now();
    let mut metadata_topics: Vec<String> = Vec::new();
    let mut metadata_busy = false;
    let max_age = group.engine.config.metadata_max_age.min(Duration::from_secs(30));
    loop {
        let wake = group.wake.notified();
        let (transmits, deadline, closed, topics) = {
            let mut inner = group.lock();
            let now = Instant::now();
            if inner.member.poll_timeout().is_some_and(|t| t <= now) {
                inner.member.handle_timeout(now);
            }
            let mut transmits = Vec::new();
            loop {
                group.apply_events(&mut inner);
                match inner.member.poll_transmit() {
                    Some(t) => transmits.push(t),
                    None => break,
                }
            }
            group.apply_events(&mut inner);
            (
                transmits,
                inner.member.poll_timeout(),
                inner.closed,
                inner.member.group_subscription(),
            )
        };
        if closed {
            break;
        }
        for t in transmits {
            let client = client.clone();
            let id = t.id;
            let task = tasks.spawn(async move {
                let response = execute(&client, t.target, &t.request, t.timeout).await;
                Done::Response(t.id, response)
            });
            requests.insert(task.id(), id);
        }
        let now = Instant::now();
        if !metadata_busy && !topics.is_empty() && (now >= metadata_at || topics != metadata_topics) {
            metadata_busy = true;
            metadata_topics = topics.clone();
            let client = client.clone();
            tasks.spawn(async move {
                let names: Vec<&str> = topics.iter().map(String::as_str).collect();
                match client.refresh_metadata(Some(&names)).await {
                    Ok(m) => Done::Metadata(Some(
                        m.topics
                            .iter()
                            .filter(|(_, t)| !t.partitions.is_empty())
                            .map(|(n, t)| (n.clone(), t.partitions.len() as i32))
                            .collect(),
                    )),
                    Err(e) => {
                        debug!(error = %e, "group metadata refresh failed");
                        Done::Metadata(None)
                    }
                }
            });
        }
        // The next metadata refresh (its completion wakes the loop while one is under way).
        let refresh = if metadata_busy {
            now + max_age
        } else {
            metadata_at.max(now + Duration::from_millis(50))
        };
        let deadline = deadline.map_or(refresh, |d| d.min(refresh));
        tokio::select! {
            Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let done = match done {
                    Ok((task, done)) => {
                        requests.remove(&task);
                        done
                    }
                    Err(e) => match requests.remove(&e.id()) {
                        Some(id) => {
                            warn!(error = %e, "a group request task failed");
                            Done::Response(id, Response::Failed(TransportFailure::Disconnected))
                        }
                        None => {
                            warn!(error = %e, "the group metadata task failed");
                            Done::Metadata(None)
                        }
                    },
                };
                let mut inner = group.lock();
                match done {
                    Done::Response(id, response) => inner.member.handle_response(Instant::now(), id, response),
                    Done::Metadata(counts) => {
                        metadata_busy = false;
                        metadata_at = Instant::now() + if counts.is_some() { max_age } else { Duration::from_millis(500) };
                        if let Some(counts) = counts {
                            inner.member.metadata_changed(&counts, Instant::now());
                        }
                    }
                }
            }
            () = wake => {}
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {}
        }
    }
    debug!("group driver stopped");
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn failed(e: &kafkaroo_net::Error, conn: Option<&Connection>) -> Response {
    if matches!(e, kafkaroo_net::Error::Timeout { .. }) {
        // A timed-out request must not land after its retry.
        if let Some(c) = conn {
            c.close();
        }
        Response::Failed(TransportFailure::TimedOut)
    } else {
        Response::Failed(TransportFailure::Disconnected)
    }
}

/// Sends one typed request and translates the answer back (or the failure).
pub(crate) async fn execute(
    client: &Client,
    target: Target,
    request: &Request,
    timeout: Duration,
) -> Response {
    let conn = match target {
        Target::AnyBroker => client.any_connection().await,
        Target::Coordinator(node) => match client.connection(node, Purpose::Group).await {
            Err(kafkaroo_net::Error::UnknownBroker { .. }) => {
                let _ = client.refresh_metadata(Some(&[])).await;
                client.connection(node, Purpose::Group).await
            }
            other => other,
        },
    };
    let conn = match conn {
        Ok(c) => c,
        Err(e) => {
            debug!(error = %e, api = request.api_name(), "no connection for a group request");
            return Response::Failed(TransportFailure::Disconnected);
        }
    };
    match send(&conn, request, timeout).await {
        Ok(r) => r,
        Err(e) => {
            debug!(error = %e, api = request.api_name(), "group request failed");
            failed(&e, Some(&conn))
        }
    }
}

async fn send(
    conn: &Connection,
    request: &Request,
    timeout: Duration,
) -> Result<Response, kafkaroo_net::Error> {
    match request {
        Request::FindCoordinator { group_id } => {
            let v = conn.negotiated_version::<FindCoordinatorRequest>()?;
            let mut req = FindCoordinatorRequest::default();
            if v >= 4 {
                req.coordinator_keys = vec![sb(group_id)];
            } else {
                req.key = sb(group_id);
            }
            let resp = conn.send_version(&req, v, timeout).await?;
            let (error_code, node_id) = match resp.coordinators.first() {
                Some(c) if v >= 4 => (c.error_code, c.node_id.0),
                None if v >= 4 => (kafkaroo_wire::ErrorCode::COORDINATOR_NOT_AVAILABLE.0, -1),
                _ => (resp.error_code, resp.node_id.0),
            };
            Ok(Response::FindCoordinator { error_code, node_id })
        }
        Request::JoinGroup(j) => {
            let v = conn.negotiated_version::<JoinGroupRequest>()?;
            let mut req = JoinGroupRequest::default()
                .with_group_id(GroupId(sb(&j.group_id)))
                .with_session_timeout_ms(j.session_timeout_ms)
                .with_member_id(sb(&j.member_id))
                .with_protocol_type(sb(&j.protocol_type))
                .with_protocols(
                    j.protocols
                        .iter()
                        .map(|(name, meta)| {
                            JoinGroupRequestProtocol::default()
                                .with_name(sb(name))
                                .with_metadata(meta.clone())
                        })
                        .collect(),
                );
            if v >= 1 {
                req.rebalance_timeout_ms = j.rebalance_timeout_ms;
            }
            if v >= 5 {
                req.group_instance_id = j.group_instance_id.as_deref().map(sb);
            }
            if v >= 8 {
                req.reason = Some(sb(&j.reason));
            }
            let r = conn.send_version(&req, v, timeout).await?;
            Ok(Response::JoinGroup(JoinAnswer {
                error_code: r.error_code,
                generation_id: r.generation_id,
                protocol_name: r.protocol_name.as_deref().map(str::to_owned),
                leader: r.leader.to_string(),
                member_id: r.member_id.to_string(),
                members: r
                    .members
                    .into_iter()
                    .map(|m| JoinedMember {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.as_deref().map(str::to_owned),
                        metadata: m.metadata,
                    })
                    .collect(),
                skip_assignment: r.skip_assignment,
            }))
        }
        Request::SyncGroup(s) => {
            let v = conn.negotiated_version::<SyncGroupRequest>()?;
            let mut req = SyncGroupRequest::default()
                .with_group_id(GroupId(sb(&s.group_id)))
                .with_generation_id(s.generation_id)
                .with_member_id(sb(&s.member_id))
                .with_assignments(
                    s.assignments
                        .iter()
                        .map(|(m, a)| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(sb(m))
                                .with_assignment(a.clone())
                        })
                        .collect(),
                );
            if v >= 3 {
                req.group_instance_id = s.group_instance_id.as_deref().map(sb);
            }
            if v >= 5 {
                req.protocol_type = Some(sb(&s.protocol_type));
                req.protocol_name = Some(sb(&s.protocol_name));
            }
            let r = conn.send_version(&req, v, timeout).await?;
            Ok(Response::SyncGroup {
                error_code: r.error_code,
                protocol_name: r.protocol_name.as_deref().map(str::to_owned),
                assignment: r.assignment,
            })
        }
        Request::Heartbeat {
            group_id,
            generation_id,
            member_id,
            group_instance_id,
        } => {
            let v = conn.negotiated_version::<HeartbeatRequest>()?;
            let mut req = HeartbeatRequest::default()
                .with_group_id(GroupId(sb(group_id)))
                .with_generation_id(*generation_id)
                .with_member_id(sb(member_id));
            if v >= 3 {
                req.group_instance_id = group_instance_id.as_deref().map(sb);
            }
            let r = conn.send_version(&req, v, timeout).await?;
            Ok(Response::Heartbeat {
                error_code: r.error_code,
            })
        }
        Request::LeaveGroup {
            group_id,
            member_id,
            group_instance_id,
            reason,
        } => {
            let v = conn.negotiated_version::<LeaveGroupRequest>()?;
            let mut req = LeaveGroupRequest::default().with_group_id(GroupId(sb(group_id)));
            if v >= 3 {
                let mut m = MemberIdentity::default()
                    .with_member_id(sb(member_id))
                    .with_group_instance_id(group_instance_id.as_deref().map(sb));
                if v >= 5 {
                    m.reason = Some(sb(reason));
                }
                req.members = vec![m];
            } else {
                req.member_id = sb(member_id);
            }
            let r = conn.send_version(&req, v, timeout).await?;
            let error_code = if r.error_code != 0 {
                r.error_code
            } else {
                r.members.first().map_or(0, |m| m.error_code)
            };
            Ok(Response::LeaveGroup { error_code })
        }
        Request::OffsetCommit(c) => {
            let v = conn.negotiated_version::<OffsetCommitRequest>()?;
            let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
            for o in &c.offsets {
                let mut p = OffsetCommitRequestPartition::default()
                    .with_partition_index(o.partition.partition)
                    .with_committed_offset(o.offset)
                    .with_committed_metadata(Some(sb(o.metadata.as_deref().unwrap_or(""))));
                if v >= 6 {
                    p.committed_leader_epoch = o.leader_epoch.unwrap_or(-1);
                }
                topics.entry(o.partition.topic.as_str()).or_default().push(p);
            }
            let mut req = OffsetCommitRequest::default()
                .with_group_id(GroupId(sb(&c.group_id)))
                .with_generation_id_or_member_epoch(c.generation_id)
                .with_member_id(sb(&c.member_id))
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            OffsetCommitRequestTopic::default()
                                .with_name(TopicName(sb(t)))
                                .with_partitions(ps)
                        })
                        .collect(),
                );
            if v >= 7 {
                req.group_instance_id = c.group_instance_id.as_deref().map(sb);
            }
            let r = conn.send_version(&req, v, timeout).await?;
            let mut partitions = Vec::new();
            for t in r.topics {
                for p in t.partitions {
                    partitions.push((
                        kafkaroo_group::TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        p.error_code,
                    ));
                }
            }
            Ok(Response::OffsetCommit { partitions })
        }
        Request::OffsetFetch {
            group_id,
            partitions,
            require_stable,
        } => {
            let v = conn.negotiated_version::<OffsetFetchRequest>()?;
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in partitions {
                by_topic.entry(tp.topic.as_str()).or_default().push(tp.partition);
            }
            let mut req = OffsetFetchRequest::default();
            if v >= 8 {
                req.groups = vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(GroupId(sb(group_id)))
                        .with_topics(Some(
                            by_topic
                                .iter()
                                .map(|(t, ps)| {
                                    OffsetFetchRequestTopics::default()
                                        .with_name(TopicName(sb(t)))
                                        .with_partition_indexes(ps.clone())
                                })
                                .collect(),
                        )),
                ];
            } else {
                req.group_id = GroupId(sb(group_id));
                req.topics = Some(
                    by_topic
                        .iter()
                        .map(|(t, ps)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(TopicName(sb(t)))
                                .with_partition_indexes(ps.clone())
                        })
                        .collect(),
                );
            }
            if v >= 7 {
                req.require_stable = *require_stable;
            }
            let r = conn.send_version(&req, v, timeout).await?;
            // v8+ nests the same fields under a group (with their own types): one constructor for both.
            let fetched =
                |topic: &str, index, offset, epoch, metadata: Option<&str>, error_code| FetchedOffset {
                    partition: kafkaroo_group::TopicPartition::new(topic, index),
                    offset,
                    leader_epoch: epoch,
                    metadata: metadata.map(str::to_owned),
                    error_code,
                };
            let mut out = Vec::new();
            let error_code;
            if v >= 8 {
                let Some(g) = r.groups.into_iter().next() else {
                    return Ok(Response::Failed(TransportFailure::Disconnected));
                };
                error_code = g.error_code;
                for t in &g.topics {
                    out.extend(t.partitions.iter().map(|p| {
                        let metadata = p.metadata.as_deref();
                        fetched(
                            &t.name,
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            metadata,
                            p.error_code,
                        )
                    }));
                }
            } else {
                error_code = r.error_code;
                for t in &r.topics {
                    out.extend(t.partitions.iter().map(|p| {
                        let metadata = p.metadata.as_deref();
                        fetched(
                            &t.name,
                            p.partition_index,
                            p.committed_offset,
                            p.committed_leader_epoch,
                            metadata,
                            p.error_code,
                        )
                    }));
                }
            }
            Ok(Response::OffsetFetch {
                error_code,
                partitions: out,
            })
        }
    }
}

/// OffsetFetch for `partitions` of `group_id` (finds the coordinator first).
pub(crate) async fn fetch_committed(
    client: &Client,
    group_id: &str,
    partitions: &[TopicPartition],
    timeout: Duration,
    retry_backoff: BackoffConfig,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, Error> {
    let deadline = Instant::now() + timeout;
    let mut backoff = Backoff::new(retry_backoff);
    let mut last = String::new();
    while Instant::now() < deadline {
        let find = Request::FindCoordinator {
            group_id: group_id.to_owned(),
        };
        let node = match execute(client, Target::AnyBroker, &find, timeout).await {
            Response::FindCoordinator {
                error_code: 0,
                node_id,
            } => node_id,
            Response::FindCoordinator { error_code, .. } if !ErrorCode(error_code).is_retriable() => {
                return Err(refused(partitions, "FindCoordinator", ErrorCode(error_code)));
            }
            other => {
                last = format!("FindCoordinator: {other:?}");
                tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
                continue;
            }
        };
        let req = Request::OffsetFetch {
            group_id: group_id.to_owned(),
            partitions: partitions.to_vec(),
            require_stable: true,
        };
        match execute(client, Target::Coordinator(node), &req, timeout).await {
            Response::OffsetFetch {
                error_code: 0,
                partitions: got,
            } if got.iter().all(|p| p.error_code == 0) => {
                // A partition missing from the answer is unknown, not "nothing committed": retry.
                let mut out: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> = BTreeMap::new();
                for p in got {
                    if !partitions.contains(&p.partition) {
                        continue;
                    }
                    let committed = (p.offset >= 0).then(|| OffsetAndMetadata {
                        offset: p.offset,
                        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                        metadata: p.metadata.filter(|m| !m.is_empty()),
                    });
                    out.insert(p.partition, committed);
                }
                if out.len() == partitions.iter().collect::<BTreeSet<_>>().len() {
                    return Ok(out);
                }
                let missing: Vec<String> = partitions
                    .iter()
                    .filter(|tp| !out.contains_key(*tp))
                    .map(ToString::to_string)
                    .collect();
                last = format!("OffsetFetch answer without {}", missing.join(", "));
                tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
            }
            Response::OffsetFetch { error_code, .. }
                if !ErrorCode(error_code).is_retriable() && error_code != 0 =>
            {
                return Err(refused(partitions, "OffsetFetch", ErrorCode(error_code)));
            }
            Response::OffsetFetch {
                partitions: ref got, ..
            } if let Some(p) = got
                .iter()
                .find(|p| p.error_code != 0 && !ErrorCode(p.error_code).is_retriable()) =>
            {
                return Err(refused(
                    std::slice::from_ref(&p.partition),
                    "OffsetFetch",
                    ErrorCode(p.error_code),
                ));
            }
            other => {
                last = format!("OffsetFetch: {other:?}");
                tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
            }
        }
    }
    Err(Error::Commit {
        failed: partitions.to_vec(),
        reason: format!("could not fetch committed offsets: {last}"),
    })
}

/// A committed-offset lookup the coordinator refused for good (authorization, bad group id...).
fn refused(partitions: &[TopicPartition], api: &str, code: ErrorCode) -> Error {
    Error::Commit {
        failed: partitions.to_vec(),
        reason: format!("could not fetch committed offsets: {api}: {code}"),
    }
}

/// Closes the member (final revoke, commit on revoke with auto-commit, LeaveGroup unless static) and
/// waits for it, at most `timeout`.
pub(crate) async fn close(group: &GroupShared, mode: CloseMode, timeout: Duration) {
    group.lock().member.close(mode, Instant::now());
    group.wake.notify_one();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let changed = group.changed.notified();
        // The final revocation's listener and commits run here, on the application's task.
        group.run_callbacks();
        {
            let inner = group.lock();
            if inner.closed || inner.fatal.is_some() {
                return;
            }
        }
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
            () = tokio::time::sleep_until(deadline) => return,
        }
    }
}
