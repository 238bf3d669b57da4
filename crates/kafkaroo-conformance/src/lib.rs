//! A Kafka protocol conformance suite: every API a consumer uses, at every version both the broker under
//! test and kafka-protocol speak, with assertions on what the broker answered. It runs against any broker
//! (Apache Kafka, Redpanda, MSK, kafkaroo-testkit's in-process cluster): `kafkaroo conformance -b
//! host:port` (kafkaroo-cli) runs it from the command line; kafkaroo's own tests (tests/README.md) run
//! it against the test harness' real brokers.
//!
//! [`run`] sets up its fixtures (a 3-partition topic created with its own CreateTopics, 10 records with
//! known timestamps written to partition 0 by the caller's [`Fixture`]), then walks each API's common
//! version range and records one [`Row`] per (API, version) in a [`Report`]: a text table
//! ([`Report::render`]) and a JSON document ([`Report::to_json`]). Every check builds its own groups and
//! topics with a unique suffix (prefix `kr-conf-`), so one failure does not cascade into the next version.
//!
//! ```no_run
//! # async fn example(fixture: impl kafkaroo_conformance::Fixture) -> anyhow::Result<()> {
//! use kafkaroo_conformance::{Endpoint, run};
//! let report = run(&fixture, Endpoint::plaintext("localhost:9092")).await?;
//! println!("{}", report.render());
//! assert!(report.failures().is_empty());
//! # Ok(()) }
//! ```

mod cluster;
mod data;
mod groups;
mod offsets;
mod report;
mod util;

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail, ensure};
use kafkaroo_net::{Client, ClientConfig, Connection, Purpose, SecurityConfig, SecurityOptions};
use kafkaroo_wire::messages::create_topics_request::CreatableTopic;
use kafkaroo_wire::messages::delete_topics_request::DeleteTopicState;
use kafkaroo_wire::messages::{
    ApiVersionsRequest, ConsumerGroupHeartbeatRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, ListGroupsRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse,
    OffsetCommitRequest, OffsetFetchRequest, OffsetForLeaderEpochRequest, SyncGroupRequest,
};
use kafkaroo_wire::protocol::Request;
use kafkaroo_wire::{BrokerVersions, ErrorCode, Uuid, VersionError, VersionRange};

pub use report::{OfferedApi, Outcome, Report, Row};
pub use util::{BatchHeader, parse_batch_headers};

use util::{code, sb, tn};

/// Records produced to partition 0 of the suite's topic.
const RECORDS: i64 = 10;
/// Partitions of the suite's topic.
const PARTITIONS: i32 = 3;
/// Upper bound for one (API, version) check, so a hung broker fails a row instead of the suite.
const CHECK_TIMEOUT: Duration = Duration::from_secs(90);
/// The client id on every connection; DescribeGroups must report it for our members.
pub const CLIENT_ID: &str = "kafkaroo-conformance";

/// What the checks share: connections, the suite's topic and what is known about it.
pub(crate) struct Ctx {
    client: Client,
    /// The connection to the first bootstrap broker: its ApiVersions are the ranges under test.
    bootstrap_conn: Connection,
    /// Whether the broker behaves as Kafka 4 (see [`kafka4_by_api_versions`]): then ConsumerGroupHeartbeat
    /// must be served.
    kafka4: bool,
    suffix: String,
    counter: AtomicU32,
    /// The suite's topic: `PARTITIONS` partitions, `RECORDS` records in partition 0.
    topic: String,
    /// Its id as CreateTopics (v7+) returned it, else as Metadata (v10+) reports it, else nil.
    topic_id: Uuid,
    /// Whether `topic_id` came from CreateTopics itself.
    topic_id_from_create: bool,
    /// Create time of record i of partition 0 is `base_ts + 1000 * i`.
    base_ts: i64,
    /// Why the records could not be produced (the fixture could not write them), if so.
    no_records: Option<String>,
    /// Leader and leader epoch of partition 0 (epoch -1 when Metadata cannot say).
    leader: i32,
    leader_epoch: i32,
    /// Topics to delete at the end.
    created: Mutex<Vec<String>>,
}

impl Ctx {
    fn versions(&self) -> &BrokerVersions {
        self.bootstrap_conn.versions()
    }

