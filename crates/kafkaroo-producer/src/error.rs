//! The producer's error. `Clone`, because one failed batch fails every record in it with the same error.

use std::time::Duration;

use kafkaroo_records::EncodeError;
use kafkaroo_wire::ErrorCode;

/// Why a record was not delivered, or the producer could not start.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration property is missing, unknown or has an unusable value.
    #[error("invalid producer configuration: {0}")]
    Config(String),
    /// Connecting to or talking with the cluster failed (transport, TLS, SASL, versions).
    #[error(transparent)]
    Net(#[from] kafkaroo_net::Error),
    /// The broker refused the batch holding the record.
    #[error("producing to {topic}-{partition} failed: {code}{}", .message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Broker {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// Kafka's error code.
        code: ErrorCode,
        /// The broker's message, when it sent one.
        message: Option<String>,
    },
    /// InitProducerId (idempotence) failed.
    #[error("cannot get a producer id for idempotence: {code}: {hint}")]
    ProducerId {
        /// Kafka's error code.
        code: ErrorCode,
        /// What to change.
        hint: &'static str,
    },
    /// The record is larger than `max.request.size` or `buffer.memory` allows.
    #[error(
        "record of {size} bytes is larger than {setting} ({max}): raise {setting} or send smaller records"
    )]
    RecordTooLarge {
        /// The record's encoded size.
        size: usize,
        /// The limit.
        max: usize,
        /// The property that sets the limit.
        setting: &'static str,
    },
    /// The record could not be encoded.
    #[error("cannot encode the record: {0}")]
    Encode(#[from] EncodeError),
    /// The topic is not in the cluster's metadata within `max.block.ms`.
    #[error("topic {topic:?} not present in metadata after {after:?}: create it, or check its name and ACLs")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// How long we waited.
        after: Duration,
    },
    /// The record names a partition the topic does not have.
    #[error("partition {partition} of topic {topic:?} does not exist (the topic has {count} partitions)")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// Partitions the topic has.
        count: usize,
    },
    /// `buffer.memory` stayed full for `max.block.ms`: the brokers accept records more slowly than they
    /// are sent.
    #[error(
        "buffer.memory stayed full for {after:?} (max.block.ms): send more slowly, or raise buffer.memory"
    )]
    BufferFull {
        /// How long `send` waited.
        after: Duration,
    },
    /// The record was not acknowledged within `delivery.timeout.ms`; `last` is the last failure, if any.
    #[error("record to {topic}-{partition} not acknowledged within delivery.timeout.ms ({after:?}){}", .last.as_ref().map(|e| format!("; last error: {e}")).unwrap_or_default())]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// `delivery.timeout.ms`.
        after: Duration,
        /// The last retriable failure seen.
        last: Option<Box<Self>>,
    },
    /// The producer was closed before the record was acknowledged, or `send` was called after `close`.
    #[error("the producer is closed")]
    Closed,
    /// An earlier fatal error stopped the producer; every record fails with it.
    #[error("the producer stopped after a fatal error: {0}")]
    Fatal(Box<Self>),
}

impl Error {
    /// Kafka's error code, when a broker answered with one.
    pub fn error_code(&self) -> Option<ErrorCode> {
        match self {
            Self::Broker { code, .. } | Self::ProducerId { code, .. } => Some(*code),
            Self::Net(e) => e.error_code(),
            Self::DeliveryTimeout { last, .. } => last.as_ref().and_then(|e| e.error_code()),
            Self::Fatal(e) => e.error_code(),
            _ => None,
        }
    }

    /// Whether sending the record again may succeed. Kafka's table (kafkaroo-wire) decides for broker
    /// codes; timeouts and transport failures are retriable.
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Broker { code, .. } | Self::ProducerId { code, .. } => code.is_retriable(),
            Self::Net(e) => e.is_retriable(),
            Self::DeliveryTimeout { .. } | Self::BufferFull { .. } | Self::UnknownTopic { .. } => true,
            _ => false,
        }
    }

    /// Whether the producer cannot continue: every later record fails the same way until the
    /// configuration, the ACLs or the cluster change.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Config(_) | Self::Fatal(_) => true,
            Self::Net(e) => e.is_fatal(),
            Self::ProducerId { code, .. } => !code.is_retriable(),
            Self::Broker { code, .. } => is_fatal_code(*code),
            _ => false,
        }
    }
}

/// Codes after which a producer cannot go on: the wire table's fatal ones (authorization, versions)
/// and the producer's own fencing.
pub(crate) fn is_fatal_code(code: ErrorCode) -> bool {
    code.is_fatal()
        || matches!(
            code,
            ErrorCode::PRODUCER_FENCED
                | ErrorCode::CLUSTER_AUTHORIZATION_FAILED
                | ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                | ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(code: ErrorCode) -> Error {
        Error::Broker {
            topic: "t".into(),
            partition: 0,
            code,
            message: None,
        }
    }

    #[test]
    fn classification_follows_the_wire_table() {
        let e = broker(ErrorCode::NOT_LEADER_OR_FOLLOWER);
        assert!(e.is_retriable() && !e.is_fatal());
        assert_eq!(e.error_code(), Some(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        let e = broker(ErrorCode::TOPIC_AUTHORIZATION_FAILED);
        assert!(!e.is_retriable() && e.is_fatal());
        let e = broker(ErrorCode::PRODUCER_FENCED);
        assert!(e.is_fatal());
        let e = broker(ErrorCode::MESSAGE_TOO_LARGE);
        assert!(!e.is_retriable() && !e.is_fatal());
        assert!(e.to_string().contains("t-0") && e.to_string().contains("MESSAGE_TOO_LARGE"));
        let t = Error::DeliveryTimeout {
            topic: "t".into(),
            partition: 1,
            after: Duration::from_secs(1),
            last: Some(Box::new(broker(ErrorCode::NOT_ENOUGH_REPLICAS))),
        };
        assert_eq!(t.error_code(), Some(ErrorCode::NOT_ENOUGH_REPLICAS));
        assert!(t.to_string().contains("NOT_ENOUGH_REPLICAS"), "{t}");
    }
}
