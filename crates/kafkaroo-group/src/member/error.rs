//! [`GroupError`] and the Kafka error codes the member reacts to.

use thiserror::Error;

use crate::protocol::TopicPartition;

/// Kafka error codes used by the group protocol (values from Kafka's `Errors.java`).
pub mod codes {
    /// No error.
    pub const NONE: i16 = 0;
    /// UNKNOWN_TOPIC_OR_PARTITION.
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    /// REQUEST_TIMED_OUT.
    pub const REQUEST_TIMED_OUT: i16 = 7;
    /// OFFSET_METADATA_TOO_LARGE.
    pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
    /// COORDINATOR_LOAD_IN_PROGRESS.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// COORDINATOR_NOT_AVAILABLE.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// NOT_COORDINATOR.
    pub const NOT_COORDINATOR: i16 = 16;
    /// ILLEGAL_GENERATION.
    pub const ILLEGAL_GENERATION: i16 = 22;
    /// INCONSISTENT_GROUP_PROTOCOL.
    pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
    /// INVALID_GROUP_ID.
    pub const INVALID_GROUP_ID: i16 = 24;
    /// UNKNOWN_MEMBER_ID.
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    /// INVALID_SESSION_TIMEOUT.
    pub const INVALID_SESSION_TIMEOUT: i16 = 26;
    /// REBALANCE_IN_PROGRESS.
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    /// INVALID_COMMIT_OFFSET_SIZE.
    pub const INVALID_COMMIT_OFFSET_SIZE: i16 = 28;
    /// TOPIC_AUTHORIZATION_FAILED.
    pub const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
    /// GROUP_AUTHORIZATION_FAILED.
    pub const GROUP_AUTHORIZATION_FAILED: i16 = 30;
    /// UNSUPPORTED_VERSION.
    pub const UNSUPPORTED_VERSION: i16 = 35;
    /// MEMBER_ID_REQUIRED (KIP-394).
    pub const MEMBER_ID_REQUIRED: i16 = 79;
    /// GROUP_MAX_SIZE_REACHED.
    pub const GROUP_MAX_SIZE_REACHED: i16 = 81;
    /// FENCED_INSTANCE_ID (KIP-345).
    pub const FENCED_INSTANCE_ID: i16 = 82;
    /// UNSTABLE_OFFSET_COMMIT (KIP-447).
    pub const UNSTABLE_OFFSET_COMMIT: i16 = 88;
    /// INVALID_REQUEST.
    pub const INVALID_REQUEST: i16 = 42;
    /// FENCED_MEMBER_EPOCH (KIP-848).
    pub const FENCED_MEMBER_EPOCH: i16 = 110;
    /// UNRELEASED_INSTANCE_ID (KIP-848).
    pub const UNRELEASED_INSTANCE_ID: i16 = 111;
    /// UNSUPPORTED_ASSIGNOR (KIP-848).
    pub const UNSUPPORTED_ASSIGNOR: i16 = 112;
    /// INVALID_REGULAR_EXPRESSION (KIP-848).
    pub const INVALID_REGULAR_EXPRESSION: i16 = 128;
}

