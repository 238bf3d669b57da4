//! The consumer's error type. Retriable conditions (leader moves, coordinator loading, broken
//! connections) are handled inside and never reach `poll`; what reaches the application names the
//! partition and offset it concerns.

use kafkaroo_wire::ErrorCode;

use crate::record::TopicPartition;

/// An error the application sees.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A connection-layer error (unreachable cluster, no common protocol version...).
    #[error(transparent)]
    Net(#[from] kafkaroo_net::Error),
    /// `auto.offset.reset=none` and the partition has no valid position.
    #[error("{partition}: no valid position (offset {offset:?}) and auto.offset.reset is none")]
    NoOffsetForPartition {
        /// The partition.
        partition: TopicPartition,
        /// The offset that was out of range, if there was one.
        offset: Option<i64>,
    },
    /// A batch could not be decoded (bad CRC, bad compression, malformed record). The position stays at
    /// the batch; other partitions continue.
    #[error("{partition}: corrupt record batch at offset {offset}: {source}")]
    CorruptRecord {
        /// The partition.
        partition: TopicPartition,
        /// Where delivery stopped: the batch's base offset, or the position when the batch starts below
        /// it (after a seek into the middle of the batch).
        offset: i64,
        /// What the decoder found.
        source: kafkaroo_records::DecodeError,
    },
    /// The broker refused access or reported an error retries cannot fix.
    #[error("{partition}: {code}{}", access_hint(.partition, *.code))]
    Partition {
        /// The partition.
        partition: TopicPartition,
        /// The Kafka error code.
        code: ErrorCode,
    },
    /// The topic does not exist (after metadata retries).
    #[error("topic {topic:?} does not exist")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// The partition index is past the topic's partition count.
    #[error("{partition} does not exist")]
    UnknownPartition {
        /// The partition.
        partition: TopicPartition,
    },
    /// The log was truncated below the consumer's position (unclean leader election) and
    /// `auto.offset.reset=none`: records the consumer saw may no longer exist.
    #[error("{partition}: log truncated below position {position}; the leader's log ends at {end_offset}")]
    LogTruncation {
        /// The partition.
        partition: TopicPartition,
        /// The consumer's position.
        position: i64,
        /// Where the new leader's log for the consumer's epoch ends.
        end_offset: i64,
    },
    /// A record batch is larger than `fetch.max.bytes`, so it can never be fetched (only possible with
    /// brokers older than Kafka 2.1, or a batch larger than the frame limit).
    #[error(
        "{partition}: the record batch at offset {offset} needs {batch_size} bytes, above the fetch limit of {fetch_limit}"
    )]
    BatchTooLarge {
        /// The partition.
        partition: TopicPartition,
        /// The fetch offset.
        offset: i64,
        /// Bytes the batch needs.
        batch_size: usize,
        /// `fetch.max.bytes`.
        fetch_limit: i32,
    },
    /// The operation names a partition that is not assigned.
    #[error("{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The partition.
        partition: TopicPartition,
    },
    /// The consumer was closed.
    #[error("the consumer is closed")]
    Closed,
    /// A commit named partitions this group member does not own.
    #[error("cannot commit partitions not owned by this consumer: {}", list(partitions))]
    NotOwned {
        /// The partitions.
        partitions: Vec<TopicPartition>,
    },
    /// A commit (or committed-offset lookup) failed for some partitions.
    #[error("commit failed for {}: {reason}", list(failed))]
    Commit {
        /// The partitions that failed.
        failed: Vec<TopicPartition>,
        /// Why.
        reason: String,
    },
    /// Group membership failed (fenced, group full, invalid session timeout, authorization...), or the
    /// operation needs a membership the consumer does not have.
    #[error("consumer group: {0}")]
    Group(#[from] kafkaroo_group::GroupError),
}

