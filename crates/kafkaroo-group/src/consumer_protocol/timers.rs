//! Every deadline a [`ConsumerGroupMember`](super::ConsumerGroupMember) keeps, in one table indexed by
//! [`Timer`] (the table is shared with the classic member, `sans_io.rs`, and tested there).

use crate::sans_io::TimerKind;

/// One deadline of the member, in the order `handle_timeout` handles them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// `max.poll.interval.ms` after the application's last poll.
    MaxPoll,
    /// When the next heartbeat is due: the interval the coordinator gave, or a retry backoff.
    Heartbeat,
    /// Backoff before the next FindCoordinator.
    CoordinatorLookup,
    /// Heartbeats go out every `FAST_HEARTBEAT` until then: one interval after an answer brought a new
    /// assignment, so partitions that other members release reach this one at once.
    FastHeartbeats,
}

impl Timer {
    /// Every timer, in [`Timer`]'s order.
    pub(super) const ALL: [Self; 4] = [
        Self::MaxPoll,
        Self::Heartbeat,
        Self::CoordinatorLookup,
        Self::FastHeartbeats,
    ];
}

impl TimerKind for Timer {
    const ALL: &'static [Self] = &Self::ALL;

    fn index(self) -> usize {
        self as usize
    }
}

/// The member's timers, indexed by [`Timer`].
pub(super) type TimerTable = crate::sans_io::TimerTable<Timer>;
