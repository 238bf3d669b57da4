//! The consumer group protocol of KIP-848 (`group.protocol=consumer`), sans-IO: one
//! ConsumerGroupHeartbeat RPC, broker-side assignment, member epochs, and reconciliation partition by
//! partition. The protocol facts it relies on are summarised in docs/kip-848.md.
//!
//! [`ConsumerGroupMember`] is driven like the classic [`GroupMember`](crate::GroupMember): it never
//! reads a clock (every input takes `now`), never touches a socket, and reports what the application
//! must do as the same [`GroupEvent`]s and [`MemberState`]s, so a driver can serve both protocols.
//!
//! ```text
//! loop {
//!     // inputs: subscribe / handle_response / handle_timeout / revocation_done / topics_updated / ...
//!     while let Some(t) = member.poll_transmit() { send(t) }    // FindCoordinator, heartbeats
//!     while let Some(e) = member.poll_event() { apply(e) }      // Revoked, Assigned, Lost, Fatal, ...
//!     sleep_until(member.poll_timeout()); member.handle_timeout(now);
//! }
//! ```
//!
//! # Membership
//!
//! ```text
//!            subscribe                     heartbeat epoch 0 ok              assignment differs
//! Unsubscribed ─────────▶ Joining ──────────────────────────▶ Member ─────────▶ Revoked event ─┐
//!      ▲                    ▲  FENCED_MEMBER_EPOCH /            │ ▲  (partitions kept until    │
//!      │                    │  UNKNOWN_MEMBER_ID: Lost event,   │ │   revocation_done), then    │
//!      │                    └── rejoin with epoch 0 ────────────┘ └── Assigned event, ack ◀────┘
//!      │  leave/close: Revoked (all), then a heartbeat with epoch -1 (dynamic) or -2 (static)
//!      └─ max.poll.interval.ms: Lost event, leave heartbeat, Stale until poll_called
//!         UNRELEASED_INSTANCE_ID, UNSUPPORTED_VERSION, UNSUPPORTED_ASSIGNOR, auth... → Fatal
//! ```
//!
//! The coordinator answers with the partitions the member may own now. The member revokes what it owns
//! but the answer no longer lists (the application acknowledges with
//! [`ConsumerGroupMember::revocation_done`]), then adds the new partitions whose topic ids the caller's
//! metadata resolves ([`TopicNames`]), and reports what it owns in the next heartbeat, sent at once:
//! that report is the acknowledgement that lets the coordinator give the partitions to other members.
//!
//! # Public state mapping
//!
//! [`MemberState`] is the classic member's: `Unjoined` (not subscribed, left), `FindingCoordinator`,
//! `Joining` (epoch 0), `Stable` (a member with an epoch), `Revoking` (a revocation waits for the
//! application), `Leaving`, `Lost` (left after `max.poll.interval.ms`; rejoins on the next poll) and
//! `Fatal`. `Syncing` does not occur.
//!
//! # Known limits
//!
//! Commits and committed-offset fetches (OffsetCommit/OffsetFetch with the member epoch) are the
//! driver's for now: [`ConsumerGroupMember::member_epoch`] and [`ConsumerGroupMember::member_id`] give
//! what they carry. No local session expiry: the session timeout is the broker's and unknown to the
//! member (Java's consumer has none either).
//!
//! # Regular-expression subscriptions
//!
//! [`ConsumerGroupMember::subscribe_regex`] sends the expression in `subscribed_topic_regex`
//! (ConsumerGroupHeartbeat v1, Kafka 4.0+) with an empty topic list; the coordinator resolves it (RE2/J
//! syntax, whole names, refreshed every `group.consumer.regex.refresh.interval.ms`) and assigns
//! partitions of the matching topics, whose ids the caller resolves with a metadata refresh of all
//! topics ([`ConsumerGroupMember::unresolved_topic_ids`]). As for the other fields, the regex is sent
//! when joining and when it changes; replacing it by topic names sends the empty string, which is how
//! the protocol clears it (Java's consumer does the same).
//!
//! # Layout
//!
//! `io` (requests, responses, configuration), `heartbeat` (building heartbeats with only the changed
//! fields, and their answers and errors), `membership` (joining, leaving, fencing, fatal errors, the
//! poll timer), `reconcile` (the pure reconciliation), `timers` and `wire` (the conversions to and from
//! kafka-protocol's messages).

