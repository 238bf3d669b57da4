//! kafkaroo: a pure-Rust Apache Kafka consumer.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafkaroo::Error> {
//! use std::time::Duration;
//! use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
//!
//! let config = ConsumerConfig::builder()
//!     .bootstrap_servers("127.0.0.1:9092")
//!     .auto_offset_reset(AutoOffsetReset::Earliest)
//!     .build()?;
//! let mut consumer = Consumer::new(config).await?;
//! consumer.assign([TopicPartition::new("orders", 0)])?;
//! loop {
//!     let batch = consumer.poll(Duration::from_secs(1)).await?;
//!     for record in batch.iter() {
//!         println!("{}@{}: {:?}", record.partition(), record.offset(), record.value());
//!     }
//! }
//! # }
//! ```
//!
//! # How it works
//!
//! A background task per consumer keeps one fetch in flight per partition leader while the application
//! processes records. Fetch responses are kept as they arrived (one buffer per response); `poll` decodes
//! record batches lazily and hands out records whose key, value and headers are slices of that buffer:
//! nothing is copied or allocated per record. Positions advance only as records are handed out, so retries,
//! leader changes and discarded responses never skip or repeat a record. See `ARCHITECTURE.md`.
//!
//! # Memory
//!
//! `memory.budget.bytes` is a hard cap on fetched data the consumer holds: responses in flight (reserved
//! before the fetch is sent, and the broker is told not to send more), buffered responses, and responses
//! that records held by the application still point into (a held record keeps its whole response counted
//! until dropped or [`ConsumerRecord::detach`]ed). A compressed batch is decompressed when `poll` hands it
//! out, and its decompression buffer is counted the same way until its last record is dropped. When the
//! application stops polling, fetching stops at the budget. The broker may exceed a fetch's limit by one
//! batch (KIP-74), which is counted.
//!
//! # Errors
//!
//! Retriable conditions (leader changes, broken connections, coordinator moves) are handled inside.
//! `poll` returns errors the application must decide on, each naming its partition and offset.
//!
//! # Metrics
//!
//! With the `metrics` feature (on by default) the consumer reports through the
//! [`metrics`](https://docs.rs/metrics) facade: records consumed, bytes fetched, the lag of each assigned
//! partition (following the position as `poll` hands records out; 0 once the partition is no longer
//! assigned), the bytes held against the memory budget (what [`Consumer::memory_used`] returns),
//! failed commits by reason, the bytes fetched and not handed out yet per partition, with a `group.id`
//! the lag from the committed offset, and for a group member its rebalances (count by cause, and
//! duration), how long each partition a rebalance moved was not fetched, assigned partitions and commit
//! latency. `examples/prometheus.rs` serves them to Prometheus and `docs/grafana/kafkaroo-consumer.json`
//! is a Grafana dashboard for them. Install the recorder before creating consumers. Names, units and
//! labels:
//! the table at the top of `src/telemetry.rs`.
//!
//! # Client metrics push (KIP-714)
//!
//! As Java's clients (3.7+), a consumer pushes its metrics to the cluster when the operator asks for
//! them, so a broker-side exporter shows kafkaroo consumers next to Java ones: `enable.metrics.push`
//! (default `true`) starts a task that asks one broker for the subscription (GetTelemetrySubscriptions)
//! and, when it requests metrics, pushes them (PushTelemetry) as OTLP `MetricsData` every
//! `interval.ms` of the subscription, the first push after a random 0.5-1.5 intervals, and one last
//! push with `terminating=true` on [`Consumer::close`]. Operators turn it on broker-side: a metrics
//! reporter implementing `ClientTelemetryExporterProvider` (4.2+; `ClientTelemetry` before) in
//! `metric.reporters`, and a subscription (`kafka-client-metrics.sh --alter --name NAME --metrics
//! org.apache.kafka.consumer. --interval 60000`). A broker without a reporter does not offer the APIs
//! and nothing is sent; a subscription with no metrics is asked for again each interval.
//! [`Consumer::client_instance_id`] is the id the broker assigned (what its exporter labels the
//! metrics with).
//!
//! Pushed, under Java's names when a requested prefix matches, with values from
//! [`Consumer::statistics`] (counters cumulative, or deltas when the broker asks, as it does by default):
//!
//! | Name | OTLP kind | What |
//! |---|---|---|
//! | `org.apache.kafka.consumer.fetch.manager.records.consumed.total` | monotonic sum | records handed out by `poll`/`recv` |
//! | `org.apache.kafka.consumer.fetch.manager.fetch.total` | monotonic sum | fetch responses received |
//! | `org.apache.kafka.consumer.fetch.manager.records.lag` | gauge, attributes `topic`, `partition` | per assigned partition, as [`Consumer::lag`] (left out when the payload would exceed the broker's `TelemetryMaxBytes`) |
//! | `org.apache.kafka.consumer.fetch.manager.records.lag.max` | gauge | the largest of those now (Java's is the largest over its sample window) |
//! | `org.apache.kafka.consumer.coordinator.assigned.partitions` | gauge | group members: partitions assigned |
//! | `org.apache.kafka.consumer.coordinator.rebalance.total` | monotonic sum | group members: rebalances completed |
//!
//! Resource attributes: `client_rack`, `group_id`, `group_instance_id`, `group_member_id` when set
//! (the broker adds the client id, instance id, address and principal). Payloads are compressed
//! with the first of the broker's accepted codecs this build has (zstd on 4.x brokers), else sent
//! uncompressed, which every broker accepts. UNKNOWN_SUBSCRIPTION_ID and UNSUPPORTED_COMPRESSION_TYPE fetch the
//! subscription again at once; INVALID_REQUEST and INVALID_RECORD stop pushing (logged as an error);
//! other failures wait for the next interval. Code: `src/client_metrics/`.
//!
//! # Tracing
//!
//! Through [`tracing`](https://docs.rs/tracing) (a `tracing-opentelemetry` layer exports them):
//!
//! | Span | Level | Fields | Lasts |
//! |---|---|---|---|
//! | `kafka.consumer.rebalance` | INFO | `messaging.system`, `messaging.operation.name="rebalance"`, `messaging.consumer.group.name`, `kafka.generation` and `outcome` (`stable`, `lost`, `fatal`, `left`) recorded at its end | from leaving a stable generation (or starting to join) until stable again or out of the group |
//! | `find_coordinator`, `join`, `sync`, `revoke` | INFO | | each phase of a rebalance, children of it; the coordinator requests of a phase are its children |
//! | `kafka.consumer.commit` | INFO | `messaging.system`, `messaging.operation.name="commit"`, `messaging.consumer.group.name`, `kafka.partitions` | one OffsetCommit request, from sending to its answer (a retried commit is one span per attempt) |
//! | `kafka.group.request` | DEBUG | `messaging.system`, `messaging.consumer.group.name`, `api` | any other coordinator request (heartbeats, JoinGroup, SyncGroup, OffsetFetch, ConsumerGroupHeartbeat...) |
//! | `kafka.consumer.fetch` | DEBUG | `messaging.system`, `messaging.operation.name="fetch"`, `kafka.broker`, `kafka.partitions`, `kafka.max_bytes` | one Fetch request to one broker |
//!
//! [`TraceParent::of`] reads the W3C `traceparent` header a producer wrote, so
//! the application can continue the producer's trace for each record.
//!
//! # Schema registry
//!
//! With the `schema-registry` feature (off by default), `kafkaroo::schema` reads and writes records in
//! the Confluent wire format (Avro and JSON Schema) through a registry client that caches schemas by
//! id; its errors say whether a record is poison, the registry is unreachable, or the configuration is
//! wrong, ready for [`patterns::FailureHandling`](crate::patterns). `examples/order_service.rs` puts
//! them together.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
/// Partition assignors: implement [`Assignor`](assignor::Assignor) and register it with
/// [`ConsumerConfigBuilder::assignor`] to decide assignments yourself when this member leads the group.
pub mod assignor {
    pub use kafkaroo_group::assignor::UserDataContext;
    pub use kafkaroo_group::{
        AssignError, Assignments, Assignor, CooperativeStickyAssignor, MemberSubscription, PartitionCounts,
        RangeAssignor, RebalanceProtocol, RoundRobinAssignor, StickyAssignor, Subscription,
    };
}
/// Connecting to secured clusters: `security.protocol`, TLS and SASL. Most users only set properties
/// (see the README's "Connecting to a secured cluster"); these types are for typed configuration and
/// for token providers of your own.
pub mod security {
    pub use kafkaroo_net::sasl::{
        Credentials, Mechanism, OAuthToken, SaslError, Secret, TokenProvider, UnsecuredTokenProvider,
    };
    pub use kafkaroo_net::security::tls::{crypto_provider, crypto_provider_name};
    pub use kafkaroo_net::{SecurityConfig, SecurityProtocol};
}
/// The cluster client under a consumer ([`Consumer::client`]): metadata and raw protocol requests, for
/// what the consumer API does not cover.
pub mod net {
    pub use kafkaroo_net::{
        BrokerInfo, Client, Connection, Error, Metadata, PartitionMetadata, Purpose, TopicMetadata,
    };
    pub use kafkaroo_wire::messages;
}
/// The rustls version kafkaroo uses, for [`ConsumerConfigBuilder::tls_client_config`].
pub use rustls;

