//! The write side of the fake broker: Produce v3–13, InitProducerId v0–5 and CreateTopics v2–7, so a real
//! producer (kcat, Java's, kafkaroo's) and an admin client can write to it.
//!
//! Produce appends each partition's batch at the log end, as the leader does: the base offset and the
//! partition leader epoch are rewritten (neither is covered by the CRC) and the batch is checked (CRC,
//! one v2 batch per partition). Idempotent producers get the leader's sequence checks: a batch that
//! repeats one of the producer's last five batches is answered with the offset it got the first time and
//! not written again; a gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is
//! INVALID_PRODUCER_EPOCH. Transactions are not served: InitProducerId with a `transactional.id` is
//! answered INVALID_REQUEST, and transactional batches are appended without a transaction coordinator.

use std::collections::{BTreeMap, VecDeque};

use kafkaroo_wire::messages::create_topics_response::CreatableTopicResult;
use kafkaroo_wire::messages::produce_response::{
    LeaderIdAndEpoch, PartitionProduceResponse, TopicProduceResponse,
};
use kafkaroo_wire::messages::{
    BrokerId, CreateTopicsRequest, CreateTopicsResponse, InitProducerIdRequest, InitProducerIdResponse,
    ProduceRequest, ProduceResponse, ProducerId,
};
use kafkaroo_wire::{ErrorCode, StrBytes};
use tracing::debug;

use crate::cluster::State;

/// How many of a producer's latest batches per partition the leader remembers to answer retries, as
/// Kafka's producer state does (it matches `max.in.flight.requests.per.connection` ≤ 5).
const REMEMBERED_BATCHES: usize = 5;

/// One producer's sequence state on one partition.
#[derive(Debug, Clone, Default)]
struct SequenceState {
    epoch: i16,
    /// `(base sequence, last sequence, base offset)` of the latest batches, oldest first.
    recent: VecDeque<(i32, i32, i64)>,
}

/// The idempotent producers the cluster knows: ids handed out and sequence state per partition.
#[derive(Debug, Default)]
pub(crate) struct Producers {
    next_id: i64,
    sequences: BTreeMap<(String, i32, i64), SequenceState>,
}

/// What the sequence check decided for one batch.
enum Sequence {
    /// Append it.
    Append,
    /// A retry of a batch already written at this base offset.
    Duplicate(i64),
}

/// The fields of a v2 batch header the leader reads before appending.
struct BatchHeader {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    last_offset_delta: i32,
}

impl BatchHeader {
    /// Offsets of the v2 header fields: baseOffset 0, batchLength 8, partitionLeaderEpoch 12, magic 16,
    /// crc 17, attributes 21, lastOffsetDelta 23, timestamps 27 and 35, producerId 43, producerEpoch 51,
    /// baseSequence 53, records count 57.
    const LEN: usize = 61;

    fn read(batch: &[u8]) -> Option<Self> {
        if batch.len() < Self::LEN || batch[16] != 2 {
            return None;
        }
        let i32_at = |at: usize| i32::from_be_bytes(batch[at..at + 4].try_into().expect("4 bytes"));
        Some(Self {
            last_offset_delta: i32_at(23),
            producer_id: i64::from_be_bytes(batch[43..51].try_into().expect("8 bytes")),
            producer_epoch: i16::from_be_bytes(batch[51..53].try_into().expect("2 bytes")),
            base_sequence: i32_at(53),
        })
    }
}

impl Producers {
    /// Kafka's rule for the next sequence: it wraps from `i32::MAX` to 0.
    fn next_sequence(last: i32) -> i32 {
        if last == i32::MAX { 0 } else { last + 1 }
    }

