//! `group.protocol=consumer`: the KIP-848 [`ConsumerGroupMember`] behind the driver's
//! [`Membership`] trait. The member does membership only (docs/kip-848.md); this wrapper adds what
//! the classic member does by itself: commits (OffsetCommit with the member epoch and member id,
//! in the order they were started) and the committed offsets of newly assigned partitions
//! (OffsetFetch, reported as [`GroupEvent::OffsetsFetched`]). It also keeps the topic names by id
//! the assignments need.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use kafkaroo_group::consumer_protocol::{self as cp, ConsumerGroupMember};
use kafkaroo_group::member::{
    CloseMode, CommitId, CommitKind, CommitOutcome, CommitParams, CommittedOffset, OffsetToCommit, Request,
    RequestId, Response, Target, Transmit, TransportFailure,
};
use kafkaroo_group::{GroupError, GroupEvent, MemberState, TopicPartition};
use kafkaroo_wire::{ErrorCode, Uuid};
use tracing::debug;

use super::membership::{AnyRequest, AnyResponse, Membership, TopicsInfo};

/// Request ids of this wrapper's own requests start here, far above the member's.
const OWN_IDS: u64 = 1 << 62;

struct QueuedCommit {
    id: CommitId,
    offsets: Vec<OffsetToCommit>,
    kind: CommitKind,
    last_error: Option<GroupError>,
}

enum Own {
    Commit,
    Fetch(Vec<TopicPartition>),
}

pub(crate) struct Kip848 {
    member: ConsumerGroupMember,
    names: BTreeMap<Uuid, String>,
    group_id: String,
    instance_id: Option<String>,
    server_assignor: Option<String>,
    request_timeout: Duration,
    retry_backoff: Duration,
    next_id: u64,
    next_commit: u64,
    /// Started commits, oldest first; only the oldest is in flight, so they land in order.
    commits: VecDeque<QueuedCommit>,
    commit_in_flight: bool,
    /// STALE_MEMBER_EPOCH: the next commit attempt waits for a heartbeat answer (Java's rule).
    commit_awaits_heartbeat: bool,
    commit_retry_at: Option<Instant>,
    /// Newly assigned partitions whose committed offsets are still to be fetched.
    to_fetch: Vec<TopicPartition>,
    fetch_in_flight: bool,
    fetch_retry_at: Option<Instant>,
    own: BTreeMap<RequestId, Own>,
    events: VecDeque<GroupEvent>,
    now: Instant,
}

impl Kip848 {
    pub(crate) fn new(config: cp::ConsumerMemberConfig, now: Instant) -> Result<Self, GroupError> {
        Ok(Self {
            group_id: config.group_id.clone(),
            instance_id: config.group_instance_id.clone(),
            server_assignor: config.server_assignor.clone(),
            request_timeout: config.request_timeout,
            retry_backoff: config.retry_backoff,
            member: ConsumerGroupMember::new(config, now)?,
            names: BTreeMap::new(),
            next_id: OWN_IDS,
            next_commit: 0,
            commits: VecDeque::new(),
            commit_in_flight: false,
            commit_awaits_heartbeat: false,
            commit_retry_at: None,
            to_fetch: Vec::new(),
            fetch_in_flight: false,
            fetch_retry_at: None,
            own: BTreeMap::new(),
            events: VecDeque::new(),
            now,
        })
    }

    /// The member for `config` (`group.protocol=consumer`), with a fresh member id.
    pub(crate) fn from_config(
        config: &crate::ConsumerConfig,
        group_id: &str,
        now: Instant,
    ) -> Result<Self, GroupError> {
        let mut m = cp::ConsumerMemberConfig::new(group_id);
        m.group_instance_id = config.group_instance_id.clone();
        m.rack_id = config.client_rack.clone();
        m.server_assignor = config.group_remote_assignor.clone();
        m.max_poll_interval = config.max_poll_interval;
        m.request_timeout = config.request_timeout;
        m.retry_backoff = config.retry_backoff;
        m.retry_backoff_max = config.retry_backoff_max;
        m.jitter_seed = fastrand::u64(..);
        Self::new(m, now)
    }

