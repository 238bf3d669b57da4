//! Applying a fetch answer (or its failure) to the engine state, as a function of the state, the
//! answer and `now`. Partition errors are sorted into four classes ([`classify`]; scenarios 18–22 of
//! docs/faults-and-invariants.md): the leader moved (refresh metadata, fetch the same position
//! again), retry later, offset out of range (reset per `auto.offset.reset`), and fatal for the
//! partition (reported once by `poll`; the other partitions go on).
//!
//! Fetching from the closest replica (KIP-392): a leader's answer naming a `preferred_read_replica`
//! sends the partition's next fetches there, until `metadata.max.age.ms` passes. Any error from that
//! follower short of a fatal one sends the partition back to the leader at the same position; its
//! out-of-range answer in particular never resets the position (the follower may just be behind), as
//! Java's consumer re-checks with the leader.

use std::sync::Arc;
use std::time::Instant;

use kafkaroo_records::{AbortedTransactionFilter, DecodeOptions};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::FetchResponse;
use kafkaroo_wire::messages::fetch_response::PartitionData;
use tracing::{debug, info, trace};

use super::EngineState;
use super::partition::{Buffered, PartitionState};
use super::plan::FetchPlan;
use crate::config::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use crate::error::Error;
use crate::record::TopicPartition;

/// What a partition error in a fetch answer calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FetchErrorClass {
    /// The leader moved or the topic changed: refresh metadata (or take the KIP-951 hint) and fetch
    /// the same position again.
    LeaderMoved,
    /// The broker is behind us: retry after the backoff with fresh metadata.
    RetryLater,
    /// The position is outside the log: reset per `auto.offset.reset`.
    OutOfRange,
    /// The preferred read replica cannot serve the partition now (not a replica any more, behind,
    /// another epoch): forget it and fetch the same position from the leader after the backoff, with
    /// fresh metadata.
    LeaveFollower,
    /// The preferred read replica does not have the position: forget it and fetch the same position
    /// from the leader at once. Only the leader's out-of-range answer resets.
    FollowerOutOfRange,
    /// Nothing the client can fix: the partition stops with the error.
    Fatal,
}

/// Who answered a partition's fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answerer {
    Leader,
    /// A broker other than the partition's leader: its preferred read replica (KIP-392).
    Follower,
}

/// Sorts a non-zero partition error of a fetch answer from the leader or a follower.
pub(super) fn classify(code: ErrorCode, from: Answerer) -> FetchErrorClass {
    let class = match code {
        ErrorCode::NOT_LEADER_OR_FOLLOWER
        | ErrorCode::LEADER_NOT_AVAILABLE
        | ErrorCode::REPLICA_NOT_AVAILABLE
        | ErrorCode::KAFKA_STORAGE_ERROR
        | ErrorCode::FENCED_LEADER_EPOCH
        | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
        | ErrorCode::UNKNOWN_TOPIC_ID
        | ErrorCode::INCONSISTENT_TOPIC_ID
        | ErrorCode::NOT_COORDINATOR => FetchErrorClass::LeaderMoved,
        ErrorCode::UNKNOWN_LEADER_EPOCH | ErrorCode::OFFSET_NOT_AVAILABLE => FetchErrorClass::RetryLater,
        ErrorCode::OFFSET_OUT_OF_RANGE => FetchErrorClass::OutOfRange,
        _ => FetchErrorClass::Fatal,
    };
    match (from, class) {
        (Answerer::Leader, _) | (_, FetchErrorClass::Fatal) => class,
        (Answerer::Follower, FetchErrorClass::OutOfRange) => FetchErrorClass::FollowerOutOfRange,
        (Answerer::Follower, _) => FetchErrorClass::LeaveFollower,
    }
}

/// What the answer is applied with.
pub(super) struct Context<'a> {
    pub(super) config: &'a ConsumerConfig,
    pub(super) decode: DecodeOptions,
    pub(super) now: Instant,
    /// Whether a broker id can be connected to (KIP-951 leader hints name brokers).
    pub(super) known_broker: &'a dyn Fn(i32) -> bool,
}

