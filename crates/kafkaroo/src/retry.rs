//! The one retry loop for requests the client repeats itself (coordinator lookups and commits,
//! committed offsets, admin calls, offset lookups): attempts wait by the one backoff
//! (`retry.backoff.ms` doubling up to `retry.backoff.max.ms`, with jitter; ARCHITECTURE.md).

use std::future::Future;
use std::time::Instant;

use kafkaroo_net::{Backoff, BackoffConfig};

/// How long the retry loop keeps trying.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Budget {
    /// Until this instant (the caller's `request.timeout.ms`).
    Until(Instant),
    /// At most this many attempts.
    Attempts(u32),
}

/// What one attempt came to.
pub(crate) enum Attempt<T, R, F> {
    Done(T),
    /// Worth another try (coordinator moved or loading, no answer, a retriable error), and why.
    Retry(R),
    /// Not worth another try.
    Fail(F),
}

/// Why [`retrying`] gave up.
#[derive(Debug)]
pub(crate) enum GaveUp<R, F> {
    Failed(F),
    /// The budget ran out; the last reason to retry, if there was an attempt.
    Exhausted {
        attempts: u32,
        last: Option<R>,
    },
}

/// Runs `attempt` until it is done, fails for good, or the budget runs out, waiting by the one
/// backoff between attempts.
pub(crate) async fn retrying<T, R, F, Fut>(
    backoff: BackoffConfig,
    budget: Budget,
    mut attempt: impl FnMut() -> Fut,
) -> Result<T, GaveUp<R, F>>
where
    Fut: Future<Output = Attempt<T, R, F>>,
{
    let mut backoff = Backoff::new(backoff);
    let mut attempts = 0;
    let mut last = None;
    loop {
        if let Budget::Until(deadline) = budget
            && Instant::now() >= deadline
        {
            return Err(GaveUp::Exhausted { attempts, last });
        }
        attempts += 1;
        match attempt().await {
            Attempt::Done(t) => return Ok(t),
            Attempt::Fail(f) => return Err(GaveUp::Failed(f)),
            Attempt::Retry(r) => {
                if let Budget::Attempts(max) = budget
                    && attempts >= max
                {
                    return Err(GaveUp::Exhausted {
                        attempts,
                        last: Some(r),
                    });
                }
                last = Some(r);
                tokio::time::sleep(backoff.next_delay(fastrand::f64())).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn backoff() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retrying_waits_by_the_one_backoff_until_done() {
        let start = tokio::time::Instant::now();
        let mut calls = 0;
        let result: Result<u32, GaveUp<&str, ()>> = retrying(backoff(), Budget::Attempts(8), || {
            calls += 1;
            let n = calls;
            async move {
                if n < 4 {
                    Attempt::Retry("loading")
                } else {
                    Attempt::Done(n)
                }
            }
        })
        .await;
        assert_eq!(result.unwrap(), 4);
        // 100 + 200 + 400 ms, each within ±20 % jitter.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(560) && waited <= Duration::from_millis(840),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retrying_stops_at_a_failure_or_the_budget() {
        let failed: Result<(), GaveUp<&str, &str>> = retrying(backoff(), Budget::Attempts(8), || async {
            Attempt::Fail("refused")
        })
        .await;
        assert!(matches!(failed, Err(GaveUp::Failed("refused"))));
        let exhausted: Result<(), GaveUp<&str, ()>> = retrying(backoff(), Budget::Attempts(3), || async {
            Attempt::Retry("moved")
        })
        .await;
        assert!(matches!(
            exhausted,
            Err(GaveUp::Exhausted {
                attempts: 3,
                last: Some("moved")
            })
        ));
        let past = std::time::Instant::now();
        let timed_out: Result<(), GaveUp<&str, ()>> = retrying(backoff(), Budget::Until(past), || async {
            Attempt::Retry("moved")
        })
        .await;
        assert!(matches!(
            timed_out,
            Err(GaveUp::Exhausted {
                attempts: 0,
                last: None
            })
        ));
    }
}
