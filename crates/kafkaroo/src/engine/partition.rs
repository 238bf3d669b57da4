//! One assigned partition's fetch state. Its fields are private: every change goes through a method
//! here, so the rules below hold wherever the change comes from (the driver, `poll`, pause/seek, the
//! group and assign-mode committed offsets):
//!
//! - buffered data and the in-flight mark belong to the current `version`: a seek, a reset or a
//!   truncation takes a new version and drops both at once ([`PartitionState::invalidate`]);
//! - a failed partition holds no buffered data and has nothing in flight, until a seek revives it;
//! - a partition waiting for its committed offset has no position; the offset or a seek ends the wait;
//! - the leader epoch never moves backwards (invariant 10, docs/faults-and-invariants.md);
//! - a preferred read replica (KIP-392) is only a routing choice: choosing it, losing it or its
//!   expiry never touches the position, so the leader and the replica are asked for the same offset.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use kafkaroo_net::TopicMetadata;
use kafkaroo_records::{AbortedTransactionFilter, BatchReader, DecodeOptions, RecordBatch, Records};
use kafkaroo_wire::{ErrorCode, Uuid};
use tracing::{debug, warn};

use super::OffsetSpec;
use crate::budget::MemoryBudget;
use crate::config::{AutoOffsetReset, IsolationLevel};
use crate::error::Error;
use crate::record::{ConsumerRecord, TopicPartition};
use crate::session::SessionPartition;
use crate::telemetry::{PartitionMetrics, PauseTimer, Telemetry};

/// Data fetched for a partition and not yet handed to the application.
pub(crate) struct Buffered {
    pub(super) reader: BatchReader,
    pub(super) current: Option<(RecordBatch, Records)>,
    pub(super) filter: Option<AbortedTransactionFilter>,
    /// Bytes of the record batches fetched (what `reader` started with).
    len: usize,
}

impl Buffered {
    /// One partition's fetched `records`, read with `decode`; `filter` drops aborted transactions.
    pub(super) fn new(
        records: Bytes,
        decode: DecodeOptions,
        filter: Option<AbortedTransactionFilter>,
    ) -> Self {
        Self {
            len: records.len(),
            reader: BatchReader::new(records, decode),
            current: None,
            filter,
        }
    }

    /// Bytes of the batches not handed out completely with the partition at `position`: those not read
    /// yet and the one being handed out, unless its last record is below `position`.
    fn unread_bytes(&self, position: i64) -> usize {
        let current = self
            .current
            .as_ref()
            .filter(|(batch, _)| batch.last_offset() >= position)
            .map_or(0, |(batch, _)| batch.raw().len());
        self.len.saturating_sub(self.reader.position()) + current
    }
}

/// How often in a row metadata may call a topic unknown before the partition fails.
const UNKNOWN_TOPIC_ATTEMPTS: u32 = 10;

pub(crate) struct PartitionState {
    topic: Arc<str>,
    /// Next offset to hand out; `None` until resolved.
    position: Option<i64>,
    /// Leader epoch of the last batch handed out (KIP-320 validation and commits).
    last_epoch: Option<i32>,
    pending_reset: Option<OffsetSpec>,
    paused: bool,
    version: u64,
    /// The version this state was created with: tells a fetch session that a partition removed and
    /// added back (a rebalance) is a new one.
    incarnation: u64,
    in_flight: bool,
    /// Buffered data, with the version it was fetched for.
    buffered: Option<(u64, Buffered)>,
    high_watermark: i64,
    last_stable_offset: i64,
    log_start_offset: i64,
    leader: Option<i32>,
    leader_epoch: i32,
    /// The replica the leader told us to fetch from (KIP-392 `preferred_read_replica`), until when:
    /// then the leader is asked again, as Java does after `metadata.max.age.ms`.
    preferred_replica: Option<(i32, Instant)>,
    /// Set after a leader change: the position must be validated with OffsetForLeaderEpoch first.
    validate: bool,
    /// A fatal error was reported; nothing is fetched until the application seeks.
    failed: bool,
    /// Assigned with a `group.id`: its start waits for the group's committed offset.
    awaiting_committed: bool,
    retry_at: Option<Instant>,
    unknown_topic_attempts: u32,
    /// The topic id the partition was assigned under; a different id means the topic was re-created.
    topic_id: Option<Uuid>,
    /// `max.partition.fetch.bytes` grown because no complete batch fitted (old brokers, huge batches).
    fetch_size: Option<i32>,
    /// Records `recv` had taken out of a poll batch when the partition was paused: handed out first
    /// after `resume`. The position is past them (see [`PartitionState::delivered_position`]).
    held: VecDeque<ConsumerRecord>,
    /// The group's committed offset as last known (fetched on assignment, or committed since).
    committed: Option<i64>,
    /// Assigned by a rebalance: times the pause until the first fetch is sent.
    pause: Option<PauseTimer>,
    /// The partition's series: lag, records handed out, errors (the gauges read 0 once this state
    /// is dropped: the partition left the assignment).
    metrics: PartitionMetrics,
}

