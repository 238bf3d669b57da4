//! The consumer itself through every version of every API it uses, on a real broker (issue 16): the
//! conformance suite builds its own requests, so kafkaroo's own version-dependent builders would
//! otherwise meet real Kafka only at the newest negotiated version. Each scenario caps one or more APIs
//! with `kafkaroo.api.version.max` and asserts on the records, offsets and commits it observed; a tracing
//! layer records which (API, version) each consumer sent (by its `client.id`), and every capped API must
//! have gone out at exactly its cap. The set of (API, version) pairs run must equal the set both sides
//! speak (the broker's ApiVersions answer ∩ kafkaroo's ranges), so a skipped version fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_net::{Client, ClientConfig, Connection, ConnectionConfig};
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};
use kafkaroo_wire::messages::{
    FetchRequest, FindCoordinatorRequest, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetFetchRequest,
    OffsetForLeaderEpochRequest, SyncGroupRequest,
};
use kafkaroo_wire::protocol::Request;
use kafkaroo_wire::{BrokerVersions, VersionRange};
use tokio::task::JoinSet;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

const WAIT: Duration = Duration::from_secs(30);
/// Scenarios run at once (distinct client ids and groups keep them apart).
const PARALLEL: usize = 6;

// ----- what each consumer sent ------------------------------------------------------------------

type Sent = BTreeMap<String, BTreeMap<String, BTreeSet<i16>>>;

/// client id → API → versions sent, from kafkaroo-net's `send` trace events.
fn sent() -> &'static Mutex<Sent> {
    static SENT: OnceLock<Mutex<Sent>> = OnceLock::new();
    SENT.get_or_init(Mutex::default)
}

fn versions_sent(client: &str, api: &str) -> BTreeSet<i16> {
    let sent = sent().lock().unwrap_or_else(|e| e.into_inner());
    sent.get(client)
        .and_then(|apis| apis.get(api))
        .cloned()
        .unwrap_or_default()
}

#[derive(Default)]
struct SendEvent {
    message: String,
    client: Option<String>,
    api: Option<String>,
    version: Option<i16>,
}

impl Visit for SendEvent {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "api" {
            self.api = Some(value.to_owned());
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "version" {
            self.version = i16::try_from(value).ok();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "client.id" => self.client = Some(format!("{value:?}")),
            "api" => self.api = Some(format!("{value:?}")),
            _ => {}
        }
    }
}

struct Recorder;

impl<S: tracing::Subscriber> Layer<S> for Recorder {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut e = SendEvent::default();
        event.record(&mut e);
        if let (true, Some(client), Some(api), Some(version)) =
            (e.message == "send", e.client, e.api, e.version)
        {
            let mut sent = sent().lock().unwrap_or_else(|e| e.into_inner());
            sent.entry(client)
                .or_default()
                .entry(api)
                .or_default()
                .insert(version);
        }
    }
}

fn init_tracing() {
    let only_sends = tracing_subscriber::filter::filter_fn(|m| m.target() == "kafkaroo_net::connection");
    let _ = tracing_subscriber::registry()
        .with(Recorder.with_filter(only_sends))
        .with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(EnvFilter::from_default_env()),
        )
        .try_init();
}

// ----- the APIs and their versions --------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Api {
    name: &'static str,
    key: i16,
    ours: VersionRange,
}

fn api<R: Request>() -> Api {
    Api {
        name: kafkaroo_wire::api_name(R::KEY),
        key: R::KEY,
        ours: R::VERSIONS,
    }
}

/// `(api, versions both sides speak)`; empty when the broker lacks the API or the ranges do not meet.
fn common(broker: &BrokerVersions, api: Api) -> Vec<i16> {
    broker
        .common_range(api.key, api.ours)
        .map(|r| (r.min..=r.max).collect())
        .unwrap_or_default()
}

// ----- scenarios --------------------------------------------------------------------------------