mod heartbeat;
mod io;
mod membership;
mod reconcile;
#[cfg(test)]
mod tests;
mod timers;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use kafkaroo_wire::Uuid;
use kafkaroo_wire::backoff::BackoffConfig;
use tracing::{debug, trace};

use self::heartbeat::SentFields;
use self::membership::LeavePlan;
use self::reconcile::{Reconciler, Step};
use self::timers::{Timer, TimerTable};
use crate::member::rebalance::{CauseTracker, RebalanceCause};
use crate::member::{CloseMode, GroupError, GroupEvent, MemberState, RequestId, Target};
use crate::protocol::TopicPartition;

pub use io::{
    ConsumerMemberConfig, HeartbeatRequest, HeartbeatResponse, NoTopicNames, Request, Response,
    TopicIdPartitions, TopicNames, Transmit, member_id_from_bytes, random_member_id,
};

/// The member epoch that joins (or rejoins) the group.
pub const JOIN_EPOCH: i32 = 0;
/// The member epoch of a dynamic member's leave heartbeat.
pub const LEAVE_EPOCH: i32 = -1;
/// The member epoch of a static member's temporary leave: the coordinator keeps its assignment for the
/// session timeout, for the same `group.instance.id` to take back.
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// Where the member is in the protocol (the public [`MemberState`] is derived from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Unsubscribed,
    /// Heartbeats with epoch 0 until the coordinator gives an epoch.
    Joining,
    /// In the group with an epoch > 0.
    Member,
    /// Leaving: revoking everything before the leave heartbeat.
    PrepareLeaving,
    /// The leave heartbeat is to be sent or in flight.
    Leaving,
    /// Left because the application did not poll in time; rejoins on the next poll.
    Stale,
    Fatal,
    Closed,
}

/// What an in-flight request was.
#[derive(Debug, Clone, Copy)]
enum InFlight {
    FindCoordinator,
    Heartbeat {
        sent_at: Instant,
        member_epoch: i32,
        /// The join it belongs to: answers to heartbeats of an earlier membership are ignored.
        join: u64,
    },
    Leave,
}

/// One consumer's membership in a KIP-848 consumer group. See the [module docs](self).
#[derive(Debug)]
pub struct ConsumerGroupMember {
    config: ConsumerMemberConfig,
    now: Instant,
    next_request: u64,
    rng: u64,

    topics: BTreeSet<String>,
    /// The broker-side regular expression subscribed to, instead of `topics`.
    regex: Option<String>,
    coordinator: Option<i32>,
    find_attempts: u32,

    phase: Phase,
    member_id: String,
    member_epoch: i32,
    /// Counts joins, to tell answers of an earlier membership apart.
    join: u64,
    /// Whether a heartbeat of the current join was sent (then the coordinator may know the member).
    join_sent: bool,
    heartbeat_interval: Duration,
    heartbeat_failures: u32,
    sent: SentFields,
    reconciler: Reconciler,
    leave: Option<LeavePlan>,

    in_flight: BTreeMap<RequestId, InFlight>,
    timers: TimerTable,
    last_heartbeat: Option<Instant>,

    events: VecDeque<GroupEvent>,
    reported_state: MemberState,
    /// Why the rebalance under way started (reported on `StateChanged`).
    causes: CauseTracker,
    fatal: Option<GroupError>,
}

