//! A simulated classic group coordinator and a quinn-`Pair`-style driver: N [`GroupMember`]s, a pure
//! model of the broker's group state machine, a simulated clock that jumps to the next timer, fault
//! injection, and invariant checks after every delivery (invariants and scenarios are numbered as in
//! docs/faults-and-invariants.md).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::assignor::{Assignor, CooperativeStickyAssignor, PartitionCounts, RangeAssignor};
use crate::member::*;
use crate::protocol::{Assignment, TopicPartition};

pub(super) const SESSION: Duration = Duration::from_secs(10);
pub(super) const HEARTBEAT: Duration = Duration::from_secs(3);
pub(super) const MAX_POLL: Duration = Duration::from_secs(60);
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

pub(super) fn config(seed: u64, cooperative: bool, instance: Option<&str>) -> MemberConfig {
    let mut c = MemberConfig::new("g");
    c.session_timeout = SESSION;
    c.heartbeat_interval = HEARTBEAT;
    c.max_poll_interval = MAX_POLL;
    c.request_timeout = REQUEST_TIMEOUT;
    c.jitter_seed = seed;
    c.group_instance_id = instance.map(str::to_owned);
    c.assignors = if cooperative {
        vec![Arc::new(CooperativeStickyAssignor) as Arc<dyn Assignor>]
    } else {
        vec![Arc::new(RangeAssignor) as Arc<dyn Assignor>]
    };
    c
}

// -------------------------------------------------------------------------------------------------
// Coordinator model
// -------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GState {
    Empty,
    Preparing,
    Completing,
    Stable,
}

#[derive(Debug, Clone)]
pub(super) struct CMember {
    pub instance: Option<String>,
    pub session: Duration,
    pub rebalance: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub last_seen: Instant,
}

/// What an injected fault does to the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FaultAction {
    /// Answer with this error code.
    Error(i16),
    /// Drop the request unprocessed (the requester times out).
    DropRequest,
    /// Process the request but lose the response.
    DropResponse,
}

#[derive(Debug, Clone)]
pub(super) struct Fault {
    pub api: &'static str,
    pub action: FaultAction,
    pub node: Option<usize>,
    pub times: usize,
}

pub(super) type Reply = (usize, RequestId, Response);

#[derive(Debug)]
pub(super) struct Coordinator {
    pub node_id: i32,
    pub state: GState,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, CMember>,
    pub pending_ids: BTreeSet<String>,
    pub static_map: BTreeMap<String, String>,
    pub assignments: BTreeMap<String, Bytes>,
    pub rebalance_deadline: Option<Instant>,
    pub offsets: BTreeMap<TopicPartition, i64>,
    pub faults: Vec<Fault>,
    pub history: BTreeMap<i32, BTreeMap<String, Vec<TopicPartition>>>,
    pub max_size: Option<usize>,
    pub min_session: Duration,
    pub rebalances: u32,
    pub requests: BTreeMap<&'static str, usize>,
    next_member: u64,
    /// member id → (node, request) of a parked JoinGroup.
    parked_joins: BTreeMap<String, (usize, RequestId)>,
    parked_syncs: BTreeMap<String, (usize, RequestId)>,
    /// Which node each member id belongs to (for routing parked answers).
    pub node_of: BTreeMap<String, usize>,
}

fn error_response(request: &Request, code: i16) -> Response {
    match request {
        Request::FindCoordinator { .. } => Response::FindCoordinator {
            error_code: code,
            node_id: -1,
        },
        Request::JoinGroup(_) => Response::JoinGroup(JoinAnswer {
            error_code: code,
            generation_id: -1,
            protocol_name: None,
            leader: String::new(),
            member_id: String::new(),
            members: Vec::new(),
            skip_assignment: false,
        }),
        Request::SyncGroup(_) => Response::SyncGroup {
            error_code: code,
            protocol_name: None,
            assignment: Bytes::new(),
        },
        Request::Heartbeat { .. } => Response::Heartbeat { error_code: code },
        Request::LeaveGroup { .. } => Response::LeaveGroup { error_code: code },
        Request::OffsetCommit(r) => Response::OffsetCommit {
            partitions: r.offsets.iter().map(|o| (o.partition.clone(), code)).collect(),
        },
        Request::OffsetFetch { .. } => Response::OffsetFetch {
            error_code: code,
            partitions: Vec::new(),
        },
    }
}

