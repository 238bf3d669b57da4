//! The classic-protocol group membership state machine (JoinGroup / SyncGroup / Heartbeat / LeaveGroup,
//! plus OffsetCommit and OffsetFetch), sans-IO.
//!
//! [`GroupMember`] never reads a clock, never touches a socket and never spawns: every time-dependent
//! call takes `now: Instant` (the driver's monotonic clock; the member only compares and adds durations,
//! so tests can start from any `Instant` and advance it by hand). Backoff jitter comes from
//! [`MemberConfig::jitter_seed`], so a run is a pure function of its inputs.
//!
//! # Driving it (quinn-proto style)
//!
//! ```text
//! loop {
//!     // inputs: handle_response / handle_timeout / subscribe / poll_called / commit / ...
//!     while let Some(t) = member.poll_transmit() { send(t) }        // requests to send
//!     while let Some(e) = member.poll_event() { apply(e) }          // events for the application
//!     sleep_until(member.poll_timeout()); member.handle_timeout(now);
//! }
//! ```
//!
//! The driver reports each request's outcome with [`GroupMember::handle_response`] (a decoded
//! [`Response`], or [`Response::Failed`] when [`Transmit::timeout`] elapsed or the connection broke).
//!
//! # States
//!
//! ```text
//!            subscribe                         JoinGroup ok            SyncGroup ok
//! Unjoined ───────────▶ [FindingCoordinator] ─▶ Joining ──────────────▶ Syncing ──────────▶ Stable
//!    ▲                  (whenever the            │  ▲ MEMBER_ID_REQUIRED: adopt id, resend at once  │
//!    │                   coordinator is          │  └─ LOAD_IN_PROGRESS / REBALANCE: backoff        │
//!    │                   unknown; membership     │                                                  │
//!    │                   is kept)                ▼                                                  │
//!    │                                     Revoking (eager: everything, before JoinGroup;           │
//!    │                                      cooperative: owned − assigned, after SyncGroup)  ◀──────┤
//!    │                                       │ revocation_done → (re)join                           │
//!    │                                                                                              │
//!    │  leave/close → Revoking → Leaving ─▶ Unjoined (+ Closed event)     heartbeat REBALANCE ──────┤
//!    │                                                                   metadata change (leader) ──┘
//!    │  ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / local session expiry → Lost event, rejoin (Joining)
//!    └─ max.poll.interval exceeded → Lost event, LeaveGroup → Lost state ─ poll_called ─▶ Joining
//!       FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED, INVALID_SESSION_TIMEOUT, auth → Fatal (terminal)
//! ```
//!
//! # Rebalance events and acknowledgements
//!
//! - [`GroupEvent::Revoked`]: the application must call [`GroupMember::revocation_done`]; the partitions
//!   stay owned (and committable) until then, and the member does not (re)join before it (KIP-429).
//! - [`GroupEvent::Assigned`]: newly added partitions only; the application must call
//!   [`GroupMember::assignment_done`] before the next rejoin can start (Java runs the callback in
//!   `poll`, so a rebalance never overtakes it). The member fetches the added partitions' committed
//!   offsets by itself and reports them in a separate [`GroupEvent::OffsetsFetched`].
//! - [`GroupEvent::Lost`]: no acknowledgement; never commit those partitions.
//!
//! # Commits
//!
//! [`GroupMember::commit`] refuses partitions the member does not own and commits during a JoinGroup or
//! SyncGroup ([`GroupError::RebalanceInProgress`]). Commits are sent one at a time in call order, so an
//! older commit never lands after a newer one; at send time offsets of partitions no longer owned are
//! dropped. Each commit carries the generation, member id and instance id.
//!
//! # What the driver does
//!
//! See [`GroupMember`]: send transmits on the coordinator's *group* connection, enforce
//! [`Transmit::timeout`] (and close the connection when it fires), keep metadata for
//! [`GroupMember::group_subscription`] and report partition counts through
//! [`GroupMember::metadata_changed`], call [`GroupMember::poll_called`] from the application's poll.

//!
//! # Decisions and known limits
//!
//! - **Time** is the caller's `Instant`; jitter is a splitmix64 PRNG seeded from the config.
//! - **Session expiry is judged conservatively**: from the *send* time of the last acknowledged
//!   Heartbeat/SyncGroup (the coordinator saw it later), so the member declares its partitions lost no
//!   later than the coordinator can reassign them. A JoinGroup may never reach the coordinator, so
//!   partitions a cooperative member still holds are dropped as lost once a JoinGroup is pending past
//!   the session timeout (the join continues; the member claimed them, so they usually come back).
//! - **The leader triggers a follow-up rebalance** when the cooperative golden rule leaves partitions
//!   unassigned; their owners normally rejoin after revoking, but a stale or conflicting claim has no
//!   owner that would.
//! - **KIP-814**: a static leader restarting with `skip_assignment` takes the current partition counts as
//!   the baseline, so a count change that happened while it was down goes unnoticed until the next
//!   rebalance (Java has the same gap).
//! - Commits are serialized (one OffsetCommit in flight). The driver must close the connection when a
//!   request times out, so that a timed-out commit cannot land after its retry or a newer commit.
//! - Not handled here: auto-commit scheduling, regex subscriptions, rack-aware assignment, throttling
//!   (`throttle_time_ms`), KIP-848 (`ConsumerGroupHeartbeat`), a deadline for [`GroupMember::close`].

mod error;
mod io;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, trace, warn};

use crate::assignor::{Assignor, PartitionCounts, RebalanceProtocol, UserDataContext, withhold_transfers};
use crate::protocol::{
    Assignment, DEFAULT_GENERATION, Subscription, TopicPartition, decode_group_subscriptions,
};

pub use error::{GroupError, codes};
pub use io::{
    CloseMode, CommitId, CommitKind, CommitOutcome, CommittedOffset, FetchedOffset, GroupEvent,
    JoinGroupMember, JoinGroupRequest, JoinGroupResponse, MemberConfig, MemberState, OffsetCommitRequest,
    OffsetToCommit, Request, RequestId, Response, SyncGroupRequest, Target, Transmit, TransportFailure,
};

const PROTOCOL_TYPE: &str = "consumer";
/// The heartbeat interval for one `heartbeat.interval.ms` after a cooperative SyncGroup.
const FAST_HEARTBEAT: Duration = Duration::from_millis(100);

/// Where the member is in the join protocol (the public [`MemberState`] is derived from this plus the
/// coordinator and the pending callbacks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unjoined,
    Joining,
    Syncing,
    Stable,
    PollExpired,
    Leaving,
    Closed,
    Fatal,
}

/// What an in-flight request was.
#[derive(Debug, Clone)]
enum Pending {
    Find,
    Join,
    Sync {
        sent_at: Instant,
    },
    Heartbeat {
        sent_at: Instant,
        generation: i32,
        member_id: String,
    },
    Leave {
        closing: bool,
    },
    Commit {
        generation: i32,
        member_id: String,
    },
    Fetch,
}

#[derive(Debug, Clone)]
struct QueuedCommit {
    id: CommitId,
    offsets: Vec<OffsetToCommit>,
    kind: CommitKind,
    attempts: u32,
    last_error: Option<GroupError>,
    /// Already reported (failed because membership was lost while in flight).
    reported: bool,
    /// Partitions dropped at send time because they were no longer owned; reported with the result.
    dropped: Vec<TopicPartition>,
}

#[derive(Debug, Clone)]
struct LeavePlan {
    send: bool,
    closing: bool,
}

#[derive(Debug, Clone)]
struct LeaveRequest {
    member_id: String,
    reason: String,
    closing: bool,
}

/// One consumer's membership in a classic consumer group. See the [module docs](self).
#[derive(Debug)]
pub struct GroupMember {
    config: MemberConfig,
    cooperative: bool,
    now: Instant,
    next_request: u64,
    next_commit: u64,
    rng: u64,

    topics: BTreeSet<String>,
    metadata: PartitionCounts,

    coordinator: Option<i32>,
    find_retry_at: Option<Instant>,
    find_attempts: u32,

    member_id: String,
    generation: i32,
    protocol_name: Option<String>,
    leader_id: String,
    phase: Phase,
    rejoin_reason: Option<String>,
    join_retry_at: Option<Instant>,
    join_attempts: u32,
    sync_assignments: Vec<(String, Bytes)>,
    /// Leader only: the partition counts (of the group's topics) the last assignment used.
    assigned_with: Option<PartitionCounts>,
    group_topics: BTreeSet<String>,

    owned: BTreeSet<TopicPartition>,
    owned_generation: i32,
    /// Eager sticky user data: the last assignment and its generation.
    previous_assignment: (Vec<TopicPartition>, i32),
    revoking: Option<BTreeSet<TopicPartition>>,
    assigning: bool,
    leave_plan: Option<LeavePlan>,
    leave_outbox: Option<LeaveRequest>,

