//! Consumer groups: a background task drives a sans-IO member of `kafkaroo-group` and applies its
//! events to the fetch engine: the classic [`GroupMember`](kafkaroo_group::GroupMember) (JoinGroup,
//! SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch) or, with `group.protocol=consumer`,
//! the KIP-848 member (ConsumerGroupHeartbeat; `kip848.rs` adds its commits and offset fetches).
//! Both stand behind the `Membership` trait (`membership.rs`), so the callbacks, commit rules and
//! health view are the same for both protocols.
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
//!
//! The modules: `mod.rs` holds the shared state, `events.rs` applies the member's events and runs
//! the callbacks, `commits.rs` starts commits and auto-commits, `driver.rs` is the group task,
//! `membership.rs` the trait both members implement, `kip848.rs` the KIP-848 member's adapter. The
//! requests go out through `crate::coordinator`.

mod commits;
mod driver;
mod events;
mod kip848;
#[cfg(test)]
mod kip848_tests;
mod listener;
mod membership;
mod pattern;
mod spans;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kafkaroo_group::MemberState;
use kafkaroo_group::member::{CloseMode, CommitId, CommitKind, OffsetToCommit};
use tokio::sync::{Notify, oneshot};

pub(crate) use driver::run;
pub(crate) use kip848::Kip848;
pub use listener::{RebalanceContext, RebalanceListener};
pub(crate) use membership::Membership;

use crate::commit::CommitState;
use crate::engine::Shared;
use crate::error::Error;
use crate::record::TopicPartition;
pub(crate) use pattern::{Subscription, TopicPattern};
use spans::MemberSpans;

/// The group membership health view.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupState {
    /// The membership state.
    pub state: MemberState,
    /// The generation (-1 when not in one); with `group.protocol=consumer` the member epoch.
    pub generation: i32,
    /// The member id (empty before the first JoinGroup answer).
    pub member_id: String,
    /// The member id of the generation's leader (empty before the first JoinGroup answer, and always
    /// with `group.protocol=consumer`); equal to `member_id` when this member computes the assignment.
    pub leader_id: String,
    /// The assignor the group selected (`None` before the first JoinGroup answer); with
    /// `group.protocol=consumer` the configured `group.remote.assignor`.
    pub protocol: Option<String>,
    /// The node id of the group coordinator, when known.
    pub coordinator: Option<i32>,
}

/// A membership change waiting for the application's task (listener and commits).
pub(super) enum Callback {
    Assigned(Vec<TopicPartition>),
    /// The partitions, and their positions (what the application was given) for auto-commit.
    Revoked(Vec<TopicPartition>, Vec<OffsetToCommit>),
    Lost(Vec<TopicPartition>),
}

pub(crate) struct Inner {
    pub(crate) member: Box<dyn Membership>,
    pub(super) listener: Option<Box<dyn RebalanceListener>>,
    pub(crate) fatal: Option<Error>,
    /// Who waits for a commit's outcome.
    pub(super) waiters: HashMap<CommitId, oneshot::Sender<Result<(), Error>>>,
    pub(super) callbacks: VecDeque<Callback>,
    /// While `on_revoked` runs: commits started now hold the revocation back.
    pub(super) collecting_revoke_commits: bool,
    /// The commits a revocation waits for before it is acknowledged.
    pub(super) revoke_commits: HashSet<CommitId>,
    /// A revocation is waiting for `revoke_commits`.
    pub(super) revoke_waiting: bool,
    /// Positions of partitions being revoked: gone from the fetch engine, still owned until the
    /// revocation is acknowledged (commits in `on_revoked` use them).
    pub(super) revoking_positions: BTreeMap<TopicPartition, OffsetToCommit>,
    /// Stored offsets and the auto-commit schedule.
    pub(super) commits: CommitState,
    /// The auto-commit in flight: the next waits for it.
    pub(super) auto_commit: Option<CommitId>,
    /// The rebalance span and its phase (tracing).
    pub(super) spans: MemberSpans,
    /// Rebalances completed: times the member became stable (statistics).
    pub(super) rebalances: u64,
    /// Partitions revoked or lost during the rebalance under way, and when: one assigned back is
    /// `retained` in the pause histogram, paused since then.
    pub(super) stopped: HashMap<TopicPartition, Instant>,
    /// The offsets of commits in flight, to know the committed offsets once they succeed.
    pub(super) committing: HashMap<CommitId, Vec<(TopicPartition, i64)>>,
    /// With `subscribe_pattern`: the pattern the metadata refreshes match topics against, the
    /// topics it matched last (the member's subscription), and whether a refresh is due now.
    pub(crate) pattern: Option<TopicPattern>,
    pub(super) matched: BTreeSet<String>,
    pub(super) refresh_metadata: bool,
    pub(crate) closed: bool,
}

