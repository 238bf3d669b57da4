//! What goes in and out of a [`GroupMember`](super::GroupMember): typed requests the driver turns into
//! Kafka messages, typed responses it decoded, events for the application, and the configuration.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::assignor::{Assignor, CooperativeStickyAssignor};
use crate::protocol::TopicPartition;

use super::error::GroupError;

/// Identifies one request the member asked the driver to send. The driver hands it back with the
/// response ([`GroupMember::handle_response`](super::GroupMember::handle_response)). Responses to ids the
/// member no longer waits for (abandoned after a coordinator change, say) are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Identifies one [`commit`](super::GroupMember::commit) call; its [`CommitOutcome`] carries it. A commit
/// may take several requests (retries), hence its own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(pub u64);

/// Where to send a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Any live broker (FindCoordinator).
    AnyBroker,
    /// The group coordinator, by broker node id. Use the group connection, not the fetch connection, so a
    /// long-polling Fetch never delays a heartbeat (scenario 12 in docs/faults-and-invariants.md).
    Coordinator(i32),
}

/// A request to send (`R`: the classic [`Request`], or the consumer protocol's
/// [`consumer_protocol::Request`](crate::consumer_protocol::Request)).
#[derive(Debug, Clone, PartialEq)]
pub struct Transmit<R = Request> {
    /// Hand it back with the response.
    pub id: RequestId,
    /// Where to send it.
    pub target: Target,
    /// What to send.
    pub request: R,
    /// Network timeout for this request. When it elapses without a response, report
    /// [`Response::Failed`]`(`[`TransportFailure::TimedOut`]`)`. For JoinGroup this is the rebalance
    /// timeout plus a margin: a JoinGroup legitimately blocks that long (scenario 12 in
    /// docs/faults-and-invariants.md).
    pub timeout: Duration,
}

/// A typed request; the driver encodes it at the negotiated version (dropping fields that version lacks).
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// FindCoordinator, key type 0 (group).
    FindCoordinator {
        /// `group.id`.
        group_id: String,
    },
    /// JoinGroup.
    JoinGroup(JoinParams),
    /// SyncGroup.
    SyncGroup(SyncParams),
    /// Heartbeat.
    Heartbeat {
        /// `group.id`.
        group_id: String,
        /// Current generation.
        generation_id: i32,
        /// Member id.
        member_id: String,
        /// `group.instance.id` (v3+).
        group_instance_id: Option<String>,
    },
    /// LeaveGroup (v3+ members array with one member).
    LeaveGroup {
        /// `group.id`.
        group_id: String,
        /// Member id.
        member_id: String,
        /// `group.instance.id`.
        group_instance_id: Option<String>,
        /// KIP-800 reason (v5+).
        reason: String,
    },
    /// OffsetCommit.
    OffsetCommit(CommitParams),
    /// OffsetFetch for one group.
    OffsetFetch {
        /// `group.id`.
        group_id: String,
        /// Partitions to fetch.
        partitions: Vec<TopicPartition>,
        /// KIP-447 `require_stable` (v7+): the broker answers UNSTABLE_OFFSET_COMMIT while a transactional
        /// commit is pending instead of returning an offset that may move.
        require_stable: bool,
    },
}

impl Request {
    /// Short name of the API, for logs.
    pub fn api_name(&self) -> &'static str {
        match self {
            Self::FindCoordinator { .. } => "FindCoordinator",
            Self::JoinGroup(_) => "JoinGroup",
            Self::SyncGroup(_) => "SyncGroup",
            Self::Heartbeat { .. } => "Heartbeat",
            Self::LeaveGroup { .. } => "LeaveGroup",
            Self::OffsetCommit(_) => "OffsetCommit",
            Self::OffsetFetch { .. } => "OffsetFetch",
        }
    }
}