    /// Highest version of `R` both sides speak.
    fn max<R: Request>(&self) -> anyhow::Result<i16> {
        Ok(self.versions().common_range(R::KEY, R::VERSIONS)?.max)
    }

    /// A name unique to this run and call.
    fn name(&self, kind: &str, v: i16) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("kr-conf-{kind}-v{v}-{}-{n}", self.suffix)
    }

    /// Fails with [`Skipped`] when the suite's records could not be produced.
    fn need_records(&self) -> anyhow::Result<()> {
        match &self.no_records {
            Some(why) => Err(Skipped(why.clone()).into()),
            None => Ok(()),
        }
    }

    fn is_kafka4(&self) -> bool {
        self.kafka4
    }

    async fn leader_conn(&self) -> anyhow::Result<Connection> {
        Ok(self.client.connection(self.leader, Purpose::Fetch).await?)
    }

    /// Metadata for `topics` at the highest version, from the bootstrap connection.
    async fn metadata(&self, topics: &[&str]) -> anyhow::Result<MetadataResponse> {
        let req = kafkaroo_net::client::metadata_request(Some(topics));
        Ok(self.bootstrap_conn.send(&req).await?)
    }

    /// The coordinator of `group` (FindCoordinator at the highest version; retried while the
    /// coordinator is not available yet, e.g. while `__consumer_offsets` is being created).
    async fn coordinator(&self, group: &str) -> anyhow::Result<Connection> {
        let v = self.max::<FindCoordinatorRequest>()?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut req = FindCoordinatorRequest::default();
            if v >= 4 {
                req.coordinator_keys = vec![sb(group)];
            } else {
                req.key = sb(group);
            }
            let resp = self
                .bootstrap_conn
                .send_version(&req, v, Duration::from_secs(10))
                .await?;
            let (err, node) = match resp.coordinators.first() {
                Some(c) if v >= 4 => (c.error_code, c.node_id.0),
                None if v >= 4 => bail!("FindCoordinator v{v}: no coordinator in the answer"),
                _ => (resp.error_code, resp.node_id.0),
            };
            if err == 0 {
                self.client.refresh_metadata(Some(&[])).await?;
                return Ok(self.client.connection(node, Purpose::Group).await?);
            }
            let e = ErrorCode(err);
            if !e.is_retriable() || Instant::now() > deadline {
                bail!("FindCoordinator for {group}: {}", code(err));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates a topic with CreateTopics at the highest version and waits until Metadata shows a
    /// leader for every partition. Returns the topic id when the broker reports one.
    async fn create_topic(&self, name: &str, partitions: i32) -> anyhow::Result<Uuid> {
        let v = self.max::<CreateTopicsRequest>()?;
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(tn(name))
                    .with_num_partitions(partitions)
                    .with_replication_factor(1),
            ]);
        let resp = self
            .bootstrap_conn
            .send_version(&req, v, Duration::from_secs(40))
            .await?;
        let t = resp
            .topics
            .first()
            .ok_or_else(|| anyhow!("CreateTopics: empty answer"))?;
        ensure!(t.error_code == 0, "CreateTopics {name}: {}", code(t.error_code));
        self.created.lock().unwrap().push(name.to_owned());
        self.wait_for_leaders(name, partitions).await?;
        Ok(t.topic_id)
    }

    async fn wait_for_leaders(&self, name: &str, partitions: i32) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let md = self.metadata(&[name]).await?;
            let ready = md.topics.iter().any(|t| {
                t.error_code == 0
                    && t.partitions.len() == partitions as usize
                    && t.partitions
                        .iter()
                        .all(|p| p.error_code == 0 && p.leader_id.0 >= 0)
            });
            if ready {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "topic {name} has no leaders after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes topics by name at the highest DeleteTopics version (cleanup; errors ignored by callers).
    async fn delete_topics(&self, names: &[String]) -> anyhow::Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let v = self.max::<DeleteTopicsRequest>()?;
        let mut req = DeleteTopicsRequest::default().with_timeout_ms(30_000);
        if v >= 6 {
            req.topics = names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(tn(n))))
                .collect();
        } else {
            req.topic_names = names.iter().map(|n| tn(n)).collect();
        }
        self.bootstrap_conn
            .send_version(&req, v, Duration::from_secs(40))
            .await?;
        Ok(())
    }
}

