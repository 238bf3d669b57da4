//! What can go wrong setting up or steering the fake cluster. These are test-author mistakes (an unknown
//! topic, a malformed batch), reported instead of panicking inside the library.

/// A fake-cluster operation could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listener could not be bound.
    #[error("cannot bind a broker listener: {0}")]
    Bind(String),
    /// The topic does not exist.
    #[error("unknown topic {0:?}")]
    UnknownTopic(String),
    /// The topic exists already.
    #[error("topic {0:?} exists already")]
    TopicExists(String),
    /// The partition does not exist.
    #[error("unknown partition {topic}-{partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The broker does not exist.
    #[error("unknown broker {0}")]
    UnknownBroker(i32),
    /// A batch to append is not a single valid record batch at the log end.
    #[error("bad batch: {0}")]
    BadBatch(String),
    /// An offset outside the log or inside a batch.
    #[error("bad offset: {0}")]
    Offset(String),
}