/// What a JoinGroup request carries (the driver encodes it as the wire crate's `JoinGroupRequest`).
#[derive(Debug, Clone, PartialEq)]
pub struct JoinParams {
    /// `group.id`.
    pub group_id: String,
    /// Session timeout in ms.
    pub session_timeout_ms: i32,
    /// Rebalance timeout in ms (`max.poll.interval.ms`).
    pub rebalance_timeout_ms: i32,
    /// Member id; empty on a first join (KIP-394 then answers MEMBER_ID_REQUIRED with an id).
    pub member_id: String,
    /// `group.instance.id` (v5+).
    pub group_instance_id: Option<String>,
    /// Always `consumer`.
    pub protocol_type: String,
    /// One entry per configured assignor, in preference order: name and encoded
    /// [`Subscription`](crate::protocol::Subscription).
    pub protocols: Vec<(String, Bytes)>,
    /// KIP-800 reason (v8+).
    pub reason: String,
}

/// What a SyncGroup request carries (encoded as the wire crate's `SyncGroupRequest`).
#[derive(Debug, Clone, PartialEq)]
pub struct SyncParams {
    /// `group.id`.
    pub group_id: String,
    /// Generation from the JoinGroup response.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` (v3+).
    pub group_instance_id: Option<String>,
    /// `consumer` (v5+, KIP-559).
    pub protocol_type: String,
    /// Selected protocol (v5+, KIP-559).
    pub protocol_name: String,
    /// Leader only (and empty when KIP-814 `skip_assignment`): member id → encoded
    /// [`Assignment`](crate::protocol::Assignment).
    pub assignments: Vec<(String, Bytes)>,
}

/// What an OffsetCommit request carries (encoded as the wire crate's `OffsetCommitRequest`). The
/// generation and member id let the broker fence zombies (invariant 9 in docs/faults-and-invariants.md).
#[derive(Debug, Clone, PartialEq)]
pub struct CommitParams {
    /// `group.id`.
    pub group_id: String,
    /// Generation the member is in.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// `group.instance.id` (v7+).
    pub group_instance_id: Option<String>,
    /// The offsets, sorted by partition.
    pub offsets: Vec<OffsetToCommit>,
}

/// One offset to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    /// The partition.
    pub partition: TopicPartition,
    /// Next offset to consume.
    pub offset: i64,
    /// Leader epoch of the last consumed record (KIP-320, OffsetCommit v6+).
    pub leader_epoch: Option<i32>,
    /// Commit metadata.
    pub metadata: Option<String>,
}

impl OffsetToCommit {
    /// An offset without epoch or metadata.
    pub fn new(partition: TopicPartition, offset: i64) -> Self {
        Self {
            partition,
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// [`Transmit::timeout`] elapsed (the driver should also close that connection, so a late request
    /// cannot land after a newer one).
    TimedOut,
    /// The connection failed or closed with the request in flight.
    Disconnected,
}

/// What the driver decoded from a response (or why there is none).
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// FindCoordinator: the coordinator's node id, or an error code.
    FindCoordinator {
        /// Error code (0 = none).
        error_code: i16,
        /// Node id of the coordinator.
        node_id: i32,
    },
    /// JoinGroup.
    JoinGroup(JoinAnswer),
    /// SyncGroup.
    SyncGroup {
        /// Error code.
        error_code: i16,
        /// Selected protocol (v5+), checked against the JoinGroup's (KIP-559).
        protocol_name: Option<String>,
        /// Encoded [`Assignment`](crate::protocol::Assignment) (may be empty).
        assignment: Bytes,
    },
    /// Heartbeat.
    Heartbeat {
        /// Error code.
        error_code: i16,
    },
    /// LeaveGroup (top-level error, or the one member's error).
    LeaveGroup {
        /// Error code.
        error_code: i16,
    },
    /// OffsetCommit: one error code per partition.
    OffsetCommit {
        /// Per-partition error codes. A partition missing from the answer counts as failed.
        partitions: Vec<(TopicPartition, i16)>,
    },
    /// OffsetFetch.
    OffsetFetch {
        /// Group-level error (0 = none).
        error_code: i16,
        /// Per-partition results.
        partitions: Vec<FetchedOffset>,
    },
    /// No response.
    Failed(TransportFailure),
}

/// What the driver decoded from a JoinGroup response (the wire crate's `JoinGroupResponse`).
#[derive(Debug, Clone, PartialEq)]
pub struct JoinAnswer {
    /// Error code.
    pub error_code: i16,
    /// New generation.
    pub generation_id: i32,
    /// Selected protocol (assignor) name.
    pub protocol_name: Option<String>,
    /// Leader's member id.
    pub leader: String,
    /// This member's id (also set with MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// All members with their metadata for the selected protocol (leader only).
    pub members: Vec<JoinedMember>,
    /// KIP-814: the (static) leader must not compute a new assignment.
    pub skip_assignment: bool,
}

/// A member in the leader's JoinGroup response.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// `group.instance.id`.
    pub group_instance_id: Option<String>,
    /// Encoded subscription for the selected protocol.
    pub metadata: Bytes,
}