    fn check(&self, topic: &str, partition: i32, h: &BatchHeader) -> Result<Sequence, ErrorCode> {
        if h.producer_id < 0 {
            return Ok(Sequence::Append);
        }
        let key = (topic.to_owned(), partition, h.producer_id);
        let Some(state) = self.sequences.get(&key) else {
            // A producer this partition has not seen starts at sequence 0.
            return if h.base_sequence == 0 {
                Ok(Sequence::Append)
            } else {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        };
        if h.producer_epoch < state.epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        if h.producer_epoch > state.epoch {
            return if h.base_sequence == 0 {
                Ok(Sequence::Append)
            } else {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            };
        }
        let last_sequence = h.base_sequence.wrapping_add(h.last_offset_delta);
        if let Some(&(_, _, offset)) = state
            .recent
            .iter()
            .find(|&&(base, last, _)| base == h.base_sequence && last == last_sequence)
        {
            return Ok(Sequence::Duplicate(offset));
        }
        match state.recent.back() {
            Some(&(_, last, _)) if h.base_sequence != Self::next_sequence(last) => {
                Err(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
            }
            _ => Ok(Sequence::Append),
        }
    }

    fn appended(&mut self, topic: &str, partition: i32, h: &BatchHeader, base_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let state = self
            .sequences
            .entry((topic.to_owned(), partition, h.producer_id))
            .or_default();
        if h.producer_epoch != state.epoch {
            state.epoch = h.producer_epoch;
            state.recent.clear();
        }
        let last_sequence = h.base_sequence.wrapping_add(h.last_offset_delta);
        state
            .recent
            .push_back((h.base_sequence, last_sequence, base_offset));
        if state.recent.len() > REMEMBERED_BATCHES {
            state.recent.pop_front();
        }
    }
}

/// Appends one partition's batch as the leader `broker`; the base offset it got (or had, for a retry).
fn append(
    st: &mut State,
    broker: i32,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> Result<i64, ErrorCode> {
    let p = st
        .partition(topic, partition)
        .map_err(|_| ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
    if p.leader != broker {
        return Err(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    }
    let header = BatchHeader::read(records).ok_or(ErrorCode::CORRUPT_MESSAGE)?;
    if let Sequence::Duplicate(offset) = st.producers.check(topic, partition, &header)? {
        return Ok(offset);
    }
    let p = st
        .partition_mut(topic, partition)
        .map_err(|_| ErrorCode::UNKNOWN_TOPIC_OR_PARTITION)?;
    let mut batch = records.to_vec();
    batch[0..8].copy_from_slice(&p.log.end().to_be_bytes());
    batch[12..16].copy_from_slice(&p.epoch.to_be_bytes());
    let (base, _) = p.log.append(batch).map_err(|e| {
        debug!(topic, partition, error = %e, "produced batch refused");
        ErrorCode::CORRUPT_MESSAGE
    })?;
    st.producers.appended(topic, partition, &header, base);
    Ok(base)
}

/// Answers a Produce request received by `broker`. The caller wakes waiting fetches when anything was
/// appended (the second value).
pub(crate) fn produce(
    st: &mut State,
    broker: i32,
    req: &ProduceRequest,
    version: i16,
) -> (ProduceResponse, bool) {
    let mut appended = false;
    let responses = req
        .topic_data
        .iter()
        .map(|t| {
            let name = if version >= 13 {
                st.topics
                    .iter()
                    .find(|(_, s)| s.id == t.topic_id)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default()
            } else {
                t.name.0.to_string()
            };
            let partition_responses = t
                .partition_data
                .iter()
                .map(|pd| {
                    let result = match &pd.records {
                        Some(records) => append(st, broker, &name, pd.index, records),
                        None => Err(ErrorCode::CORRUPT_MESSAGE),
                    };
                    let mut r = PartitionProduceResponse::default()
                        .with_index(pd.index)
                        .with_log_append_time_ms(-1);
                    match result {
                        Ok(base) => {
                            appended = true;
                            let log_start = st.partition(&name, pd.index).map_or(0, |p| p.log.log_start());
                            r = r.with_base_offset(base).with_log_start_offset(log_start);
                        }
                        Err(code) => {
                            r = r
                                .with_error_code(code.0)
                                .with_base_offset(-1)
                                .with_log_start_offset(-1);
                            if code == ErrorCode::NOT_LEADER_OR_FOLLOWER
                                && version >= 10
                                && let Ok(p) = st.partition(&name, pd.index)
                            {
                                r = r.with_current_leader(
                                    LeaderIdAndEpoch::default()
                                        .with_leader_id(BrokerId(p.leader))
                                        .with_leader_epoch(p.epoch),
                                );
                            }
                        }
                    }
                    r
                })
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name.clone())
                .with_topic_id(t.topic_id)
                .with_partition_responses(partition_responses)
        })
        .collect();
    (ProduceResponse::default().with_responses(responses), appended)
}

/// Answers InitProducerId: a new producer id at epoch 0, or (KIP-360, v3+) the same id with the next
/// epoch when the producer names its current id and epoch.
pub(crate) fn init_producer_id(st: &mut State, req: &InitProducerIdRequest) -> InitProducerIdResponse {
    if req.transactional_id.is_some() {
        return InitProducerIdResponse::default()
            .with_error_code(ErrorCode::INVALID_REQUEST.0)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    let (id, epoch) = if req.producer_id.0 >= 0 && req.producer_epoch >= 0 {
        match req.producer_epoch.checked_add(1) {
            Some(epoch) => (req.producer_id.0, epoch),
            None => (st.producers.new_id(), 0),
        }
    } else {
        (st.producers.new_id(), 0)
    };
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch)
}

impl Producers {
    fn new_id(&mut self) -> i64 {
        self.next_id += 1;
        // Recognisable in logs, like the topic ids.
        0x6b72_0000 + self.next_id
    }
}

/// Answers CreateTopics: each topic with its partition count (-1: one partition, Kafka's
/// `num.partitions` default); replication factors and configs are accepted and ignored.
pub(crate) fn create_topics(st: &mut State, req: &CreateTopicsRequest) -> (CreateTopicsResponse, bool) {
    let mut created = false;
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let name = t.name.0.as_str();
            let partitions = if t.num_partitions < 0 { 1 } else { t.num_partitions };
            let mut r = CreatableTopicResult::default()
                .with_name(t.name.clone())
                .with_num_partitions(partitions)
                .with_replication_factor(t.replication_factor.max(1));
            if name.is_empty() || partitions == 0 {
                r = r
                    .with_error_code(ErrorCode::INVALID_PARTITIONS.0)
                    .with_error_message(Some(StrBytes::from_static_str(
                        "a topic needs a name and partitions",
                    )));
            } else if st.topics.contains_key(name) {
                r = r
                    .with_error_code(ErrorCode::TOPIC_ALREADY_EXISTS.0)
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "topic {name:?} exists already"
                    ))));
            } else if !req.validate_only {
                let topic = st.create_topic(name, partitions);
                r = r.with_topic_id(topic.id);
                created = true;
            }
            r
        })
        .collect();
    (CreateTopicsResponse::default().with_topics(topics), created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(producer_id: i64, producer_epoch: i16, base_sequence: i32, records: i32) -> BatchHeader {
        BatchHeader {
            producer_id,
            producer_epoch,
            base_sequence,
            last_offset_delta: records - 1,
        }
    }

    #[test]
    fn sequences_are_checked_like_the_leader_does() {
        let mut p = Producers::default();
        let h = header(7, 0, 0, 3);
        assert!(matches!(p.check("t", 0, &h), Ok(Sequence::Append)));
        p.appended("t", 0, &h, 100);
        // The same batch again: a retry, answered with its first offset.
        assert!(matches!(p.check("t", 0, &h), Ok(Sequence::Duplicate(100))));
        // A gap.
        assert_eq!(
            p.check("t", 0, &header(7, 0, 4, 1)).err(),
            Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // The next one.
        assert!(matches!(
            p.check("t", 0, &header(7, 0, 3, 1)),
            Ok(Sequence::Append)
        ));
        // A new producer must start at 0; another partition is separate.
        assert_eq!(
            p.check("t", 1, &header(7, 0, 5, 1)).err(),
            Some(ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER)
        );
        // A bumped epoch restarts at 0; the old epoch is fenced once the new one wrote.
        let bumped = header(7, 1, 0, 1);
        assert!(matches!(p.check("t", 0, &bumped), Ok(Sequence::Append)));
        p.appended("t", 0, &bumped, 103);
        assert_eq!(
            p.check("t", 0, &header(7, 0, 3, 1)).err(),
            Some(ErrorCode::INVALID_PRODUCER_EPOCH)
        );
        // Not idempotent: never checked.
        assert!(matches!(
            p.check("t", 0, &header(-1, -1, -1, 1)),
            Ok(Sequence::Append)
        ));
    }

    #[test]
    fn sequences_wrap_at_i32_max() {
        assert_eq!(Producers::next_sequence(i32::MAX), 0);
        let mut p = Producers::default();
        let h = header(7, 0, 0, 1);
        p.appended("t", 0, &h, 0);
        p.sequences.get_mut(&("t".to_owned(), 0, 7)).unwrap().recent[0] = (i32::MAX, i32::MAX, 0);
        assert!(matches!(
            p.check("t", 0, &header(7, 0, 0, 1)),
            Ok(Sequence::Append)
        ));
    }
}
