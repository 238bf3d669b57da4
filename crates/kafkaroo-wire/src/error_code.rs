//! Kafka's error codes as data: name, retriability and whether a consumer must give up.
//!
//! Retriability follows Kafka's own `Errors.java` (a `RetriableException` subclass means the same request
//! may succeed later). "Fatal" is the consumer's view: retrying cannot help and the application must be
//! told (authorization failures, a fenced static member, a configuration the broker refuses).
//! Codes this table does not know are kept as numbers, never lost.
//! The `TABLE` at the end is the single source of truth: one row per code, contiguous from -1.

/// A Kafka protocol error code, as carried in responses. `ErrorCode::NONE` (0) means success.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ErrorCode(pub i16);

struct Entry {
    name: &'static str,
    retriable: bool,
    fatal: bool,
    description: &'static str,
}

impl ErrorCode {
    /// The server experienced an unexpected error when processing the request.
    pub const UNKNOWN_SERVER_ERROR: Self = Self(-1);
    /// No error.
    pub const NONE: Self = Self(0);
    /// The requested offset is not within the range of offsets maintained by the server.
    pub const OFFSET_OUT_OF_RANGE: Self = Self(1);
    /// The message contents does not match its CRC, or the record is otherwise corrupt.
    pub const CORRUPT_MESSAGE: Self = Self(2);
    /// This server does not host this topic-partition.
    pub const UNKNOWN_TOPIC_OR_PARTITION: Self = Self(3);
    /// The requested fetch size is invalid.
    pub const INVALID_FETCH_SIZE: Self = Self(4);
    /// There is no leader for this topic-partition as we are in the middle of a leadership election.
    pub const LEADER_NOT_AVAILABLE: Self = Self(5);
    /// For requests intended only for the leader, this broker is not the leader of the partition; or the broker is not a replica.
    pub const NOT_LEADER_OR_FOLLOWER: Self = Self(6);
    /// The request timed out.
    pub const REQUEST_TIMED_OUT: Self = Self(7);
    /// The broker is not available.
    pub const BROKER_NOT_AVAILABLE: Self = Self(8);
    /// The replica is not available for the requested topic-partition.
    pub const REPLICA_NOT_AVAILABLE: Self = Self(9);
    /// The request included a message larger than the max message size the server will accept.
    pub const MESSAGE_TOO_LARGE: Self = Self(10);
    /// The controller moved to another broker.
    pub const STALE_CONTROLLER_EPOCH: Self = Self(11);
    /// The metadata field of the offset request was too large.
    pub const OFFSET_METADATA_TOO_LARGE: Self = Self(12);
    /// The server disconnected before a response was received.
    pub const NETWORK_EXCEPTION: Self = Self(13);
    /// The coordinator is loading and hence can't process requests.
    pub const COORDINATOR_LOAD_IN_PROGRESS: Self = Self(14);
    /// The coordinator is not available.
    pub const COORDINATOR_NOT_AVAILABLE: Self = Self(15);
    /// This is not the correct coordinator.
    pub const NOT_COORDINATOR: Self = Self(16);
    /// The request attempted to perform an operation on an invalid topic.
    pub const INVALID_TOPIC_EXCEPTION: Self = Self(17);
    /// The request included message batch larger than the configured segment size on the server.
    pub const RECORD_LIST_TOO_LARGE: Self = Self(18);
    /// Messages are rejected since there are fewer in-sync replicas than required.
    pub const NOT_ENOUGH_REPLICAS: Self = Self(19);
    /// Messages are written to the log, but to fewer in-sync replicas than required.
    pub const NOT_ENOUGH_REPLICAS_AFTER_APPEND: Self = Self(20);
    /// Produce request specified an invalid value for required acks.
    pub const INVALID_REQUIRED_ACKS: Self = Self(21);
    /// Specified group generation id is not valid.
    pub const ILLEGAL_GENERATION: Self = Self(22);
    /// The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.
    pub const INCONSISTENT_GROUP_PROTOCOL: Self = Self(23);
    /// The configured groupId is invalid.
    pub const INVALID_GROUP_ID: Self = Self(24);
    /// The coordinator is not aware of this member.
    pub const UNKNOWN_MEMBER_ID: Self = Self(25);
    /// The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).
    pub const INVALID_SESSION_TIMEOUT: Self = Self(26);
    /// The group is rebalancing, so a rejoin is needed.
    pub const REBALANCE_IN_PROGRESS: Self = Self(27);
    /// The committing offset data size is not valid.
    pub const INVALID_COMMIT_OFFSET_SIZE: Self = Self(28);
    /// Topic authorization failed.
    pub const TOPIC_AUTHORIZATION_FAILED: Self = Self(29);
    /// Group authorization failed.
    pub const GROUP_AUTHORIZATION_FAILED: Self = Self(30);
    /// Cluster authorization failed.
    pub const CLUSTER_AUTHORIZATION_FAILED: Self = Self(31);
    /// The timestamp of the message is out of acceptable range.
    pub const INVALID_TIMESTAMP: Self = Self(32);
    /// The broker does not support the requested SASL mechanism.
    pub const UNSUPPORTED_SASL_MECHANISM: Self = Self(33);
    /// Request is not valid given the current SASL state.
    pub const ILLEGAL_SASL_STATE: Self = Self(34);
    /// The version of API is not supported.
    pub const UNSUPPORTED_VERSION: Self = Self(35);
    /// Topic with this name already exists.
    pub const TOPIC_ALREADY_EXISTS: Self = Self(36);
    /// Number of partitions is below 1.
    pub const INVALID_PARTITIONS: Self = Self(37);
    /// Replication factor is below 1 or larger than the number of available brokers.
    pub const INVALID_REPLICATION_FACTOR: Self = Self(38);
    /// Replica assignment is invalid.
    pub const INVALID_REPLICA_ASSIGNMENT: Self = Self(39);
    /// Configuration is invalid.
    pub const INVALID_CONFIG: Self = Self(40);
    /// This is not the correct controller for this cluster.
    pub const NOT_CONTROLLER: Self = Self(41);
    /// This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker.
    pub const INVALID_REQUEST: Self = Self(42);
    /// The message format version on the broker does not support the request.
    pub const UNSUPPORTED_FOR_MESSAGE_FORMAT: Self = Self(43);
    /// Request parameters do not satisfy the configured policy.
    pub const POLICY_VIOLATION: Self = Self(44);
    /// The broker received an out of order sequence number.
    pub const OUT_OF_ORDER_SEQUENCE_NUMBER: Self = Self(45);
    /// The broker received a duplicate sequence number.
    pub const DUPLICATE_SEQUENCE_NUMBER: Self = Self(46);
    /// Producer attempted to produce with an old epoch.
    pub const INVALID_PRODUCER_EPOCH: Self = Self(47);
    /// The producer attempted a transactional operation in an invalid state.
    pub const INVALID_TXN_STATE: Self = Self(48);
    /// The producer attempted to use a producer id which is not currently assigned to its transactional id.
    pub const INVALID_PRODUCER_ID_MAPPING: Self = Self(49);
    /// The transaction timeout is larger than the maximum value allowed by the broker.
    pub const INVALID_TRANSACTION_TIMEOUT: Self = Self(50);
    /// The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.
    pub const CONCURRENT_TRANSACTIONS: Self = Self(51);
    /// Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.
    pub const TRANSACTION_COORDINATOR_FENCED: Self = Self(52);
    /// Transactional Id authorization failed.
    pub const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: Self = Self(53);
    /// Security features are disabled.
    pub const SECURITY_DISABLED: Self = Self(54);
    /// The broker did not attempt to execute this operation.
    pub const OPERATION_NOT_ATTEMPTED: Self = Self(55);
    /// Disk error when trying to access log file on the disk.
    pub const KAFKA_STORAGE_ERROR: Self = Self(56);
    /// The user-specified log directory is not found in the broker config.
    pub const LOG_DIR_NOT_FOUND: Self = Self(57);
    /// SASL Authentication failed.
    pub const SASL_AUTHENTICATION_FAILED: Self = Self(58);
    /// This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question.
    pub const UNKNOWN_PRODUCER_ID: Self = Self(59);
    /// A partition reassignment is in progress.
    pub const REASSIGNMENT_IN_PROGRESS: Self = Self(60);
    /// Delegation Token feature is not enabled.
    pub const DELEGATION_TOKEN_AUTH_DISABLED: Self = Self(61);
    /// Delegation Token is not found on server.
    pub const DELEGATION_TOKEN_NOT_FOUND: Self = Self(62);
    /// Specified Principal is not valid Owner/Renewer.
    pub const DELEGATION_TOKEN_OWNER_MISMATCH: Self = Self(63);
    /// Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.
    pub const DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: Self = Self(64);
    /// Delegation Token authorization failed.
    pub const DELEGATION_TOKEN_AUTHORIZATION_FAILED: Self = Self(65);
    /// Delegation Token is expired.
    pub const DELEGATION_TOKEN_EXPIRED: Self = Self(66);
    /// Supplied principalType is not supported.
    pub const INVALID_PRINCIPAL_TYPE: Self = Self(67);
    /// The group is not empty.
    pub const NON_EMPTY_GROUP: Self = Self(68);
    /// The group id does not exist.
    pub const GROUP_ID_NOT_FOUND: Self = Self(69);
    /// The fetch session ID was not found.
    pub const FETCH_SESSION_ID_NOT_FOUND: Self = Self(70);
    /// The fetch session epoch is invalid.
    pub const INVALID_FETCH_SESSION_EPOCH: Self = Self(71);
    /// There is no listener on the leader broker that matches the listener on which metadata request was processed.
    pub const LISTENER_NOT_FOUND: Self = Self(72);
    /// Topic deletion is disabled.
    pub const TOPIC_DELETION_DISABLED: Self = Self(73);
    /// The leader epoch in the request is older than the epoch on the broker.
    pub const FENCED_LEADER_EPOCH: Self = Self(74);
    /// The leader epoch in the request is newer than the epoch on the broker.
    pub const UNKNOWN_LEADER_EPOCH: Self = Self(75);
    /// The requesting client does not support the compression type of given partition.
    pub const UNSUPPORTED_COMPRESSION_TYPE: Self = Self(76);
    /// Broker epoch has changed.
    pub const STALE_BROKER_EPOCH: Self = Self(77);
    /// The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.
    pub const OFFSET_NOT_AVAILABLE: Self = Self(78);
    /// The group member needs to have a valid member id before actually entering a consumer group.
    pub const MEMBER_ID_REQUIRED: Self = Self(79);
    /// The preferred leader was not available.
    pub const PREFERRED_LEADER_NOT_AVAILABLE: Self = Self(80);
    /// The group has reached its maximum size.
    pub const GROUP_MAX_SIZE_REACHED: Self = Self(81);
    /// The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.
    pub const FENCED_INSTANCE_ID: Self = Self(82);
    /// Eligible topic partition leaders are not available.
    pub const ELIGIBLE_LEADERS_NOT_AVAILABLE: Self = Self(83);
    /// Leader election not needed for topic partition.
    pub const ELECTION_NOT_NEEDED: Self = Self(84);
    /// No partition reassignment is in progress.
    pub const NO_REASSIGNMENT_IN_PROGRESS: Self = Self(85);
    /// Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.
    pub const GROUP_SUBSCRIBED_TO_TOPIC: Self = Self(86);
    /// This record has failed the validation on broker and hence will be rejected.
    pub const INVALID_RECORD: Self = Self(87);
    /// There are unstable offsets that need to be cleared.
    pub const UNSTABLE_OFFSET_COMMIT: Self = Self(88);
    /// The throttling quota has been exceeded.
    pub const THROTTLING_QUOTA_EXCEEDED: Self = Self(89);
    /// There is a newer producer with the same transactionalId which fences the current one.
    pub const PRODUCER_FENCED: Self = Self(90);
    /// A request illegally referred to a resource that does not exist.
    pub const RESOURCE_NOT_FOUND: Self = Self(91);
    /// A request illegally referred to the same resource twice.
    pub const DUPLICATE_RESOURCE: Self = Self(92);
    /// Requested credential would not meet criteria for acceptability.
    pub const UNACCEPTABLE_CREDENTIAL: Self = Self(93);
    /// Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters.
    pub const INCONSISTENT_VOTER_SET: Self = Self(94);
    /// The given update version was invalid.
    pub const INVALID_UPDATE_VERSION: Self = Self(95);
    /// Unable to update finalized features due to an unexpected server error.
    pub const FEATURE_UPDATE_FAILED: Self = Self(96);
    /// Request principal deserialization failed during forwarding.
    pub const PRINCIPAL_DESERIALIZATION_FAILURE: Self = Self(97);
    /// Requested snapshot was not found.
    pub const SNAPSHOT_NOT_FOUND: Self = Self(98);
    /// Requested position is not greater than or equal to zero, and less than the size of the snapshot.
    pub const POSITION_OUT_OF_RANGE: Self = Self(99);
    /// This server does not host this topic ID.
    pub const UNKNOWN_TOPIC_ID: Self = Self(100);
    /// This broker ID is already in use.
    pub const DUPLICATE_BROKER_REGISTRATION: Self = Self(101);
    /// The given broker ID was not registered.
    pub const BROKER_ID_NOT_REGISTERED: Self = Self(102);
    /// The log's topic ID did not match the topic ID in the request.
    pub const INCONSISTENT_TOPIC_ID: Self = Self(103);
    /// The clusterId in the request does not match that found on the server.
    pub const INCONSISTENT_CLUSTER_ID: Self = Self(104);
    /// The transactionalId could not be found.
    pub const TRANSACTIONAL_ID_NOT_FOUND: Self = Self(105);
    /// The fetch session encountered inconsistent topic ID usage.
    pub const FETCH_SESSION_TOPIC_ID_ERROR: Self = Self(106);
    /// The new ISR contains at least one ineligible replica.
    pub const INELIGIBLE_REPLICA: Self = Self(107);
    /// The AlterPartition request successfully updated the partition state but the leader has changed.
    pub const NEW_LEADER_ELECTED: Self = Self(108);
    /// The requested offset is moved to tiered storage.
    pub const OFFSET_MOVED_TO_TIERED_STORAGE: Self = Self(109);
    /// The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.
    pub const FENCED_MEMBER_EPOCH: Self = Self(110);
    /// The instance ID is still used by another member in the consumer group. That member must leave first.
    pub const UNRELEASED_INSTANCE_ID: Self = Self(111);
    /// The assignor or its version range is not supported by the consumer group.
    pub const UNSUPPORTED_ASSIGNOR: Self = Self(112);
    /// The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.
    pub const STALE_MEMBER_EPOCH: Self = Self(113);
    /// The request was sent to an endpoint of the wrong type.
    pub const MISMATCHED_ENDPOINT_TYPE: Self = Self(114);
    /// This endpoint type is not supported yet.
    pub const UNSUPPORTED_ENDPOINT_TYPE: Self = Self(115);
    /// This controller ID is not known.
    pub const UNKNOWN_CONTROLLER_ID: Self = Self(116);
    /// Client sent a push telemetry request with an invalid or outdated subscription ID.
    pub const UNKNOWN_SUBSCRIPTION_ID: Self = Self(117);
    /// Client sent a push telemetry request larger than the maximum size the broker will accept.
    pub const TELEMETRY_TOO_LARGE: Self = Self(118);
    /// The controller has considered the broker registration to be invalid.
    pub const INVALID_REGISTRATION: Self = Self(119);
    /// The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.
    pub const TRANSACTION_ABORTABLE: Self = Self(120);
    /// The record state is invalid. The acknowledgement of delivery could not be completed.
    pub const INVALID_RECORD_STATE: Self = Self(121);
    /// The share session was not found.
    pub const SHARE_SESSION_NOT_FOUND: Self = Self(122);
    /// The share session epoch is invalid.
    pub const INVALID_SHARE_SESSION_EPOCH: Self = Self(123);
    /// The share coordinator rejected the request because the share-group state epoch did not match.
    pub const FENCED_STATE_EPOCH: Self = Self(124);
    /// The voter key doesn't match the receiving replica's key.
    pub const INVALID_VOTER_KEY: Self = Self(125);
    /// The voter is already part of the set of voters.
    pub const DUPLICATE_VOTER: Self = Self(126);
    /// The voter is not part of the set of voters.
    pub const VOTER_NOT_FOUND: Self = Self(127);
    /// The regular expression is not valid.
    pub const INVALID_REGULAR_EXPRESSION: Self = Self(128);
    /// Client metadata is stale. The client should rebootstrap to obtain new metadata.
    pub const REBOOTSTRAP_REQUIRED: Self = Self(129);
    /// The supplied topology is invalid.
    pub const STREAMS_INVALID_TOPOLOGY: Self = Self(130);
    /// The supplied topology epoch is invalid.
    pub const STREAMS_INVALID_TOPOLOGY_EPOCH: Self = Self(131);
    /// The supplied topology epoch is outdated.
    pub const STREAMS_TOPOLOGY_FENCED: Self = Self(132);
    /// The limit of share sessions has been reached.
    pub const SHARE_SESSION_LIMIT_REACHED: Self = Self(133);

