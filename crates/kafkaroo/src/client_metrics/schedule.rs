//! When to ask for the subscription and when to push (KIP-714's client rules), as a pure state machine:
//! time comes in as `now`, randomness as a `jitter` in [0, 1), and it performs no I/O.
//!
//! - The first GetTelemetrySubscriptions goes out at once with a zero client instance id; every later
//!   one names the id the broker assigned.
//! - A subscription that requests metrics is pushed first after a random 0.5-1.5 x `PushIntervalMs`
//!   (so clients restarted together do not push together), then every interval.
//! - A subscription that requests none is asked for again after the interval.
//! - Push answers: UNKNOWN_SUBSCRIPTION_ID and UNSUPPORTED_COMPRESSION_TYPE fetch the subscription
//!   again at once; INVALID_REQUEST and INVALID_RECORD stop pushing for good (a client bug that
//!   retrying would not heal); TELEMETRY_TOO_LARGE, THROTTLING_QUOTA_EXCEEDED and other errors push
//!   again after the interval.
//! - On close one last push with `terminating=true` is made, if a subscription requested metrics.

use std::time::{Duration, Instant};

use kafkaroo_wire::{ErrorCode, Uuid};

/// Used for the next attempt when no interval is known (a failed first GetTelemetrySubscriptions):
/// Java's client waits its default push interval, 5 minutes.
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// Which metric names the broker asked for (`RequestedMetrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector {
    /// An empty list.
    None,
    /// A single empty string (or `*`).
    All,
    /// Name prefixes.
    Prefixes(Vec<String>),
}

impl Selector {
    pub(crate) fn from_requested(requested: &[String]) -> Self {
        if requested.is_empty() {
            Self::None
        } else if requested.iter().any(|p| p.is_empty() || p == "*") {
            Self::All
        } else {
            Self::Prefixes(requested.to_vec())
        }
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Prefixes(p) => p.iter().any(|p| name.starts_with(p.as_str())),
        }
    }
}

/// A GetTelemetrySubscriptions answer without error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription {
    /// Zero when the request named an id already.
    pub(crate) client_instance_id: Uuid,
    pub(crate) subscription_id: i32,
    pub(crate) accepted_compression_types: Vec<i8>,
    pub(crate) push_interval: Duration,
    pub(crate) telemetry_max_bytes: usize,
    pub(crate) delta_temporality: bool,
    pub(crate) selector: Selector,
}

/// What the driver should send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    FetchSubscription,
    Push { terminating: bool },
}

/// Why pushing stopped for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// The broker does not offer the APIs (no telemetry plugin, or older than 3.7).
    Unsupported,
    /// An answer that retrying cannot change (INVALID_REQUEST, INVALID_RECORD, authorization).
    Refused(ErrorCode),
    /// The terminating push was made (or there was nothing to push at close).
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    NeedSubscription,
    Pushing(Subscription),
    Stopped(Stopped),
}

/// The KIP-714 client schedule of one consumer.
#[derive(Debug)]
pub(crate) struct PushSchedule {
    phase: Phase,
    client_instance_id: Uuid,
    /// When the next action is due.
    due: Instant,
    /// The last interval the broker gave, for re-fetches.
    interval: Duration,
    closing: bool,
}

