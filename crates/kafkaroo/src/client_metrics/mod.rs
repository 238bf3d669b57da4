//! KIP-714 client metrics push (`enable.metrics.push`, on by default as in Java): a broker whose
//! operator configured a client-metrics subscription (and a metrics reporter implementing
//! `ClientTelemetry`) receives this consumer's metrics as OTLP, under Java's names, so kafkaroo
//! consumers show up next to Java ones. A broker without the APIs or without a subscription gets
//! nothing, and the consumer logs nothing above `debug`.
//!
//! `schedule.rs` decides when (pure), `collect.rs` what (from [`Statistics`](crate::Statistics)),
//! `otlp.rs` encodes it, `wire.rs` sends it; this file is the task that runs them, one per consumer,
//! beside the fetch engine so a slow push never delays a fetch.

mod collect;
mod otlp;
mod schedule;
mod wire;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use kafkaroo_net::Client;
use kafkaroo_wire::{ErrorCode, Uuid};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::engine::Shared;
use crate::group::GroupShared;
use schedule::{Action, PushSchedule, Stopped, Subscription};
use wire::Outcome;

/// The running push task of one consumer.
pub(crate) struct ClientMetrics {
    group: Arc<OnceLock<Arc<GroupShared>>>,
    /// The client instance id, once a broker assigned it.
    instance_id: Arc<OnceLock<Uuid>>,
    close: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ClientMetrics {
    pub(crate) fn start(shared: Arc<Shared>, client: Client) -> Self {
        let group = Arc::new(OnceLock::new());
        let instance_id = Arc::new(OnceLock::new());
        let (close, closed) = oneshot::channel();
        let pusher = Pusher::new(shared, client, group.clone(), instance_id.clone());
        let task = tokio::spawn(run(pusher, closed));
        Self {
            group,
            instance_id,
            close: Some(close),
            task: Some(task),
        }
    }

    /// The client instance id the broker assigned, in Kafka's text form (as Java's `Uuid` prints it
    /// and broker-side exporters label the metrics).
    pub(crate) fn client_instance_id(&self) -> Option<String> {
        self.instance_id.get().map(|id| kafka_uuid_text(*id))
    }

    /// From `subscribe` on, the pushed metrics include the group's.
    pub(crate) fn set_group(&self, group: Arc<GroupShared>) {
        let _ = self.group.set(group);
    }

    /// Makes the terminating push (when a subscription asks for metrics) and stops, waiting at most
    /// `timeout`.
    pub(crate) async fn close(mut self, timeout: Duration) {
        if let Some(close) = self.close.take() {
            let _ = close.send(());
        }
        if let Some(task) = self.task.take()
            && tokio::time::timeout(timeout, task).await.is_err()
        {
            tracing::debug!("client metrics: no answer to the terminating push before the close timeout");
        }
    }
}

impl Drop for ClientMetrics {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// What the task keeps between pushes.
struct Pusher {
    shared: Arc<Shared>,
    client: Client,
    group: Arc<OnceLock<Arc<GroupShared>>>,
    instance_id: Arc<OnceLock<Uuid>>,
    /// Counter totals of the last accepted push (delta temporality).
    previous: collect::Totals,
    /// The consumer's creation: start of cumulative counters.
    created: SystemTime,
    /// Start of delta counters.
    last_push: SystemTime,
}

async fn run(mut pusher: Pusher, mut closed: oneshot::Receiver<()>) {
    let mut schedule = PushSchedule::new(Instant::now());
    let mut closing = false;
    loop {
        match schedule.poll(Instant::now()) {
            Some(Action::FetchSubscription) => {
                match wire::get_subscriptions(&pusher.client, schedule.client_instance_id()).await {
                    Outcome::Unsupported => schedule.on_unsupported(),
                    Outcome::Answer(answer) => {
                        match &answer {
                            Ok(s) => tracing::debug!(subscription_id = s.subscription_id,
                                push_interval = ?s.push_interval, requested = ?s.selector, "client metrics subscription"),
                            Err(Some(code)) => {
                                tracing::debug!(error = %code, "client metrics: GetTelemetrySubscriptions failed")
                            }
                            Err(None) => {}
                        }
                        schedule.on_subscription(Instant::now(), answer, fastrand::f64());
                        if !schedule.client_instance_id().is_nil() {
                            let _ = pusher.instance_id.set(schedule.client_instance_id());
                        }
                    }
                }
            }
            Some(Action::Push { terminating }) => {
                let Some(subscription) = schedule.subscription().cloned() else {
                    continue;
                };
                let outcome = pusher.push(&schedule, &subscription, terminating).await;
                match outcome {
                    Outcome::Unsupported => schedule.on_unsupported(),
                    Outcome::Answer(answer) => {
                        if let Err(Some(code)) = answer {
                            log_push_error(code);
                        }
                        schedule.on_push(Instant::now(), terminating, answer);
                    }
                }
            }
            None => {
                let Some(at) = schedule.poll_timeout() else {
                    if let Some(Stopped::Unsupported) = schedule.stopped() {
                        tracing::debug!(
                            "client metrics: the broker offers no GetTelemetrySubscriptions, not pushing"
                        );
                    }
                    return;
                };
                if closing {
                    tokio::time::sleep_until(at.into()).await;
                    continue;
                }
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    signal = &mut closed => {
                        if signal.is_err() {
                            return; // the consumer was dropped without close
                        }
                        closing = true;
                        schedule.close();
                    }
                }
            }
        }
    }
}

impl Pusher {
    fn new(
        shared: Arc<Shared>,
        client: Client,
        group: Arc<OnceLock<Arc<GroupShared>>>,
        instance_id: Arc<OnceLock<Uuid>>,
    ) -> Self {
        let created = SystemTime::now()
            .checked_sub(shared.telemetry.created.elapsed())
            .unwrap_or_else(SystemTime::now);
        Self {
            shared,
            client,
            group,
            instance_id,
            previous: collect::Totals::new(),
            created,
            last_push: created,
        }
    }

