//! Why a rebalance started, as far as the member can know: both membership state machines (classic
//! and KIP-848) note the cause where they decide to (re)join, and report it on the
//! [`GroupEvent::StateChanged`](crate::GroupEvent::StateChanged) events of that rebalance.

use super::{GroupError, MemberState};

/// What started a rebalance, in the vocabulary of the Java client's and librdkafka's rejoin reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RebalanceCause {
    /// The member joins: the first `subscribe`, or a subscription after leaving.
    Joining,
    /// The application changed the subscription of a member in the group (classic protocol; with
    /// KIP-848 the coordinator answers the new subscription with an assignment instead).
    SubscriptionChanged,
    /// The leader saw the partition counts (or, with `client.rack`, the replica racks) of the group's
    /// topics change since its last assignment.
    MetadataChanged,
    /// The coordinator asked for it: REBALANCE_IN_PROGRESS on a heartbeat or a commit (classic), or a
    /// new target assignment that takes partitions away (KIP-848).
    CoordinatorRequested,
    /// ILLEGAL_GENERATION (classic) or FENCED_MEMBER_EPOCH (KIP-848): the member was fenced and rejoins.
    MemberFenced,
    /// UNKNOWN_MEMBER_ID: the coordinator forgot the member, which rejoins.
    UnknownMember,
    /// No heartbeat was acknowledged within `session.timeout.ms`: the member took its membership as
    /// expired and rejoins.
    SessionTimeout,
    /// The application did not poll within `max.poll.interval.ms`; it polled again and rejoins.
    PollTimeout,
    /// The coordinator moved (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, a lost connection): the
    /// member looks for it before it is stable again.
    CoordinatorChanged,
}

impl RebalanceCause {
    /// The snake_case name (a metric label value).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joining => "joining",
            Self::SubscriptionChanged => "subscription_changed",
            Self::MetadataChanged => "metadata_changed",
            Self::CoordinatorRequested => "coordinator_requested",
            Self::MemberFenced => "member_fenced",
            Self::UnknownMember => "unknown_member",
            Self::SessionTimeout => "session_timeout",
            Self::PollTimeout => "poll_timeout",
            Self::CoordinatorChanged => "coordinator_changed",
        }
    }

    /// The cause of a rejoin after the membership was lost with `error`.
    pub(crate) fn of_lost_membership(error: &GroupError) -> Self {
        match error {
            GroupError::UnknownMemberId { .. } => Self::UnknownMember,
            GroupError::SessionExpired => Self::SessionTimeout,
            GroupError::MaxPollIntervalExceeded => Self::PollTimeout,
            _ => Self::MemberFenced,
        }
    }
}

impl std::fmt::Display for RebalanceCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `state` is a step of a rebalance (the states a `kafka.consumer.rebalance` span covers).
pub(crate) fn is_rebalancing(state: MemberState) -> bool {
    matches!(
        state,
        MemberState::FindingCoordinator | MemberState::Joining | MemberState::Syncing | MemberState::Revoking
    )
}

/// The cause of the rebalance under way: the first cause noted before it started wins until the member
/// is stable (or out of the group) again.
#[derive(Debug, Clone, Default)]
pub(crate) struct CauseTracker {
    /// Noted by the input being handled; taken when the state change it leads to is reported.
    pending: Option<RebalanceCause>,
    /// The rebalance under way.
    current: Option<RebalanceCause>,
}

impl CauseTracker {
    /// The member decided to (re)join for `cause`. Ignored during a rebalance: it continues.
    pub(crate) fn note(&mut self, cause: RebalanceCause) {
        if self.current.is_none() {
            self.pending.get_or_insert(cause);
        }
    }

    /// The cause to report on a change into `to`: the rebalance's cause while `to` is a step of one
    /// (`fallback` when the member noted none), and on the change to `Stable` that completes it.
    pub(crate) fn changed(
        &mut self,
        to: MemberState,
        fallback: impl FnOnce() -> Option<RebalanceCause>,
    ) -> Option<RebalanceCause> {
        if is_rebalancing(to) {
            if self.current.is_none() {
                self.current = self.pending.take().or_else(fallback);
            }
            return self.current;
        }
        self.pending = None;
        let completed = self.current.take();
        (to == MemberState::Stable).then_some(completed).flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cause_wins_until_the_member_is_stable_again() {
        let mut t = CauseTracker::default();
        t.note(RebalanceCause::Joining);
        t.note(RebalanceCause::SubscriptionChanged);
        assert_eq!(
            t.changed(MemberState::Joining, || None),
            Some(RebalanceCause::Joining)
        );
        // Noted during the rebalance: it continues with its cause.
        t.note(RebalanceCause::CoordinatorRequested);
        assert_eq!(
            t.changed(MemberState::Syncing, || None),
            Some(RebalanceCause::Joining)
        );
        assert_eq!(
            t.changed(MemberState::Stable, || None),
            Some(RebalanceCause::Joining)
        );
        // The next one: the fallback when nothing was noted.
        let fallback = || Some(RebalanceCause::CoordinatorChanged);
        assert_eq!(
            t.changed(MemberState::FindingCoordinator, fallback),
            Some(RebalanceCause::CoordinatorChanged)
        );
        // Leaving ends it without completing it.
        assert_eq!(t.changed(MemberState::Leaving, || None), None);
        assert_eq!(t.changed(MemberState::Stable, || None), None);
    }
}