/// One partition in an OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// Partition.
    pub partition: TopicPartition,
    /// Committed offset, -1 for none.
    pub offset: i64,
    /// Committed leader epoch, -1 for none.
    pub leader_epoch: i32,
    /// Commit metadata.
    pub metadata: Option<String>,
    /// Error code.
    pub error_code: i16,
}

/// A committed offset delivered in [`GroupEvent::OffsetsFetched`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// Partition.
    pub partition: TopicPartition,
    /// Committed offset; `None` when the group has none (then `auto.offset.reset` applies). Never `None`
    /// because the broker left the partition out of its answer: that is retried (scenario 17 in
    /// docs/faults-and-invariants.md).
    pub offset: Option<i64>,
    /// Committed leader epoch.
    pub leader_epoch: Option<i32>,
    /// Commit metadata.
    pub metadata: Option<String>,
}

/// How [`commit`](super::GroupMember::commit) behaves on retriable failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitKind {
    /// Fails on the first retriable error (reported in [`CommitOutcome`]); never retried.
    Async,
    /// Retries retriable errors (coordinator moved/loading, timeouts, lost responses) until `deadline`.
    /// Never retries REBALANCE_IN_PROGRESS or fencing errors (scenario 5 in docs/faults-and-invariants.md).
    Sync {
        /// Give up after this instant.
        deadline: Instant,
    },
}

/// The result of one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// The commit.
    pub id: CommitId,
    /// Partitions whose offsets the broker accepted.
    pub committed: Vec<TopicPartition>,
    /// Partitions that failed, with why. Includes partitions dropped because they were no longer owned
    /// when the request was about to be sent ([`GroupError::NotOwned`]).
    pub failed: Vec<(TopicPartition, GroupError)>,
}

impl CommitOutcome {
    /// Whether every partition was committed.
    pub fn is_ok(&self) -> bool {
        self.failed.is_empty()
    }
}

/// The membership state, for health checks. See the [module docs](super) for the diagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Not subscribed, left, or closed.
    Unjoined,
    /// Waiting for FindCoordinator (membership, if any, is kept).
    FindingCoordinator,
    /// JoinGroup to send or in flight.
    Joining,
    /// SyncGroup to send or in flight.
    Syncing,
    /// Member of a stable generation.
    Stable,
    /// Waiting for the application's [`revocation_done`](super::GroupMember::revocation_done).
    Revoking,
    /// Membership lost because the application stopped polling; rejoins on the next
    /// [`poll_called`](super::GroupMember::poll_called).
    Lost,
    /// LeaveGroup in flight (close or leave).
    Leaving,
    /// A fatal error happened; the member does nothing more.
    Fatal,
}