    async fn push(
        &mut self,
        schedule: &PushSchedule,
        subscription: &Subscription,
        terminating: bool,
    ) -> Outcome<()> {
        let group = self.group.get().map(|g| g.statistics());
        let stats = crate::statistics::snapshot(&self.shared, group);
        let delta = subscription.delta_temporality;
        let (points, totals) = collect::points(&stats, &subscription.selector, delta, &self.previous);
        let config = &self.shared.config;
        let resource = collect::resource(
            &stats,
            config.client_rack.as_deref(),
            config.group_instance_id.as_deref(),
        );
        let time = SystemTime::now();
        let mut payload = otlp::Payload {
            resource: &resource,
            points: &points,
            start: if delta { self.last_push } else { self.created },
            time,
            delta,
        };
        let mut metrics = otlp::encode(&payload);
        let max = subscription.telemetry_max_bytes;
        let without_partitions: Vec<otlp::Point>;
        if max > 0 && metrics.len() > max {
            // Per-partition lag grows with the assignment; the rest is a few hundred bytes.
            without_partitions = points
                .iter()
                .filter(|p| p.attributes.is_empty())
                .cloned()
                .collect();
            payload.points = &without_partitions;
            metrics = otlp::encode(&payload);
            tracing::debug!(
                max,
                size = metrics.len(),
                "client metrics: per-partition lag left out to fit TelemetryMaxBytes"
            );
        }
        let (compression, metrics) = wire::compress(&subscription.accepted_compression_types, metrics);
        let outcome = wire::push(
            &self.client,
            schedule.client_instance_id(),
            subscription.subscription_id,
            terminating,
            compression,
            Bytes::from(metrics),
        )
        .await;
        if let Outcome::Answer(Ok(())) = outcome {
            self.previous = totals;
            self.last_push = time;
        }
        outcome
    }
}

/// A push failure after which pushing goes on (a refusal is logged once, when the task stops).
fn log_push_error(code: ErrorCode) {
    match code {
        ErrorCode::INVALID_REQUEST | ErrorCode::INVALID_RECORD => {}
        ErrorCode::TELEMETRY_TOO_LARGE => {
            tracing::warn!(error = %code, "client metrics push too large for the broker; trying again next interval")
        }
        _ => tracing::debug!(error = %code, "client metrics push failed"),
    }
}

/// A UUID as Kafka writes it: URL-safe base64 of its 16 bytes, without padding (22 characters).
fn kafka_uuid_text(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_is_kafkas_url_safe_base64_without_padding() {
        assert_eq!(kafka_uuid_text(Uuid::nil()), "AAAAAAAAAAAAAAAAAAAAAA");
        // Java: new Uuid(0xfbffffffffffffffL, 0x0123456789abcdefL).toString()
        let id = Uuid::from_u128(0xfbff_ffff_ffff_ffff_0123_4567_89ab_cdef);
        assert_eq!(kafka_uuid_text(id), "-_________8BI0VniavN7w");
    }
}
