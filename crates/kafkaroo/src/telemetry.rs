//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`, on by default):
//! install a recorder (e.g. `metrics-exporter-prometheus`) **before** creating consumers, since each
//! consumer registers its handles when it is created. Names follow the OpenTelemetry messaging
//! conventions for Kafka, which are still "development": names may move.
//!
//! Every metric carries `messaging.system="kafka"` and `messaging.client.id` (the consumer's
//! `client.id`; give consumers of one process distinct ids to tell their series apart: with the
//! same id, their memory gauges add up and their lag gauges for the same partition overwrite each
//! other).
//!
//! | Name | Kind, unit | Labels | What |
//! |---|---|---|---|
//! | `messaging.client.consumed.messages` | counter, records | | records handed to the application by `poll`/`recv` |
//! | `messaging.kafka.fetch.bytes` | counter, bytes | | bytes of fetch responses received |
//! | `messaging.kafka.consumer.lag` | gauge, records | `messaging.destination.name` (topic), `messaging.destination.partition.id` | per assigned partition: high watermark (last stable offset under `read_committed`) minus the position, the same number as [`Consumer::lag`](crate::Consumer::lag). Follows the position as `poll` hands records out and the watermark as fetches report it. Set to **0** when the partition leaves the assignment (revoked, lost, unassigned) and when the consumer closes |
//! | `messaging.kafka.consumer.memory.used` | gauge, bytes | | bytes held against `memory.budget.bytes`: fetches in flight, buffered responses, records the application holds. Always what [`Consumer::memory_used`](crate::Consumer::memory_used) returns |
//! | `messaging.kafka.consumer.rebalances` | counter, rebalances | `cause` | rebalances this member completed (each time it became stable again after a rebalance), by what started them as the member knows it: `joining` (subscribe), `subscription_changed`, `metadata_changed` (the leader saw partition counts or racks change), `coordinator_requested` (REBALANCE_IN_PROGRESS on a heartbeat or commit; with `group.protocol=consumer` a new assignment that takes partitions away), `member_fenced` (ILLEGAL_GENERATION, FENCED_MEMBER_EPOCH), `unknown_member`, `session_timeout` (no heartbeat acknowledged within `session.timeout.ms`), `poll_timeout` (rejoined after `max.poll.interval.ms` was exceeded), `coordinator_changed` (the coordinator moved while stable). The total is the sum over `cause`. With `group.protocol=consumer` an assignment that only adds partitions is no rebalance for this member (it stays stable; its new partitions still record a `gained` pause) |
//! | `messaging.kafka.consumer.rebalance.duration` | histogram, seconds | | from leaving a stable generation (or starting to join) until stable again: how long the member's fetching of moved partitions could be held up |
//! | `messaging.kafka.consumer.assigned.partitions` | gauge, partitions | | partitions the group assigned to this member now (0 after it left) |
//! | `messaging.kafka.consumer.commit.duration` | histogram, seconds | | one OffsetCommit request, from sending to its answer |
//! | `messaging.kafka.consumer.lag.seconds` | gauge, seconds | topic, partition | per assigned partition: the age (now − record timestamp) of the last record `poll` handed out while records were still waiting behind it; **0** when caught up (nothing waits) and when the partition leaves the assignment. Updated as `poll` hands records out |
//! | `messaging.kafka.consumer.partition.consumed.messages` | counter, records | topic, partition | records of the partition handed to the application |
//! | `messaging.kafka.consumer.partition.consumed.bytes` | counter, bytes | topic, partition | their key and value bytes |
//! | `messaging.kafka.consumer.partition.fetched.bytes` | counter, bytes | topic, partition | record batch bytes fetch responses brought for the partition (compressed, as on the wire; the sum over partitions is at most `messaging.kafka.fetch.bytes`) |
//! | `messaging.kafka.consumer.partition.pause.duration` | histogram, seconds | `assignment` (`retained`, `gained`) | one sample per partition a rebalance moved to (or stopped on) this member, when its first fetch after the rebalance is sent: for a partition the member had to give up and got back (`retained`: eager protocols revoke everything; also a partition lost and assigned again), from the revocation to that fetch; for a partition new to it (`gained`), from the moment this member learned of the rebalance (with `group.protocol=consumer`, the heartbeat answer that assigned it) to that fetch. For `gained` this is a lower bound: the previous owner may have stopped earlier, which this member cannot see. Partitions a cooperative rebalance left in place record nothing; a partition the application pauses in `on_assigned` counts until it is resumed and fetched |
//! | `messaging.kafka.consumer.partition.buffered.bytes` | gauge, bytes | topic, partition | record batch bytes fetched for the partition and not handed out yet (as on the wire, compressed): set when a fetch response is buffered, lowered as `poll` moves past each batch, **0** once everything was handed out, on a seek, and when the partition leaves the assignment. Records `recv` already took out of the batches and queues for its next calls (at most `max.poll.records`) are not counted |
//! | `messaging.kafka.consumer.committed.lag` | gauge, records | topic, partition | the end of the log as for `messaging.kafka.consumer.lag` (high watermark, or LSO under `read_committed`) minus the group's committed offset: what a restart from the committed offsets would have to read again. Updated when a commit of this consumer succeeds, when the committed offset is fetched on assignment, and when a fetch reports a new watermark; no value until the partition has a committed offset; **0** when the partition leaves the assignment |
//! | `messaging.kafka.consumer.partition.errors` | counter, errors | topic, partition, `error.type` | errors that stopped the partition (`corrupt_record`, or the Kafka error's name, e.g. `TOPIC_AUTHORIZATION_FAILED`) |
//! | `messaging.kafka.consumer.memory.waits` | counter, waits | | times fetching stopped because `memory.budget.bytes` was spent |
//! | `messaging.kafka.consumer.memory.wait.duration` | histogram, seconds | | how long each of those waits lasted |
//! | `messaging.kafka.consumer.member.state` | gauge | `state` | 1 for the member's current state (`Unjoined`, `FindingCoordinator`, `Joining`, `Syncing`, `Stable`, `Revoking`, `Leaving`, `Lost`, `Fatal`), 0 for the others |
//! | `messaging.kafka.consumer.member.generation` | gauge | | the generation (classic) or member epoch (`group.protocol=consumer`) |
//! | `messaging.kafka.schema_registry.requests` | counter, requests | `http.request.method`, `outcome` (`ok`, `error` for an HTTP error answer, `unreachable`, `malformed`) | with the `schema-registry` feature: requests to the schema registry, one per URL tried. Schemas are cached by id, so this stays near the number of schema ids seen; no `messaging.client.id` |
//! | `messaging.kafka.consumer.commit.failures` | counter, commits | `error.type` | every commit that failed: refused before it was sent (`not_owned`, `not_member`, `REBALANCE_IN_PROGRESS`, `closed`...) or answered with an error (Kafka's error name, e.g. `OFFSET_METADATA_TOO_LARGE`, `UNKNOWN_MEMBER_ID`; `timeout` when a retried commit ran out of time). One per commit, whatever the number of partitions |
//!
//! The per-partition gauges (lag, lag in seconds, committed lag, buffered bytes) are not
//! unregistered when the partition leaves (the facade has no way to): they read 0, so a sum or max
//! over consumers stays right while the new owner reports the real value. To drop such series from a
//! Prometheus scrape, give the exporter an idle timeout for gauges
//! (`PrometheusBuilder::idle_timeout(MetricKindMask::GAUGE, ...)`). Java's consumer removes
//! its `records-lag` metric instead.
//!
//! Connection metrics (open connections, connections made and closed, request latency and throttle
//! time per API and broker, responses that did not decode) come from kafkaroo-net (its
//! `instruments` module; the same labels plus `server.address`).
//!
//! Tracing spans are listed in the crate docs (lib.rs, "Tracing").

