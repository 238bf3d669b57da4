//! The classic-protocol group coordinator, after Kafka's `GroupCoordinator` (the parts clients see):
//! group phases Empty → PreparingRebalance → CompletingRebalance → Stable, generations, the leader,
//! KIP-394 member ids, static members (KIP-345), session expiry, rebalance timeouts and committed
//! offsets. Wire-free: the broker turns requests into the inputs here and answers into responses.
//!
//! JoinGroup and SyncGroup may have to wait for other members; they get a [`Reply::Wait`] that the
//! coordinator completes when the rebalance step finishes (or with an error when the member is
//! removed meanwhile).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use kafkaroo_wire::ErrorCode;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::debug;

/// A group's phase, as Kafka's classic coordinator names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupPhase {
    /// No members (offsets may be committed).
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// JoinGroup answered; waiting for the leader's SyncGroup.
    CompletingRebalance,
    /// Assignment distributed.
    Stable,
}

/// A group member, as [`Cluster::group`](crate::Cluster::group) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub instance_id: Option<String>,
    /// The assignment the leader gave it (opaque bytes of the consumer protocol).
    pub assignment: Bytes,
}

/// A snapshot of a group (see [`Cluster::group`](crate::Cluster::group)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// The phase.
    pub phase: GroupPhase,
    /// The current generation (0 before the first rebalance completed).
    pub generation: i32,
    /// The selected protocol (assignor) name.
    pub protocol: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members, in join order.
    pub members: Vec<MemberInfo>,
}

/// A member as DescribeGroups shows it.
pub(crate) struct DescribedMember {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    /// Its metadata for the group's selected protocol.
    pub(crate) metadata: Bytes,
    pub(crate) assignment: Bytes,
}

/// A group as DescribeGroups shows it (see [`Coordinator::described`]).
pub(crate) struct Described {
    pub(crate) phase: GroupPhase,
    pub(crate) protocol_type: String,
    pub(crate) protocol: String,
    pub(crate) members: Vec<DescribedMember>,
}

impl GroupPhase {
    /// The state name Kafka's classic coordinator reports (DescribeGroups, ListGroups v4+).
    pub fn kafka_name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
        }
    }
}

/// What a JoinGroup gets back (before it is encoded for the request's version).
#[derive(Debug, Clone)]
pub(crate) struct JoinAnswer {
    pub(crate) error: ErrorCode,
    pub(crate) generation: i32,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) leader: String,
    pub(crate) member_id: String,
    /// `(member id, instance id, metadata)`; for the leader only.
    pub(crate) members: Vec<(String, Option<String>, Bytes)>,
    pub(crate) skip_assignment: bool,
}

impl JoinAnswer {
    pub(crate) fn error_for(error: ErrorCode, member_id: &str) -> Self {
        Self {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// What a SyncGroup gets back.
#[derive(Debug, Clone)]
pub(crate) struct SyncAnswer {
    pub(crate) error: ErrorCode,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignment: Bytes,
}

impl SyncAnswer {
    pub(crate) fn error_for(error: ErrorCode) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// An answer now, or later (the sender side is held by the member until the rebalance step ends).
pub(crate) enum Reply<T> {
    Now(T),
    Wait(oneshot::Receiver<T>),
}

/// A JoinGroup request, version-independent.
pub(crate) struct JoinInput {
    pub(crate) group: String,
    /// The JoinGroup header's `client.id`.
    pub(crate) client_id: String,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+ (KIP-394): an empty member id gets MEMBER_ID_REQUIRED first.
    pub(crate) require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814): a rejoining static leader may skip computing the assignment.
    pub(crate) supports_skip_assignment: bool,
}

/// A SyncGroup request, version-independent.
pub(crate) struct SyncInput {
    pub(crate) group: String,
    pub(crate) generation: i32,
    pub(crate) member_id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) protocol_type: Option<String>,
    pub(crate) protocol_name: Option<String>,
    pub(crate) assignments: Vec<(String, Bytes)>,
}

/// A committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Committed {
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: Option<String>,
}

impl Committed {
    /// What OffsetFetch answers for a partition without a committed offset.
    pub(crate) fn none() -> Self {
        Self {
            offset: -1,
            leader_epoch: -1,
            metadata: Some(String::new()),
        }
    }
}

/// One partition's answer in an OffsetFetch.
pub(crate) struct FetchedOffset {
    pub(crate) partition: i32,
    pub(crate) committed: Option<Committed>,
    pub(crate) error: ErrorCode,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    last_seen: Instant,
    join_waiter: Option<(oneshot::Sender<JoinAnswer>, bool)>,
    sync_waiter: Option<oneshot::Sender<SyncAnswer>>,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }

