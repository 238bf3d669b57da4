//! The `Consumer`: the handle applications use.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_core::Stream;
use kafkaroo_group::MemberState;
use kafkaroo_group::member::CloseMode;
use kafkaroo_net::Client;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::budget::MemoryBudget;
use crate::client_metrics::ClientMetrics;
use crate::commit::{CommitHandle, Committer, OffsetAndMetadata, PendingCommit};
use crate::config::ConsumerConfig;
use crate::control;
use crate::coordinator;
use crate::engine::{self, EngineState, OffsetSpec, Shared};
use crate::error::Error;
use crate::group::{self, GroupShared, GroupState, RebalanceListener, Subscription, TopicPattern};
use crate::record::{ConsumerRecord, PollBatch, TopicPartition};
use crate::retry::{Attempt, Budget, GaveUp, retrying};
use crate::standalone::Standalone;
use crate::telemetry::Telemetry;

/// Offsets of a partition's log as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// Log start offset (-1 if not yet known).
    pub low: i64,
    /// High watermark: offset of the next record to be written (-1 if not yet known).
    pub high: i64,
    /// Last stable offset: end of what `read_committed` may read (-1 if not yet known).
    pub last_stable: i64,
}

/// The offset of the first record at or after a timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The offset.
    pub offset: i64,
    /// The timestamp of the record at that offset.
    pub timestamp: i64,
}

/// A Kafka consumer.
///
/// Create it with [`Consumer::new`], [`assign`](Consumer::assign) partitions, then
/// [`poll`](Consumer::poll), [`recv`](Consumer::recv) or [`stream`](Consumer::stream). A background task
/// (spawned on the current tokio runtime) keeps fetches in flight while the application processes
/// records. Drop it or [`close`](Consumer::close) it to stop.
pub struct Consumer {
    shared: Arc<Shared>,
    client: Client,
    driver: Option<JoinHandle<()>>,
    group: Option<Arc<GroupShared>>,
    group_driver: Option<JoinHandle<()>>,
    /// Set once at the first `subscribe`; shared with every [`CommitHandle`].
    commit_handle: CommitHandle,
    /// When `poll` next logs the statistics (`statistics.interval.ms`).
    statistics_due: Option<Instant>,
    /// With a `group.id` and no `subscribe`: committed start positions and commits of `assign`ed
    /// partitions.
    standalone: Option<Arc<Standalone>>,
    /// KIP-714 metrics push (`enable.metrics.push`).
    client_metrics: Option<ClientMetrics>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("assignment", &self.assignment())
            .finish()
    }
}

