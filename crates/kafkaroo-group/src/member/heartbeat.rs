//! Heartbeats: when they are due (with the fast schedule after a cooperative SyncGroup) and what their
//! answers mean for the session.

use std::time::{Duration, Instant};

use tracing::{debug, trace, warn};

use super::coordinator::coordinator_moved;
use super::rebalance::RebalanceCause;
use super::timers::Timer;
use super::{GroupError, GroupMember, InFlight, Phase, Request, Response, Target, Transmit, codes};

use crate::sans_io::heartbeat_interval;

impl GroupMember {
    pub(super) fn heartbeat_eligible(&self) -> bool {
        self.is_member()
            && self.coordinator.is_some()
            && matches!(self.phase, Phase::Stable | Phase::Joining | Phase::Leaving)
            && !self.join_or_sync_in_flight()
            && !(self.phase == Phase::Leaving && self.leave_outbox.is_none() && self.revoking.is_none())
    }

    /// `heartbeat.interval.ms`, or [`FAST_HEARTBEAT`](crate::sans_io::FAST_HEARTBEAT) right after a cooperative SyncGroup.
    pub(super) fn heartbeat_interval_now(&self) -> Duration {
        heartbeat_interval(
            self.config.heartbeat_interval,
            self.timers.get(Timer::FastHeartbeats),
            self.now,
        )
    }

    pub(super) fn heartbeat_transmit(&mut self, node: i32) -> Transmit {
        trace!(
            messaging.consumer.group.name = %self.config.group_id,
            generation_id = self.generation,
            member_id = %self.member_id,
            "group.heartbeat"
        );
        let request = Request::Heartbeat {
            group_id: self.config.group_id.clone(),
            generation_id: self.generation,
            member_id: self.member_id.clone(),
            group_instance_id: self.config.group_instance_id.clone(),
        };
        let pending = InFlight::Heartbeat {
            sent_at: self.now,
            generation: self.generation,
            member_id: self.member_id.clone(),
        };
        self.send(
            Target::Coordinator(node),
            pending,
            request,
            self.config.request_timeout,
        )
    }

    /// A request sent at `sent_at` proved the session alive: it expires `session.timeout.ms` after that
    /// send time at the earliest (conservative: the broker saw the request later).
    pub(super) fn extend_session(&mut self, sent_at: Instant) {
        let expiry = sent_at + self.config.session_timeout;
        let expiry = expiry.max(self.timers.get(Timer::Session).unwrap_or(expiry));
        self.timers.set(Timer::Session, expiry);
    }

    pub(super) fn on_heartbeat(
        &mut self,
        response: Response,
        sent_at: Instant,
        generation: i32,
        member_id: &str,
    ) {
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
        let next = |s: &Self| (sent_at + s.heartbeat_interval_now()).max(s.now);
        match error_code {
            codes::NONE => {
                self.find_attempts = 0;
                if unchanged {
                    self.extend_session(sent_at);
                    self.last_heartbeat = Some(self.now);
                }
                self.timers.set(Timer::Heartbeat, next(self));
            }
            codes::REBALANCE_IN_PROGRESS => {
                if unchanged {
                    self.extend_session(sent_at);
                }
                self.timers.set(Timer::Heartbeat, next(self));
                if self.phase == Phase::Stable {
                    debug!("heartbeat: rebalance in progress; rejoining");
                    self.request_rejoin(
                        RebalanceCause::CoordinatorRequested,
                        "the coordinator started a rebalance",
                    );
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
            code if coordinator_moved(code) => {
                self.coordinator_moved("Heartbeat", code);
            }
            codes::COORDINATOR_LOAD_IN_PROGRESS => {
                let b = self.backoff(0);
                self.timers.set(Timer::Heartbeat, self.now + b);
            }
            code if self.common_fatal(code, "Heartbeat") => {}
            code => {
                warn!(code, "unexpected heartbeat error");
                self.timers.set(Timer::Heartbeat, next(self));
            }
        }
    }
}