/// What to change when an ACL refused access to a topic: the operation and the resource.
fn access_hint(partition: &TopicPartition, code: ErrorCode) -> String {
    match code {
        ErrorCode::TOPIC_AUTHORIZATION_FAILED => format!(
            " This principal may not READ (or DESCRIBE) topic {:?}: grant it READ on the topic \
             (kafka-acls --add --allow-principal User:<name> --operation Read --topic {})",
            partition.topic, partition.topic
        ),
        ErrorCode::CLUSTER_AUTHORIZATION_FAILED => {
            ": this principal lacks a CLUSTER permission the request needs".to_owned()
        }
        _ => String::new(),
    }
}

fn list(partitions: &[TopicPartition]) -> String {
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Error {
    pub(crate) fn from_group(e: kafkaroo_group::GroupError) -> Self {
        match e {
            kafkaroo_group::GroupError::NotOwned { partitions } => Self::NotOwned {
                partitions: partitions
                    .iter()
                    .map(|tp| TopicPartition::new(tp.topic.clone(), tp.partition))
                    .collect(),
            },
            other => Self::Group(other),
        }
    }

    /// The Kafka error code behind this error, if there is one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Net(e) => e.error_code(),
            Self::Group(e) => e.code().map(ErrorCode),
            Self::Partition { code, .. } => Some(*code),
            Self::NoOffsetForPartition { .. } => Some(ErrorCode::OFFSET_OUT_OF_RANGE),
            Self::UnknownTopic { .. } | Self::UnknownPartition { .. } => {
                Some(ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)
            }
            Self::CorruptRecord { .. } => Some(ErrorCode::CORRUPT_MESSAGE),
            _ => None,
        }
    }

    /// Whether retrying the same call may succeed. Agrees with the layer the error comes from: a group
    /// error is retriable when the group layer says so (a commit refused during a rebalance, a
    /// coordinator still loading, a request that timed out).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Net(e) => e.is_retriable(),
            Self::Group(e) => e.is_retriable(),
            Self::Partition { code, .. } => code.is_retriable(),
            _ => false,
        }
    }

    /// Whether the consumer (or the partition) cannot continue without the application's decision.
    /// A failed commit or a commit for partitions not owned is neither retriable as it was nor fatal:
    /// the consumer goes on, and the next commit may succeed.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Net(e) => e.is_fatal(),
            Self::Group(e) => e.is_fatal(),
            Self::Commit { .. } | Self::NotOwned { .. } => false,
            _ => !self.is_retriable(),
        }
    }

    /// The partition this error concerns, if it concerns one.
    pub fn topic_partition(&self) -> Option<&TopicPartition> {
        match self {
            Self::NoOffsetForPartition { partition, .. }
            | Self::CorruptRecord { partition, .. }
            | Self::Partition { partition, .. }
            | Self::UnknownPartition { partition }
            | Self::LogTruncation { partition, .. }
            | Self::BatchTooLarge { partition, .. }
            | Self::NotAssigned { partition } => Some(partition),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafkaroo_group::GroupError;

    #[test]
    fn retriable_and_fatal_agree_with_the_layer_below() {
        for group in [
            GroupError::RebalanceInProgress,
            GroupError::CoordinatorLoadInProgress,
            GroupError::RequestTimedOut,
        ] {
            let e = Error::Group(group.clone());
            assert!(e.is_retriable() && !e.is_fatal(), "{e}");
            assert_eq!(e.is_retriable(), group.is_retriable());
        }
        let fenced = Error::Group(GroupError::GroupAuthorizationFailed { group_id: "g".into() });
        assert!(fenced.is_fatal() && !fenced.is_retriable());
        let net = Error::Net(kafkaroo_net::Error::Closed {
            addr: "a:1".into(),
            mid_frame: false,
        });
        assert!(net.is_retriable() && !net.is_fatal());
        let commit = Error::Commit {
            failed: vec![],
            reason: "x".into(),
        };
        assert!(!commit.is_fatal() && !commit.is_retriable());
    }
}
