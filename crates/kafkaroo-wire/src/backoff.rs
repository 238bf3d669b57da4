//! Exponential backoff with jitter, the one used for every retry and reconnect of the client, as
//! `retry.backoff.ms`/`retry.backoff.max.ms` and `reconnect.backoff.ms`/`reconnect.backoff.max.ms`
//! behave in the Java client (KIP-580): the delay doubles per failure up to a cap, and each delay is
//! spread by ±20% so many clients do not retry in lockstep.
//!
//! Pure, like the rest of this crate: no clock and no random source. The caller passes the number of
//! failures and a uniform random number, so the sans-IO group state machine (`kafkaroo-group`, seeded
//! jitter) and the tokio crates (`kafkaroo-net` reconnects, the facade's fetch engine and coordinator
//! retries) compute their delays the same way.

use std::time::Duration;

/// Backoff settings: the first delay and the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay after the first failure (`retry.backoff.ms`, `reconnect.backoff.ms`).
    pub initial: Duration,
    /// Upper bound of the delay before jitter (`retry.backoff.max.ms`, `reconnect.backoff.max.ms`). When
    /// it is below `initial`, every delay is `max`: a constant backoff, as in the Java client.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        // The Java client's reconnect.backoff.ms / reconnect.backoff.max.ms defaults.
        Self {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
        }
    }
}

impl BackoffConfig {
    /// How long to wait before the next attempt after `failures` failed ones in a row (`failures` ≥ 1;
    /// 0 is treated as 1): `initial × 2^(failures-1)`, capped at `max`, times a jitter factor in
    /// `[0.8, 1.2]` taken from `unit_random`, a uniformly distributed number in `[0, 1]`.
    pub fn delay(&self, failures: u32, unit_random: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let base = self.initial.saturating_mul(1u32 << exp).min(self.max);
        base.mul_f64(0.8 + 0.4 * unit_random.clamp(0.0, 1.0))
    }
}

/// One backoff sequence: counts the failures since the last success.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    failures: u32,
}

impl Backoff {
    /// A fresh sequence: the first failure waits about `config.initial`.
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, failures: 0 }
    }

    /// Records a failure and returns how long to wait before the next attempt
    /// ([`BackoffConfig::delay`]). `unit_random` is a uniformly distributed number in `[0, 1)`.
    pub fn next_delay(&mut self, unit_random: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.config.delay(self.failures, unit_random)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Records a success: the next failure starts from `initial` again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new(BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        });
        let mid: Vec<u128> = (0..6).map(|_| b.next_delay(0.5).as_millis()).collect();
        assert_eq!(mid, vec![100, 200, 400, 800, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(80));
        assert_eq!(b.next_delay(0.999_999).as_millis(), 239);
        for _ in 0..100 {
            assert!(b.next_delay(1.0) <= Duration::from_millis(1200));
        }
        assert_eq!(b.failures(), 102);
    }

    #[test]
    fn delay_is_a_function_of_the_failure_count() {
        let c = BackoffConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(1000),
        };
        assert_eq!(c.delay(0, 0.5), c.delay(1, 0.5));
        assert_eq!(c.delay(1, 0.5), Duration::from_millis(10));
        assert_eq!(c.delay(5, 0.5), Duration::from_millis(160));
        assert_eq!(c.delay(u32::MAX, 0.5), Duration::from_millis(1000));
        assert_eq!(c.delay(3, 0.0), Duration::from_millis(32));
        assert_eq!(c.delay(3, 1.0), Duration::from_millis(48));
        // Out-of-range randomness is clamped.
        assert_eq!(c.delay(3, 7.0), Duration::from_millis(48));
    }

    #[test]
    fn a_cap_below_the_initial_delay_is_a_constant_backoff() {
        let c = BackoffConfig {
            initial: Duration::from_millis(500),
            max: Duration::from_millis(200),
        };
        for failures in 1..10 {
            assert_eq!(c.delay(failures, 0.5), Duration::from_millis(200));
        }
    }
}