use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "metrics")]
use metrics::{Counter, Gauge, SharedString, Unit};

/// `metrics` counter: records handed to the application by `poll`.
pub(crate) const CONSUMED_MESSAGES: &str = "messaging.client.consumed.messages";
/// `metrics` counter: bytes of fetch responses received.
pub(crate) const FETCH_BYTES: &str = "messaging.kafka.fetch.bytes";
/// `metrics` gauge: records between a partition's position and its high watermark (or LSO).
pub(crate) const CONSUMER_LAG: &str = "messaging.kafka.consumer.lag";
/// `metrics` gauge: bytes held against the memory budget.
pub(crate) const MEMORY_USED: &str = "messaging.kafka.consumer.memory.used";
/// `metrics` counter: commits that failed, labelled with `error.type`.
pub(crate) const COMMIT_FAILURES: &str = "messaging.kafka.consumer.commit.failures";
/// `metrics` counter: rebalances completed.
pub(crate) const REBALANCES: &str = "messaging.kafka.consumer.rebalances";
/// `metrics` histogram: rebalance duration, seconds.
pub(crate) const REBALANCE_DURATION: &str = "messaging.kafka.consumer.rebalance.duration";
/// `metrics` gauge: partitions assigned to the member.
pub(crate) const ASSIGNED_PARTITIONS: &str = "messaging.kafka.consumer.assigned.partitions";
/// `metrics` histogram: OffsetCommit request latency, seconds.
pub(crate) const COMMIT_DURATION: &str = "messaging.kafka.consumer.commit.duration";
/// `metrics` gauge: age of the last record handed out per partition, seconds.
pub(crate) const CONSUMER_LAG_SECONDS: &str = "messaging.kafka.consumer.lag.seconds";
/// `metrics` counter: records handed out per partition.
pub(crate) const PARTITION_CONSUMED: &str = "messaging.kafka.consumer.partition.consumed.messages";
/// `metrics` counter: key and value bytes handed out per partition.
pub(crate) const PARTITION_CONSUMED_BYTES: &str = "messaging.kafka.consumer.partition.consumed.bytes";
/// `metrics` counter: record batch bytes fetched per partition.
pub(crate) const PARTITION_FETCHED_BYTES: &str = "messaging.kafka.consumer.partition.fetched.bytes";
/// `metrics` histogram: how long a moved partition was not fetched around a rebalance, seconds.
pub(crate) const PARTITION_PAUSE_DURATION: &str = "messaging.kafka.consumer.partition.pause.duration";
/// `metrics` gauge: bytes fetched for a partition and not handed out yet.
pub(crate) const PARTITION_BUFFERED_BYTES: &str = "messaging.kafka.consumer.partition.buffered.bytes";
/// `metrics` gauge: records between a partition's committed offset and its high watermark (or LSO).
pub(crate) const COMMITTED_LAG: &str = "messaging.kafka.consumer.committed.lag";
/// `metrics` counter: errors that stopped a partition, by `error.type`.
pub(crate) const PARTITION_ERRORS: &str = "messaging.kafka.consumer.partition.errors";
/// `metrics` counter: times fetching waited for the memory budget.
pub(crate) const MEMORY_WAITS: &str = "messaging.kafka.consumer.memory.waits";
/// `metrics` histogram: how long each such wait lasted, seconds.
pub(crate) const MEMORY_WAIT_DURATION: &str = "messaging.kafka.consumer.memory.wait.duration";
/// `metrics` gauge: 1 for the member's current state (label `state`), 0 for the others.
pub(crate) const MEMBER_STATE: &str = "messaging.kafka.consumer.member.state";
/// `metrics` gauge: the member's generation (member epoch with the consumer protocol).
pub(crate) const MEMBER_GENERATION: &str = "messaging.kafka.consumer.member.generation";