    in_flight: BTreeMap<RequestId, Pending>,
    next_heartbeat: Option<Instant>,
    /// After a cooperative SyncGroup, heartbeats go out every [`FAST_HEARTBEAT`] until then (see
    /// `on_sync`).
    fast_heartbeats_until: Option<Instant>,
    /// Send time of the last request whose success proves the session alive; the session is considered
    /// expired `session_timeout` after it (conservative: the broker saw the request later).
    session_anchor: Option<Instant>,
    last_heartbeat: Option<Instant>,
    last_poll: Instant,

    commits: VecDeque<QueuedCommit>,
    commit_in_flight: Option<(RequestId, QueuedCommit)>,
    commit_retry_at: Option<Instant>,

    fetch_pending: BTreeSet<TopicPartition>,
    fetch_retry_at: Option<Instant>,
    fetch_attempts: u32,

    events: VecDeque<GroupEvent>,
    reported_state: MemberState,
    fatal: Option<GroupError>,
}

impl GroupMember {
    /// A member that has not subscribed yet. Fails if no assignor is configured.
    pub fn new(config: MemberConfig, now: Instant) -> Result<Self, GroupError> {
        if config.assignors.is_empty() {
            return Err(GroupError::Protocol(
                "partition.assignment.strategy is empty".into(),
            ));
        }
        let cooperative = config
            .assignors
            .iter()
            .all(|a| a.protocol() == RebalanceProtocol::Cooperative);
        let rng = config.jitter_seed;
        Ok(Self {
            config,
            cooperative,
            now,
            next_request: 0,
            next_commit: 0,
            rng,
            topics: BTreeSet::new(),
            metadata: PartitionCounts::new(),
            coordinator: None,
            find_retry_at: None,
            find_attempts: 0,
            member_id: String::new(),
            generation: DEFAULT_GENERATION,
            protocol_name: None,
            leader_id: String::new(),
            phase: Phase::Unjoined,
            rejoin_reason: None,
            join_retry_at: None,
            join_attempts: 0,
            sync_assignments: Vec::new(),
            assigned_with: None,
            group_topics: BTreeSet::new(),
            owned: BTreeSet::new(),
            owned_generation: DEFAULT_GENERATION,
            previous_assignment: (Vec::new(), DEFAULT_GENERATION),
            revoking: None,
            assigning: false,
            leave_plan: None,
            leave_outbox: None,
            in_flight: BTreeMap::new(),
            next_heartbeat: None,
            fast_heartbeats_until: None,
            session_anchor: None,
            last_heartbeat: None,
            last_poll: now,
            commits: VecDeque::new(),
            commit_in_flight: None,
            commit_retry_at: None,
            fetch_pending: BTreeSet::new(),
            fetch_retry_at: None,
            fetch_attempts: 0,
            events: VecDeque::new(),
            reported_state: MemberState::Unjoined,
            fatal: None,
        })
    }

    // -----------------------------------------------------------------------------------------------
    // Health view
    // -----------------------------------------------------------------------------------------------

    /// The current state.
    pub fn state(&self) -> MemberState {
        match self.phase {
            Phase::Fatal => MemberState::Fatal,
            Phase::Unjoined | Phase::Closed => MemberState::Unjoined,
            Phase::PollExpired => MemberState::Lost,
            _ if self.revoking.is_some() => MemberState::Revoking,
            Phase::Leaving => MemberState::Leaving,
            _ if self.coordinator.is_none() => MemberState::FindingCoordinator,
            Phase::Joining => MemberState::Joining,
            Phase::Syncing => MemberState::Syncing,
            Phase::Stable => MemberState::Stable,
        }
    }

    /// The generation (-1 when not in one).
    pub fn generation(&self) -> i32 {
        self.generation
    }

