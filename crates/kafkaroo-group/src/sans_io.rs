//! What both membership state machines (the classic `member` and the KIP-848 `consumer_protocol`)
//! need to stay pure: a timer table indexed by each machine's own timer enum (as quinn-proto's
//! `TimerTable`), and seeded jitter for the shared backoff.

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use kafkaroo_wire::backoff::BackoffConfig;

/// A machine's timer enum: every timer, and its slot in the table.
/// The heartbeat interval for one interval after the assignment changed (a cooperative SyncGroup, or a
/// KIP-848 heartbeat answer with a new assignment): the next step of the rebalance (a second round, or
/// partitions other members are still releasing) reaches the member at once instead of an interval later.
pub(crate) const FAST_HEARTBEAT: Duration = Duration::from_millis(100);

/// The interval to the next heartbeat: `interval`, or [`FAST_HEARTBEAT`] if shorter while `now` is before
/// `fast_until` (the member's `FastHeartbeats` deadline).
pub(crate) fn heartbeat_interval(interval: Duration, fast_until: Option<Instant>, now: Instant) -> Duration {
    match fast_until {
        Some(until) if now < until => interval.min(FAST_HEARTBEAT),
        _ => interval,
    }
}

pub(crate) trait TimerKind: Copy + 'static {
    /// Every timer, in the order `handle_timeout` handles them.
    const ALL: &'static [Self];
    /// The timer's slot, below `ALL.len()`.
    fn index(self) -> usize;
}

/// Every deadline of a machine: each timer holds an instant or nothing.
#[derive(Debug, Clone)]
pub(crate) struct TimerTable<T> {
    data: Vec<Option<Instant>>,
    kind: PhantomData<T>,
}

impl<T: TimerKind> Default for TimerTable<T> {
    fn default() -> Self {
        Self {
            data: vec![None; T::ALL.len()],
            kind: PhantomData,
        }
    }
}

impl<T: TimerKind> TimerTable<T> {
    /// Sets `timer` to fire at `time`.
    pub(crate) fn set(&mut self, timer: T, time: Instant) {
        self.data[timer.index()] = Some(time);
    }

    /// Sets `timer` to `time`, or stops it.
    pub(crate) fn set_or_stop(&mut self, timer: T, time: Option<Instant>) {
        self.data[timer.index()] = time;
    }

    /// Stops `timer`.
    pub(crate) fn stop(&mut self, timer: T) {
        self.data[timer.index()] = None;
    }

    /// When `timer` fires, if it is set.
    pub(crate) fn get(&self, timer: T) -> Option<Instant> {
        self.data[timer.index()]
    }

    /// Whether `timer` is set and its time has come.
    pub(crate) fn expired(&self, timer: T, now: Instant) -> bool {
        self.get(timer).is_some_and(|t| t <= now)
    }

    /// Whether nothing is held back by `timer`: it is not set, or its time has come.
    pub(crate) fn ready(&self, timer: T, now: Instant) -> bool {
        self.get(timer).is_none_or(|t| t <= now)
    }

    /// The earliest time later than `after` of the set timers `armed` accepts.
    pub(crate) fn next_timeout(&self, after: Instant, armed: impl Fn(T) -> bool) -> Option<Instant> {
        T::ALL
            .iter()
            .copied()
            .filter(|&timer| armed(timer))
            .filter_map(|timer| self.get(timer))
            .filter(|&t| t > after)
            .min()
    }
}

/// splitmix64: the next number of the seeded sequence in `state`.
pub(crate) fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The shared exponential backoff with ±20 % jitter (KIP-580, [`kafkaroo_wire::backoff`]) for `attempt`
/// (1 = the first retry), jittered from the seeded `state`.
pub(crate) fn jittered_backoff(state: &mut u64, config: BackoffConfig, attempt: u32) -> Duration {
    // One of 401 steps from 0.8 to 1.2.
    let unit = (next_random(state) % 401) as f64 / 400.0;
    config.delay(attempt, unit)
}
