//! Every deadline a [`GroupMember`](super::GroupMember) keeps, in one table (as quinn-proto's
//! `TimerTable`).
//!
//! A timer holds an instant or nothing. Whether a set timer wakes the driver depends on the member's
//! state (a heartbeat is not due while a JoinGroup is in flight, say): `GroupMember::timer_armed`
//! decides, and [`TimerTable::next_timeout`] takes that as a filter. Backoff timers only hold requests
//! back (`poll_transmit` sends them once their time has come); the others make
//! `GroupMember::handle_timeout` act.

use crate::sans_io::TimerKind;

/// One deadline of the member. The order is the order in which
/// [`handle_timeout`](super::GroupMember::handle_timeout) handles the timers that fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Local session expiry: `session.timeout.ms` after the send time of the last request whose success
    /// proved the session alive.
    Session,
    /// `max.poll.interval.ms` after the application's last poll.
    MaxPoll,
    /// The earliest deadline of a queued sync commit (see `GroupMember::arm_commit_deadline`).
    CommitDeadline,
    /// When the next Heartbeat is due.
    Heartbeat,
    /// Heartbeats go out every `FAST_HEARTBEAT` until then (one `heartbeat.interval.ms` after a
    /// cooperative SyncGroup). Never wakes the driver: it only shortens the heartbeat interval.
    FastHeartbeats,
    /// Backoff before the next FindCoordinator.
    CoordinatorLookup,
    /// Backoff before the next JoinGroup.
    Rejoin,
    /// Backoff before a sync commit is sent again.
    CommitRetry,
    /// Backoff before the next OffsetFetch.
    OffsetFetchRetry,
}

impl Timer {
    /// Every timer, in [`Timer`]'s order.
    pub(super) const ALL: [Self; 9] = [
        Self::Session,
        Self::MaxPoll,
        Self::CommitDeadline,
        Self::Heartbeat,
        Self::FastHeartbeats,
        Self::CoordinatorLookup,
        Self::Rejoin,
        Self::CommitRetry,
        Self::OffsetFetchRetry,
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn next_timeout_is_the_earliest_armed_later_timer() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut table = TimerTable::default();
        assert_eq!(table.next_timeout(start, |_| true), None);
        table.set(Timer::Heartbeat, at(30));
        table.set(Timer::Session, at(20));
        table.set(Timer::Rejoin, at(5));
        assert_eq!(table.next_timeout(start, |_| true), Some(at(5)));
        assert_eq!(table.next_timeout(at(5), |_| true), Some(at(20)));
        assert_eq!(table.next_timeout(start, |t| t == Timer::Heartbeat), Some(at(30)));
        table.stop(Timer::Rejoin);
        assert!(table.ready(Timer::Rejoin, start));
        assert!(!table.ready(Timer::Session, at(19)));
        assert!(table.expired(Timer::Session, at(20)));
        assert!(!table.expired(Timer::Rejoin, at(99)));
        assert_eq!(table.next_timeout(start, |_| true), Some(at(20)));
    }
}
