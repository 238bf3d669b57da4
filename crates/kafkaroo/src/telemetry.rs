//! Names of tracing fields and metrics, in one place: the OpenTelemetry messaging conventions for Kafka
//! are still "development", and names may move.

/// `metrics` counter: records handed to the application by `poll`.
pub(crate) const CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
/// `metrics` counter: bytes of fetch responses received.
pub(crate) const FETCH_BYTES: &str = "messaging.kafka.fetch.bytes";
/// `metrics` gauge: records between a partition's position and its high watermark (or LSO).
pub(crate) const CONSUMER_LAG: &str = "messaging.kafka.consumer.lag";
/// `metrics` gauge: bytes held against the memory budget.
pub(crate) const MEMORY_USED: &str = "messaging.kafka.consumer.memory.used";

/// Records `n` records handed out.
pub(crate) fn consumed(n: usize) {
    #[cfg(feature = "metrics")]
    metrics::counter!(CONSUMED_MESSAGES, "messaging.system" => "kafka").increment(n as u64);
    #[cfg(not(feature = "metrics"))]
    let _ = (n, CONSUMED_MESSAGES);
}

/// Records a fetch response of `bytes` and the memory held after it.
pub(crate) fn fetched(bytes: usize, memory_used: usize) {
    #[cfg(feature = "metrics")]
    {
        metrics::counter!(FETCH_BYTES, "messaging.system" => "kafka").increment(bytes as u64);
        metrics::gauge!(MEMORY_USED, "messaging.system" => "kafka").set(memory_used as f64);
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (bytes, memory_used, FETCH_BYTES, MEMORY_USED);
}

/// Records a partition's lag.
pub(crate) fn lag(topic: &str, partition: i32, lag: i64) {
    #[cfg(feature = "metrics")]
    metrics::gauge!(
        CONSUMER_LAG,
        "messaging.system" => "kafka",
        "messaging.destination.name" => topic.to_owned(),
        "messaging.destination.partition.id" => partition.to_string()
    )
    .set(lag as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = (topic, partition, lag, CONSUMER_LAG);
}

/// `metrics` counter: commits that failed (for some partition).
pub(crate) const COMMIT_FAILURES: &str = "messaging.kafka.consumer.commit.failures";

/// Records a failed commit.
pub(crate) fn commit_failed() {
    #[cfg(feature = "metrics")]
    metrics::counter!(COMMIT_FAILURES, "messaging.system" => "kafka").increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = COMMIT_FAILURES;
}
