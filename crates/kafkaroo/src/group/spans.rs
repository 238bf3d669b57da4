//! The member's tracing spans, with OpenTelemetry messaging attributes (listed in the crate docs,
//! lib.rs, "Tracing").
//!
//! A `kafka.consumer.rebalance` span (INFO) lasts from the moment the member leaves a stable
//! generation (or starts joining) until it is stable again, lost, fatal or gone; its child spans are
//! the phases the member passed through (`find_coordinator`, `join`, `sync`, `revoke`), and the
//! coordinator requests sent in a phase are children of it. A commit is a `kafka.consumer.commit` span
//! (INFO); every other coordinator request a `kafka.group.request` span (DEBUG). Both protocols report
//! the same states, so KIP-848 members get the same spans.

use std::time::{Duration, Instant};

use kafkaroo_group::member::MemberState;
use tracing::field::Empty;
use tracing::{Span, debug_span, info_span};

/// The open rebalance span and its current phase.
pub(crate) struct MemberSpans {
    group: String,
    /// The open rebalance span and when it opened.
    rebalance: Option<(Span, Instant)>,
    phase: Option<Span>,
}

impl MemberSpans {
    pub(crate) fn new(group: &str) -> Self {
        Self {
            group: group.to_owned(),
            rebalance: None,
            phase: None,
        }
    }

    /// Follows the member into `to`; `generation` is the generation (or member epoch) it is in now.
    /// Returns how long the rebalance took when `to` completes one (the member is stable again).
    pub(crate) fn state_changed(
        &mut self,
        to: MemberState,
        generation: i32,
        now: Instant,
    ) -> Option<Duration> {
        // Dropping a span closes it (once the requests sent in it finished too).
        self.phase = None;
        let outcome = match to {
            MemberState::FindingCoordinator
            | MemberState::Joining
            | MemberState::Syncing
            | MemberState::Revoking => {
                let group = &self.group;
                let (rebalance, _) = self.rebalance.get_or_insert_with(|| {
                    let span = info_span!(
                        parent: None,
                        "kafka.consumer.rebalance",
                        messaging.system = "kafka",
                        messaging.operation.name = "rebalance",
                        messaging.consumer.group.name = %group,
                        kafka.generation = Empty,
                        outcome = Empty,
                    );
                    (span, now)
                });
                self.phase = Some(match to {
                    MemberState::FindingCoordinator => info_span!(parent: &*rebalance, "find_coordinator"),
                    MemberState::Joining => info_span!(parent: &*rebalance, "join"),
                    MemberState::Syncing => info_span!(parent: &*rebalance, "sync"),
                    _ => info_span!(parent: &*rebalance, "revoke"),
                });
                return None;
            }
            MemberState::Stable => "stable",
            MemberState::Lost => "lost",
            MemberState::Fatal => "fatal",
            MemberState::Leaving | MemberState::Unjoined => "left",
        };
        let (rebalance, started) = self.rebalance.take()?;
        rebalance.record("kafka.generation", generation);
        rebalance.record("outcome", outcome);
        (to == MemberState::Stable).then(|| now.saturating_duration_since(started))
    }

    /// When the rebalance under way started (this member learned of it), if one is.
    pub(crate) fn rebalance_started(&self) -> Option<Instant> {
        self.rebalance.as_ref().map(|(_, started)| *started)
    }

    /// The span a coordinator request runs in: a commit of `partitions` partitions, or another API,
    /// under the current phase when a rebalance is under way.
    pub(crate) fn request(&self, api: &'static str, partitions: usize) -> Span {
        let parent = self
            .phase
            .as_ref()
            .or_else(|| self.rebalance.as_ref().map(|(span, _)| span))
            .and_then(Span::id);
        if api == "OffsetCommit" {
            info_span!(
                parent: parent,
                "kafka.consumer.commit",
                messaging.system = "kafka",
                messaging.operation.name = "commit",
                messaging.consumer.group.name = %self.group,
                kafka.partitions = partitions,
            )
        } else {
            debug_span!(
                parent: parent,
                "kafka.group.request",
                messaging.system = "kafka",
                messaging.consumer.group.name = %self.group,
                api,
            )
        }
    }
}