/// The producer ([`kafkaroo-producer`](kafkaroo_producer)), re-exported so one dependency writes dead
/// letters and retry topics too; see docs/producer.md.
///
/// ```no_run
/// # async fn demo() -> Result<(), kafkaroo::producer::Error> {
/// use kafkaroo::producer::{Producer, ProducerConfig, ProducerRecord};
///
/// let config = ProducerConfig::from_properties([("bootstrap.servers", "127.0.0.1:9092")])?;
/// let producer = Producer::new(config).await?;
/// let delivered = producer.send(ProducerRecord::new("orders.dlq").key(b"k").value(b"v")).await?;
/// println!("{:?}", delivered.await?);
/// # Ok(()) }
/// ```
#[cfg(feature = "producer")]
pub use kafkaroo_producer as producer;
mod budget;
mod client_metrics;
mod commit;
mod config;
mod consumer;
mod control;
mod coordinator;
mod engine;
mod error;
mod group;
#[cfg(feature = "producer")]
pub mod patterns;
mod record;
mod retry;
#[cfg(feature = "schema-registry")]
pub mod schema;
mod session;
mod standalone;
mod statistics;
mod telemetry;
mod trace_context;

pub use admin::{AdminError, GroupAdmin, ResetSpec, TopicSelection};
pub use commit::{CommitHandle, OffsetAndMetadata, PendingCommit};
pub use config::{AutoOffsetReset, ConsumerConfig, ConsumerConfigBuilder, GroupProtocol, IsolationLevel};
pub use consumer::{Consumer, OffsetAndTimestamp, Watermarks};
pub use error::Error;
pub use group::{GroupState, RebalanceContext, RebalanceListener};
pub use kafkaroo_group::member::CloseMode;
pub use kafkaroo_group::{GroupError, MemberState};
pub use kafkaroo_records::{Header, Headers, TimestampType};
pub use record::{ConsumerRecord, PollBatch, TopicPartition};
pub use statistics::{GroupStatistics, PartitionStatistics, Statistics};
pub use trace_context::TraceParent;