/// How the suite's own connections (its `Client` and the bootstrap `Connection`, so every checked
/// request) reach the broker: a listener and its TLS and SASL settings. The [`Fixture`] writes the
/// suite's records its own way (kafkaroo's tests: the Java producer on the harness' listener).
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `host:port` of the listener.
    pub bootstrap: String,
    /// TLS and SASL of every connection.
    pub security: SecurityConfig,
    /// How the report names it, e.g. `SASL_SSL SCRAM-SHA-512 as admin`; empty for plain PLAINTEXT.
    pub label: String,
}

impl Endpoint {
    /// `bootstrap` without TLS or SASL.
    pub fn plaintext(bootstrap: &str) -> Self {
        Self {
            bootstrap: bootstrap.to_owned(),
            security: SecurityConfig::default(),
            label: String::new(),
        }
    }

    /// `bootstrap` with the security properties `properties` (`security.protocol`, `sasl.*`, `ssl.*`, as
    /// librdkafka and the Java client name them).
    pub fn secured<K: AsRef<str>, V: AsRef<str>>(
        bootstrap: &str,
        label: &str,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> anyhow::Result<Self> {
        let mut options = SecurityOptions::default();
        for (k, v) in properties {
            let (k, v) = (k.as_ref(), v.as_ref());
            ensure!(options.set(k, v)?, "{k} is not a security property");
        }
        Ok(Self {
            bootstrap: bootstrap.to_owned(),
            security: options.build()?,
            label: label.to_owned(),
        })
    }
}

/// One of the suite's records: written to partition 0 of the suite's topic, in order, with this create
/// time (the checks of ListOffsets by timestamp and of Fetch rely on it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureRecord {
    pub key: String,
    pub value: String,
    /// Create time, ms since the epoch.
    pub timestamp: i64,
}

/// What [`Fixture::produce`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Produced {
    /// Every record was written; the offsets they got, when the producer reports them (they must be
    /// `0..10`, the topic being new), else empty.
    Written(Vec<i64>),
    /// The records could not be written, for this reason, and that is acceptable (e.g. an external
    /// broker without Kafka's producer tools): the checks that read records are skipped, not failed.
    Unavailable(String),
}

/// A boxed future, so that [`Fixture`] can be implemented without async traits.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the suite needs from its caller besides a listener.
pub trait Fixture: Sync {
    /// The broker's Kafka version when the caller knows it (the test harness does): the report shows it,
    /// and `4.*` means ConsumerGroupHeartbeat must be served. `None` (any broker): the report says what
    /// ApiVersions suggests, and ConsumerGroupHeartbeat v1+ listed means 4.x behaviour.
    fn kafka_version(&self) -> Option<String>;

    /// Writes `records` to partition 0 of `topic` (just created, 3 partitions), in order, with their
    /// timestamps as create times. An `Err` stops the suite.
    fn produce<'a>(
        &'a self,
        topic: &'a str,
        records: &'a [FixtureRecord],
    ) -> BoxFuture<'a, anyhow::Result<Produced>>;
}

/// Whether a broker offering `versions` behaves as Kafka 4 for the suite: it lists ConsumerGroupHeartbeat
/// v1 or later (Kafka 4.0 serves v0..=1 with KIP-848 generally available; 3.x lists at most the early
/// access v0, and only when enabled).
pub fn kafka4_by_api_versions(versions: &BrokerVersions) -> bool {
    versions
        .range(ConsumerGroupHeartbeatRequest::KEY)
        .is_some_and(|r| r.max >= 1)
}

/// How the report names a broker whose version the caller does not know.
fn version_label(versions: &BrokerVersions) -> String {
    let cgh = versions.range(ConsumerGroupHeartbeatRequest::KEY);
    match cgh {
        Some(r) if r.max >= 1 => format!(
            "unknown, 4.x-like by ApiVersions (ConsumerGroupHeartbeat v{}..={})",
            r.min, r.max
        ),
        Some(r) => format!(
            "unknown, pre-4 by ApiVersions (ConsumerGroupHeartbeat v{}..={})",
            r.min, r.max
        ),
        None => "unknown, pre-4 by ApiVersions (no ConsumerGroupHeartbeat)".to_owned(),
    }
}