impl ConsumerGroupMember {
    /// A member that has not subscribed yet. Fails if `group.id` or the member id is empty.
    pub fn new(config: ConsumerMemberConfig, now: Instant) -> Result<Self, GroupError> {
        if config.group_id.is_empty() {
            return Err(GroupError::Protocol("group.id is empty".into()));
        }
        if config.member_id.is_empty() {
            return Err(GroupError::Protocol("the member id is empty".into()));
        }
        Ok(Self {
            rng: config.jitter_seed,
            member_id: config.member_id.clone(),
            config,
            now,
            next_request: 0,
            topics: BTreeSet::new(),
            regex: None,
            coordinator: None,
            find_attempts: 0,
            phase: Phase::Unsubscribed,
            member_epoch: JOIN_EPOCH,
            join: 0,
            join_sent: false,
            heartbeat_interval: Duration::ZERO,
            heartbeat_failures: 0,
            sent: SentFields::default(),
            reconciler: Reconciler::default(),
            leave: None,
            in_flight: BTreeMap::new(),
            timers: TimerTable::default(),
            last_heartbeat: None,
            events: VecDeque::new(),
            reported_state: MemberState::Unjoined,
            causes: CauseTracker::default(),
            fatal: None,
        })
    }

    // ----- health view -----

    /// The current state (the classic member's states; see the [module docs](self)).
    pub fn state(&self) -> MemberState {
        match self.phase {
            Phase::Fatal => MemberState::Fatal,
            Phase::Unsubscribed | Phase::Closed => MemberState::Unjoined,
            Phase::Stale => MemberState::Lost,
            Phase::PrepareLeaving => MemberState::Revoking,
            Phase::Leaving => MemberState::Leaving,
            _ if self.reconciler.is_revoking() => MemberState::Revoking,
            _ if self.coordinator.is_none() => MemberState::FindingCoordinator,
            Phase::Joining => MemberState::Joining,
            Phase::Member => MemberState::Stable,
        }
    }

    /// The member id (client-generated, constant for the member's lifetime unless the broker assigns
    /// another).
    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    /// The member epoch: 0 while joining, the coordinator's epoch while a member, -1 or -2 after
    /// leaving. OffsetCommit v9+ carries it as `generation_id_or_member_epoch`.
    pub fn member_epoch(&self) -> i32 {
        self.member_epoch
    }

