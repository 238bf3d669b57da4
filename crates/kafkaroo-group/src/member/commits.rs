//! Offset commits: the queue (one OffsetCommit in flight, in call order), what is dropped at send time,
//! retries of sync commits until their deadline, and the answers.

use std::collections::BTreeMap;
use std::time::Instant;

use tracing::{debug, warn};

use super::coordinator::coordinator_moved;
use super::rebalance::RebalanceCause;
use super::timers::Timer;
use super::{
    CommitId, CommitKind, CommitOutcome, CommitParams, GroupError, GroupEvent, GroupMember, InFlight,
    OffsetToCommit, Phase, Request, RequestId, Response, Target, Transmit, codes,
};
use crate::protocol::TopicPartition;

#[derive(Debug, Clone)]
pub(super) struct QueuedCommit {
    pub(super) id: CommitId,
    pub(super) offsets: Vec<OffsetToCommit>,
    pub(super) kind: CommitKind,
    pub(super) attempts: u32,
    pub(super) last_error: Option<GroupError>,
    /// Already reported (failed because membership was lost while in flight).
    pub(super) reported: bool,
    /// Partitions dropped at send time because they were no longer owned; reported with the result.
    pub(super) dropped: Vec<TopicPartition>,
}

impl GroupMember {
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

    pub(super) fn can_send_commit(&self) -> bool {
        self.is_member()
            && !self.join_or_sync_in_flight()
            && matches!(self.phase, Phase::Stable | Phase::Joining | Phase::Leaving)
    }

    pub(super) fn commit_transmit(&mut self, node: i32) -> Option<Transmit> {
        while self.commit_in_flight.is_none() && self.timers.ready(Timer::CommitRetry, self.now) {
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
            let request = Request::OffsetCommit(CommitParams {
                group_id: self.config.group_id.clone(),
                generation_id: self.generation,
                member_id: self.member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
                offsets: commit.offsets.clone(),
            });
            let pending = InFlight::OffsetCommit {
                generation: self.generation,
                member_id: self.member_id.clone(),
            };
            let transmit = self.send(
                Target::Coordinator(node),
                pending,
                request,
                self.config.request_timeout,
            );
            self.commit_in_flight = Some((transmit.id, commit));
            self.timers.stop(Timer::CommitRetry);
            return Some(transmit);
        }
        None
    }

    pub(super) fn on_offset_commit(
        &mut self,
        id: RequestId,
        response: Response,
        generation: i32,
        member_id: &str,
    ) {
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
            code if coordinator_moved(code) => {
                self.coordinator_moved("OffsetCommit", code);
                Some(if code == codes::REQUEST_TIMED_OUT {
                    GroupError::RequestTimedOut
                } else {
                    GroupError::CoordinatorMoved { code }
                })
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
                    self.request_rejoin(
                        RebalanceCause::CoordinatorRequested,
                        "OffsetCommit: rebalance in progress",
                    );
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
    pub(super) fn retry_or_fail_commit(&mut self, mut commit: QueuedCommit, error: GroupError) {
        if commit.reported {
            return;
        }
        match commit.kind {
            CommitKind::Sync { deadline } if self.now < deadline => {
                debug!(error = %error, attempts = commit.attempts, "retrying sync commit");
                commit.attempts += 1;
                commit.last_error = Some(error);
                let b = self.backoff(commit.attempts - 1);
                self.timers.set(Timer::CommitRetry, self.now + b);
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

    pub(super) fn fail_commit(&mut self, c: QueuedCommit, error: GroupError) {
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

    pub(super) fn dropped_failures(c: &QueuedCommit) -> Vec<(TopicPartition, GroupError)> {
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

    pub(super) fn fail_all_commits(&mut self, error: &GroupError) {
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

    /// Sets [`Timer::CommitDeadline`] to the earliest deadline of a queued sync commit (later than
    /// `after`, if given), or stops it.
    pub(super) fn arm_commit_deadline(&mut self, after: Option<Instant>) {
        let earliest = self
            .commits
            .iter()
            .filter_map(|c| match c.kind {
                CommitKind::Sync { deadline } => Some(deadline),
                CommitKind::Async => None,
            })
            .filter(|&deadline| after.is_none_or(|after| deadline > after))
            .min();
        self.timers.set_or_stop(Timer::CommitDeadline, earliest);
    }

    /// Fails the sync commits waiting in the queue past their deadline.
    pub(super) fn expire_sync_commits(&mut self, now: Instant) {
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
    }
}