/// Runs the suite with its connections on `endpoint`, the records written by `fixture`, and returns the
/// table. An `Err` when the suite cannot start (no connection, the topic cannot be created, the fixture
/// failed); failed checks are rows of the report.
pub async fn run<F: Fixture + ?Sized>(fixture: &F, endpoint: Endpoint) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut config = ClientConfig::new(&endpoint.bootstrap)?;
    config.connection.client_id = CLIENT_ID.to_owned();
    config.connection.security = endpoint.security.clone();
    let client = Client::connect(config.clone())
        .await
        .with_context(|| format!("connecting to {}", endpoint.bootstrap))?;
    let bootstrap_addr = config.bootstrap_servers[0].clone();
    let bootstrap_conn = Connection::connect(&bootstrap_addr, None, config.connection.clone())
        .await
        .with_context(|| format!("connecting to {bootstrap_addr}"))?;
    let (kafka_version, kafka4) = match fixture.kafka_version() {
        Some(v) => (v.clone(), v.starts_with("4.")),
        None => (
            version_label(bootstrap_conn.versions()),
            kafka4_by_api_versions(bootstrap_conn.versions()),
        ),
    };
    let suffix = format!("{:x}{:04x}", now_ms() % 0x1_0000_0000, fastrand::u16(..));
    let topic = format!("kr-conf-data-{suffix}");
    let base_ts = now_ms() - 600_000;

    let mut ctx = Ctx {
        client,
        bootstrap_conn,
        kafka4,
        suffix,
        counter: AtomicU32::new(0),
        topic: topic.clone(),
        topic_id: Uuid::nil(),
        topic_id_from_create: false,
        base_ts,
        no_records: None,
        leader: -1,
        leader_epoch: -1,
        created: Mutex::new(Vec::new()),
    };

    // Fixture: the suite's topic, created with our own CreateTopics (its id is checked by Metadata).
    let created_id = ctx
        .create_topic(&topic, PARTITIONS)
        .await
        .context("creating the suite's topic")?;
    ctx.topic_id_from_create = !created_id.is_nil();
    let records: Vec<FixtureRecord> = (0..RECORDS)
        .map(|i| FixtureRecord {
            key: format!("k{i}"),
            value: format!("value-{i}"),
            timestamp: base_ts + 1000 * i,
        })
        .collect();
    let created_at = started.elapsed();
    match fixture
        .produce(&topic, &records)
        .await
        .context("producing the suite's records")?
    {
        Produced::Written(offsets) => ensure!(
            offsets.is_empty() || offsets.iter().copied().eq(0..RECORDS),
            "the fixture reports unexpected offsets for the suite's records: {offsets:?}"
        ),
        Produced::Unavailable(why) => ctx.no_records = Some(format!("no records: {why}")),
    }
    let produced_at = started.elapsed();
    let md = ctx.metadata(&[&topic]).await?;
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_deref().map(|n| &**n) == Some(topic.as_str()))
        .ok_or_else(|| anyhow!("the suite's topic is not in Metadata"))?;
    let p0 = t
        .partitions
        .iter()
        .find(|p| p.partition_index == 0)
        .ok_or_else(|| anyhow!("the suite's topic has no partition 0"))?;
    ctx.leader = p0.leader_id.0;
    ctx.leader_epoch = p0.leader_epoch;
    ctx.topic_id = if created_id.is_nil() {
        t.topic_id
    } else {
        created_id
    };
    ctx.client.refresh_metadata(Some(&[&topic])).await?;
    // The group coordinator may need `__consumer_offsets` to be created first: wait for it once.
    ctx.coordinator(&ctx.name("warmup", 0))
        .await
        .context("waiting for the group coordinator")?;
    let setup = started.elapsed();

    let mut report = Report::new(&kafka_version, &endpoint.bootstrap, &endpoint.label);
    report.offered = OfferedApi::list(ctx.versions());
    if let Some(why) = &ctx.no_records {
        report.note(why.clone());
    }
    report.note(format!(
        "setup {:.1}s (topic {:.1}s, produce {:.1}s, coordinator {:.1}s): topic {topic} (id {}), \
         {RECORDS} records in partition 0, leader {} epoch {}",
        setup.as_secs_f64(),
        created_at.as_secs_f64(),
        (produced_at - created_at).as_secs_f64(),
        (setup - produced_at).as_secs_f64(),
        ctx.topic_id,
        ctx.leader,
        ctx.leader_epoch
    ));
    let ctx = &ctx;

    report
        .api::<ApiVersionsRequest, _, _>(ctx, false, |v| cluster::api_versions(ctx, v))
        .await;
    report
        .api::<MetadataRequest, _, _>(ctx, false, |v| cluster::metadata(ctx, v, &bootstrap_addr))
        .await;
    report
        .api::<CreateTopicsRequest, _, _>(ctx, false, |v| cluster::create_topics(ctx, v))
        .await;
    report
        .api::<DeleteTopicsRequest, _, _>(ctx, false, |v| cluster::delete_topics(ctx, v))
        .await;
    report
        .api::<FindCoordinatorRequest, _, _>(ctx, false, |v| cluster::find_coordinator(ctx, v))
        .await;
    report
        .api::<ListOffsetsRequest, _, _>(ctx, false, |v| data::list_offsets(ctx, v))
        .await;
    report
        .api::<FetchRequest, _, _>(ctx, false, |v| data::fetch(ctx, v))
        .await;
    report
        .api::<OffsetForLeaderEpochRequest, _, _>(ctx, false, |v| data::offset_for_leader_epoch(ctx, v))
        .await;
    report
        .api::<JoinGroupRequest, _, _>(ctx, false, |v| groups::join_group(ctx, v))
        .await;
    report
        .some::<JoinGroupRequest, _, _>(ctx, "JoinGroup static membership", &[5, 9], |v| {
            groups::static_membership(ctx, v)
        })
        .await;
    report
        .api::<SyncGroupRequest, _, _>(ctx, false, |v| groups::sync_group(ctx, v))
        .await;
    report
        .api::<HeartbeatRequest, _, _>(ctx, false, |v| groups::heartbeat_check(ctx, v))
        .await;
    report
        .api::<LeaveGroupRequest, _, _>(ctx, false, |v| groups::leave_group(ctx, v))
        .await;
    report
        .api::<OffsetCommitRequest, _, _>(ctx, false, |v| offsets::offset_commit(ctx, v))
        .await;
    let fetch_fixture = offsets::OffsetFetchFixture::new(ctx).await;
    report
        .api::<OffsetFetchRequest, _, _>(ctx, false, |v| offsets::offset_fetch(ctx, v, &fetch_fixture))
        .await;
    report
        .api::<DescribeGroupsRequest, _, _>(ctx, false, |v| groups::describe_groups(ctx, v))
        .await;
    let list_fixture = groups::ListGroupsFixture::new(ctx).await;
    report
        .api::<ListGroupsRequest, _, _>(ctx, false, |v| groups::list_groups(ctx, v, &list_fixture))
        .await;
    list_fixture.cleanup(ctx).await;
    report
        .api::<ConsumerGroupHeartbeatRequest, _, _>(ctx, true, |v| groups::consumer_group_heartbeat(ctx, v))
        .await;

    let topics = std::mem::take(&mut *ctx.created.lock().unwrap());
    if let Err(e) = ctx.delete_topics(&topics).await {
        report.note(format!("cleanup: deleting {} topics failed: {e:#}", topics.len()));
    }
    report.finish(started.elapsed());
    Ok(report)
}