    fn is_member(&self) -> bool {
        self.member.member_epoch() > 0
            && matches!(self.member.state(), MemberState::Stable | MemberState::Revoking)
    }

    fn transmit(&mut self, request: AnyRequest, what: Own) -> Option<Transmit<AnyRequest>> {
        let node = self.member.coordinator()?;
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.own.insert(id, what);
        Some(Transmit {
            id,
            target: Target::Coordinator(node),
            request,
            timeout: self.request_timeout,
        })
    }

    fn next_commit_transmit(&mut self) -> Option<Transmit<AnyRequest>> {
        if self.commit_in_flight
            || self.commit_awaits_heartbeat
            || self.commit_retry_at.is_some_and(|t| t > self.now)
            || !self.is_member()
        {
            return None;
        }
        self.member.coordinator()?;
        let head = self.commits.front_mut()?;
        // Partitions lost meanwhile are not committed: another member may own them now.
        let member = &self.member;
        let (offsets, dropped): (Vec<_>, Vec<_>) = std::mem::take(&mut head.offsets)
            .into_iter()
            .partition(|o| member.owns(&o.partition));
        head.offsets = offsets.clone();
        let id = head.id;
        if !dropped.is_empty() || offsets.is_empty() {
            let failed = dropped
                .into_iter()
                .map(|o| {
                    let partitions = vec![o.partition.clone()];
                    (o.partition, GroupError::NotOwned { partitions })
                })
                .collect::<Vec<_>>();
            if offsets.is_empty() {
                self.commits.pop_front();
                self.events.push_back(GroupEvent::CommitResult(CommitOutcome {
                    id,
                    committed: Vec::new(),
                    failed,
                }));
                return self.next_commit_transmit();
            }
        }
        let request = Request::OffsetCommit(CommitParams {
            group_id: self.group_id.clone(),
            generation_id: self.member.member_epoch(),
            member_id: self.member.member_id().to_owned(),
            group_instance_id: self.instance_id.clone(),
            offsets,
        });
        let t = self.transmit(AnyRequest::Classic(request), Own::Commit)?;
        self.commit_in_flight = true;
        Some(t)
    }

    fn next_fetch_transmit(&mut self) -> Option<Transmit<AnyRequest>> {
        if self.fetch_in_flight
            || self.to_fetch.is_empty()
            || self.fetch_retry_at.is_some_and(|t| t > self.now)
            || !self.is_member()
        {
            return None;
        }
        let partitions = self.to_fetch.clone();
        let request = AnyRequest::MemberOffsetFetch {
            group_id: self.group_id.clone(),
            partitions: partitions.clone(),
            member_id: self.member.member_id().to_owned(),
            member_epoch: self.member.member_epoch(),
        };
        let t = self.transmit(request, Own::Fetch(partitions))?;
        self.fetch_in_flight = true;
        Some(t)
    }

