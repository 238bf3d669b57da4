//! KIP-714 client metrics push against a real broker. The broker runs `tests/java/TelemetryDump.java`
//! as its metrics reporter (Kafka 4.2+ `ClientTelemetryExporterProvider`): it parses every push with
//! the OTLP classes kafka-clients ships and appends what it read to a file this test reads.
//!
//! - With the reporter but no client-metrics subscription, a consumer pushes nothing.
//! - With a subscription (`metrics=org.apache.kafka.consumer.`, `interval.ms=1000`), a group consumer
//!   fetches it, pushes within 1.5 intervals, the pushed values are those of its statistics snapshot
//!   (records consumed, per-partition lag, largest lag, assigned partitions, rebalances), every push
//!   names one client instance id, and closing makes one push with `terminating=true`.
//! - Without a reporter (any version; 3.x brokers never get one here) the broker offers no
//!   GetTelemetrySubscriptions and the consumer consumes and closes as usual.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use kafkaroo::{Consumer, ConsumerConfig, Statistics};
use kafkaroo_net::{Client, ClientConfig};
use kafkaroo_testcontainers::{Cluster, ClusterOptions, KafkaDist};
use kafkaroo_wire::StrBytes;
use kafkaroo_wire::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafkaroo_wire::messages::{GetTelemetrySubscriptionsRequest, IncrementalAlterConfigsRequest};

const REPORTER: &str = include_str!("java/TelemetryDump.java");
const INTERVAL_MS: u64 = 1000;
/// `ConfigResource.Type.CLIENT_METRICS`.
const CLIENT_METRICS: i8 = 16;
const GET_TELEMETRY_SUBSCRIPTIONS: i16 = 71;

/// One push as the reporter wrote it.
#[derive(Debug, Default)]
struct Push {
    instance: String,
    terminating: bool,
    interval_ms: u64,
    resource: Vec<(String, String)>,
    /// (name, kind, value, attributes)
    points: Vec<(String, String, f64, String)>,
    errors: Vec<String>,
}

impl Push {
    fn values(&self, name: &str) -> Vec<(f64, &str)> {
        self.points
            .iter()
            .filter(|p| p.0 == name)
            .map(|p| (p.2, p.3.as_str()))
            .collect()
    }

    fn value(&self, name: &str) -> f64 {
        let v = self.values(name);
        assert_eq!(v.len(), 1, "one point of {name} in {self:#?}");
        v[0].0
    }

    fn kind(&self, name: &str) -> &str {
        &self.points.iter().find(|p| p.0 == name).expect(name).1
    }
}

fn read_pushes(file: &Path) -> Vec<Push> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let mut pushes: Vec<Push> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        match f[0] {
            "PUSH" => pushes.push(Push {
                instance: f[1].to_owned(),
                terminating: f[2] == "true",
                interval_ms: f[4].parse().unwrap(),
                ..Push::default()
            }),
            "RESOURCE" => (pushes.last_mut().unwrap().resource).push((f[1].to_owned(), f[2].to_owned())),
            "POINT" => pushes.last_mut().unwrap().points.push((
                f[1].to_owned(),
                f[2].to_owned(),
                f[3].parse().unwrap(),
                f.get(4).unwrap_or(&"").to_string(),
            )),
            _ => pushes.last_mut().unwrap().errors.push(line.to_owned()),
        }
    }
    pushes
}