pub(crate) struct GroupShared {
    inner: Mutex<Inner>,
    pub(crate) wake: Notify,
    pub(crate) changed: Notify,
    engine: Arc<Shared>,
}

impl Inner {
    /// Starts a commit of `offsets` through the member, remembering them until its outcome.
    pub(super) fn commit(
        &mut self,
        offsets: Vec<OffsetToCommit>,
        kind: CommitKind,
        now: Instant,
    ) -> Result<CommitId, kafkaroo_group::GroupError> {
        let sent = offsets.iter().map(|o| (o.partition.clone(), o.offset)).collect();
        let id = self.member.commit(offsets, kind, now)?;
        self.committing.insert(id, sent);
        Ok(id)
    }

    /// Subscribes by `pattern` (or stops doing so): the next metadata refresh, due at once, replaces
    /// the subscription with the matching topics.
    pub(crate) fn set_pattern(&mut self, pattern: Option<TopicPattern>) {
        self.refresh_metadata = pattern.is_some();
        self.pattern = pattern;
        self.matched.clear();
    }

    /// A metadata refresh matched `topics` against `pattern`: they become the subscription if they
    /// changed (none: the member leaves until a topic matches again). A refresh that matched a pattern
    /// the application has since replaced is ignored (the refresh for the new one follows).
    pub(super) fn pattern_matched(&mut self, pattern: &str, topics: BTreeSet<String>, now: Instant) {
        let current = self.pattern.as_ref().map(TopicPattern::as_str);
        if current != Some(pattern) || topics == self.matched {
            return;
        }
        if let Some(pattern) = &self.pattern {
            tracing::info!(
                pattern = pattern.as_str(),
                ?topics,
                "topics matching the subscription pattern changed"
            );
        }
        if let Err(e) = self.member.subscribe(topics.iter().cloned().collect(), now) {
            tracing::warn!(error = %e, "subscribing to the topics the pattern matched failed");
        }
        self.matched = topics;
    }
}

impl GroupShared {
    pub(crate) fn new(
        member: Box<dyn Membership>,
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
                commits: CommitState::default(),
                auto_commit: None,
                rebalances: 0,
                stopped: HashMap::new(),
                committing: HashMap::new(),
                pattern: None,
                matched: BTreeSet::new(),
                refresh_metadata: false,
                spans: MemberSpans::new(engine.config.group_id.as_deref().unwrap_or_default()),
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

    /// The health view and the number of rebalances completed (statistics).
    pub(crate) fn statistics(&self) -> (GroupState, u64) {
        let rebalances = self.lock().rebalances;
        (self.state(), rebalances)
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
            .filter_map(|tp| {
                st.delivered_offset(&tp)
                    .or_else(|| inner.revoking_positions.get(&tp).cloned())
            })
            .collect()
    }

    /// Removes `partitions` from the fetch engine (buffered data dropped); returns their positions.
    pub(super) fn purge(&self, partitions: &[kafkaroo_group::TopicPartition]) -> Vec<OffsetToCommit> {
        let mut out = Vec::new();
        let mut st = self.engine.lock();
        for tp in partitions {
            // Commit only what the application was given: records `recv` still holds are dropped
            // with the partition and not counted.
            out.extend(st.delivered_offset(tp));
            st.partitions.remove(tp);
            st.undelivered
                .retain(|r| r.partition() != tp.partition || r.topic() != tp.topic);
        }
        drop(st);
        self.engine.driver_wake.notify_one();
        out
    }
}

/// Closes the member (final revoke, commit on revoke with auto-commit, LeaveGroup unless static) and
/// waits for it, at most `timeout`.
pub(crate) async fn close(group: &GroupShared, mode: CloseMode, timeout: Duration) {
    group.lock().member.close(mode, Instant::now());
    group.wake.notify_one();
    let deadline = Instant::now() + timeout;
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
            () = tokio::time::sleep_until(deadline.into()) => return,
        }
    }
}
