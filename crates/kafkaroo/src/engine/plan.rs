//! Deciding what to send, as functions of the engine state and `now`: which metadata to ask for,
//! which positions to resolve or validate, and which partitions to fetch from which broker. The
//! driver sends what these return; nothing here performs I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkaroo_wire::Uuid;

use super::partition::{FetchCandidate, Resolution};
use super::{EngineState, OffsetSpec};
use crate::config::AutoOffsetReset;
use crate::error::Error;
use crate::record::TopicPartition;
use crate::session::{SessionPartition, SessionRequest};

/// A fetch in flight: per partition the offset and version it was sent for.
pub(super) struct FetchPlan {
    /// The broker it goes to: the partitions' leader or their preferred read replica (KIP-392).
    pub(super) broker: i32,
    pub(super) partitions: BTreeMap<TopicPartition, (i64, u64)>,
    pub(super) session: SessionRequest,
    pub(super) wanted: BTreeMap<TopicPartition, SessionPartition>,
    pub(super) topic_ids: HashMap<Uuid, Arc<str>>,
}

/// Partitions to fetch from one broker: the session parameters and the version each is fetched for.
pub(super) type BrokerFetch = Vec<(TopicPartition, SessionPartition, u64)>;

/// A ListOffsets query: partition, version, where to start, current leader epoch.
pub(super) type ResetQuery = (TopicPartition, u64, OffsetSpec, i32);
/// An OffsetForLeaderEpoch query: partition, version, last fetched epoch, current leader epoch.
pub(super) type ValidateQuery = (TopicPartition, u64, i32, i32);

/// The earliest instant the driver must look again (a partition's backoff ends).
#[derive(Debug, Default)]
pub(super) struct NextWake(pub(super) Option<Instant>);

impl NextWake {
    pub(super) fn at(&mut self, t: Instant) {
        self.0 = Some(self.0.map_or(t, |n| n.min(t)));
    }
}

/// The topics to ask metadata for, when it is due: a partition lacks a leader, an answer asked for
/// it, or the last refresh is older than `metadata.max.age.ms`. Clears the request.
pub(super) fn metadata_due(
    st: &mut EngineState,
    now: Instant,
    last: Option<Instant>,
    max_age: Duration,
) -> Option<BTreeSet<String>> {
    let leaderless = st.partitions.values().any(|p| p.needs_leader());
    let stale = last.is_none_or(|t| now.duration_since(t) >= max_age);
    if !(st.need_metadata || leaderless || stale) || st.partitions.is_empty() {
        return None;
    }
    st.need_metadata = false;
    Some(st.partitions.keys().map(|tp| tp.topic.clone()).collect())
}

/// Positions to resolve (ListOffsets) and validate (OffsetForLeaderEpoch), per leader.
#[derive(Debug, Default)]
pub(super) struct Resolutions {
    pub(super) resets: BTreeMap<i32, Vec<ResetQuery>>,
    pub(super) validations: BTreeMap<i32, Vec<ValidateQuery>>,
    /// Partitions that failed for want of a position (`auto.offset.reset=none`).
    pub(super) failed: usize,
}

/// What to resolve now, skipping partitions with a resolution in flight for their version
/// (`resolving`). A partition without a position under `auto.offset.reset=none` fails here.
pub(super) fn resolutions(
    st: &mut EngineState,
    now: Instant,
    resolving: &BTreeMap<TopicPartition, u64>,
    policy: AutoOffsetReset,
    wake: &mut NextWake,
) -> Resolutions {
    let mut out = Resolutions::default();
    let mut no_offset = Vec::new();
    for (tp, p) in st.partitions.iter_mut() {
        if resolving.get(tp) == Some(&p.version()) {
            continue;
        }
        match p.resolution(now, policy) {
            Resolution::Skip => {}
            Resolution::WaitUntil(t) => wake.at(t),
            Resolution::ListOffsets { leader, spec, epoch } => {
                let query = (tp.clone(), p.version(), spec, epoch);
                out.resets.entry(leader).or_default().push(query);
            }
            Resolution::Validate {
                leader,
                last_epoch,
                epoch,
            } => {
                let query = (tp.clone(), p.version(), last_epoch, epoch);
                out.validations.entry(leader).or_default().push(query);
            }
            Resolution::NoOffset => no_offset.push(tp.clone()),
        }
    }
    out.failed = no_offset.len();
    for tp in no_offset {
        let error = Error::NoOffsetForPartition {
            partition: tp.clone(),
            offset: None,
        };
        st.fail(&tp, error);
    }
    out
}

/// The partitions to fetch now, per broker (the leader, or the preferred read replica until it
/// expires): not paused, failed, buffered or already in flight, with no resolution in flight, and not
/// on a broker that has a fetch in flight (`busy`).
pub(super) fn fetches(
    st: &EngineState,
    now: Instant,
    busy: &BTreeSet<i32>,
    resolving: &BTreeMap<TopicPartition, u64>,
    max_partition_fetch_bytes: i32,
    wake: &mut NextWake,
) -> BTreeMap<i32, BrokerFetch> {
    let mut by_broker: BTreeMap<i32, BrokerFetch> = BTreeMap::new();
    for (tp, p) in &st.partitions {
        if p.fetch_broker(now).is_some_and(|b| busy.contains(&b)) || resolving.get(tp) == Some(&p.version()) {
            continue;
        }
        match p.fetch_candidate(now, max_partition_fetch_bytes) {
            FetchCandidate::Skip => {}
            FetchCandidate::WaitUntil(t) => wake.at(t),
            FetchCandidate::Fetch { broker, params } => {
                by_broker
                    .entry(broker)
                    .or_default()
                    .push((tp.clone(), params, p.version()));
            }
        }
    }
    by_broker
}

/// How many bytes one fetch reserves from the memory budget: at most `fetch.max.bytes` and at most a
/// quarter of the budget (a record the application keeps pins its whole response, and one kept
/// record must not stall the consumer), and at least the smaller of `max.partition.fetch.bytes` and
/// 64 KiB. Returns `(wanted, minimum)`.
pub(super) fn fetch_reservation(
    budget_limit: usize,
    fetch_max_bytes: i32,
    max_partition_fetch_bytes: i32,
) -> (usize, usize) {
    let min = (max_partition_fetch_bytes as usize).min(64 * 1024);
    let per_fetch = (fetch_max_bytes as usize).min((budget_limit / 4).max(min));
    (per_fetch, min)
}

/// Marks the partitions of `plan` in flight: the fetch is sent at `now`.
pub(super) fn mark_in_flight(st: &mut EngineState, plan: &FetchPlan, now: Instant) {
    for tp in plan.partitions.keys() {
        if let Some(p) = st.partitions.get_mut(tp) {
            p.mark_in_flight(now);
        }
    }
}
