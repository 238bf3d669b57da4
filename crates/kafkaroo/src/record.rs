//! What `poll` hands out: records that slice the fetch response (zero copy), grouped by partition.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use kafkaroo_records::{Headers, Record, TimestampType};

/// A topic and partition (the same type the group protocol uses).
pub use kafkaroo_group::TopicPartition;

/// One record as delivered to the application. Key, value and header values are slices of the fetch
/// response (or of the batch's decompression buffer): holding one record keeps that whole buffer alive
/// and counted against the memory budget. Use [`ConsumerRecord::detach`] to keep a record for long.
#[derive(Clone)]
pub struct ConsumerRecord {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) leader_epoch: i32,
    pub(crate) record: Record,
}

impl ConsumerRecord {
    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }
    /// The offset.
    pub fn offset(&self) -> i64 {
        self.record.offset()
    }
    /// Timestamp in milliseconds since the epoch.
    pub fn timestamp(&self) -> i64 {
        self.record.timestamp()
    }
    /// Whether the timestamp is the producer's (CreateTime) or the broker's (LogAppendTime).
    pub fn timestamp_type(&self) -> TimestampType {
        self.record.timestamp_type()
    }
    /// The leader epoch of the batch the record came in (committed with offsets, KIP-320).
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }
    /// The key, `None` for a null key.
    pub fn key(&self) -> Option<&[u8]> {
        self.record.key()
    }
    /// The value, `None` for a null value (a tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        self.record.value()
    }
    /// The key as a `Bytes` handle (no copy).
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.record.key_bytes()
    }
    /// The value as a `Bytes` handle (no copy).
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.record.value_bytes()
    }
    /// The headers, in order, repeated keys kept.
    pub fn headers(&self) -> Headers<'_> {
        self.record.headers()
    }
    /// The decoded record underneath.
    pub fn record(&self) -> &Record {
        &self.record
    }
    /// A copy that no longer pins the fetch buffer.
    pub fn detach(&self) -> Self {
        Self {
            record: self.record.detach(),
            ..self.clone()
        }
    }
}

impl fmt::Debug for ConsumerRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsumerRecord")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &self.offset())
            .field("timestamp", &self.timestamp())
            .field("key_len", &self.key().map(<[u8]>::len))
            .field("value_len", &self.value().map(<[u8]>::len))
            .finish()
    }
}

/// The records of one `poll`, grouped by partition in the order they were fetched.
#[derive(Debug, Default, Clone)]
pub struct PollBatch {
    pub(crate) partitions: Vec<(TopicPartition, Vec<ConsumerRecord>)>,
}

impl PollBatch {
    /// Whether no record was returned.
    pub fn is_empty(&self) -> bool {
        self.partitions.iter().all(|(_, r)| r.is_empty())
    }
    /// Number of records.
    pub fn len(&self) -> usize {
        self.partitions.iter().map(|(_, r)| r.len()).sum()
    }
    /// Records per partition.
    pub fn partitions(&self) -> impl Iterator<Item = (&TopicPartition, &[ConsumerRecord])> {
        self.partitions.iter().map(|(tp, r)| (tp, r.as_slice()))
    }
    /// All records, partition by partition.
    pub fn iter(&self) -> impl Iterator<Item = &ConsumerRecord> {
        self.partitions.iter().flat_map(|(_, r)| r.iter())
    }
}

type PartitionRecords = (TopicPartition, Vec<ConsumerRecord>);

impl IntoIterator for PollBatch {
    type Item = ConsumerRecord;
    type IntoIter = std::iter::FlatMap<
        std::vec::IntoIter<PartitionRecords>,
        Vec<ConsumerRecord>,
        fn(PartitionRecords) -> Vec<ConsumerRecord>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        fn records(p: PartitionRecords) -> Vec<ConsumerRecord> {
            p.1
        }
        self.partitions
            .into_iter()
            .flat_map(records as fn(PartitionRecords) -> Vec<ConsumerRecord>)
    }
}