    /// The answer to the oldest commit: done, failed, or retried (sync commits, until their deadline).
    fn on_commit(&mut self, response: Response) {
        self.commit_in_flight = false;
        let moved = matches!(&response, Response::OffsetCommit { partitions } if partitions.iter().any(|(_, c)| {
            *c == ErrorCode::NOT_COORDINATOR.0 || *c == ErrorCode::COORDINATOR_NOT_AVAILABLE.0
        }));
        if moved {
            // Found again before the retry, which then goes to the new coordinator.
            self.member.coordinator_unavailable(self.now);
            self.pull_events();
        }
        let Some(head) = self.commits.front_mut() else {
            return;
        };
        let (committed, failed) = match response {
            Response::OffsetCommit { partitions } => {
                let mut committed = Vec::new();
                let mut failed = Vec::new();
                for o in &head.offsets {
                    match partitions.iter().find(|(tp, _)| *tp == o.partition) {
                        Some((_, 0)) => committed.push(o.partition.clone()),
                        Some((_, code)) => failed.push((o.partition.clone(), *code)),
                        None => failed.push((o.partition.clone(), ErrorCode::UNKNOWN_TOPIC_OR_PARTITION.0)),
                    }
                }
                (committed, failed)
            }
            Response::Failed(f) => {
                let failed = head.offsets.iter().map(|o| (o.partition.clone(), -1)).collect();
                head.last_error = Some(GroupError::Transport(f));
                (Vec::new(), failed)
            }
            other => {
                debug!(?other, "unexpected answer to OffsetCommit");
                let failed = head.offsets.iter().map(|o| (o.partition.clone(), -1)).collect();
                head.last_error = Some(GroupError::Transport(TransportFailure::Disconnected));
                (Vec::new(), failed)
            }
        };
        let stale = failed.iter().any(|(_, c)| *c == ErrorCode::STALE_MEMBER_EPOCH.0);
        let retriable = failed
            .iter()
            .all(|(_, c)| *c == -1 || *c == ErrorCode::STALE_MEMBER_EPOCH.0 || ErrorCode(*c).is_retriable());
        if let Some(&(_, code)) = failed.iter().find(|(_, c)| *c != -1) {
            head.last_error = Some(commit_error(code));
        }
        let retry = match head.kind {
            CommitKind::Sync { deadline } => !failed.is_empty() && retriable && self.now < deadline,
            CommitKind::Async => false,
        };
        if retry {
            // Keep only what is still to commit; what landed stays committed.
            head.offsets.retain(|o| !committed.contains(&o.partition));
            self.commit_awaits_heartbeat = stale;
            self.commit_retry_at = Some(self.now + self.retry_backoff);
            return;
        }
        let Some(head) = self.commits.pop_front() else {
            return;
        };
        let last = head.last_error.clone();
        let failed = failed
            .into_iter()
            .map(|(tp, code)| {
                let e = if code == -1 {
                    last.clone().unwrap_or(GroupError::RequestTimedOut)
                } else {
                    commit_error(code)
                };
                (tp, e)
            })
            .collect();
        self.events.push_back(GroupEvent::CommitResult(CommitOutcome {
            id: head.id,
            committed,
            failed,
        }));
    }

    /// Sync commits past their deadline fail with their last error.
    fn expire_commits(&mut self) {
        if self.commit_in_flight {
            return;
        }
        while let Some(head) = self.commits.front() {
            let CommitKind::Sync { deadline } = head.kind else {
                return;
            };
            if self.now < deadline {
                return;
            }
            let Some(head) = self.commits.pop_front() else {
                return;
            };
            let last = Box::new(head.last_error.unwrap_or(GroupError::RequestTimedOut));
            let failed = head
                .offsets
                .into_iter()
                .map(|o| (o.partition, GroupError::CommitTimedOut { last: last.clone() }))
                .collect();
            self.events.push_back(GroupEvent::CommitResult(CommitOutcome {
                id: head.id,
                committed: Vec::new(),
                failed,
            }));
        }
    }

    fn on_fetch(&mut self, asked: Vec<TopicPartition>, response: Response) {
        self.fetch_in_flight = false;
        let got = match response {
            Response::OffsetFetch {
                error_code: 0,
                partitions,
            } => partitions,
            other => {
                debug!(?other, "OffsetFetch failed; retried");
                self.fetch_retry_at = Some(self.now + self.retry_backoff);
                return;
            }
        };
        let mut offsets = Vec::new();
        for p in got {
            if p.error_code != 0 || !asked.contains(&p.partition) || !self.to_fetch.contains(&p.partition) {
                continue;
            }
            self.to_fetch.retain(|tp| *tp != p.partition);
            if !self.member.owns(&p.partition) {
                continue;
            }
            offsets.push(CommittedOffset {
                partition: p.partition,
                offset: (p.offset >= 0).then_some(p.offset),
                leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                metadata: p.metadata.filter(|m| !m.is_empty()),
            });
        }
        if !self.to_fetch.is_empty() {
            // Left out or refused for now (e.g. UNSTABLE_OFFSET_COMMIT): asked again after a backoff.
            self.fetch_retry_at = Some(self.now + self.retry_backoff);
        }
        if !offsets.is_empty() {
            self.events.push_back(GroupEvent::OffsetsFetched { offsets });
        }
    }