impl Coordinator {
    pub(super) fn new() -> Self {
        Self {
            node_id: 1,
            state: GState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_ids: BTreeSet::new(),
            static_map: BTreeMap::new(),
            assignments: BTreeMap::new(),
            rebalance_deadline: None,
            offsets: BTreeMap::new(),
            faults: Vec::new(),
            history: BTreeMap::new(),
            max_size: None,
            min_session: Duration::from_secs(6),
            rebalances: 0,
            requests: BTreeMap::new(),
            next_member: 0,
            parked_joins: BTreeMap::new(),
            parked_syncs: BTreeMap::new(),
            node_of: BTreeMap::new(),
        }
    }

    fn take_fault(&mut self, api: &str, node: usize) -> Option<FaultAction> {
        let i = self
            .faults
            .iter()
            .position(|f| f.api == api && f.node.is_none_or(|n| n == node) && f.times > 0)?;
        self.faults[i].times -= 1;
        let action = self.faults[i].action;
        if self.faults[i].times == 0 {
            self.faults.remove(i);
        }
        Some(action)
    }

    /// Handles one request. `None` = no response (dropped); otherwise the replies to deliver now (several
    /// when a rebalance completes).
    pub(super) fn handle(
        &mut self,
        now: Instant,
        node: usize,
        id: RequestId,
        target: Target,
        request: &Request,
    ) -> Vec<Reply> {
        *self.requests.entry(request.api_name()).or_default() += 1;
        let mut drop_response = false;
        match self.take_fault(request.api_name(), node) {
            Some(FaultAction::Error(code)) => {
                let mut out = Vec::new();
                let response = self.injected_error(now, request, code, &mut out);
                out.push((node, id, response));
                return out;
            }
            Some(FaultAction::DropRequest) => return Vec::new(),
            Some(FaultAction::DropResponse) => drop_response = true,
            None => {}
        }
        if let Target::Coordinator(n) = target
            && n != self.node_id
        {
            return vec![(node, id, error_response(request, codes::NOT_COORDINATOR))];
        }
        let mut out = Vec::new();
        match request {
            Request::FindCoordinator { .. } => out.push((
                node,
                id,
                Response::FindCoordinator {
                    error_code: 0,
                    node_id: self.node_id,
                },
            )),
            Request::JoinGroup(r) => self.join(now, node, id, r, &mut out),
            Request::SyncGroup(r) => self.sync(now, node, id, r, &mut out),
            Request::Heartbeat {
                generation_id,
                member_id,
                group_instance_id,
                ..
            } => {
                let code = self.validate(member_id, group_instance_id, *generation_id);
                let code = if code != 0 {
                    code
                } else if self.state == GState::Preparing {
                    codes::REBALANCE_IN_PROGRESS
                } else {
                    0
                };
                if let Some(m) = self.members.get_mut(member_id)
                    && (code == 0 || code == codes::REBALANCE_IN_PROGRESS)
                {
                    m.last_seen = now;
                }
                out.push((node, id, Response::Heartbeat { error_code: code }));
            }
            Request::LeaveGroup {
                member_id,
                group_instance_id,
                ..
            } => {
                let code = if !self.members.contains_key(member_id) {
                    codes::UNKNOWN_MEMBER_ID
                } else if group_instance_id
                    .as_ref()
                    .is_some_and(|i| self.static_map.get(i) != Some(member_id))
                {
                    codes::FENCED_INSTANCE_ID
                } else {
                    self.remove_member(now, member_id, &mut out);
                    0
                };
                out.push((node, id, Response::LeaveGroup { error_code: code }));
            }
            Request::OffsetCommit(r) => {
                let code = if r.generation_id < 0 {
                    0
                } else {
                    let c = self.validate(&r.member_id, &r.group_instance_id, r.generation_id);
                    if c != 0 {
                        c
                    } else if self.state == GState::Completing {
                        codes::REBALANCE_IN_PROGRESS
                    } else {
                        0
                    }
                };
                if code == 0 {
                    for o in &r.offsets {
                        self.offsets.insert(o.partition.clone(), o.offset);
                    }
                }
                out.push((node, id, error_response(request, code)));
            }
            Request::OffsetFetch { partitions, .. } => out.push((
                node,
                id,
                Response::OffsetFetch {
                    error_code: 0,
                    partitions: partitions
                        .iter()
                        .map(|p| FetchedOffset {
                            partition: p.clone(),
                            offset: self.offsets.get(p).copied().unwrap_or(-1),
                            leader_epoch: -1,
                            metadata: None,
                            error_code: 0,
                        })
                        .collect(),
                },
            )),
        }
        if drop_response {
            out.retain(|(n, i, _)| !(*n == node && *i == id));
        }
        out
    }