/// Something the application (or the driver) must know.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupEvent {
    /// [`GroupMember::state`](super::GroupMember::state) changed.
    StateChanged {
        /// Before.
        from: MemberState,
        /// After.
        to: MemberState,
        /// Why the member is rebalancing: on every change into a step of a rebalance
        /// (`FindingCoordinator`, `Joining`, `Syncing`, `Revoking`) and on the change to `Stable` that
        /// completes it, the cause noted when it started; `None` otherwise (and while leaving).
        cause: Option<crate::RebalanceCause>,
    },
    /// Partitions newly added by a rebalance (retained partitions are not repeated). Emitted after every
    /// completed SyncGroup, possibly empty (like Java's `onPartitionsAssigned`). Start the partitions'
    /// fetch positions from [`GroupEvent::OffsetsFetched`] (the member fetches them by itself), run the
    /// application callback, then call [`assignment_done`](super::GroupMember::assignment_done).
    Assigned {
        /// Generation of the assignment.
        generation: i32,
        /// The added partitions, sorted.
        partitions: Vec<TopicPartition>,
    },
    /// Partitions to give up: stop fetching them, drop their buffered records, run the application
    /// callback (commit there if wanted: the member still owns them and commits are accepted), then call
    /// [`revocation_done`](super::GroupMember::revocation_done). They are released only then.
    Revoked {
        /// The revoked partitions, sorted.
        partitions: Vec<TopicPartition>,
    },
    /// Partitions already lost (membership expired or fenced): stop fetching, drop buffered records, do
    /// **not** commit them. No acknowledgement is needed.
    Lost {
        /// The lost partitions, sorted.
        partitions: Vec<TopicPartition>,
        /// Why.
        reason: GroupError,
    },
    /// Committed offsets of newly assigned partitions (possibly in several batches; partitions revoked
    /// or lost meanwhile are left out).
    OffsetsFetched {
        /// The offsets.
        offsets: Vec<CommittedOffset>,
    },
    /// A commit finished.
    CommitResult(CommitOutcome),
    /// A fatal error: the member stopped. Surface it to the application.
    Fatal(GroupError),
    /// [`close`](super::GroupMember::close) or [`leave`](super::GroupMember::leave) finished.
    Closed,
}

/// How [`close`](super::GroupMember::close) ends the membership (KIP-1092 `CloseOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseMode {
    /// Dynamic members leave, static members remain (KAFKA-6995): a static member restarting within
    /// `session.timeout.ms` gets its assignment back without a rebalance.
    Default,
    /// Always send LeaveGroup.
    Leave,
    /// Never send LeaveGroup; the coordinator expires the member after `session.timeout.ms`.
    Remain,
}

/// Configuration of a [`GroupMember`](super::GroupMember).
#[derive(Debug, Clone)]
pub struct MemberConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id` (static membership, KIP-345).
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms` (default 45 s).
    pub session_timeout: Duration,
    /// `heartbeat.interval.ms` (default 3 s).
    pub heartbeat_interval: Duration,
    /// `max.poll.interval.ms` (default 5 min); also the rebalance timeout.
    pub max_poll_interval: Duration,
    /// `request.timeout.ms` for everything except JoinGroup (default 30 s).
    pub request_timeout: Duration,
    /// Added to the rebalance timeout for the JoinGroup network timeout (default 5 s).
    pub join_timeout_margin: Duration,
    /// `retry.backoff.ms` (default 100 ms): first backoff; doubles per attempt.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1 s).
    pub retry_backoff_max: Duration,
    /// `partition.assignment.strategy`, in preference order (default `cooperative-sticky`). Eager and
    /// cooperative assignors must not be mixed (as librdkafka); the member is cooperative only if all are.
    pub assignors: Vec<Arc<dyn Assignor>>,
    /// `client.rack` (KIP-881; sent in the subscription).
    pub rack_id: Option<String>,
    /// OffsetFetch `require_stable` (default true).
    pub require_stable_offsets: bool,
    /// Seed of the backoff jitter (KIP-580); the member is deterministic for a given seed.
    pub jitter_seed: u64,
}

impl MemberConfig {
    /// Defaults for `group_id`.
    pub fn new(group_id: impl Into<String>) -> Self {
        Self {
            group_id: group_id.into(),
            group_instance_id: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            max_poll_interval: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            join_timeout_margin: Duration::from_secs(5),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            assignors: vec![Arc::new(CooperativeStickyAssignor)],
            rack_id: None,
            require_stable_offsets: true,
            jitter_seed: 0,
        }
    }
}
