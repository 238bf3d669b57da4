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

use crate::producers::{BatchHeader, Sequence};
use crate::state::State;

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