    /// The answer to a request that an injected fault turns into the error `code`, with the side effects
    /// Kafka's coordinator has when it gives that answer, so that the member may draw the inferences
    /// from it that it draws from a real coordinator.
    ///
    /// A Heartbeat is answered REBALANCE_IN_PROGRESS only in PreparingRebalance, after the member and
    /// generation checks, and that branch reschedules the member's session expiry first
    /// (`completeAndScheduleNextHeartbeatExpiration` in the Scala `GroupCoordinator.handleHeartbeat`;
    /// `rescheduleClassicGroupMemberHeartbeat` in `GroupMetadataManager.classicGroupHeartbeatToClassicGroup`).
    /// The Java client (and `GroupMember`) accordingly counts that answer as a received heartbeat
    /// (`HeartbeatThread`: "it is valid to continue heartbeating while the group is rebalancing").
    /// Answering it without refreshing the session would let the coordinator expire the member earlier
    /// than any real coordinator can, while the member still holds its partitions (the shrunk case in
    /// `prop::regression_dropped_join_then_heartbeat_rebalance_in_progress`). So a valid member's
    /// session is refreshed and the group enters PreparingRebalance, as the answer says; a member that
    /// fails the checks gets their error instead, as from Kafka.
    fn injected_error(
        &mut self,
        now: Instant,
        request: &Request,
        code: i16,
        out: &mut Vec<Reply>,
    ) -> Response {
        if let (
            Request::Heartbeat {
                generation_id,
                member_id,
                group_instance_id,
                ..
            },
            codes::REBALANCE_IN_PROGRESS,
        ) = (request, code)
        {
            let invalid = self.validate(member_id, group_instance_id, *generation_id);
            if invalid != 0 {
                return error_response(request, invalid);
            }
            self.members.get_mut(member_id).expect("validated").last_seen = now;
            if self.state != GState::Preparing {
                self.prepare_rebalance(now, out);
            }
        }
        error_response(request, code)
    }

    /// Member / instance / generation checks shared by Heartbeat, SyncGroup and OffsetCommit.
    fn validate(&self, member_id: &str, instance: &Option<String>, generation: i32) -> i16 {
        if let Some(i) = instance
            && let Some(current) = self.static_map.get(i)
            && current != member_id
        {
            return codes::FENCED_INSTANCE_ID;
        }
        if !self.members.contains_key(member_id) {
            return codes::UNKNOWN_MEMBER_ID;
        }
        if generation != self.generation {
            return codes::ILLEGAL_GENERATION;
        }
        0
    }

    fn join(&mut self, now: Instant, node: usize, id: RequestId, r: &JoinParams, out: &mut Vec<Reply>) {
        if r.session_timeout_ms < i32::try_from(self.min_session.as_millis()).unwrap() {
            out.push((
                node,
                id,
                error_response(&Request::JoinGroup(r.clone()), codes::INVALID_SESSION_TIMEOUT),
            ));
            return;
        }
        let mut member_id = r.member_id.clone();
        if member_id.is_empty() {
            if let Some(instance) = &r.group_instance_id {
                if let Some(old) = self.static_map.get(instance).cloned() {
                    // KIP-345: a static member restarting; replace its member id.
                    let new = self.new_member_id(instance);
                    let mut m = self.members.remove(&old).expect("static member");
                    m.last_seen = now;
                    m.protocols = r.protocols.clone();
                    self.members.insert(new.clone(), m);
                    self.static_map.insert(instance.clone(), new.clone());
                    self.node_of.insert(new.clone(), node);
                    if let Some(a) = self.assignments.remove(&old) {
                        self.assignments.insert(new.clone(), a);
                    }
                    if self.leader.as_ref() == Some(&old) {
                        self.leader = Some(new.clone());
                    }
                    if let Some((n, pid)) = self.parked_joins.remove(&old) {
                        out.push((
                            n,
                            pid,
                            error_response(&Request::JoinGroup(r.clone()), codes::FENCED_INSTANCE_ID),
                        ));
                    }
                    if let Some((n, pid)) = self.parked_syncs.remove(&old) {
                        out.push((
                            n,
                            pid,
                            Response::SyncGroup {
                                error_code: codes::FENCED_INSTANCE_ID,
                                protocol_name: None,
                                assignment: Bytes::new(),
                            },
                        ));
                    }
                    if self.state == GState::Stable {
                        let leader = self.leader.clone().unwrap_or_default();
                        let is_leader = leader == new;
                        out.push((
                            node,
                            id,
                            Response::JoinGroup(JoinAnswer {
                                error_code: 0,
                                generation_id: self.generation,
                                protocol_name: self.protocol.clone(),
                                leader,
                                member_id: new.clone(),
                                members: if is_leader { self.member_list() } else { Vec::new() },
                                skip_assignment: is_leader,
                            }),
                        ));
                        return;
                    }
                    member_id = new;
                } else {
                    member_id = self.new_member_id(instance);
                    self.static_map.insert(instance.clone(), member_id.clone());
                }
            } else {
                // KIP-394.
                let new = self.new_member_id("m");
                self.pending_ids.insert(new.clone());
                let mut resp = error_response(&Request::JoinGroup(r.clone()), codes::MEMBER_ID_REQUIRED);
                if let Response::JoinGroup(j) = &mut resp {
                    j.member_id = new;
                }
                out.push((node, id, resp));
                return;
            }
        } else if let Some(instance) = &r.group_instance_id {
            // Kafka: fenced only if the instance is registered under another member id; an unknown
            // instance is an unknown member.
            if !self.static_map.contains_key(instance) {
                out.push((
                    node,
                    id,
                    error_response(&Request::JoinGroup(r.clone()), codes::UNKNOWN_MEMBER_ID),
                ));
                return;
            }
            if self.static_map.get(instance) != Some(&member_id) {
                out.push((
                    node,
                    id,
                    error_response(&Request::JoinGroup(r.clone()), codes::FENCED_INSTANCE_ID),
                ));
                return;
            }
        } else if !self.members.contains_key(&member_id) && !self.pending_ids.remove(&member_id) {
            out.push((
                node,
                id,
                error_response(&Request::JoinGroup(r.clone()), codes::UNKNOWN_MEMBER_ID),
            ));
            return;
        }
        if !self.members.contains_key(&member_id)
            && let Some(max) = self.max_size
            && self.members.len() >= max
        {
            out.push((
                node,
                id,
                error_response(&Request::JoinGroup(r.clone()), codes::GROUP_MAX_SIZE_REACHED),
            ));
            return;
        }
        self.node_of.insert(member_id.clone(), node);
        self.members.insert(
            member_id.clone(),
            CMember {
                instance: r.group_instance_id.clone(),
                session: Duration::from_millis(r.session_timeout_ms as u64),
                rebalance: Duration::from_millis(r.rebalance_timeout_ms as u64),
                protocols: r.protocols.clone(),
                last_seen: now,
            },
        );
        if let Some((n, pid)) = self.parked_joins.insert(member_id.clone(), (node, id)) {
            // A duplicate join replaces the older request.
            out.push((
                n,
                pid,
                error_response(&Request::JoinGroup(r.clone()), codes::REBALANCE_IN_PROGRESS),
            ));
        }
        if self.state != GState::Preparing {
            self.prepare_rebalance(now, out);
        }
        self.maybe_complete_join(now, false, out);
    }