/// What became of a fetch answer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Applied {
    /// A top-level (fetch session) error: the session must start over with a full fetch.
    SessionError(ErrorCode),
    /// Applied; `got_data`: something was buffered for `poll`.
    Partitions { got_data: bool },
}

/// The fetch failed as a whole (connection, timeout): every partition of it waits `retry_at` and
/// metadata is refreshed; a partition fetched from its preferred read replica goes back to the leader.
/// A fatal error is the caller's to report.
pub(super) fn apply_failure(st: &mut EngineState, plan: &FetchPlan, retry_at: Instant) {
    returned(st, plan);
    for tp in plan.partitions.keys() {
        if let Some(p) = st.partitions.get_mut(tp) {
            p.forget_preferred_replica();
            p.retry_after(retry_at);
        }
    }
    st.need_metadata = true;
}

/// The partitions of `plan` are no longer in flight.
fn returned(st: &mut EngineState, plan: &FetchPlan) {
    for (tp, (_, version)) in &plan.partitions {
        if let Some(p) = st.partitions.get_mut(tp) {
            p.fetch_returned(*version);
        }
    }
}

/// Applies a fetch answer (in the request's `version`) to the partitions it was sent for. Answers
/// for a partition seeked, reset or failed since are dropped (invariant 6), watermarks excepted.
pub(super) fn apply_response(
    st: &mut EngineState,
    plan: &FetchPlan,
    response: FetchResponse,
    version: i16,
    cx: &Context<'_>,
) -> Applied {
    returned(st, plan);
    let top = ErrorCode(response.error_code);
    if !top.is_ok() {
        return Applied::SessionError(top);
    }
    let mut got_data = false;
    for topic in response.responses {
        let name: Arc<str> = if version >= 13 {
            match plan.topic_ids.get(&topic.topic_id) {
                Some(n) => n.clone(),
                None => continue,
            }
        } else {
            Arc::from(topic.topic.0.as_str())
        };
        for part in topic.partitions {
            let tp = TopicPartition::new(&*name, part.partition_index);
            let Some(&(fetch_offset, sent_version)) = plan.partitions.get(&tp) else {
                continue;
            };
            let Some(p) = st.partitions.get_mut(&tp) else {
                continue;
            };
            match apply_partition(p, &tp, part, (plan.broker, fetch_offset, sent_version), cx) {
                After::Nothing => {}
                After::Data => got_data = true,
                After::NeedMetadata => st.need_metadata = true,
                After::Fail(error) => st.fail(&tp, error),
                After::Truncated { end_offset } => {
                    st.truncated(cx.config.auto_offset_reset, &tp, fetch_offset, end_offset);
                }
            }
        }
    }
    Applied::Partitions { got_data }
}

/// What a partition's answer asks of the engine beyond the partition.
enum After {
    Nothing,
    Data,
    NeedMetadata,
    Fail(Error),
    /// The leader's log diverged below the fetch offset (KIP-320, inline in the answer).
    Truncated {
        end_offset: i64,
    },
}

