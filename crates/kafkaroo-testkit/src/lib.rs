//! kafkaroo-testkit: an in-process fake Kafka cluster for fast, deterministic fault-injection tests, in
//! the spirit of franz-go's `kfake`.
//!
//! Each broker listens on its own `127.0.0.1:0` TCP port and speaks the real wire protocol (frames,
//! headers, flexible versions), so the client under test runs unmodified. The cluster keeps topics with
//! topic ids, partitions with a leader, a leader epoch and an in-memory log of record batches (built with
//! `kafkaroo_records::test_encoder`), log start and end offsets, and a leader-epoch history.
//!
//! Served APIs: ApiVersions, Metadata, ListOffsets, Fetch (sessions, topic ids, KIP-951 leader hints,
//! diverging epochs, byte limits with KIP-74, long polling, and a KIP-392 preferred read replica set
//! with [`Cluster::prefer_read_replica`]) and OffsetForLeaderEpoch; and a
//! classic-protocol group coordinator after Kafka's `GroupCoordinator`: FindCoordinator v0–6 (batched
//! keys in v4+), JoinGroup v0–9 (KIP-394 MEMBER_ID_REQUIRED, generations, the first member leads and
//! gets the members' metadata, rebalances waiting up to the rebalance timeout for every known member,
//! static members with KIP-814 `skip_assignment`), SyncGroup v0–5, Heartbeat v0–4 (REBALANCE_IN_PROGRESS,
//! ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, session expiry), LeaveGroup v0–5,
//! OffsetCommit v2–9 (member and generation checks) and OffsetFetch v1–9 (grouped v8+ form,
//! `require_stable` with UNSTABLE_OFFSET_COMMIT). One broker coordinates every group
//! ([`ClusterBuilder::coordinator`], [`Cluster::move_coordinator`]; the others answer NOT_COORDINATOR).
//! The write side serves Produce v3–13 (the leader's checks: leadership, CRC, and an idempotent
//! producer's sequence numbers, so a retried batch is answered with its first offset and written once),
//! InitProducerId v0–5, CreateTopics v2–7 and DeleteTopics v1–6, so real producers (kcat, Java's) and
//! admin clients can write to the fake; ListGroups v0–5 and DescribeGroups v0–5 show its groups to
//! `kafka-consumer-groups.sh` and `kafkaroo group`. ConsumerGroupHeartbeat v0–1 (KIP-848) has a consumer
//! group coordinator with the `uniform` and `range` assignors ([`Cluster::consumer_group`]); a member
//! joining v0 without a member id gets one from the coordinator. Not served: transactions
//! (InitProducerId with a `transactional.id` is refused), group size limits and session timeout bounds.
//!
//! Group faults go through the same controls: [`Cluster::fail_next`] answers the next requests of a
//! group API with an error code (see [`RequestInfo::error_response`]); [`Cluster::trigger_rebalance`],
//! [`Cluster::expire_member`] and [`Cluster::set_unstable_offsets`] change the coordinator's state.
//!
//! ```no_run
//! # async fn demo() -> Result<(), kafkaroo_testkit::Error> {
//! use kafkaroo_testkit::{Action, ApiKey, Cluster};
//! use kafkaroo_wire::ErrorCode;
//!
//! let cluster = Cluster::builder().brokers(2).topic("t", 1).build().await?;
//! cluster.produce("t", 0, ["a", "b", "c"])?;
//! let t = cluster.topic("t")?;
//! // The next Fetch of t-0 answers NOT_LEADER_OR_FOLLOWER.
//! cluster.fail_fetch(&t, 0, ErrorCode::NOT_LEADER_OR_FOLLOWER, 1);
//! // Every Fetch to broker 2 gets no answer at all.
//! cluster.control(|req| {
//!     if req.broker == 2 && req.fetch().is_some() { Action::black_hole() } else { Action::pass() }
//! });
//! // The next two JoinGroup requests get COORDINATOR_LOAD_IN_PROGRESS.
//! cluster.fail_next(ApiKey::JoinGroup, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, 2);
//! # Ok(()) }
//! ```
//!
//! A test of your own consumer code against an injected fault, as it runs here:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::time::Duration;
//! use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
//! use kafkaroo_testkit::Cluster;
//! use kafkaroo_wire::ErrorCode;
//!
//! let cluster = Cluster::builder().topic("orders", 1).build().await.unwrap();
//! cluster.produce("orders", 0, ["a", "b", "c"]).unwrap();
//! // The first fetch of orders-0 fails as if the leader had just moved.
//! let orders = cluster.topic("orders").unwrap();
//! let fault = cluster.fail_fetch(&orders, 0, ErrorCode::NOT_LEADER_OR_FOLLOWER, 1);
//!
//! let config = ConsumerConfig::builder()
//!     .bootstrap_servers(&cluster.bootstrap())
//!     .auto_offset_reset(AutoOffsetReset::Earliest)
//!     .build()
//!     .unwrap();
//! let mut consumer = Consumer::new(config).await.unwrap();
//! consumer.assign([TopicPartition::new("orders", 0)]).unwrap();
//! let mut values = Vec::new();
//! while values.len() < 3 {
//!     // The retriable error never reaches the application: poll just returns the records.
//!     for record in consumer.poll(Duration::from_millis(100)).await.unwrap().iter() {
//!         values.push(record.value().unwrap().to_vec());
//!     }
//! }
//! assert_eq!(values, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
//! assert_eq!(cluster.fired(fault), 1, "the fault was injected once");
//! # });
//! ```
//!
//! It complements, never replaces, tests against a real broker: the fake is as right as its author's
//! reading of the protocol.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admin_api;
mod broker;
mod cluster;
mod consumer_group;
mod control;
mod coordinator;
mod error;
mod faults;
mod group_api;
mod group_wire;
mod log;
mod messages;
mod produce_api;
mod producers;
mod sasl;
mod state;

pub use cluster::{
    CONSUMER_GROUP_VERSIONS, Cluster, ClusterBuilder, DEFAULT_VERSIONS, FetchSessionInfo, GROUP_VERSIONS,
    PRODUCE_VERSIONS,
};
pub use consumer_group::{ConsumerGroupInfo, ConsumerMemberInfo};
pub use control::{Action, ControlId, RequestInfo};
pub use coordinator::{GroupInfo, GroupPhase, MemberInfo};
pub use error::Error;
pub use kafkaroo_records::Compression;
pub use kafkaroo_records::test_encoder::{TestBatch, TestRecord};
pub use kafkaroo_wire::messages::ApiKey;
pub use messages::{Request, Response, TopicRef};
pub use sasl::{FakeSaslBroker, SaslBehaviour, SaslLog};
pub use state::LoggedRequest;
