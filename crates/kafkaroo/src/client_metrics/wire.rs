//! GetTelemetrySubscriptions (API 71) and PushTelemetry (API 72) on the wire, to and from the
//! schedule's types. Both go to whichever broker the client has a general connection to (Java picks
//! the least-loaded node); the broker keeps the client instance's state cluster-wide by its id.

use bytes::Bytes;
use kafkaroo_net::Client;
use kafkaroo_records::{Compression, compress_into};
use kafkaroo_wire::messages::{GetTelemetrySubscriptionsRequest, PushTelemetryRequest};
use kafkaroo_wire::{ErrorCode, Uuid, VersionError};

use super::schedule::{Selector, Subscription};

/// How a request ended, as far as the schedule cares.
pub(crate) enum Outcome<T> {
    Answer(Result<T, Option<ErrorCode>>),
    /// The broker does not offer the API.
    Unsupported,
}

/// `metrics` compressed with the first codec of the broker's list (in its order of preference, as
/// Java reads it) that this build has (the `compression-*` features); uncompressed (compression type
/// 0, which every broker accepts) when none is, or when `none` comes first.
pub(crate) fn compress(accepted: &[i8], metrics: Vec<u8>) -> (i8, Vec<u8>) {
    for &id in accepted {
        let Some(codec) = u8::try_from(id).ok().and_then(Compression::from_id) else {
            continue;
        };
        if codec == Compression::None {
            break;
        }
        let mut out = Vec::with_capacity(metrics.len() / 2);
        if compress_into(codec, &metrics, &mut out).is_ok() {
            return (id, out);
        }
    }
    (0, metrics)
}

pub(crate) async fn get_subscriptions(client: &Client, client_instance_id: Uuid) -> Outcome<Subscription> {
    let request = GetTelemetrySubscriptionsRequest::default().with_client_instance_id(client_instance_id);
    let response = match send(client, &request).await {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    let code = ErrorCode(response.error_code);
    if code != ErrorCode::NONE {
        return Outcome::Answer(Err(Some(code)));
    }
    let requested: Vec<String> = response.requested_metrics.iter().map(|m| m.to_string()).collect();
    Outcome::Answer(Ok(Subscription {
        client_instance_id: response.client_instance_id,
        subscription_id: response.subscription_id,
        accepted_compression_types: response.accepted_compression_types,
        push_interval: std::time::Duration::from_millis(
            u64::try_from(response.push_interval_ms).unwrap_or(0),
        ),
        telemetry_max_bytes: usize::try_from(response.telemetry_max_bytes).unwrap_or(0),
        delta_temporality: response.delta_temporality,
        selector: Selector::from_requested(&requested),
    }))
}

pub(crate) async fn push(
    client: &Client,
    client_instance_id: Uuid,
    subscription_id: i32,
    terminating: bool,
    compression_type: i8,
    metrics: Bytes,
) -> Outcome<()> {
    let request = PushTelemetryRequest::default()
        .with_client_instance_id(client_instance_id)
        .with_subscription_id(subscription_id)
        .with_terminating(terminating)
        .with_compression_type(compression_type)
        .with_metrics(metrics);
    match send(client, &request).await {
        Ok(r) if r.error_code == 0 => Outcome::Answer(Ok(())),
        Ok(r) => Outcome::Answer(Err(Some(ErrorCode(r.error_code)))),
        Err(outcome) => outcome,
    }
}

async fn send<R, T>(client: &Client, request: &R) -> Result<R::Response, Outcome<T>>
where
    R: kafkaroo_wire::protocol::Request,
    R::Response: kafkaroo_net::Throttled,
{
    let conn = client.any_connection().await.map_err(|e| {
        tracing::debug!(error = %e, "client metrics: no broker reachable");
        Outcome::Answer(Err(None))
    })?;
    match conn.send(request).await {
        Ok(r) => Ok(r),
        Err(kafkaroo_net::Error::Version {
            source: VersionError::NotSupportedByBroker { .. },
            ..
        }) => Err(Outcome::Unsupported),
        Err(kafkaroo_net::Error::Broker { code, .. }) => Err(Outcome::Answer(Err(Some(code)))),
        Err(e) => {
            tracing::debug!(error = %e, "client metrics request failed");
            Err(Outcome::Answer(Err(None)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_follows_the_brokers_preference_and_falls_back_to_none() {
        let data = b"org.apache.kafka.consumer.fetch.manager.records.lag ".repeat(20);
        let (id, out) = compress(&[4, 3, 1, 2], data.clone());
        assert_eq!(id, 4, "zstd first");
        assert!(out.len() < data.len());
        let back = kafkaroo_records::decompress(Compression::Zstd, &out, 1 << 20, 0).unwrap();
        assert_eq!(back.as_ref(), &data[..]);
        assert_eq!(compress(&[9, 1], data.clone()).0, 1, "an unknown id is skipped");
        assert_eq!(
            compress(&[0, 4], data.clone()),
            (0, data.clone()),
            "none preferred"
        );
        assert_eq!(compress(&[], data.clone()), (0, data));
    }
}
