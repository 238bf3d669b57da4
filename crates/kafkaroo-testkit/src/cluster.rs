//! The fake cluster's public face: [`ClusterBuilder`] starts the brokers on the shared
//! [`state`](crate::state), and [`Cluster`] is the handle tests steer brokers, topics, partition logs,
//! leaders and groups with (its fault-injection side is in [`faults`](crate::faults)).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use kafkaroo_records::test_encoder::{TestBatch, TestRecord};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::ApiKey;
use tokio::net::TcpListener;

use crate::consumer_group::{ConsumerGroupInfo, ConsumerGroups};
use crate::control::{Action, ControlId};
use crate::coordinator::{Committed, Coordinator, GroupInfo};
use crate::error::Error;
use crate::log::Cut;
use crate::messages::TopicRef;
use crate::state::{Inner, State};

/// The API version ranges the brokers advertise by default: Apache Kafka 4.1's, for the APIs served.
pub const DEFAULT_VERSIONS: [(ApiKey, i16, i16); 5] = [
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::Metadata, 0, 13),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
];

/// The group coordinator's API version ranges, advertised by default next to [`DEFAULT_VERSIONS`]:
/// Apache Kafka 4.1's classic-protocol group APIs.
pub const GROUP_VERSIONS: [(ApiKey, i16, i16); 7] = [
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
];

/// The write and admin APIs' version ranges, advertised by default: Apache Kafka 4.1's Produce,
/// InitProducerId (without transactions), CreateTopics and DeleteTopics, and the classic groups'
/// ListGroups and DescribeGroups.
pub const PRODUCE_VERSIONS: [(ApiKey, i16, i16); 6] = [
    (ApiKey::Produce, 3, 13),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
];

/// The KIP-848 coordinator's API version range, advertised by default: Apache Kafka 4.1's.
pub const CONSUMER_GROUP_VERSIONS: [(ApiKey, i16, i16); 1] = [(ApiKey::ConsumerGroupHeartbeat, 0, 1)];

/// A broker-side fetch session (KIP-227), as [`Cluster::fetch_sessions`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchSessionInfo {
    /// Session id.
    pub id: i32,
    /// The epoch the next incremental fetch must carry.
    pub epoch: i32,
    /// `(topic, partition, fetch offset)` of each partition the session holds.
    pub partitions: Vec<(String, i32, i64)>,
}

/// Builds a [`Cluster`].
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    brokers: i32,
    topics: Vec<(String, i32)>,
    versions: BTreeMap<i16, (i16, i16)>,
    cut: Cut,
    coordinator: i32,
    initial_rebalance_delay: Duration,
    first_port: Option<u16>,
    consumer_groups: ConsumerGroups,
}

impl ClusterBuilder {
    /// Listens on fixed loopback ports, broker `n` on `port + n - 1`, instead of ports the system
    /// picks (for a cluster other programs are pointed at by hand, as `kafkaroo mock --port` does).
    pub fn port(mut self, port: u16) -> Self {
        self.first_port = Some(port);
        self
    }

    /// Number of brokers (node ids 1..=n). Default 1.
    pub fn brokers(mut self, n: i32) -> Self {
        self.brokers = n.max(1);
        self
    }

    /// Creates a topic with `partitions` partitions; partition `i` is led by the `i % n`-th broker.
    pub fn topic(mut self, name: &str, partitions: i32) -> Self {
        self.topics.push((name.to_owned(), partitions));
        self
    }

    /// Advertises at most `max` for `api` (e.g. Fetch 11: no diverging epochs, no topic ids).
    pub fn max_version(mut self, api: ApiKey, max: i16) -> Self {
        if let Some(r) = self.versions.get_mut(&(api as i16)) {
            r.1 = max.max(r.0);
        }
        self
    }

    /// Which broker coordinates the groups (default 1). [`Cluster::move_coordinator`] moves it later.
    pub fn coordinator(mut self, broker: i32) -> Self {
        self.coordinator = broker;
        self
    }

    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits for
    /// more members. Default zero (Kafka's default is 3 s).
    pub fn initial_rebalance_delay(mut self, delay: Duration) -> Self {
        self.initial_rebalance_delay = delay;
        self
    }

    /// KIP-848 consumer groups: `group.consumer.heartbeat.interval.ms` (default 100 ms here, 5 s in
    /// Kafka) and `group.consumer.session.timeout.ms` (default 10 s here, 45 s in Kafka).
    pub fn consumer_group_timing(mut self, heartbeat_interval: Duration, session_timeout: Duration) -> Self {
        self.consumer_groups.heartbeat_interval = heartbeat_interval;
        self.consumer_groups.session_timeout = session_timeout;
        self
    }