impl Report {
    /// Runs `check` at every version of `R` in the common range, one row each. `optional`: the broker
    /// may lack the API (a "not offered" row), except a 4.x broker.
    async fn api<R, F, Fut>(&mut self, ctx: &Ctx, optional: bool, mut check: F)
    where
        R: Request,
        F: FnMut(i16) -> Fut,
        Fut: Future<Output = anyhow::Result<String>>,
    {
        let api = kafkaroo_wire::api_name(R::KEY);
        let range: VersionRange = match ctx.versions().common_range(R::KEY, R::VERSIONS) {
            Ok(r) => r,
            Err(VersionError::NotSupportedByBroker { .. }) if optional && !ctx.is_kafka4() => {
                self.push(api, None, Outcome::NotOffered("not offered by broker".to_owned()));
                return;
            }
            Err(e) => {
                self.push(api, None, Outcome::Failed(e.to_string()));
                return;
            }
        };
        for v in range.min..=range.max {
            let outcome = run_check(check(v)).await;
            self.push(api, Some(v), outcome);
        }
    }

    /// An extra check at the listed versions of `R` that both sides speak (static membership: v5, the
    /// first version with instance ids, and v9, where KIP-814 changed the answer).
    async fn some<R, F, Fut>(&mut self, ctx: &Ctx, label: &str, versions: &[i16], mut check: F)
    where
        R: Request,
        F: FnMut(i16) -> Fut,
        Fut: Future<Output = anyhow::Result<String>>,
    {
        match ctx.versions().common_range(R::KEY, R::VERSIONS) {
            Ok(r) => {
                let mut ran = false;
                for &v in versions.iter().filter(|v| (r.min..=r.max).contains(v)) {
                    let outcome = run_check(check(v)).await;
                    self.push(label, Some(v), outcome);
                    ran = true;
                }
                if !ran {
                    self.push(
                        label,
                        None,
                        Outcome::NotOffered(format!(
                            "needs one of v{versions:?}, broker has v{}..={}",
                            r.min, r.max
                        )),
                    );
                }
            }
            Err(e) => self.push(label, None, Outcome::Failed(e.to_string())),
        }
    }
}