    fn new_member_id(&mut self, prefix: &str) -> String {
        self.next_member += 1;
        format!("{prefix}-{}", self.next_member)
    }

    fn member_list(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol.clone().unwrap_or_default();
        self.members
            .iter()
            .map(|(id, m)| JoinedMember {
                member_id: id.clone(),
                group_instance_id: m.instance.clone(),
                metadata: m
                    .protocols
                    .iter()
                    .find(|(n, _)| *n == protocol)
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default(),
            })
            .collect()
    }

    fn prepare_rebalance(&mut self, now: Instant, out: &mut Vec<Reply>) {
        self.state = GState::Preparing;
        let max = self
            .members
            .values()
            .map(|m| m.rebalance)
            .max()
            .unwrap_or_default();
        self.rebalance_deadline = Some(now + max);
        for (_, (n, pid)) in std::mem::take(&mut self.parked_syncs) {
            out.push((
                n,
                pid,
                Response::SyncGroup {
                    error_code: codes::REBALANCE_IN_PROGRESS,
                    protocol_name: None,
                    assignment: Bytes::new(),
                },
            ));
        }
        self.assignments.clear();
    }

    fn maybe_complete_join(&mut self, now: Instant, deadline_passed: bool, out: &mut Vec<Reply>) {
        if self.state != GState::Preparing {
            return;
        }
        let all = self.members.keys().all(|m| self.parked_joins.contains_key(m));
        if !all && !deadline_passed {
            return;
        }
        let missing: Vec<String> = self
            .members
            .keys()
            .filter(|m| !self.parked_joins.contains_key(*m))
            .cloned()
            .collect();
        for m in missing {
            let member = self.members.remove(&m).unwrap();
            if let Some(i) = member.instance {
                self.static_map.remove(&i);
            }
        }
        self.rebalance_deadline = None;
        if self.members.is_empty() {
            self.state = GState::Empty;
            self.leader = None;
            return;
        }
        self.generation += 1;
        self.rebalances += 1;
        // Protocol: candidates every member supports; each member votes for its first candidate.
        let first = self.members.values().next().unwrap();
        let candidates: Vec<String> = first
            .protocols
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(p, _)| p == n))
            })
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m.protocols.iter().find(|(p, _)| candidates.contains(p)) {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        self.protocol = votes
            .iter()
            .max_by_key(|(_, v)| **v)
            .map(|(n, _)| (*n).to_owned());
        if !self.leader.as_ref().is_some_and(|l| self.members.contains_key(l)) {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap();
        for m in self.members.values_mut() {
            m.last_seen = now;
        }
        let list = self.member_list();
        for (member, (n, pid)) in std::mem::take(&mut self.parked_joins) {
            let is_leader = member == leader;
            out.push((
                n,
                pid,
                Response::JoinGroup(JoinAnswer {
                    error_code: 0,
                    generation_id: self.generation,
                    protocol_name: self.protocol.clone(),
                    leader: leader.clone(),
                    member_id: member.clone(),
                    members: if is_leader { list.clone() } else { Vec::new() },
                    skip_assignment: false,
                }),
            ));
        }
        self.state = GState::Completing;
    }

    fn sync(&mut self, now: Instant, node: usize, id: RequestId, r: &SyncParams, out: &mut Vec<Reply>) {
        let reply = |code: i16, assignment: Bytes, protocol: Option<String>| Response::SyncGroup {
            error_code: code,
            protocol_name: protocol,
            assignment,
        };
        let code = self.validate(&r.member_id, &r.group_instance_id, r.generation_id);
        if code != 0 {
            out.push((node, id, reply(code, Bytes::new(), None)));
            return;
        }
        if Some(&r.protocol_name) != self.protocol.as_ref() {
            out.push((
                node,
                id,
                reply(codes::INCONSISTENT_GROUP_PROTOCOL, Bytes::new(), None),
            ));
            return;
        }
        self.members.get_mut(&r.member_id).unwrap().last_seen = now;
        match self.state {
            GState::Preparing | GState::Empty => {
                out.push((node, id, reply(codes::REBALANCE_IN_PROGRESS, Bytes::new(), None)));
            }
            GState::Stable => {
                let a = self.assignments.get(&r.member_id).cloned().unwrap_or_default();
                out.push((node, id, reply(0, a, self.protocol.clone())));
            }
            GState::Completing => {
                self.parked_syncs.insert(r.member_id.clone(), (node, id));
                if self.leader.as_ref() == Some(&r.member_id) {
                    self.assignments = r.assignments.iter().cloned().collect();
                    // Invariant 7 at the coordinator: one owner per partition per generation.
                    let mut seen: BTreeMap<TopicPartition, String> = BTreeMap::new();
                    let mut gen_map = BTreeMap::new();
                    for (m, bytes) in &self.assignments {
                        let a = Assignment::decode(bytes.clone()).expect("leader assignment decodes");
                        for p in &a.partitions {
                            if let Some(other) = seen.insert(p.clone(), m.clone()) {
                                panic!("generation {}: {p} assigned to {other} and {m}", self.generation);
                            }
                        }
                        gen_map.insert(m.clone(), a.partitions);
                    }
                    self.history.insert(self.generation, gen_map);
                    self.state = GState::Stable;
                    for (member, (n, pid)) in std::mem::take(&mut self.parked_syncs) {
                        let a = self.assignments.get(&member).cloned().unwrap_or_default();
                        out.push((n, pid, reply(0, a, self.protocol.clone())));
                    }
                }
            }
        }
    }

    fn remove_member(&mut self, now: Instant, member_id: &str, out: &mut Vec<Reply>) {
        if let Some(m) = self.members.remove(member_id)
            && let Some(i) = m.instance
        {
            self.static_map.remove(&i);
        }
        if let Some((n, pid)) = self.parked_joins.remove(member_id) {
            out.push((
                n,
                pid,
                error_response(
                    &Request::Heartbeat {
                        group_id: String::new(),
                        generation_id: 0,
                        member_id: String::new(),
                        group_instance_id: None,
                    },
                    codes::UNKNOWN_MEMBER_ID,
                ),
            ));
        }
        self.parked_syncs.remove(member_id);
        if self.members.is_empty() {
            self.state = GState::Empty;
            self.parked_joins.clear();
            self.rebalance_deadline = None;
            self.leader = None;
            return;
        }
        match self.state {
            GState::Stable | GState::Completing => self.prepare_rebalance(now, out),
            GState::Preparing => self.maybe_complete_join(now, false, out),
            GState::Empty => {}
        }
    }

    /// Session expiry and rebalance deadline.
    pub(super) fn tick(&mut self, now: Instant) -> Vec<Reply> {
        let mut out = Vec::new();
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(id, m)| !self.parked_joins.contains_key(*id) && now >= m.last_seen + m.session)
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove_member(now, &id, &mut out);
        }
        if self.rebalance_deadline.is_some_and(|d| now >= d) {
            self.maybe_complete_join(now, true, &mut out);
        }
        out
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.members
            .iter()
            .filter(|(id, _)| !self.parked_joins.contains_key(*id))
            .map(|(_, m)| m.last_seen + m.session)
            .chain(self.rebalance_deadline)
            .min()
    }

    /// The coordinator moves to another broker (the group is reloaded from the log; in-memory waits are
    /// answered NOT_COORDINATOR; sessions restart).
    pub(super) fn move_to(&mut self, now: Instant, node_id: i32) -> Vec<Reply> {
        self.node_id = node_id;
        let mut out = Vec::new();
        for (_, (n, pid)) in std::mem::take(&mut self.parked_joins) {
            out.push((
                n,
                pid,
                error_response(
                    &Request::JoinGroup(JoinParams {
                        group_id: String::new(),
                        session_timeout_ms: 0,
                        rebalance_timeout_ms: 0,
                        member_id: String::new(),
                        group_instance_id: None,
                        protocol_type: String::new(),
                        protocols: Vec::new(),
                        reason: String::new(),
                    }),
                    codes::NOT_COORDINATOR,
                ),
            ));
        }
        for (_, (n, pid)) in std::mem::take(&mut self.parked_syncs) {
            out.push((
                n,
                pid,
                Response::SyncGroup {
                    error_code: codes::NOT_COORDINATOR,
                    protocol_name: None,
                    assignment: Bytes::new(),
                },
            ));
        }
        for m in self.members.values_mut() {
            m.last_seen = now;
        }
        if self.state == GState::Preparing {
            self.rebalance_deadline = Some(
                now + self
                    .members
                    .values()
                    .map(|m| m.rebalance)
                    .max()
                    .unwrap_or_default(),
            );
        }
        if self.state == GState::Completing {
            // The leader's SyncGroup never arrived; rebalance again.
            self.prepare_rebalance(now, &mut out);
        }
        out
    }
}