    /// The partitions this member owns now, sorted (including partitions being revoked, until
    /// [`revocation_done`](Self::revocation_done)).
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.reconciler.owned()
    }

    /// Whether this member owns `partition` now (also while it is being revoked).
    pub fn owns(&self, partition: &TopicPartition) -> bool {
        self.reconciler.owns(partition)
    }

    /// Topic ids of the coordinator's assignment that the metadata did not resolve yet: the driver
    /// should refresh metadata for them and call [`topics_updated`](Self::topics_updated).
    pub fn unresolved_topic_ids(&self) -> Vec<Uuid> {
        self.reconciler.unresolved_topic_ids()
    }

    /// The subscribed topics, sorted (empty with a regular expression).
    pub fn subscription(&self) -> Vec<String> {
        self.topics.iter().cloned().collect()
    }

    /// The broker-side regular expression subscribed to, if any.
    pub fn subscription_regex(&self) -> Option<&str> {
        self.regex.as_deref()
    }

    fn subscribed(&self) -> bool {
        !self.topics.is_empty() || self.regex.is_some()
    }

    /// The coordinator's node id, if known.
    pub fn coordinator(&self) -> Option<i32> {
        self.coordinator
    }

    /// The heartbeat interval the coordinator asked for (zero before its first answer).
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// When the last successful heartbeat answer arrived.
    pub fn last_heartbeat(&self) -> Option<Instant> {
        self.last_heartbeat
    }

    /// The error that stopped the member, if any.
    pub fn fatal_error(&self) -> Option<&GroupError> {
        self.fatal.as_ref()
    }

    // ----- inputs -----

    /// Subscribes to `topics` (replacing the previous subscription). Joins the group; a member already
    /// in it sends the new subscription in its next heartbeat, without rejoining. An empty list is
    /// [`leave`](Self::leave).
    pub fn subscribe<I, S>(&mut self, topics: I, now: Instant) -> Result<(), GroupError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        self.set_subscription(topics, None, now)
    }

    /// Subscribes to the topics whose whole name matches `regex`, resolved by the coordinator (RE2/J
    /// syntax; see the [module docs](self#regular-expression-subscriptions)), replacing the previous
    /// subscription. An expression the coordinator refuses stops the member with
    /// [`GroupError::InvalidRegularExpression`]. An empty expression is [`leave`](Self::leave).
    pub fn subscribe_regex(&mut self, regex: &str, now: Instant) -> Result<(), GroupError> {
        let regex = (!regex.is_empty()).then(|| regex.to_owned());
        self.set_subscription(BTreeSet::new(), regex, now)
    }

    fn set_subscription(
        &mut self,
        topics: BTreeSet<String>,
        regex: Option<String>,
        now: Instant,
    ) -> Result<(), GroupError> {
        self.advance(now);
        match self.phase {
            Phase::Fatal => return Err(self.fatal.clone().unwrap_or(GroupError::Closed)),
            Phase::Closed => return Err(GroupError::Closed),
            _ => {}
        }
        if topics.is_empty() && regex.is_none() {
            self.leave(now);
            return Ok(());
        }
        self.topics = topics;
        self.regex = regex;
        match (self.phase, &mut self.leave) {
            (Phase::Unsubscribed, _) => self.start_join(RebalanceCause::Joining, "subscribed"),
            (Phase::PrepareLeaving | Phase::Leaving, Some(plan)) => plan.rejoin = true,
            _ => {}
        }
        self.finish();
        Ok(())
    }

    /// A request the driver sends to the coordinator on the member's behalf (OffsetCommit, OffsetFetch)
    /// was answered NOT_COORDINATOR or COORDINATOR_NOT_AVAILABLE: the coordinator moved. The member
    /// looks for it again now, as after a heartbeat with that answer, rather than at its next heartbeat
    /// (Java's consumer does the same), so the request can be retried at the new coordinator.
    pub fn coordinator_unavailable(&mut self, now: Instant) {
        self.advance(now);
        if self.coordinator.is_some() {
            self.heartbeat_failures = 0;
            self.timers.stop(Timer::Heartbeat);
            self.mark_coordinator_unknown("a request for the member: coordinator moved");
        }
        self.finish();
    }

    /// The application polled: resets the `max.poll.interval.ms` timer, and a member that left because
    /// of it rejoins.
    pub fn poll_called(&mut self, now: Instant) {
        self.advance(now);
        self.timers
            .set(Timer::MaxPoll, now + self.config.max_poll_interval);
        if self.phase == Phase::Stale {
            self.phase = Phase::Unsubscribed;
            if self.subscribed() {
                self.start_join(
                    RebalanceCause::PollTimeout,
                    "rejoining after max.poll.interval.ms was exceeded",
                );
            }
        }
        self.finish();
    }

    /// The application finished handling [`GroupEvent::Revoked`]: the partitions are released now;
    /// reconciliation goes on (new partitions, the acknowledging heartbeat) or the leave proceeds.
    pub fn revocation_done(&mut self, now: Instant, topics: &dyn TopicNames) {
        self.advance(now);
        let released = self.reconciler.revocation_done();
        if !released.is_empty() {
            debug!(
                messaging.consumer.group.name = %self.config.group_id,
                member_epoch = self.member_epoch,
                count = released.len(),
                "revocation done; partitions released"
            );
        }
        self.reconcile(topics);
        self.finish();
    }

    /// The caller's metadata learned topics: assigned partitions of topic ids unresolved so far are
    /// added now.
    pub fn topics_updated(&mut self, now: Instant, topics: &dyn TopicNames) {
        self.advance(now);
        self.reconcile(topics);
        self.finish();
    }

    /// Unsubscribes: revokes every owned partition ([`GroupEvent::Revoked`], wait for
    /// [`revocation_done`](Self::revocation_done)), sends the leave heartbeat (epoch -1, or -2 for a
    /// static member), then emits [`GroupEvent::Closed`]. The member can subscribe again afterwards.
    pub fn leave(&mut self, now: Instant) {
        self.advance(now);
        self.begin_leave(CloseMode::Default, false);
        self.finish();
    }

    /// Closes the member for good, like [`leave`](Self::leave) with the leave heartbeat chosen by
    /// `mode` (KIP-1092): `Default` and `Leave` send it (-2 for a static member with `Default`, -1
    /// with `Leave`); `Remain` sends -2 for a static member and nothing for a dynamic one.
    pub fn close(&mut self, mode: CloseMode, now: Instant) {
        self.advance(now);
        self.begin_leave(mode, true);
        self.finish();
    }

    /// The poll timer and the heartbeat and lookup schedules. Call it at (or after)
    /// [`poll_timeout`](Self::poll_timeout).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        for timer in Timer::ALL {
            if !self.timers.expired(timer, now) {
                continue;
            }
            match timer {
                Timer::MaxPoll => {
                    if self.poll_timer_active() {
                        self.poll_expired();
                    }
                }
                // Schedules only hold requests back: `poll_transmit` sends them once due.
                Timer::Heartbeat | Timer::CoordinatorLookup | Timer::FastHeartbeats => {}
            }
        }
        self.finish();
    }

    /// A response (or transport failure) for request `id`. `topics` resolves the topic ids of an
    /// assignment.
    pub fn handle_response(
        &mut self,
        now: Instant,
        id: RequestId,
        response: Response,
        topics: &dyn TopicNames,
    ) {
        self.advance(now);
        let Some(pending) = self.in_flight.remove(&id) else {
            trace!(id = id.0, "response to an abandoned request ignored");
            self.finish();
            return;
        };
        match pending {
            InFlight::FindCoordinator => self.on_find_coordinator(response),
            InFlight::Heartbeat {
                sent_at,
                member_epoch,
                join,
            } => self.on_heartbeat(response, sent_at, member_epoch, join, topics),
            InFlight::Leave => self.on_leave_answer(response),
        }
        self.finish();
    }

    // ----- outputs -----

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

    /// When [`handle_timeout`](Self::handle_timeout) should be called next (`None`: no timer armed).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_timeout(self.now, |timer| match timer {
            Timer::MaxPoll => self.poll_timer_active(),
            Timer::Heartbeat => self.heartbeat_eligible() && !self.heartbeat_in_flight(),
            Timer::CoordinatorLookup => self.coordinator.is_none() && self.needs_coordinator(),
            Timer::FastHeartbeats => false,
        })
    }

    // ----- internals -----

    fn advance(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    /// Runs the reconciliation as far as it goes without the application, emitting its events.
    fn reconcile(&mut self, topics: &dyn TopicNames) {
        if !matches!(self.phase, Phase::Member | Phase::PrepareLeaving) {
            return;
        }
        while let Some(step) = self.reconciler.step(topics) {
            match step {
                Step::Revoke(partitions) => {
                    debug!(
                        messaging.consumer.group.name = %self.config.group_id,
                        member_epoch = self.member_epoch,
                        ?partitions,
                        "revoking"
                    );
                    self.events.push_back(GroupEvent::Revoked { partitions });
                    return;
                }
                // Leaving assigns nothing (the target is empty); only the empty report is skipped.
                Step::Assign(_) if self.phase == Phase::PrepareLeaving => {}
                Step::Assign(partitions) => {
                    debug!(
                        messaging.consumer.group.name = %self.config.group_id,
                        member_epoch = self.member_epoch,
                        ?partitions,
                        "assigned"
                    );
                    self.events.push_back(GroupEvent::Assigned {
                        generation: self.member_epoch,
                        partitions,
                    });
                }
            }
        }
        if self.phase == Phase::PrepareLeaving && self.reconciler.owned().is_empty() {
            self.proceed_leave();
        }
    }

    /// Emits `StateChanged` when the public state changed.
    fn finish(&mut self) {
        let state = self.state();
        if state != self.reported_state {
            debug!(
                messaging.consumer.group.name = %self.config.group_id,
                member_id = %self.member_id,
                member_epoch = self.member_epoch,
                from = ?self.reported_state,
                to = ?state,
                "group member state"
            );
            let member = self.phase == Phase::Member;
            let cause = self.causes.changed(state, || match state {
                MemberState::FindingCoordinator => Some(RebalanceCause::CoordinatorChanged),
                // A new target assignment takes partitions away.
                MemberState::Revoking if member => Some(RebalanceCause::CoordinatorRequested),
                _ => None,
            });
            self.events.push_back(GroupEvent::StateChanged {
                from: self.reported_state,
                to: state,
                cause,
            });
            self.reported_state = state;
        }
    }

    fn next_transmit(&mut self) -> Option<Transmit> {
        if matches!(self.phase, Phase::Fatal | Phase::Closed) {
            return None;
        }
        let Some(node) = self.coordinator else {
            return self.find_coordinator_transmit();
        };
        if let Some(t) = self.leave_transmit(node) {
            return Some(t);
        }
        if self.heartbeat_due() {
            return Some(self.heartbeat_transmit(node));
        }
        None
    }

    fn send(&mut self, target: Target, pending: InFlight, request: Request) -> Transmit {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.in_flight.insert(id, pending);
        Transmit {
            id,
            target,
            request,
            timeout: self.config.request_timeout,
        }
    }

    /// The shared exponential backoff with jitter after `failures` (at least one).
    fn backoff(&mut self, failures: u32) -> Duration {
        let config = BackoffConfig {
            initial: self.config.retry_backoff,
            max: self.config.retry_backoff_max,
        };
        crate::sans_io::jittered_backoff(&mut self.rng, config, failures.max(1))
    }

    fn needs_coordinator(&self) -> bool {
        matches!(self.phase, Phase::Joining | Phase::Member | Phase::PrepareLeaving)
    }

    fn poll_timer_active(&self) -> bool {
        matches!(self.phase, Phase::Joining | Phase::Member)
    }

    fn find_coordinator_transmit(&mut self) -> Option<Transmit> {
        if !self.needs_coordinator()
            || self
                .in_flight
                .values()
                .any(|p| matches!(p, InFlight::FindCoordinator))
            || !self.timers.ready(Timer::CoordinatorLookup, self.now)
        {
            return None;
        }
        let request = Request::FindCoordinator {
            group_id: self.config.group_id.clone(),
        };
        Some(self.send(Target::AnyBroker, InFlight::FindCoordinator, request))
    }

    fn on_find_coordinator(&mut self, response: Response) {
        match response {
            Response::FindCoordinator {
                error_code: 0,
                node_id,
            } if node_id >= 0 => {
                debug!(messaging.consumer.group.name = %self.config.group_id, node_id, "coordinator found");
                self.coordinator = Some(node_id);
                self.find_attempts = 0;
                self.timers.stop(Timer::CoordinatorLookup);
            }
            Response::FindCoordinator { error_code, .. }
                if error_code == crate::member::codes::GROUP_AUTHORIZATION_FAILED =>
            {
                self.fatal(GroupError::GroupAuthorizationFailed {
                    group_id: self.config.group_id.clone(),
                });
            }
            other => {
                debug!(?other, "FindCoordinator failed; retrying");
                self.find_attempts = self.find_attempts.saturating_add(1);
                let b = self.backoff(self.find_attempts);
                self.timers.set(Timer::CoordinatorLookup, self.now + b);
            }
        }
    }

    /// The coordinator moved or its connection failed: look for it again (membership is kept).
    fn mark_coordinator_unknown(&mut self, why: &str) {
        if self.coordinator.take().is_none() {
            return;
        }
        debug!(messaging.consumer.group.name = %self.config.group_id, why, "coordinator unknown; rediscovering");
        self.in_flight
            .retain(|_, p| matches!(p, InFlight::FindCoordinator));
        if self.phase == Phase::Leaving {
            // As Java: a leave heartbeat that cannot be sent (or whose answer is lost) is not retried.
            self.finish_leave();
        }
    }
}
