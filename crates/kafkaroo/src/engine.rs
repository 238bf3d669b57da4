//! The fetch engine: a background driver task that keeps fetches in flight to every partition leader,
//! resolves starting offsets, follows leader changes, and buffers raw fetch responses for `poll`.
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

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kafkaroo_net::{Client, Connection, Purpose};
use kafkaroo_records::{AbortedTransactionFilter, BatchReader, DecodeOptions, RecordBatch, Records};
use kafkaroo_wire::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafkaroo_wire::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafkaroo_wire::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafkaroo_wire::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafkaroo_wire::{ErrorCode, StrBytes, Uuid};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, trace, warn};

use crate::budget::MemoryBudget;
use crate::config::{AutoOffsetReset, ConsumerConfig, IsolationLevel};
use crate::error::Error;
use crate::record::TopicPartition;
use crate::session::{FetchSession, SessionPartition, SessionRequest};
use crate::telemetry::{PartitionLag, Telemetry};

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

/// Data fetched for a partition and not yet handed to the application.
pub(crate) struct Buffered {
    pub(crate) version: u64,
    pub(crate) reader: BatchReader,
    pub(crate) current: Option<(RecordBatch, Records)>,
    pub(crate) filter: Option<AbortedTransactionFilter>,
}

pub(crate) struct PartitionState {
    pub(crate) topic: Arc<str>,
    /// Next offset to hand out; `None` until resolved.
    pub(crate) position: Option<i64>,
    /// Leader epoch of the last batch handed out (KIP-320 validation and commits).
    pub(crate) last_epoch: Option<i32>,
    pub(crate) pending_reset: Option<OffsetSpec>,
    pub(crate) paused: bool,
    pub(crate) version: u64,
    /// The version this state was created with: tells a fetch session that a partition removed and
    /// added back (a rebalance) is a new one.
    incarnation: u64,
    in_flight: bool,
    pub(crate) buffered: Option<Buffered>,
    pub(crate) high_watermark: i64,
    pub(crate) last_stable_offset: i64,
    pub(crate) log_start_offset: i64,
    leader: Option<i32>,
    leader_epoch: i32,
    /// Set after a leader change: the position must be validated with OffsetForLeaderEpoch first.
    validate: bool,
    /// A fatal error was reported; nothing is fetched until the application seeks.
    pub(crate) failed: bool,
    /// Assigned with a `group.id` and no `subscribe`: its start waits for the group's committed offset.
    pub(crate) awaiting_committed: bool,
    retry_at: Option<Instant>,
    unknown_topic_attempts: u32,
    /// The topic id the partition was assigned under; a different id means the topic was re-created.
    topic_id: Option<Uuid>,
    /// `max.partition.fetch.bytes` grown because no complete batch fitted (old brokers, huge batches).
    fetch_size: Option<i32>,
    /// Records `recv` had taken out of a poll batch when the partition was paused: handed out first
    /// after `resume`. The position is past them (see [`EngineState::delivered_position`]).
    pub(crate) held: VecDeque<crate::record::ConsumerRecord>,
    /// The lag metric (0 once this state is dropped: the partition left the assignment).
    lag: PartitionLag,
}

impl PartitionState {
    pub(crate) fn new(tp: &TopicPartition, version: u64, telemetry: &Telemetry) -> Self {
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
            validate: false,
            failed: false,
            awaiting_committed: false,
            retry_at: None,
            unknown_topic_attempts: 0,
            topic_id: None,
            fetch_size: None,
            held: VecDeque::new(),
            lag: telemetry.partition(&tp.topic, tp.partition),
        }
    }

    /// Publishes the lag metric: the end of the log as last fetched (LSO under `read_committed`)
    /// minus the position, as [`Consumer::lag`](crate::Consumer::lag) computes it.
    pub(crate) fn report_lag(&mut self, isolation: IsolationLevel) {
        let end = match isolation {
            IsolationLevel::ReadCommitted => self.last_stable_offset,
            IsolationLevel::ReadUncommitted => self.high_watermark,
        };
        if let Some(position) = self.position.filter(|_| end >= 0) {
            self.lag.set(end - position);
        }
    }

    /// The consumer closes: the lag metric reads 0 and stops.
    pub(crate) fn clear_metrics(&mut self) {
        self.lag.clear();
    }

    /// Drops buffered (and held) data and invalidates in-flight fetches (seek, reset).
    pub(crate) fn invalidate(&mut self, next_version: u64) {
        self.version = next_version;
        self.buffered = None;
        self.held.clear();
        self.in_flight = false;
    }

    fn ready(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| t <= now)
    }
}

#[derive(Default)]
pub(crate) struct EngineState {
    pub(crate) partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Errors waiting to be returned by `poll`.
    pub(crate) errors: VecDeque<Error>,
    pub(crate) next_version: u64,
    pub(crate) closed: bool,
    /// Round-robin start for `poll`, so one busy partition cannot starve the others.
    pub(crate) poll_cursor: usize,
    /// Records `recv` took out of a poll batch but has not returned yet. Their partitions' positions are
    /// already past them, so commits use [`EngineState::delivered_position`] instead.
    pub(crate) undelivered: VecDeque<crate::record::ConsumerRecord>,
    need_metadata: bool,
}