impl PushSchedule {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            phase: Phase::NeedSubscription,
            client_instance_id: Uuid::nil(),
            due: now,
            interval: DEFAULT_INTERVAL,
            closing: false,
        }
    }

    /// The id to send in GetTelemetrySubscriptions (zero until the broker assigned one).
    pub(crate) fn client_instance_id(&self) -> Uuid {
        self.client_instance_id
    }

    /// The subscription being pushed to.
    pub(crate) fn subscription(&self) -> Option<&Subscription> {
        match &self.phase {
            Phase::Pushing(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn stopped(&self) -> Option<&Stopped> {
        match &self.phase {
            Phase::Stopped(s) => Some(s),
            _ => None,
        }
    }

    /// When [`poll`](Self::poll) next has something to do (`None`: never again).
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Stopped(_) => None,
            _ => Some(self.due),
        }
    }

    /// The action due at `now`, if any.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<Action> {
        match &self.phase {
            Phase::Stopped(_) => None,
            Phase::Pushing(_) if self.closing => Some(Action::Push { terminating: true }),
            Phase::NeedSubscription if self.closing => {
                self.phase = Phase::Stopped(Stopped::Closed);
                None
            }
            _ if now < self.due => None,
            Phase::NeedSubscription => Some(Action::FetchSubscription),
            Phase::Pushing(_) => Some(Action::Push { terminating: false }),
        }
    }

    /// The consumer is closing: the next [`poll`](Self::poll) asks for the terminating push (or stops
    /// when there is no subscription with metrics).
    pub(crate) fn close(&mut self) {
        self.closing = true;
    }

    /// The answer to GetTelemetrySubscriptions: `Ok` (no error code), the error code, or `Err(None)`
    /// when the request failed on the way (connection, timeout).
    pub(crate) fn on_subscription(
        &mut self,
        now: Instant,
        answer: Result<Subscription, Option<ErrorCode>>,
        jitter: f64,
    ) {
        match answer {
            Ok(s) => {
                if !s.client_instance_id.is_nil() {
                    self.client_instance_id = s.client_instance_id;
                }
                self.interval = s.push_interval;
                if s.selector == Selector::None {
                    self.due = now + s.push_interval;
                    self.phase = Phase::NeedSubscription;
                } else {
                    self.due = now + s.push_interval.mul_f64(0.5 + jitter.clamp(0.0, 1.0));
                    self.phase = Phase::Pushing(s);
                }
            }
            Err(Some(code)) if is_refusal(code) => self.phase = Phase::Stopped(Stopped::Refused(code)),
            Err(_) => {
                self.due = now + self.interval;
                self.phase = Phase::NeedSubscription;
            }
        }
    }

    /// The broker does not offer GetTelemetrySubscriptions/PushTelemetry.
    pub(crate) fn on_unsupported(&mut self) {
        self.phase = Phase::Stopped(Stopped::Unsupported);
    }

    /// The answer to a push: `Ok(())`, the error code, or `Err(None)` for a failure on the way.
    pub(crate) fn on_push(&mut self, now: Instant, terminating: bool, answer: Result<(), Option<ErrorCode>>) {
        if terminating {
            self.phase = Phase::Stopped(Stopped::Closed);
            return;
        }
        match answer {
            Err(Some(ErrorCode::UNKNOWN_SUBSCRIPTION_ID | ErrorCode::UNSUPPORTED_COMPRESSION_TYPE)) => {
                self.due = now;
                self.phase = Phase::NeedSubscription;
            }
            Err(Some(code)) if code == ErrorCode::INVALID_RECORD || is_refusal(code) => {
                self.phase = Phase::Stopped(Stopped::Refused(code));
            }
            _ => self.due = now + self.interval,
        }
    }
}

