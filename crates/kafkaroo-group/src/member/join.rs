//! The join protocol proper: JoinGroup (KIP-394 member ids, the leader's assignment, KIP-814
//! `skip_assignment`) and SyncGroup (the assignment received, cooperative revocation, KIP-429's second
//! round).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use super::coordinator::coordinator_moved;
use super::rebalance::RebalanceCause;
use super::timers::Timer;
use super::{
    GroupError, GroupEvent, GroupMember, InFlight, JoinAnswer, JoinParams, Phase, Request, Response,
    SyncParams, Target, Transmit, codes,
};
use crate::assignor::{
    Assignor, PartitionCounts, RebalanceProtocol, ReplicaRacks, UserDataContext, withhold_transfers,
};
use crate::protocol::{
    Assignment, DEFAULT_GENERATION, Subscription, TopicPartition, decode_group_subscriptions,
};

pub(super) const PROTOCOL_TYPE: &str = "consumer";

impl GroupMember {
    pub(super) fn join_transmit(&mut self, node: i32) -> Transmit {
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
        let request = Request::JoinGroup(JoinParams {
            group_id: self.config.group_id.clone(),
            session_timeout_ms: ms(self.config.session_timeout),
            rebalance_timeout_ms: ms(self.config.max_poll_interval),
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: PROTOCOL_TYPE.to_owned(),
            protocols,
            reason,
        });
        // A JoinGroup legitimately blocks for up to the rebalance timeout.
        let timeout = self.config.max_poll_interval + self.config.join_timeout_margin;
        self.send(Target::Coordinator(node), InFlight::JoinGroup, request, timeout)
    }

    pub(super) fn on_join(&mut self, response: Response) {
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
                self.timers.stop(Timer::Rejoin);
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
            code if coordinator_moved(code) => {
                self.coordinator_moved("JoinGroup", code);
            }
            code if self.common_fatal(code, "JoinGroup") => {}
            code => self.fatal(GroupError::Broker {
                api: "JoinGroup",
                code,
            }),
        }
    }

    pub(super) fn join_backoff(&mut self) {
        let b = self.backoff(self.join_attempts);
        self.join_attempts = self.join_attempts.saturating_add(1);
        self.timers.set(Timer::Rejoin, self.now + b);
    }

    pub(super) fn on_join_ok(&mut self, r: JoinAnswer) {
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
        self.timers
            .set(Timer::Session, self.now + self.config.session_timeout);
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
            let racks = self.racks_for(&self.group_topics);
            let used = self.assigned_with_now(&self.group_topics);
            if r.skip_assignment {
                // KIP-814: a static leader rejoining must not compute an assignment, but still watches
                // metadata.
                self.assigned_with = Some(used);
            } else {
                match self.compute_assignments(&*assignor, &members, &counts, &racks) {
                    Ok((a, withheld)) => {
                        self.sync_assignments = a;
                        self.assigned_with = Some(used);
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

    pub(super) fn compute_assignments(
        &self,
        assignor: &dyn Assignor,
        members: &[crate::protocol::MemberSubscription],
        counts: &PartitionCounts,
        racks: &ReplicaRacks,
    ) -> Result<(Vec<(String, Bytes)>, usize), GroupError> {
        let mut assignments = assignor
            .assign_with_racks(members, counts, racks)
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

    pub(super) fn sync_transmit(&mut self, node: i32) -> Transmit {
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
        let request = Request::SyncGroup(SyncParams {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
            protocol_type: PROTOCOL_TYPE.to_owned(),
            protocol_name: self.protocol_name.clone().unwrap_or_default(),
            assignments: self.sync_assignments.clone(),
        });
        let pending = InFlight::SyncGroup { sent_at: self.now };
        self.send(
            Target::Coordinator(node),
            pending,
            request,
            self.config.request_timeout,
        )
    }

    pub(super) fn on_sync(&mut self, response: Response, sent_at: Instant) {
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
                self.timers.stop(Timer::Rejoin);
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
                self.timers.stop(Timer::Rejoin);
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
            code if coordinator_moved(code) => {
                self.coordinator_moved("SyncGroup", code);
                self.phase = Phase::Joining;
                self.timers.stop(Timer::Rejoin);
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
        self.timers
            .set(Timer::Session, sent_at + self.config.session_timeout);
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
            self.timers
                .set(Timer::FastHeartbeats, self.now + self.config.heartbeat_interval);
        }
        self.timers
            .set(Timer::Heartbeat, self.now + self.heartbeat_interval_now());
        let mut pending_reason = self.rejoin_reason.take();
        if self.is_leader()
            && let Some(used) = &self.assigned_with
            && *used != self.assigned_with_now(&self.group_topics)
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
        self.offsets_to_fetch.extend(added.iter().cloned());
        self.offset_fetch_attempts = 0;
        self.timers.stop(Timer::OffsetFetchRetry);
        self.assigning = true;
        self.emit(GroupEvent::Assigned {
            generation: self.generation,
            partitions: added,
        });
        if self.revoking.is_some() {
            // KIP-429 second round: rejoin once the revocation is done.
            self.start_rejoin(
                RebalanceCause::CoordinatorRequested,
                "partitions revoked; rejoining so they can be reassigned",
            );
        } else if let Some(reason) = pending_reason {
            self.start_rejoin(RebalanceCause::CoordinatorRequested, &reason);
        }
    }
}
