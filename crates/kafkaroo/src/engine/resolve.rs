//! Applying metadata, ListOffsets and OffsetForLeaderEpoch answers to the engine state: leaders and
//! epochs (which only move forward, invariant 10 of docs/faults-and-invariants.md), starting positions,
//! and position validation after a leader change (KIP-320, scenario 19).

use std::time::Instant;

use kafkaroo_net::Metadata;
use tracing::debug;

use super::partition::MetadataVerdict;
use super::{EngineState, ListOffsetsAnswer, OffsetSpec, ValidateAnswer};
use crate::config::{AutoOffsetReset, IsolationLevel};
use crate::error::Error;
use crate::record::TopicPartition;

/// What a metadata answer changed beyond the partitions.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct MetadataApplied {
    /// Some partition is not usable yet: ask again after a backoff.
    pub(super) again: bool,
    /// A topic was re-created: fetch sessions hold its old id and must start over.
    pub(super) recreated: bool,
}

/// Takes leaders and epochs from `metadata` for every partition not failed.
pub(super) fn apply_metadata(st: &mut EngineState, metadata: &Metadata) -> MetadataApplied {
    let known_broker = |id: i32| metadata.brokers.contains_key(&id);
    let mut failures = Vec::new();
    let mut recreated = Vec::new();
    let mut again = false;
    for (tp, p) in st.partitions.iter_mut() {
        if p.is_failed() {
            continue;
        }
        let Some(topic) = metadata.topics.get(&tp.topic) else {
            continue;
        };
        match p.apply_metadata(tp, topic, known_broker) {
            MetadataVerdict::Current => {}
            MetadataVerdict::Again => again = true,
            MetadataVerdict::Recreated => recreated.push(tp.clone()),
            MetadataVerdict::Fail(e) => failures.push((tp.clone(), e)),
        }
    }
    let out = MetadataApplied {
        again: again || !recreated.is_empty(),
        recreated: !recreated.is_empty(),
    };
    for tp in recreated {
        let next = st.bump_version();
        let topic_id = metadata.topics.get(&tp.topic).map(|t| t.id);
        if let Some(p) = st.partitions.get_mut(&tp) {
            p.recreate(next, topic_id);
        }
    }
    if out.again {
        st.need_metadata = true;
    }
    for (tp, e) in failures {
        st.fail(&tp, e);
    }
    out
}

/// A request for `partitions` failed as a whole: retry at `retry_at` with fresh metadata.
pub(super) fn retry_later<'a>(
    st: &mut EngineState,
    partitions: impl Iterator<Item = (&'a TopicPartition, u64)>,
    retry_at: Instant,
) {
    st.need_metadata = true;
    for (tp, version) in partitions {
        if let Some(p) = st.partitions.get_mut(tp).filter(|p| p.version() == version) {
            p.retry_after(retry_at);
        }
    }
}

/// Applies a ListOffsets answer to the partitions (still at the version) it was sent for. Returns
/// whether a position was resolved and whether a partition failed.
pub(super) fn apply_list_offsets(
    st: &mut EngineState,
    partitions: Vec<(TopicPartition, u64, OffsetSpec)>,
    answers: &ListOffsetsAnswer,
    retry_at: Instant,
    isolation: IsolationLevel,
) -> (bool, bool) {
    let mut resolved = false;
    let mut failures = Vec::new();
    for (tp, version, spec) in partitions {
        let Some(p) = st.partitions.get_mut(&tp).filter(|p| p.version() == version) else {
            continue;
        };
        let Some(&(code, offset, _)) = answers.get(&tp) else {
            p.retry_after(retry_at);
            continue;
        };
        if code.is_ok() {
            if offset < 0 {
                p.resolve_to_end();
                continue;
            }
            debug!(partition = %tp, ?spec, offset, "position resolved");
            p.resolved(offset, isolation);
            resolved = true;
        } else if code.is_retriable() {
            p.retry_after(retry_at);
            st.need_metadata = true;
        } else {
            failures.push((tp.clone(), Error::Partition { partition: tp, code }));
        }
    }
    let failed = !failures.is_empty();
    for (tp, e) in failures {
        st.fail(&tp, e);
    }
    (resolved, failed)
}

/// Applies an OffsetForLeaderEpoch answer: a position above the leader's end offset for our epoch
/// means the log was truncated.
pub(super) fn apply_validation(
    st: &mut EngineState,
    partitions: Vec<(TopicPartition, u64, i32)>,
    answers: &ValidateAnswer,
    retry_at: Instant,
    policy: AutoOffsetReset,
) {
    for (tp, version, _epoch) in partitions {
        let Some(p) = st.partitions.get_mut(&tp).filter(|p| p.version() == version) else {
            continue;
        };
        let Some(&(code, _leader_epoch, end_offset)) = answers.get(&tp) else {
            continue;
        };
        if !code.is_ok() {
            if code == kafkaroo_wire::ErrorCode::UNSUPPORTED_VERSION || code.is_fatal() {
                p.skip_validation();
            } else {
                p.retry_after(retry_at);
                st.need_metadata = true;
            }
            continue;
        }
        let Some(position) = p.validated() else { continue };
        if end_offset >= 0 && end_offset < position {
            st.truncated(policy, &tp, position, end_offset);
        }
    }
}
