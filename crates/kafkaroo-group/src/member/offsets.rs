//! Committed offsets of newly assigned partitions (OffsetFetch), retried until every partition has an
//! answer.

use tracing::{debug, warn};

use super::coordinator::coordinator_moved;
use super::timers::Timer;
use super::{
    CommittedOffset, GroupError, GroupEvent, GroupMember, InFlight, Request, Response, Target, Transmit,
    codes,
};

impl GroupMember {
    pub(super) fn offset_fetch_transmit(&mut self, node: i32) -> Option<Transmit> {
        if self.offsets_to_fetch.is_empty()
            || self.has_pending(|p| matches!(p, InFlight::OffsetFetch))
            || !self.timers.ready(Timer::OffsetFetchRetry, self.now)
        {
            return None;
        }
        let owned = &self.owned;
        self.offsets_to_fetch.retain(|tp| owned.contains(tp));
        if self.offsets_to_fetch.is_empty() {
            return None;
        }
        let request = Request::OffsetFetch {
            group_id: self.config.group_id.clone(),
            partitions: self.offsets_to_fetch.iter().cloned().collect(),
            require_stable: self.config.require_stable_offsets,
        };
        Some(self.send(
            Target::Coordinator(node),
            InFlight::OffsetFetch,
            request,
            self.config.request_timeout,
        ))
    }

    pub(super) fn on_offset_fetch(&mut self, response: Response) {
        let (error_code, partitions) = match response {
            Response::OffsetFetch {
                error_code,
                partitions,
            } => (error_code, partitions),
            Response::Failed(_) => {
                self.mark_coordinator_unknown("OffsetFetch transport failure");
                return;
            }
            other => {
                warn!(?other, "unexpected response to OffsetFetch");
                self.offset_fetch_backoff();
                return;
            }
        };
        match error_code {
            codes::NONE => {}
            code if coordinator_moved(code) => {
                self.coordinator_moved("OffsetFetch", code);
                return;
            }
            code if self.common_fatal(code, "OffsetFetch") => return,
            code => {
                debug!(code, "OffsetFetch failed; retrying");
                self.offset_fetch_backoff();
                return;
            }
        }
        let mut fetched = Vec::new();
        let mut retry = false;
        for p in partitions {
            if !self.offsets_to_fetch.contains(&p.partition) {
                continue;
            }
            match p.error_code {
                codes::NONE => {
                    self.offsets_to_fetch.remove(&p.partition);
                    if self.owned.contains(&p.partition) {
                        fetched.push(CommittedOffset {
                            offset: (p.offset >= 0).then_some(p.offset),
                            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
                            metadata: p.metadata,
                            partition: p.partition,
                        });
                    }
                }
                codes::TOPIC_AUTHORIZATION_FAILED => {
                    self.fatal(GroupError::TopicAuthorizationFailed {
                        partition: p.partition,
                    });
                    return;
                }
                code => {
                    debug!(partition = %p.partition, code, "OffsetFetch partition error; retrying");
                    retry = true;
                }
            }
        }
        if !self.offsets_to_fetch.is_empty() {
            if !retry {
                // Partitions missing from the answer: never "no committed offset" (scenario 17 in
                // docs/faults-and-invariants.md).
                warn!(
                    missing = self.offsets_to_fetch.len(),
                    "OffsetFetch answer left out partitions; retrying"
                );
            }
            self.offset_fetch_backoff();
        } else {
            self.offset_fetch_attempts = 0;
            self.timers.stop(Timer::OffsetFetchRetry);
        }
        if !fetched.is_empty() {
            self.emit(GroupEvent::OffsetsFetched { offsets: fetched });
        }
    }

    pub(super) fn offset_fetch_backoff(&mut self) {
        let b = self.backoff(self.offset_fetch_attempts);
        self.offset_fetch_attempts = self.offset_fetch_attempts.saturating_add(1);
        self.timers.set(Timer::OffsetFetchRetry, self.now + b);
    }
}