    /// `false`: ConsumerGroupHeartbeat stays listed in ApiVersions but answers UNSUPPORTED_VERSION, as
    /// a Kafka 3.9 broker without `group.coordinator.rebalance.protocols=classic,consumer`. Default true.
    pub fn consumer_protocol(mut self, enabled: bool) -> Self {
        self.consumer_groups.enabled = enabled;
        self
    }

    /// Reads like Kafka's log layer: a partition's records are cut at the byte limit, so the last batch of
    /// a response is usually partial (clients must stop at it and fetch again). Default: whole batches.
    pub fn partial_batches(mut self, on: bool) -> Self {
        self.cut = if on { Cut::AtLimit } else { Cut::WholeBatches };
        self
    }

    /// Binds the listeners (127.0.0.1, ephemeral ports) and starts serving on the current tokio runtime.
    pub async fn build(self) -> Result<Cluster, Error> {
        let mut listeners = Vec::new();
        let mut brokers = BTreeMap::new();
        for id in 1..=self.brokers {
            let port = match self.first_port {
                None => 0,
                Some(first) => u16::try_from(i32::from(first) + id - 1).map_err(|_| {
                    Error::Bind(format!("broker {id}: port {first} + {} is past 65535", id - 1))
                })?,
            };
            let l = TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(|e| Error::Bind(format!("127.0.0.1:{port}: {e}")))?;
            brokers.insert(id, l.local_addr().map_err(|e| Error::Bind(e.to_string()))?);
            listeners.push((id, l));
        }
        if !brokers.contains_key(&self.coordinator) {
            return Err(Error::UnknownBroker(self.coordinator));
        }
        let mut coordinator = Coordinator::new(Some(self.coordinator));
        coordinator.initial_rebalance_delay = self.initial_rebalance_delay;
        let inner = Arc::new(Inner::new(
            State::new(brokers, coordinator, self.consumer_groups),
            self.versions,
            self.cut,
        ));
        for (id, l) in listeners {
            let task = tokio::spawn(crate::broker::listen(inner.clone(), id, l));
            inner.track(task.abort_handle());
        }
        let task = tokio::spawn(coordinator_clock(inner.clone()));
        inner.track(task.abort_handle());
        let cluster = Cluster {
            inner: inner.clone(),
            _guard: Arc::new(Guard(inner)),
        };
        for (name, partitions) in &self.topics {
            cluster.create_topic(name, *partitions)?;
        }
        Ok(cluster)
    }
}

/// Drives the coordinator's timers: session expiry, rebalance timeouts, the initial rebalance delay.
async fn coordinator_clock(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    loop {
        tick.tick().await;
        let now = tokio::time::Instant::now();
        let mut st = inner.lock();
        st.coordinator.tick(now);
        st.consumer_groups.tick(now);
    }
}

/// Stops the listeners and connections when the last [`Cluster`] handle drops (the tasks hold `Inner`).
struct Guard(Arc<Inner>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.abort_tasks();
    }
}

/// A fake Kafka cluster on loopback. Cheap to clone; it shuts down when the last handle drops.
///
/// Every method that changes the cluster takes effect at once, for requests the brokers handle after
/// the call; a long-polling fetch re-reads the state when it changes.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
    _guard: Arc<Guard>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("brokers", &self.inner.lock().brokers)
            .finish()
    }
}