/// The caps of one scenario: which APIs it checks, and every cap it sets (a checked API may need
/// another capped with it).
#[derive(Debug, Clone)]
struct Caps {
    checked: Vec<(&'static str, i16)>,
    extra: Vec<(&'static str, i16)>,
}

impl Caps {
    fn property(&self) -> String {
        let all = self.checked.iter().chain(&self.extra);
        all.map(|(a, v)| format!("{a}:{v}")).collect::<Vec<_>>().join(",")
    }
    fn label(&self) -> String {
        self.property().replace([':', ','], "-")
    }
}

#[derive(Clone)]
struct Setup {
    bootstrap: String,
    topic: String,
    records: Vec<String>,
}

impl Setup {
    fn tp(&self) -> TopicPartition {
        TopicPartition::new(self.topic.as_str(), 0)
    }

    fn config(&self, client: &str, caps: &Caps, group: Option<&str>) -> ConsumerConfig {
        let mut b = ConsumerConfig::builder()
            .bootstrap_servers(&self.bootstrap)
            .client_id(client)
            .auto_offset_reset(AutoOffsetReset::Earliest)
            .fetch_max_wait(Duration::from_millis(50))
            .retry_backoff(Duration::from_millis(50))
            .set("kafkaroo.api.version.max", &caps.property())
            .expect("caps");
        if let Some(group) = group {
            b = b
                .group_id(group)
                .set("enable.auto.commit", "false")
                .and_then(|b| b.set("session.timeout.ms", "6000"))
                .and_then(|b| b.set("heartbeat.interval.ms", "100"))
                .expect("group settings");
        }
        b.build().expect("config")
    }
}

/// Polls until `n` records came; returns `(offset, value)` of each.
async fn poll_records(c: &mut Consumer, n: usize, what: &str) -> Result<Vec<(i64, String)>, String> {
    let deadline = Instant::now() + WAIT;
    let mut got = Vec::new();
    while got.len() < n {
        if Instant::now() > deadline {
            return Err(format!("{what}: {} of {n} records within {WAIT:?}", got.len()));
        }
        let batch = c
            .poll(Duration::from_millis(100))
            .await
            .map_err(|e| format!("{what}: poll: {e}"))?;
        for r in batch {
            let value = String::from_utf8_lossy(r.value().unwrap_or_default()).into_owned();
            got.push((r.offset(), value));
        }
    }
    Ok(got)
}

fn expect_records(got: &[(i64, String)], want: &[String], from: i64, what: &str) -> Result<(), String> {
    let want: Vec<(i64, String)> = want
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, v)| (from + i as i64, v))
        .collect();
    if got != want {
        return Err(format!("{what}: records {got:?}, expected {want:?}"));
    }
    Ok(())
}

/// Every checked API went out, and only at its cap.
fn expect_sent_at_caps(client: &str, caps: &Caps) -> Result<(), String> {
    for &(api, v) in &caps.checked {
        let sent = versions_sent(client, api);
        if sent != BTreeSet::from([v]) {
            return Err(format!(
                "{client}: {api} capped at {v} went out at versions {sent:?}"
            ));
        }
    }
    Ok(())
}

/// assign + poll from the beginning + the log's ends (ListOffsets earliest and latest).
async fn data_scenario(setup: Setup, caps: Caps) -> Result<Caps, String> {
    let client = format!("vw-data-{}-{}", caps.label(), fastrand::u32(..));
    let what = client.as_str();
    let mut c = Consumer::new(setup.config(&client, &caps, None))
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let tp = setup.tp();
    c.assign([tp.clone()]).map_err(|e| format!("{what}: {e}"))?;
    let got = poll_records(&mut c, setup.records.len(), what).await?;
    expect_records(&got, &setup.records, 0, what)?;
    let n = setup.records.len() as i64;
    let ends = c
        .end_offsets(std::slice::from_ref(&tp))
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    let starts = c
        .beginning_offsets(std::slice::from_ref(&tp))
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    if ends.get(&tp) != Some(&n) || starts.get(&tp) != Some(&0) {
        return Err(format!("{what}: log ends {starts:?}..{ends:?}, expected 0..{n}"));
    }
    c.close().await;
    expect_sent_at_caps(&client, &caps)?;
    Ok(caps)
}

/// subscribe in a fresh group, poll every record, wait for a heartbeat, commit_sync, read the commit
/// back with `committed`, close (LeaveGroup).
async fn group_scenario(setup: Setup, caps: Caps) -> Result<Caps, String> {
    let client = format!("vw-group-{}-{}", caps.label(), fastrand::u32(..));
    let what = client.as_str();
    let mut c = Consumer::new(setup.config(&client, &caps, Some(&client)))
        .await
        .map_err(|e| format!("{what}: {e}"))?;
    c.subscribe([setup.topic.as_str()])
        .map_err(|e| format!("{what}: {e}"))?;
    let got = poll_records(&mut c, setup.records.len(), what).await?;
    expect_records(&got, &setup.records, 0, what)?;
    let deadline = Instant::now() + WAIT;
    while versions_sent(&client, "Heartbeat").is_empty() {
        if Instant::now() > deadline {
            return Err(format!("{what}: no Heartbeat within {WAIT:?}"));
        }
        let extra = c
            .poll(Duration::from_millis(50))
            .await
            .map_err(|e| format!("{what}: {e}"))?;
        if !extra.is_empty() {
            return Err(format!("{what}: {} records beyond the log's end", extra.len()));
        }
    }
    c.commit_sync(None)
        .await
        .map_err(|e| format!("{what}: commit_sync: {e}"))?;
    let tp = setup.tp();
    let committed = c
        .committed(std::slice::from_ref(&tp))
        .await
        .map_err(|e| format!("{what}: committed: {e}"))?;
    let n = setup.records.len() as i64;
    let offset = committed.get(&tp).and_then(|o| o.as_ref()).map(|o| o.offset);
    if offset != Some(n) {
        return Err(format!("{what}: committed {committed:?}, expected offset {n}"));
    }
    c.close().await;
    expect_sent_at_caps(&client, &caps)?;
    Ok(caps)
}