impl Consumer {
    /// Connects to the cluster (bootstrap and broker list) and starts the fetch engine.
    ///
    /// Cancellation safe: dropping the future before it resolves leaves nothing running.
    pub async fn new(config: ConsumerConfig) -> Result<Self, Error> {
        config.validate()?;
        let client_config = config.client_config();
        let client = Client::connect(client_config).await?;
        let telemetry = Telemetry::new(&config.client_id);
        let shared = Arc::new(Shared {
            state: Mutex::new(EngineState::default()),
            driver_wake: Notify::new(),
            data_ready: Notify::new(),
            resolved: Notify::new(),
            budget: MemoryBudget::with_gauge(config.memory_budget_bytes, telemetry.memory_gauge()),
            config,
            telemetry,
        });
        let driver = tokio::spawn(engine::run(shared.clone(), client.clone()));
        let client_metrics = shared
            .config
            .enable_metrics_push
            .then(|| ClientMetrics::start(shared.clone(), client.clone()));
        let standalone = shared
            .config
            .group_id
            .clone()
            .map(|group_id| Standalone::start(client.clone(), group_id, shared.clone()));
        Ok(Self {
            shared,
            client,
            driver: Some(driver),
            group: None,
            group_driver: None,
            commit_handle: CommitHandle {
                standalone: standalone.clone().map(|s| s as Arc<dyn Committer>),
                ..CommitHandle::default()
            },
            standalone,
            statistics_due: None,
            client_metrics,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &ConsumerConfig {
        &self.shared.config
    }

    /// The cluster client underneath (metadata, raw requests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn wake(&self) {
        self.shared.driver_wake.notify_one();
    }

    /// Replaces the assignment with `partitions`. Partitions kept keep their position and buffered data;
    /// partitions dropped lose theirs (nothing of them is returned after this call); new partitions start
    /// at the group's committed offset when `group.id` is set (as in Java), else or when nothing is
    /// committed from `auto.offset.reset`, unless [`seek`](Consumer::seek) says otherwise.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<(), Error> {
        if self.group.is_some() {
            return Err(Error::Config(
                "assign cannot be used after subscribe: the group assigns partitions".into(),
            ));
        }
        let wanted: Vec<TopicPartition> = partitions.into_iter().collect();
        for tp in &wanted {
            if tp.topic.is_empty() || tp.partition < 0 {
                return Err(Error::Config(format!(
                    "cannot assign {tp}: empty topic or negative partition"
                )));
            }
        }
        let mut st = self.shared.lock();
        let keep: std::collections::BTreeSet<&TopicPartition> = wanted.iter().collect();
        st.partitions.retain(|tp, _| keep.contains(tp));
        st.undelivered
            .retain(|r| keep.contains(&TopicPartition::new(r.topic(), r.partition())));
        let mut added = Vec::new();
        for tp in wanted {
            let (state, new) = st.add_partition(&tp, &self.shared.telemetry);
            if new {
                if self.standalone.is_some() {
                    state.await_committed();
                }
                added.push((tp, state.version()));
            }
        }
        drop(st);
        if let Some(s) = &self.standalone {
            s.start_positions(added);
        }
        self.wake();
        Ok(())
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.shared.lock().partitions.keys().cloned().collect()
    }

    /// Assigns every partition of `topics` (looked up in metadata), keeping the current assignment.
    ///
    /// Cancellation safe: the assignment changes only after the metadata lookup completed.
    pub async fn assign_topics(&mut self, topics: &[&str]) -> Result<Vec<TopicPartition>, Error> {
        let metadata = self.client.refresh_metadata(Some(topics)).await?;
        let mut all = self.assignment();
        for topic in topics {
            let t = metadata.topics.get(*topic).ok_or_else(|| Error::UnknownTopic {
                topic: (*topic).to_owned(),
            })?;
            if t.error.is_fatal() {
                return Err(Error::Partition {
                    partition: TopicPartition::new(*topic, -1),
                    code: t.error,
                });
            }
            if t.partitions.is_empty() {
                return Err(Error::UnknownTopic {
                    topic: (*topic).to_owned(),
                });
            }
            all.extend(t.partitions.keys().map(|p| TopicPartition::new(*topic, *p)));
        }
        all.sort();
        all.dedup();
        self.assign(all.clone())?;
        Ok(all)
    }

    /// Sets the next offset `poll` returns for `tp`. Buffered and in-flight data of the partition is
    /// dropped; the partition resumes after an error.
    pub fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<(), Error> {
        control::seek(&self.shared, tp, offset)
    }

    fn seek_spec(&mut self, tps: &[TopicPartition], spec: OffsetSpec) -> Result<(), Error> {
        control::seek_spec(&self.shared, tps, spec)
    }

    /// Moves `partitions` to their log start; resolved lazily by the engine.
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        self.seek_spec(partitions, OffsetSpec::Earliest)
    }