    /// Moves the member's events to ours, noting the partitions whose offsets are to be fetched.
    fn pull_events(&mut self) {
        while let Some(e) = self.member.poll_event() {
            match &e {
                GroupEvent::Assigned { partitions, .. } => {
                    for tp in partitions {
                        if !self.to_fetch.contains(tp) {
                            self.to_fetch.push(tp.clone());
                        }
                    }
                }
                GroupEvent::Revoked { partitions } | GroupEvent::Lost { partitions, .. } => {
                    self.to_fetch.retain(|tp| !partitions.contains(tp));
                }
                GroupEvent::Fatal(err) => {
                    for c in self.commits.drain(..) {
                        let failed = c
                            .offsets
                            .into_iter()
                            .map(|o| (o.partition, err.clone()))
                            .collect();
                        self.events.push_back(GroupEvent::CommitResult(CommitOutcome {
                            id: c.id,
                            committed: Vec::new(),
                            failed,
                        }));
                    }
                }
                _ => {}
            }
            self.events.push_back(e);
        }
    }
}

/// The error of a partition's OffsetCommit error code.
fn commit_error(code: i16) -> GroupError {
    match ErrorCode(code) {
        ErrorCode::COORDINATOR_LOAD_IN_PROGRESS => GroupError::CoordinatorLoadInProgress,
        ErrorCode::COORDINATOR_NOT_AVAILABLE | ErrorCode::NOT_COORDINATOR => {
            GroupError::CoordinatorMoved { code }
        }
        ErrorCode::REQUEST_TIMED_OUT => GroupError::RequestTimedOut,
        ErrorCode::REBALANCE_IN_PROGRESS => GroupError::RebalanceInProgress,
        _ => GroupError::Broker {
            api: "OffsetCommit",
            code,
        },
    }
}

