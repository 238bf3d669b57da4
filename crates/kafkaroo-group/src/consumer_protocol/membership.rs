//! Joining, leaving (epoch -1 or -2), being fenced (partitions lost, rejoin with epoch 0), fatal
//! errors, and leaving when the application stops polling.

use tracing::{debug, error, info, warn};

use super::heartbeat::API;
use super::io::{HeartbeatRequest, NoTopicNames, Request, Response, Transmit};
use super::timers::Timer;
use super::{ConsumerGroupMember, InFlight, JOIN_EPOCH, LEAVE_EPOCH, Phase, STATIC_LEAVE_EPOCH};
use crate::member::rebalance::RebalanceCause;
use crate::member::{CloseMode, GroupError, GroupEvent, Target};

/// A leave in progress.
#[derive(Debug, Clone, Copy)]
pub(super) struct LeavePlan {
    /// The epoch of the leave heartbeat; `None`: leave without one.
    epoch: Option<i32>,
    /// `close`: the member refuses further use afterwards.
    closing: bool,
    /// Left because of `max.poll.interval.ms`: becomes stale, emits no `Closed`.
    stale: bool,
    /// Subscribed again meanwhile: join once the leave is over.
    pub(super) rejoin: bool,
    sent: bool,
}

impl ConsumerGroupMember {
    /// Starts (or restarts) joining with epoch 0, the same member id and every heartbeat field.
    pub(super) fn start_join(&mut self, cause: RebalanceCause, reason: &str) {
        self.causes.note(cause);
        info!(
            messaging.consumer.group.name = %self.config.group_id,
            member_id = %self.member_id,
            reason,
            "joining the group"
        );
        self.phase = Phase::Joining;
        self.member_epoch = JOIN_EPOCH;
        self.join += 1;
        self.join_sent = false;
        self.heartbeat_failures = 0;
        self.sent = Default::default();
        self.leave = None;
        self.timers.stop(Timer::Heartbeat);
        self.timers
            .set(Timer::MaxPoll, self.now + self.config.max_poll_interval);
    }

    /// FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID: the partitions are lost; rejoin at once.
    pub(super) fn fenced(&mut self, reason: GroupError) {
        warn!(
            messaging.consumer.group.name = %self.config.group_id,
            member_id = %self.member_id,
            member_epoch = self.member_epoch,
            %reason,
            "membership lost"
        );
        let cause = RebalanceCause::of_lost_membership(&reason);
        self.drop_as_lost(reason);
        match self.phase {
            Phase::PrepareLeaving | Phase::Leaving => self.finish_leave(),
            _ => self.start_join(cause, "fenced by the coordinator"),
        }
    }

    /// Everything owned is gone without a revocation (do not commit it).
    fn drop_as_lost(&mut self, reason: GroupError) {
        let partitions = self.reconciler.clear();
        if !partitions.is_empty() {
            self.events.push_back(GroupEvent::Lost { partitions, reason });
        }
    }

    /// A fatal error: the partitions are lost and the member stops.
    pub(super) fn fatal(&mut self, reason: GroupError) {
        error!(
            messaging.consumer.group.name = %self.config.group_id,
            member_id = %self.member_id,
            %reason,
            "fatal group error; the member stopped"
        );
        self.drop_as_lost(reason.clone());
        self.in_flight.clear();
        self.phase = Phase::Fatal;
        self.fatal = Some(reason.clone());
        self.events.push_back(GroupEvent::Fatal(reason));
    }

    /// `max.poll.interval.ms` elapsed: the partitions are lost, the member leaves and stays out until
    /// the application polls again (as Java's consumer).
    pub(super) fn poll_expired(&mut self) {
        warn!(
            messaging.consumer.group.name = %self.config.group_id,
            member_id = %self.member_id,
            "max.poll.interval.ms exceeded; leaving the group until the next poll"
        );
        self.drop_as_lost(GroupError::MaxPollIntervalExceeded);
        let epoch = self.leave_epoch(CloseMode::Default);
        self.leave = Some(LeavePlan {
            epoch: self.join_sent.then_some(epoch).flatten(),
            closing: false,
            stale: true,
            rejoin: false,
            sent: false,
        });
        self.proceed_leave();
    }

