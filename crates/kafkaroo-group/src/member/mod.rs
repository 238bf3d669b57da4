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
//! - Rack-aware assignment (KIP-881): the leader hands the replica racks given to
//!   [`GroupMember::metadata_with_racks_changed`] to [`Assignor::assign_with_racks`]; with `client.rack`
//!   set it also rejoins when those racks change for a topic of the group.
//! - Not handled here: auto-commit scheduling, regex subscriptions, throttling
//!   (`throttle_time_ms`), KIP-848 (`ConsumerGroupHeartbeat`), a deadline for [`GroupMember::close`].
//!
//! # Layout
//!
//! One `impl GroupMember` block per concern, as quinn-proto splits a connection: `coordinator`
//! (FindCoordinator, "coordinator moved"), `join` (JoinGroup, SyncGroup, the leader's assignment),
//! `heartbeat`, `membership` (rejoin, revocation, lost membership, fatal errors, leaving), `commits`
//! (OffsetCommit queue and answers), `offsets` (OffsetFetch), and `timers` (the `Timer` table behind
//! [`GroupMember::poll_timeout`] and [`GroupMember::handle_timeout`]). `io` holds the public inputs and
//! outputs, `error` the errors and error codes.

mod commits;
mod coordinator;
mod error;
mod heartbeat;
mod io;
mod join;
mod membership;
mod offsets;
pub(crate) mod rebalance;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafkaroo_wire::backoff::BackoffConfig;
use tracing::{debug, info, trace};

use self::commits::QueuedCommit;
use self::membership::{LeavePlan, QueuedLeave};
use self::rebalance::CauseTracker;
pub use self::rebalance::RebalanceCause;
use self::timers::{Timer, TimerTable};
use crate::assignor::{Assignor, PartitionCounts, RebalanceProtocol, ReplicaRacks};
use crate::protocol::{DEFAULT_GENERATION, TopicPartition};

pub use error::{GroupError, codes};
pub use io::{
    CloseMode, CommitId, CommitKind, CommitOutcome, CommitParams, CommittedOffset, FetchedOffset, GroupEvent,
    JoinAnswer, JoinParams, JoinedMember, MemberConfig, MemberState, OffsetToCommit, Request, RequestId,
    Response, SyncParams, Target, Transmit, TransportFailure,
};

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

/// What an in-flight request was (one variant per [`Request`] variant), with what its answer is judged
/// against.
#[derive(Debug, Clone)]
enum InFlight {
    FindCoordinator,
    JoinGroup,
    SyncGroup {
        sent_at: Instant,
    },
    Heartbeat {
        sent_at: Instant,
        generation: i32,
        member_id: String,
    },
    LeaveGroup {
        closing: bool,
    },
    OffsetCommit {
        generation: i32,
        member_id: String,
    },
    OffsetFetch,
}

/// What the leader's last assignment depended on (of the group's topics).
#[derive(Debug, Clone, PartialEq, Eq)]
struct AssignedWith {
    counts: PartitionCounts,
    /// Replica racks; empty unless this member has `client.rack`.
    racks: ReplicaRacks,
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
    /// Replica racks of the topics in `metadata` (KIP-881), for the leader's assignor.
    replica_racks: ReplicaRacks,

    coordinator: Option<i32>,
    find_attempts: u32,

    member_id: String,
    generation: i32,
    protocol_name: Option<String>,
    leader_id: String,
    phase: Phase,
    rejoin_reason: Option<String>,
    /// Why the rebalance under way started (reported on `StateChanged`).
    causes: CauseTracker,
    join_attempts: u32,
    sync_assignments: Vec<(String, Bytes)>,
    /// Leader only: the metadata (of the group's topics) the last assignment used.
    assigned_with: Option<AssignedWith>,
    group_topics: BTreeSet<String>,

    owned: BTreeSet<TopicPartition>,
    owned_generation: i32,
    /// Eager sticky user data: the last assignment and its generation.
    previous_assignment: (Vec<TopicPartition>, i32),
    revoking: Option<BTreeSet<TopicPartition>>,
    assigning: bool,
    leave_plan: Option<LeavePlan>,
    leave_outbox: Option<QueuedLeave>,