    fn answer_join(&mut self, answer: JoinAnswer) {
        if let Some((tx, _)) = self.join_waiter.take() {
            let _ = tx.send(answer);
        }
    }

    fn answer_sync(&mut self, answer: SyncAnswer) {
        if let Some(tx) = self.sync_waiter.take() {
            let _ = tx.send(answer);
        }
    }
}

struct Group {
    phase: GroupPhase,
    generation: i32,
    protocol_type: Option<String>,
    protocol: Option<String>,
    leader: Option<String>,
    members: Vec<Member>,
    /// KIP-394: member ids handed out with MEMBER_ID_REQUIRED, until their session timeout.
    pending: BTreeMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    /// The initial rebalance delay of a group that was empty (`group.initial.rebalance.delay.ms`).
    not_before: Option<Instant>,
    offsets: BTreeMap<(String, i32), Committed>,
}

impl Group {
    fn new() -> Self {
        Self {
            phase: GroupPhase::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: BTreeMap::new(),
            rebalance_deadline: None,
            not_before: None,
            offsets: BTreeMap::new(),
        }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    /// Kafka's `isStaticMemberFenced`: the instance id belongs to another member id now.
    fn fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        instance_id.is_some_and(|i| {
            self.members
                .iter()
                .any(|m| m.instance_id.as_deref() == Some(i) && m.id != member_id)
        })
    }

    /// The error for a request naming `member_id` of `generation` (Heartbeat, Sync, Commit), if any.
    fn check_member(&self, member_id: &str, instance_id: Option<&str>, generation: i32) -> Option<ErrorCode> {
        if self.fenced(member_id, instance_id) {
            return Some(ErrorCode::FENCED_INSTANCE_ID);
        }
        if self.member(member_id).is_none() {
            return Some(ErrorCode::UNKNOWN_MEMBER_ID);
        }
        (generation != self.generation).then_some(ErrorCode::ILLEGAL_GENERATION)
    }

    fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(m) = self.member_mut(member_id) {
            m.last_seen = now;
        }
    }

    /// The current generation's answer for a member that already joined it.
    fn current_answer(&self, member_id: &str) -> JoinAnswer {
        let protocol = self.protocol.clone().unwrap_or_default();
        let is_leader = self.leader.as_deref() == Some(member_id);
        JoinAnswer {
            error: ErrorCode::NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if is_leader {
                self.members
                    .iter()
                    .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
                    .collect()
            } else {
                Vec::new()
            },
            skip_assignment: false,
        }
    }

    /// The protocol most members prefer among those every member supports (Kafka's vote); ties go
    /// to the first member's preference order.
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(n, _)| n.as_str())
            .filter(|n| self.members.iter().all(|m| m.supports(n)))
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in &self.members {
            if let Some((n, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n.as_str())) {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        candidates
            .into_iter()
            .find(|c| votes.get(c) == Some(&best))
            .map(str::to_owned)
    }

    fn prepare_rebalance(&mut self, now: Instant, initial_delay: Duration, why: &str) {
        debug!(generation = self.generation, why, "group rebalance");
        if self.phase == GroupPhase::CompletingRebalance {
            for m in &mut self.members {
                m.answer_sync(SyncAnswer::error_for(ErrorCode::REBALANCE_IN_PROGRESS));
            }
        }
        let timeout = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        self.not_before = (self.phase == GroupPhase::Empty && !initial_delay.is_zero())
            .then(|| now + initial_delay.min(timeout));
        self.phase = GroupPhase::PreparingRebalance;
        self.rebalance_deadline = Some(now + timeout);
        self.try_complete_join(now);
    }

    /// Completes the join phase when every known member rejoined (and no KIP-394 member is pending).
    fn try_complete_join(&mut self, now: Instant) {
        if self.phase != GroupPhase::PreparingRebalance || self.not_before.is_some_and(|t| now < t) {
            return;
        }
        let all_joined = self.members.iter().all(|m| m.join_waiter.is_some()) && self.pending.is_empty();
        if all_joined || self.members.is_empty() {
            self.complete_join(now);
        }
    }

    /// Ends the join phase: members that did not rejoin are removed, the generation advances, every
    /// waiting member gets its JoinGroup answer (the leader with the members' metadata).
    fn complete_join(&mut self, now: Instant) {
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.join_waiter.is_none())
            .map(|m| m.id.clone())
            .collect();
        if !gone.is_empty() {
            debug!(?gone, "members did not rejoin in time; removed");
        }
        self.members.retain(|m| m.join_waiter.is_some());
        self.generation += 1;
        self.rebalance_deadline = None;
        self.not_before = None;
        if self.members.is_empty() {
            self.phase = GroupPhase::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.select_protocol();
        self.protocol_type = self.members.first().map(|m| m.protocol_type.clone());
        if self.leader.as_ref().is_none_or(|l| self.member(l).is_none()) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        self.phase = GroupPhase::CompletingRebalance;
        debug!(generation = self.generation, leader = ?self.leader, members = self.members.len(), "join complete");
        let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            let answer = self.current_answer(&id);
            let m = self.member_mut(&id).expect("listed");
            m.last_seen = now;
            m.answer_join(answer);
        }
    }

    fn remove_member(&mut self, id: &str, now: Instant, initial_delay: Duration, why: &str) {
        let Some(i) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let mut m = self.members.remove(i);
        debug!(member = id, why, "member removed");
        m.answer_join(JoinAnswer::error_for(ErrorCode::UNKNOWN_MEMBER_ID, id));
        m.answer_sync(SyncAnswer::error_for(ErrorCode::UNKNOWN_MEMBER_ID));
        if self.leader.as_deref() == Some(id) {
            self.leader = None;
        }
        match self.phase {
            GroupPhase::Stable | GroupPhase::CompletingRebalance => {
                self.prepare_rebalance(now, initial_delay, why);
            }
            GroupPhase::PreparingRebalance => self.try_complete_join(now),
            GroupPhase::Empty => {}
        }
    }

    fn info(&self) -> GroupInfo {
        GroupInfo {
            phase: self.phase,
            generation: self.generation,
            protocol: self.protocol.clone(),
            leader: self.leader.clone(),
            members: self
                .members
                .iter()
                .map(|m| MemberInfo {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// Every group, the coordinator's node, and the broker-side group settings.
pub(crate) struct Coordinator {
    /// The node coordinating every group; `None`: FindCoordinator answers COORDINATOR_NOT_AVAILABLE.
    pub(crate) node: Option<i32>,
    pub(crate) initial_rebalance_delay: Duration,
    groups: BTreeMap<String, Group>,
    /// Partitions with pending transactional offsets: OffsetFetch with `require_stable` answers
    /// UNSTABLE_OFFSET_COMMIT for them.
    pub(crate) unstable: BTreeSet<(String, String, i32)>,
    next_member: u64,
}

impl Coordinator {
    pub(crate) fn new(node: Option<i32>) -> Self {
        Self {
            node,
            initial_rebalance_delay: Duration::ZERO,
            groups: BTreeMap::new(),
            unstable: BTreeSet::new(),
            next_member: 0,
        }
    }

    fn new_member_id(&mut self, prefix: &str) -> String {
        self.next_member += 1;
        format!("{prefix}-{:08x}", self.next_member)
    }

    pub(crate) fn info(&self, group: &str) -> Option<GroupInfo> {
        self.groups.get(group).map(Group::info)
    }

    /// Every group with its phase and protocol type (for ListGroups).
    pub(crate) fn listed(&self) -> Vec<(String, GroupPhase, String)> {
        self.groups
            .iter()
            .map(|(name, g)| (name.clone(), g.phase, g.protocol_type.clone().unwrap_or_default()))
            .collect()
    }

    /// What DescribeGroups shows of a group: its phase, protocol type and selected protocol, and each
    /// member's id, instance id, metadata for the selected protocol and assignment.
    pub(crate) fn described(&self, group: &str) -> Option<Described> {
        let g = self.groups.get(group)?;
        let protocol = g.protocol.clone().unwrap_or_default();
        Some(Described {
            phase: g.phase,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            members: g
                .members
                .iter()
                .map(|m| DescribedMember {
                    id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    metadata: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
            protocol,
        })
    }

    pub(crate) fn join(&mut self, input: JoinInput, now: Instant) -> Reply<JoinAnswer> {
        let delay = self.initial_rebalance_delay;
        if input.protocols.is_empty() || input.protocol_type.is_empty() {
            return Reply::Now(JoinAnswer::error_for(
                ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
                &input.member_id,
            ));
        }
        if !input.member_id.is_empty() && !self.groups.contains_key(&input.group) {
            return Reply::Now(JoinAnswer::error_for(
                ErrorCode::UNKNOWN_MEMBER_ID,
                &input.member_id,
            ));
        }
        let new_id = if input.member_id.is_empty() {
            Some(self.new_member_id(input.instance_id.as_deref().unwrap_or("member")))
        } else {
            None
        };
        let group = self.groups.entry(input.group.clone()).or_insert_with(Group::new);
        if !group.members.is_empty() {
            let type_ok = group
                .protocol_type
                .as_deref()
                .is_none_or(|t| t == input.protocol_type);
            let common = input.protocols.iter().any(|(n, _)| {
                group
                    .members
                    .iter()
                    .all(|m| m.id == input.member_id || m.supports(n))
            });
            if !type_ok || !common {
                return Reply::Now(JoinAnswer::error_for(
                    ErrorCode::INCONSISTENT_GROUP_PROTOCOL,
                    &input.member_id,
                ));
            }
        }
        let (tx, rx) = oneshot::channel();
        let waiter = (tx, input.supports_skip_assignment);
        let Some(new_id) = new_id else {
            return Self::join_known(group, input, waiter, rx, now, delay);
        };
        // A static member coming back under a new member id replaces (fences) the old one.
        let known_static = input.instance_id.as_deref().and_then(|i| {
            group
                .members
                .iter()
                .position(|m| m.instance_id.as_deref() == Some(i))
        });
        if let Some(i) = known_static {
            let m = &mut group.members[i];
            let old = std::mem::replace(&mut m.id, new_id.clone());
            debug!(old, new = new_id, "static member rejoined; old member id fenced");
            m.answer_join(JoinAnswer::error_for(ErrorCode::FENCED_INSTANCE_ID, &old));
            m.answer_sync(SyncAnswer::error_for(ErrorCode::FENCED_INSTANCE_ID));
            // Kafka compares what the group selected, not the metadata bytes (they carry the owned
            // partitions, which a restarted member no longer has).
            let unchanged = group
                .protocol
                .as_ref()
                .is_some_and(|p| input.protocols.iter().any(|(n, _)| n == p));
            let m = &mut group.members[i];
            m.client_id = input.client_id;
            m.protocols = input.protocols;
            m.session_timeout = input.session_timeout;
            m.rebalance_timeout = input.rebalance_timeout;
            m.last_seen = now;
            let was_leader = group.leader.as_deref() == Some(old.as_str());
            if was_leader {
                group.leader = Some(new_id.clone());
            }
            // As Kafka does, a static member (the leader too) rejoining a stable group with the same
            // protocol gets the current generation back without a rebalance. A leader that supports
            // KIP-814 (JoinGroup v9+) learns it leads and is told to skip the assignment; an older one is
            // answered as a follower under the old leader id, so that it does not assign at all.
            if group.phase == GroupPhase::Stable && unchanged {
                let mut answer = group.current_answer(&new_id);
                if was_leader && waiter.1 {
                    answer.skip_assignment = true;
                } else if was_leader {
                    answer.leader = old;
                    answer.members.clear();
                }
                return Reply::Now(answer);
            }
            group.member_mut(&new_id).expect("renamed").join_waiter = Some(waiter);
            match group.phase {
                GroupPhase::PreparingRebalance => group.try_complete_join(now),
                _ => group.prepare_rebalance(now, delay, "static member rejoined with a change"),
            }
            return Reply::Wait(rx);
        }
        if input.instance_id.is_none() && input.require_known_member_id {
            group.pending.insert(new_id.clone(), now + input.session_timeout);
            return Reply::Now(JoinAnswer::error_for(ErrorCode::MEMBER_ID_REQUIRED, &new_id));
        }
        Self::add_member(group, new_id, input, waiter, now, delay);
        Reply::Wait(rx)
    }

    fn add_member(
        group: &mut Group,
        id: String,
        input: JoinInput,
        waiter: (oneshot::Sender<JoinAnswer>, bool),
        now: Instant,
        delay: Duration,
    ) {
        debug!(member = id, "member added");
        group.members.push(Member {
            id,
            instance_id: input.instance_id,
            client_id: input.client_id,
            session_timeout: input.session_timeout,
            rebalance_timeout: input.rebalance_timeout,
            protocol_type: input.protocol_type,
            protocols: input.protocols,
            assignment: Bytes::new(),
            last_seen: now,
            join_waiter: Some(waiter),
            sync_waiter: None,
        });
        match group.phase {
            GroupPhase::PreparingRebalance => group.try_complete_join(now),
            _ => group.prepare_rebalance(now, delay, "member joined"),
        }
    }

    fn join_known(
        group: &mut Group,
        input: JoinInput,
        waiter: (oneshot::Sender<JoinAnswer>, bool),
        rx: oneshot::Receiver<JoinAnswer>,
        now: Instant,
        delay: Duration,
    ) -> Reply<JoinAnswer> {
        let id = input.member_id.clone();
        if group.pending.remove(&id).is_some() {
            Self::add_member(group, id, input, waiter, now, delay);
            return Reply::Wait(rx);
        }
        if group.fenced(&id, input.instance_id.as_deref()) {
            return Reply::Now(JoinAnswer::error_for(ErrorCode::FENCED_INSTANCE_ID, &id));
        }
        let phase = group.phase;
        let is_leader = group.leader.as_deref() == Some(id.as_str());
        let Some(m) = group.member_mut(&id) else {
            return Reply::Now(JoinAnswer::error_for(ErrorCode::UNKNOWN_MEMBER_ID, &id));
        };
        m.session_timeout = input.session_timeout;
        m.rebalance_timeout = input.rebalance_timeout;
        m.last_seen = now;
        let unchanged = m.protocols == input.protocols;
        m.protocols = input.protocols;
        match phase {
            GroupPhase::PreparingRebalance => {
                m.join_waiter = Some(waiter);
                group.try_complete_join(now);
                Reply::Wait(rx)
            }
            // A follower that missed the answer of the current generation gets it again.
            GroupPhase::CompletingRebalance if unchanged => Reply::Now(group.current_answer(&id)),
            GroupPhase::Stable if unchanged && !is_leader => Reply::Now(group.current_answer(&id)),
            _ => {
                m.join_waiter = Some(waiter);
                group.prepare_rebalance(now, delay, "known member rejoined");
                Reply::Wait(rx)
            }
        }
    }

    pub(crate) fn sync(&mut self, input: SyncInput, now: Instant) -> Reply<SyncAnswer> {
        let Some(group) = self.groups.get_mut(&input.group) else {
            return Reply::Now(SyncAnswer::error_for(ErrorCode::UNKNOWN_MEMBER_ID));
        };
        if let Some(code) =
            group.check_member(&input.member_id, input.instance_id.as_deref(), input.generation)
        {
            return Reply::Now(SyncAnswer::error_for(code));
        }
        let type_mismatch = input
            .protocol_type
            .as_ref()
            .is_some_and(|t| Some(t) != group.protocol_type.as_ref());
        let name_mismatch = input
            .protocol_name
            .as_ref()
            .is_some_and(|n| Some(n) != group.protocol.as_ref());
        if type_mismatch || name_mismatch {
            return Reply::Now(SyncAnswer::error_for(ErrorCode::INCONSISTENT_GROUP_PROTOCOL));
        }
        group.touch(&input.member_id, now);
        let answer = |g: &Group, assignment: Bytes| SyncAnswer {
            error: ErrorCode::NONE,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol.clone(),
            assignment,
        };
        match group.phase {
            GroupPhase::Empty => Reply::Now(SyncAnswer::error_for(ErrorCode::UNKNOWN_MEMBER_ID)),
            GroupPhase::PreparingRebalance => {
                Reply::Now(SyncAnswer::error_for(ErrorCode::REBALANCE_IN_PROGRESS))
            }
            GroupPhase::Stable => {
                let assignment = group
                    .member(&input.member_id)
                    .expect("checked")
                    .assignment
                    .clone();
                Reply::Now(answer(group, assignment))
            }
            GroupPhase::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                group.member_mut(&input.member_id).expect("checked").sync_waiter = Some(tx);
                if group.leader.as_deref() == Some(input.member_id.as_str()) {
                    let assignments: BTreeMap<String, Bytes> = input.assignments.into_iter().collect();
                    group.phase = GroupPhase::Stable;
                    debug!(generation = group.generation, "leader synced; group stable");
                    let (ptype, pname) = (group.protocol_type.clone(), group.protocol.clone());
                    for m in &mut group.members {
                        m.assignment = assignments.get(&m.id).cloned().unwrap_or_default();
                        let a = SyncAnswer {
                            error: ErrorCode::NONE,
                            protocol_type: ptype.clone(),
                            protocol_name: pname.clone(),
                            assignment: m.assignment.clone(),
                        };
                        m.answer_sync(a);
                    }
                }
                Reply::Wait(rx)
            }
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        group: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
    ) -> ErrorCode {
        let Some(group) = self.groups.get_mut(group) else {
            return ErrorCode::UNKNOWN_MEMBER_ID;
        };
        if let Some(code) = group.check_member(member_id, instance_id, generation) {
            return code;
        }
        match group.phase {
            GroupPhase::Empty => ErrorCode::UNKNOWN_MEMBER_ID,
            GroupPhase::PreparingRebalance => {
                group.touch(member_id, now);
                ErrorCode::REBALANCE_IN_PROGRESS
            }
            GroupPhase::CompletingRebalance | GroupPhase::Stable => {
                group.touch(member_id, now);
                ErrorCode::NONE
            }
        }
    }

    /// LeaveGroup for `(member id, instance id)` pairs; one error per member.
    pub(crate) fn leave(
        &mut self,
        group: &str,
        members: &[(String, Option<String>)],
        now: Instant,
    ) -> Vec<ErrorCode> {
        let delay = self.initial_rebalance_delay;
        let Some(g) = self.groups.get_mut(group) else {
            return vec![ErrorCode::UNKNOWN_MEMBER_ID; members.len()];
        };
        members
            .iter()
            .map(|(id, instance)| {
                // KIP-345: a static member may leave by instance id alone.
                let target = match instance {
                    Some(i) => match g.members.iter().find(|m| m.instance_id.as_ref() == Some(i)) {
                        Some(m) if id.is_empty() || m.id == *id => Some(m.id.clone()),
                        Some(_) => return ErrorCode::FENCED_INSTANCE_ID,
                        None => None,
                    },
                    None => g.member(id).map(|m| m.id.clone()),
                };
                match target {
                    Some(id) => {
                        g.remove_member(&id, now, delay, "left the group");
                        ErrorCode::NONE
                    }
                    None if g.pending.remove(id).is_some() => ErrorCode::NONE,
                    None => ErrorCode::UNKNOWN_MEMBER_ID,
                }
            })
            .collect()
    }

    /// OffsetCommit: the error for every partition of the request (all the same here), after Kafka's
    /// `handleCommitOffsets`: a simple (admin) commit into an empty group, else member and generation
    /// checks; refused while the group waits for the leader's assignment.
    pub(crate) fn commit(
        &mut self,
        group: &str,
        generation: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<((String, i32), Committed)>,
        now: Instant,
    ) -> ErrorCode {
        let simple = generation < 0 && member_id.is_empty() && instance_id.is_none();
        let g = match self.groups.get_mut(group) {
            Some(g) => g,
            None if generation < 0 => self.groups.entry(group.to_owned()).or_insert_with(Group::new),
            None => return ErrorCode::ILLEGAL_GENERATION,
        };
        if !(simple && g.phase == GroupPhase::Empty) {
            if let Some(code) = g.check_member(member_id, instance_id, generation) {
                return code;
            }
            if g.phase == GroupPhase::CompletingRebalance {
                return ErrorCode::REBALANCE_IN_PROGRESS;
            }
            g.touch(member_id, now);
        }
        g.offsets.extend(offsets);
        ErrorCode::NONE
    }

    /// OffsetFetch of one group: `None` topics means every committed partition.
    pub(crate) fn fetch_offsets(
        &self,
        group: &str,
        topics: Option<Vec<(String, Vec<i32>)>>,
        require_stable: bool,
    ) -> Vec<(String, Vec<FetchedOffset>)> {
        let g = self.groups.get(group);
        let topics = topics.unwrap_or_else(|| {
            let mut all: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for (t, p) in g.into_iter().flat_map(|g| g.offsets.keys()) {
                all.entry(t.clone()).or_default().push(*p);
            }
            all.into_iter().collect()
        });
        topics
            .into_iter()
            .map(|(t, ps)| {
                let parts = ps
                    .into_iter()
                    .map(|p| {
                        let unstable =
                            require_stable && self.unstable.contains(&(group.to_owned(), t.clone(), p));
                        FetchedOffset {
                            partition: p,
                            committed: (!unstable)
                                .then(|| g.and_then(|g| g.offsets.get(&(t.clone(), p)).cloned()))
                                .flatten(),
                            error: if unstable {
                                ErrorCode::UNSTABLE_OFFSET_COMMIT
                            } else {
                                ErrorCode::NONE
                            },
                        }
                    })
                    .collect();
                (t, parts)
            })
            .collect()
    }

    /// Sets a committed offset directly (test setup), as an admin commit would.
    pub(crate) fn set_committed(&mut self, group: &str, topic: &str, partition: i32, committed: Committed) {
        self.groups
            .entry(group.to_owned())
            .or_insert_with(Group::new)
            .offsets
            .insert((topic.to_owned(), partition), committed);
    }

    pub(crate) fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<Committed> {
        self.groups
            .get(group)?
            .offsets
            .get(&(topic.to_owned(), partition))
            .cloned()
    }

    /// Starts a rebalance as if something changed on the broker side.
    pub(crate) fn trigger_rebalance(&mut self, group: &str, now: Instant) -> bool {
        let delay = self.initial_rebalance_delay;
        match self.groups.get_mut(group) {
            Some(g) if matches!(g.phase, GroupPhase::Stable | GroupPhase::CompletingRebalance) => {
                g.prepare_rebalance(now, delay, "triggered by the test");
                true
            }
            _ => false,
        }
    }

    /// Removes a member as if its session expired.
    pub(crate) fn expire_member(&mut self, group: &str, member_id: &str, now: Instant) -> bool {
        let delay = self.initial_rebalance_delay;
        match self.groups.get_mut(group) {
            Some(g) if g.member(member_id).is_some() => {
                g.remove_member(member_id, now, delay, "expired by the test");
                true
            }
            _ => false,
        }
    }

    /// Session expiry, rebalance timeouts and the initial rebalance delay.
    pub(crate) fn tick(&mut self, now: Instant) {
        let delay = self.initial_rebalance_delay;
        for g in self.groups.values_mut() {
            g.pending.retain(|_, until| *until > now);
            if g.phase == GroupPhase::PreparingRebalance {
                if g.rebalance_deadline.is_some_and(|d| d <= now) {
                    g.complete_join(now);
                } else {
                    g.try_complete_join(now);
                }
            }
            // Members waiting for a JoinGroup or SyncGroup answer are alive (Kafka's `shouldKeepAlive`).
            let expired: Vec<String> = g
                .members
                .iter()
                .filter(|m| m.join_waiter.is_none() && m.sync_waiter.is_none())
                .filter(|m| m.last_seen + m.session_timeout <= now)
                .map(|m| m.id.clone())
                .collect();
            for id in expired {
                g.remove_member(&id, now, delay, "session expired");
            }
        }
    }
}