// -------------------------------------------------------------------------------------------------
// The driver
// -------------------------------------------------------------------------------------------------

#[derive(Debug)]
pub(super) struct Node {
    pub member: GroupMember,
    pub alive: bool,
    pub events: Vec<(Instant, GroupEvent)>,
    pub auto_callbacks: bool,
    pub polling: bool,
    pub cut_off: bool,
    /// Commit revoked partitions' positions (sync) inside the revocation callback.
    pub commit_on_revoke: bool,
    pub sent: Vec<(Instant, Request)>,
}

#[derive(Debug)]
pub(super) struct Sim {
    pub now: Instant,
    pub origin: Instant,
    pub coord: Coordinator,
    pub nodes: Vec<Node>,
    pub topics: PartitionCounts,
    /// Responses to deliver at a time: (when, node, id, response).
    pub scheduled: Vec<(Instant, usize, RequestId, Response)>,
    ready: VecDeque<Reply>,
    pub coordinator_down: bool,
    pub check_ownership: bool,
}

impl Sim {
    pub(super) fn new(topics: &[(&str, i32)]) -> Self {
        let origin = Instant::now();
        Self {
            now: origin,
            origin,
            coord: Coordinator::new(),
            nodes: Vec::new(),
            topics: topics.iter().map(|(t, n)| ((*t).to_owned(), *n)).collect(),
            scheduled: Vec::new(),
            ready: VecDeque::new(),
            coordinator_down: false,
            check_ownership: true,
        }
    }