    /// The leave heartbeat's epoch for `mode` (`None`: none is sent).
    fn leave_epoch(&self, mode: CloseMode) -> Option<i32> {
        let is_static = self.config.group_instance_id.is_some();
        match mode {
            CloseMode::Default if is_static => Some(STATIC_LEAVE_EPOCH),
            CloseMode::Default | CloseMode::Leave => Some(LEAVE_EPOCH),
            CloseMode::Remain if is_static => Some(STATIC_LEAVE_EPOCH),
            CloseMode::Remain => None,
        }
    }

    pub(super) fn begin_leave(&mut self, mode: CloseMode, closing: bool) {
        if matches!(self.phase, Phase::Fatal | Phase::Closed) {
            return;
        }
        // The subscription stays as it is until the leave heartbeat (as Java's consumer): heartbeats
        // while revoking must not tell the coordinator it changed.
        if let Some(plan) = &mut self.leave {
            // Already leaving (perhaps after max.poll.interval.ms): this leave ends with `Closed`.
            plan.closing |= closing;
            plan.stale = false;
            plan.rejoin = false;
            return;
        }
        let epoch = self.leave_epoch(mode);
        self.leave = Some(LeavePlan {
            // A member whose join never left the client is unknown to the coordinator.
            epoch: epoch.filter(|_| self.join_sent || self.phase == Phase::Member),
            closing,
            stale: false,
            rejoin: false,
            sent: false,
        });
        match self.phase {
            Phase::Unsubscribed | Phase::Stale => self.finish_leave(),
            Phase::Member if !self.reconciler.owned().is_empty() || self.reconciler.is_revoking() => {
                // Revoke everything first (commits in the callback land before the leave).
                self.phase = Phase::PrepareLeaving;
                self.reconciler.set_target(&[]);
                self.reconcile(&NoTopicNames);
            }
            _ => self.proceed_leave(),
        }
    }

    /// Nothing is owned any more: send the leave heartbeat (or finish when there is none to send).
    pub(super) fn proceed_leave(&mut self) {
        self.phase = Phase::Leaving;
        self.in_flight
            .retain(|_, p| matches!(p, InFlight::FindCoordinator | InFlight::Leave));
        let send = self.leave.is_some_and(|p| p.epoch.is_some());
        if !send || self.coordinator.is_none() {
            if send {
                debug!("coordinator unknown; leaving without the leave heartbeat");
            }
            self.finish_leave();
        }
    }

    pub(super) fn leave_transmit(&mut self, node: i32) -> Option<Transmit> {
        if self.phase != Phase::Leaving {
            return None;
        }
        let plan = self.leave.as_mut().filter(|p| !p.sent)?;
        let epoch = plan.epoch?;
        plan.sent = true;
        self.member_epoch = epoch;
        info!(
            messaging.consumer.group.name = %self.config.group_id,
            member_id = %self.member_id,
            member_epoch = epoch,
            "leaving the group"
        );
        let request = HeartbeatRequest {
            group_id: self.config.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: epoch,
            instance_id: self.config.group_instance_id.clone(),
            rack_id: None,
            rebalance_timeout_ms: -1,
            subscribed_topic_names: None,
            subscribed_topic_regex: None,
            server_assignor: None,
            topic_partitions: None,
        };
        Some(self.send(
            Target::Coordinator(node),
            InFlight::Leave,
            Request::Heartbeat(request),
        ))
    }

    /// Any answer ends the leave: it is not retried (as Java's consumer).
    pub(super) fn on_leave_answer(&mut self, response: Response) {
        if let Response::Heartbeat(a) = &response
            && a.error_code != 0
        {
            debug!(
                code = a.error_code,
                api = API,
                "leave heartbeat answered with an error"
            );
        }
        if self.phase == Phase::Leaving {
            self.finish_leave();
        }
    }

    /// The leave is over: `Closed` (unless stale), and a member subscribed again meanwhile rejoins.
    pub(super) fn finish_leave(&mut self) {
        let plan = self.leave.take();
        self.in_flight
            .retain(|_, p| matches!(p, InFlight::FindCoordinator));
        self.reconciler.clear();
        if plan.is_some_and(|p| p.stale) {
            self.phase = Phase::Stale;
            return;
        }
        self.events.push_back(GroupEvent::Closed);
        if plan.is_some_and(|p| p.closing) {
            self.phase = Phase::Closed;
            self.topics.clear();
            self.regex = None;
        } else if plan.is_some_and(|p| p.rejoin) {
            self.start_join(RebalanceCause::Joining, "subscribed again while leaving");
        } else {
            self.phase = Phase::Unsubscribed;
            self.topics.clear();
            self.regex = None;
        }
    }
}
