//! Finding the group coordinator (FindCoordinator) and losing it: "coordinator moved" answers and
//! transport failures send the member looking again, keeping its membership.

use tracing::{debug, trace};

use super::timers::Timer;
use super::{GroupMember, InFlight, Phase, Request, Response, Target, Transmit, codes};

/// Whether an error code means the coordinator moved or cannot answer now: find it again and retry
/// there.
pub(super) fn coordinator_moved(code: i16) -> bool {
    matches!(
        code,
        codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE | codes::REQUEST_TIMED_OUT
    )
}

impl GroupMember {
    pub(super) fn mark_coordinator_unknown(&mut self, why: &str) {
        let Some(node) = self.coordinator.take() else {
            return;
        };
        debug!(
            messaging.consumer.group.name = %self.config.group_id,
            node,
            why,
            "coordinator unknown; rediscovering"
        );
        let retry_at = if self.find_attempts == 0 {
            None
        } else {
            let b = self.backoff(self.find_attempts - 1);
            Some(self.now + b)
        };
        self.timers.set_or_stop(Timer::CoordinatorLookup, retry_at);
        self.find_attempts = self.find_attempts.saturating_add(1);
        let mut abandoned_sync = false;
        self.in_flight.retain(|_, p| match p {
            InFlight::JoinGroup | InFlight::Heartbeat { .. } | InFlight::OffsetFetch => false,
            InFlight::SyncGroup { .. } => {
                abandoned_sync = true;
                false
            }
            _ => true,
        });
        if abandoned_sync && self.phase == Phase::Syncing {
            self.phase = Phase::Joining;
            self.rejoin_reason = Some("coordinator changed during SyncGroup".into());
            self.timers.stop(Timer::Rejoin);
        }
    }

    /// The coordinator answered `api` with an error that [`coordinator_moved`] accepts: look for it
    /// again.
    pub(super) fn coordinator_moved(&mut self, api: &'static str, code: i16) {
        self.mark_coordinator_unknown(&format!("{api}: coordinator moved (error {code})"));
    }

    pub(super) fn find_coordinator_transmit(&mut self) -> Option<Transmit> {
        let needs_coordinator = matches!(
            self.phase,
            Phase::Joining | Phase::Syncing | Phase::Stable | Phase::Leaving
        ) || self.leave_outbox.is_some()
            || !self.commits.is_empty()
            || !self.offsets_to_fetch.is_empty();
        if !needs_coordinator
            || self.has_pending(|p| matches!(p, InFlight::FindCoordinator))
            || !self.timers.ready(Timer::CoordinatorLookup, self.now)
        {
            return None;
        }
        trace!(messaging.consumer.group.name = %self.config.group_id, "FindCoordinator");
        let request = Request::FindCoordinator {
            group_id: self.config.group_id.clone(),
        };
        Some(self.send(
            Target::AnyBroker,
            InFlight::FindCoordinator,
            request,
            self.config.request_timeout,
        ))
    }

    pub(super) fn on_find_coordinator(&mut self, response: Response) {
        match response {
            Response::FindCoordinator {
                error_code: codes::NONE,
                node_id,
            } => {
                debug!(
                    messaging.consumer.group.name = %self.config.group_id,
                    node_id,
                    "coordinator found"
                );
                self.coordinator = Some(node_id);
                self.timers.stop(Timer::CoordinatorLookup);
                // Heartbeats resume at once: the session may be close to expiring.
                if self.is_member() {
                    self.timers.set(Timer::Heartbeat, self.now);
                }
            }
            Response::FindCoordinator { error_code, .. }
                if self.common_fatal(error_code, "FindCoordinator") => {}
            other => {
                debug!(?other, "FindCoordinator failed; retrying");
                let b = self.backoff(self.find_attempts);
                self.find_attempts = self.find_attempts.saturating_add(1);
                self.timers.set(Timer::CoordinatorLookup, self.now + b);
            }
        }
    }
}
