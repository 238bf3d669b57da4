//! The membership's life cycle around the join protocol: rejoining (and the eager or cooperative
//! revocation before it), losing the membership (partitions dropped as lost), fatal errors, the local
//! session and `max.poll.interval.ms` expiry, and leaving (LeaveGroup).

use std::collections::BTreeSet;
use std::time::Instant;

use tracing::{debug, info, warn};

use super::rebalance::RebalanceCause;
use super::timers::Timer;
use super::{
    GroupError, GroupEvent, GroupMember, InFlight, Phase, Request, Response, Target, Transmit, codes,
};
use crate::protocol::{DEFAULT_GENERATION, TopicPartition};

#[derive(Debug, Clone)]
pub(super) struct LeavePlan {
    pub(super) send: bool,
    pub(super) closing: bool,
}

#[derive(Debug, Clone)]
pub(super) struct QueuedLeave {
    pub(super) member_id: String,
    pub(super) reason: String,
    pub(super) closing: bool,
}

impl GroupMember {
    pub(super) fn request_rejoin(&mut self, cause: RebalanceCause, reason: &str) {
        match self.phase {
            Phase::Stable => self.start_rejoin(cause, reason),
            Phase::Joining if self.rejoin_reason.is_none() => {
                self.rejoin_reason = Some(reason.to_owned());
            }
            // Rejoin right after the SyncGroup completes.
            Phase::Syncing => self.rejoin_reason = Some(reason.to_owned()),
            _ => {}
        }
    }

    pub(super) fn start_rejoin(&mut self, cause: RebalanceCause, reason: &str) {
        self.causes.note(cause);
        debug!(
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
            reason,
            "rejoining"
        );
        self.phase = Phase::Joining;
        self.rejoin_reason = Some(reason.to_owned());
        self.timers.stop(Timer::Rejoin);
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
    pub(super) fn membership_lost(&mut self, reason: GroupError, reset_member_id: bool) {
        warn!(
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
            error = %reason,
            "membership lost"
        );
        self.drop_owned_as_lost(&reason);
        self.assigning = false;
        self.generation = DEFAULT_GENERATION;
        self.owned_generation = DEFAULT_GENERATION;
        self.previous_assignment = (Vec::new(), DEFAULT_GENERATION);
        self.assigned_with = None;
        self.timers.stop(Timer::Session);
        self.timers.stop(Timer::Heartbeat);
        if reset_member_id {
            self.member_id.clear();
        }
        self.in_flight.retain(|_, p| {
            !matches!(
                p,
                InFlight::JoinGroup
                    | InFlight::SyncGroup { .. }
                    | InFlight::Heartbeat { .. }
                    | InFlight::OffsetFetch
            )
        });
        self.fail_all_commits(&reason);
    }

    /// Drops every owned partition as lost ([`GroupEvent::Lost`] when there are any: never commit them),
    /// forgets the revocation in progress and the offsets still to fetch.
    pub(super) fn drop_owned_as_lost(&mut self, reason: &GroupError) {
        if !self.owned.is_empty() {
            let partitions = std::mem::take(&mut self.owned).into_iter().collect();
            self.emit(GroupEvent::Lost {
                partitions,
                reason: reason.clone(),
            });
        }
        self.revoking = None;
        self.offsets_to_fetch.clear();
    }

    pub(super) fn lose_and_rejoin(&mut self, reason: GroupError, reset_member_id: bool) {
        let text = reason.to_string();
        let cause = RebalanceCause::of_lost_membership(&reason);
        self.membership_lost(reason, reset_member_id);
        if self.phase == Phase::Leaving {
            // Nothing left to leave.
            self.leave_outbox = None;
            self.finish_leave();
            return;
        }
        if matches!(self.phase, Phase::Joining | Phase::Syncing | Phase::Stable) {
            self.causes.note(cause);
            self.phase = Phase::Joining;
            self.rejoin_reason = Some(text);
            self.timers.stop(Timer::Rejoin);
        }
    }

    /// The local session timer fired.
    pub(super) fn session_timer_fired(&mut self, now: Instant) {
        if self.is_member()
            && !self.join_in_flight()
            && matches!(
                self.phase,
                Phase::Joining | Phase::Syncing | Phase::Stable | Phase::Leaving
            )
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
        if self.join_in_flight() && !self.owned.is_empty() && self.timers.expired(Timer::Session, now) {
            warn!(
                messaging.consumer.group.name = %self.config.group_id,
                generation_id = self.generation,
                member_id = %self.member_id,
                "JoinGroup pending past session.timeout.ms; dropping owned partitions as lost"
            );
            self.drop_owned_as_lost(&GroupError::SessionExpired);
            self.fail_all_commits(&GroupError::SessionExpired);
        }
    }

    pub(super) fn poll_expired(&mut self) {
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
            self.leave_outbox = Some(QueuedLeave {
                member_id,
                reason: "consumer poll timeout has expired (max.poll.interval.ms)".into(),
                closing: false,
            });
        }
        self.phase = Phase::PollExpired;
    }

    pub(super) fn fatal(&mut self, error: GroupError) {
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
        self.drop_owned_as_lost(&error);
        self.assigning = false;
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

    /// Errors every coordinator API treats the same way. Returns true if handled.
    pub(super) fn common_fatal(&mut self, code: i16, api: &'static str) -> bool {
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

    pub(super) fn begin_leave(&mut self, send: bool, closing: bool) {
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
            .retain(|_, p| !matches!(p, InFlight::JoinGroup | InFlight::SyncGroup { .. }));
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

    pub(super) fn proceed_leave(&mut self) {
        let Some(plan) = self.leave_plan.clone() else {
            return;
        };
        if plan.send && !self.member_id.is_empty() {
            self.leave_outbox = Some(QueuedLeave {
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

    pub(super) fn finish_leave(&mut self) {
        let closing = self.leave_plan.take().is_some_and(|p| p.closing);
        // Partitions still owned were not revoked through the callback (membership was lost meanwhile).
        self.drop_owned_as_lost(&GroupError::Closed);
        self.assigning = false;
        self.generation = DEFAULT_GENERATION;
        self.owned_generation = DEFAULT_GENERATION;
        self.member_id.clear();
        self.assigned_with = None;
        self.timers.stop(Timer::Session);
        self.timers.stop(Timer::Heartbeat);
        self.in_flight
            .retain(|_, p| matches!(p, InFlight::OffsetCommit { .. } | InFlight::LeaveGroup { .. }));
        self.fail_all_commits(&GroupError::NotMember);
        self.phase = if closing { Phase::Closed } else { Phase::Unjoined };
        self.emit(GroupEvent::Closed);
    }

    pub(super) fn leave_transmit(&mut self, node: i32, leave: QueuedLeave) -> Transmit {
        info!(
            messaging.consumer.group.name = %self.config.group_id,
            member_id = %leave.member_id,
            reason = %leave.reason,
            "leaving the group"
        );
        let request = Request::LeaveGroup {
            group_id: self.config.group_id.clone(),
            member_id: leave.member_id,
            group_instance_id: self.config.group_instance_id.clone(),
            reason: leave.reason,
        };
        let pending = InFlight::LeaveGroup {
            closing: leave.closing,
        };
        self.send(
            Target::Coordinator(node),
            pending,
            request,
            self.config.request_timeout,
        )
    }

    pub(super) fn on_leave(&mut self, response: Response, closing: bool) {
        match response {
            Response::LeaveGroup { error_code: 0 } => debug!("left the group"),
            other => debug!(?other, "LeaveGroup failed (best effort)"),
        }
        if closing && self.phase == Phase::Leaving {
            self.finish_leave();
        }
    }
}