impl Membership for Kip848 {
    fn state(&self) -> MemberState {
        self.member.state()
    }
    fn generation(&self) -> i32 {
        self.member.member_epoch()
    }
    fn member_id(&self) -> &str {
        self.member.member_id()
    }
    fn leader_id(&self) -> &str {
        // The coordinator assigns: no member leads.
        ""
    }
    fn protocol_name(&self) -> Option<&str> {
        self.server_assignor.as_deref()
    }
    fn coordinator(&self) -> Option<i32> {
        self.member.coordinator()
    }
    fn assignment(&self) -> Vec<TopicPartition> {
        self.member.assignment()
    }
    fn owns(&self, partition: &TopicPartition) -> bool {
        self.member.owns(partition)
    }
    fn metadata_topics(&self) -> Vec<String> {
        self.member.subscription()
    }
    fn unresolved_topics(&self) -> Vec<Uuid> {
        self.member.unresolved_topic_ids()
    }
    fn subscription_regex(&self) -> Option<&str> {
        self.member.subscription_regex()
    }
    fn subscribe(&mut self, topics: Vec<String>, now: Instant) -> Result<(), GroupError> {
        self.now = self.now.max(now);
        let r = self.member.subscribe(topics, now);
        self.pull_events();
        r
    }
    fn subscribe_regex(&mut self, regex: &str, now: Instant) -> Result<(), GroupError> {
        self.now = self.now.max(now);
        let r = self.member.subscribe_regex(regex, now);
        self.pull_events();
        r
    }
    fn poll_called(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.member.poll_called(now);
        self.pull_events();
    }
    fn close(&mut self, mode: CloseMode, now: Instant) {
        self.now = self.now.max(now);
        self.member.close(mode, now);
        self.pull_events();
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.member.handle_timeout(now);
        self.expire_commits();
        self.pull_events();
    }
    fn metadata_changed(&mut self, topics: &TopicsInfo, now: Instant) {
        self.now = self.now.max(now);
        self.names
            .extend(topics.names.iter().map(|(id, n)| (*id, n.clone())));
        self.member.topics_updated(now, &self.names);
        self.pull_events();
    }
    fn handle_response(&mut self, now: Instant, id: RequestId, response: AnyResponse) {
        self.now = self.now.max(now);
        if let Some(own) = self.own.remove(&id) {
            let response = match response {
                AnyResponse::Classic(r) => r,
                AnyResponse::Consumer(_) => Response::Failed(TransportFailure::Disconnected),
            };
            match own {
                Own::Commit => self.on_commit(response),
                Own::Fetch(asked) => self.on_fetch(asked, response),
            }
            self.pull_events();
            return;
        }
        let response = match response {
            AnyResponse::Consumer(r) => r,
            AnyResponse::Classic(_) => cp::Response::Failed(TransportFailure::Disconnected),
        };
        if matches!(&response, cp::Response::Heartbeat(h) if h.error_code == 0) {
            self.commit_awaits_heartbeat = false;
        }
        self.member.handle_response(now, id, response, &self.names);
        self.pull_events();
    }
    fn commit(
        &mut self,
        offsets: Vec<OffsetToCommit>,
        kind: CommitKind,
        now: Instant,
    ) -> Result<CommitId, GroupError> {
        self.now = self.now.max(now);
        if let Some(e) = self.member.fatal_error() {
            return Err(e.clone());
        }
        let member = &self.member;
        let not_owned: Vec<TopicPartition> = offsets
            .iter()
            .map(|o| &o.partition)
            .filter(|tp| !member.owns(tp))
            .cloned()
            .collect();
        if !not_owned.is_empty() {
            return Err(GroupError::NotOwned {
                partitions: not_owned,
            });
        } else if !self.is_member() {
            return Err(GroupError::NotMember);
        }
        let mut offsets = offsets;
        offsets.sort_by(|a, b| a.partition.cmp(&b.partition));
        let id = CommitId(self.next_commit);
        self.next_commit += 1;
        // Queued even when empty: its outcome comes in turn, after the commits started before it.
        self.commits.push_back(QueuedCommit {
            id,
            offsets,
            kind,
            last_error: None,
        });
        Ok(id)
    }
    fn revocation_done(&mut self, now: Instant) {
        self.now = self.now.max(now);
        self.member.revocation_done(now, &self.names);
        self.pull_events();
    }
    fn assignment_done(&mut self, _now: Instant) {
        // The acknowledgement is the heartbeat the member sends at once after adding partitions.
    }
    fn poll_transmit(&mut self) -> Option<Transmit<AnyRequest>> {
        if let Some(t) = self.member.poll_transmit() {
            self.pull_events();
            return Some(Transmit {
                id: t.id,
                target: t.target,
                request: AnyRequest::Consumer(t.request),
                timeout: t.timeout,
            });
        }
        self.pull_events();
        if let Some(t) = self.next_commit_transmit() {
            return Some(t);
        }
        self.next_fetch_transmit()
    }
    fn poll_event(&mut self) -> Option<GroupEvent> {
        self.pull_events();
        self.events.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        let own = [
            self.commit_retry_at
                .filter(|t| *t > self.now && !self.commits.is_empty()),
            self.fetch_retry_at
                .filter(|t| *t > self.now && !self.to_fetch.is_empty()),
            // An expired deadline waits for the answer in flight.
            self.commits
                .front()
                .filter(|_| !self.commit_in_flight)
                .and_then(|c| match c.kind {
                    CommitKind::Sync { deadline } => Some(deadline),
                    CommitKind::Async => None,
                }),
        ];
        own.into_iter().flatten().chain(self.member.poll_timeout()).min()
    }
}