    /// Elapsed simulated time.
    pub(super) fn elapsed(&self) -> Duration {
        self.now - self.origin
    }

    /// Adds a member subscribed to every topic; returns its index.
    pub(super) fn add(&mut self, config: MemberConfig) -> usize {
        let mut member = GroupMember::new(config, self.now).unwrap();
        let topics: Vec<String> = self.topics.keys().cloned().collect();
        member.metadata_changed(&self.topics, self.now);
        member.subscribe(topics, self.now).unwrap();
        self.nodes.push(Node {
            member,
            alive: true,
            events: Vec::new(),
            auto_callbacks: true,
            polling: true,
            cut_off: false,
            commit_on_revoke: false,
            sent: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Kills a member without LeaveGroup.
    pub(super) fn crash(&mut self, i: usize) {
        self.nodes[i].alive = false;
        self.scheduled.retain(|(_, n, _, _)| *n != i);
        self.ready.retain(|(n, _, _)| *n != i);
    }

    pub(super) fn inject(
        &mut self,
        api: &'static str,
        action: FaultAction,
        node: Option<usize>,
        times: usize,
    ) {
        self.coord.faults.push(Fault {
            api,
            action,
            node,
            times,
        });
    }

    pub(super) fn set_partitions(&mut self, topic: &str, count: i32) {
        self.topics.insert(topic.to_owned(), count);
        let now = self.now;
        for n in self.nodes.iter_mut().filter(|n| n.alive) {
            n.member.metadata_changed(&self.topics, now);
        }
    }

    /// New replica racks (KIP-881) reach every live member with the current partition counts.
    pub(super) fn set_racks(&mut self, racks: &crate::assignor::ReplicaRacks) {
        let now = self.now;
        for n in self.nodes.iter_mut().filter(|n| n.alive) {
            n.member.metadata_with_racks_changed(&self.topics, racks, now);
        }
    }

    pub(super) fn move_coordinator(&mut self) {
        let next = self.coord.node_id + 1;
        let replies = self.coord.move_to(self.now, next);
        self.ready.extend(replies);
    }

    fn route(&mut self, i: usize, t: Transmit) {
        self.nodes[i].sent.push((self.now, t.request.clone()));
        if let Request::OffsetCommit(r) = &t.request {
            // Invariants 8/9 at the member: only owned partitions, with the member's current generation.
            let m = &self.nodes[i].member;
            let owned: BTreeSet<TopicPartition> = m.assignment().into_iter().collect();
            for o in &r.offsets {
                assert!(
                    owned.contains(&o.partition),
                    "node {i} commits {} it does not own",
                    o.partition
                );
            }
            assert_eq!(r.generation_id, m.generation(), "commit with a stale generation");
            assert_eq!(r.member_id, m.member_id());
        }
        let unreachable = match t.target {
            Target::AnyBroker => false,
            Target::Coordinator(_) => self.nodes[i].cut_off || self.coordinator_down,
        };
        if unreachable {
            self.scheduled.push((
                self.now + t.timeout,
                i,
                t.id,
                Response::Failed(TransportFailure::TimedOut),
            ));
            return;
        }
        let accepted_commit = match &t.request {
            Request::OffsetCommit(r) => Some(r.clone()),
            _ => None,
        };
        let replies = self.coord.handle(self.now, i, t.id, t.target, &t.request);
        if replies.iter().all(|(n, id, _)| !(*n == i && *id == t.id)) && !self.is_parked(i, t.id) {
            // Lost (dropped request or response): the driver times out.
            self.scheduled.push((
                self.now + t.timeout,
                i,
                t.id,
                Response::Failed(TransportFailure::TimedOut),
            ));
        }
        if let Some(r) = accepted_commit {
            let ok = replies.iter().any(|(n, id, resp)| {
                *n == i && *id == t.id && matches!(resp, Response::OffsetCommit { partitions } if partitions.iter().all(|(_, c)| *c == 0))
            });
            if ok && r.generation_id >= 0 {
                // Invariant 9: an accepted commit comes from a current member; 7/8: nobody else owns it.
                assert_eq!(r.generation_id, self.coord.generation);
                for o in &r.offsets {
                    for (j, n) in self.nodes.iter().enumerate() {
                        if j != i && n.alive {
                            assert!(
                                !n.member.assignment().contains(&o.partition),
                                "commit of {} by node {i} while node {j} owns it",
                                o.partition
                            );
                        }
                    }
                }
            }
        }
        self.ready.extend(replies);
    }

    fn is_parked(&self, i: usize, id: RequestId) -> bool {
        self.coord
            .parked_joins
            .values()
            .chain(self.coord.parked_syncs.values())
            .any(|&(n, pid)| n == i && pid == id)
    }

    fn app(&mut self, i: usize, event: &GroupEvent) {
        let now = self.now;
        let node = &mut self.nodes[i];
        if !node.auto_callbacks {
            return;
        }
        match event {
            GroupEvent::Revoked { partitions } => {
                if node.commit_on_revoke {
                    let offsets = partitions
                        .iter()
                        .map(|p| OffsetToCommit::new(p.clone(), 100))
                        .collect();
                    node.member
                        .commit(
                            offsets,
                            CommitKind::Sync {
                                deadline: now + REQUEST_TIMEOUT * 3,
                            },
                            now,
                        )
                        .expect("commit in the revocation callback is accepted");
                }
                node.member.revocation_done(now);
            }
            GroupEvent::Assigned { .. } => node.member.assignment_done(now),
            _ => {}
        }
    }

    /// Processes everything that happens at the current instant.
    pub(super) fn settle(&mut self) {
        let now = self.now;
        for n in self.nodes.iter_mut().filter(|n| n.alive && n.polling) {
            n.member.poll_called(now);
        }
        for _ in 0..100_000 {
            let mut progress = false;
            for i in 0..self.nodes.len() {
                if !self.nodes[i].alive {
                    continue;
                }
                while let Some(t) = self.nodes[i].member.poll_transmit() {
                    progress = true;
                    self.route(i, t);
                }
                while let Some(e) = self.nodes[i].member.poll_event() {
                    progress = true;
                    self.nodes[i].events.push((now, e.clone()));
                    self.app(i, &e);
                }
            }
            while let Some((i, id, resp)) = self.ready.pop_front() {
                progress = true;
                if self.nodes[i].alive {
                    self.nodes[i].member.handle_response(now, id, resp);
                }
                self.check_invariants();
            }
            self.check_invariants();
            if !progress {
                return;
            }
        }
        let tail: Vec<String> = self
            .nodes
            .iter()
            .flat_map(|n| n.sent.iter().rev().take(6).map(|(_, r)| format!("{r:?}")))
            .collect();
        panic!(
            "no quiescence at {:?}: {}\n{tail:#?}",
            self.elapsed(),
            self.describe()
        );
    }

    pub(super) fn check_invariants(&self) {
        // Invariant 7 at the members: live members' assignments are disjoint at all times.
        if !self.check_ownership {
            return;
        }
        let mut seen: BTreeMap<TopicPartition, usize> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate().filter(|(_, n)| n.alive) {
            for p in n.member.assignment() {
                if let Some(j) = seen.insert(p.clone(), i) {
                    panic!("at {:?}: {p} owned by nodes {j} and {i}", self.elapsed());
                }
            }
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let members = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.member.poll_timeout());
        members
            .chain(self.coord.next_deadline())
            .chain(self.scheduled.iter().map(|s| s.0))
            .filter(|t| *t > self.now)
            .min()
    }

    /// Runs the simulation for `d` of simulated time.
    pub(super) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.settle();
        while let Some(next) = self.next_time() {
            if next > end {
                break;
            }
            self.advance_to(next);
        }
        if end > self.now {
            self.advance_to(end);
        }
    }

    fn advance_to(&mut self, t: Instant) {
        self.now = t;
        let now = self.now;
        for n in self.nodes.iter_mut().filter(|n| n.alive) {
            n.member.handle_timeout(now);
        }
        self.settle();
        let due: Vec<_> = {
            let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.scheduled)
                .into_iter()
                .partition(|s| s.0 <= now);
            self.scheduled = keep;
            due
        };
        for (_, i, id, r) in due {
            self.ready.push_back((i, id, r));
        }
        let replies = self.coord.tick(now);
        self.ready.extend(replies);
        self.settle();
    }

    /// Whether the group is stable with every partition assigned exactly once (invariant 13).
    pub(super) fn stable(&self) -> bool {
        let live: Vec<&Node> = self.nodes.iter().filter(|n| n.alive).collect();
        if live.is_empty() {
            return true;
        }
        if self.coord.state != GState::Stable {
            return false;
        }
        if !live.iter().all(|n| {
            n.member.state() == MemberState::Stable && n.member.generation() == self.coord.generation
        }) {
            return false;
        }
        let mut all: Vec<TopicPartition> = live.iter().flat_map(|n| n.member.assignment()).collect();
        all.sort();
        let expected: Vec<TopicPartition> = self
            .topics
            .iter()
            .flat_map(|(t, &n)| (0..n).map(move |p| TopicPartition::new(t.clone(), p)))
            .collect();
        all == expected
    }

    /// Runs until [`stable`](Self::stable) (checked after each timer), panicking after `max`.
    pub(super) fn run_until_stable(&mut self, max: Duration) {
        let end = self.now + max;
        self.settle();
        while !self.stable() {
            let next = self.next_time().unwrap_or(self.now + Duration::from_millis(100));
            assert!(
                next <= end,
                "not stable after {max:?} (at {:?}): {}",
                self.elapsed(),
                self.describe()
            );
            self.advance_to(next);
        }
    }

    pub(super) fn describe(&self) -> String {
        let mut s = format!(
            "coordinator {:?} gen {} members {:?}\n",
            self.coord.state,
            self.coord.generation,
            self.coord.members.keys().collect::<Vec<_>>()
        );
        for (i, n) in self.nodes.iter().enumerate() {
            s += &format!(
                "node {i} alive={} state={:?} gen={} id={} owned={:?}\n",
                n.alive,
                n.member.state(),
                n.member.generation(),
                n.member.member_id(),
                n.member
                    .assignment()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
            );
        }
        s
    }

    pub(super) fn count_sent(&self, i: usize, api: &str) -> usize {
        self.nodes[i]
            .sent
            .iter()
            .filter(|(_, r)| r.api_name() == api)
            .count()
    }

    pub(super) fn events(&self, i: usize) -> Vec<GroupEvent> {
        self.nodes[i].events.iter().map(|(_, e)| e.clone()).collect()
    }
}
