//! The fetch engine: a background driver task that keeps fetches in flight to every partition leader
//! (or the replica the leader prefers, KIP-392), resolves starting offsets, follows leader changes,
//! and buffers raw fetch responses for `poll`.
//!
//! The driver and the `Consumer` share [`EngineState`] behind a mutex held only for short, non-blocking
//! sections. Positions advance only in `poll`, as records are handed to the application, so a fetch
//! that fails, is discarded or is still in flight never moves a position: a retry fetches the same
//! offset again, with no skip and no duplicate.
//!
//! Every partition carries a `version` that bumps on assign, seek and reset; a fetch response or
//! buffered data whose version differs from the partition's is stale and dropped, so records of a
//! partition that was unassigned or seeked are never returned after that call. Pausing keeps the
//! version: a paused partition keeps its buffered data (and a fetch in flight lands in the buffer),
//! which `poll` hands out after `resume` (see `control.rs`).
//!
//! The modules: `partition.rs` is one partition's state and the only place it changes; `plan.rs`
//! decides what to send and `fetch_response.rs` / `resolve.rs` apply the answers, all as functions of
//! the state and `now` (unit-tested without sockets); `driver.rs` is the task that sends them
//! (`wire.rs` builds the requests); `decode.rs` is the poll side.

mod decode;
mod driver;
mod fetch_response;
mod partition;
mod plan;
mod resolve;
mod wire;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use kafkaroo_group::member::OffsetToCommit;
use kafkaroo_records::DecodeOptions;
use kafkaroo_wire::ErrorCode;
use tokio::sync::Notify;
use tracing::warn;

pub(crate) use driver::run;
pub(crate) use partition::PartitionState;
pub(crate) use wire::list_offsets;

use crate::budget::MemoryBudget;
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error::Error;
use crate::record::{ConsumerRecord, TopicPartition};
use crate::telemetry::Telemetry;

/// Where a partition without a position should start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetSpec {
    Earliest,
    Latest,
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            Self::Earliest => -2,
            Self::Latest => -1,
            Self::Timestamp(t) => t,
        }
    }
}

/// Per partition: error, offset, timestamp.
pub(crate) type ListOffsetsAnswer = HashMap<TopicPartition, (ErrorCode, i64, i64)>;
/// Per partition: error, leader epoch, end offset.
type ValidateAnswer = HashMap<TopicPartition, (ErrorCode, i32, i64)>;

#[derive(Default)]
pub(crate) struct EngineState {
    pub(crate) partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Errors waiting to be returned by `poll`.
    pub(crate) errors: VecDeque<Error>,
    next_version: u64,
    pub(crate) closed: bool,
    /// Round-robin start for `poll`, so one busy partition cannot starve the others.
    pub(crate) poll_cursor: usize,
    /// Records `recv` took out of a poll batch but has not returned yet. Their partitions' positions are
    /// already past them, so commits use [`EngineState::delivered_position`] instead.
    pub(crate) undelivered: VecDeque<ConsumerRecord>,
    need_metadata: bool,
}

impl EngineState {
    /// Adds `tp` (unless assigned already) with a new version; returns its state and whether it is new.
    pub(crate) fn add_partition(
        &mut self,
        tp: &TopicPartition,
        telemetry: &Telemetry,
    ) -> (&mut PartitionState, bool) {
        let added = !self.partitions.contains_key(tp);
        if added {
            let version = self.bump_version();
            self.partitions
                .insert(tp.clone(), PartitionState::new(tp, version, telemetry));
        }
        (self.partitions.get_mut(tp).expect("inserted above"), added)
    }

    /// The next offset the application has not been given for `tp`: the first record `recv` still
    /// holds, else the position. What a commit may cover.
    pub(crate) fn delivered_position(&self, tp: &TopicPartition) -> Option<(i64, Option<i32>)> {
        if let Some(r) = self
            .undelivered
            .iter()
            .find(|r| r.partition == tp.partition && *r.topic == *tp.topic)
        {
            return Some((r.offset(), Some(r.leader_epoch)));
        }
        self.partitions.get(tp)?.delivered_position()
    }