/// What the fetch planner may do with a partition now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FetchCandidate {
    /// Nothing to fetch (no leader or position, paused, failed, busy, data buffered).
    Skip,
    /// Backing off until then.
    WaitUntil(Instant),
    /// Fetch from `broker` (the leader or the preferred read replica) with these parameters.
    Fetch { broker: i32, params: SessionPartition },
}

/// What the position resolver may do with a partition now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolution {
    Skip,
    WaitUntil(Instant),
    /// ListOffsets to `leader` for `spec`, with the current leader epoch.
    ListOffsets {
        leader: i32,
        spec: OffsetSpec,
        epoch: i32,
    },
    /// OffsetForLeaderEpoch to `leader` for the last fetched epoch, with the current leader epoch.
    Validate {
        leader: i32,
        last_epoch: i32,
        epoch: i32,
    },
    /// No position and `auto.offset.reset=none`.
    NoOffset,
}

/// What a metadata answer means for a partition.
#[derive(Debug)]
pub(super) enum MetadataVerdict {
    /// Leader and epoch taken (or the answer was older than what we know).
    Current,
    /// Not usable yet (unknown topic, no leader): ask again soon.
    Again,
    /// The topic came back with another id.
    Recreated,
    /// The partition cannot be fetched.
    Fail(Error),
}

impl PartitionState {
    pub(super) fn new(tp: &TopicPartition, version: u64, telemetry: &Telemetry) -> Self {
        Self {
            topic: Arc::from(tp.topic.as_str()),
            position: None,
            last_epoch: None,
            pending_reset: None,
            paused: false,
            version,
            incarnation: version,
            in_flight: false,
            buffered: None,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            leader: None,
            leader_epoch: -1,
            preferred_replica: None,
            validate: false,
            failed: false,
            awaiting_committed: false,
            retry_at: None,
            unknown_topic_attempts: 0,
            topic_id: None,
            fetch_size: None,
            held: VecDeque::new(),
            committed: None,
            pause: None,
            metrics: telemetry.partition(&tp.topic, tp.partition),
        }
    }