/// Answers that retrying cannot change.
fn is_refusal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::INVALID_REQUEST | ErrorCode::CLUSTER_AUTHORIZATION_FAILED | ErrorCode::UNSUPPORTED_VERSION
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn subscription(requested: &[&str]) -> Subscription {
        Subscription {
            client_instance_id: Uuid::from_u128(7),
            subscription_id: 42,
            accepted_compression_types: vec![],
            push_interval: 10 * SECOND,
            telemetry_max_bytes: 1 << 20,
            delta_temporality: false,
            selector: Selector::from_requested(&requested.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        }
    }

    /// A schedule pushing to `subscription(["org.apache.kafka.consumer."])`, first push due at t0 + 10 s.
    fn pushing(t0: Instant) -> PushSchedule {
        let mut s = PushSchedule::new(t0);
        assert_eq!(s.poll(t0), Some(Action::FetchSubscription));
        s.on_subscription(t0, Ok(subscription(&["org.apache.kafka.consumer."])), 0.5);
        s
    }

    #[test]
    fn first_push_waits_a_jittered_interval_then_every_interval() {
        let t0 = Instant::now();
        let mut s = PushSchedule::new(t0);
        assert_eq!(s.client_instance_id(), Uuid::nil());
        assert_eq!(s.poll(t0), Some(Action::FetchSubscription));
        s.on_subscription(t0, Ok(subscription(&["org.apache.kafka."])), 0.0);
        assert_eq!(s.client_instance_id(), Uuid::from_u128(7));
        assert_eq!(
            s.poll_timeout(),
            Some(t0 + 5 * SECOND),
            "0.5 x interval at jitter 0"
        );
        assert_eq!(s.poll(t0 + 4 * SECOND), None);
        assert_eq!(s.poll(t0 + 5 * SECOND), Some(Action::Push { terminating: false }));
        s.on_push(t0 + 5 * SECOND, false, Ok(()));
        assert_eq!(s.poll_timeout(), Some(t0 + 15 * SECOND));

        let mut late = PushSchedule::new(t0);
        late.on_subscription(t0, Ok(subscription(&[""])), 0.999_999);
        assert!(late.poll_timeout().unwrap() > t0 + 14 * SECOND);
        assert!(
            late.poll_timeout().unwrap() <= t0 + 15 * SECOND,
            "at most 1.5 x interval"
        );
    }

    #[test]
    fn a_later_answer_without_an_id_keeps_the_assigned_one() {
        let t0 = Instant::now();
        let mut s = pushing(t0);
        s.on_push(
            t0 + 10 * SECOND,
            false,
            Err(Some(ErrorCode::UNKNOWN_SUBSCRIPTION_ID)),
        );
        assert_eq!(
            s.poll(t0 + 10 * SECOND),
            Some(Action::FetchSubscription),
            "at once"
        );
        let mut again = subscription(&["org."]);
        again.client_instance_id = Uuid::nil();
        s.on_subscription(t0 + 10 * SECOND, Ok(again), 0.5);
        assert_eq!(s.client_instance_id(), Uuid::from_u128(7));
    }

    #[test]
    fn an_empty_subscription_is_asked_for_again_after_the_interval() {
        let t0 = Instant::now();
        let mut s = PushSchedule::new(t0);
        s.on_subscription(t0, Ok(subscription(&[])), 0.5);
        assert_eq!(s.subscription(), None);
        assert_eq!(s.poll(t0 + 9 * SECOND), None);
        assert_eq!(s.poll(t0 + 10 * SECOND), Some(Action::FetchSubscription));
        s.close();
        assert_eq!(
            s.poll(t0 + 10 * SECOND),
            None,
            "no terminating push without metrics"
        );
        assert_eq!(s.stopped(), Some(&Stopped::Closed));
    }

    #[test]
    fn push_errors_follow_kip_714() {
        let t0 = Instant::now();
        let at = t0 + 10 * SECOND;
        let mut s = pushing(t0);
        s.on_push(at, false, Err(Some(ErrorCode::UNSUPPORTED_COMPRESSION_TYPE)));
        assert_eq!(s.poll(at), Some(Action::FetchSubscription));

        for retried in [
            ErrorCode::TELEMETRY_TOO_LARGE,
            ErrorCode::THROTTLING_QUOTA_EXCEEDED,
            ErrorCode::UNKNOWN_SERVER_ERROR,
        ] {
            let mut s = pushing(t0);
            s.on_push(at, false, Err(Some(retried)));
            assert_eq!(s.poll(at + 9 * SECOND), None, "{retried}");
            assert_eq!(
                s.poll(at + 10 * SECOND),
                Some(Action::Push { terminating: false }),
                "{retried}"
            );
        }
        let mut s = pushing(t0);
        s.on_push(at, false, Err(None));
        assert_eq!(
            s.poll_timeout(),
            Some(at + 10 * SECOND),
            "a lost connection: next interval"
        );

        for fatal in [ErrorCode::INVALID_REQUEST, ErrorCode::INVALID_RECORD] {
            let mut s = pushing(t0);
            s.on_push(at, false, Err(Some(fatal)));
            assert_eq!(s.stopped(), Some(&Stopped::Refused(fatal)));
            assert_eq!(s.poll(at + 3600 * SECOND), None);
            assert_eq!(s.poll_timeout(), None);
            s.close();
            assert_eq!(s.poll(at), None, "no terminating push after a refusal");
        }
    }

    #[test]
    fn subscription_failures_retry_after_the_interval_and_unsupported_stops() {
        let t0 = Instant::now();
        let mut s = PushSchedule::new(t0);
        s.on_subscription(t0, Err(None), 0.5);
        assert_eq!(s.poll_timeout(), Some(t0 + DEFAULT_INTERVAL));
        s.on_subscription(t0, Err(Some(ErrorCode::CLUSTER_AUTHORIZATION_FAILED)), 0.5);
        assert_eq!(
            s.stopped(),
            Some(&Stopped::Refused(ErrorCode::CLUSTER_AUTHORIZATION_FAILED))
        );
        let mut s = PushSchedule::new(t0);
        s.on_unsupported();
        assert_eq!(s.stopped(), Some(&Stopped::Unsupported));
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn close_pushes_once_with_terminating_at_once() {
        let t0 = Instant::now();
        let mut s = pushing(t0);
        s.close();
        assert_eq!(
            s.poll(t0),
            Some(Action::Push { terminating: true }),
            "not waiting for the interval"
        );
        s.on_push(t0, true, Err(Some(ErrorCode::THROTTLING_QUOTA_EXCEEDED)));
        assert_eq!(s.stopped(), Some(&Stopped::Closed));
        assert_eq!(s.poll(t0 + 3600 * SECOND), None);
    }

    #[test]
    fn selector_reads_requested_metrics() {
        assert!(!Selector::from_requested(&[]).matches("org.apache.kafka.consumer.x"));
        assert!(Selector::from_requested(&["".into()]).matches("anything"));
        assert!(Selector::from_requested(&["*".into()]).matches("anything"));
        let p = Selector::from_requested(&["org.apache.kafka.consumer.fetch".into()]);
        assert!(p.matches("org.apache.kafka.consumer.fetch.manager.records.lag.max"));
        assert!(!p.matches("org.apache.kafka.consumer.coordinator.rebalance.total"));
    }
}