async fn run_all<F>(
    scenarios: Vec<Caps>,
    setup: &Setup,
    run: fn(Setup, Caps) -> F,
) -> Result<Vec<Caps>, String>
where
    F: std::future::Future<Output = Result<Caps, String>> + Send + 'static,
{
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for chunk in scenarios.chunks(PARALLEL) {
        let mut set = JoinSet::new();
        for caps in chunk {
            set.spawn(run(setup.clone(), caps.clone()));
        }
        while let Some(result) = set.join_next().await {
            match result
                .map_err(|e| format!("scenario panicked: {e}"))
                .and_then(|r| r)
            {
                Ok(caps) => done.push(caps),
                Err(e) => failures.push(e),
            }
        }
    }
    if failures.is_empty() {
        Ok(done)
    } else {
        Err(failures.join("\n"))
    }
}

/// Partition 0's leader epoch as Metadata tells it.
async fn leader_epoch(bootstrap: &str, topic: &str) -> Result<i32, String> {
    let client = Client::connect(ClientConfig::new(bootstrap).map_err(|e| e.to_string())?)
        .await
        .map_err(|e| e.to_string())?;
    let m = client
        .refresh_metadata(Some(&[topic]))
        .await
        .map_err(|e| e.to_string())?;
    m.topics
        .get(topic)
        .and_then(|t| t.partitions.get(&0))
        .map(|p| p.leader_epoch)
        .ok_or_else(|| format!("{topic} has no partition 0 in {m:?}"))
}

/// OffsetForLeaderEpoch validates a position after the leader epoch rose, which on one broker takes a
/// restart: one consumer per version reads the log, the broker restarts, each validates its position
/// and then reads exactly the records produced after the restart.
async fn leader_epoch_scenario(
    cluster: &Cluster,
    setup: &Setup,
    versions: &[i16],
) -> Result<Vec<Caps>, String> {
    let ofle = kafkaroo_wire::api_name(OffsetForLeaderEpochRequest::KEY);
    let mut consumers = Vec::new();
    for &v in versions {
        let caps = Caps {
            checked: vec![(ofle, v)],
            extra: vec![],
        };
        let client = format!("vw-epoch-{v}-{}", fastrand::u32(..));
        let mut c = Consumer::new(setup.config(&client, &caps, None))
            .await
            .map_err(|e| e.to_string())?;
        c.assign([setup.tp()]).map_err(|e| e.to_string())?;
        let got = poll_records(&mut c, setup.records.len(), &client).await?;
        expect_records(&got, &setup.records, 0, &client)?;
        consumers.push((client, caps, c));
    }
    let before = leader_epoch(&setup.bootstrap, &setup.topic).await?;
    let restart = || -> Result<(), String> {
        cluster
            .stop_node(0)
            .map_err(|e| format!("stopping the broker: {e}"))?;
        cluster
            .start_node(0)
            .map_err(|e| format!("starting the broker: {e}"))
    };
    tokio::task::block_in_place(restart)?;
    let after = leader_epoch(&setup.bootstrap, &setup.topic).await?;
    if after <= before {
        return Err(format!(
            "the restart left the leader epoch at {after} (was {before})"
        ));
    }
    let more: Vec<String> = (0..3).map(|i| format!("after-restart-{i}")).collect();
    produce(cluster, &setup.topic, &more);
    let from = setup.records.len() as i64;
    let mut done = Vec::new();
    for (client, caps, mut c) in consumers {
        let got = poll_records(&mut c, more.len(), &client).await?;
        expect_records(&got, &more, from, &client)?;
        c.close().await;
        expect_sent_at_caps(&client, &caps)?;
        done.push(caps);
    }
    Ok(done)
}

fn produce(cluster: &Cluster, topic: &str, values: &[String]) {
    let records = values.iter().map(|v| TestRecord::new("k", v.as_str())).collect();
    cluster
        .produce(
            &ProduceRequest::new(topic, records)
                .partition(0)
                .producer_config("acks", "all"),
        )
        .expect("records produced");
}

