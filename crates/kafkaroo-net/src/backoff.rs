//! Exponential backoff with jitter, as `reconnect.backoff.ms` / `retry.backoff.ms` behave in the Java
//! client (KIP-580): the delay doubles per failure up to a cap, and each delay is spread by ±20% so many
//! clients do not retry in lockstep. Pure: the caller supplies the randomness.

use std::time::Duration;

/// Backoff settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of the delay.
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

/// The state of one backoff sequence.
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

    /// Records a failure and returns how long to wait before the next attempt. `unit_random` is a
    /// uniformly distributed number in `[0, 1)`.
    pub fn next_delay(&mut self, unit_random: f64) -> Duration {
        let exp = self.failures.min(30);
        self.failures = self.failures.saturating_add(1);
        let base = self
            .config
            .initial
            .saturating_mul(1u32 << exp.min(20))
            .min(self.config.max);
        let jitter = 0.8 + 0.4 * unit_random.clamp(0.0, 1.0);
        base.mul_f64(jitter).min(self.config.max.mul_f64(1.2))
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
    }
}