    // ----- reads ------------------------------------------------------------------------------

    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    pub(crate) fn position(&self) -> Option<i64> {
        self.position
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.failed
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    pub(crate) fn is_awaiting_committed(&self) -> bool {
        self.awaiting_committed
    }

    pub(crate) fn has_buffered(&self) -> bool {
        self.buffered.is_some()
    }

    /// Something for `poll` to hand out now.
    pub(crate) fn has_data_for_poll(&self) -> bool {
        self.buffered.is_some() && !self.paused
    }

    /// Paused with fetched data kept (buffered, or held back from `recv`).
    pub(crate) fn keeps_paused_data(&self) -> bool {
        self.paused && (self.buffered.is_some() || !self.held.is_empty())
    }

    /// Log start, high watermark and last stable offset as last fetched (-1 when unknown).
    pub(crate) fn watermarks(&self) -> (i64, i64, i64) {
        (
            self.log_start_offset,
            self.high_watermark,
            self.last_stable_offset,
        )
    }

    /// The end of the log as last fetched: the LSO under `read_committed`, else the high watermark.
    pub(crate) fn log_end(&self, isolation: IsolationLevel) -> i64 {
        match isolation {
            IsolationLevel::ReadCommitted => self.last_stable_offset,
            IsolationLevel::ReadUncommitted => self.high_watermark,
        }
    }

    /// Records from the position to [`log_end`](Self::log_end) (`Consumer::lag`); `None` while either
    /// is unknown.
    pub(crate) fn lag(&self, isolation: IsolationLevel) -> Option<i64> {
        let end = self.log_end(isolation);
        let position = self.position?;
        (end >= 0).then(|| (end - position).max(0))
    }

    /// The next offset the application has not been given, ignoring `recv`'s queue: the first held
    /// record, else the position; with the leader epoch a commit carries.
    pub(crate) fn delivered_position(&self) -> Option<(i64, Option<i32>)> {
        if let Some(r) = self.held.front() {
            return Some((r.offset(), Some(r.leader_epoch)));
        }
        Some((self.position?, self.last_epoch))
    }

    /// The offset of the first record held back by a pause.
    pub(super) fn first_held(&self) -> Option<(i64, i32)> {
        self.held.front().map(|r| (r.offset(), r.leader_epoch))
    }

    pub(super) fn leader(&self) -> Option<i32> {
        self.leader
    }

    /// The broker to fetch from at `now`: the preferred read replica until it expires, else the
    /// leader; `None` without a leader.
    pub(super) fn fetch_broker(&self, now: Instant) -> Option<i32> {
        let leader = self.leader?;
        match self.preferred_replica {
            Some((replica, until)) if now < until => Some(replica),
            _ => Some(leader),
        }
    }

    /// The preferred read replica and its expiry, if one is recorded.
    #[cfg(test)]
    pub(super) fn preferred_replica(&self) -> Option<(i32, Instant)> {
        self.preferred_replica
    }

    /// Metadata must be asked for: no leader and still fetchable.
    pub(super) fn needs_leader(&self) -> bool {
        self.leader.is_none() && !self.failed
    }

    fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| t <= now)
    }

    // ----- metrics ----------------------------------------------------------------------------

    /// Publishes the lag metric: the end of the log as last fetched (LSO under `read_committed`)
    /// minus the position, as [`Consumer::lag`](crate::Consumer::lag) computes it.
    pub(crate) fn report_lag(&mut self, isolation: IsolationLevel) {
        let end = self.log_end(isolation);
        if let Some(position) = self.position.filter(|_| end >= 0) {
            self.metrics.set(end - position);
            if end <= position {
                self.metrics.caught_up();
            }
        }
    }

    /// Publishes the lag from the committed offset (same end of the log as the lag), once both are known.
    fn report_committed_lag(&mut self, isolation: IsolationLevel) {
        let end = self.log_end(isolation);
        if let Some(committed) = self.committed.filter(|_| end >= 0) {
            self.metrics.set_committed_lag(end - committed);
        }
    }

    /// The group's committed offset is `offset` now (fetched, or a commit succeeded).
    pub(crate) fn set_committed(&mut self, offset: i64, isolation: IsolationLevel) {
        self.committed = Some(offset);
        self.report_committed_lag(isolation);
    }

    /// A rebalance moved the partition here: `timer` runs until its first fetch is sent.
    pub(crate) fn time_pause(&mut self, timer: PauseTimer) {
        self.pause = Some(timer);
    }

    /// Drops the buffered data (the buffered-bytes gauge reads 0).
    fn drop_buffer(&mut self) {
        if self.buffered.take().is_some() {
            self.metrics.buffered(0);
        }
    }

    /// A fetch response brought `bytes` of record batches for the partition.
    pub(super) fn report_fetched(&mut self, bytes: usize) {
        self.metrics.fetched(bytes);
    }

    /// The partition stopped with `error` (see [`State::fail`](super::State::fail)).
    pub(super) fn report_stopped(&mut self, error: &Error) {
        let error_type = match error {
            Error::CorruptRecord { .. } => "corrupt_record",
            other => crate::telemetry::error_type(other),
        };
        self.metrics.stopped(error_type);
    }

    /// The consumer closes: the gauges read 0 and stop.
    pub(super) fn clear_metrics(&mut self) {
        self.metrics.clear();
    }

    // ----- the application: seek, pause, resume, committed offsets ------------------------------

    /// Drops buffered (and held) data and invalidates in-flight fetches (seek, reset).
    fn invalidate(&mut self, next_version: u64) {
        self.version = next_version;
        self.drop_buffer();
        self.held.clear();
        self.in_flight = false;
    }

    /// A seek: to `position`, or with `None` to `reset` resolved by the engine. Revives a failed
    /// partition and overrides the committed offset it was waiting for.
    pub(crate) fn reposition(
        &mut self,
        next_version: u64,
        position: Option<i64>,
        reset: Option<OffsetSpec>,
        isolation: IsolationLevel,
    ) {
        self.invalidate(next_version);
        self.failed = false;
        self.awaiting_committed = false;
        self.last_epoch = None;
        self.position = position;
        self.pending_reset = reset;
        self.report_lag(isolation);
    }

    /// Moves the position back to `offset` (records handed to `recv` but taken back), dropping
    /// everything fetched after it.
    pub(super) fn rewind(&mut self, next_version: u64, offset: i64) {
        self.invalidate(next_version);
        self.position = Some(offset);
    }

    /// The partition waits for the group's committed offset before it is fetched.
    pub(crate) fn await_committed(&mut self) {
        self.awaiting_committed = true;
    }

    /// The committed offset is known (`None`: nothing committed, `auto.offset.reset` decides): the
    /// partition starts there. The caller checks it was still waiting (a seek overrides).
    pub(crate) fn start_from_committed(&mut self, position: Option<i64>, epoch: Option<i32>) {
        self.awaiting_committed = false;
        self.position = position;
        self.last_epoch = epoch;
    }

    /// Stops fetching and handing out; `held` (records `recv` had) come back first after `resume`.
    pub(crate) fn pause(&mut self, held: impl IntoIterator<Item = ConsumerRecord>) {
        self.held.extend(held);
        self.paused = true;
    }

    /// Resumes; returns the records held back by the pause, to hand out first.
    pub(crate) fn resume(&mut self) -> VecDeque<ConsumerRecord> {
        self.paused = false;
        std::mem::take(&mut self.held)
    }

    /// Drops the data kept while paused (the memory budget is spent), with the position moved back to
    /// the first record not handed out, so it is fetched again after `resume`.
    pub(crate) fn evict_paused_data(&mut self, next_version: u64) {
        if let Some(first) = self.held.front() {
            self.position = Some(first.offset());
        }
        self.invalidate(next_version);
    }

    /// A fatal error was reported for the partition: nothing is fetched until a seek.
    pub(super) fn stop(&mut self) {
        self.failed = true;
        self.in_flight = false;
        self.drop_buffer();
    }

    // ----- planning -----------------------------------------------------------------------------

    /// Whether and how to fetch now; `max_bytes` is `max.partition.fetch.bytes`.
    pub(super) fn fetch_candidate(&self, now: Instant, max_bytes: i32) -> FetchCandidate {
        let Some(broker) = self.fetch_broker(now) else {
            return FetchCandidate::Skip;
        };
        if self.failed || self.paused || self.validate || self.in_flight || self.buffered.is_some() {
            return FetchCandidate::Skip;
        }
        let Some(position) = self.position else {
            return FetchCandidate::Skip;
        };
        if !self.ready(now) {
            return FetchCandidate::WaitUntil(self.retry_at.unwrap_or(now));
        }
        FetchCandidate::Fetch {
            broker,
            params: SessionPartition {
                fetch_offset: position,
                current_leader_epoch: self.leader_epoch,
                last_fetched_epoch: self.last_epoch.unwrap_or(-1),
                log_start_offset: -1,
                max_bytes: self.fetch_size.unwrap_or(max_bytes),
                incarnation: self.incarnation,
            },
        }
    }

    /// Whether and how to resolve the position (ListOffsets) or validate it (OffsetForLeaderEpoch).
    pub(super) fn resolution(&mut self, now: Instant, policy: AutoOffsetReset) -> Resolution {
        if self.failed || self.awaiting_committed {
            return Resolution::Skip;
        }
        if !self.ready(now) {
            return Resolution::WaitUntil(self.retry_at.unwrap_or(now));
        }
        let Some(leader) = self.leader else {
            return Resolution::Skip;
        };
        let epoch = self.leader_epoch;
        if self.position.is_none() {
            let spec = match (self.pending_reset, policy) {
                (Some(spec), _) => spec,
                (None, AutoOffsetReset::Earliest) => OffsetSpec::Earliest,
                (None, AutoOffsetReset::Latest) => OffsetSpec::Latest,
                (None, AutoOffsetReset::None) => return Resolution::NoOffset,
            };
            return Resolution::ListOffsets { leader, spec, epoch };
        }
        if self.validate {
            match self.last_epoch {
                Some(last_epoch) => {
                    return Resolution::Validate {
                        leader,
                        last_epoch,
                        epoch,
                    };
                }
                None => self.validate = false,
            }
        }
        Resolution::Skip
    }

    /// A fetch including the partition is sent at `now` (ends the pause a rebalance started).
    pub(super) fn mark_in_flight(&mut self, now: Instant) {
        self.in_flight = true;
        if let Some(pause) = self.pause.take() {
            pause.resumed(now);
        }
    }

    /// The fetch sent for `version` came back (or failed).
    pub(super) fn fetch_returned(&mut self, version: u64) {
        if self.version == version {
            self.in_flight = false;
        }
    }

    /// A request task died: nothing is in flight any more.
    pub(super) fn forget_in_flight(&mut self) {
        self.in_flight = false;
    }

    pub(super) fn retry_after(&mut self, at: Instant) {
        self.retry_at = Some(at);
    }

    // ----- metadata -----------------------------------------------------------------------------

    /// Takes leader and epoch from `topic`'s metadata (`known_broker`: whether the leader can be
    /// reached). An epoch increase marks the position for validation; an older epoch is ignored.
    pub(super) fn apply_metadata(
        &mut self,
        tp: &TopicPartition,
        topic: &TopicMetadata,
        known_broker: impl Fn(i32) -> bool,
    ) -> MetadataVerdict {
        if topic.error.is_fatal() {
            return MetadataVerdict::Fail(Error::Partition {
                partition: tp.clone(),
                code: topic.error,
            });
        }
        if topic.error == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
            self.unknown_topic_attempts += 1;
            self.set_leader(None);
            if self.unknown_topic_attempts >= UNKNOWN_TOPIC_ATTEMPTS {
                return MetadataVerdict::Fail(Error::UnknownTopic {
                    topic: tp.topic.clone(),
                });
            }
            return MetadataVerdict::Again;
        }
        self.unknown_topic_attempts = 0;
        if !topic.id.is_nil() {
            match self.topic_id {
                Some(old) if old != topic.id => {
                    warn!(partition = %tp, %old, new = %topic.id, "topic was re-created; resetting the position");
                    return MetadataVerdict::Recreated;
                }
                _ => self.topic_id = Some(topic.id),
            }
        }
        let Some(part) = topic.partitions.get(&tp.partition) else {
            if topic.partitions.is_empty() {
                return MetadataVerdict::Current;
            }
            return MetadataVerdict::Fail(Error::UnknownPartition {
                partition: tp.clone(),
            });
        };
        let leader = (part.leader >= 0 && known_broker(part.leader)).then_some(part.leader);
        if part.leader_epoch > self.leader_epoch
            && self.leader_epoch >= 0
            && self.position.is_some()
            && self.last_epoch.is_some()
        {
            debug!(partition = %tp, old = self.leader_epoch, new = part.leader_epoch, "leader epoch changed; validating position");
            self.validate = true;
        }
        if part.leader_epoch >= self.leader_epoch {
            self.leader_epoch = part.leader_epoch;
            self.set_leader(leader);
        }
        if self
            .preferred_replica
            .is_some_and(|(replica, _)| !known_broker(replica))
        {
            debug!(partition = %tp, "the preferred read replica left the cluster; fetching from the leader");
            self.forget_preferred_replica();
        }
        if leader.is_none() {
            MetadataVerdict::Again
        } else {
            MetadataVerdict::Current
        }
    }

    /// The topic was re-created with `topic_id`: the old offsets mean nothing in it, start over per
    /// `auto.offset.reset`.
    pub(super) fn recreate(&mut self, next_version: u64, topic_id: Option<Uuid>) {
        self.invalidate(next_version);
        self.topic_id = topic_id;
        self.position = None;
        self.pending_reset = None;
        self.last_epoch = None;
        self.leader_epoch = -1;
        self.set_leader(None);
        self.validate = false;
    }

    // ----- fetch answers ------------------------------------------------------------------------

    /// Watermarks from a fetch answer (kept even from a stale answer: an incremental fetch session
    /// will not repeat them until they change).
    pub(super) fn record_watermarks(
        &mut self,
        high_watermark: i64,
        last_stable: i64,
        log_start: i64,
        isolation: IsolationLevel,
    ) {
        self.high_watermark = high_watermark;
        if last_stable >= 0 {
            self.last_stable_offset = last_stable;
        }
        if log_start >= 0 {
            self.log_start_offset = log_start;
        }
        self.report_lag(isolation);
        self.report_committed_lag(isolation);
    }

    /// An answer to a fetch sent for `version` at `fetch_offset` still applies.
    pub(super) fn answer_is_current(&self, version: u64, fetch_offset: i64) -> bool {
        self.version == version && self.position == Some(fetch_offset) && !self.failed
    }

    /// Records fetched for the current version, for `poll`.
    pub(super) fn buffer(&mut self, data: Buffered) {
        self.fetch_size = None;
        self.metrics.buffered(data.unread_bytes(-1));
        self.buffered = Some((self.version, data));
    }

    pub(super) fn fetch_size(&self) -> Option<i32> {
        self.fetch_size
    }

    pub(super) fn grow_fetch_size(&mut self, bytes: i32) {
        self.fetch_size = Some(bytes);
    }

    /// The leader moved: take the KIP-951 hint `(leader, epoch)` when it is newer and reachable,
    /// else forget the leader until metadata names one.
    pub(super) fn leader_moved(&mut self, hint: Option<(i32, i32)>, known_broker: impl Fn(i32) -> bool) {
        match hint {
            Some((leader, epoch)) if leader >= 0 && epoch > self.leader_epoch => {
                if known_broker(leader) {
                    self.set_leader(Some(leader));
                    self.leader_epoch = epoch;
                    if self.last_epoch.is_some() {
                        self.validate = true;
                    }
                } else {
                    self.set_leader(None);
                }
            }
            _ => self.set_leader(None),
        }
    }

    /// Every change of leader goes through here: another leader (or none) also drops the preferred
    /// read replica the old one chose.
    fn set_leader(&mut self, leader: Option<i32>) {
        if leader != self.leader {
            self.preferred_replica = None;
        }
        self.leader = leader;
    }

    /// The leader named `replica` as the one to fetch from (KIP-392): fetch from it until `until`.
    pub(super) fn prefer_replica(&mut self, replica: i32, until: Instant) {
        self.preferred_replica = Some((replica, until));
    }

    /// Fetching from the preferred read replica failed (or the fetch failed as a whole): the next
    /// fetch goes to the leader, from the same position.
    pub(super) fn forget_preferred_replica(&mut self) {
        self.preferred_replica = None;
    }

    /// The position is out of range: resolve it again per `auto.offset.reset`.
    pub(super) fn reset_position(&mut self) {
        self.position = None;
        self.pending_reset = None;
    }

    /// The log was truncated below the position: continue from the leader's end offset.
    pub(super) fn truncate_to(&mut self, next_version: u64, end_offset: i64) {
        self.invalidate(next_version);
        self.position = Some(end_offset);
        self.validate = false;
    }

    // ----- position answers -------------------------------------------------------------------

    /// ListOffsets answered `offset`.
    pub(super) fn resolved(&mut self, offset: i64, isolation: IsolationLevel) {
        self.position = Some(offset);
        self.pending_reset = None;
        self.report_lag(isolation);
    }

    /// No record at or after the timestamp: start at the end, as Java does.
    pub(super) fn resolve_to_end(&mut self) {
        self.pending_reset = Some(OffsetSpec::Latest);
    }

    /// The position cannot be validated (old broker): continue as before KIP-320.
    pub(super) fn skip_validation(&mut self) {
        self.validate = false;
    }

    /// Validated; returns the position to compare with the leader's end offset.
    pub(super) fn validated(&mut self) -> Option<i64> {
        self.validate = false;
        self.position
    }

    // ----- poll ---------------------------------------------------------------------------------

    /// Hands out up to `max` buffered records into `out`, advancing the position as they go; the
    /// buffer is dropped when exhausted, stale or corrupt. Publishes the lag.
    pub(crate) fn drain(
        &mut self,
        tp: &TopicPartition,
        budget: &Arc<MemoryBudget>,
        max: usize,
        isolation: IsolationLevel,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<(), Error> {
        let handed_before = out.len();
        let result = self.drain_buffer(tp, budget, max, out);
        if out.len() > handed_before {
            self.metrics
                .delivered(&out[handed_before..], crate::telemetry::unix_millis());
        }
        self.report_lag(isolation);
        result
    }

    fn drain_buffer(
        &mut self,
        tp: &TopicPartition,
        budget: &Arc<MemoryBudget>,
        max: usize,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<(), Error> {
        let Some((version, buf)) = self.buffered.as_mut() else {
            return Ok(());
        };
        let Some(position) = self.position.filter(|_| *version == self.version) else {
            self.drop_buffer();
            return Ok(());
        };
        let mut cursor = super::decode::Cursor {
            position,
            last_epoch: self.last_epoch,
        };
        let result = buf.drain(tp, &self.topic, &mut cursor, budget, max, out);
        self.position = Some(cursor.position);
        self.last_epoch = cursor.last_epoch;
        if matches!(result, Ok(super::decode::Drained::More)) {
            self.metrics.buffered(buf.unread_bytes(cursor.position));
        } else {
            self.drop_buffer();
        }
        result.map(|_| ())
    }
}