impl Cluster {
    /// A builder: one broker, no topics, [`DEFAULT_VERSIONS`], [`GROUP_VERSIONS`], [`PRODUCE_VERSIONS`]
    /// and [`CONSUMER_GROUP_VERSIONS`], whole-batch reads, broker 1 coordinating the groups.
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder {
            brokers: 1,
            topics: Vec::new(),
            versions: DEFAULT_VERSIONS
                .iter()
                .chain(&GROUP_VERSIONS)
                .chain(&PRODUCE_VERSIONS)
                .chain(&CONSUMER_GROUP_VERSIONS)
                .map(|&(k, min, max)| (k as i16, (min, max)))
                .collect(),
            cut: Cut::WholeBatches,
            coordinator: 1,
            initial_rebalance_delay: Duration::ZERO,
            first_port: None,
            consumer_groups: ConsumerGroups::default(),
        }
    }

    fn changed(&self) {
        self.inner.changed.notify_waiters();
    }

    // ----- addresses -----

    /// `host:port` of every broker, comma-separated (for `bootstrap.servers`).
    pub fn bootstrap(&self) -> String {
        self.inner
            .lock()
            .brokers
            .values()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address of a broker.
    pub fn addr(&self, broker: i32) -> Result<SocketAddr, Error> {
        self.inner
            .lock()
            .brokers
            .get(&broker)
            .copied()
            .ok_or(Error::UnknownBroker(broker))
    }

    /// The node ids.
    pub fn broker_ids(&self) -> Vec<i32> {
        self.inner.lock().brokers.keys().copied().collect()
    }

    // ----- topics and data -----

    /// Creates a topic; partition `i` is led by the `i % n`-th broker with leader epoch 0, replicated on up
    /// to three brokers. Topic ids are deterministic (a counter).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<TopicRef, Error> {
        let mut st = self.inner.lock();
        if st.topics.contains_key(name) {
            return Err(Error::TopicExists(name.to_owned()));
        }
        let topic = st.create_topic(name, partitions);
        drop(st);
        self.changed();
        Ok(topic)
    }

    /// The topic's name and id.
    pub fn topic(&self, name: &str) -> Result<TopicRef, Error> {
        let st = self.inner.lock();
        let t = st
            .topics
            .get(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_owned()))?;
        Ok(TopicRef {
            name: name.to_owned(),
            id: t.id,
        })
    }

    /// Deletes a topic: Metadata answers UNKNOWN_TOPIC_OR_PARTITION, Fetch UNKNOWN_TOPIC_OR_PARTITION or
    /// UNKNOWN_TOPIC_ID.
    pub fn delete_topic(&self, name: &str) -> Result<(), Error> {
        let removed = self.inner.lock().topics.remove(name);
        self.changed();
        removed
            .map(|_| ())
            .ok_or_else(|| Error::UnknownTopic(name.to_owned()))
    }

    /// Appends one uncompressed batch holding `values` (null keys) and returns the offsets it got.
    pub fn produce<V: AsRef<[u8]>>(
        &self,
        topic: &str,
        partition: i32,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Range<i64>, Error> {
        let records = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| TestRecord::new(i as i32, None, Some(v.as_ref())))
            .collect();
        self.append(topic, partition, TestBatch::new(0, records))
    }

    /// Appends a batch built with the test encoder (compression, control batches, empty or gappy batches
    /// via `last_offset_delta` and record offset deltas...). Its base offset becomes the log end offset
    /// and its partition leader epoch the current leader epoch. Returns `base..next` offsets.
    pub fn append(&self, topic: &str, partition: i32, mut batch: TestBatch) -> Result<Range<i64>, Error> {
        let mut st = self.inner.lock();
        let p = st.partition_mut(topic, partition)?;
        batch.base_offset = p.log.end();
        batch.partition_leader_epoch = p.epoch;
        let (base, next) = p.log.append(batch.encode())?;
        drop(st);
        self.changed();
        Ok(base..next)
    }

    /// How many partitions `topic` has.
    pub fn partition_count(&self, topic: &str) -> Result<i32, Error> {
        let st = self.inner.lock();
        let t = st
            .topics
            .get(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_owned()))?;
        Ok(t.partitions.len() as i32)
    }

    /// The log start offset and the log end offset (= high watermark: replication is instant here).
    pub fn offsets(&self, topic: &str, partition: i32) -> Result<(i64, i64), Error> {
        let st = self.inner.lock();
        let p = st.partition(topic, partition)?;
        Ok((p.log.log_start(), p.log.end()))
    }

    /// DeleteRecords: the log now starts at `offset`.
    pub fn delete_records(&self, topic: &str, partition: i32, offset: i64) -> Result<(), Error> {
        self.inner
            .lock()
            .partition_mut(topic, partition)?
            .log
            .delete_before(offset)?;
        self.changed();
        Ok(())
    }

    /// Flips a bit in the last byte of the stored batch holding `offset`: every later read of it fails
    /// its CRC-32C check.
    pub fn corrupt_batch(&self, topic: &str, partition: i32, offset: i64) -> Result<i64, Error> {
        let mut st = self.inner.lock();
        let p = st.partition_mut(topic, partition)?;
        let b = p
            .log
            .batches_mut()
            .iter_mut()
            .find(|b| b.base_offset <= offset && offset < b.next_offset)
            .ok_or_else(|| Error::Offset(format!("no batch holds offset {offset}")))?;
        let mut bytes = b.bytes.to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        b.bytes = bytes.into();
        Ok(b.base_offset)
    }

    // ----- leadership -----

    /// The leader and leader epoch of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Result<(i32, i32), Error> {
        let st = self.inner.lock();
        let p = st.partition(topic, partition)?;
        Ok((p.leader, p.epoch))
    }

    /// The leader-epoch history `(epoch, start offset)` of a partition.
    pub fn epoch_history(&self, topic: &str, partition: i32) -> Result<Vec<(i32, i64)>, Error> {
        Ok(self
            .inner
            .lock()
            .partition(topic, partition)?
            .log
            .epochs()
            .to_vec())
    }

    /// A clean leader election: `broker` leads from now on with the next epoch, starting at the log end.
    /// Returns the new epoch. The old leader answers NOT_LEADER_OR_FOLLOWER (with the new leader as a
    /// KIP-951 hint on Fetch 16+).
    pub fn move_leader(&self, topic: &str, partition: i32, broker: i32) -> Result<i32, Error> {
        self.elect(topic, partition, broker, None)
    }

    /// A new leader epoch on the same leader (e.g. a controller re-election): clients still on the old
    /// epoch get FENCED_LEADER_EPOCH.
    pub fn bump_leader_epoch(&self, topic: &str, partition: i32) -> Result<i32, Error> {
        let leader = self.leader(topic, partition)?.0;
        self.elect(topic, partition, leader, None)
    }

    /// An unclean leader election: `broker` leads with the next epoch but its log ends at `truncate_to`
    /// (a batch boundary); everything after is lost, and the epoch history is cut there.
    pub fn unclean_leader_election(
        &self,
        topic: &str,
        partition: i32,
        broker: i32,
        truncate_to: i64,
    ) -> Result<i32, Error> {
        self.elect(topic, partition, broker, Some(truncate_to))
    }

    fn elect(&self, topic: &str, partition: i32, broker: i32, truncate: Option<i64>) -> Result<i32, Error> {
        let mut st = self.inner.lock();
        if !st.brokers.contains_key(&broker) {
            return Err(Error::UnknownBroker(broker));
        }
        let p = st.partition_mut(topic, partition)?;
        if let Some(offset) = truncate {
            p.log.truncate_to(offset)?;
        }
        p.epoch += 1;
        p.leader = broker;
        if !p.replicas.contains(&broker) {
            p.replicas.insert(0, broker);
        }
        let (epoch, end) = (p.epoch, p.log.end());
        p.log.assign_epoch(epoch, end);
        drop(st);
        self.changed();
        Ok(epoch)
    }

    /// Fetching from the closest replica (KIP-392): with `Some(broker)`, the partition's leader answers
    /// every consumer Fetch (v11+) of it with `preferred_read_replica = broker`, no records and its
    /// watermarks, as a leader whose `replica.selector.class` picked that replica does; and `broker`
    /// serves Fetch requests of the partition from the same log (a replica fully caught up: same high
    /// watermark, same epochs). With `None` the leader serves again and the former read replica answers
    /// NOT_LEADER_OR_FOLLOWER. Faults at the replica go through the controls
    /// ([`Cluster::fail_fetch_at`], [`Cluster::control`] with `req.broker`). A leader change keeps the
    /// setting; when `broker` itself leads, it serves as the leader.
    pub fn prefer_read_replica(&self, topic: &str, partition: i32, broker: Option<i32>) -> Result<(), Error> {
        let mut st = self.inner.lock();
        if let Some(b) = broker.filter(|b| !st.brokers.contains_key(b)) {
            return Err(Error::UnknownBroker(b));
        }
        let p = st.partition_mut(topic, partition)?;
        if let Some(b) = broker.filter(|b| !p.replicas.contains(b)) {
            p.replicas.push(b);
        }
        p.read_replica = broker;
        drop(st);
        self.changed();
        Ok(())
    }

    /// Drops every fetch session a broker holds (its session cache evicted them): the next incremental
    /// fetch gets FETCH_SESSION_ID_NOT_FOUND.
    pub fn evict_fetch_sessions(&self, broker: i32) {
        if let Some(s) = self.inner.lock().sessions.get_mut(&broker) {
            s.map.clear();
        }
    }

    /// The fetch sessions a broker holds, by session id.
    pub fn fetch_sessions(&self, broker: i32) -> Vec<FetchSessionInfo> {
        let st = self.inner.lock();
        let mut out: Vec<FetchSessionInfo> = st
            .sessions
            .get(&broker)
            .map(|s| {
                s.map
                    .iter()
                    .map(|(&id, s)| FetchSessionInfo {
                        id,
                        epoch: s.epoch,
                        partitions: s
                            .entries
                            .iter()
                            .map(|e| (e.topic.clone().unwrap_or_default(), e.partition, e.fetch_offset))
                            .collect(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|s| s.id);
        out
    }

    // ----- groups -----

    /// The broker coordinating every group (`None` while none is available).
    pub fn coordinator(&self) -> Option<i32> {
        self.inner.lock().coordinator.node
    }

    /// Moves the group coordinator to `broker`, groups and offsets included (as when the group's
    /// `__consumer_offsets` partition moves): the old coordinator answers NOT_COORDINATOR from now on;
    /// members keep their ids and generation.
    pub fn move_coordinator(&self, broker: i32) -> Result<(), Error> {
        let mut st = self.inner.lock();
        if !st.brokers.contains_key(&broker) {
            return Err(Error::UnknownBroker(broker));
        }
        st.coordinator.node = Some(broker);
        Ok(())
    }

    /// No coordinator at all: FindCoordinator answers COORDINATOR_NOT_AVAILABLE and every broker
    /// NOT_COORDINATOR, until [`move_coordinator`](Cluster::move_coordinator).
    pub fn coordinator_unavailable(&self) {
        self.inner.lock().coordinator.node = None;
    }

    /// A snapshot of a group (`None` if it never existed).
    pub fn group(&self, group: &str) -> Option<GroupInfo> {
        self.inner.lock().coordinator.info(group)
    }

    /// A KIP-848 consumer group's epoch and members, if the group exists.
    pub fn consumer_group(&self, group: &str) -> Option<ConsumerGroupInfo> {
        let st = self.inner.lock();
        st.consumer_groups.info(&st.topic_table(), group)
    }

    /// Waits until `done` holds for the group (checked now and every few milliseconds), at most
    /// `timeout`. Returns whether it held; `None` is passed while the group does not exist.
    pub async fn wait_group(
        &self,
        group: &str,
        timeout: Duration,
        mut done: impl FnMut(Option<&GroupInfo>) -> bool,
    ) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(self.group(group).as_ref()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The group's committed offset of a partition.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.inner
            .lock()
            .coordinator
            .committed(group, topic, partition)
            .map(|c| c.offset)
    }

    /// Commits `offset` for the group, as an admin tool would (no member, no generation).
    pub fn commit_offset(&self, group: &str, topic: &str, partition: i32, offset: i64) {
        self.inner.lock().coordinator.set_committed(
            group,
            topic,
            partition,
            Committed {
                offset,
                leader_epoch: -1,
                metadata: Some(String::new()),
            },
        );
    }

    /// Marks a partition's offsets as pending in a transaction (or no longer): OffsetFetch with
    /// `require_stable` answers UNSTABLE_OFFSET_COMMIT for it meanwhile.
    pub fn set_unstable_offsets(&self, group: &str, topic: &str, partition: i32, unstable: bool) {
        let key = (group.to_owned(), topic.to_owned(), partition);
        let mut st = self.inner.lock();
        if unstable {
            st.coordinator.unstable.insert(key);
        } else {
            st.coordinator.unstable.remove(&key);
        }
    }

    /// Starts a rebalance of a Stable (or completing) group, as a member joining or leaving elsewhere
    /// would: heartbeats answer REBALANCE_IN_PROGRESS until the members rejoined. Returns whether one
    /// started.
    pub fn trigger_rebalance(&self, group: &str) -> bool {
        self.inner
            .lock()
            .coordinator
            .trigger_rebalance(group, tokio::time::Instant::now())
    }

    /// Removes a member as if its session expired: its next request gets UNKNOWN_MEMBER_ID and the
    /// group rebalances. Returns whether it was a member.
    pub fn expire_member(&self, group: &str, member_id: &str) -> bool {
        self.inner
            .lock()
            .coordinator
            .expire_member(group, member_id, tokio::time::Instant::now())
    }

    /// The next `times` requests of `api` (a group API) are answered with `code` as a whole, without
    /// the broker handling them (see [`RequestInfo::error_response`](crate::RequestInfo::error_response)).
    pub fn fail_next(&self, api: ApiKey, code: ErrorCode, times: u64) -> ControlId {
        self.control_times(times, move |req| {
            if req.api_key() != api {
                return Action::pass();
            }
            req.error_response(code)
                .map_or_else(Action::pass, Action::respond)
        })
    }
}