/// The `state` label of the member state gauge (the states' names as `GroupState` prints them).
#[cfg(feature = "metrics")]
fn state_label(state: kafkaroo_group::MemberState) -> &'static str {
    use kafkaroo_group::MemberState as S;
    match state {
        S::Unjoined => "Unjoined",
        S::FindingCoordinator => "FindingCoordinator",
        S::Joining => "Joining",
        S::Syncing => "Syncing",
        S::Stable => "Stable",
        S::Revoking => "Revoking",
        S::Leaving => "Leaving",
        S::Lost => "Lost",
        S::Fatal => "Fatal",
    }
}

/// Every member state, for the state gauge's one-hot series.
#[cfg(feature = "metrics")]
const MEMBER_STATES: [kafkaroo_group::MemberState; 9] = {
    use kafkaroo_group::MemberState as S;
    [
        S::Unjoined,
        S::FindingCoordinator,
        S::Joining,
        S::Syncing,
        S::Stable,
        S::Revoking,
        S::Leaving,
        S::Lost,
        S::Fatal,
    ]
};

/// Milliseconds since the Unix epoch: the wall clock record timestamps are compared with.
pub(crate) fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
/// `metrics` counter: schema-registry requests, labelled with the method and outcome.
#[cfg(all(feature = "schema-registry", feature = "metrics"))]
pub(crate) const SCHEMA_REGISTRY_REQUESTS: &str = "messaging.kafka.schema_registry.requests";

const SYSTEM: &str = "messaging.system";
const CLIENT_ID: &str = "messaging.client.id";