/// A group membership or commit error.
///
/// `Clone` so one error can be reported to several waiters (pending commits, the fatal event).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GroupError {
    /// COORDINATOR_LOAD_IN_PROGRESS (14): retried internally with backoff.
    #[error("the group coordinator is loading the group (COORDINATOR_LOAD_IN_PROGRESS)")]
    CoordinatorLoadInProgress,
    /// COORDINATOR_NOT_AVAILABLE (15) or NOT_COORDINATOR (16): the coordinator is rediscovered.
    #[error("the group coordinator moved or is unavailable (error {code})")]
    CoordinatorMoved {
        /// 15 or 16.
        code: i16,
    },
    /// REQUEST_TIMED_OUT (7) from the broker.
    #[error("the broker timed out the request (REQUEST_TIMED_OUT)")]
    RequestTimedOut,
    /// No response: timeout or disconnect.
    #[error("no response from the broker: {0:?}")]
    Transport(super::io::TransportFailure),
    /// REBALANCE_IN_PROGRESS (27), or a commit attempted while the member is rejoining. Retry the commit
    /// after the rebalance, for partitions still owned then.
    #[error("a rebalance is in progress; commit again after it for partitions still owned")]
    RebalanceInProgress,
    /// ILLEGAL_GENERATION (22): the member's generation is stale.
    #[error("stale generation {generation} (ILLEGAL_GENERATION)")]
    IllegalGeneration {
        /// The generation the request carried.
        generation: i32,
    },
    /// UNKNOWN_MEMBER_ID (25): the coordinator no longer knows this member.
    #[error("the coordinator does not know member {member_id:?} (UNKNOWN_MEMBER_ID)")]
    UnknownMemberId {
        /// The member id the request carried.
        member_id: String,
    },
    /// The member detected locally that its session expired (no successful heartbeat within
    /// `session.timeout.ms`, scenario 3 in docs/faults-and-invariants.md).
    #[error("session expired: no heartbeat acknowledged within session.timeout.ms")]
    SessionExpired,
    /// `max.poll.interval.ms` elapsed without [`poll_called`](super::GroupMember::poll_called).
    #[error(
        "max.poll.interval.ms exceeded: the application did not poll in time; the member left the group \
         and rejoins on the next poll"
    )]
    MaxPollIntervalExceeded,
    /// FENCED_INSTANCE_ID (82): another consumer uses the same `group.instance.id`. Fatal.
    #[error(
        "group.instance.id {instance_id:?} is used by another consumer (FENCED_INSTANCE_ID); this member \
         stopped"
    )]
    FencedInstanceId {
        /// The instance id.
        instance_id: String,
    },
    /// GROUP_MAX_SIZE_REACHED (81). Fatal.
    #[error("the group is full (GROUP_MAX_SIZE_REACHED, broker group.max.size)")]
    GroupMaxSizeReached,
    /// INVALID_SESSION_TIMEOUT (26). Fatal.
    #[error(
        "session.timeout.ms={session_timeout_ms} is outside the broker's \
         [group.min.session.timeout.ms, group.max.session.timeout.ms] (INVALID_SESSION_TIMEOUT)"
    )]
    InvalidSessionTimeout {
        /// The configured value.
        session_timeout_ms: i32,
    },
    /// INCONSISTENT_GROUP_PROTOCOL (23), or a protocol name we did not offer. Fatal.
    #[error("inconsistent group protocol: {0}")]
    InconsistentGroupProtocol(String),
    /// GROUP_AUTHORIZATION_FAILED (30). Fatal.
    #[error(
        "not authorized to access group {group_id:?} (GROUP_AUTHORIZATION_FAILED): grant this principal READ on the group (kafka-acls --add --allow-principal User:<name> --operation Read --group {group_id})"
    )]
    GroupAuthorizationFailed {
        /// `group.id`.
        group_id: String,
    },
    /// TOPIC_AUTHORIZATION_FAILED (29). Fatal during OffsetFetch; fails the partition in a commit.
    #[error("not authorized to access topic of {partition} (TOPIC_AUTHORIZATION_FAILED)")]
    TopicAuthorizationFailed {
        /// The partition.
        partition: TopicPartition,
    },
    /// UNSTABLE_OFFSET_COMMIT (88): retried internally.
    #[error("a transactional offset commit is pending (UNSTABLE_OFFSET_COMMIT)")]
    UnstableOffsetCommit,
    /// A commit named partitions this member does not own (rebalance-safe commits, invariant 8 in
    /// docs/faults-and-invariants.md).
    #[error("partitions not owned by this member: {partitions:?}")]
    NotOwned {
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// The member is not in a generation (not joined yet, lost, left).
    #[error("not a member of the group")]
    NotMember,
    /// A sync commit did not succeed before its deadline; `last` is the last failure.
    #[error("commit did not complete before its deadline (last error: {last})")]
    CommitTimedOut {
        /// Last error seen.
        last: Box<Self>,
    },
    /// The leader's assignor failed. Fatal.
    #[error("assignor failed: {0}")]
    Assignor(String),
    /// Undecodable assignment or another protocol violation by the broker.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// `close` was called.
    #[error("the member is closed")]
    Closed,
    /// FENCED_MEMBER_EPOCH (110, KIP-848): the coordinator fenced this member's epoch. Its partitions are
    /// lost; it rejoins with epoch 0 and the same member id.
    #[error("member epoch {member_epoch} was fenced by the group coordinator (FENCED_MEMBER_EPOCH)")]
    FencedMemberEpoch {
        /// The epoch the request carried.
        member_epoch: i32,
    },
    /// UNRELEASED_INSTANCE_ID (111, KIP-848): another member still holds this `group.instance.id`.
    /// Fatal.
    #[error(
        "group.instance.id {instance_id:?} is still used by another member of the group \
         (UNRELEASED_INSTANCE_ID): that member must leave first, or use another group.instance.id"
    )]
    UnreleasedInstanceId {
        /// The instance id.
        instance_id: String,
    },
    /// UNSUPPORTED_ASSIGNOR (112, KIP-848): the broker has no such `group.remote.assignor`. Fatal.
    #[error(
        "group.remote.assignor {assignor:?} is not supported by the group coordinator \
         (UNSUPPORTED_ASSIGNOR; Kafka's are uniform and range)"
    )]
    UnsupportedAssignor {
        /// The configured assignor (`None`: the broker's default).
        assignor: Option<String>,
    },
    /// UNSUPPORTED_VERSION (35) to ConsumerGroupHeartbeat: the broker lists the API but the consumer
    /// group protocol is disabled on it (as Kafka 3.9 by default). Fatal: kafkaroo never falls back to
    /// the classic protocol by itself.
    #[error(
        "the broker does not accept the consumer group protocol (UNSUPPORTED_VERSION to \
         ConsumerGroupHeartbeat; the broker must run Kafka 4.0+ or enable it with \
         group.coordinator.rebalance.protocols=classic,consumer): set group.protocol=classic on \
         the consumer to use the classic protocol{}",
        .message.as_deref().map(|m| format!(" (broker: {m})")).unwrap_or_default()
    )]
    ConsumerProtocolUnsupported {
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// INVALID_REGULAR_EXPRESSION (128, KIP-848): the coordinator cannot compile the subscribed
    /// regular expression (RE2/J syntax). Fatal until the application subscribes to another one.
    #[error(
        "the group coordinator refused the subscribed regular expression {regex:?} \
         (INVALID_REGULAR_EXPRESSION{}): it must be RE2/J syntax matching whole topic names",
        .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
    )]
    InvalidRegularExpression {
        /// The expression sent.
        regex: String,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// INVALID_REQUEST (42): the broker refused the request as malformed. Fatal.
    #[error("the broker refused {api} as invalid (INVALID_REQUEST){}",
        .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    InvalidRequest {
        /// API name.
        api: &'static str,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// An error code `api` has no rule for. Fatal, as in Java's consumer, rather than retried in a loop.
    #[error("unexpected error {code} ({}) in {api}{}", kafkaroo_wire::ErrorCode(*.code).name(),
        .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Unexpected {
        /// API name.
        api: &'static str,
        /// Error code.
        code: i16,
        /// The broker's error message, if any.
        message: Option<String>,
    },
    /// Another broker error code.
    #[error("broker error {code} in {api}")]
    Broker {
        /// API name.
        api: &'static str,
        /// Error code.
        code: i16,
    },
}

impl GroupError {
    /// The Kafka error code, where there is one.
    pub fn code(&self) -> Option<i16> {
        use codes::*;
        Some(match self {
            Self::CoordinatorLoadInProgress => COORDINATOR_LOAD_IN_PROGRESS,
            Self::CoordinatorMoved { code } => *code,
            Self::RequestTimedOut => REQUEST_TIMED_OUT,
            Self::RebalanceInProgress => REBALANCE_IN_PROGRESS,
            Self::IllegalGeneration { .. } => ILLEGAL_GENERATION,
            Self::UnknownMemberId { .. } => UNKNOWN_MEMBER_ID,
            Self::FencedInstanceId { .. } => FENCED_INSTANCE_ID,
            Self::GroupMaxSizeReached => GROUP_MAX_SIZE_REACHED,
            Self::InvalidSessionTimeout { .. } => INVALID_SESSION_TIMEOUT,
            Self::GroupAuthorizationFailed { .. } => GROUP_AUTHORIZATION_FAILED,
            Self::TopicAuthorizationFailed { .. } => TOPIC_AUTHORIZATION_FAILED,
            Self::UnstableOffsetCommit => UNSTABLE_OFFSET_COMMIT,
            Self::Broker { code, .. } => *code,
            Self::InconsistentGroupProtocol(_) => INCONSISTENT_GROUP_PROTOCOL,
            Self::FencedMemberEpoch { .. } => FENCED_MEMBER_EPOCH,
            Self::UnreleasedInstanceId { .. } => UNRELEASED_INSTANCE_ID,
            Self::UnsupportedAssignor { .. } => UNSUPPORTED_ASSIGNOR,
            Self::ConsumerProtocolUnsupported { .. } => UNSUPPORTED_VERSION,
            Self::InvalidRequest { .. } => INVALID_REQUEST,
            Self::InvalidRegularExpression { .. } => INVALID_REGULAR_EXPRESSION,
            Self::Unexpected { code, .. } => *code,
            Self::CommitTimedOut { last } => return last.code(),
            _ => return None,
        })
    }

    /// Whether retrying the operation later can succeed (commits: after the rebalance or rediscovery).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::CoordinatorLoadInProgress
            | Self::CoordinatorMoved { .. }
            | Self::RequestTimedOut
            | Self::Transport(_)
            | Self::RebalanceInProgress
            | Self::UnstableOffsetCommit
            | Self::CommitTimedOut { .. } => true,
            Self::Broker { code, .. } => matches!(*code, codes::UNKNOWN_TOPIC_OR_PARTITION),
            _ => false,
        }
    }

    /// Whether the member stopped because of it (it then emits [`GroupEvent::Fatal`](super::GroupEvent)).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::FencedInstanceId { .. }
                | Self::GroupMaxSizeReached
                | Self::InvalidSessionTimeout { .. }
                | Self::InconsistentGroupProtocol(_)
                | Self::GroupAuthorizationFailed { .. }
                | Self::TopicAuthorizationFailed { .. }
                | Self::Assignor(_)
                | Self::UnreleasedInstanceId { .. }
                | Self::UnsupportedAssignor { .. }
                | Self::ConsumerProtocolUnsupported { .. }
                | Self::InvalidRequest { .. }
                | Self::InvalidRegularExpression { .. }
                | Self::Unexpected { .. }
        ) || matches!(self, Self::Broker { code, .. } if *code == codes::UNSUPPORTED_VERSION || *code == codes::INVALID_GROUP_ID)
    }
}