    fn entry(self) -> Option<&'static Entry> {
        let index = usize::try_from(i32::from(self.0) + 1).ok()?;
        TABLE.get(index)
    }

    /// The name Kafka uses for this code, e.g. `NOT_COORDINATOR`; `UNKNOWN_ERROR_CODE` if unknown.
    pub fn name(self) -> &'static str {
        self.entry().map_or("UNKNOWN_ERROR_CODE", |e| e.name)
    }

    /// Kafka's description of the code.
    pub fn description(self) -> &'static str {
        self.entry()
            .map_or("An error code this client does not know.", |e| e.description)
    }

    /// Whether the same request may succeed if sent again (after a metadata refresh or backoff).
    pub fn is_retriable(self) -> bool {
        self.entry().is_some_and(|e| e.retriable)
    }

    /// Whether a consumer cannot recover from this by itself and must report it to the application.
    pub fn is_fatal(self) -> bool {
        self.entry().is_some_and(|e| e.fatal)
    }

    /// `true` for `NONE`.
    pub fn is_ok(self) -> bool {
        self.0 == 0
    }

    /// `Ok(())` for `NONE`, `Err(self)` otherwise: lets response handling use `?`.
    pub fn ok(self) -> Result<(), Self> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        Self(code)
    }
}

impl std::fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.0, self.description())
    }
}