fn wait_for_pushes(file: &Path, count: usize, within: Duration) -> Vec<Push> {
    let deadline = Instant::now() + within;
    loop {
        let pushes = read_pushes(file);
        if pushes.len() >= count {
            return pushes;
        }
        assert!(
            Instant::now() < deadline,
            "{} pushes after {within:?}, waited for {count}",
            pushes.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(bootstrap: &str, group: &str) -> ConsumerConfig {
    let mut config = common::group_config(bootstrap, group, 6000, false);
    config.max_poll_records = 7;
    config
}

/// Polls until `count` records arrived in total.
async fn consume(consumer: &mut Consumer, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < count {
        assert!(Instant::now() < deadline, "{seen} of {count} records");
        seen += consumer
            .poll(Duration::from_millis(200))
            .await
            .expect("no error")
            .len();
    }
}

/// The client-metrics subscription, set with IncrementalAlterConfigs; returns once a new client gets
/// it from GetTelemetrySubscriptions (brokers apply configs from the metadata log asynchronously).
async fn subscribe_client_metrics(client: &Client) {
    let set = |name: &str, value: &str| {
        AlterableConfig::default()
            .with_name(StrBytes::from_string(name.into()))
            .with_config_operation(0)
            .with_value(Some(StrBytes::from_string(value.into())))
    };
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(CLIENT_METRICS)
            .with_resource_name(StrBytes::from_static_str("kafkaroo-consumers"))
            .with_configs(vec![
                set("metrics", "org.apache.kafka.consumer."),
                set("interval.ms", &INTERVAL_MS.to_string()),
            ]),
    ]);
    let conn = client.any_connection().await.unwrap();
    let response = conn.send(&request).await.unwrap();
    assert_eq!(response.responses[0].error_code, 0, "{:?}", response.responses[0]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = conn
            .send(&GetTelemetrySubscriptionsRequest::default())
            .await
            .unwrap();
        if !answer.requested_metrics.is_empty() {
            // The consumer compresses with the first of these (zstd on 4.x): the exporter parsing the
            // pushes below shows the broker could decompress them.
            eprintln!(
                "accepted compression types: {:?}",
                answer.accepted_compression_types
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the subscription never showed: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CONSUMED: &str = "org.apache.kafka.consumer.fetch.manager.records.consumed.total";

/// A counter's total as of the last of `pushes`: the sum of the deltas (the broker's default,
/// `DeltaTemporality=true`) or the last cumulative value.
fn counter_total(pushes: &[Push], name: &str) -> f64 {
    let last = pushes.last().unwrap();
    match last.kind(name) {
        "sum:AGGREGATION_TEMPORALITY_DELTA:true" => pushes.iter().map(|p| p.value(name)).sum(),
        "sum:AGGREGATION_TEMPORALITY_CUMULATIVE:true" => last.value(name),
        other => panic!("{name} is a monotonic sum, not {other}"),
    }
}

/// The last of `pushes` against the statistics snapshot.
fn check_against(pushes: &[Push], stats: &Statistics) {
    let push = pushes.last().unwrap();
    assert!(pushes.iter().all(|p| p.errors.is_empty()), "the payloads parsed");
    assert_eq!(counter_total(pushes, CONSUMED), stats.records_consumed as f64);
    let fetches = "org.apache.kafka.consumer.fetch.manager.fetch.total";
    assert!(
        counter_total(pushes, fetches) >= stats.fetches as f64,
        "fetches only grow"
    );
    let mut lags: Vec<(f64, String)> = push
        .values("org.apache.kafka.consumer.fetch.manager.records.lag")
        .into_iter()
        .map(|(v, a)| (v, a.to_owned()))
        .collect();
    lags.sort_by(|a, b| a.1.cmp(&b.1));
    let expected: Vec<(f64, String)> = stats
        .partitions
        .iter()
        .map(|p| {
            (
                p.lag.expect("lag known") as f64,
                format!("topic={},partition={}", p.partition.topic, p.partition.partition),
            )
        })
        .collect();
    assert_eq!(lags, expected);
    let max = expected.iter().map(|e| e.0).fold(0.0, f64::max);
    assert_eq!(
        push.value("org.apache.kafka.consumer.fetch.manager.records.lag.max"),
        max
    );
    assert_eq!(
        push.kind("org.apache.kafka.consumer.fetch.manager.records.lag.max"),
        "gauge"
    );
    assert_eq!(
        push.value("org.apache.kafka.consumer.coordinator.assigned.partitions"),
        stats.partitions.len() as f64
    );
    let group = stats.group.as_ref().unwrap();
    assert_eq!(
        counter_total(pushes, "org.apache.kafka.consumer.coordinator.rebalance.total"),
        group.rebalances as f64
    );
    assert!(
        push.resource
            .contains(&("group_id".into(), group.group_id.clone()))
    );
    assert!(
        push.resource
            .contains(&("group_member_id".into(), group.state.member_id.clone()))
    );
}

#[test]
fn a_consumer_pushes_its_statistics_to_a_subscribed_broker_and_a_terminating_push_on_close() {
    common::init_tracing();
    let version = kafkaroo_testcontainers::kafka_version();
    let dist = KafkaDist::get(&version).unwrap();
    let major_minor: Vec<u32> = version.split('.').take(2).map(|v| v.parse().unwrap()).collect();
    if major_minor < vec![4, 2] {
        eprintln!(
            "SKIPPED: Kafka {version} has no ClientTelemetryExporterProvider (4.2+); see the test without a reporter"
        );
        return;
    }
    let reporter = dist.compile_jar("TelemetryDump", REPORTER).unwrap();
    let dump_dir = tempdir();
    let dump = dump_dir.join("telemetry.tsv");
    let cluster = Cluster::start(ClusterOptions {
        version: Some(version),
        broker_configs: vec![
            ("metric.reporters".into(), "TelemetryDump".into()),
            ("kafkaroo.telemetry.dump.file".into(), dump.display().to_string()),
        ],
        extra_classpath: vec![reporter],
        ..ClusterOptions::default()
    })
    .unwrap();
    let topic = cluster.unique_topic("telemetry");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    common::produce(&cluster, &topic, 2, 10, "v");
    let rt = common::runtime();

    // No subscription yet: the broker answers GetTelemetrySubscriptions with no metrics.
    rt.block_on(async {
        let mut consumer = Consumer::new(config(cluster.bootstrap(), "telemetry-none"))
            .await
            .unwrap();
        consumer.subscribe([topic.as_str()]).unwrap();
        consume(&mut consumer, 20).await;
        consumer.close().await;
    });
    assert_eq!(
        read_pushes(&dump).len(),
        0,
        "nothing pushed without a subscription"
    );

    let client = rt
        .block_on(Client::connect(ClientConfig::new(cluster.bootstrap()).unwrap()))
        .unwrap();
    rt.block_on(subscribe_client_metrics(&client));

    let _runtime = rt.enter();
    let started = Instant::now();
    let mut consumer = rt
        .block_on(Consumer::new(config(cluster.bootstrap(), "telemetry-pushed")))
        .unwrap();
    consumer.subscribe([topic.as_str()]).unwrap();
    // 14 of 20 records: both partitions keep some lag.
    rt.block_on(consume(&mut consumer, 14));
    let stats = consumer.statistics();
    assert!(stats.partitions.iter().any(|p| p.lag > Some(0)), "{stats:?}");
    // Positions move only in poll: from here on the statistics stay as they are, so the push after
    // the next one (the next may have been under way) carries exactly these values.
    let seen = read_pushes(&dump).len();
    let first = wait_for_pushes(
        &dump,
        1,
        Duration::from_millis(INTERVAL_MS * 3 / 2) + Duration::from_secs(5),
    );
    eprintln!("first push {:?} after the consumer started", started.elapsed());
    let pushes = wait_for_pushes(&dump, seen + 2, Duration::from_secs(10));
    let latest = pushes.last().unwrap();
    assert!(!latest.terminating);
    assert_eq!(latest.interval_ms, INTERVAL_MS);
    check_against(&pushes, &consumer.statistics());
    assert_eq!(consumer.statistics().records_consumed, stats.records_consumed);

    let instance_id = consumer.client_instance_id();
    rt.block_on(consumer.close());
    let pushes = read_pushes(&dump);
    let last = pushes.last().unwrap();
    assert!(
        last.terminating,
        "closing pushes with terminating=true: {last:#?}"
    );
    assert_eq!(pushes.iter().filter(|p| p.terminating).count(), 1);
    assert_eq!(counter_total(&pushes, CONSUMED), stats.records_consumed as f64);
    assert!(
        pushes.iter().all(|p| p.instance == first[0].instance),
        "one client instance id"
    );
    assert_eq!(
        instance_id.as_deref(),
        Some(first[0].instance.as_str()),
        "Consumer::client_instance_id is the id the broker saw"
    );
    assert_ne!(
        first[0].instance, "AAAAAAAAAAAAAAAAAAAAAA",
        "the broker assigned an id"
    );
    let _ = std::fs::remove_dir_all(&dump_dir);
}

#[test]
fn without_a_telemetry_reporter_the_broker_offers_no_push_and_the_consumer_runs_as_usual() {
    common::init_tracing();
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let topic = cluster.unique_topic("no-telemetry");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    common::produce(&cluster, &topic, 2, 10, "v");
    let rt = common::runtime();
    rt.block_on(async {
        let client = Client::connect(ClientConfig::new(cluster.bootstrap()).unwrap())
            .await
            .unwrap();
        let conn = client.any_connection().await.unwrap();
        assert!(
            conn.versions().range(GET_TELEMETRY_SUBSCRIPTIONS).is_none(),
            "Kafka {} offers GetTelemetrySubscriptions without a reporter",
            cluster.version()
        );
        let mut consumer = Consumer::new(config(cluster.bootstrap(), "no-telemetry"))
            .await
            .unwrap();
        assert!(consumer.config().enable_metrics_push, "on by default, as in Java");
        consumer.subscribe([topic.as_str()]).unwrap();
        consume(&mut consumer, 20).await;
        assert_eq!(consumer.statistics().records_consumed, 20);
        assert_eq!(consumer.client_instance_id(), None, "no broker assigned one");
        consumer.close().await;
    });
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "kafkaroo-telemetry-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
