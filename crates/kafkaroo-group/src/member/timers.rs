//! Every deadline a [`GroupMember`](super::GroupMember) keeps, in one table (as quinn-proto's
//! `TimerTable`).
//!
//! A timer holds an instant or nothing. Whether a set timer wakes the driver depends on the member's
//! state (a heartbeat is not due while a JoinGroup is in flight, say): `GroupMember::timer_armed`
//! decides, and [`TimerTable::next_timeout`] takes that as a filter. Backoff timers only hold requests
//! back (`poll_transmit` sends them once their time has come); the others make
//! `GroupMember::handle_timeout` act.

use std::time::Instant;

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

/// The member's timers, indexed by [`Timer`].
#[derive(Debug, Clone, Default)]
pub(super) struct TimerTable {
    data: [Option<Instant>; Timer::ALL.len()],
}

impl TimerTable {
    /// Sets `timer` to fire at `time`.
    pub(super) fn set(&mut self, timer: Timer, time: Instant) {
        self.data[timer as usize] = Some(time);
    }

    /// Sets `timer` to `time`, or stops it.
    pub(super) fn set_or_stop(&mut self, timer: Timer, time: Option<Instant>) {
        self.data[timer as usize] = time;
    }

    /// Stops `timer`.
    pub(super) fn stop(&mut self, timer: Timer) {
        self.data[timer as usize] = None;
    }

    /// When `timer` fires, if it is set.
    pub(super) fn get(&self, timer: Timer) -> Option<Instant> {
        self.data[timer as usize]
    }

    /// Whether `timer` is set and its time has come.
    pub(super) fn expired(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// Whether nothing is held back by `timer`: it is not set, or its time has come.
    pub(super) fn ready(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_none_or(|t| t <= now)
    }

    /// The earliest time later than `after` of the set timers `armed` accepts.
    pub(super) fn next_timeout(&self, after: Instant, armed: impl Fn(Timer) -> bool) -> Option<Instant> {
        Timer::ALL
            .into_iter()
            .filter(|&timer| armed(timer))
            .filter_map(|timer| self.get(timer))
            .filter(|&t| t > after)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