impl std::error::Error for ErrorCode {}

/// Indexed by code + 1; codes are contiguous from -1.
static TABLE: &[Entry] = &[
    Entry {
        name: "UNKNOWN_SERVER_ERROR",
        retriable: false,
        fatal: false,
        description: "The server experienced an unexpected error when processing the request.",
    },
    Entry {
        name: "NONE",
        retriable: false,
        fatal: false,
        description: "No error.",
    },
    Entry {
        name: "OFFSET_OUT_OF_RANGE",
        retriable: false,
        fatal: false,
        description: "The requested offset is not within the range of offsets maintained by the server.",
    },
    Entry {
        name: "CORRUPT_MESSAGE",
        retriable: true,
        fatal: false,
        description: "The message contents does not match its CRC, or the record is otherwise corrupt.",
    },
    Entry {
        name: "UNKNOWN_TOPIC_OR_PARTITION",
        retriable: true,
        fatal: false,
        description: "This server does not host this topic-partition.",
    },
    Entry {
        name: "INVALID_FETCH_SIZE",
        retriable: false,
        fatal: true,
        description: "The requested fetch size is invalid.",
    },
    Entry {
        name: "LEADER_NOT_AVAILABLE",
        retriable: true,
        fatal: false,
        description: "There is no leader for this topic-partition as we are in the middle of a leadership election.",
    },
    Entry {
        name: "NOT_LEADER_OR_FOLLOWER",
        retriable: true,
        fatal: false,
        description: "For requests intended only for the leader, this broker is not the leader of the partition; or the broker is not a replica.",
    },
    Entry {
        name: "REQUEST_TIMED_OUT",
        retriable: true,
        fatal: false,
        description: "The request timed out.",
    },
    Entry {
        name: "BROKER_NOT_AVAILABLE",
        retriable: false,
        fatal: false,
        description: "The broker is not available.",
    },
    Entry {
        name: "REPLICA_NOT_AVAILABLE",
        retriable: true,
        fatal: false,
        description: "The replica is not available for the requested topic-partition.",
    },
    Entry {
        name: "MESSAGE_TOO_LARGE",
        retriable: false,
        fatal: false,
        description: "The request included a message larger than the max message size the server will accept.",
    },
    Entry {
        name: "STALE_CONTROLLER_EPOCH",
        retriable: false,
        fatal: false,
        description: "The controller moved to another broker.",
    },
    Entry {
        name: "OFFSET_METADATA_TOO_LARGE",
        retriable: false,
        fatal: false,
        description: "The metadata field of the offset request was too large.",
    },
    Entry {
        name: "NETWORK_EXCEPTION",
        retriable: true,
        fatal: false,
        description: "The server disconnected before a response was received.",
    },
    Entry {
        name: "COORDINATOR_LOAD_IN_PROGRESS",
        retriable: true,
        fatal: false,
        description: "The coordinator is loading and hence can't process requests.",
    },
    Entry {
        name: "COORDINATOR_NOT_AVAILABLE",
        retriable: true,
        fatal: false,
        description: "The coordinator is not available.",
    },
    Entry {
        name: "NOT_COORDINATOR",
        retriable: true,
        fatal: false,
        description: "This is not the correct coordinator.",
    },
    Entry {
        name: "INVALID_TOPIC_EXCEPTION",
        retriable: false,
        fatal: true,
        description: "The request attempted to perform an operation on an invalid topic.",
    },
    Entry {
        name: "RECORD_LIST_TOO_LARGE",
        retriable: false,
        fatal: false,
        description: "The request included message batch larger than the configured segment size on the server.",
    },
    Entry {
        name: "NOT_ENOUGH_REPLICAS",
        retriable: true,
        fatal: false,
        description: "Messages are rejected since there are fewer in-sync replicas than required.",
    },
    Entry {
        name: "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        retriable: true,
        fatal: false,
        description: "Messages are written to the log, but to fewer in-sync replicas than required.",
    },
    Entry {
        name: "INVALID_REQUIRED_ACKS",
        retriable: false,
        fatal: false,
        description: "Produce request specified an invalid value for required acks.",
    },
    Entry {
        name: "ILLEGAL_GENERATION",
        retriable: false,
        fatal: false,
        description: "Specified group generation id is not valid.",
    },
    Entry {
        name: "INCONSISTENT_GROUP_PROTOCOL",
        retriable: false,
        fatal: true,
        description: "The group member's supported protocols are incompatible with those of existing members or first group member tried to join with empty protocol type or empty protocol list.",
    },
    Entry {
        name: "INVALID_GROUP_ID",
        retriable: false,
        fatal: true,
        description: "The configured groupId is invalid.",
    },
    Entry {
        name: "UNKNOWN_MEMBER_ID",
        retriable: false,
        fatal: false,
        description: "The coordinator is not aware of this member.",
    },
    Entry {
        name: "INVALID_SESSION_TIMEOUT",
        retriable: false,
        fatal: true,
        description: "The session timeout is not within the range allowed by the broker (as configured by group.min.session.timeout.ms and group.max.session.timeout.ms).",
    },
    Entry {
        name: "REBALANCE_IN_PROGRESS",
        retriable: false,
        fatal: false,
        description: "The group is rebalancing, so a rejoin is needed.",
    },
    Entry {
        name: "INVALID_COMMIT_OFFSET_SIZE",
        retriable: false,
        fatal: false,
        description: "The committing offset data size is not valid.",
    },
    Entry {
        name: "TOPIC_AUTHORIZATION_FAILED",
        retriable: false,
        fatal: true,
        description: "Topic authorization failed.",
    },
    Entry {
        name: "GROUP_AUTHORIZATION_FAILED",
        retriable: false,
        fatal: true,
        description: "Group authorization failed.",
    },
    Entry {
        name: "CLUSTER_AUTHORIZATION_FAILED",
        retriable: false,
        fatal: true,
        description: "Cluster authorization failed.",
    },
    Entry {
        name: "INVALID_TIMESTAMP",
        retriable: false,
        fatal: false,
        description: "The timestamp of the message is out of acceptable range.",
    },
    Entry {
        name: "UNSUPPORTED_SASL_MECHANISM",
        retriable: false,
        fatal: true,
        description: "The broker does not support the requested SASL mechanism.",
    },
    Entry {
        name: "ILLEGAL_SASL_STATE",
        retriable: false,
        fatal: true,
        description: "Request is not valid given the current SASL state.",
    },
    Entry {
        name: "UNSUPPORTED_VERSION",
        retriable: false,
        fatal: true,
        description: "The version of API is not supported.",
    },
    Entry {
        name: "TOPIC_ALREADY_EXISTS",
        retriable: false,
        fatal: false,
        description: "Topic with this name already exists.",
    },
    Entry {
        name: "INVALID_PARTITIONS",
        retriable: false,
        fatal: false,
        description: "Number of partitions is below 1.",
    },
    Entry {
        name: "INVALID_REPLICATION_FACTOR",
        retriable: false,
        fatal: false,
        description: "Replication factor is below 1 or larger than the number of available brokers.",
    },
    Entry {
        name: "INVALID_REPLICA_ASSIGNMENT",
        retriable: false,
        fatal: false,
        description: "Replica assignment is invalid.",
    },
    Entry {
        name: "INVALID_CONFIG",
        retriable: false,
        fatal: false,
        description: "Configuration is invalid.",
    },
    Entry {
        name: "NOT_CONTROLLER",
        retriable: true,
        fatal: false,
        description: "This is not the correct controller for this cluster.",
    },
    Entry {
        name: "INVALID_REQUEST",
        retriable: false,
        fatal: true,
        description: "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker.",
    },
    Entry {
        name: "UNSUPPORTED_FOR_MESSAGE_FORMAT",
        retriable: false,
        fatal: true,
        description: "The message format version on the broker does not support the request.",
    },
    Entry {
        name: "POLICY_VIOLATION",
        retriable: false,
        fatal: false,
        description: "Request parameters do not satisfy the configured policy.",
    },
    Entry {
        name: "OUT_OF_ORDER_SEQUENCE_NUMBER",
        retriable: false,
        fatal: false,
        description: "The broker received an out of order sequence number.",
    },
    Entry {
        name: "DUPLICATE_SEQUENCE_NUMBER",
        retriable: false,
        fatal: false,
        description: "The broker received a duplicate sequence number.",
    },
    Entry {
        name: "INVALID_PRODUCER_EPOCH",
        retriable: false,
        fatal: false,
        description: "Producer attempted to produce with an old epoch.",
    },
    Entry {
        name: "INVALID_TXN_STATE",
        retriable: false,
        fatal: false,
        description: "The producer attempted a transactional operation in an invalid state.",
    },
    Entry {
        name: "INVALID_PRODUCER_ID_MAPPING",
        retriable: false,
        fatal: false,
        description: "The producer attempted to use a producer id which is not currently assigned to its transactional id.",
    },
    Entry {
        name: "INVALID_TRANSACTION_TIMEOUT",
        retriable: false,
        fatal: false,
        description: "The transaction timeout is larger than the maximum value allowed by the broker.",
    },
    Entry {
        name: "CONCURRENT_TRANSACTIONS",
        retriable: true,
        fatal: false,
        description: "The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing.",
    },
    Entry {
        name: "TRANSACTION_COORDINATOR_FENCED",
        retriable: false,
        fatal: false,
        description: "Indicates that the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator for a given producer.",
    },
    Entry {
        name: "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        retriable: false,
        fatal: true,
        description: "Transactional Id authorization failed.",
    },
    Entry {
        name: "SECURITY_DISABLED",
        retriable: false,
        fatal: false,
        description: "Security features are disabled.",
    },
    Entry {
        name: "OPERATION_NOT_ATTEMPTED",
        retriable: false,
        fatal: false,
        description: "The broker did not attempt to execute this operation.",
    },
    Entry {
        name: "KAFKA_STORAGE_ERROR",
        retriable: true,
        fatal: false,
        description: "Disk error when trying to access log file on the disk.",
    },
    Entry {
        name: "LOG_DIR_NOT_FOUND",
        retriable: false,
        fatal: false,
        description: "The user-specified log directory is not found in the broker config.",
    },
    Entry {
        name: "SASL_AUTHENTICATION_FAILED",
        retriable: false,
        fatal: true,
        description: "SASL Authentication failed.",
    },
    Entry {
        name: "UNKNOWN_PRODUCER_ID",
        retriable: false,
        fatal: false,
        description: "This exception is raised by the broker if it could not locate the producer metadata associated with the producerId in question.",
    },
    Entry {
        name: "REASSIGNMENT_IN_PROGRESS",
        retriable: false,
        fatal: false,
        description: "A partition reassignment is in progress.",
    },
    Entry {
        name: "DELEGATION_TOKEN_AUTH_DISABLED",
        retriable: false,
        fatal: false,
        description: "Delegation Token feature is not enabled.",
    },
    Entry {
        name: "DELEGATION_TOKEN_NOT_FOUND",
        retriable: false,
        fatal: false,
        description: "Delegation Token is not found on server.",
    },
    Entry {
        name: "DELEGATION_TOKEN_OWNER_MISMATCH",
        retriable: false,
        fatal: false,
        description: "Specified Principal is not valid Owner/Renewer.",
    },
    Entry {
        name: "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED",
        retriable: false,
        fatal: false,
        description: "Delegation Token requests are not allowed on PLAINTEXT/1-way SSL channels and on delegation token authenticated channels.",
    },
    Entry {
        name: "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
        retriable: false,
        fatal: true,
        description: "Delegation Token authorization failed.",
    },
    Entry {
        name: "DELEGATION_TOKEN_EXPIRED",
        retriable: false,
        fatal: false,
        description: "Delegation Token is expired.",
    },
    Entry {
        name: "INVALID_PRINCIPAL_TYPE",
        retriable: false,
        fatal: false,
        description: "Supplied principalType is not supported.",
    },
    Entry {
        name: "NON_EMPTY_GROUP",
        retriable: false,
        fatal: false,
        description: "The group is not empty.",
    },
    Entry {
        name: "GROUP_ID_NOT_FOUND",
        retriable: false,
        fatal: false,
        description: "The group id does not exist.",
    },
    Entry {
        name: "FETCH_SESSION_ID_NOT_FOUND",
        retriable: true,
        fatal: false,
        description: "The fetch session ID was not found.",
    },
    Entry {
        name: "INVALID_FETCH_SESSION_EPOCH",
        retriable: true,
        fatal: false,
        description: "The fetch session epoch is invalid.",
    },
    Entry {
        name: "LISTENER_NOT_FOUND",
        retriable: true,
        fatal: false,
        description: "There is no listener on the leader broker that matches the listener on which metadata request was processed.",
    },
    Entry {
        name: "TOPIC_DELETION_DISABLED",
        retriable: false,
        fatal: false,
        description: "Topic deletion is disabled.",
    },
    Entry {
        name: "FENCED_LEADER_EPOCH",
        retriable: true,
        fatal: false,
        description: "The leader epoch in the request is older than the epoch on the broker.",
    },
    Entry {
        name: "UNKNOWN_LEADER_EPOCH",
        retriable: true,
        fatal: false,
        description: "The leader epoch in the request is newer than the epoch on the broker.",
    },
    Entry {
        name: "UNSUPPORTED_COMPRESSION_TYPE",
        retriable: false,
        fatal: true,
        description: "The requesting client does not support the compression type of given partition.",
    },
    Entry {
        name: "STALE_BROKER_EPOCH",
        retriable: false,
        fatal: false,
        description: "Broker epoch has changed.",
    },
    Entry {
        name: "OFFSET_NOT_AVAILABLE",
        retriable: true,
        fatal: false,
        description: "The leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing.",
    },
    Entry {
        name: "MEMBER_ID_REQUIRED",
        retriable: false,
        fatal: false,
        description: "The group member needs to have a valid member id before actually entering a consumer group.",
    },
    Entry {
        name: "PREFERRED_LEADER_NOT_AVAILABLE",
        retriable: true,
        fatal: false,
        description: "The preferred leader was not available.",
    },
    Entry {
        name: "GROUP_MAX_SIZE_REACHED",
        retriable: false,
        fatal: true,
        description: "The group has reached its maximum size.",
    },
    Entry {
        name: "FENCED_INSTANCE_ID",
        retriable: false,
        fatal: true,
        description: "The broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id.",
    },
    Entry {
        name: "ELIGIBLE_LEADERS_NOT_AVAILABLE",
        retriable: true,
        fatal: false,
        description: "Eligible topic partition leaders are not available.",
    },
    Entry {
        name: "ELECTION_NOT_NEEDED",
        retriable: true,
        fatal: false,
        description: "Leader election not needed for topic partition.",
    },
    Entry {
        name: "NO_REASSIGNMENT_IN_PROGRESS",
        retriable: false,
        fatal: false,
        description: "No partition reassignment is in progress.",
    },
    Entry {
        name: "GROUP_SUBSCRIBED_TO_TOPIC",
        retriable: false,
        fatal: false,
        description: "Deleting offsets of a topic is forbidden while the consumer group is actively subscribed to it.",
    },
    Entry {
        name: "INVALID_RECORD",
        retriable: false,
        fatal: false,
        description: "This record has failed the validation on broker and hence will be rejected.",
    },
    Entry {
        name: "UNSTABLE_OFFSET_COMMIT",
        retriable: true,
        fatal: false,
        description: "There are unstable offsets that need to be cleared.",
    },
    Entry {
        name: "THROTTLING_QUOTA_EXCEEDED",
        retriable: true,
        fatal: false,
        description: "The throttling quota has been exceeded.",
    },
    Entry {
        name: "PRODUCER_FENCED",
        retriable: false,
        fatal: false,
        description: "There is a newer producer with the same transactionalId which fences the current one.",
    },
    Entry {
        name: "RESOURCE_NOT_FOUND",
        retriable: false,
        fatal: false,
        description: "A request illegally referred to a resource that does not exist.",
    },
    Entry {
        name: "DUPLICATE_RESOURCE",
        retriable: false,
        fatal: false,
        description: "A request illegally referred to the same resource twice.",
    },
    Entry {
        name: "UNACCEPTABLE_CREDENTIAL",
        retriable: false,
        fatal: false,
        description: "Requested credential would not meet criteria for acceptability.",
    },
    Entry {
        name: "INCONSISTENT_VOTER_SET",
        retriable: false,
        fatal: false,
        description: "Indicates that the either the sender or recipient of a voter-only request is not one of the expected voters.",
    },
    Entry {
        name: "INVALID_UPDATE_VERSION",
        retriable: false,
        fatal: false,
        description: "The given update version was invalid.",
    },
    Entry {
        name: "FEATURE_UPDATE_FAILED",
        retriable: false,
        fatal: false,
        description: "Unable to update finalized features due to an unexpected server error.",
    },
    Entry {
        name: "PRINCIPAL_DESERIALIZATION_FAILURE",
        retriable: false,
        fatal: false,
        description: "Request principal deserialization failed during forwarding.",
    },
    Entry {
        name: "SNAPSHOT_NOT_FOUND",
        retriable: false,
        fatal: false,
        description: "Requested snapshot was not found.",
    },
    Entry {
        name: "POSITION_OUT_OF_RANGE",
        retriable: false,
        fatal: false,
        description: "Requested position is not greater than or equal to zero, and less than the size of the snapshot.",
    },
    Entry {
        name: "UNKNOWN_TOPIC_ID",
        retriable: true,
        fatal: false,
        description: "This server does not host this topic ID.",
    },
    Entry {
        name: "DUPLICATE_BROKER_REGISTRATION",
        retriable: false,
        fatal: false,
        description: "This broker ID is already in use.",
    },
    Entry {
        name: "BROKER_ID_NOT_REGISTERED",
        retriable: false,
        fatal: false,
        description: "The given broker ID was not registered.",
    },
    Entry {
        name: "INCONSISTENT_TOPIC_ID",
        retriable: true,
        fatal: false,
        description: "The log's topic ID did not match the topic ID in the request.",
    },
    Entry {
        name: "INCONSISTENT_CLUSTER_ID",
        retriable: false,
        fatal: false,
        description: "The clusterId in the request does not match that found on the server.",
    },
    Entry {
        name: "TRANSACTIONAL_ID_NOT_FOUND",
        retriable: false,
        fatal: false,
        description: "The transactionalId could not be found.",
    },
    Entry {
        name: "FETCH_SESSION_TOPIC_ID_ERROR",
        retriable: true,
        fatal: false,
        description: "The fetch session encountered inconsistent topic ID usage.",
    },
    Entry {
        name: "INELIGIBLE_REPLICA",
        retriable: false,
        fatal: false,
        description: "The new ISR contains at least one ineligible replica.",
    },
    Entry {
        name: "NEW_LEADER_ELECTED",
        retriable: false,
        fatal: false,
        description: "The AlterPartition request successfully updated the partition state but the leader has changed.",
    },
    Entry {
        name: "OFFSET_MOVED_TO_TIERED_STORAGE",
        retriable: false,
        fatal: false,
        description: "The requested offset is moved to tiered storage.",
    },
    Entry {
        name: "FENCED_MEMBER_EPOCH",
        retriable: false,
        fatal: false,
        description: "The member epoch is fenced by the group coordinator. The member must abandon all its partitions and rejoin.",
    },
    Entry {
        name: "UNRELEASED_INSTANCE_ID",
        retriable: false,
        fatal: true,
        description: "The instance ID is still used by another member in the consumer group. That member must leave first.",
    },
    Entry {
        name: "UNSUPPORTED_ASSIGNOR",
        retriable: false,
        fatal: true,
        description: "The assignor or its version range is not supported by the consumer group.",
    },
    Entry {
        name: "STALE_MEMBER_EPOCH",
        retriable: false,
        fatal: false,
        description: "The member epoch is stale. The member must retry after receiving its updated member epoch via the ConsumerGroupHeartbeat API.",
    },
    Entry {
        name: "MISMATCHED_ENDPOINT_TYPE",
        retriable: false,
        fatal: false,
        description: "The request was sent to an endpoint of the wrong type.",
    },
    Entry {
        name: "UNSUPPORTED_ENDPOINT_TYPE",
        retriable: false,
        fatal: false,
        description: "This endpoint type is not supported yet.",
    },
    Entry {
        name: "UNKNOWN_CONTROLLER_ID",
        retriable: false,
        fatal: false,
        description: "This controller ID is not known.",
    },
    Entry {
        name: "UNKNOWN_SUBSCRIPTION_ID",
        retriable: false,
        fatal: false,
        description: "Client sent a push telemetry request with an invalid or outdated subscription ID.",
    },
    Entry {
        name: "TELEMETRY_TOO_LARGE",
        retriable: false,
        fatal: false,
        description: "Client sent a push telemetry request larger than the maximum size the broker will accept.",
    },
    Entry {
        name: "INVALID_REGISTRATION",
        retriable: false,
        fatal: false,
        description: "The controller has considered the broker registration to be invalid.",
    },
    Entry {
        name: "TRANSACTION_ABORTABLE",
        retriable: false,
        fatal: false,
        description: "The server encountered an error with the transaction. The client can abort the transaction to continue using this transactional ID.",
    },
    Entry {
        name: "INVALID_RECORD_STATE",
        retriable: false,
        fatal: false,
        description: "The record state is invalid. The acknowledgement of delivery could not be completed.",
    },
    Entry {
        name: "SHARE_SESSION_NOT_FOUND",
        retriable: true,
        fatal: false,
        description: "The share session was not found.",
    },
    Entry {
        name: "INVALID_SHARE_SESSION_EPOCH",
        retriable: true,
        fatal: false,
        description: "The share session epoch is invalid.",
    },
    Entry {
        name: "FENCED_STATE_EPOCH",
        retriable: false,
        fatal: false,
        description: "The share coordinator rejected the request because the share-group state epoch did not match.",
    },
    Entry {
        name: "INVALID_VOTER_KEY",
        retriable: false,
        fatal: false,
        description: "The voter key doesn't match the receiving replica's key.",
    },
    Entry {
        name: "DUPLICATE_VOTER",
        retriable: false,
        fatal: false,
        description: "The voter is already part of the set of voters.",
    },
    Entry {
        name: "VOTER_NOT_FOUND",
        retriable: false,
        fatal: false,
        description: "The voter is not part of the set of voters.",
    },
    Entry {
        name: "INVALID_REGULAR_EXPRESSION",
        retriable: false,
        fatal: true,
        description: "The regular expression is not valid.",
    },
    Entry {
        name: "REBOOTSTRAP_REQUIRED",
        retriable: false,
        fatal: false,
        description: "Client metadata is stale. The client should rebootstrap to obtain new metadata.",
    },
    Entry {
        name: "STREAMS_INVALID_TOPOLOGY",
        retriable: false,
        fatal: false,
        description: "The supplied topology is invalid.",
    },
    Entry {
        name: "STREAMS_INVALID_TOPOLOGY_EPOCH",
        retriable: false,
        fatal: false,
        description: "The supplied topology epoch is invalid.",
    },
    Entry {
        name: "STREAMS_TOPOLOGY_FENCED",
        retriable: false,
        fatal: false,
        description: "The supplied topology epoch is outdated.",
    },
    Entry {
        name: "SHARE_SESSION_LIMIT_REACHED",
        retriable: true,
        fatal: false,
        description: "The limit of share sessions has been reached.",
    },
];
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_match_their_codes() {
        for (index, entry) in TABLE.iter().enumerate() {
            let code = ErrorCode(index as i16 - 1);
            assert_eq!(code.name(), entry.name);
        }
        assert_eq!(ErrorCode::NOT_COORDINATOR.0, 16);
        assert_eq!(ErrorCode::MEMBER_ID_REQUIRED.name(), "MEMBER_ID_REQUIRED");
        assert_eq!(ErrorCode::FETCH_SESSION_TOPIC_ID_ERROR.0, 106);
        assert_eq!(ErrorCode::STALE_MEMBER_EPOCH.0, 113);
    }

    #[test]
    fn classification_follows_kafka() {
        for retriable in [3, 5, 6, 7, 14, 15, 16, 70, 71, 74, 75, 88, 100] {
            assert!(ErrorCode(retriable).is_retriable(), "{:?}", ErrorCode(retriable));
            assert!(!ErrorCode(retriable).is_fatal());
        }
        for fatal in [29, 30, 31, 35, 82, 81] {
            assert!(ErrorCode(fatal).is_fatal(), "{:?}", ErrorCode(fatal));
            assert!(!ErrorCode(fatal).is_retriable());
        }
        // Group errors that mean "rejoin": neither retriable as-is nor fatal.
        for rejoin in [22, 25, 27, 79] {
            assert!(!ErrorCode(rejoin).is_retriable() && !ErrorCode(rejoin).is_fatal());
        }
    }

    #[test]
    fn unknown_codes_are_kept() {
        let code = ErrorCode(9999);
        assert_eq!(code.name(), "UNKNOWN_ERROR_CODE");
        assert!(!code.is_retriable());
        assert_eq!(format!("{code:?}"), "UNKNOWN_ERROR_CODE(9999)");
        assert_eq!(ErrorCode(-7).name(), "UNKNOWN_ERROR_CODE");
        assert!(ErrorCode::NONE.ok().is_ok());
        assert_eq!(ErrorCode::NOT_COORDINATOR.ok(), Err(ErrorCode::NOT_COORDINATOR));
    }
}