impl EngineState {
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
        let p = self.partitions.get(tp)?;
        if let Some(r) = p.held.front() {
            return Some((r.offset(), Some(r.leader_epoch)));
        }
        Some((p.position?, p.last_epoch))
    }

    /// Drops the records `recv` holds for `tp` (also those held back by a pause) and moves the position
    /// back to the first of them, so nothing is skipped: they will be fetched again unless the caller
    /// sets another position.
    pub(crate) fn take_back_undelivered(&mut self, tp: &TopicPartition) {
        let mut first = None;
        self.undelivered.retain(|r| {
            let same = r.partition == tp.partition && *r.topic == *tp.topic;
            if same && first.is_none() {
                first = Some((r.offset(), r.leader_epoch));
            }
            !same
        });
        if let Some(p) = self.partitions.get_mut(tp)
            && let Some(r) = p.held.front()
        {
            first = first.or_else(|| Some((r.offset(), r.leader_epoch)));
            p.held.clear();
        }
        if let Some((offset, _)) = first {
            let next = self.bump_version();
            if let Some(p) = self.partitions.get_mut(tp) {
                p.invalidate(next);
                p.position = Some(offset);
            }
        }
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

    pub(crate) fn fail(&mut self, tp: &TopicPartition, error: Error) {
        if let Some(p) = self.partitions.get_mut(tp) {
            p.failed = true;
            p.in_flight = false;
            p.buffered = None;
        }
        warn!(messaging.destination.name = %tp.topic, messaging.destination.partition.id = tp.partition, %error, "partition stopped");
        self.errors.push_back(error);
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

/// What a finished background request reports to the driver.
enum Outcome {
    Metadata(Result<(), kafkaroo_net::Error>),
    Fetch {
        broker: i32,
        request: FetchPlan,
        result: Result<(FetchResponse, i16), kafkaroo_net::Error>,
    },
    ListOffsets {
        partitions: Vec<(TopicPartition, u64, OffsetSpec)>,
        result: Result<ListOffsetsAnswer, kafkaroo_net::Error>,
    },
    Validate {
        partitions: Vec<(TopicPartition, u64, i32)>,
        result: Result<ValidateAnswer, kafkaroo_net::Error>,
    },
}

/// Per partition: error, offset, timestamp.
pub(crate) type ListOffsetsAnswer = HashMap<TopicPartition, (ErrorCode, i64, i64)>;
type ValidateAnswer = HashMap<TopicPartition, (ErrorCode, i32, i64)>;

/// A fetch in flight: per partition the offset and version it was sent for.
struct FetchPlan {
    partitions: BTreeMap<TopicPartition, (i64, u64)>,
    session: SessionRequest,
    wanted: BTreeMap<TopicPartition, SessionPartition>,
    topic_ids: HashMap<Uuid, Arc<str>>,
}

/// The background driver. Runs until the consumer closes.
pub(crate) async fn run(shared: Arc<Shared>, client: Client) {
    let mut driver = Driver {
        shared,
        client,
        tasks: JoinSet::new(),
        fetching: BTreeSet::new(),
        sessions: HashMap::new(),
        metadata_in_flight: false,
        metadata_backoff_until: None,
        metadata_failures: 0,
        last_metadata: None,
        resolving: BTreeMap::new(),
    };
    driver.run().await;
}

struct Driver {
    shared: Arc<Shared>,
    client: Client,
    tasks: JoinSet<Outcome>,
    /// Brokers with a fetch in flight (at most one each).
    fetching: BTreeSet<i32>,
    sessions: HashMap<i32, FetchSession>,
    metadata_in_flight: bool,
    metadata_backoff_until: Option<Instant>,
    metadata_failures: u32,
    last_metadata: Option<Instant>,
    /// Partitions with a ListOffsets or OffsetForLeaderEpoch in flight, with the partition version it
    /// was sent for: a seek meanwhile makes the partition plannable again at once.
    resolving: BTreeMap<TopicPartition, u64>,
}

impl Driver {
    async fn run(&mut self) {
        loop {
            if self.shared.lock().closed {
                self.tasks.abort_all();
                return;
            }
            // Created before planning: memory released while `plan` finds the budget spent
            // (`notify_waiters`, no permit kept) must still wake this loop.
            let shared = self.shared.clone();
            let freed = shared.budget.freed();
            let next_timer = self.plan();
            let sleep = tokio::time::sleep_until(
                next_timer.unwrap_or_else(|| Instant::now() + Duration::from_secs(1)),
            );
            tokio::select! {
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    match done {
                        Ok(outcome) => self.handle(outcome),
                        Err(e) => self.forget_in_flight(&e),
                    }
                }
                () = shared.driver_wake.notified() => {}
                () = freed => {}
                () = sleep => {}
            }
        }
    }

    /// `retry.backoff.ms` doubled `doublings` times, capped at `retry.backoff.max.ms`, ±20 % jitter.
    fn retry_backoff(&self, doublings: u32) -> Duration {
        self.shared
            .config
            .retry_backoff_config()
            .delay(doublings.saturating_add(1), fastrand::f64())
    }

    /// Starts whatever work is due; returns when it next needs to look again.
    fn plan(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut wake_at = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        self.plan_metadata(now, &mut wake_at);
        self.plan_resolutions(now, &mut wake_at);
        self.plan_fetches(now, &mut wake_at);
        next
    }

    fn plan_metadata(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        if self.metadata_in_flight {
            return;
        }
        let (topics, due) = {
            let mut st = self.shared.lock();
            let leaderless = st.partitions.values().any(|p| p.leader.is_none() && !p.failed);
            let stale = self
                .last_metadata
                .is_none_or(|t| now.duration_since(t) >= self.shared.config.metadata_max_age);
            let due = (st.need_metadata || leaderless || stale) && !st.partitions.is_empty();
            if due {
                st.need_metadata = false;
            }
            let topics: BTreeSet<String> = st.partitions.keys().map(|tp| tp.topic.clone()).collect();
            (topics, due)
        };
        if !due {
            return;
        }
        if let Some(until) = self.metadata_backoff_until.filter(|t| *t > now) {
            self.shared.lock().need_metadata = true;
            wake_at(until);
            return;
        }
        self.metadata_in_flight = true;
        let client = self.client.clone();
        self.tasks.spawn(async move {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            Outcome::Metadata(client.refresh_metadata(Some(&names)).await.map(|_| ()))
        });
    }

    fn plan_resolutions(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        let mut resets: BTreeMap<i32, Vec<(TopicPartition, u64, OffsetSpec, i32)>> = BTreeMap::new();
        let mut validations: BTreeMap<i32, Vec<(TopicPartition, u64, i32, i32)>> = BTreeMap::new();
        {
            let mut st = self.shared.lock();
            let policy = self.shared.config.auto_offset_reset;
            let mut no_offset = Vec::new();
            for (tp, p) in st.partitions.iter_mut() {
                if p.failed || p.awaiting_committed || self.resolving.get(tp) == Some(&p.version) {
                    continue;
                }
                if !p.ready(now) {
                    wake_at(p.retry_at.unwrap_or(now));
                    continue;
                }
                let Some(leader) = p.leader else { continue };
                if p.position.is_none() {
                    let spec = match (p.pending_reset, policy) {
                        (Some(spec), _) => spec,
                        (None, AutoOffsetReset::Earliest) => OffsetSpec::Earliest,
                        (None, AutoOffsetReset::Latest) => OffsetSpec::Latest,
                        (None, AutoOffsetReset::None) => {
                            no_offset.push(tp.clone());
                            continue;
                        }
                    };
                    resets
                        .entry(leader)
                        .or_default()
                        .push((tp.clone(), p.version, spec, p.leader_epoch));
                } else if p.validate {
                    if let Some(epoch) = p.last_epoch {
                        validations.entry(leader).or_default().push((
                            tp.clone(),
                            p.version,
                            epoch,
                            p.leader_epoch,
                        ));
                    } else {
                        p.validate = false;
                    }
                }
            }
            for tp in no_offset {
                st.fail(
                    &tp.clone(),
                    Error::NoOffsetForPartition {
                        partition: tp,
                        offset: None,
                    },
                );
                self.shared.data_ready.notify_one();
            }
        }
        let isolation = self.shared.config.isolation_level.wire();
        let timeout = self.shared.config.request_timeout;
        for (broker, parts) in resets {
            for (tp, version, ..) in &parts {
                self.resolving.insert(tp.clone(), *version);
            }
            let client = self.client.clone();
            self.tasks.spawn(async move {
                let queries = parts.iter().map(|(tp, _, spec, epoch)| (tp, spec.wire(), *epoch));
                let result = list_offsets(&client, broker, queries, isolation, timeout).await;
                Outcome::ListOffsets {
                    partitions: parts.into_iter().map(|(tp, v, s, _)| (tp, v, s)).collect(),
                    result,
                }
            });
        }
        for (broker, parts) in validations {
            for (tp, version, ..) in &parts {
                self.resolving.insert(tp.clone(), *version);
            }
            let client = self.client.clone();
            self.tasks.spawn(async move {
                let result = validate_epochs(&client, broker, &parts).await;
                Outcome::Validate {
                    partitions: parts.into_iter().map(|(tp, v, e, _)| (tp, v, e)).collect(),
                    result,
                }
            });
        }
    }

    fn plan_fetches(&mut self, now: Instant, wake_at: &mut impl FnMut(Instant)) {
        let config = &self.shared.config;
        let metadata = self.client.metadata();
        let mut by_broker: BTreeMap<i32, Vec<(TopicPartition, SessionPartition, u64)>> = BTreeMap::new();
        // One lock for the whole plan: a seek between reading a partition and marking it in flight would
        // leave the mark on a state whose fetch never comes back to clear it.
        let shared = self.shared.clone();
        let mut st = shared.lock();
        {
            for (tp, p) in &st.partitions {
                let Some(leader) = p.leader else { continue };
                if self.fetching.contains(&leader) || p.failed || p.paused || p.validate || p.in_flight {
                    continue;
                }
                if p.buffered.is_some() || self.resolving.get(tp) == Some(&p.version) {
                    continue;
                }
                let Some(position) = p.position else { continue };
                if !p.ready(now) {
                    wake_at(p.retry_at.unwrap_or(now));
                    continue;
                }
                let sp = SessionPartition {
                    fetch_offset: position,
                    current_leader_epoch: p.leader_epoch,
                    last_fetched_epoch: p.last_epoch.unwrap_or(-1),
                    log_start_offset: -1,
                    max_bytes: p.fetch_size.unwrap_or(config.max_partition_fetch_bytes),
                    incarnation: p.incarnation,
                };
                by_broker
                    .entry(leader)
                    .or_default()
                    .push((tp.clone(), sp, p.version));
            }
        }
        for (broker, parts) in by_broker {
            let min = (config.max_partition_fetch_bytes as usize).min(64 * 1024);
            // One response is at most a quarter of the budget: a record the application keeps pins its
            // whole response, and one kept record must not stall the consumer.
            let per_fetch = (config.fetch_max_bytes as usize).min((self.shared.budget.limit() / 4).max(min));
            let Some(reservation) = self.shared.budget.try_reserve(per_fetch, min) else {
                trace!(
                    budget_available = self.shared.budget.available(),
                    budget = self.shared.budget.limit(),
                    "memory budget spent; fetching paused"
                );
                // Data kept for paused partitions must not stop the others for as long as they stay
                // paused: when nothing else would free memory (no fetch in flight, nothing for `poll`
                // to hand out), it goes, and is fetched again after `resume`.
                let draining = st.partitions.values().any(|p| !p.paused && p.buffered.is_some());
                if self.fetching.is_empty() && !draining && st.undelivered.is_empty() {
                    crate::control::evict_paused(&mut st);
                }
                return;
            };
            let max_bytes = reservation.bytes() as i32;
            let mut wanted = BTreeMap::new();
            let mut versions = BTreeMap::new();
            for (tp, mut sp, version) in parts {
                sp.max_bytes = sp.max_bytes.min(max_bytes);
                versions.insert(tp.clone(), (sp.fetch_offset, version));
                wanted.insert(tp, sp);
            }
            let session = self
                .sessions
                .entry(broker)
                .or_insert_with(|| FetchSession::new(config.fetch_sessions))
                .plan(&wanted);
            let mut topic_ids = HashMap::new();
            for tp in versions.keys() {
                if let Some(t) = metadata.topics.get(&tp.topic) {
                    topic_ids.insert(t.id, Arc::<str>::from(tp.topic.as_str()));
                }
            }
            for tp in versions.keys() {
                if let Some(p) = st.partitions.get_mut(tp) {
                    p.in_flight = true;
                }
            }
            self.fetching.insert(broker);
            let plan = FetchPlan {
                partitions: versions,
                session,
                wanted,
                topic_ids,
            };
            let client = self.client.clone();
            let shared = self.shared.clone();
            let metadata = metadata.clone();
            self.tasks.spawn(async move {
                let result =
                    send_fetch(&client, &shared, broker, &plan, &metadata, reservation, max_bytes).await;
                Outcome::Fetch {
                    broker,
                    request: plan,
                    result,
                }
            });
        }
    }

    /// A request task died without reporting (a panic): forget what was in flight so that everything is
    /// planned again instead of waiting forever for an answer that will not come.
    fn forget_in_flight(&mut self, error: &tokio::task::JoinError) {
        warn!(%error, "a fetch engine task failed; replanning");
        self.fetching.clear();
        self.resolving.clear();
        self.metadata_in_flight = false;
        for s in self.sessions.values_mut() {
            s.reset();
        }
        let mut st = self.shared.lock();
        for p in st.partitions.values_mut() {
            p.in_flight = false;
        }
        st.need_metadata = true;
    }

    fn handle(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Metadata(result) => self.on_metadata(result),
            Outcome::Fetch {
                broker,
                request,
                result,
            } => self.on_fetch(broker, request, result),
            Outcome::ListOffsets { partitions, result } => self.on_list_offsets(partitions, result),
            Outcome::Validate { partitions, result } => self.on_validate(partitions, result),
        }
    }

    fn on_metadata(&mut self, result: Result<(), kafkaroo_net::Error>) {
        self.metadata_in_flight = false;
        let now = Instant::now();
        if let Err(e) = result {
            self.metadata_failures += 1;
            let delay = self.retry_backoff(self.metadata_failures);
            debug!(error = %e, ?delay, "metadata refresh failed");
            self.metadata_backoff_until = Some(now + delay);
            let mut st = self.shared.lock();
            st.need_metadata = true;
            if e.is_fatal() {
                st.errors.push_back(Error::Net(e));
                self.shared.data_ready.notify_one();
            }
            return;
        }
        self.metadata_failures = 0;
        self.last_metadata = Some(now);
        let metadata = self.client.metadata();
        let mut st = self.shared.lock();
        let mut failures = Vec::new();
        let mut recreated = Vec::new();
        let mut again = false;
        for (tp, p) in st.partitions.iter_mut() {
            if p.failed {
                continue;
            }
            let Some(topic) = metadata.topics.get(&tp.topic) else {
                continue;
            };
            if topic.error.is_fatal() {
                failures.push((
                    tp.clone(),
                    Error::Partition {
                        partition: tp.clone(),
                        code: topic.error,
                    },
                ));
                continue;
            }
            if topic.error == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION {
                p.unknown_topic_attempts += 1;
                p.leader = None;
                if p.unknown_topic_attempts >= 10 {
                    failures.push((
                        tp.clone(),
                        Error::UnknownTopic {
                            topic: tp.topic.clone(),
                        },
                    ));
                } else {
                    again = true;
                }
                continue;
            }
            p.unknown_topic_attempts = 0;
            if !topic.id.is_nil() {
                match p.topic_id {
                    Some(old) if old != topic.id => {
                        warn!(partition = %tp, %old, new = %topic.id, "topic was re-created; resetting the position");
                        recreated.push(tp.clone());
                        continue;
                    }
                    _ => p.topic_id = Some(topic.id),
                }
            }
            let Some(part) = topic.partitions.get(&tp.partition) else {
                if !topic.partitions.is_empty() {
                    failures.push((
                        tp.clone(),
                        Error::UnknownPartition {
                            partition: tp.clone(),
                        },
                    ));
                }
                continue;
            };
            let leader =
                (part.leader >= 0 && metadata.brokers.contains_key(&part.leader)).then_some(part.leader);
            if leader.is_none() {
                again = true;
            }
            if part.leader_epoch > p.leader_epoch
                && p.leader_epoch >= 0
                && p.position.is_some()
                && p.last_epoch.is_some()
            {
                debug!(partition = %tp, old = p.leader_epoch, new = part.leader_epoch, "leader epoch changed; validating position");
                p.validate = true;
            }
            if part.leader_epoch >= p.leader_epoch {
                p.leader_epoch = part.leader_epoch;
                p.leader = leader;
            }
        }
        if !recreated.is_empty() {
            // Broker sessions hold the old topic id; start clean ones.
            for s in self.sessions.values_mut() {
                s.reset();
            }
        }
        for tp in recreated {
            // The old offsets mean nothing in the new topic: start over per auto.offset.reset.
            let next = st.bump_version();
            let topic_id = metadata.topics.get(&tp.topic).map(|t| t.id);
            if let Some(p) = st.partitions.get_mut(&tp) {
                p.invalidate(next);
                p.topic_id = topic_id;
                p.position = None;
                p.pending_reset = None;
                p.last_epoch = None;
                p.leader_epoch = -1;
                p.leader = None;
                p.validate = false;
                again = true;
            }
        }
        if again {
            st.need_metadata = true;
            self.metadata_backoff_until = Some(now + self.retry_backoff(1));
        }
        for (tp, e) in failures {
            st.fail(&tp, e);
        }
        if !st.errors.is_empty() {
            self.shared.data_ready.notify_one();
        }
    }

    fn on_fetch(
        &mut self,
        broker: i32,
        plan: FetchPlan,
        result: Result<(FetchResponse, i16), kafkaroo_net::Error>,
    ) {
        self.fetching.remove(&broker);
        let now = Instant::now();
        let mut st = self.shared.lock();
        let clear_in_flight = |st: &mut EngineState| {
            for (tp, (_, version)) in &plan.partitions {
                if let Some(p) = st.partitions.get_mut(tp).filter(|p| p.version == *version) {
                    p.in_flight = false;
                }
            }
        };
        let (response, version) = match result {
            Ok(r) => r,
            Err(e) => {
                debug!(broker, error = %e, "fetch failed");
                if let Some(s) = self.sessions.get_mut(&broker) {
                    s.reset();
                }
                clear_in_flight(&mut st);
                let retry_at = now + self.retry_backoff(1);
                for tp in plan.partitions.keys() {
                    if let Some(p) = st.partitions.get_mut(tp) {
                        p.retry_at = Some(retry_at);
                    }
                }
                st.need_metadata = true;
                if e.is_fatal() {
                    st.errors.push_back(Error::Net(e));
                    self.shared.data_ready.notify_one();
                }
                return;
            }
        };
        let top = ErrorCode(response.error_code);
        if !top.is_ok() {
            debug!(broker, error = ?top, "fetch session error; next fetch is full");
            if let Some(s) = self.sessions.get_mut(&broker) {
                s.reset();
            }
            clear_in_flight(&mut st);
            return;
        }
        if let Some(s) = self.sessions.get_mut(&broker) {
            s.on_response(&plan.session, response.session_id, plan.wanted.clone());
        }
        clear_in_flight(&mut st);
        let mut got_data = false;
        let mut leader_hints = Vec::new();
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
                let code = ErrorCode(part.error_code);
                if code.is_ok() {
                    // Watermarks hold whatever the position: keep them even from a stale answer, since an
                    // incremental fetch session will not repeat them until they change.
                    p.high_watermark = part.high_watermark;
                    if part.last_stable_offset >= 0 {
                        p.last_stable_offset = part.last_stable_offset;
                    }
                    if part.log_start_offset >= 0 {
                        p.log_start_offset = part.log_start_offset;
                    }
                    p.report_lag(self.shared.config.isolation_level);
                }
                if p.version != sent_version || p.position != Some(fetch_offset) || p.failed {
                    trace!(partition = %tp, "discarding stale fetch response");
                    continue;
                }
                if code.is_ok() {
                    if part.diverging_epoch.epoch >= 0 && part.diverging_epoch.end_offset >= 0 {
                        // KIP-320 inline: the leader's log diverged from what we fetched.
                        let end = part.diverging_epoch.end_offset;
                        let position = fetch_offset;
                        let tp2 = tp.clone();
                        handle_truncation(&mut st, &self.shared.config, &tp2, position, end);
                        continue;
                    }
                    let records = part.records.unwrap_or_default();
                    if let Some(needed) = incomplete_first_batch(&records) {
                        // No complete batch fitted. Kafka 2.1+ always sends the first batch of the first
                        // partition whole (KIP-74), but other partitions are cut at their limit: ask for
                        // more next time, and give up (naming the offset) at fetch.max.bytes.
                        let config = &self.shared.config;
                        let cap = config.fetch_max_bytes.max(config.max_partition_fetch_bytes);
                        let current = p.fetch_size.unwrap_or(config.max_partition_fetch_bytes);
                        if current >= cap {
                            let error = Error::BatchTooLarge {
                                partition: tp.clone(),
                                offset: fetch_offset,
                                batch_size: needed,
                                fetch_limit: cap,
                            };
                            st.fail(&tp, error);
                        } else {
                            let grown = current
                                .saturating_mul(2)
                                .max(i32::try_from(needed).unwrap_or(i32::MAX))
                                .min(cap);
                            debug!(partition = %tp, current, grown, "no complete batch fitted; growing the fetch size");
                            p.fetch_size = Some(grown);
                        }
                        continue;
                    }
                    if !records.is_empty() {
                        p.fetch_size = None;
                        let filter = (self.shared.config.isolation_level == IsolationLevel::ReadCommitted)
                            .then(|| {
                                AbortedTransactionFilter::new(
                                    part.aborted_transactions
                                        .unwrap_or_default()
                                        .iter()
                                        .map(|a| (a.producer_id.0, a.first_offset)),
                                )
                            });
                        p.buffered = Some(Buffered {
                            version: p.version,
                            reader: BatchReader::new(records, self.shared.decode_options()),
                            current: None,
                            filter,
                        });
                        got_data = true;
                    }
                    continue;
                }
                match code {
                    ErrorCode::NOT_LEADER_OR_FOLLOWER
                    | ErrorCode::LEADER_NOT_AVAILABLE
                    | ErrorCode::REPLICA_NOT_AVAILABLE
                    | ErrorCode::KAFKA_STORAGE_ERROR
                    | ErrorCode::FENCED_LEADER_EPOCH
                    | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                    | ErrorCode::UNKNOWN_TOPIC_ID
                    | ErrorCode::INCONSISTENT_TOPIC_ID
                    | ErrorCode::NOT_COORDINATOR => {
                        debug!(partition = %tp, error = ?code, hint_leader = part.current_leader.leader_id.0, "leader moved; refreshing metadata");
                        if part.current_leader.leader_id.0 >= 0
                            && part.current_leader.leader_epoch > p.leader_epoch
                        {
                            leader_hints.push((
                                tp.clone(),
                                part.current_leader.leader_id.0,
                                part.current_leader.leader_epoch,
                            ));
                        } else {
                            p.leader = None;
                        }
                        p.retry_at = Some(now + self.shared.config.retry_backoff);
                        st.need_metadata = true;
                    }
                    ErrorCode::UNKNOWN_LEADER_EPOCH | ErrorCode::OFFSET_NOT_AVAILABLE => {
                        p.retry_at = Some(now + self.shared.config.retry_backoff);
                        st.need_metadata = true;
                    }
                    ErrorCode::OFFSET_OUT_OF_RANGE => {
                        let policy = self.shared.config.auto_offset_reset;
                        info!(partition = %tp, offset = fetch_offset, log_start = part.log_start_offset, high_watermark = part.high_watermark, ?policy, "fetch offset out of range");
                        match policy {
                            AutoOffsetReset::None => {
                                st.fail(
                                    &tp,
                                    Error::NoOffsetForPartition {
                                        partition: tp.clone(),
                                        offset: Some(fetch_offset),
                                    },
                                );
                            }
                            AutoOffsetReset::Earliest | AutoOffsetReset::Latest => {
                                p.position = None;
                                p.pending_reset = None;
                            }
                        }
                    }
                    other => {
                        st.fail(
                            &tp,
                            Error::Partition {
                                partition: tp.clone(),
                                code: other,
                            },
                        );
                    }
                }
            }
        }
        let metadata = self.client.metadata();
        for (tp, leader, epoch) in leader_hints {
            if let Some(p) = st.partitions.get_mut(&tp) {
                // KIP-951: switch to the new leader at once when we know how to reach it.
                if metadata.brokers.contains_key(&leader) {
                    p.leader = Some(leader);
                    p.leader_epoch = epoch;
                    if p.last_epoch.is_some() {
                        p.validate = true;
                    }
                } else {
                    p.leader = None;
                }
            }
        }
        if got_data || !st.errors.is_empty() {
            self.shared.data_ready.notify_one();
        }
    }

    /// A request for `partitions` failed as a whole: retry after the backoff with fresh metadata; a fatal
    /// error also reaches `poll`.
    fn retry_later<'a>(
        &self,
        st: &mut EngineState,
        partitions: impl Iterator<Item = (&'a TopicPartition, u64)>,
        error: kafkaroo_net::Error,
    ) {
        let retry_at = Instant::now() + self.shared.config.retry_backoff;
        st.need_metadata = true;
        for (tp, version) in partitions {
            if let Some(p) = st.partitions.get_mut(tp).filter(|p| p.version == version) {
                p.retry_at = Some(retry_at);
            }
        }
        if error.is_fatal() {
            st.errors.push_back(Error::Net(error));
            self.shared.data_ready.notify_one();
        }
    }

    fn on_list_offsets(
        &mut self,
        partitions: Vec<(TopicPartition, u64, OffsetSpec)>,
        result: Result<ListOffsetsAnswer, kafkaroo_net::Error>,
    ) {
        let now = Instant::now();
        let mut st = self.shared.lock();
        for (tp, version, _) in &partitions {
            if self.resolving.get(tp) == Some(version) {
                self.resolving.remove(tp);
            }
        }
        let answers = match result {
            Ok(a) => a,
            Err(e) => {
                debug!(error = %e, "ListOffsets failed");
                self.retry_later(&mut st, partitions.iter().map(|(tp, v, _)| (tp, *v)), e);
                return;
            }
        };
        let mut failures = Vec::new();
        for (tp, version, spec) in partitions {
            let Some(p) = st.partitions.get_mut(&tp).filter(|p| p.version == version) else {
                continue;
            };
            let Some(&(code, offset, _)) = answers.get(&tp) else {
                p.retry_at = Some(now + self.shared.config.retry_backoff);
                continue;
            };
            if code.is_ok() {
                if offset < 0 {
                    // No record at or after the timestamp: start at the end, as Java does.
                    p.pending_reset = Some(OffsetSpec::Latest);
                    continue;
                }
                debug!(partition = %tp, ?spec, offset, "position resolved");
                p.position = Some(offset);
                p.pending_reset = None;
                p.report_lag(self.shared.config.isolation_level);
                self.shared.resolved.notify_waiters();
            } else if code.is_retriable() {
                p.retry_at = Some(now + self.shared.config.retry_backoff);
                st.need_metadata = true;
            } else {
                failures.push((tp.clone(), Error::Partition { partition: tp, code }));
            }
        }
        for (tp, e) in failures {
            st.fail(&tp, e);
            self.shared.data_ready.notify_one();
        }
    }

    fn on_validate(
        &mut self,
        partitions: Vec<(TopicPartition, u64, i32)>,
        result: Result<ValidateAnswer, kafkaroo_net::Error>,
    ) {
        let now = Instant::now();
        let mut st = self.shared.lock();
        for (tp, version, _) in &partitions {
            if self.resolving.get(tp) == Some(version) {
                self.resolving.remove(tp);
            }
        }
        let answers = match result {
            Ok(a) => a,
            Err(e) => {
                debug!(error = %e, "OffsetForLeaderEpoch failed");
                self.retry_later(&mut st, partitions.iter().map(|(tp, v, _)| (tp, *v)), e);
                return;
            }
        };
        for (tp, version, _epoch) in partitions {
            let Some(p) = st.partitions.get_mut(&tp).filter(|p| p.version == version) else {
                continue;
            };
            let Some(&(code, _leader_epoch, end_offset)) = answers.get(&tp) else {
                continue;
            };
            if !code.is_ok() {
                if code == ErrorCode::UNSUPPORTED_VERSION || code.is_fatal() {
                    p.validate = false; // cannot validate: continue as before KIP-320
                } else {
                    p.retry_at = Some(now + self.shared.config.retry_backoff);
                    st.need_metadata = true;
                }
                continue;
            }
            p.validate = false;
            let Some(position) = p.position else { continue };
            if end_offset >= 0 && end_offset < position {
                handle_truncation(&mut st, &self.shared.config, &tp, position, end_offset);
            }
        }
    }
}