/// Returned (as an error) by a check that finds the broker lists an API but does not serve it, where that
/// is allowed: the row becomes "not offered" instead of failed.
#[derive(Debug)]
pub(crate) struct NotOffered(pub(crate) String);

impl std::fmt::Display for NotOffered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotOffered {}

/// Returned (as an error) by a check whose fixture is unavailable: the row becomes "skipped".
#[derive(Debug)]
pub(crate) struct Skipped(pub(crate) String);

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Skipped {}

async fn run_check(check: impl Future<Output = anyhow::Result<String>>) -> Outcome {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(Ok(detail)) => Outcome::Passed(detail),
        Ok(Err(e)) => match e.downcast::<NotOffered>() {
            Ok(n) => Outcome::NotOffered(n.0),
            Err(e) => match e.downcast::<Skipped>() {
                Ok(s) => Outcome::Skipped(s.0),
                Err(e) => Outcome::Failed(format!("{e:#}")),
            },
        },
        Err(_) => Outcome::Failed(format!("no result within {CHECK_TIMEOUT:?}")),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cgh(max: Option<i16>) -> BrokerVersions {
        let fetch = (FetchRequest::KEY, 4, 17);
        let cgh = max.map(|m| (ConsumerGroupHeartbeatRequest::KEY, 0, m));
        BrokerVersions::from_ranges([Some(fetch), cgh].into_iter().flatten())
    }

    #[test]
    fn kafka4_behaviour_is_read_from_consumer_group_heartbeat() {
        assert!(kafka4_by_api_versions(&with_cgh(Some(1))));
        assert!(!kafka4_by_api_versions(&with_cgh(Some(0))));
        assert!(!kafka4_by_api_versions(&with_cgh(None)));
        assert_eq!(
            version_label(&with_cgh(Some(1))),
            "unknown, 4.x-like by ApiVersions (ConsumerGroupHeartbeat v0..=1)"
        );
        assert_eq!(
            version_label(&with_cgh(None)),
            "unknown, pre-4 by ApiVersions (no ConsumerGroupHeartbeat)"
        );
    }

    #[test]
    fn the_json_report_has_every_row_and_the_offered_versions() {
        let mut report = Report::new("4.4.0", "h:1", "");
        report.offered = OfferedApi::list(&with_cgh(Some(1)));
        report.push("Fetch", Some(4), Outcome::Passed("10 records".to_owned()));
        report.push("ConsumerGroupHeartbeat", None, Outcome::Failed("boom".to_owned()));
        let json = report.to_json();
        assert_eq!(json["broker"]["security"], "PLAINTEXT");
        assert_eq!(json["offered"][0]["name"], "Fetch");
        assert_eq!(json["offered"][0]["max"], 17);
        assert_eq!(json["rows"][0]["outcome"], "passed");
        assert_eq!(json["rows"][0]["version"], 4);
        assert_eq!(json["rows"][1]["version"], serde_json::Value::Null);
        assert_eq!(json["rows"][1]["message"], "boom");
        assert_eq!(json["summary"]["failed"], 1);
        assert_eq!(json["summary"]["line"], report.summary());
    }
}