/// Step `k` of walking several APIs at once: each at its `k`-th version, or its last once exhausted.
fn walk(apis: &[(Api, Vec<i16>)]) -> Vec<Caps> {
    let steps = apis.iter().map(|(_, v)| v.len()).max().unwrap_or(0);
    (0..steps)
        .map(|k| Caps {
            checked: apis
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(a, v)| (a.name, v[k.min(v.len() - 1)]))
                .collect(),
            extra: vec![],
        })
        .collect()
}

#[test]
fn every_version_of_every_consumer_api() {
    init_tracing();
    let started = Instant::now();
    let cluster = Cluster::shared();
    // Multi-threaded (the broker restart blocks a worker); one worker per core.
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let topic = cluster.unique_topic("version-walk");
    cluster.create_topic(&topic, 1, 1, &[]).expect("topic created");
    let records: Vec<String> = (0..6).map(|i| format!("value-{i}")).collect();
    produce(cluster, &topic, &records);
    let bootstrap = cluster.bootstrap().to_owned();
    let setup = Setup {
        bootstrap: bootstrap.clone(),
        topic,
        records,
    };

    let result = runtime.block_on(async {
        let first = bootstrap.split(',').next().unwrap_or_default();
        let conn = Connection::connect(first, None, ConnectionConfig::default())
            .await
            .map_err(|e| format!("ApiVersions: {e}"))?;
        let broker = conn.versions().clone();
        conn.close();

        let (metadata, list_offsets, fetch) = (
            api::<MetadataRequest>(),
            api::<ListOffsetsRequest>(),
            api::<FetchRequest>(),
        );
        let ofle = api::<OffsetForLeaderEpochRequest>();
        let group = [
            api::<FindCoordinatorRequest>(),
            api::<JoinGroupRequest>(),
            api::<SyncGroupRequest>(),
            api::<HeartbeatRequest>(),
            api::<LeaveGroupRequest>(),
            api::<OffsetCommitRequest>(),
            api::<OffsetFetchRequest>(),
        ];
        let all: Vec<Api> = [metadata, list_offsets, fetch, ofle]
            .into_iter()
            .chain(group)
            .collect();
        let expected: BTreeSet<(&str, i16)> = all
            .iter()
            .flat_map(|a| common(&broker, *a).into_iter().map(|v| (a.name, v)))
            .collect();

        // Data APIs one at a time; Metadata below v10 has no topic ids, so Fetch stays at 12 with it.
        let mut data = Vec::new();
        for a in [metadata, list_offsets, fetch] {
            for v in common(&broker, a) {
                let extra = if a.key == metadata.key && v < 10 {
                    vec![(fetch.name, 12)]
                } else {
                    vec![]
                };
                data.push(Caps {
                    checked: vec![(a.name, v)],
                    extra,
                });
            }
        }
        let group_walk: Vec<(Api, Vec<i16>)> = group.iter().map(|a| (*a, common(&broker, *a))).collect();
        let mut ran: Vec<Caps> = Vec::new();
        let mut phases: Vec<(&str, usize, Duration)> = Vec::new();
        let t = Instant::now();
        let done = run_all(data, &setup, data_scenario).await?;
        phases.push(("data (assign, poll, log ends)", done.len(), t.elapsed()));
        ran.extend(done);
        let t = Instant::now();
        let done = run_all(walk(&group_walk), &setup, group_scenario).await?;
        phases.push(("group (join, heartbeat, commit, leave)", done.len(), t.elapsed()));
        ran.extend(done);
        let t = Instant::now();
        let done = leader_epoch_scenario(cluster, &setup, &common(&broker, ofle)).await?;
        phases.push(("epoch (broker restart, validation)", done.len(), t.elapsed()));
        ran.extend(done);
        for (phase, n, took) in phases {
            println!("{phase:<40} {n:>3} scenarios {took:>8.1?}");
        }
        Ok::<_, String>((expected, ran))
    });
    let (expected, ran) = result.unwrap_or_else(|e| panic!("version walk failed:\n{e}"));

    let mut by_api: BTreeMap<&str, BTreeSet<i16>> = BTreeMap::new();
    for caps in &ran {
        for (api, v) in &caps.checked {
            by_api.entry(api).or_default().insert(*v);
        }
    }
    println!(
        "version walk on Kafka {} ({:.1?}):",
        cluster.version(),
        started.elapsed()
    );
    println!("{:<22} versions run", "API");
    for (api, versions) in &by_api {
        let list: Vec<String> = versions.iter().map(i16::to_string).collect();
        println!("{api:<22} {}", list.join(" "));
    }
    let checked: BTreeSet<(&str, i16)> = by_api
        .iter()
        .flat_map(|(api, vs)| vs.iter().map(move |v| (*api, *v)))
        .collect();
    assert_eq!(
        checked, expected,
        "the (API, version) pairs run must be exactly those both the broker and kafkaroo speak"
    );
}