/// Running totals kept whether or not the `metrics` feature is on (for `Consumer::statistics`).
#[derive(Debug, Default)]
pub(crate) struct Totals {
    pub(crate) consumed: AtomicU64,
    pub(crate) fetch_bytes: AtomicU64,
    pub(crate) fetches: AtomicU64,
    pub(crate) commit_failures: AtomicU64,
}

/// One consumer's metric handles, registered when the consumer is created.
pub(crate) struct Telemetry {
    pub(crate) totals: Totals,
    /// When the consumer was created.
    pub(crate) created: std::time::Instant,
    #[cfg(feature = "metrics")]
    client_id: SharedString,
    #[cfg(feature = "metrics")]
    consumed: Counter,
    #[cfg(feature = "metrics")]
    fetch_bytes: Counter,
}

impl Telemetry {
    pub(crate) fn new(client_id: &str) -> Self {
        #[cfg(feature = "metrics")]
        {
            describe();
            let client_id = SharedString::from(client_id.to_owned());
            Self {
                totals: Totals::default(),
                created: std::time::Instant::now(),
                consumed: metrics::counter!(CONSUMED_MESSAGES, SYSTEM => "kafka", CLIENT_ID => client_id.clone()),
                fetch_bytes: metrics::counter!(FETCH_BYTES, SYSTEM => "kafka", CLIENT_ID => client_id.clone()),
                client_id,
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (
                client_id,
                CONSUMED_MESSAGES,
                FETCH_BYTES,
                CONSUMER_LAG,
                SYSTEM,
                CLIENT_ID,
            );
            Self {
                totals: Totals::default(),
                created: std::time::Instant::now(),
            }
        }
    }

    /// Records `n` records handed out.
    pub(crate) fn consumed(&self, n: usize) {
        self.totals.consumed.fetch_add(n as u64, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if n > 0 {
            self.consumed.increment(n as u64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = n;
    }

    /// Records a fetch response of `bytes`.
    pub(crate) fn fetched(&self, bytes: usize) {
        self.totals.fetches.fetch_add(1, Ordering::Relaxed);
        self.totals.fetch_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        self.fetch_bytes.increment(bytes as u64);
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }

    /// The gauge of the memory budget's bytes in use (moved by the budget on every change).
    pub(crate) fn memory_gauge(&self) -> MemoryGauge {
        #[cfg(feature = "metrics")]
        {
            MemoryGauge(Some(metrics::gauge!(
                MEMORY_USED,
                SYSTEM => "kafka",
                CLIENT_ID => self.client_id.clone()
            )))
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = MEMORY_USED;
            MemoryGauge::default()
        }
    }

    /// One partition's series (registered at its first value).
    pub(crate) fn partition(&self, topic: &str, partition: i32) -> PartitionMetrics {
        #[cfg(feature = "metrics")]
        {
            PartitionMetrics {
                labels: Some(Box::new((self.client_id.clone(), topic.to_owned(), partition))),
                series: None,
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (
                topic,
                partition,
                CONSUMER_LAG_SECONDS,
                PARTITION_CONSUMED,
                PARTITION_CONSUMED_BYTES,
                PARTITION_FETCHED_BYTES,
                PARTITION_ERRORS,
                PARTITION_BUFFERED_BYTES,
                COMMITTED_LAG,
            );
            PartitionMetrics {}
        }
    }

    /// Fetching waited for the memory budget (`memory.budget.bytes`) for `waited`.
    pub(crate) fn memory_waited(&self, waited: std::time::Duration) {
        #[cfg(feature = "metrics")]
        {
            metrics::counter!(MEMORY_WAITS, SYSTEM => "kafka", CLIENT_ID => self.client_id.clone())
                .increment(1);
            metrics::histogram!(MEMORY_WAIT_DURATION, SYSTEM => "kafka", CLIENT_ID => self.client_id.clone())
                .record(waited.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (waited, MEMORY_WAITS, MEMORY_WAIT_DURATION);
    }

    /// The member's state and generation (member epoch with `group.protocol=consumer`) now.
    pub(crate) fn member_state(&self, state: kafkaroo_group::MemberState, generation: i32) {
        #[cfg(feature = "metrics")]
        {
            metrics::gauge!(MEMBER_GENERATION, SYSTEM => "kafka", CLIENT_ID => self.client_id.clone())
                .set(f64::from(generation));
            for s in MEMBER_STATES {
                let value = if s == state { 1.0 } else { 0.0 };
                metrics::gauge!(
                    MEMBER_STATE,
                    SYSTEM => "kafka",
                    CLIENT_ID => self.client_id.clone(),
                    "state" => state_label(s)
                )
                .set(value);
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (state, generation, MEMBER_GENERATION, MEMBER_STATE);
    }

    /// Records a failed commit: one per commit, `error_type` says why (see the module's table).
    pub(crate) fn commit_failed(&self, error_type: &'static str) {
        self.totals.commit_failures.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        metrics::counter!(
            COMMIT_FAILURES,
            SYSTEM => "kafka",
            CLIENT_ID => self.client_id.clone(),
            "error.type" => error_type
        )
        .increment(1);
        #[cfg(not(feature = "metrics"))]
        let _ = (error_type, COMMIT_FAILURES);
    }
}

impl Telemetry {
    /// The member became stable after a rebalance that took `duration`, started for `cause` (as the
    /// member reported it; `None` should not happen and counts as `unknown`).
    pub(crate) fn rebalanced(
        &self,
        duration: std::time::Duration,
        cause: Option<kafkaroo_group::RebalanceCause>,
    ) {
        #[cfg(feature = "metrics")]
        {
            let cause = cause.map_or("unknown", kafkaroo_group::RebalanceCause::as_str);
            metrics::counter!(
                REBALANCES,
                SYSTEM => "kafka",
                CLIENT_ID => self.client_id.clone(),
                "cause" => cause
            )
            .increment(1);
            metrics::histogram!(REBALANCE_DURATION, SYSTEM => "kafka", CLIENT_ID => self.client_id.clone())
                .record(duration.as_secs_f64());
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (duration, cause, REBALANCES, REBALANCE_DURATION);
    }

    /// Starts timing a partition's pause around a rebalance, from `since`: `retained` for a partition
    /// the member gave up and got back, else gained. Recorded by [`PauseTimer::resumed`].
    pub(crate) fn pause_timer(&self, retained: bool, since: std::time::Instant) -> PauseTimer {
        #[cfg(feature = "metrics")]
        {
            let assignment = if retained { "retained" } else { "gained" };
            PauseTimer {
                since,
                histogram: metrics::histogram!(
                    PARTITION_PAUSE_DURATION,
                    SYSTEM => "kafka",
                    CLIENT_ID => self.client_id.clone(),
                    "assignment" => assignment
                ),
            }
        }
        #[cfg(not(feature = "metrics"))]
        {
            let _ = (retained, PARTITION_PAUSE_DURATION);
            PauseTimer { since }
        }
    }

    /// The member owns `count` partitions now.
    pub(crate) fn assigned(&self, count: usize) {
        #[cfg(feature = "metrics")]
        metrics::gauge!(ASSIGNED_PARTITIONS, SYSTEM => "kafka", CLIENT_ID => self.client_id.clone())
            .set(count as f64);
        #[cfg(not(feature = "metrics"))]
        let _ = (count, ASSIGNED_PARTITIONS);
    }

    /// An OffsetCommit request was answered (or failed) after `duration`.
    pub(crate) fn commit_answered(&self, duration: std::time::Duration) {
        #[cfg(feature = "metrics")]
        metrics::histogram!(COMMIT_DURATION, SYSTEM => "kafka", CLIENT_ID => self.client_id.clone())
            .record(duration.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = (duration, COMMIT_DURATION);
    }
}

/// A moved partition's pause around a rebalance: from when it stopped (or the member learned of the
/// rebalance) until its first fetch is sent.
pub(crate) struct PauseTimer {
    since: std::time::Instant,
    #[cfg(feature = "metrics")]
    histogram: metrics::Histogram,
}

impl PauseTimer {
    /// The partition's first fetch after the rebalance goes out at `now`.
    pub(crate) fn resumed(self, now: std::time::Instant) {
        let paused = now.saturating_duration_since(self.since);
        #[cfg(feature = "metrics")]
        self.histogram.record(paused.as_secs_f64());
        #[cfg(not(feature = "metrics"))]
        let _ = paused;
    }
}

/// Descriptions and units for exporters that show them (Prometheus `# HELP`).
#[cfg(feature = "metrics")]
fn describe() {
    metrics::describe_counter!(
        CONSUMED_MESSAGES,
        Unit::Count,
        "Records handed to the application by poll/recv"
    );
    metrics::describe_counter!(FETCH_BYTES, Unit::Bytes, "Bytes of fetch responses received");
    metrics::describe_gauge!(
        CONSUMER_LAG,
        Unit::Count,
        "Records between the partition's position and its high watermark (last stable offset under \
         read_committed); 0 once the partition is no longer assigned"
    );
    metrics::describe_gauge!(
        MEMORY_USED,
        Unit::Bytes,
        "Bytes held against memory.budget.bytes (Consumer::memory_used)"
    );
    metrics::describe_counter!(COMMIT_FAILURES, Unit::Count, "Commits that failed, by error.type");
    metrics::describe_counter!(REBALANCES, Unit::Count, "Rebalances this member completed");
    metrics::describe_histogram!(
        REBALANCE_DURATION,
        Unit::Seconds,
        "From leaving a stable generation (or starting to join) until stable again"
    );
    metrics::describe_gauge!(
        ASSIGNED_PARTITIONS,
        Unit::Count,
        "Partitions assigned to this member"
    );
    metrics::describe_histogram!(COMMIT_DURATION, Unit::Seconds, "OffsetCommit request latency");
    metrics::describe_histogram!(
        PARTITION_PAUSE_DURATION,
        Unit::Seconds,
        "Per partition moved by a rebalance: from its revocation (retained) or from learning of the \
         rebalance (gained, a lower bound) to its first fetch"
    );
    metrics::describe_gauge!(
        PARTITION_BUFFERED_BYTES,
        Unit::Bytes,
        "Record batch bytes fetched for the partition and not handed out yet"
    );
    metrics::describe_gauge!(
        COMMITTED_LAG,
        Unit::Count,
        "Records between the partition's committed offset and its high watermark (LSO under \
         read_committed); 0 once the partition is no longer assigned"
    );
}

/// The memory gauge, moved by every change of the budget: increments and decrements commute, so the
/// gauge is exactly the budget's count whichever threads change it.
#[derive(Default)]
pub(crate) struct MemoryGauge(#[cfg(feature = "metrics")] Option<Gauge>);

impl MemoryGauge {
    pub(crate) fn add(&self, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(g) = &self.0 {
            g.increment(bytes as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }

    pub(crate) fn sub(&self, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(g) = &self.0 {
            g.decrement(bytes as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }
}

impl std::fmt::Debug for MemoryGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryGauge")
    }
}

/// One partition's series: lag in records and seconds, records and bytes handed out, errors that
/// stopped it. Registered at the first value, so a partition whose watermark is not known yet has no
/// series; the gauges read 0 when it is dropped (the partition left the assignment) or [`clear`]ed.
///
/// [`clear`]: PartitionMetrics::clear
pub(crate) struct PartitionMetrics {
    /// Client id, topic, partition: the labels, until the series are registered.
    #[cfg(feature = "metrics")]
    labels: Option<Box<(SharedString, String, i32)>>,
    #[cfg(feature = "metrics")]
    series: Option<Box<PartitionSeries>>,
}

#[cfg(feature = "metrics")]
struct PartitionSeries {
    labels: Vec<metrics::Label>,
    lag: Gauge,
    lag_seconds: Gauge,
    delivered: Counter,
    delivered_bytes: Counter,
    fetched_bytes: Counter,
    buffered_bytes: Gauge,
    /// Registered at the first committed offset: before, no value rather than 0.
    committed_lag: Option<Gauge>,
}

impl PartitionMetrics {
    #[cfg(feature = "metrics")]
    fn series(&mut self) -> Option<&mut PartitionSeries> {
        if self.series.is_none() {
            let (client_id, topic, partition) = *self.labels.take()?;
            let labels = vec![
                metrics::Label::new(SYSTEM, "kafka"),
                metrics::Label::new(CLIENT_ID, client_id),
                metrics::Label::new("messaging.destination.name", topic),
                metrics::Label::new("messaging.destination.partition.id", partition.to_string()),
            ];
            self.series = Some(Box::new(PartitionSeries {
                lag: metrics::gauge!(CONSUMER_LAG, labels.clone()),
                lag_seconds: metrics::gauge!(CONSUMER_LAG_SECONDS, labels.clone()),
                delivered: metrics::counter!(PARTITION_CONSUMED, labels.clone()),
                delivered_bytes: metrics::counter!(PARTITION_CONSUMED_BYTES, labels.clone()),
                fetched_bytes: metrics::counter!(PARTITION_FETCHED_BYTES, labels.clone()),
                buffered_bytes: metrics::gauge!(PARTITION_BUFFERED_BYTES, labels.clone()),
                committed_lag: None,
                labels,
            }));
        }
        self.series.as_deref_mut()
    }

    /// Sets the lag (records).
    pub(crate) fn set(&mut self, lag: i64) {
        #[cfg(feature = "metrics")]
        if let Some(s) = self.series() {
            s.lag.set(lag.max(0) as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = lag;
    }

    /// `poll` handed out `records` of the partition at `now_ms` (Unix ms): counts them and their key
    /// and value bytes, and sets the lag in seconds to the age of the last one (its timestamp's
    /// distance from now; 0 for a timestamp in the future).
    pub(crate) fn delivered(&mut self, records: &[crate::ConsumerRecord], now_ms: i64) {
        #[cfg(feature = "metrics")]
        {
            let Some(last) = records.last() else { return };
            let Some(s) = self.series() else { return };
            let bytes: usize = records
                .iter()
                .map(|r| r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len))
                .sum();
            s.delivered.increment(records.len() as u64);
            s.delivered_bytes.increment(bytes as u64);
            s.lag_seconds
                .set((now_ms - last.timestamp()).max(0) as f64 / 1000.0);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (records, now_ms);
    }

    /// A fetch response brought `bytes` of record batches (compressed, as on the wire).
    pub(crate) fn fetched(&mut self, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(s) = self.series() {
            s.fetched_bytes.increment(bytes as u64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }

    /// `bytes` of fetched record batches wait to be handed out.
    pub(crate) fn buffered(&mut self, bytes: usize) {
        #[cfg(feature = "metrics")]
        if let Some(s) = self.series() {
            s.buffered_bytes.set(bytes as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = bytes;
    }

    /// Sets the lag from the committed offset (records).
    pub(crate) fn set_committed_lag(&mut self, lag: i64) {
        #[cfg(feature = "metrics")]
        if let Some(s) = self.series() {
            s.committed_lag
                .get_or_insert_with(|| metrics::gauge!(COMMITTED_LAG, s.labels.clone()))
                .set(lag.max(0) as f64);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = lag;
    }

    /// Caught up (lag 0): nothing waits, so no record is late.
    pub(crate) fn caught_up(&mut self) {
        #[cfg(feature = "metrics")]
        if let Some(s) = self.series() {
            s.lag_seconds.set(0.0);
        }
    }

    /// The partition stopped with an error (`error_type`: a corrupt record, an authorization
    /// failure...): counted until the application seeks.
    pub(crate) fn stopped(&mut self, error_type: &'static str) {
        #[cfg(feature = "metrics")]
        if let Some(s) = self.series() {
            let mut labels = s.labels.clone();
            labels.push(metrics::Label::new("error.type", error_type));
            metrics::counter!(PARTITION_ERRORS, labels).increment(1);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = error_type;
    }

    /// The partition is no longer this consumer's: the gauges read 0 and are not updated any more.
    pub(crate) fn clear(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.labels = None;
            if let Some(s) = self.series.take() {
                s.lag.set(0.0);
                s.lag_seconds.set(0.0);
                s.buffered_bytes.set(0.0);
                if let Some(g) = &s.committed_lag {
                    g.set(0.0);
                }
            }
        }
    }
}

impl Drop for PartitionMetrics {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `error.type` of a commit the group layer refused or failed.
pub(crate) fn group_error_type(e: &kafkaroo_group::GroupError) -> &'static str {
    use kafkaroo_group::GroupError as G;
    match e {
        G::NotOwned { .. } => "not_owned",
        G::NotMember => "not_member",
        G::Closed => "closed",
        G::CommitTimedOut { .. } => "timeout",
        G::Transport(_) => "transport",
        other => match other.code() {
            Some(code) => kafkaroo_wire::ErrorCode(code).name(),
            None => "other",
        },
    }
}

/// `error.type` of a commit that failed with `e`.
pub(crate) fn error_type(e: &crate::Error) -> &'static str {
    use crate::Error as E;
    match e {
        E::NotOwned { .. } => "not_owned",
        E::Closed => "closed",
        E::Group(g) => group_error_type(g),
        other => other.error_code().map_or("other", kafkaroo_wire::ErrorCode::name),
    }
}
