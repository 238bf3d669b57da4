//! Connection metrics through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`;
//! the kafkaroo facade turns it on with its own). Every series carries `messaging.system="kafka"`,
//! `messaging.client.id` (`client.id`) and `server.address` (the broker's `host:port`); request
//! series also `messaging.kafka.api` (the API's name, e.g. `Fetch`).
//!
//! | Name | Kind, unit | What |
//! |---|---|---|
//! | `messaging.kafka.connection.count` | gauge, connections | connections open now (TCP connected, not yet failed or closed) |
//! | `messaging.kafka.connection.opened` | counter, connections | TCP connections made; more than one per broker and purpose means reconnects |
//! | `messaging.kafka.connection.closed` | counter, connections | connections that failed or were closed |
//! | `messaging.kafka.request.duration` | histogram, seconds | from handing a request to the connection's writer to its response (timeouts and failures not included) |
//! | `messaging.kafka.request.throttle.duration` | histogram, seconds | `throttle_time_ms` of responses that asked the client to hold back (KIP-219) |
//! | `messaging.kafka.response.decode.errors` | counter, responses | response frames that did not decode (the connection is closed) |

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[cfg(feature = "metrics")]
use metrics::{SharedString, Unit};

const CONNECTIONS: &str = "messaging.kafka.connection.count";
const OPENED: &str = "messaging.kafka.connection.opened";
const CLOSED: &str = "messaging.kafka.connection.closed";
const REQUEST_DURATION: &str = "messaging.kafka.request.duration";
const THROTTLE_DURATION: &str = "messaging.kafka.request.throttle.duration";
const DECODE_ERRORS: &str = "messaging.kafka.response.decode.errors";

/// One connection's instruments: counted as open from creation until [`closed`](Self::closed)
/// (called on failure, on close and on drop; only the first call counts).
pub(crate) struct ConnectionInstruments {
    closed: AtomicBool,
    #[cfg(feature = "metrics")]
    labels: [(SharedString, SharedString); 3],
}

impl ConnectionInstruments {
    pub(crate) fn opened(client_id: &str, addr: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            describe();
            let labels = [
                ("messaging.system".into(), "kafka".into()),
                ("messaging.client.id".into(), client_id.to_owned().into()),
                ("server.address".into(), addr.to_owned().into()),
            ];
            let me = Self {
                closed: AtomicBool::new(false),
                labels,
            };
            metrics::counter!(OPENED, me.labels()).increment(1);
            metrics::gauge!(CONNECTIONS, me.labels()).increment(1.0);
            me
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (client_id, addr, OPENED, CONNECTIONS);
            Self {
                closed: AtomicBool::new(false),
            }
        }
    }

    #[cfg(feature = "metrics")]
    fn labels(&self) -> Vec<metrics::Label> {
        self.labels
            .iter()
            .map(|(k, v)| metrics::Label::new(k.clone(), v.clone()))
            .collect()
    }

    /// The connection failed or was closed.
    pub(crate) fn closed(&self) {
        if self.closed.swap(true, Ordering::Relaxed) {
            return;
        }
        #[cfg(feature = "metrics")]
        {
            metrics::counter!(CLOSED, self.labels()).increment(1);
            metrics::gauge!(CONNECTIONS, self.labels()).decrement(1.0);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = CLOSED;
    }

    /// A response to `api` arrived `took` after its request was handed to the writer.
    pub(crate) fn answered(&self, api: &'static str, took: Duration) {
        #[cfg(feature = "metrics")]
        {
            let mut labels = self.labels();
            labels.push(metrics::Label::new("messaging.kafka.api", api));
            metrics::histogram!(REQUEST_DURATION, labels).record(took.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (api, took, REQUEST_DURATION);
    }

    /// A response of `api` asked the client to hold back for `throttle_ms`.
    pub(crate) fn throttled(&self, api: &'static str, throttle_ms: i32) {
        #[cfg(feature = "metrics")]
        {
            let mut labels = self.labels();
            labels.push(metrics::Label::new("messaging.kafka.api", api));
            metrics::histogram!(THROTTLE_DURATION, labels).record(f64::from(throttle_ms) / 1000.0);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (api, throttle_ms, THROTTLE_DURATION);
    }

    /// A response of `api` did not decode.
    pub(crate) fn decode_failed(&self, api: &'static str) {
        #[cfg(feature = "metrics")]
        {
            let mut labels = self.labels();
            labels.push(metrics::Label::new("messaging.kafka.api", api));
            metrics::counter!(DECODE_ERRORS, labels).increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (api, DECODE_ERRORS);
    }
}

#[cfg(feature = "metrics")]
fn describe() {
    metrics::describe_gauge!(CONNECTIONS, Unit::Count, "Broker connections open now");
    metrics::describe_counter!(OPENED, Unit::Count, "TCP connections made to brokers");
    metrics::describe_counter!(
        CLOSED,
        Unit::Count,
        "Broker connections that failed or were closed"
    );
    metrics::describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "From handing a request to the connection to its response"
    );
    metrics::describe_histogram!(
        THROTTLE_DURATION,
        Unit::Seconds,
        "Throttle time brokers asked for in responses (KIP-219)"
    );
    metrics::describe_counter!(DECODE_ERRORS, Unit::Count, "Response frames that did not decode");
}