/// Applies one partition's answer; `sent` is the broker asked, the offset and the partition version.
fn apply_partition(
    p: &mut PartitionState,
    tp: &TopicPartition,
    part: PartitionData,
    sent: (i32, i64, u64),
    cx: &Context<'_>,
) -> After {
    let (broker, fetch_offset, sent_version) = sent;
    let config = cx.config;
    let retry_at = cx.now + config.retry_backoff;
    let code = ErrorCode(part.error_code);
    if code.is_ok() {
        p.record_watermarks(
            part.high_watermark,
            part.last_stable_offset,
            part.log_start_offset,
            config.isolation_level,
        );
    }
    if !p.answer_is_current(sent_version, fetch_offset) {
        trace!(partition = %tp, "discarding stale fetch response");
        return After::Nothing;
    }
    if code.is_ok() {
        if part.diverging_epoch.epoch >= 0 && part.diverging_epoch.end_offset >= 0 {
            return After::Truncated {
                end_offset: part.diverging_epoch.end_offset,
            };
        }
        let replica = part.preferred_read_replica.0;
        if replica >= 0 && replica != broker {
            if !(cx.known_broker)(replica) {
                // Our metadata is behind the leader's: stay with the leader (nothing buffered from
                // this answer, the position is unchanged) and look again after the backoff.
                debug!(partition = %tp, replica, "preferred read replica not in metadata; refreshing");
                p.retry_after(retry_at);
                return After::NeedMetadata;
            }
            debug!(partition = %tp, leader = broker, replica, "fetching from the preferred read replica");
            p.prefer_replica(replica, cx.now + config.metadata_max_age);
        }
        let records = part.records.unwrap_or_default();
        if let Some(needed) = incomplete_first_batch(&records) {
            // No complete batch fitted. Kafka 2.1+ always sends the first batch of the first
            // partition whole (KIP-74), but other partitions are cut at their limit: ask for more
            // next time, and give up (naming the offset) at fetch.max.bytes.
            let cap = config.fetch_max_bytes.max(config.max_partition_fetch_bytes);
            let current = p.fetch_size().unwrap_or(config.max_partition_fetch_bytes);
            if current >= cap {
                return After::Fail(Error::BatchTooLarge {
                    partition: tp.clone(),
                    offset: fetch_offset,
                    batch_size: needed,
                    fetch_limit: cap,
                });
            }
            let grown = current
                .saturating_mul(2)
                .max(i32::try_from(needed).unwrap_or(i32::MAX))
                .min(cap);
            debug!(partition = %tp, current, grown, "no complete batch fitted; growing the fetch size");
            p.grow_fetch_size(grown);
            return After::Nothing;
        }
        if records.is_empty() {
            return After::Nothing;
        }
        let filter = (config.isolation_level == IsolationLevel::ReadCommitted).then(|| {
            let aborted = part.aborted_transactions.unwrap_or_default();
            AbortedTransactionFilter::new(aborted.iter().map(|a| (a.producer_id.0, a.first_offset)))
        });
        p.report_fetched(records.len());
        p.buffer(Buffered::new(records, cx.decode, filter));
        return After::Data;
    }
    let from = if p.leader() == Some(broker) {
        Answerer::Leader
    } else {
        Answerer::Follower
    };
    match classify(code, from) {
        FetchErrorClass::LeaderMoved => {
            let hint = (part.current_leader.leader_id.0, part.current_leader.leader_epoch);
            debug!(partition = %tp, error = ?code, hint_leader = hint.0, "leader moved; refreshing metadata");
            p.leader_moved(Some(hint), cx.known_broker);
            p.retry_after(retry_at);
            After::NeedMetadata
        }
        FetchErrorClass::RetryLater => {
            p.retry_after(retry_at);
            After::NeedMetadata
        }
        FetchErrorClass::OutOfRange => {
            let policy = config.auto_offset_reset;
            info!(partition = %tp, offset = fetch_offset, log_start = part.log_start_offset, high_watermark = part.high_watermark, ?policy, "fetch offset out of range");
            if policy == AutoOffsetReset::None {
                return After::Fail(Error::NoOffsetForPartition {
                    partition: tp.clone(),
                    offset: Some(fetch_offset),
                });
            }
            p.reset_position();
            After::Nothing
        }
        FetchErrorClass::LeaveFollower => {
            debug!(partition = %tp, replica = broker, error = ?code, "preferred read replica failed; back to the leader");
            p.forget_preferred_replica();
            p.retry_after(retry_at);
            After::NeedMetadata
        }
        FetchErrorClass::FollowerOutOfRange => {
            debug!(partition = %tp, replica = broker, offset = fetch_offset, "out of range at the preferred read replica; asking the leader");
            p.forget_preferred_replica();
            After::Nothing
        }
        FetchErrorClass::Fatal => After::Fail(Error::Partition {
            partition: tp.clone(),
            code,
        }),
    }
}

/// `Some(bytes the first batch needs)` when `records` holds bytes but not one complete batch.
pub(super) fn incomplete_first_batch(records: &[u8]) -> Option<usize> {
    if records.is_empty() {
        return None;
    }
    let Some(len) = records.get(8..12) else {
        return Some(kafkaroo_records::LOG_OVERHEAD);
    };
    let batch_length = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
    // A negative length is corrupt data: let the decoder report it.
    let needed = kafkaroo_records::LOG_OVERHEAD.checked_add(usize::try_from(batch_length).ok()?)?;
    (records.len() < needed).then_some(needed)
}