    /// Moves `partitions` to their end (the next record produced).
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        self.seek_spec(partitions, OffsetSpec::Latest)
    }

    /// Moves `partitions` to the first record with a timestamp at or after `timestamp_ms` (the end if none).
    pub fn seek_to_timestamp(
        &mut self,
        partitions: &[TopicPartition],
        timestamp_ms: i64,
    ) -> Result<(), Error> {
        self.seek_spec(partitions, OffsetSpec::Timestamp(timestamp_ms))
    }

    /// The offset of the next record `poll` will return for `tp`, waiting (up to the request timeout) for
    /// the engine to resolve it if it is not known yet.
    ///
    /// Cancellation safe.
    pub async fn position(&self, tp: &TopicPartition) -> Result<i64, Error> {
        let deadline = Instant::now() + self.shared.config.request_timeout;
        loop {
            let resolved = self.shared.resolved.notified();
            {
                let mut st = self.shared.lock();
                let p = st.partitions.get(tp).ok_or_else(|| Error::NotAssigned {
                    partition: tp.clone(),
                })?;
                let failed = p.is_failed();
                if let Some((pos, _)) = st.delivered_position(tp) {
                    return Ok(pos);
                }
                if failed {
                    let idx = st.errors.iter().position(|e| e.topic_partition() == Some(tp));
                    if let Some(e) = idx.and_then(|i| st.errors.remove(i)) {
                        return Err(e);
                    }
                }
            }
            self.wake();
            tokio::select! {
                () = resolved => {}
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
                () = tokio::time::sleep_until(deadline.into()) => {
                    return Err(Error::Net(kafkaroo_net::Error::Timeout {
                        addr: "cluster".into(), api: "ListOffsets", after: self.shared.config.request_timeout,
                    }));
                }
            }
        }
    }

    /// Log start, high watermark and last stable offset of `tp` as of the last fetch.
    pub fn watermarks(&self, tp: &TopicPartition) -> Option<Watermarks> {
        let st = self.shared.lock();
        let (low, high, last_stable) = st.partitions.get(tp)?.watermarks();
        Some(Watermarks {
            low,
            high,
            last_stable,
        })
    }

    /// How many records `tp` is behind, counted from the **position** (the next record `poll` hands
    /// out) to the last stable offset under `read_committed`, else to the high watermark, as Java's
    /// `currentLag`. `None` until a fetch reported the watermarks. No network round trip; for the lag
    /// from the group's committed offset (what `kafka-consumer-groups.sh` shows) see
    /// [`committed_lag`](Consumer::committed_lag).
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let st = self.shared.lock();
        st.partitions.get(tp)?.lag(self.shared.config.isolation_level)
    }

    /// How many records of each of `partitions` the group has not committed yet: from the committed
    /// offset (OffsetFetch, one round trip to the coordinator) to the end [`lag`](Consumer::lag) counts
    /// to. `None` for a partition without a committed offset or whose watermarks no fetch reported yet.
    /// This is the lag `kafka-consumer-groups.sh --describe` shows; it includes records handed out but
    /// not committed.
    pub async fn committed_lag(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<i64>>, Error> {
        let committed = self.committed(partitions).await?;
        let st = self.shared.lock();
        Ok(committed
            .into_iter()
            .map(|(tp, offset)| {
                let end = st
                    .partitions
                    .get(&tp)
                    .map(|p| p.log_end(self.shared.config.isolation_level));
                let lag = match (offset, end) {
                    (Some(c), Some(end)) if end >= 0 => Some((end - c.offset).max(0)),
                    _ => None,
                };
                (tp, lag)
            })
            .collect())
    }

    /// Stops fetching `partitions` and handing out their records, until [`resume`](Consumer::resume).
    /// What was already fetched is kept (not fetched again) and handed out after `resume`; the
    /// position is kept. Partitions assigned later are not paused: pause them in
    /// [`RebalanceListener::on_assigned_with`] (through its [`RebalanceContext`](crate::RebalanceContext)).
    /// Fails with [`Error::NotAssigned`], pausing nothing, if a partition is not assigned.
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        control::pause(&self.shared, partitions)
    }

    /// Restarts handing out `partitions`: first what was fetched before the pause, then fetched from
    /// there. Fails with [`Error::NotAssigned`], resuming nothing, if a partition is not assigned.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<(), Error> {
        control::resume(&self.shared, partitions)
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        control::paused(&self.shared)
    }

    /// Bytes of fetched data currently held (buffered, in flight, or in records the application holds).
    pub fn memory_used(&self) -> usize {
        self.shared.budget.used()
    }

    /// With `statistics.interval.ms`, logs the snapshot once per interval (librdkafka emits its
    /// statistics from its poll the same way).
    fn log_statistics_when_due(&mut self) {
        let interval = self.shared.config.statistics_interval;
        if interval.is_zero() {
            return;
        }
        let now = Instant::now();
        let due = *self.statistics_due.get_or_insert(now + interval);
        if now >= due {
            self.statistics_due = Some(now + interval);
            tracing::info!(target: "kafkaroo::statistics", statistics = %self.statistics().to_json());
        }
    }

    /// A snapshot of the consumer: per-partition positions, watermarks and lag, the group's state and
    /// rebalance count, totals and memory; [`Statistics::to_json`](crate::Statistics::to_json) prints it
    /// shaped after librdkafka's statistics. Cheap (one lock of the partition table); take it on your
    /// own interval, or set `statistics.interval.ms` to have `poll` log it.
    pub fn statistics(&self) -> crate::Statistics {
        crate::statistics::snapshot(&self.shared, self.group.as_ref().map(|g| g.statistics()))
    }

    /// The client instance id a broker assigned to this consumer for KIP-714 metrics push, in Kafka's
    /// text form (what broker-side exporters label its metrics with, as Java's
    /// `KafkaConsumer::clientInstanceId` returns it). `None` with `enable.metrics.push=false`, before
    /// the first GetTelemetrySubscriptions answer, and with brokers that offer no telemetry.
    pub fn client_instance_id(&self) -> Option<String> {
        self.client_metrics.as_ref()?.client_instance_id()
    }

    /// Waits up to `timeout` for records and returns those available, at most `max.poll.records`,
    /// grouped by partition. Returns an empty batch on timeout. A fatal per-partition error (corrupt
    /// batch, authorization, `auto.offset.reset=none`) is returned once, naming the partition and
    /// offset; that partition stops until [`seek`](Consumer::seek) and the others go on.
    ///
    /// Cancellation safe: records are taken out of the buffer only in the synchronous part that
    /// completes the future, so a dropped `poll` loses nothing.
    pub async fn poll(&mut self, timeout: Duration) -> Result<PollBatch, Error> {
        self.poll_inner(timeout, false).await
    }

    /// `poll`; with `hold`, the records go to `recv`'s queue (`undelivered`) under the same lock that
    /// moved the positions past them, so a rebalance never sees them as handed out, and an empty
    /// batch is returned.
    async fn poll_inner(&mut self, timeout: Duration, hold: bool) -> Result<PollBatch, Error> {
        self.log_statistics_when_due();
        let mut auto_commit_at = self.group_poll_entry()?;
        {
            // Records `recv` took out earlier come first (revoked partitions' records were dropped with
            // the partitions).
            let mut st = self.shared.lock();
            if !st.undelivered.is_empty() {
                let max = self.shared.config.max_poll_records;
                let mut group: BTreeMap<(String, i32), Vec<ConsumerRecord>> = BTreeMap::new();
                let n = st.undelivered.len().min(max);
                for r in st.undelivered.drain(..n) {
                    group
                        .entry((r.topic().to_owned(), r.partition()))
                        .or_default()
                        .push(r);
                }
                let partitions = group
                    .into_iter()
                    .map(|((t, p), r)| (TopicPartition::new(t, p), r))
                    .collect();
                return Ok(PollBatch { partitions });
            }
        }
        let deadline = Instant::now() + timeout;
        let shared = self.shared.clone();
        loop {
            let ready = shared.data_ready.notified();
            if let Some(result) = self.collect(hold)? {
                return Ok(result);
            }
            // While the application waits here it holds nothing unprocessed: membership callbacks and
            // auto-commits may run.
            let mut wake_at = auto_commit_at.map_or(deadline, |at| at.min(deadline));
            if self.group.is_some() {
                // Waiting inside `poll` is polling (as in Java): a long `poll`/`recv` on an idle topic
                // must not run past max.poll.interval.ms and cost the member its partitions.
                wake_at = wake_at.min(Instant::now() + self.shared.config.max_poll_interval / 2);
            }
            tokio::select! {
                () = ready => {}
                () = tokio::time::sleep_until(wake_at.into()) => {
                    if wake_at >= deadline {
                        return Ok(PollBatch::default());
                    }
                }
            }
            auto_commit_at = self.group_poll_entry()?;
        }
    }

    /// The group's share of `poll`/`recv`: a fatal membership error, the `max.poll.interval.ms`
    /// timer, membership callbacks and auto-commit. Returns when the next auto-commit is due.
    fn group_poll_entry(&mut self) -> Result<Option<Instant>, Error> {
        let Some(g) = &self.group else {
            return Ok(self.standalone.as_ref().and_then(Standalone::maybe_auto_commit));
        };
        let wake_driver = {
            let mut inner = g.lock();
            if let Some(e) = inner.fatal.clone() {
                return Err(e);
            }
            inner.member.poll_called(Instant::now());
            // A stable member only moved its max.poll.interval.ms timer, which the driver reads when
            // its current sleep ends: no wake-up per `recv`. Otherwise (e.g. rejoining after the
            // interval was exceeded) the driver has requests to send.
            inner.member.state() != MemberState::Stable
        };
        if wake_driver {
            g.wake.notify_one();
        }
        g.run_callbacks();
        Ok(g.maybe_auto_commit())
    }

    fn collect(&mut self, hold: bool) -> Result<Option<PollBatch>, Error> {
        let max = self.shared.config.max_poll_records;
        let mut st = self.shared.lock();
        if st.closed {
            return Err(Error::Closed);
        }
        if let Some(e) = st.errors.pop_front() {
            return Err(e);
        }
        let keys: Vec<TopicPartition> = st
            .partitions
            .iter()
            .filter(|(_, p)| p.has_data_for_poll())
            .map(|(tp, _)| tp.clone())
            .collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let start = st.poll_cursor % keys.len();
        st.poll_cursor = st.poll_cursor.wrapping_add(1);
        let mut batch = PollBatch::default();
        let mut total = 0;
        let mut drained_any = false;
        for tp in keys[start..].iter().chain(keys[..start].iter()) {
            if total >= max {
                break;
            }
            let mut records = Vec::new();
            let p = st.partitions.get_mut(tp).expect("listed above");
            let isolation = self.shared.config.isolation_level;
            let result = p.drain(tp, &self.shared.budget, max - total, isolation, &mut records);
            if !p.has_buffered() {
                drained_any = true;
            }
            total += records.len();
            if !records.is_empty() {
                batch.partitions.push((tp.clone(), records));
            }
            if let Err(e) = result {
                // Records already taken stay with the application; the error comes next.
                st.fail(tp, e);
            }
        }
        let got_records = !batch.is_empty();
        if hold {
            st.undelivered.extend(std::mem::take(&mut batch));
        }
        drop(st);
        self.shared.telemetry.consumed(total);
        if drained_any {
            self.wake();
        }
        if !got_records {
            let mut st = self.shared.lock();
            if let Some(e) = st.errors.pop_front() {
                return Err(e);
            }
            return Ok(None);
        }
        Ok(Some(batch))
    }

    /// Waits for the next record.
    ///
    /// Cancellation safe: a record is removed from the consumer only when this future completes.
    pub async fn recv(&mut self) -> Result<ConsumerRecord, Error> {
        loop {
            // `poll` below does the group's share when nothing is held.
            if !self.shared.lock().undelivered.is_empty() {
                self.group_poll_entry()?;
            }
            if let Some(r) = self.shared.lock().undelivered.pop_front() {
                return Ok(r);
            }
            self.poll_inner(Duration::from_secs(3600), true).await?;
        }
    }

    /// The records as a stream (of `recv` results). Ends never; errors are items.
    ///
    /// Cancellation safe: dropping the stream between items loses nothing (see [`Consumer::recv`]).
    pub fn stream(&mut self) -> impl Stream<Item = Result<ConsumerRecord, Error>> + '_ {
        futures_util::stream::unfold(self, |c| async move {
            let r = c.recv().await;
            Some((r, c))
        })
    }

    /// Looks up, per partition, the first offset whose timestamp is at or after the given one
    /// (ListOffsets). `None` when no such record exists.
    ///
    /// Cancellation safe.
    pub async fn offsets_for_times(
        &self,
        query: &[(TopicPartition, i64)],
    ) -> Result<HashMap<TopicPartition, Option<OffsetAndTimestamp>>, Error> {
        let answers = self.list_offsets(query).await?;
        Ok(answers
            .into_iter()
            .map(|(tp, (offset, ts))| {
                (
                    tp,
                    (offset >= 0).then_some(OffsetAndTimestamp {
                        offset,
                        timestamp: ts,
                    }),
                )
            })
            .collect())
    }

    /// The log start offsets of `partitions`.
    ///
    /// Cancellation safe.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, Error> {
        self.offsets_at(partitions, -2).await
    }

    /// The end offsets (high watermark, or last stable offset under `read_committed`) of `partitions`.
    ///
    /// Cancellation safe.
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>, Error> {
        self.offsets_at(partitions, -1).await
    }

    /// ListOffsets with one special timestamp (-1 latest, -2 earliest) for every partition.
    async fn offsets_at(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
    ) -> Result<HashMap<TopicPartition, i64>, Error> {
        let query: Vec<_> = partitions.iter().map(|tp| (tp.clone(), timestamp)).collect();
        Ok(self
            .list_offsets(&query)
            .await?
            .into_iter()
            .map(|(tp, (offset, _))| (tp, offset))
            .collect())
    }

    /// ListOffsets for `query`, by leader; retriable failures are retried (five attempts in all).
    async fn list_offsets(
        &self,
        query: &[(TopicPartition, i64)],
    ) -> Result<HashMap<TopicPartition, (i64, i64)>, Error> {
        let topics: &[&str] = &{
            let mut t: Vec<&str> = query.iter().map(|(tp, _)| tp.topic.as_str()).collect();
            t.sort_unstable();
            t.dedup();
            t
        };
        let backoff = self.shared.config.retry_backoff_config();
        retrying(backoff, Budget::Attempts(5), || {
            self.list_offsets_once(query, topics)
        })
        .await
        .map_err(|gave_up| match gave_up {
            GaveUp::Failed(e) => e,
            GaveUp::Exhausted { last, .. } => last.unwrap_or(Error::Closed),
        })
    }

    async fn list_offsets_once(
        &self,
        query: &[(TopicPartition, i64)],
        topics: &[&str],
    ) -> Attempt<HashMap<TopicPartition, (i64, i64)>, Error, Error> {
        let metadata = match self.client.refresh_metadata(Some(topics)).await {
            Ok(m) => m,
            Err(e) => return Attempt::Fail(e.into()),
        };
        let mut by_leader: BTreeMap<i32, Vec<&(TopicPartition, i64)>> = BTreeMap::new();
        for q in query {
            let Some(topic) = metadata.topics.get(&q.0.topic) else {
                return Attempt::Fail(Error::UnknownTopic {
                    topic: q.0.topic.clone(),
                });
            };
            if topic.error.is_fatal() {
                return Attempt::Fail(Error::Partition {
                    partition: q.0.clone(),
                    code: topic.error,
                });
            }
            let Some(part) = topic.partitions.get(&q.0.partition) else {
                return Attempt::Fail(Error::UnknownPartition {
                    partition: q.0.clone(),
                });
            };
            by_leader.entry(part.leader).or_default().push(q);
        }
        let mut out = HashMap::new();
        let mut retry = None;
        let isolation = self.shared.config.isolation_level.wire();
        for (leader, qs) in by_leader {
            let queries = qs.iter().map(|(tp, ts)| (tp, *ts, -1));
            let timeout = self.shared.config.request_timeout;
            let answers = match engine::list_offsets(&self.client, leader, queries, isolation, timeout).await
            {
                Ok(a) => a,
                Err(e) if e.is_retriable() => {
                    retry = Some(Error::Net(e));
                    continue;
                }
                Err(e) => return Attempt::Fail(e.into()),
            };
            for (tp, (code, offset, timestamp)) in answers {
                if code.is_ok() {
                    out.insert(tp, (offset, timestamp));
                } else if code.is_retriable() {
                    retry = Some(Error::Partition { partition: tp, code });
                } else {
                    return Attempt::Fail(Error::Partition { partition: tp, code });
                }
            }
        }
        match retry {
            Some(e) => Attempt::Retry(e),
            None => Attempt::Done(out),
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Consumer groups
    // ---------------------------------------------------------------------------------------------

    /// Joins the consumer group `group.id` subscribed to `topics` (replacing a previous subscription).
    /// The group assigns partitions; they are fetched from their committed offsets (else
    /// `auto.offset.reset`). Needs `group.id`; do not mix with [`assign`](Consumer::assign).
    pub fn subscribe<I, S>(&mut self, topics: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe_inner(Subscription::topics(topics), None)
    }

    /// Like [`subscribe`](Consumer::subscribe), with a [`RebalanceListener`] told about assignment
    /// changes (see there for when its callbacks run).
    pub fn subscribe_with_listener<I, S>(
        &mut self,
        topics: I,
        listener: impl RebalanceListener + 'static,
    ) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe_inner(Subscription::topics(topics), Some(Box::new(listener)))
    }

    /// Joins the consumer group `group.id` subscribed to every topic whose whole name matches the
    /// regular expression `pattern` (replacing a previous subscription), as Java's
    /// `subscribe(Pattern)`: topics are matched on metadata refreshes of all topics, at least every
    /// `metadata.max.age.ms` (and at most every 30 s), so a new matching topic joins the subscription
    /// within that time and a deleted one leaves it. Internal topics never match. Until a topic
    /// matches, the member does not join. Fails with [`Error::Config`] for an invalid expression.
    /// Both group protocols match on the client and send the matching names.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<(), Error> {
        self.subscribe_inner(Subscription::Pattern(TopicPattern::new(pattern)?), None)
    }

    /// Like [`subscribe_pattern`](Consumer::subscribe_pattern), with a [`RebalanceListener`].
    pub fn subscribe_pattern_with_listener(
        &mut self,
        pattern: &str,
        listener: impl RebalanceListener + 'static,
    ) -> Result<(), Error> {
        self.subscribe_inner(
            Subscription::Pattern(TopicPattern::new(pattern)?),
            Some(Box::new(listener)),
        )
    }

    /// Joins the consumer group `group.id` subscribed to every topic whose whole name matches the
    /// regular expression `regex`, resolved by the group coordinator (KIP-848's
    /// `subscribed_topic_regex`; Java's `subscribe(SubscriptionPattern)`), replacing a previous
    /// subscription. The syntax is the broker's, RE2/J; the coordinator matches new and deleted
    /// topics every `group.consumer.regex.refresh.interval.ms` (a broker setting) and every member
    /// of the group subscribed to the same expression shares its resolution. Needs
    /// `group.protocol=consumer` and Kafka 4.0+ ([`Error::Config`] otherwise; a broker offering only
    /// ConsumerGroupHeartbeat v0 stops the member with an error saying so). An expression the
    /// coordinator cannot compile stops the member with INVALID_REGULAR_EXPRESSION, reported by the
    /// next `poll`. Internal topics never match.
    pub fn subscribe_broker_regex(&mut self, regex: &str) -> Result<(), Error> {
        self.subscribe_inner(Subscription::BrokerRegex(regex.to_owned()), None)
    }

    /// Like [`subscribe_broker_regex`](Consumer::subscribe_broker_regex), with a [`RebalanceListener`].
    pub fn subscribe_broker_regex_with_listener(
        &mut self,
        regex: &str,
        listener: impl RebalanceListener + 'static,
    ) -> Result<(), Error> {
        self.subscribe_inner(
            Subscription::BrokerRegex(regex.to_owned()),
            Some(Box::new(listener)),
        )
    }

    fn subscribe_inner(
        &mut self,
        subscription: Subscription,
        listener: Option<Box<dyn RebalanceListener>>,
    ) -> Result<(), Error> {
        let (topics, pattern, regex) = match subscription {
            Subscription::Topics(topics) => (topics, None, None),
            // The topics come from the next metadata refresh.
            Subscription::Pattern(pattern) => (Vec::new(), Some(pattern), None),
            Subscription::BrokerRegex(regex) => {
                if self.shared.config.group_protocol != crate::GroupProtocol::Consumer {
                    return Err(Error::Config(format!(
                        "subscribe_broker_regex({regex:?}) needs group.protocol=consumer (KIP-848): \
                         with the classic protocol, subscribe_pattern matches topic names on the client"
                    )));
                }
                if regex.is_empty() {
                    return Err(Error::Config(
                        "subscribe_broker_regex: the regular expression is empty".into(),
                    ));
                }
                (Vec::new(), None, Some(regex))
            }
        };
        let config = &self.shared.config;
        let group_id = config
            .group_id
            .clone()
            .ok_or_else(|| Error::Config("subscribe needs group.id".into()))?;
        if topics.iter().any(String::is_empty) {
            return Err(Error::Config("cannot subscribe to an empty topic name".into()));
        }
        let now = Instant::now();
        if self.group.is_none() && !self.shared.lock().partitions.is_empty() {
            return Err(Error::Config(
                "subscribe cannot be used while partitions are assigned with assign (assign none first)"
                    .into(),
            ));
        }
        if let Some(g) = &self.group {
            g.set_listener(listener);
            let mut inner = g.lock();
            if let Some(regex) = &regex {
                inner
                    .member
                    .subscribe_regex(regex, now)
                    .map_err(Error::from_group)?;
            } else if pattern.is_none() {
                inner.member.subscribe(topics, now).map_err(Error::from_group)?;
            } // else the next metadata refresh replaces the subscription with the matching topics

            inner.set_pattern(pattern);
            drop(inner);
            g.wake.notify_one();
            return Ok(());
        }
        let mut member: Box<dyn group::Membership> = match config.group_protocol {
            crate::GroupProtocol::Classic => Box::new(
                kafkaroo_group::GroupMember::new(crate::config::member_config(config, &group_id)?, now)
                    .map_err(Error::from_group)?,
            ),
            crate::GroupProtocol::Consumer => {
                Box::new(group::Kip848::from_config(config, &group_id, now).map_err(Error::from_group)?)
            }
        };
        if let Some(regex) = &regex {
            member.subscribe_regex(regex, now).map_err(Error::from_group)?;
        } else if !topics.is_empty() {
            member.subscribe(topics, now).map_err(Error::from_group)?;
        }
        let shared = Arc::new(GroupShared::new(member, listener, self.shared.clone()));
        shared.lock().set_pattern(pattern);
        self.group_driver = Some(tokio::spawn(group::run(shared.clone(), self.client.clone())));
        let _ = self.commit_handle.group.set(shared.clone() as Arc<dyn Committer>);
        if let Some(m) = &self.client_metrics {
            m.set_group(shared.clone());
        }
        self.group = Some(shared);
        Ok(())
    }

    fn group(&self) -> Result<&Arc<GroupShared>, Error> {
        self.group
            .as_ref()
            .ok_or_else(|| Error::Config("not subscribed to a consumer group".into()))
    }

    /// The group membership health view (`None` before [`subscribe`](Consumer::subscribe)).
    pub fn group_state(&self) -> Option<GroupState> {
        self.group.as_ref().map(|g| g.state())
    }

    /// Commits `offsets` (the next offset to consume per partition), or with `None` the positions of
    /// every owned partition (what `poll` handed out), and waits for the outcome (retrying retriable
    /// errors up to `request.timeout.ms`). Refused with [`Error::NotOwned`] for partitions this member
    /// does not own.
    pub async fn commit_sync(
        &mut self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<(), Error> {
        let timeout = self.shared.config.request_timeout;
        let pending = self.commit_handle.commit(offsets)?;
        wait_commit(pending, timeout).await
    }

    /// Like [`commit_sync`](Consumer::commit_sync) without waiting and without retries: the commit is
    /// sent in the background; await the returned [`PendingCommit`] for its outcome, or drop it.
    /// Commits land in the order they were started (an older one never overwrites a newer one).
    pub fn commit_async(
        &mut self,
        offsets: Option<Vec<(TopicPartition, OffsetAndMetadata)>>,
    ) -> Result<PendingCommit, Error> {
        self.group()?.start_commit(offsets, None)
    }

    /// A handle to commit and store offsets from other tasks, or inside
    /// [`RebalanceListener::on_revoked`]. Works once the consumer subscribed.
    pub fn commit_handle(&self) -> CommitHandle {
        self.commit_handle.clone()
    }

    /// Marks `record` as processed: [`commit_stored`](Consumer::commit_stored) commits the offset after
    /// it (with its leader epoch).
    pub fn store_offset(&mut self, record: &ConsumerRecord) -> Result<(), Error> {
        self.commit_handle.store_offset(record)
    }

    /// Commits the offsets stored with [`store_offset`](Consumer::store_offset) (synchronously).
    pub async fn commit_stored(&mut self) -> Result<(), Error> {
        match self.commit_handle.commit_stored()? {
            Some(pending) => wait_commit(pending, self.shared.config.request_timeout).await,
            None => Ok(()),
        }
    }

    /// The group's committed offsets of `partitions` (OffsetFetch); `None` where nothing is committed.
    ///
    /// Cancellation safe.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>, Error> {
        let group_id = self
            .shared
            .config
            .group_id
            .clone()
            .ok_or_else(|| Error::Config("committed needs group.id".into()))?;
        coordinator::fetch_committed(
            &self.client,
            &group_id,
            partitions,
            self.shared.config.request_timeout,
            self.shared.config.retry_backoff_config(),
        )
        .await
    }

    /// Stops the fetch engine and closes connections. Records already returned stay valid.
    ///
    /// Cancellation safe: the engine is told to stop before the first await; dropping the future only
    /// skips waiting for it.
    pub async fn close(self) {
        self.close_with(CloseMode::Default).await;
    }

    /// [`close`](Consumer::close) choosing whether a group member leaves the group:
    /// [`CloseMode::Default`] leaves for dynamic members and remains for static ones
    /// (`group.instance.id`, so a restart within `session.timeout.ms` gets the same partitions back
    /// without a rebalance); [`CloseMode::Leave`] always sends LeaveGroup; [`CloseMode::Remain`] never
    /// does. Either way the final revocation runs (listener, commit on revoke).
    pub async fn close_with(mut self, mode: CloseMode) {
        // As Java: with auto-commit, what the application was given is committed on close.
        if let Some(s) = self.standalone.as_ref().filter(|_| self.group.is_none())
            && self.shared.config.enable_auto_commit
            && let Err(e) = wait_commit(s.commit(None), self.shared.config.request_timeout).await
        {
            tracing::warn!(error = %e, "commit on close failed");
        }
        if let Some(g) = self.group.take() {
            let timeout = self.shared.config.request_timeout.min(Duration::from_secs(10));
            group::close(&g, mode, timeout).await;
            if let Some(d) = self.group_driver.take() {
                d.abort();
            }
        }
        // KIP-714: the terminating push, with the final values, while connections are still up.
        if let Some(m) = self.client_metrics.take() {
            m.close(self.shared.config.request_timeout.min(Duration::from_secs(5)))
                .await;
        }
        self.shared.lock().close();
        self.wake();
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
    }
}

/// Waits for a commit's outcome, at most a little longer than its retry deadline.
async fn wait_commit(pending: PendingCommit, timeout: Duration) -> Result<(), Error> {
    match tokio::time::timeout(timeout + Duration::from_secs(1), pending).await {
        Ok(r) => r,
        Err(_) => Err(Error::Commit {
            failed: vec![],
            reason: "no answer before the deadline".into(),
        }),
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        if let Some(d) = self.group_driver.take() {
            d.abort();
        }
        self.shared.lock().close();
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
    }
}
