//! ConsumerGroupHeartbeat: when one is due, which fields it carries (all of them when joining or after
//! an error, only the changed ones otherwise, as Java's consumer), and what its answers mean.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafkaroo_wire::ErrorCode;
use tracing::{debug, info, trace, warn};

use super::io::{
    HeartbeatRequest, HeartbeatResponse, Request, Response, TopicIdPartitions, TopicNames, Transmit,
};
use super::timers::Timer;
use super::{ConsumerGroupMember, InFlight, JOIN_EPOCH, Phase};
use crate::member::{GroupError, Target, codes};
use crate::sans_io::heartbeat_interval;

/// The API name in errors and logs.
pub(super) const API: &str = "ConsumerGroupHeartbeat";

/// The optional fields as last sent; `None` means "not sent since the last reset", so the next
/// heartbeat carries the field.
#[derive(Debug, Clone, Default)]
pub(super) struct SentFields {
    rebalance_timeout_ms: Option<i32>,
    topics: Option<BTreeSet<String>>,
    /// The regular expression last sent (`None`: none sent since joining, or cleared).
    regex: Option<String>,
    server_assignor: Option<String>,
    rack_id: Option<String>,
    owned: Option<Vec<TopicIdPartitions>>,
}

fn ms(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

/// `Some(value)` when it differs from what was sent last (then recorded as sent).
fn changed<T: Clone + PartialEq>(sent: &mut Option<T>, value: &T) -> Option<T> {
    if sent.as_ref() == Some(value) {
        None
    } else {
        *sent = Some(value.clone());
        Some(value.clone())
    }
}

impl ConsumerGroupMember {
    /// Whether the member heartbeats in its phase (while a revocation for leaving runs, too).
    pub(super) fn heartbeat_eligible(&self) -> bool {
        self.coordinator.is_some()
            && matches!(self.phase, Phase::Joining | Phase::Member | Phase::PrepareLeaving)
    }

    /// The coordinator's interval, or [`FAST_HEARTBEAT`](crate::sans_io::FAST_HEARTBEAT) for one interval after a new assignment.
    pub(super) fn heartbeat_interval_now(&self) -> Duration {
        heartbeat_interval(
            self.heartbeat_interval,
            self.timers.get(Timer::FastHeartbeats),
            self.now,
        )
    }

    pub(super) fn heartbeat_in_flight(&self) -> bool {
        self.in_flight
            .values()
            .any(|p| matches!(p, InFlight::Heartbeat { .. }))
    }

    /// A heartbeat that does not wait for the interval: the join, and the acknowledgement of a
    /// reconciliation (the owned partitions changed since the last report).
    fn heartbeat_urgent(&self) -> bool {
        self.phase == Phase::Joining
            || (self.phase == Phase::Member
                && self.sent.owned.as_ref() != Some(&self.reconciler.owned_by_id()))
    }

    pub(super) fn heartbeat_due(&self) -> bool {
        self.heartbeat_eligible()
            && !self.heartbeat_in_flight()
            && (self.heartbeat_urgent() || self.timers.ready(Timer::Heartbeat, self.now))
            && self.timers.get(Timer::Heartbeat).is_none_or(|t| {
                // A retry backoff holds even an urgent heartbeat back.
                self.heartbeat_failures == 0 || t <= self.now
            })
    }

    /// The heartbeat for the member's state: every field when joining or after an error (the sent
    /// fields were reset), the changed ones otherwise.
    pub(super) fn heartbeat_request(&mut self) -> HeartbeatRequest {
        if self.member_epoch == JOIN_EPOCH {
            self.sent = SentFields::default();
        }
        let sent = &mut self.sent;
        let rebalance_timeout_ms =
            changed(&mut sent.rebalance_timeout_ms, &ms(self.config.max_poll_interval)).unwrap_or(-1);
        let subscribed_topic_names = match self.phase {
            Phase::PrepareLeaving => None,
            _ => changed(&mut sent.topics, &self.topics).map(|t| t.into_iter().collect()),
        };
        // Sent when it differs from what the coordinator has: when joining only if there is one, and
        // the empty string when it was replaced by topic names.
        let subscribed_topic_regex = match self.phase {
            Phase::PrepareLeaving => None,
            _ if sent.regex == self.regex => None,
            _ => {
                sent.regex.clone_from(&self.regex);
                Some(self.regex.clone().unwrap_or_default())
            }
        };
        let server_assignor = match &self.config.server_assignor {
            Some(a) => changed(&mut sent.server_assignor, a),
            None => None,
        };
        let rack_id = match &self.config.rack_id {
            Some(r) => changed(&mut sent.rack_id, r),
            None => None,
        };
        let topic_partitions = changed(&mut sent.owned, &self.reconciler.owned_by_id());
        HeartbeatRequest {
            group_id: self.config.group_id.clone(),
            member_id: self.member_id.clone(),
            member_epoch: self.member_epoch,
            instance_id: self.config.group_instance_id.clone(),
            rack_id,
            rebalance_timeout_ms,
            subscribed_topic_names,
            subscribed_topic_regex,
            server_assignor,
            topic_partitions,
        }
    }

    pub(super) fn heartbeat_transmit(&mut self, node: i32) -> Transmit {
        let request = self.heartbeat_request();
        trace!(
            messaging.consumer.group.name = %self.config.group_id,
            member_id = %self.member_id,
            member_epoch = self.member_epoch,
            "group.heartbeat"
        );
        self.join_sent = true;
        // The next regular heartbeat counts from this one's send time.
        self.timers
            .set(Timer::Heartbeat, self.now + self.heartbeat_interval_now());
        let pending = InFlight::Heartbeat {
            sent_at: self.now,
            member_epoch: self.member_epoch,
            join: self.join,
        };
        self.send(Target::Coordinator(node), pending, Request::Heartbeat(request))
    }

    pub(super) fn on_heartbeat(
        &mut self,
        response: Response,
        sent_at: Instant,
        member_epoch: i32,
        join: u64,
        topics: &dyn TopicNames,
    ) {
        if join != self.join || !self.heartbeat_eligible() {
            trace!(
                ?response,
                "answer to a heartbeat of an earlier membership ignored"
            );
            return;
        }
        let answer = match response {
            Response::Heartbeat(answer) => answer,
            Response::Failed(failure) => {
                debug!(?failure, "heartbeat failed in transport");
                self.heartbeat_failed();
                self.mark_coordinator_unknown("heartbeat transport failure");
                return;
            }
            other => {
                warn!(?other, "unexpected response to ConsumerGroupHeartbeat");
                self.heartbeat_failed();
                return;
            }
        };
        if answer.error_code == codes::NONE {
            self.on_heartbeat_success(answer, sent_at, topics);
        } else {
            self.on_heartbeat_error(answer, member_epoch);
        }
    }

    fn on_heartbeat_success(&mut self, answer: HeartbeatResponse, sent_at: Instant, topics: &dyn TopicNames) {
        self.heartbeat_failures = 0;
        self.last_heartbeat = Some(self.now);
        if answer.heartbeat_interval_ms > 0 {
            self.heartbeat_interval =
                Duration::from_millis(answer.heartbeat_interval_ms.unsigned_abs().into());
        }
        if answer.assignment.is_some() {
            self.timers
                .set(Timer::FastHeartbeats, self.now + self.heartbeat_interval);
        }
        self.timers
            .set(Timer::Heartbeat, sent_at + self.heartbeat_interval_now());
        if answer.member_epoch < 0 {
            debug!(
                member_epoch = answer.member_epoch,
                "heartbeat answer with a negative epoch ignored"
            );
            return;
        }
        if let Some(id) = answer
            .member_id
            .filter(|id| !id.is_empty() && *id != self.member_id)
        {
            info!(old = %self.member_id, new = %id, "the coordinator assigned another member id");
            self.member_id = id;
        }
        if answer.member_epoch != self.member_epoch {
            debug!(from = self.member_epoch, to = answer.member_epoch, "member epoch");
        }
        self.member_epoch = answer.member_epoch;
        if self.phase == Phase::Joining && answer.member_epoch > JOIN_EPOCH {
            info!(
                messaging.consumer.group.name = %self.config.group_id,
                member_id = %self.member_id,
                member_epoch = self.member_epoch,
                "joined the group"
            );
            self.phase = Phase::Member;
        }
        if self.phase == Phase::PrepareLeaving {
            // As Java: a leaving member takes no new assignment.
            return;
        }
        if let Some(assignment) = answer.assignment {
            self.reconciler.set_target(&assignment);
        }
        self.reconcile(topics);
    }

    /// A failed heartbeat: the next one carries every field, after a backoff.
    fn heartbeat_failed(&mut self) {
        self.sent = SentFields::default();
        self.heartbeat_failures = self.heartbeat_failures.saturating_add(1);
        let b = self.backoff(self.heartbeat_failures);
        self.timers.set(Timer::Heartbeat, self.now + b);
    }

    fn on_heartbeat_error(&mut self, answer: HeartbeatResponse, member_epoch: i32) {
        let code = answer.error_code;
        let message = answer.error_message;
        debug!(code, name = ErrorCode(code).name(), ?message, "heartbeat error");
        self.heartbeat_failed();
        let instance_id = || self.config.group_instance_id.clone().unwrap_or_default();
        let error = match code {
            codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE => {
                // No backoff: the next heartbeat goes out once the coordinator is found again.
                self.heartbeat_failures = 0;
                self.timers.stop(Timer::Heartbeat);
                self.mark_coordinator_unknown("heartbeat: coordinator moved");
                return;
            }
            codes::FENCED_MEMBER_EPOCH => return self.fenced(GroupError::FencedMemberEpoch { member_epoch }),
            codes::UNKNOWN_MEMBER_ID => {
                let member_id = self.member_id.clone();
                return self.fenced(GroupError::UnknownMemberId { member_id });
            }
            codes::UNRELEASED_INSTANCE_ID => GroupError::UnreleasedInstanceId {
                instance_id: instance_id(),
            },
            codes::FENCED_INSTANCE_ID => GroupError::FencedInstanceId {
                instance_id: instance_id(),
            },
            codes::UNSUPPORTED_ASSIGNOR => GroupError::UnsupportedAssignor {
                assignor: self.config.server_assignor.clone(),
            },
            codes::UNSUPPORTED_VERSION => GroupError::ConsumerProtocolUnsupported { message },
            codes::INVALID_REQUEST => GroupError::InvalidRequest { api: API, message },
            codes::INVALID_REGULAR_EXPRESSION => GroupError::InvalidRegularExpression {
                regex: self.regex.clone().unwrap_or_default(),
                message,
            },
            codes::GROUP_MAX_SIZE_REACHED => GroupError::GroupMaxSizeReached,
            codes::GROUP_AUTHORIZATION_FAILED => GroupError::GroupAuthorizationFailed {
                group_id: self.config.group_id.clone(),
            },
            code if ErrorCode(code).is_retriable() => {
                // COORDINATOR_LOAD_IN_PROGRESS and other transient errors: retried after the backoff.
                return;
            }
            // As Java: an error without a rule stops the member rather than loop on it.
            code => GroupError::Unexpected {
                api: API,
                code,
                message,
            },
        };
        self.fatal(error);
    }
}