    in_flight: BTreeMap<RequestId, InFlight>,
    /// Every deadline: heartbeat, session, `max.poll.interval.ms`, backoffs, sync commit deadlines.
    timers: TimerTable,
    last_heartbeat: Option<Instant>,

    commits: VecDeque<QueuedCommit>,
    commit_in_flight: Option<(RequestId, QueuedCommit)>,

    offsets_to_fetch: BTreeSet<TopicPartition>,
    offset_fetch_attempts: u32,

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
        let mut timers = TimerTable::default();
        timers.set(Timer::MaxPoll, now + config.max_poll_interval);
        Ok(Self {
            config,
            cooperative,
            now,
            next_request: 0,
            next_commit: 0,
            rng,
            topics: BTreeSet::new(),
            metadata: PartitionCounts::new(),
            replica_racks: ReplicaRacks::new(),
            coordinator: None,
            find_attempts: 0,
            member_id: String::new(),
            generation: DEFAULT_GENERATION,
            protocol_name: None,
            leader_id: String::new(),
            phase: Phase::Unjoined,
            rejoin_reason: None,
            causes: CauseTracker::default(),
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
            timers,
            last_heartbeat: None,
            commits: VecDeque::new(),
            commit_in_flight: None,
            offsets_to_fetch: BTreeSet::new(),
            offset_fetch_attempts: 0,
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
                self.timers
                    .set(Timer::MaxPoll, now + self.config.max_poll_interval);
                self.phase = Phase::Joining;
                self.causes.note(RebalanceCause::Joining);
                self.rejoin_reason = Some("subscribed".into());
                self.timers.stop(Timer::Rejoin);
            }
            _ => self.request_rejoin(RebalanceCause::SubscriptionChanged, "subscription changed"),
        }
        self.finish();
        Ok(())
    }

    /// Partition counts of topics changed (or were learned). The leader rejoins when a count of a topic
    /// in the group subscription differs from what its last assignment used.
    pub fn metadata_changed(&mut self, partitions: &PartitionCounts, now: Instant) {
        self.metadata_with_racks_changed(partitions, &ReplicaRacks::new(), now);
    }

    /// Partition counts and replica racks (KIP-881) of topics changed (or were learned); a topic missing
    /// from `racks` keeps the racks known before. The leader rejoins when a count of a topic in the group
    /// subscription differs from what its last assignment used, or — only with `client.rack` set, as in
    /// Java — when the replica racks of such a topic do.
    pub fn metadata_with_racks_changed(
        &mut self,
        partitions: &PartitionCounts,
        racks: &ReplicaRacks,
        now: Instant,
    ) {
        self.advance(now);
        for (topic, &count) in partitions {
            self.metadata.insert(topic.clone(), count);
        }
        for (topic, per_partition) in racks {
            self.replica_racks.insert(topic.clone(), per_partition.clone());
        }
        if self.phase == Phase::Stable
            && self.is_leader()
            && let Some(used) = &self.assigned_with
        {
            let current = self.assigned_with_now(&self.group_topics);
            if current.counts != used.counts {
                info!(
                    messaging.consumer.group.name = %self.config.group_id,
                    generation_id = self.generation,
                    "partition counts changed; the leader rejoins"
                );
                self.request_rejoin(
                    RebalanceCause::MetadataChanged,
                    "metadata changed: partition counts of subscribed topics",
                );
            } else if current.racks != used.racks {
                info!(
                    messaging.consumer.group.name = %self.config.group_id,
                    generation_id = self.generation,
                    "replica racks changed; the leader rejoins"
                );
                self.request_rejoin(
                    RebalanceCause::MetadataChanged,
                    "metadata changed: replica racks of subscribed topics",
                );
            }
        }
        self.finish();
    }

    /// The application polled (resets the `max.poll.interval.ms` timer). After the member left because
    /// of that timer, this rejoins.
    pub fn poll_called(&mut self, now: Instant) {
        self.advance(now);
        self.timers
            .set(Timer::MaxPoll, now + self.config.max_poll_interval);
        if self.phase == Phase::PollExpired {
            self.phase = Phase::Joining;
            self.causes.note(RebalanceCause::PollTimeout);
            self.rejoin_reason = Some("rejoining after max.poll.interval.ms was exceeded".into());
            self.timers.stop(Timer::Rejoin);
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
                self.offsets_to_fetch.remove(tp);
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
        // Every queued sync commit past its deadline fails now, also one whose deadline passed while
        // other inputs came in.
        self.arm_commit_deadline(None);
        for timer in Timer::ALL {
            if !self.timers.expired(timer, now) {
                continue;
            }
            match timer {
                Timer::Session => self.session_timer_fired(now),
                Timer::MaxPoll => {
                    if self.poll_timer_active() {
                        self.poll_expired();
                    }
                }
                Timer::CommitDeadline => self.expire_sync_commits(now),
                // The heartbeat schedule and the backoffs only hold requests back: `poll_transmit`
                // sends them once their time has come.
                Timer::Heartbeat
                | Timer::FastHeartbeats
                | Timer::CoordinatorLookup
                | Timer::Rejoin
                | Timer::CommitRetry
                | Timer::OffsetFetchRetry => {}
            }
        }
        self.finish();
    }

    /// A response (or transport failure) for request `id`.
    pub fn handle_response(&mut self, now: Instant, id: RequestId, response: Response) {
        self.advance(now);
        let Some(pending) = self.in_flight.remove(&id) else {
            trace!(id = id.0, "response to an abandoned request ignored");
            self.finish();
            return;
        };
        match pending {
            InFlight::FindCoordinator => self.on_find_coordinator(response),
            InFlight::JoinGroup => self.on_join(response),
            InFlight::SyncGroup { sent_at } => self.on_sync(response, sent_at),
            InFlight::Heartbeat {
                sent_at,
                generation,
                member_id,
            } => self.on_heartbeat(response, sent_at, generation, &member_id),
            InFlight::LeaveGroup { closing } => self.on_leave(response, closing),
            InFlight::OffsetCommit {
                generation,
                member_id,
            } => self.on_offset_commit(id, response, generation, &member_id),
            InFlight::OffsetFetch => self.on_offset_fetch(response),
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
        if matches!(self.phase, Phase::Fatal | Phase::Closed) {
            return None;
        }
        self.timers
            .next_timeout(self.now, |timer| self.timer_armed(timer))
    }

    // -----------------------------------------------------------------------------------------------
    // Internals: helpers, timers and the request dispatcher (each concern's requests and answers are in
    // its own module: coordinator, join, heartbeat, membership, commits, offsets)
    // -----------------------------------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Whether `timer`, if set, wakes the driver in the member's current state.
    fn timer_armed(&self, timer: Timer) -> bool {
        match timer {
            Timer::Session => self.is_member() && (!self.join_in_flight() || !self.owned.is_empty()),
            Timer::MaxPoll => self.poll_timer_active(),
            Timer::CommitDeadline | Timer::CommitRetry => !self.commits.is_empty(),
            Timer::Heartbeat => {
                self.heartbeat_eligible() && !self.has_pending(|p| matches!(p, InFlight::Heartbeat { .. }))
            }
            Timer::FastHeartbeats => false,
            Timer::CoordinatorLookup => self.coordinator.is_none(),
            Timer::Rejoin => self.phase == Phase::Joining,
            Timer::OffsetFetchRetry => !self.offsets_to_fetch.is_empty(),
        }
    }

    /// Emits `StateChanged` if the public state changed, and sets the commit deadline timer.
    fn finish(&mut self) {
        self.arm_commit_deadline(Some(self.now));
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
            let leaving = self.phase == Phase::Leaving;
            let cause = self.causes.changed(state, || {
                // Stable but the coordinator is gone (a rejoin would have noted its cause).
                (state == MemberState::FindingCoordinator && !leaving)
                    .then_some(RebalanceCause::CoordinatorChanged)
            });
            self.events.push_back(GroupEvent::StateChanged {
                from: self.reported_state,
                to: state,
                cause,
            });
            self.reported_state = state;
        }
    }

    fn alloc_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    /// Exponential backoff with ±20 % jitter (KIP-580, [`kafkaroo_wire::backoff`]): `retry.backoff.ms`
    /// doubled `attempts` times, capped at `retry.backoff.max.ms`.
    fn backoff(&mut self, attempts: u32) -> Duration {
        let config = BackoffConfig {
            initial: self.config.retry_backoff,
            max: self.config.retry_backoff_max,
        };
        crate::sans_io::jittered_backoff(&mut self.rng, config, attempts.saturating_add(1))
    }

    fn is_member(&self) -> bool {
        self.generation >= 0 && !self.member_id.is_empty()
    }

    fn has_pending(&self, f: impl Fn(&InFlight) -> bool) -> bool {
        self.in_flight.values().any(f)
    }

    fn join_in_flight(&self) -> bool {
        self.has_pending(|p| matches!(p, InFlight::JoinGroup))
    }

    fn join_or_sync_in_flight(&self) -> bool {
        self.has_pending(|p| matches!(p, InFlight::JoinGroup | InFlight::SyncGroup { .. }))
    }

    fn callbacks_pending(&self) -> bool {
        self.revoking.is_some() || self.assigning
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

    /// What an assignment for `topics` would depend on now. Without `client.rack` the racks are left
    /// out, so that their changes trigger no rebalance (KIP-881); the assignor gets them anyway.
    fn assigned_with_now(&self, topics: &BTreeSet<String>) -> AssignedWith {
        AssignedWith {
            counts: self.counts_for(topics),
            racks: if self.config.rack_id.as_deref().is_some_and(|r| !r.is_empty()) {
                self.racks_for(topics)
            } else {
                ReplicaRacks::new()
            },
        }
    }

    /// The replica racks of `topics`, for the assignor.
    fn racks_for(&self, topics: &BTreeSet<String>) -> ReplicaRacks {
        topics
            .iter()
            .filter_map(|t| self.replica_racks.get(t).map(|r| (t.clone(), r.clone())))
            .collect()
    }

    fn emit(&mut self, event: GroupEvent) {
        self.events.push_back(event);
    }

    /// The next request, in priority order: FindCoordinator when the coordinator is unknown; then
    /// commits (a commit made in a revocation callback must reach the coordinator before our
    /// JoinGroup/LeaveGroup with the old generation), LeaveGroup, JoinGroup, SyncGroup, Heartbeat,
    /// OffsetFetch.
    fn next_transmit(&mut self) -> Option<Transmit> {
        if matches!(self.phase, Phase::Fatal | Phase::Closed) {
            return None;
        }
        let Some(node) = self.coordinator else {
            return self.find_coordinator_transmit();
        };
        let commit_busy = self.commit_in_flight.is_some() || !self.commits.is_empty();
        if let Some(t) = self.commit_transmit(node) {
            return Some(t);
        }
        if !commit_busy && let Some(leave) = self.leave_outbox.take() {
            return Some(self.leave_transmit(node, leave));
        }
        if self.phase == Phase::Joining
            && !commit_busy
            && !self.callbacks_pending()
            && !self.join_or_sync_in_flight()
            && self.timers.ready(Timer::Rejoin, self.now)
        {
            return Some(self.join_transmit(node));
        }
        if self.phase == Phase::Syncing && !self.join_or_sync_in_flight() {
            return Some(self.sync_transmit(node));
        }
        if self.heartbeat_eligible()
            && !self.has_pending(|p| matches!(p, InFlight::Heartbeat { .. }))
            && self.timers.ready(Timer::Heartbeat, self.now)
        {
            return Some(self.heartbeat_transmit(node));
        }
        self.offset_fetch_transmit(node)
    }

    /// Records `request` as in flight (as `pending`) and returns it to send to `target`.
    fn send(&mut self, target: Target, pending: InFlight, request: Request, timeout: Duration) -> Transmit {
        let id = self.alloc_id();
        self.in_flight.insert(id, pending);
        Transmit {
            id,
            target,
            request,
            timeout,
        }
    }
}

/// Shared handle to an assignor (what [`MemberConfig::assignors`] holds).
pub type SharedAssignor = Arc<dyn Assignor>;
