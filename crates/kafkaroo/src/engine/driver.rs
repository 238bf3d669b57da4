//! The background task: sends what `plan.rs` decides, one tokio task per request, and applies the
//! answers with `fetch_response.rs` and `resolve.rs`. It owns what only it needs (brokers with a
//! fetch in flight, fetch sessions, the metadata schedule); the partitions live in [`EngineState`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafkaroo_net::Client;
use kafkaroo_wire::messages::FetchResponse;
use tokio::task::JoinSet;
use tracing::{debug, trace, warn};

use super::fetch_response::{self, Applied};
use super::plan::{self, BrokerFetch, FetchPlan, NextWake};
use super::{
    EngineState, ListOffsetsAnswer, OffsetSpec, PartitionState, Shared, ValidateAnswer, resolve, wire,
};
use crate::error::Error;
use crate::record::TopicPartition;
use crate::session::FetchSession;

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
        budget_wait_since: None,
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
    /// Since when a fetch waits for the memory budget (the memory wait metrics).
    budget_wait_since: Option<Instant>,
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
            let wake_at = next_timer.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            let sleep = tokio::time::sleep_until(wake_at.into());
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
        let mut wake = NextWake::default();
        self.plan_metadata(now, &mut wake);
        self.plan_resolutions(now, &mut wake);
        self.plan_fetches(now, &mut wake);
        wake.0
    }

    fn plan_metadata(&mut self, now: Instant, wake: &mut NextWake) {
        if self.metadata_in_flight {
            return;
        }
        let max_age = self.shared.config.metadata_max_age;
        let Some(topics) = plan::metadata_due(&mut self.shared.lock(), now, self.last_metadata, max_age)
        else {
            return;
        };
        if let Some(until) = self.metadata_backoff_until.filter(|t| *t > now) {
            self.shared.lock().need_metadata = true;
            wake.at(until);
            return;
        }
        self.metadata_in_flight = true;
        let client = self.client.clone();
        self.tasks.spawn(async move {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            Outcome::Metadata(client.refresh_metadata(Some(&names)).await.map(|_| ()))
        });
    }

    fn plan_resolutions(&mut self, now: Instant, wake: &mut NextWake) {
        let policy = self.shared.config.auto_offset_reset;
        let planned = plan::resolutions(&mut self.shared.lock(), now, &self.resolving, policy, wake);
        if planned.failed > 0 {
            self.shared.data_ready.notify_one();
        }
        let isolation = self.shared.config.isolation_level.wire();
        let timeout = self.shared.config.request_timeout;
        for (broker, parts) in planned.resets {
            for (tp, version, ..) in &parts {
                self.resolving.insert(tp.clone(), *version);
            }
            let client = self.client.clone();
            self.tasks.spawn(async move {
                let queries = parts.iter().map(|(tp, _, spec, epoch)| (tp, spec.wire(), *epoch));
                let result = wire::list_offsets(&client, broker, queries, isolation, timeout).await;
                Outcome::ListOffsets {
                    partitions: parts.into_iter().map(|(tp, v, s, _)| (tp, v, s)).collect(),
                    result,
                }
            });
        }
        for (broker, parts) in planned.validations {
            for (tp, version, ..) in &parts {
                self.resolving.insert(tp.clone(), *version);
            }
            let client = self.client.clone();
            self.tasks.spawn(async move {
                let result = wire::validate_epochs(&client, broker, &parts).await;
                Outcome::Validate {
                    partitions: parts.into_iter().map(|(tp, v, e, _)| (tp, v, e)).collect(),
                    result,
                }
            });
        }
    }

    fn plan_fetches(&mut self, now: Instant, wake: &mut NextWake) {
        // One lock for the whole plan: a seek between reading a partition and marking it in flight would
        // leave the mark on a state whose fetch never comes back to clear it.
        let shared = self.shared.clone();
        let mut st = shared.lock();
        let config = &shared.config;
        let max_partition = config.max_partition_fetch_bytes;
        let by_broker = plan::fetches(&st, now, &self.fetching, &self.resolving, max_partition, wake);
        for (broker, parts) in by_broker {
            let (per_fetch, min) =
                plan::fetch_reservation(self.shared.budget.limit(), config.fetch_max_bytes, max_partition);
            let Some(reservation) = self.shared.budget.try_reserve(per_fetch, min) else {
                self.budget_wait_since.get_or_insert(now);
                trace!(
                    budget_available = self.shared.budget.available(),
                    budget = self.shared.budget.limit(),
                    "memory budget spent; fetching paused"
                );
                // Data kept for paused partitions must not stop the others for as long as they stay
                // paused: when nothing else would free memory (no fetch in flight, nothing for `poll`
                // to hand out), it goes, and is fetched again after `resume`.
                let draining = st.partitions.values().any(PartitionState::has_data_for_poll);
                if self.fetching.is_empty() && !draining && st.undelivered.is_empty() {
                    st.evict_paused();
                }
                return;
            };
            if let Some(since) = self.budget_wait_since.take() {
                shared
                    .telemetry
                    .memory_waited(now.saturating_duration_since(since));
            }
            let max_bytes = reservation.bytes() as i32;
            let fetch_plan = self.fetch_plan(broker, parts, max_bytes);
            plan::mark_in_flight(&mut st, &fetch_plan, now);
            self.fetching.insert(broker);
            let client = self.client.clone();
            let shared = self.shared.clone();
            let metadata = self.client.metadata();
            let span = tracing::debug_span!(
                "kafka.consumer.fetch",
                messaging.system = "kafka",
                messaging.operation.name = "fetch",
                kafka.broker = broker,
                kafka.partitions = fetch_plan.wanted.len(),
                kafka.max_bytes = max_bytes,
            );
            let fetch = async move {
                let result = wire::send_fetch(
                    &client,
                    &shared,
                    broker,
                    &fetch_plan,
                    &metadata,
                    reservation,
                    max_bytes,
                )
                .await;
                Outcome::Fetch {
                    broker,
                    request: fetch_plan,
                    result,
                }
            };
            self.tasks.spawn(tracing::Instrument::instrument(fetch, span));
        }
    }

    /// The fetch request for `parts` on `broker`, within `max_bytes`, through the broker's session.
    fn fetch_plan(&mut self, broker: i32, parts: BrokerFetch, max_bytes: i32) -> FetchPlan {
        let metadata = self.client.metadata();
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
            .or_insert_with(|| FetchSession::new(self.shared.config.fetch_sessions))
            .plan(&wanted);
        let mut topic_ids = HashMap::new();
        for tp in versions.keys() {
            if let Some(t) = metadata.topics.get(&tp.topic) {
                topic_ids.insert(t.id, Arc::<str>::from(tp.topic.as_str()));
            }
        }
        FetchPlan {
            broker,
            partitions: versions,
            session,
            wanted,
            topic_ids,
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
            p.forget_in_flight();
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
            Outcome::ListOffsets { partitions, result } => {
                self.on_resolution(
                    "ListOffsets",
                    partitions,
                    result,
                    |shared, st, parts, answers, retry_at| {
                        let isolation = shared.config.isolation_level;
                        let (resolved, failed) =
                            resolve::apply_list_offsets(st, parts, &answers, retry_at, isolation);
                        if resolved {
                            shared.resolved.notify_waiters();
                        }
                        if failed {
                            shared.data_ready.notify_one();
                        }
                    },
                );
            }
            Outcome::Validate { partitions, result } => {
                self.on_resolution(
                    "OffsetForLeaderEpoch",
                    partitions,
                    result,
                    |shared, st, parts, answers, retry_at| {
                        let policy = shared.config.auto_offset_reset;
                        resolve::apply_validation(st, parts, &answers, retry_at, policy);
                    },
                );
            }
        }
    }

    /// A request failed as a whole: a fatal error reaches `poll`.
    fn report_fatal(&self, st: &mut EngineState, error: kafkaroo_net::Error) {
        if error.is_fatal() {
            st.errors.push_back(Error::Net(error));
            self.shared.data_ready.notify_one();
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
            self.report_fatal(&mut st, e);
            return;
        }
        self.metadata_failures = 0;
        self.last_metadata = Some(now);
        let metadata = self.client.metadata();
        let mut st = self.shared.lock();
        let applied = resolve::apply_metadata(&mut st, &metadata);
        if applied.recreated {
            // Broker sessions hold the old topic id; start clean ones.
            for s in self.sessions.values_mut() {
                s.reset();
            }
        }
        if applied.again {
            self.metadata_backoff_until = Some(now + self.retry_backoff(1));
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
        let (response, version) = match result {
            Ok(r) => r,
            Err(e) => {
                debug!(broker, error = %e, "fetch failed");
                if let Some(s) = self.sessions.get_mut(&broker) {
                    s.reset();
                }
                fetch_response::apply_failure(&mut st, &plan, now + self.retry_backoff(1));
                self.report_fatal(&mut st, e);
                return;
            }
        };
        let session_id = response.session_id;
        let metadata = self.client.metadata();
        let known_broker = |id: i32| metadata.brokers.contains_key(&id);
        let cx = fetch_response::Context {
            config: &self.shared.config,
            decode: self.shared.decode_options(),
            now,
            known_broker: &known_broker,
        };
        match fetch_response::apply_response(&mut st, &plan, response, version, &cx) {
            Applied::SessionError(top) => {
                debug!(broker, error = ?top, "fetch session error; next fetch is full");
                if let Some(s) = self.sessions.get_mut(&broker) {
                    s.reset();
                }
            }
            Applied::Partitions { got_data } => {
                if let Some(s) = self.sessions.get_mut(&broker) {
                    s.on_response(&plan.session, session_id, plan.wanted);
                }
                if got_data || !st.errors.is_empty() {
                    self.shared.data_ready.notify_one();
                }
            }
        }
    }

    /// Forgets the resolutions of `partitions` in flight (unless a newer one was sent since).
    fn resolved<'a>(&mut self, partitions: impl Iterator<Item = (&'a TopicPartition, u64)>) {
        for (tp, version) in partitions {
            if self.resolving.get(tp) == Some(&version) {
                self.resolving.remove(tp);
            }
        }
    }

    /// A ListOffsets or OffsetForLeaderEpoch came back: no longer in flight; a failure retries after
    /// the backoff with fresh metadata, answers go to `apply` (with when to retry what they refuse).
    fn on_resolution<X, A>(
        &mut self,
        api: &'static str,
        partitions: Vec<(TopicPartition, u64, X)>,
        result: Result<A, kafkaroo_net::Error>,
        apply: impl FnOnce(&Shared, &mut EngineState, Vec<(TopicPartition, u64, X)>, A, Instant),
    ) {
        let retry_at = Instant::now() + self.shared.config.retry_backoff;
        self.resolved(partitions.iter().map(|(tp, v, _)| (tp, *v)));
        let mut st = self.shared.lock();
        match result {
            Ok(answers) => apply(&self.shared, &mut st, partitions, answers, retry_at),
            Err(e) => {
                debug!(error = %e, api, "position request failed");
                resolve::retry_later(&mut st, partitions.iter().map(|(tp, v, _)| (tp, *v)), retry_at);
                self.report_fatal(&mut st, e);
            }
        }
    }
}