/// The leader's log ends below our position for our epoch: records we may have delivered are gone.
fn handle_truncation(
    st: &mut EngineState,
    config: &ConsumerConfig,
    tp: &TopicPartition,
    position: i64,
    end_offset: i64,
) {
    warn!(partition = %tp, position, end_offset, "log truncation detected");
    if config.auto_offset_reset == AutoOffsetReset::None {
        st.fail(
            tp,
            Error::LogTruncation {
                partition: tp.clone(),
                position,
                end_offset,
            },
        );
        return;
    }
    let next = st.bump_version();
    if let Some(p) = st.partitions.get_mut(tp) {
        p.invalidate(next);
        p.position = Some(end_offset);
        p.validate = false;
    }
}

/// `Some(bytes the first batch needs)` when `records` holds bytes but not one complete batch.
fn incomplete_first_batch(records: &[u8]) -> Option<usize> {
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

fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

async fn send_fetch(
    client: &Client,
    shared: &Shared,
    broker: i32,
    plan: &FetchPlan,
    metadata: &kafkaroo_net::Metadata,
    reservation: crate::budget::Reservation,
    max_bytes: i32,
) -> Result<(FetchResponse, i16), kafkaroo_net::Error> {
    let conn: Connection = client.connection(broker, Purpose::Fetch).await?;
    let version = conn.negotiated_version::<FetchRequest>()?;
    let config = &shared.config;
    let mut topics: Vec<FetchTopic> = Vec::new();
    for tp in &plan.session.send {
        let sp = plan.wanted[tp];
        let mut fp = FetchPartition::default()
            .with_partition(tp.partition)
            .with_fetch_offset(sp.fetch_offset)
            .with_partition_max_bytes(sp.max_bytes);
        if version >= 9 {
            fp = fp.with_current_leader_epoch(sp.current_leader_epoch);
        }
        if version >= 12 {
            fp = fp.with_last_fetched_epoch(sp.last_fetched_epoch);
        }
        if version >= 5 {
            fp = fp.with_log_start_offset(-1);
        }
        match topics
            .last_mut()
            .filter(|t| fetch_topic_is(t, &tp.topic, metadata, version))
        {
            Some(t) => t.partitions.push(fp),
            None => topics.push(fetch_topic(&tp.topic, metadata, version).with_partitions(vec![fp])),
        }
    }
    let mut forgotten: Vec<ForgottenTopic> = Vec::new();
    for tp in &plan.session.forget {
        let mut ft = ForgottenTopic::default().with_partitions(vec![tp.partition]);
        if version >= 13 {
            ft = ft.with_topic_id(metadata.topics.get(&tp.topic).map_or(Uuid::nil(), |t| t.id));
        } else {
            ft = ft.with_topic(topic_name(&tp.topic));
        }
        forgotten.push(ft);
    }
    let mut request = FetchRequest::default()
        .with_max_wait_ms(config.fetch_max_wait.as_millis() as i32)
        .with_min_bytes(config.fetch_min_bytes)
        .with_max_bytes(max_bytes)
        .with_isolation_level(config.isolation_level.wire())
        .with_topics(topics);
    if version >= 7 {
        request = request
            .with_session_id(plan.session.session_id)
            .with_session_epoch(plan.session.epoch)
            .with_forgotten_topics_data(forgotten);
    }
    if let Some(rack) = config.client_rack.as_ref().filter(|_| version >= 11) {
        request = request.with_rack_id(StrBytes::from_string(rack.clone()));
    }
    let timeout = config.request_timeout + config.fetch_max_wait;
    let frame = conn.request_frame(&request, version, timeout).await?;
    let frame_len = frame.len();
    let frame = reservation.attach(frame);
    shared.telemetry.fetched(frame_len);
    let response = conn.decode_frame::<FetchRequest>(version, frame)?;
    Ok((response, version))
}

fn fetch_topic(name: &str, metadata: &kafkaroo_net::Metadata, version: i16) -> FetchTopic {
    if version >= 13 {
        FetchTopic::default().with_topic_id(metadata.topics.get(name).map_or(Uuid::nil(), |t| t.id))
    } else {
        FetchTopic::default().with_topic(topic_name(name))
    }
}

fn fetch_topic_is(t: &FetchTopic, name: &str, metadata: &kafkaroo_net::Metadata, version: i16) -> bool {
    if version >= 13 {
        metadata.topics.get(name).is_some_and(|m| m.id == t.topic_id)
    } else {
        t.topic.0.as_str() == name
    }
}

/// ListOffsets to `broker` for `(partition, timestamp or -1/-2, current leader epoch)` queries.
pub(crate) async fn list_offsets<'a>(
    client: &Client,
    broker: i32,
    queries: impl Iterator<Item = (&'a TopicPartition, i64, i32)>,
    isolation: i8,
    timeout: Duration,
) -> Result<ListOffsetsAnswer, kafkaroo_net::Error> {
    let conn = client.connection(broker, Purpose::General).await?;
    let version = conn.negotiated_version::<ListOffsetsRequest>()?;
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (tp, timestamp, epoch) in queries {
        let mut lp = ListOffsetsPartition::default()
            .with_partition_index(tp.partition)
            .with_timestamp(timestamp);
        if version >= 4 {
            lp = lp.with_current_leader_epoch(epoch);
        }
        match topics.last_mut().filter(|t| t.name.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(lp),
            None => topics.push(
                ListOffsetsTopic::default()
                    .with_name(topic_name(&tp.topic))
                    .with_partitions(vec![lp]),
            ),
        }
    }
    let mut request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_topics(topics);
    if version >= 2 {
        request = request.with_isolation_level(isolation);
    }
    if version >= 10 {
        request = request.with_timeout_ms(timeout.as_millis() as i32);
    }
    let response = conn.send_version(&request, version, timeout).await?;
    let mut out = HashMap::new();
    for t in response.topics {
        for p in t.partitions {
            out.insert(
                TopicPartition::new(t.name.0.as_str(), p.partition_index),
                (ErrorCode(p.error_code), p.offset, p.timestamp),
            );
        }
    }
    Ok(out)
}

async fn validate_epochs(
    client: &Client,
    broker: i32,
    parts: &[(TopicPartition, u64, i32, i32)],
) -> Result<ValidateAnswer, kafkaroo_net::Error> {
    let conn = client.connection(broker, Purpose::General).await?;
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for (tp, _, last_epoch, current_epoch) in parts {
        let p = OffsetForLeaderPartition::default()
            .with_partition(tp.partition)
            .with_leader_epoch(*last_epoch)
            .with_current_leader_epoch(*current_epoch);
        match topics.last_mut().filter(|t| t.topic.0.as_str() == tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(topic_name(&tp.topic))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-2).into())
        .with_topics(topics);
    let response = conn.send(&request).await?;
    let mut out = HashMap::new();
    for t in response.topics {
        for p in t.partitions {
            out.insert(
                TopicPartition::new(t.topic.0.as_str(), p.partition),
                (ErrorCode(p.error_code), p.leader_epoch, p.end_offset),
            );
        }
    }
    Ok(out)
}

/// Takes records out of a partition's buffered data for `poll`, advancing its position as records are
/// handed out. Returns the records and whether the buffer is exhausted.
pub(crate) fn drain_partition(
    tp: &TopicPartition,
    p: &mut PartitionState,
    budget: &Arc<MemoryBudget>,
    max: usize,
    out: &mut Vec<crate::record::ConsumerRecord>,
) -> Result<(), Error> {
    let Some(buf) = p.buffered.as_mut() else {
        return Ok(());
    };
    if buf.version != p.version {
        p.buffered = None;
        return Ok(());
    }
    let Some(mut position) = p.position else {
        p.buffered = None;
        return Ok(());
    };
    while out.len() < max {
        if buf.current.is_none() {
            match buf.reader.next() {
                None => {
                    p.buffered = None;
                    break;
                }
                Some(Err(source)) => {
                    let offset = source.offset().max(position);
                    p.buffered = None;
                    return Err(Error::CorruptRecord {
                        partition: tp.clone(),
                        offset,
                        source,
                    });
                }
                Some(Ok(batch)) => {
                    if batch.next_offset() <= position {
                        continue; // entirely below the position (whole batches are returned)
                    }
                    let deliver = match buf.filter.as_mut() {
                        Some(f) => match f.check(&batch) {
                            Ok(v) => v == kafkaroo_records::BatchVerdict::Deliver,
                            Err(source) => {
                                let offset = batch.base_offset();
                                p.buffered = None;
                                return Err(Error::CorruptRecord {
                                    partition: tp.clone(),
                                    offset,
                                    source,
                                });
                            }
                        },
                        None => !batch.is_control(),
                    };
                    if !deliver {
                        position = batch.next_offset();
                        p.position = Some(position);
                        continue;
                    }
                    match batch.records() {
                        Ok(records) => {
                            // A decompressed batch is new memory: count it until its last record drops.
                            let records = if batch.compression() == kafkaroo_records::Compression::None {
                                records
                            } else {
                                let reservation = budget.reserve_exact(records.data().len());
                                records.wrap_data(|data| reservation.attach(data))
                            };
                            buf.current = Some((batch, records));
                        }
                        Err(source) => {
                            let offset = batch.base_offset().max(position);
                            p.buffered = None;
                            return Err(Error::CorruptRecord {
                                partition: tp.clone(),
                                offset,
                                source,
                            });
                        }
                    }
                }
            }
        }
        let Some((batch, records)) = buf.current.as_mut() else {
            continue;
        };
        let epoch = batch.header().partition_leader_epoch;
        let mut finished = true;
        for record in records.by_ref() {
            match record {
                Ok(record) => {
                    if record.offset() < position {
                        continue;
                    }
                    position = record.offset() + 1;
                    p.position = Some(position);
                    p.last_epoch = Some(epoch);
                    out.push(crate::record::ConsumerRecord {
                        topic: p.topic.clone(),
                        partition: tp.partition,
                        leader_epoch: epoch,
                        record,
                    });
                    if out.len() >= max {
                        finished = false;
                        break;
                    }
                }
                Err(source) => {
                    let offset = position;
                    p.buffered = None;
                    return Err(Error::CorruptRecord {
                        partition: tp.clone(),
                        offset,
                        source,
                    });
                }
            }
        }
        if finished {
            // Past the batch's last offset even if compaction removed its tail records.
            position = position.max(batch.next_offset());
            p.position = Some(position);
            p.last_epoch = Some(epoch);
            buf.current = None;
        }
    }
    Ok(())
}