    /// The member id (empty before the first JoinGroup answer).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The partitions this member owns now, sorted (including partitions being revoked, until
    /// [`revocation_done`](Self::revocation_done)).
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.owned.iter().cloned().collect()
    }

    /// Whether this member owns `partition` now (also while it is being revoked).
    pub fn owns(&self, partition: &TopicPartition) -> bool {
        self.owned.contains(partition)
    }

    /// The coordinator's node id, if known.
    pub fn coordinator(&self) -> Option<i32> {
        self.coordinator
    }

    /// When the last successful heartbeat response arrived.
    pub fn last_heartbeat(&self) -> Option<Instant> {
        self.last_heartbeat
    }

    /// The leader's member id of the last JoinGroup answer (empty before one).
    pub fn leader_id(&self) -> &str {
        &self.leader_id
    }

    /// Whether this member leads the current generation.
    pub fn is_leader(&self) -> bool {
        !self.member_id.is_empty() && self.leader_id == self.member_id && self.generation >= 0
    }

    /// The selected protocol (assignor) of the current generation.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    /// The error that stopped the member, if any.
    pub fn fatal_error(&self) -> Option<&GroupError> {
        self.fatal.as_ref()
    }

    /// Topics the driver must keep metadata for (and report through
    /// [`metadata_changed`](Self::metadata_changed)): the member's own subscription, plus every member's
    /// topics when this member is the leader.
    pub fn group_subscription(&self) -> Vec<String> {
        let mut topics = self.topics.clone();
        if self.is_leader() {
            topics.extend(self.group_topics.iter().cloned());
        }
        topics.into_iter().collect()
    }

    // -----------------------------------------------------------------------------------------------
    // Inputs
    // -----------------------------------------------------------------------------------------------

    /// Subscribes to `topics` (replacing the previous subscription). Joins the group, or rejoins if the
    /// topics changed. An empty list is [`leave`](Self::leave).
    pub fn subscribe<I, S>(&mut self, topics: I, now: Instant) -> Result<(), GroupError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.advance(now);
        match self.phase {
            Phase::Fatal => return Err(self.fatal.clone().unwrap_or(GroupError::Closed)),
            Phase::Closed => return Err(GroupError::Closed),
            _ => {}
        }
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if topics.is_empty() {
            self.leave(now);
            return Ok(());
        }
        if topics == self.topics && self.phase != Phase::Unjoined {
            return Ok(());
        }
        self.topics = topics;
        match self.phase {
            Phase::Unjoined | Phase::Leaving => {
                self.leave_plan = None;
                self.last_poll = now;
                self.phase = Phase::Joining;
                self.rejoin_reason = Some("subscribed".into());
                self.join_retry_at = None;
            }
            _ => self.request_rejoin("subscription changed"),
        }
        self.finish();
        Ok(())
    }

    /// Partition counts of topics changed (or were learned). The leader rejoins when a count of a topic
    /// in the group subscription differs from what its last assignment used.
    pub fn metadata_changed(&mut self, partitions: &PartitionCounts, now: Instant) {
        self.advance(now);
        for (topic, &count) in partitions {
            self.metadata.insert(topic.clone(), count);
        }
        if self.phase == Phase::Stable
            && self.is_leader()
            && let Some(used) = &self.assigned_with
        {
            let current = self.counts_for(&self.group_topics.clone());
            if &current != used {
                info!(
                    messaging.consumer.group.name = %self.config.group_id,
                    generation_id = self.generation,
                    "partition counts changed; the leader rejoins"
                );
                self.request_rejoin("metadata changed: partition counts of subscribed topics");
            }
        }
        self.finish();
    }

    /// The application polled (resets the `max.poll.interval.ms` timer). After the member left because
    /// of that timer, this rejoins.
    pub fn poll_called(&mut self, now: Instant) {
        self.advance(now);
        self.last_poll = now;
        if self.phase == Phase::PollExpired {
            self.phase = Phase::Joining;
            self.rejoin_reason = Some("rejoining after max.poll.interval.ms was exceeded".into());
            self.join_retry_at = None;
        }
        self.finish();
    }

    /// The application finished handling [`GroupEvent::Revoked`]: the partitions are released now, and a
    /// pending rejoin or leave proceeds.
    pub fn revocation_done(&mut self, now: Instant) {
        self.advance(now);
        if let Some(revoked) = self.revoking.take() {
            debug!(
                messaging.consumer.group.name = %self.config.group_id,
                count = revoked.len(),
                "revocation done; partitions released"
            );
            for tp in &revoked {
                self.owned.remove(tp);
                self.fetch_pending.remove(tp);
            }
            if self.phase == Phase::Leaving {
                self.proceed_leave();
            }
        }
        self.finish();
    }

    /// The application finished handling [`GroupEvent::Assigned`].
    pub fn assignment_done(&mut self, now: Instant) {
        self.advance(now);
        self.assigning = false;
        self.finish();
    }

    /// Commits offsets. Refused (with the error) when a partition is not owned, the member is not in a
    /// generation, or a JoinGroup/SyncGroup is in progress. The [`CommitOutcome`] comes as
    /// [`GroupEvent::CommitResult`].
    pub fn commit(
        &mut self,
        offsets: Vec<OffsetToCommit>,
        kind: CommitKind,
        now: Instant,
    ) -> Result<CommitId, GroupError> {
        self.advance(now);
        if let Some(e) = &self.fatal {
            return Err(e.clone());
        }
        if matches!(self.phase, Phase::Closed) {
            return Err(GroupError::Closed);
        }
        let not_owned: Vec<TopicPartition> = offsets
            .iter()
            .filter(|o| !self.owned.contains(&o.partition))
            .map(|o| o.partition.clone())
            .collect();
        if !not_owned.is_empty() {
            return Err(GroupError::NotOwned {
                partitions: not_owned,
            });
        }
        if !self.is_member() {
            return Err(GroupError::NotMember);
        }
        if self.join_or_sync_in_flight() || self.phase == Phase::Syncing {
            return Err(GroupError::RebalanceInProgress);
        }
        let id = CommitId(self.next_commit);
        self.next_commit += 1;
        let mut offsets = offsets;
        offsets.sort_by(|a, b| a.partition.cmp(&b.partition));
        if offsets.is_empty() {
            self.events.push_back(GroupEvent::CommitResult(CommitOutcome {
                id,
                committed: Vec::new(),
                failed: Vec::new(),
            }));
        } else {
            self.commits.push_back(QueuedCommit {
                id,
                offsets,
                kind,
                attempts: 0,
                last_error: None,
                reported: false,
                dropped: Vec::new(),
            });
        }
        self.finish();
        Ok(id)
    }

    /// Unsubscribes: revokes owned partitions ([`GroupEvent::Revoked`], wait for
    /// [`revocation_done`](Self::revocation_done)), sends LeaveGroup, then emits
    /// [`GroupEvent::Closed`]. The member can [`subscribe`](Self::subscribe) again afterwards.
    pub fn leave(&mut self, now: Instant) {
        self.advance(now);
        self.begin_leave(true, false);
        self.finish();
    }

    /// Closes the member for good: like [`leave`](Self::leave), but LeaveGroup is sent according to
    /// `mode` (static members remain by default, KIP-1092), and the member refuses further use.
    ///
    /// The driver should bound the time it waits for [`GroupEvent::Closed`] (the coordinator may be
    /// unreachable).
    pub fn close(&mut self, mode: CloseMode, now: Instant) {
        self.advance(now);
        let send = match mode {
            CloseMode::Leave => true,
            CloseMode::Remain => false,
            CloseMode::Default => self.config.group_instance_id.is_none(),
        };
        self.begin_leave(send, true);
        self.finish();
    }

    /// Timers: heartbeat schedule, local session expiry, `max.poll.interval.ms`, backoffs, sync commit
    /// deadlines. Call it at (or after) [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        if self.is_member()
            && !self.join_in_flight()
            && matches!(
                self.phase,
                Phase::Joining | Phase::Syncing | Phase::Stable | Phase::Leaving
            )
            && let Some(anchor) = self.session_anchor
            && now >= anchor + self.config.session_timeout
        {
            warn!(
                messaging.consumer.group.name = %self.config.group_id,
                generation_id = self.generation,
                member_id = %self.member_id,
                "session expired locally: no heartbeat acknowledged within session.timeout.ms"
            );
            self.mark_coordinator_unknown("session expired");
            self.lose_and_rejoin(GroupError::SessionExpired, true);
        }
        // A JoinGroup in flight keeps the member alive only if it reached the coordinator, which the
        // member cannot know: past the session timeout, partitions it still holds (cooperative) may
        // have been reassigned, so they are dropped as lost. The join continues; the member claimed
        // them in it, so the leader may hand them back.
        if self.join_in_flight()
            && !self.owned.is_empty()
            && self
                .session_anchor
                .is_some_and(|anchor| now >= anchor + self.config.session_timeout)
        {
            warn!(
                messaging.consumer.group.name = %self.config.group_id,
                generation_id = self.generation,
                member_id = %self.member_id,
                "JoinGroup pending past session.timeout.ms; dropping owned partitions as lost"
            );
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.emit(GroupEvent::Lost {
                partitions,
                reason: GroupError::SessionExpired,
            });
            self.revoking = None;
            self.fetch_pending.clear();
            self.fail_all_commits(&GroupError::SessionExpired);
        }
        if self.poll_timer_active() && now >= self.last_poll + self.config.max_poll_interval {
            self.poll_expired();
        }
        // Sync commits waiting in the queue past their deadline.
        let mut expired = Vec::new();
        self.commits.retain(|c| match c.kind {
            CommitKind::Sync { deadline } if now >= deadline => {
                expired.push(c.clone());
                false
            }
            _ => true,
        });
        for c in expired {
            let last = c.last_error.clone().unwrap_or(GroupError::RebalanceInProgress);
            self.fail_commit(c, GroupError::CommitTimedOut { last: Box::new(last) });
        }
        self.finish();
    }

    /// A response (or transport failure) for request `id`.
    pub fn handle_response(&mut self, now: Instant, id: RequestId, response: Response) {
        self.advance(now);
        let Some(pending) = self.in_flight.remove(&id) else {
            trace!(id = id.0, "response to an abandoned request ignored");
            return;
        };
        match pending {
            Pending::Find => self.on_find(response),
            Pending::Join => self.on_join(response),
            Pending::Sync { sent_at } => self.on_sync(response, sent_at),
            Pending::Heartbeat {
                sent_at,
                generation,
                member_id,
            } => self.on_heartbeat(response, sent_at, generation, &member_id),
            Pending::Leave { closing } => self.on_leave(response, closing),
            Pending::Commit {
                generation,
                member_id,
            } => self.on_commit(id, response, generation, &member_id),
            Pending::Fetch => self.on_fetch(response),
        }
        self.finish();
    }

    // -----------------------------------------------------------------------------------------------
    // Outputs
    // -----------------------------------------------------------------------------------------------

    /// The next request to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.next_transmit();
        self.finish();
        t
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<GroupEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should be called next (always later than the last
    /// `now` the member saw; `None` when no timer is armed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut times: Vec<Instant> = Vec::new();
        if matches!(self.phase, Phase::Fatal | Phase::Closed) {
            return None;
        }
        if self.coordinator.is_none() {
            times.extend(self.find_retry_at);
        }
        if self.phase == Phase::Joining {
            times.extend(self.join_retry_at);
        }
        if self.heartbeat_eligible() && !self.has_pending(|p| matches!(p, Pending::Heartbeat { .. })) {
            times.extend(self.next_heartbeat);
        }
        if self.is_member()
            && (!self.join_in_flight() || !self.owned.is_empty())
            && let Some(anchor) = self.session_anchor
        {
            times.push(anchor + self.config.session_timeout);
        }
        if self.poll_timer_active() {
            times.push(self.last_poll + self.config.max_poll_interval);
        }
        if !self.commits.is_empty() {
            times.extend(self.commit_retry_at);
            for c in &self.commits {
                if let CommitKind::Sync { deadline } = c.kind {
                    times.push(deadline);
                }
            }
        }
        if !self.fetch_pending.is_empty() {
            times.extend(self.fetch_retry_at);
        }
        times.into_iter().filter(|t| *t > self.now).min()
    }

    // -----------------------------------------------------------------------------------------------
    // Internals: helpers
    // -----------------------------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Emits `StateChanged` if the public state changed.
    fn finish(&mut self) {
        let state = self.state();
        if state != self.reported_state {
            debug!(
                messaging.consumer.group.name = %self.config.group_id,
                generation_id = self.generation,
                member_id = %self.member_id,
                from = ?self.reported_state,
                to = ?state,
                "group member state"
            );
            self.events.push_back(GroupEvent::StateChanged {
                from: self.reported_state,
                to: state,
            });
            self.reported_state = state;
        }
    }

    fn alloc_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Exponential backoff with ±20 % jitter (KIP-580).
    fn backoff(&mut self, attempts: u32) -> Duration {
        let base = self
            .config
            .retry_backoff
            .saturating_mul(1u32 << attempts.min(16))
            .min(self.config.retry_backoff_max);
        let permille = 800 + (self.next_random() % 401) as u32;
        base * permille / 1000
    }

    fn is_member(&self) -> bool {
        self.generation >= 0 && !self.member_id.is_empty()
    }

    fn has_pending(&self, f: impl Fn(&Pending) -> bool) -> bool {
        self.in_flight.values().any(f)
    }

    fn join_in_flight(&self) -> bool {
        self.has_pending(|p| matches!(p, Pending::Join))
    }

    fn join_or_sync_in_flight(&self) -> bool {
        self.has_pending(|p| matches!(p, Pending::Join | Pending::Sync { .. }))
    }

    fn callbacks_pending(&self) -> bool {
        self.revoking.is_some() || self.assigning
    }

    fn heartbeat_eligible(&self) -> bool {
        self.is_member()
            && self.coordinator.is_some()
            && matches!(self.phase, Phase::Stable | Phase::Joining | Phase::Leaving)
            && !self.join_or_sync_in_flight()
            && !(self.phase == Phase::Leaving && self.leave_outbox.is_none() && self.revoking.is_none())
    }

    fn poll_timer_active(&self) -> bool {
        self.is_member() && matches!(self.phase, Phase::Joining | Phase::Syncing | Phase::Stable)
    }

    fn counts_for(&self, topics: &BTreeSet<String>) -> PartitionCounts {
        topics
            .iter()
            .filter_map(|t| self.metadata.get(t).map(|&n| (t.clone(), n)))
            .collect()
    }

    fn emit(&mut self, event: GroupEvent) {
        self.events.push_back(event);
    }

    // -----------------------------------------------------------------------------------------------
    // Internals: transitions
    // -----------------------------------------------------------------------------------------------

    /// `heartbeat.interval.ms`, or [`FAST_HEARTBEAT`] right after a cooperative SyncGroup.
    fn heartbeat_interval_now(&self) -> Duration {
        match self.fast_heartbeats_until {
            Some(until) if self.now < until => self.config.heartbeat_interval.min(FAST_HEARTBEAT),
            _ => self.config.heartbeat_interval,
        }
    }

    fn request_rejoin(&mut self, reason: &str) {
        match self.phase {
            Phase::Stable => self.start_rejoin(reason),
            Phase::Joining if self.rejoin_reason.is_none() => {
                self.rejoin_reason = Some(reason.to_owned());
            }
            // Rejoin right after the SyncGroup completes.
            Phase::Syncing => self.rejoin_reason = Some(reason.to_owned()),
            _ => {}
        }
    }

    fn start_rejoin(&mut self, reason: &str) {
        debug!(
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
            reason,
            "rejoining"
        );
        self.phase = Phase::Joining;
        self.rejoin_reason = Some(reason.to_owned());
        self.join_retry_at = None;
        self.join_attempts = 0;
        if self.revoking.is_some() {
            return;
        }
        let to_revoke: BTreeSet<TopicPartition> = if self.cooperative {
            // Partitions of topics no longer subscribed go first.
            self.owned
                .iter()
                .filter(|tp| !self.topics.contains(&tp.topic))
                .cloned()
                .collect()
        } else {
            self.owned.clone()
        };
        if !to_revoke.is_empty() {
            self.emit(GroupEvent::Revoked {
                partitions: to_revoke.iter().cloned().collect(),
            });
            self.revoking = Some(to_revoke);
        }
    }

    /// Drops every partition as lost (no commit), resets the generation (and the member id if asked),
    /// fails pending commits and abandons in-flight membership requests.
    fn membership_lost(&mut self, reason: GroupError, reset_member_id: bool) {
        warn!(
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
            error = %reason,
            "membership lost"
        );
        if !self.owned.is_empty() {
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.emit(GroupEvent::Lost {
                partitions,
                reason: reason.clone(),
            });
        }
        self.revoking = None;
        self.assigning = false;
        self.fetch_pending.clear();
        self.generation = DEFAULT_GENERATION;
        self.owned_generation = DEFAULT_GENERATION;
        self.previous_assignment = (Vec::new(), DEFAULT_GENERATION);
        self.assigned_with = None;
        self.session_anchor = None;
        self.next_heartbeat = None;
        if reset_member_id {
            self.member_id.clear();
        }
        self.in_flight.retain(|_, p| {
            !matches!(
                p,
                Pending::Join | Pending::Sync { .. } | Pending::Heartbeat { .. } | Pending::Fetch
            )
        });
        self.fail_all_commits(&reason);
    }

    fn lose_and_rejoin(&mut self, reason: GroupError, reset_member_id: bool) {
        let text = reason.to_string();
        self.membership_lost(reason, reset_member_id);
        if self.phase == Phase::Leaving {
            // Nothing left to leave.
            self.leave_outbox = None;
            self.finish_leave();
            return;
        }
        if matches!(self.phase, Phase::Joining | Phase::Syncing | Phase::Stable) {
            self.phase = Phase::Joining;
            self.rejoin_reason = Some(text);
            self.join_retry_at = None;
        }
    }

    fn poll_expired(&mut self) {
        warn!(
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
            "max.poll.interval.ms exceeded; leaving the group"
        );
        let member_id = self.member_id.clone();
        let dynamic = self.config.group_instance_id.is_none();
        self.membership_lost(GroupError::MaxPollIntervalExceeded, true);
        if dynamic && !member_id.is_empty() {
            self.leave_outbox = Some(LeaveRequest {
                member_id,
                reason: "consumer poll timeout has expired (max.poll.interval.ms)".into(),
                closing: false,
            });
        }
        self.phase = Phase::PollExpired;
    }

    fn fatal(&mut self, error: GroupError) {
        if self.phase == Phase::Fatal {
            return;
        }
        tracing::error!(
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
            error = %error,
            "fatal group error"
        );
        if !self.owned.is_empty() {
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.emit(GroupEvent::Lost {
                partitions,
                reason: error.clone(),
            });
        }
        self.revoking = None;
        self.assigning = false;
        self.fetch_pending.clear();
        self.in_flight.clear();
        self.leave_outbox = None;
        self.fail_all_commits(&error);
        if let Some((_, c)) = self.commit_in_flight.take()
            && !c.reported
        {
            self.fail_commit(c, error.clone());
        }
        self.phase = Phase::Fatal;
        self.fatal = Some(error.clone());
        self.emit(GroupEvent::Fatal(error));
    }

    fn mark_coordinator_unknown(&mut self, why: &str) {
        let Some(node) = self.coordinator.take() else {
            return;
        };
        debug!(
            messaging.consumer.group.name = %self.config.group_id,
            node,
            why,
            "coordinator unknown; rediscovering"
        );
        self.find_retry_at = if self.find_attempts == 0 {
            None
        } else {
            let b = self.backoff(self.find_attempts - 1);
            Some(self.now + b)
        };
        self.find_attempts = self.find_attempts.saturating_add(1);
        let mut abandoned_sync = false;
        self.in_flight.retain(|_, p| match p {
            Pending::Join | Pending::Heartbeat { .. } | Pending::Fetch => false,
            Pending::Sync { .. } => {
                abandoned_sync = true;
                false
            }
            _ => true,
        });
        if abandoned_sync && self.phase == Phase::Syncing {
            self.phase = Phase::Joining;
            self.rejoin_reason = Some("coordinator changed during SyncGroup".into());
            self.join_retry_at = None;
        }
    }

    fn begin_leave(&mut self, send: bool, closing: bool) {
        match self.phase {
            Phase::Fatal | Phase::Closed => return,
            Phase::Unjoined | Phase::PollExpired => {
                self.topics.clear();
                self.phase = Phase::Leaving;
                self.leave_plan = Some(LeavePlan { send, closing });
                // A PollExpired member may still have its LeaveGroup queued; keep it.
                if self.leave_outbox.is_none() {
                    self.finish_leave();
                } else if let Some(l) = &mut self.leave_outbox {
                    l.closing = true;
                }
                return;
            }
            _ => {}
        }
        self.topics.clear();
        self.in_flight
            .retain(|_, p| !matches!(p, Pending::Join | Pending::Sync { .. }));
        self.phase = Phase::Leaving;
        self.leave_plan = Some(LeavePlan { send, closing });
        let unrevoked: BTreeSet<TopicPartition> = match &self.revoking {
            Some(r) => self.owned.difference(r).cloned().collect(),
            None => self.owned.clone(),
        };
        if !unrevoked.is_empty() {
            self.emit(GroupEvent::Revoked {
                partitions: unrevoked.iter().cloned().collect(),
            });
            self.revoking = Some(self.owned.clone());
        }
        if self.revoking.is_none() {
            self.proceed_leave();
        }
    }

    fn proceed_leave(&mut self) {
        let Some(plan) = self.leave_plan.clone() else {
            return;
        };
        if plan.send && !self.member_id.is_empty() {
            self.leave_outbox = Some(LeaveRequest {
                member_id: self.member_id.clone(),
                reason: if plan.closing {
                    "the consumer is being closed".into()
                } else {
                    "the consumer unsubscribed from all topics".into()
                },
                closing: true,
            });
        } else {
            self.finish_leave();
        }
    }

    fn finish_leave(&mut self) {
        let closing = self.leave_plan.take().is_some_and(|p| p.closing);
        if !self.owned.is_empty() {
            // Not revoked through the callback (membership was lost meanwhile).
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.emit(GroupEvent::Lost {
                partitions,
                reason: GroupError::Closed,
            });
        }
        self.revoking = None;
        self.assigning = false;
        self.fetch_pending.clear();
        self.generation = DEFAULT_GENERATION;
        self.owned_generation = DEFAULT_GENERATION;
        self.member_id.clear();
        self.assigned_with = None;
        self.session_anchor = None;
        self.next_heartbeat = None;
        self.in_flight
            .retain(|_, p| matches!(p, Pending::Commit { .. } | Pending::Leave { .. }));
        self.fail_all_commits(&GroupError::NotMember);
        self.phase = if closing { Phase::Closed } else { Phase::Unjoined };
        self.emit(GroupEvent::Closed);
    }

    // -----------------------------------------------------------------------------------------------
    // Internals: commits
    // -----------------------------------------------------------------------------------------------

    fn fail_commit(&mut self, c: QueuedCommit, error: GroupError) {
        let mut failed: Vec<(TopicPartition, GroupError)> = c
            .offsets
            .iter()
            .map(|o| (o.partition.clone(), error.clone()))
            .collect();
        failed.extend(Self::dropped_failures(&c));
        self.emit(GroupEvent::CommitResult(CommitOutcome {
            id: c.id,
            committed: Vec::new(),
            failed,
        }));
    }

    fn dropped_failures(c: &QueuedCommit) -> Vec<(TopicPartition, GroupError)> {
        c.dropped
            .iter()
            .map(|tp| {
                (
                    tp.clone(),
                    GroupError::NotOwned {
                        partitions: vec![tp.clone()],
                    },
                )
            })
            .collect()
    }

    fn fail_all_commits(&mut self, error: &GroupError) {
        for c in std::mem::take(&mut self.commits) {
            self.fail_commit(c, error.clone());
        }
        if let Some((_, c)) = &mut self.commit_in_flight
            && !c.reported
        {
            c.reported = true;
            let c = c.clone();
            self.fail_commit(c, error.clone());
        }
    }

    fn can_send_commit(&self) -> bool {
        self.is_member()
            && !self.join_or_sync_in_flight()
            && matches!(self.phase, Phase::Stable | Phase::Joining | Phase::Leaving)
    }

    fn on_commit(&mut self, id: RequestId, response: Response, generation: i32, member_id: &str) {
        let Some((cid, mut commit)) = self.commit_in_flight.take() else {
            return;
        };
        debug_assert_eq!(cid, id);
        let partitions = match response {
            Response::OffsetCommit { partitions } => partitions,
            Response::Failed(f) => {
                self.mark_coordinator_unknown("commit failed in transport");
                self.retry_or_fail_commit(commit, GroupError::Transport(f));
                return;
            }
            other => {
                warn!(?other, "unexpected response to OffsetCommit");
                self.retry_or_fail_commit(commit, GroupError::Protocol("unexpected response".into()));
                return;
            }
        };
        let codes_by: BTreeMap<TopicPartition, i16> = partitions.into_iter().collect();
        let mut committed = Vec::new();
        let mut failed = Vec::new();
        let mut worst: Option<i16> = None;
        for o in &commit.offsets {
            match codes_by.get(&o.partition).copied() {
                Some(codes::NONE) => committed.push(o.partition.clone()),
                Some(code) => {
                    worst.get_or_insert(code);
                    failed.push((o.partition.clone(), code));
                }
                None => failed.push((o.partition.clone(), codes::UNKNOWN_TOPIC_OR_PARTITION)),
            }
        }
        if failed.is_empty() {
            self.find_attempts = 0;
            if !commit.reported {
                self.emit(GroupEvent::CommitResult(CommitOutcome {
                    id: commit.id,
                    committed,
                    failed: Self::dropped_failures(&commit),
                }));
            }
            return;
        }
        let code = worst.unwrap_or(codes::UNKNOWN_TOPIC_OR_PARTITION);
        let error = match code {
            codes::COORDINATOR_LOAD_IN_PROGRESS => Some(GroupError::CoordinatorLoadInProgress),
            codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE => {
                self.mark_coordinator_unknown("OffsetCommit: coordinator moved");
                Some(GroupError::CoordinatorMoved { code })
            }
            codes::REQUEST_TIMED_OUT => {
                self.mark_coordinator_unknown("OffsetCommit: REQUEST_TIMED_OUT");
                Some(GroupError::RequestTimedOut)
            }
            _ => None,
        };
        if let Some(error) = error {
            // The whole request failed for a retriable reason.
            self.retry_or_fail_commit(commit, error);
            return;
        }
        let error = match code {
            codes::REBALANCE_IN_PROGRESS => {
                // The coordinator is rebalancing and this member has not noticed yet (Java's
                // `requestRejoin`): rejoin now rather than wait for the next heartbeat to say so. The
                // commit fails; the application re-commits what it still owns after the rebalance.
                if self.generation == generation && self.phase == Phase::Stable {
                    self.request_rejoin("OffsetCommit: rebalance in progress");
                }
                GroupError::RebalanceInProgress
            }
            codes::ILLEGAL_GENERATION => {
                let e = GroupError::IllegalGeneration { generation };
                // Only a real stale generation in a stable member loses the assignment; during a
                // rebalance the commit simply fails (librdkafka#4059).
                if self.generation == generation && self.phase == Phase::Stable {
                    commit.reported = true;
                    self.fail_commit(commit.clone(), e.clone());
                    self.lose_and_rejoin(e.clone(), false);
                }
                e
            }
            codes::UNKNOWN_MEMBER_ID => {
                let e = GroupError::UnknownMemberId {
                    member_id: member_id.to_owned(),
                };
                if self.member_id == member_id && self.is_member() {
                    commit.reported = true;
                    self.fail_commit(commit.clone(), e.clone());
                    self.lose_and_rejoin(e.clone(), true);
                }
                e
            }
            codes::FENCED_INSTANCE_ID => {
                let e = GroupError::FencedInstanceId {
                    instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
                };
                // Fatal only if it fences our current member id, not an id we already replaced.
                if self.member_id == member_id {
                    commit.reported = true;
                    self.fail_commit(commit.clone(), e.clone());
                    self.fatal(e);
                    return;
                }
                e
            }
            codes::GROUP_AUTHORIZATION_FAILED => {
                let e = GroupError::GroupAuthorizationFailed {
                    group_id: self.config.group_id.clone(),
                };
                commit.reported = true;
                self.fail_commit(commit.clone(), e.clone());
                self.fatal(e);
                return;
            }
            code => GroupError::Broker {
                api: "OffsetCommit",
                code,
            },
        };
        if commit.reported {
            return;
        }
        let failed = failed
            .into_iter()
            .map(|(tp, c)| {
                let e = if c == code {
                    error.clone()
                } else {
                    match c {
                        codes::TOPIC_AUTHORIZATION_FAILED => GroupError::TopicAuthorizationFailed {
                            partition: tp.clone(),
                        },
                        c => GroupError::Broker {
                            api: "OffsetCommit",
                            code: c,
                        },
                    }
                };
                (tp, e)
            })
            .chain(Self::dropped_failures(&commit))
            .collect();
        self.emit(GroupEvent::CommitResult(CommitOutcome {
            id: commit.id,
            committed,
            failed,
        }));
    }

    /// Sync commits go back to the front of the queue (order is kept); async ones fail.
    fn retry_or_fail_commit(&mut self, mut commit: QueuedCommit, error: GroupError) {
        if commit.reported {
            return;
        }
        match commit.kind {
            CommitKind::Sync { deadline } if self.now < deadline => {
                debug!(error = %error, attempts = commit.attempts, "retrying sync commit");
                commit.attempts += 1;
                commit.last_error = Some(error);
                let b = self.backoff(commit.attempts - 1);
                self.commit_retry_at = Some(self.now + b);
                self.commits.push_front(commit);
            }
            CommitKind::Sync { .. } => {
                self.fail_commit(
                    commit,
                    GroupError::CommitTimedOut {
                        last: Box::new(error),
                    },
                );
            }
            CommitKind::Async => self.fail_commit(commit, error),
        }
    }

    // -----------------------------------------------------------------------------------------------
    // Internals: building requests
    // -----------------------------------------------------------------------------------------------

    fn next_transmit(&mut self) -> Option<Transmit> {
        if matches!(self.phase, Phase::Fatal | Phase::Closed) {
            return None;
        }
        let needs_coordinator = matches!(
            self.phase,
            Phase::Joining | Phase::Syncing | Phase::Stable | Phase::Leaving
        ) || self.leave_outbox.is_some()
            || !self.commits.is_empty()
            || !self.fetch_pending.is_empty();
        let Some(node) = self.coordinator else {
            if needs_coordinator
                && !self.has_pending(|p| matches!(p, Pending::Find))
                && self.find_retry_at.is_none_or(|t| t <= self.now)
            {
                let id = self.alloc_id();
                self.in_flight.insert(id, Pending::Find);
                trace!(messaging.consumer.group.name = %self.config.group_id, "FindCoordinator");
                return Some(Transmit {
                    id,
                    target: Target::AnyBroker,
                    request: Request::FindCoordinator {
                        group_id: self.config.group_id.clone(),
                    },
                    timeout: self.config.request_timeout,
                });
            }
            return None;
        };
        let commit_busy = self.commit_in_flight.is_some() || !self.commits.is_empty();

        // Commits first: a commit made in a revocation callback must reach the coordinator before our
        // JoinGroup/LeaveGroup (with the old generation).
        if let Some(t) = self.next_commit_transmit(node) {
            return Some(t);
        }
        if !commit_busy && let Some(leave) = self.leave_outbox.take() {
            let id = self.alloc_id();
            self.in_flight.insert(
                id,
                Pending::Leave {
                    closing: leave.closing,
                },
            );
            info!(
                messaging.consumer.group.name = %self.config.group_id,
                member_id = %leave.member_id,
                reason = %leave.reason,
                "leaving the group"
            );
            return Some(Transmit {
                id,
                target: Target::Coordinator(node),
                request: Request::LeaveGroup {
                    group_id: self.config.group_id.clone(),
                    member_id: leave.member_id,
                    group_instance_id: self.config.group_instance_id.clone(),
                    reason: leave.reason,
                },
                timeout: self.config.request_timeout,
            });
        }
        if self.phase == Phase::Joining
            && !commit_busy
            && !self.callbacks_pending()
            && !self.join_or_sync_in_flight()
            && self.join_retry_at.is_none_or(|t| t <= self.now)
        {
            return Some(self.join_transmit(node));
        }
        if self.phase == Phase::Syncing && !self.join_or_sync_in_flight() {
            return Some(self.sync_transmit(node));
        }
        if self.heartbeat_eligible()
            && !self.has_pending(|p| matches!(p, Pending::Heartbeat { .. }))
            && self.next_heartbeat.is_none_or(|t| t <= self.now)
        {
            let id = self.alloc_id();
            self.in_flight.insert(
                id,
                Pending::Heartbeat {
                    sent_at: self.now,
                    generation: self.generation,
                    member_id: self.member_id.clone(),
                },
            );
            trace!(
                messaging.consumer.group.name = %self.config.group_id,
                generation_id = self.generation,
                member_id = %self.member_id,
                "group.heartbeat"
            );
            return Some(Transmit {
                id,
                target: Target::Coordinator(node),
                request: Request::Heartbeat {
                    group_id: self.config.group_id.clone(),
                    generation_id: self.generation,
                    member_id: self.member_id.clone(),
                    group_instance_id: self.config.group_instance_id.clone(),
                },
                timeout: self.config.request_timeout,
            });
        }
        if !self.fetch_pending.is_empty()
            && !self.has_pending(|p| matches!(p, Pending::Fetch))
            && self.fetch_retry_at.is_none_or(|t| t <= self.now)
        {
            let owned = &self.owned;
            self.fetch_pending.retain(|tp| owned.contains(tp));
            if !self.fetch_pending.is_empty() {
                let id = self.alloc_id();
                self.in_flight.insert(id, Pending::Fetch);
                return Some(Transmit {
                    id,
                    target: Target::Coordinator(node),
                    request: Request::OffsetFetch {
                        group_id: self.config.group_id.clone(),
                        partitions: self.fetch_pending.iter().cloned().collect(),
                        require_stable: self.config.require_stable_offsets,
                    },
                    timeout: self.config.request_timeout,
                });
            }
        }
        None
    }

    fn next_commit_transmit(&mut self, node: i32) -> Option<Transmit> {
        while self.commit_in_flight.is_none() && self.commit_retry_at.is_none_or(|t| t <= self.now) {
            let mut commit = self.commits.pop_front()?;
            // Offsets of partitions no longer owned are dropped (never committed after losing them).
            let (keep, dropped): (Vec<_>, Vec<_>) = commit
                .offsets
                .drain(..)
                .partition(|o| self.owned.contains(&o.partition));
            commit.offsets = keep;
            commit.dropped.extend(dropped.iter().map(|o| o.partition.clone()));
            if commit.offsets.is_empty() {
                let e = GroupError::NotOwned {
                    partitions: commit.dropped.clone(),
                };
                self.fail_commit(commit, e);
                continue;
            }
            if !self.can_send_commit() {
                match commit.kind {
                    CommitKind::Async => {
                        self.fail_commit(commit, GroupError::RebalanceInProgress);
                        continue;
                    }
                    CommitKind::Sync { .. } => {
                        // Wait for the rebalance (bounded by the deadline).
                        if commit.last_error.is_none() {
                            commit.last_error = Some(GroupError::RebalanceInProgress);
                        }
                        self.commits.push_front(commit);
                        return None;
                    }
                }
            }
            let id = self.alloc_id();
            self.in_flight.insert(
                id,
                Pending::Commit {
                    generation: self.generation,
                    member_id: self.member_id.clone(),
                },
            );
            let request = Request::OffsetCommit(OffsetCommitRequest {
                group_id: self.config.group_id.clone(),
                generation_id: self.generation,
                member_id: self.member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
                offsets: commit.offsets.clone(),
            });
            self.commit_in_flight = Some((id, commit));
            self.commit_retry_at = None;
            return Some(Transmit {
                id,
                target: Target::Coordinator(node),
                request,
                timeout: self.config.request_timeout,
            });
        }
        None
    }

    fn join_transmit(&mut self, node: i32) -> Transmit {
        let id = self.alloc_id();
        self.in_flight.insert(id, Pending::Join);
        let topics: Vec<String> = self.topics.iter().cloned().collect();
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        let (context_owned, context_generation) = if self.cooperative {
            (owned.clone(), self.owned_generation)
        } else {
            self.previous_assignment.clone()
        };
        let protocols = self
            .config
            .assignors
            .iter()
            .map(|a| {
                let user_data = a.user_data(&UserDataContext {
                    topics: &topics,
                    owned: &context_owned,
                    generation: context_generation,
                });
                let subscription = Subscription {
                    topics: topics.clone(),
                    user_data,
                    owned_partitions: owned.clone(),
                    generation_id: if owned.is_empty() {
                        DEFAULT_GENERATION
                    } else {
                        self.owned_generation
                    },
                    rack_id: self.config.rack_id.clone(),
                    ..Subscription::default()
                };
                let metadata = subscription.encode().unwrap_or_else(|e| {
                    warn!(error = %e, "cannot encode subscription; sending an empty one");
                    Bytes::new()
                });
                (a.name().to_owned(), metadata)
            })
            .collect();
        // The reason is consumed: a new one arriving while this join is in flight triggers another.
        let reason = self.rejoin_reason.take().unwrap_or_else(|| "joining".to_owned());
        let span = tracing::debug_span!(
            "group.join",
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
        );
        span.in_scope(|| debug!(%reason, owned = owned.len(), "JoinGroup"));
        let ms = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        Transmit {
            id,
            target: Target::Coordinator(node),
            request: Request::JoinGroup(JoinGroupRequest {
                group_id: self.config.group_id.clone(),
                session_timeout_ms: ms(self.config.session_timeout),
                rebalance_timeout_ms: ms(self.config.max_poll_interval),
                member_id: self.member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
                protocol_type: PROTOCOL_TYPE.to_owned(),
                protocols,
                reason,
            }),
            timeout: self.config.max_poll_interval + self.config.join_timeout_margin,
        }
    }

    fn sync_transmit(&mut self, node: i32) -> Transmit {
        let id = self.alloc_id();
        self.in_flight.insert(id, Pending::Sync { sent_at: self.now });
        let span = tracing::debug_span!(
            "group.sync",
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
        );
        span.in_scope(|| {
            debug!(
                leader = self.is_leader(),
                assignments = self.sync_assignments.len(),
                "SyncGroup"
            )
        });
        Transmit {
            id,
            target: Target::Coordinator(node),
            request: Request::SyncGroup(SyncGroupRequest {
                group_id: self.config.group_id.clone(),
                generation_id: self.generation,
                member_id: self.member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
                protocol_type: PROTOCOL_TYPE.to_owned(),
                protocol_name: self.protocol_name.clone().unwrap_or_default(),
                assignments: self.sync_assignments.clone(),
            }),
            timeout: self.config.request_timeout,
        }
    }

    // -----------------------------------------------------------------------------------------------
    // Internals: responses
    // -----------------------------------------------------------------------------------------------

    /// Errors every coordinator API treats the same way. Returns true if handled.
    fn common_fatal(&mut self, code: i16, api: &'static str) -> bool {
        let error = match code {
            codes::FENCED_INSTANCE_ID => GroupError::FencedInstanceId {
                instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
            },
            codes::GROUP_MAX_SIZE_REACHED => GroupError::GroupMaxSizeReached,
            codes::INVALID_SESSION_TIMEOUT => GroupError::InvalidSessionTimeout {
                session_timeout_ms: i32::try_from(self.config.session_timeout.as_millis())
                    .unwrap_or(i32::MAX),
            },
            codes::INCONSISTENT_GROUP_PROTOCOL => GroupError::InconsistentGroupProtocol(format!(
                "{api}: the group uses protocols this member does not support"
            )),
            codes::GROUP_AUTHORIZATION_FAILED => GroupError::GroupAuthorizationFailed {
                group_id: self.config.group_id.clone(),
            },
            codes::UNSUPPORTED_VERSION | codes::INVALID_GROUP_ID => GroupError::Broker { api, code },
            _ => return false,
        };
        self.fatal(error);
        true
    }

    fn on_find(&mut self, response: Response) {
        match response {
            Response::FindCoordinator {
                error_code: codes::NONE,
                node_id,
            } => {
                debug!(
                    messaging.consumer.group.name = %self.config.group_id,
                    node_id,
                    "coordinator found"
                );
                self.coordinator = Some(node_id);
                self.find_retry_at = None;
                // Heartbeats resume at once: the session may be close to expiring.
                if self.is_member() {
                    self.next_heartbeat = Some(self.now);
                }
            }
            Response::FindCoordinator { error_code, .. }
                if self.common_fatal(error_code, "FindCoordinator") => {}
            other => {
                debug!(?other, "FindCoordinator failed; retrying");
                let b = self.backoff(self.find_attempts);
                self.find_attempts = self.find_attempts.saturating_add(1);
                self.find_retry_at = Some(self.now + b);
            }
        }
    }

    fn on_join(&mut self, response: Response) {
        if self.phase != Phase::Joining {
            return;
        }
        let r = match response {
            Response::JoinGroup(r) => r,
            Response::Failed(f) => {
                debug!(failure = ?f, "JoinGroup failed in transport; member id kept");
                self.mark_coordinator_unknown("JoinGroup transport failure");
                return;
            }
            other => {
                warn!(?other, "unexpected response to JoinGroup");
                self.join_backoff();
                return;
            }
        };
        match r.error_code {
            codes::NONE => self.on_join_ok(r),
            codes::MEMBER_ID_REQUIRED => {
                // KIP-394: not a failure; rejoin at once with the id.
                debug!(member_id = %r.member_id, "MEMBER_ID_REQUIRED: rejoining with the assigned id");
                self.member_id = r.member_id;
                self.join_retry_at = None;
            }
            codes::UNKNOWN_MEMBER_ID => {
                let e = GroupError::UnknownMemberId {
                    member_id: self.member_id.clone(),
                };
                self.lose_and_rejoin(e, true);
            }
            codes::ILLEGAL_GENERATION => {
                let e = GroupError::IllegalGeneration {
                    generation: self.generation,
                };
                self.lose_and_rejoin(e, false);
            }
            codes::COORDINATOR_LOAD_IN_PROGRESS | codes::REBALANCE_IN_PROGRESS => {
                self.join_backoff();
            }
            codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE | codes::REQUEST_TIMED_OUT => {
                self.mark_coordinator_unknown("JoinGroup: coordinator moved");
            }
            code if self.common_fatal(code, "JoinGroup") => {}
            code => self.fatal(GroupError::Broker {
                api: "JoinGroup",
                code,
            }),
        }
    }

    fn join_backoff(&mut self) {
        let b = self.backoff(self.join_attempts);
        self.join_attempts = self.join_attempts.saturating_add(1);
        self.join_retry_at = Some(self.now + b);
    }

    fn on_join_ok(&mut self, r: JoinGroupResponse) {
        self.find_attempts = 0;
        let protocol = r.protocol_name.clone().unwrap_or_default();
        let Some(assignor) = self
            .config
            .assignors
            .iter()
            .find(|a| a.name() == protocol)
            .cloned()
        else {
            self.fatal(GroupError::InconsistentGroupProtocol(format!(
                "the coordinator selected protocol {protocol:?}, which this member did not offer"
            )));
            return;
        };
        self.generation = r.generation_id;
        self.member_id = r.member_id.clone();
        self.leader_id = r.leader.clone();
        self.protocol_name = Some(protocol);
        // The coordinator restarted this member's session when it answered.
        self.session_anchor = Some(self.now);
        let span = tracing::info_span!(
            "group.join",
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
        );
        let _enter = span.enter();
        info!(
            leader = self.is_leader(),
            protocol = self.protocol_name.as_deref().unwrap_or(""),
            members = r.members.len(),
            skip_assignment = r.skip_assignment,
            "joined"
        );
        self.sync_assignments.clear();
        if self.is_leader() {
            let (members, errors) = decode_group_subscriptions(r.members.iter().map(|m| {
                (
                    m.member_id.as_str(),
                    m.group_instance_id.as_deref(),
                    m.metadata.clone(),
                )
            }));
            for e in &errors {
                warn!(error = %e, "member metadata undecodable; it subscribes to nothing this round");
            }
            self.group_topics = members
                .iter()
                .flat_map(|m| m.subscription.topics.iter().cloned())
                .collect();
            let counts = self.counts_for(&self.group_topics.clone());
            if r.skip_assignment {
                // KIP-814: a static leader rejoining must not compute an assignment, but still watches
                // metadata.
                self.assigned_with = Some(counts);
            } else {
                match self.compute_assignments(&*assignor, &members, &counts) {
                    Ok((a, withheld)) => {
                        self.sync_assignments = a;
                        self.assigned_with = Some(counts);
                        if withheld > 0 {
                            // Rejoin right after the SyncGroup (see compute_assignments).
                            self.rejoin_reason = Some(
                                "follow-up rebalance for partitions withheld by the cooperative \
                                 golden rule"
                                    .into(),
                            );
                        }
                    }
                    Err(e) => {
                        self.fatal(e);
                        return;
                    }
                }
            }
        } else {
            self.assigned_with = None;
        }
        self.phase = Phase::Syncing;
    }

    fn compute_assignments(
        &self,
        assignor: &dyn Assignor,
        members: &[crate::protocol::MemberSubscription],
        counts: &PartitionCounts,
    ) -> Result<(Vec<(String, Bytes)>, usize), GroupError> {
        let mut assignments = assignor
            .assign(members, counts)
            .map_err(|e| GroupError::Assignor(e.to_string()))?;
        let mut unassigned = 0;
        if assignor.protocol() == RebalanceProtocol::Cooperative {
            withhold_transfers(members, counts, &mut assignments);
            // Partitions withheld by the golden rule (by the assignor or here) wait for a follow-up
            // rebalance. Their owners revoke and rejoin, but a stale or conflicting claim has no owner
            // that would: the leader then triggers the follow-up itself.
            let assigned: usize = assignments.values().map(Vec::len).sum();
            let subscribed: BTreeSet<&str> = members
                .iter()
                .flat_map(|m| m.subscription.topics.iter().map(String::as_str))
                .collect();
            let total: usize = counts
                .iter()
                .filter(|(t, _)| subscribed.contains(t.as_str()))
                .map(|(_, &n)| usize::try_from(n).unwrap_or(0))
                .sum();
            unassigned = total.saturating_sub(assigned);
            if unassigned > 0 {
                debug!(
                    count = unassigned,
                    "partitions withheld until their owners revoke them"
                );
            }
        }
        let encoded = assignments
            .into_iter()
            .map(|(member, partitions)| {
                Assignment::new(partitions)
                    .encode()
                    .map(|b| (member, b))
                    .map_err(|e| GroupError::Assignor(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((encoded, unassigned))
    }

    fn on_sync(&mut self, response: Response, sent_at: Instant) {
        if self.phase != Phase::Syncing {
            return;
        }
        let (error_code, protocol_name, assignment) = match response {
            Response::SyncGroup {
                error_code,
                protocol_name,
                assignment,
            } => (error_code, protocol_name, assignment),
            Response::Failed(_) => {
                self.mark_coordinator_unknown("SyncGroup transport failure");
                self.phase = Phase::Joining;
                self.join_retry_at = None;
                return;
            }
            other => {
                warn!(?other, "unexpected response to SyncGroup");
                self.phase = Phase::Joining;
                self.join_backoff();
                return;
            }
        };
        match error_code {
            codes::NONE => {}
            codes::REBALANCE_IN_PROGRESS => {
                self.phase = Phase::Joining;
                self.rejoin_reason = Some("SyncGroup: rebalance in progress".into());
                self.join_retry_at = None;
                return;
            }
            codes::ILLEGAL_GENERATION => {
                let e = GroupError::IllegalGeneration {
                    generation: self.generation,
                };
                self.lose_and_rejoin(e, false);
                return;
            }
            codes::UNKNOWN_MEMBER_ID => {
                let e = GroupError::UnknownMemberId {
                    member_id: self.member_id.clone(),
                };
                self.lose_and_rejoin(e, true);
                return;
            }
            codes::COORDINATOR_LOAD_IN_PROGRESS => {
                self.phase = Phase::Joining;
                self.join_backoff();
                return;
            }
            codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE | codes::REQUEST_TIMED_OUT => {
                self.mark_coordinator_unknown("SyncGroup: coordinator moved");
                self.phase = Phase::Joining;
                self.join_retry_at = None;
                return;
            }
            code if self.common_fatal(code, "SyncGroup") => return,
            code => {
                self.fatal(GroupError::Broker {
                    api: "SyncGroup",
                    code,
                });
                return;
            }
        }
        if let Some(name) = protocol_name
            && Some(&name) != self.protocol_name.as_ref()
        {
            self.fatal(GroupError::InconsistentGroupProtocol(format!(
                "SyncGroup answered protocol {name:?}, JoinGroup selected {:?}",
                self.protocol_name
            )));
            return;
        }
        let assignment = match Assignment::decode(assignment) {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "undecodable assignment; rejoining");
                self.phase = Phase::Joining;
                self.join_backoff();
                return;
            }
        };
        self.session_anchor = Some(sent_at);
        self.find_attempts = 0;
        self.join_attempts = 0;
        let assigned: BTreeSet<TopicPartition> = assignment.partitions.into_iter().collect();
        let revoked: BTreeSet<TopicPartition> = self.owned.difference(&assigned).cloned().collect();
        let added: Vec<TopicPartition> = assigned.difference(&self.owned).cloned().collect();
        let span = tracing::info_span!(
            "group.sync",
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
        );
        let _enter = span.enter();
        info!(
            assigned = assigned.len(),
            added = added.len(),
            revoked = revoked.len(),
            "assignment received"
        );
        self.phase = Phase::Stable;
        self.previous_assignment = (assigned.iter().cloned().collect(), self.generation);
        self.owned_generation = self.generation;
        // KIP-429's second round starts when the members that revoked something rejoin, which they
        // do at once; a member that revoked nothing (typically the one that joined and got nothing
        // yet) learns of it only from a heartbeat, so a full heartbeat interval would hold the moved
        // partitions back that long. Heartbeat quickly for one interval instead.
        if self.cooperative {
            self.fast_heartbeats_until = Some(self.now + self.config.heartbeat_interval);
        }
        self.next_heartbeat = Some(self.now + self.heartbeat_interval_now());
        let mut pending_reason = self.rejoin_reason.take();
        if self.is_leader()
            && let Some(used) = &self.assigned_with
            && *used != self.counts_for(&self.group_topics)
        {
            // Metadata changed while the rebalance was completing.
            pending_reason.get_or_insert_with(|| "metadata changed during the rebalance".into());
        }
        if !revoked.is_empty() {
            self.emit(GroupEvent::Revoked {
                partitions: revoked.iter().cloned().collect(),
            });
            self.revoking = Some(revoked);
        }
        self.owned.extend(added.iter().cloned());
        self.fetch_pending.extend(added.iter().cloned());
        self.fetch_attempts = 0;
        self.fetch_retry_at = None;
        self.assigning = true;
        self.emit(GroupEvent::Assigned {
            generation: self.generation,
            partitions: added,
        });
        if self.revoking.is_some() {
            // KIP-429 second round: rejoin once the revocation is done.
            self.start_rejoin("partitions revoked; rejoining so they can be reassigned");
        } else if let Some(reason) = pending_reason {
            self.start_rejoin(&reason);
        }
    }

    fn on_heartbeat(&mut self, response: Response, sent_at: Instant, generation: i32, member_id: &str) {
        let span = tracing::trace_span!(
            "group.heartbeat",
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = generation,
            member_id = %member_id,
        );
        let _enter = span.enter();
        let unchanged = self.generation == generation && self.member_id == member_id;
        let error_code = match response {
            Response::Heartbeat { error_code } => error_code,
            Response::Failed(f) => {
                debug!(failure = ?f, "heartbeat failed in transport");
                self.mark_coordinator_unknown("heartbeat transport failure");
                return;
            }
            other => {
                warn!(?other, "unexpected response to Heartbeat");
                return;
            }
        };
        let next = |s: &Self| Some((sent_at + s.heartbeat_interval_now()).max(s.now));
        match error_code {
            codes::NONE => {
                self.find_attempts = 0;
                if unchanged {
                    self.session_anchor = Some(sent_at.max(self.session_anchor.unwrap_or(sent_at)));
                    self.last_heartbeat = Some(self.now);
                }
                self.next_heartbeat = next(self);
            }
            codes::REBALANCE_IN_PROGRESS => {
                if unchanged {
                    self.session_anchor = Some(sent_at.max(self.session_anchor.unwrap_or(sent_at)));
                }
                self.next_heartbeat = next(self);
                if self.phase == Phase::Stable {
                    debug!("heartbeat: rebalance in progress; rejoining");
                    self.request_rejoin("the coordinator started a rebalance");
                }
            }
            codes::ILLEGAL_GENERATION => {
                if unchanged {
                    self.lose_and_rejoin(GroupError::IllegalGeneration { generation }, false);
                }
            }
            codes::UNKNOWN_MEMBER_ID => {
                if self.member_id == member_id {
                    self.lose_and_rejoin(
                        GroupError::UnknownMemberId {
                            member_id: member_id.to_owned(),
                        },
                        true,
                    );
                }
            }
            codes::FENCED_INSTANCE_ID => {
                if self.member_id == member_id {
                    self.common_fatal(codes::FENCED_INSTANCE_ID, "Heartbeat");
                }
            }
            codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE | codes::REQUEST_TIMED_OUT => {
                self.mark_coordinator_unknown("Heartbeat: coordinator moved");
            }
            codes::COORDINATOR_LOAD_IN_PROGRESS => {
                let b = self.backoff(0);
                self.next_heartbeat = Some(self.now + b);
            }
            code if self.common_fatal(code, "Heartbeat") => {}
            code => {
                warn!(code, "unexpected heartbeat error");
                self.next_heartbeat = next(self);
            }
        }
    }

    fn on_leave(&mut self, response: Response, closing: bool) {
        match response {
            Response::LeaveGroup { error_code: 0 } => debug!("left the group"),
            other => debug!(?other, "LeaveGroup failed (best effort)"),
        }
        if closing && self.phase == Phase::Leaving {
            self.finish_leave();
        }
    }

    fn on_fetch(&mut self, response: Response) {
        let (error_code, partitions) = match response {
            Response::OffsetFetch {
                error_code,
                partitions,
            } => (error_code, partitions),
            Response::Failed(_) => {
                self.mark_coordinator_unknown("OffsetFetch transport failure");
                return;
            }
            other => {
                warn!(?other, "unexpected response to OffsetFetch");
                self.fetch_backoff();
                return;
            }
        };
        match error_code {
            codes::NONE => {}
            codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE | codes::REQUEST_TIMED_OUT => {
                self.mark_coordinator_unknown("OffsetFetch: coordinator moved");
                return;
            }
            code if self.common_fatal(code, "OffsetFetch") => return,
            code => {
                debug!(code, "OffsetFetch failed; retrying");
                self.fetch_backoff();
                return;
            }
        }
        let mut fetched = Vec::new();
        let mut retry = false;
        for p in partitions {
            if !self.fetch_pending.contains(&p.partition) {
                continue;
            }
            match p.error_code {
                codes::NONE => {
                    self.fetch_pending.remove(&p.partition);
                    if self.owned.contains(&p.partition) {
                        fetched.push(CommittedOffset {
                            offset: (p.offset >= 0).then_some(p.offset),
                            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                            metadata: p.metadata,
                            partition: p.partition,
                        });
                    }
                }
                codes::TOPIC_AUTHORIZATION_FAILED => {
                    self.fatal(GroupError::TopicAuthorizationFailed {
                        partition: p.partition,
                    });
                    return;
                }
                code => {
                    debug!(partition = %p.partition, code, "OffsetFetch partition error; retrying");
                    retry = true;
                }
            }
        }
        if !self.fetch_pending.is_empty() {
            if !retry {
                // Partitions missing from the answer: never "no committed offset" (scenario 17).
                warn!(
                    missing = self.fetch_pending.len(),
                    "OffsetFetch answer left out partitions; retrying"
                );
            }
            self.fetch_backoff();
        } else {
            self.fetch_attempts = 0;
            self.fetch_retry_at = None;
        }
        if !fetched.is_empty() {
            self.emit(GroupEvent::OffsetsFetched { offsets: fetched });
        }
    }

    fn fetch_backoff(&mut self) {
        let b = self.backoff(self.fetch_attempts);
        self.fetch_attempts = self.fetch_attempts.saturating_add(1);
        self.fetch_retry_at = Some(self.now + b);
    }
}

/// Shared handle to an assignor (what [`MemberConfig::assignors`] holds).
pub type SharedAssignor = Arc<dyn Assignor>;