    /// [`delivered_position`](Self::delivered_position) as an offset to commit.
    pub(crate) fn delivered_offset(&self, tp: &TopicPartition) -> Option<OffsetToCommit> {
        let (offset, leader_epoch) = self.delivered_position(tp)?;
        Some(OffsetToCommit {
            partition: tp.clone(),
            offset,
            leader_epoch,
            metadata: None,
        })
    }

    /// Drops the records `recv` holds for `tp` (also those held back by a pause) and moves the position
    /// back to the first of them, so nothing is skipped: they will be fetched again unless the caller
    /// sets another position.
    pub(crate) fn take_back_undelivered(&mut self, tp: &TopicPartition) {
        let mut first = None;
        self.undelivered.retain(|r| {
            let same = r.partition == tp.partition && *r.topic == *tp.topic;
            if same && first.is_none() {
                first = Some(r.offset());
            }
            !same
        });
        let held = self.partitions.get(tp).and_then(PartitionState::first_held);
        if let Some(offset) = first.or_else(|| held.map(|(offset, _)| offset)) {
            let next = self.bump_version();
            if let Some(p) = self.partitions.get_mut(tp) {
                p.rewind(next, offset);
            }
        }
    }

    /// The memory budget is spent: drops the data kept for paused partitions (buffered and held), with
    /// the position moved back to the first record not handed out, so it is fetched again after
    /// `resume`. Returns how many partitions lost data.
    pub(super) fn evict_paused(&mut self) -> usize {
        let keeping: Vec<TopicPartition> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.keeps_paused_data())
            .map(|(tp, _)| tp.clone())
            .collect();
        for tp in &keeping {
            let version = self.bump_version();
            let p = self.partitions.get_mut(tp).expect("listed above");
            p.evict_paused_data(version);
            tracing::debug!(partition = %tp, position = ?p.position(), "memory budget spent: data kept for a paused partition dropped");
        }
        keeping.len()
    }

    /// The consumer closes: nothing is fetched any more, and the partitions' metrics read 0.
    pub(crate) fn close(&mut self) {
        self.closed = true;
        for p in self.partitions.values_mut() {
            p.clear_metrics();
        }
    }

    pub(crate) fn bump_version(&mut self) -> u64 {
        self.next_version += 1;
        self.next_version
    }

    /// Stops `tp` (until a seek) and queues `error` for `poll`.
    pub(crate) fn fail(&mut self, tp: &TopicPartition, error: Error) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.report_stopped(&error);
            p.stop();
        }
        warn!(messaging.destination.name = %tp.topic, messaging.destination.partition.id = tp.partition, %error, "partition stopped");
        self.errors.push_back(error);
    }

    /// The leader's log ends below our position for our epoch: records we may have delivered are
    /// gone. Continue from its end, or fail with `auto.offset.reset=none`.
    fn truncated(&mut self, policy: AutoOffsetReset, tp: &TopicPartition, position: i64, end_offset: i64) {
        warn!(partition = %tp, position, end_offset, "log truncation detected");
        if policy == AutoOffsetReset::None {
            let error = Error::LogTruncation {
                partition: tp.clone(),
                position,
                end_offset,
            };
            self.fail(tp, error);
            return;
        }
        let next = self.bump_version();
        if let Some(p) = self.partitions.get_mut(tp) {
            p.truncate_to(next, end_offset);
        }
    }
}

pub(crate) struct Shared {
    pub(crate) state: Mutex<EngineState>,
    /// Wakes the driver: assignment, seek, resume, or buffered data consumed.
    pub(crate) driver_wake: Notify,
    /// Wakes `poll`: data buffered or an error queued.
    pub(crate) data_ready: Notify,
    /// Wakes `position()` waiters: a starting offset was resolved.
    pub(crate) resolved: Notify,
    pub(crate) budget: Arc<MemoryBudget>,
    pub(crate) config: ConsumerConfig,
    pub(crate) telemetry: Telemetry,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, EngineState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn decode_options(&self) -> DecodeOptions {
        DecodeOptions::default()
            .with_verify_crc(self.config.check_crcs)
            .with_max_decompressed_batch_bytes(self.config.max_decompressed_batch_bytes)
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_follower;
