//! The example programs of `examples/` (one per consumer pattern), each run as a child process against
//! a real broker, with assertions on what it processed (its output file), what it logged (stderr) and
//! what the group committed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use kafkaroo::ConsumerConfig;
use kafkaroo::admin::GroupAdmin;
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};

mod common;

const EXAMPLES: [&str; 7] = [
    "commit_after_processing",
    "commit_on_revoke",
    "graceful_shutdown",
    "backpressure_workers",
    "poison_records",
    "lag_monitor",
    "order_service",
];

fn cluster() -> &'static Cluster {
    common::init_tracing();
    Cluster::shared()
}

/// The example's executable, built (all of them, once) with the profile of this test.
fn example_bin(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        // target/<profile>/deps/examples-<hash>
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
        for example in EXAMPLES {
            if example != "order_service" || cfg!(feature = "schema-registry") {
                cmd.args(["--example", example]);
            }
        }
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build --example");
        assert!(status.success(), "building the examples failed: {status}");
        profile_dir.join("examples")
    });
    dir.join(name)
}

/// One run of an example: its output file (processed records) and its stderr.
struct Run {
    name: &'static str,
    child: Child,
    output: PathBuf,
    stderr: PathBuf,
}

impl Run {
    fn start(name: &'static str, tag: &str, topic: &str, group: &str, env: &[(&str, &str)]) -> Self {
        let dir = std::env::temp_dir().join(format!("kafkaroo-examples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let output = dir.join(format!("{group}-{tag}.out"));
        let stderr = dir.join(format!("{group}-{tag}.err"));
        let child = Command::new(example_bin(name))
            .args([topic, group])
            .env("KAFKA_BOOTSTRAP", cluster().bootstrap())
            .env("OUTPUT_FILE", &output)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("starting example {name}: {e}"));
        Self {
            name,
            child,
            output,
            stderr,
        }
    }

    /// `(partition, offset)` of each processed record, in processing order.
    fn processed(&self) -> Vec<(i32, i64)> {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        text.lines()
            .map(|line| {
                let mut fields = line.split(' ');
                let p = fields.next().unwrap().parse().unwrap();
                let o = fields.next().unwrap().parse().unwrap();
                (p, o)
            })
            .collect()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn signal_term(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for the exit (killing the child and failing after `timeout`), and checks it succeeded.
    fn wait_success(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let status: ExitStatus = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not exit within {timeout:?}; stderr:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(
            status.success(),
            "{} exited with {status}; stderr:\n{}",
            self.name,
            self.log()
        );
    }

    /// Waits until at least `n` records were processed.
    fn wait_processed(&mut self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.processed().len() < n {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("{} exited ({status}) early; stderr:\n{}", self.name, self.log());
            }
            assert!(
                Instant::now() < deadline,
                "{} processed {} < {n} records in {timeout:?}; stderr:\n{}",
                self.name,
                self.processed().len(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Kept when the test failed, to look at.
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.output);
            let _ = std::fs::remove_file(&self.stderr);
        }
    }
}

/// Runs `f` with a group admin client (on a runtime of its own).
fn with_admin<T>(f: impl AsyncFnOnce(&GroupAdmin) -> T) -> T {
    let config = ConsumerConfig::from_properties([("bootstrap.servers", cluster().bootstrap())]).unwrap();
    common::runtime().block_on(async {
        let admin = GroupAdmin::connect(&config).await.unwrap();
        f(&admin).await
    })
}

/// The group's committed offset per partition number.
fn committed(group: &str) -> BTreeMap<i32, i64> {
    with_admin(async |admin| admin.committed_offsets(group).await.unwrap())
        .into_iter()
        .map(|(tp, o)| (tp.partition, o.offset))
        .collect()
}

/// A new topic with `partitions` partitions of `per_partition` records each, and a new group name.
fn topic_with_records(name: &str, partitions: i32, per_partition: usize) -> (String, String) {
    let cluster = cluster();
    let topic = cluster.unique_topic(name);
    cluster.create_topic(&topic, partitions, 1, &[]).unwrap();
    common::produce(cluster, &topic, partitions, per_partition, "v");
    (topic.clone(), format!("{topic}-group"))
}

/// Offsets per partition of `processed`, in order.
fn by_partition(processed: &[(i32, i64)]) -> BTreeMap<i32, Vec<i64>> {
    let mut map: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for (p, o) in processed {
        map.entry(*p).or_default().push(*o);
    }
    map
}

fn all_offsets(partitions: i32, per_partition: i64) -> BTreeMap<i32, Vec<i64>> {
    (0..partitions)
        .map(|p| (p, (0..per_partition).collect()))
        .collect()
}

#[test]
fn commit_after_processing_processes_everything_and_commits_the_log_end() {
    let (topic, group) = topic_with_records("ex-commit-after", 3, 50);
    let mut run = Run::start(
        "commit_after_processing",
        "a",
        &topic,
        &group,
        &[("IDLE_EXIT_MS", "1500")],
    );
    run.wait_success(Duration::from_secs(40));
    // One clean run of one member: every record exactly once, in order per partition.
    assert_eq!(by_partition(&run.processed()), all_offsets(3, 50), "processed");
    let committed = committed(&group);
    assert_eq!(committed, (0..3).map(|p| (p, 50)).collect(), "committed");
}

#[test]
fn commit_on_revoke_loses_nothing_and_repeats_nothing_when_a_member_joins() {
    let (topic, group) = topic_with_records("ex-revoke", 4, 150);
    // No periodic commit: only the commits in `on_revoked` (on the rebalance and on close) keep the
    // next owner from starting over.
    let env = [
        ("PROCESS_DELAY_MS", "10"),
        ("COMMIT_INTERVAL_MS", "600000"),
        ("IDLE_EXIT_MS", "2500"),
    ];
    let mut a = Run::start("commit_on_revoke", "a", &topic, &group, &env);
    a.wait_processed(100, Duration::from_secs(30));
    let mut b = Run::start("commit_on_revoke", "b", &topic, &group, &env);
    a.wait_success(Duration::from_secs(60));
    b.wait_success(Duration::from_secs(60));

    let (pa, pb) = (a.processed(), b.processed());
    assert!(
        !pb.is_empty(),
        "the second member got partitions mid-stream; a:\n{}\nb:\n{}",
        a.log(),
        b.log()
    );
    let a_revoked = a
        .log()
        .lines()
        .filter(|l| l.starts_with("revoked [") && l != &"revoked []")
        .count();
    assert!(
        a_revoked >= 2,
        "a revoked on the rebalance and on close:\n{}",
        a.log()
    );
    let mut all: Vec<(i32, i64)> = pa.iter().chain(&pb).copied().collect();
    all.sort_unstable();
    let unique: BTreeSet<(i32, i64)> = all.iter().copied().collect();
    assert_eq!(
        unique.len(),
        600,
        "every record processed (lost: {})",
        600 - unique.len()
    );
    assert_eq!(
        all.len(),
        600,
        "no record processed twice: {} duplicates",
        all.len() - 600
    );
    assert_eq!(committed(&group), (0..4).map(|p| (p, 150)).collect(), "committed");
}

#[test]
fn graceful_shutdown_commits_what_it_processed_and_leaves_the_group() {
    let (topic, group) = topic_with_records("ex-shutdown", 2, 200);
    // No periodic commit: what is committed is the shutdown's commit.
    let env = [("PROCESS_DELAY_MS", "10"), ("COMMIT_INTERVAL_MS", "600000")];
    let mut run = Run::start("graceful_shutdown", "a", &topic, &group, &env);
    run.wait_processed(50, Duration::from_secs(30));
    run.signal_term();
    let signalled = Instant::now();
    run.wait_success(Duration::from_secs(15));
    eprintln!("graceful_shutdown exited {:?} after SIGTERM", signalled.elapsed());

    let processed = by_partition(&run.processed());
    let total: usize = processed.values().map(Vec::len).sum();
    assert!(total < 400, "stopped mid-stream ({total} records)");
    let committed = committed(&group);
    for p in 0..2 {
        let offsets = processed.get(&p).cloned().unwrap_or_default();
        let n = offsets.len() as i64;
        assert_eq!(
            offsets,
            (0..n).collect::<Vec<_>>(),
            "partition {p}: each record once, in order"
        );
        // Exactly what was processed: not less (would repeat), not more (would lose).
        assert_eq!(
            committed.get(&p).copied().unwrap_or(0),
            n,
            "partition {p} committed"
        );
    }
    // LeaveGroup: Empty at once (the session timeout, 45 s, has not passed).
    let description = with_admin(async |admin| admin.describe_group(&group).await.unwrap());
    assert_eq!(description.state, "Empty", "{description:?}");
    assert!(description.members.is_empty(), "{description:?}");
    assert!(run.log().contains("signal: shutting down"), "{}", run.log());
}

#[test]
fn backpressure_workers_pause_resume_and_lose_nothing() {
    let (topic, group) = topic_with_records("ex-backpressure", 2, 300);
    let env = [
        ("WORKERS", "2"),
        ("QUEUE_CAPACITY", "8"),
        ("PROCESS_DELAY_MS", "2"),
        ("COMMIT_INTERVAL_MS", "500"),
        ("IDLE_EXIT_MS", "1500"),
    ];
    let mut run = Run::start("backpressure_workers", "a", &topic, &group, &env);
    run.wait_success(Duration::from_secs(60));
    let log = run.log();
    let pauses = log.lines().filter(|l| l.starts_with("pause ")).count();
    let resumes = log.lines().filter(|l| l.starts_with("resume ")).count();
    assert!(
        pauses >= 1 && resumes >= pauses,
        "pauses {pauses}, resumes {resumes}:\n{log}"
    );
    // One member, no rebalance: every record exactly once, each partition in order (one worker each).
    assert_eq!(by_partition(&run.processed()), all_offsets(2, 300), "processed");
    assert_eq!(committed(&group), (0..2).map(|p| (p, 300)).collect(), "committed");
}

#[test]
fn poison_record_is_retried_then_dead_lettered_and_skipped() {
    let cluster = cluster();
    let topic = cluster.unique_topic("ex-poison");
    let group = format!("{topic}-group");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    for p in 0..2 {
        let records = (0..40)
            .map(|i| {
                let value = if p == 0 && i == 15 {
                    "poison-0-15".to_owned()
                } else {
                    format!("v-{p}-{i}")
                };
                TestRecord::new(format!("k{i}"), value)
            })
            .collect();
        cluster
            .produce(&ProduceRequest::new(&topic, records).partition(p))
            .unwrap();
    }
    let env = [
        ("MAX_ATTEMPTS", "3"),
        ("RETRY_BACKOFF_MS", "200"),
        ("IDLE_EXIT_MS", "1500"),
    ];
    let mut run = Run::start("poison_records", "a", &topic, &group, &env);
    run.wait_success(Duration::from_secs(40));
    let log = run.log();
    let failed: Vec<&str> = log.lines().filter(|l| l.starts_with("failed ")).collect();
    assert_eq!(failed.len(), 3, "three attempts:\n{log}");
    for (i, line) in failed.iter().enumerate() {
        assert!(
            line.starts_with(&format!("failed partition 0 offset 15 attempt {}/3", i + 1)),
            "{line}"
        );
    }
    let dead: Vec<&str> = log.lines().filter(|l| l.starts_with("dead-letter ")).collect();
    assert_eq!(dead.len(), 1, "{log}");
    assert!(
        dead[0].starts_with("dead-letter partition 0 offset 15 "),
        "{}",
        dead[0]
    );
    // Everything else exactly once and in order: the records after the poison one were not
    // processed before it was dealt with.
    let mut expected = all_offsets(2, 40);
    expected.get_mut(&0).unwrap().retain(|o| *o != 15);
    assert_eq!(by_partition(&run.processed()), expected, "processed");
    assert_eq!(
        committed(&group),
        (0..2).map(|p| (p, 40)).collect(),
        "committed past it"
    );
}

/// `(partition, lag, committed_lag)` of a report line (`-` as `None`).
fn parse_lag(line: &str) -> Option<(i32, Option<i64>, Option<i64>)> {
    let fields: BTreeMap<&str, &str> = line
        .strip_prefix("lag ")?
        .split(' ')
        .filter_map(|f| f.split_once('='))
        .collect();
    let num = |k: &str| fields.get(k).and_then(|v| v.parse().ok());
    Some((num("partition")? as i32, num("lag"), num("committed_lag")))
}

#[test]
fn lag_monitor_reports_both_lags_reaching_zero() {
    let (topic, group) = topic_with_records("ex-lag", 2, 200);
    let env = [
        ("PROCESS_DELAY_MS", "3"),
        ("LAG_INTERVAL_MS", "200"),
        ("COMMIT_INTERVAL_MS", "300"),
        ("IDLE_EXIT_MS", "1500"),
    ];
    let mut run = Run::start("lag_monitor", "a", &topic, &group, &env);
    run.wait_success(Duration::from_secs(40));
    assert_eq!(by_partition(&run.processed()), all_offsets(2, 200), "processed");
    let log = run.log();
    let reports: Vec<(i32, Option<i64>, Option<i64>)> = log.lines().filter_map(parse_lag).collect();
    assert!(
        reports.iter().any(|r| r.2.is_some_and(|l| l > 0)),
        "a report while behind:\n{log}"
    );
    for p in 0..2 {
        let last = reports.iter().rev().find(|r| r.0 == p);
        assert_eq!(
            last,
            Some(&(p, Some(0), Some(0))),
            "partition {p} caught up:\n{log}"
        );
    }
    assert_eq!(committed(&group), (0..2).map(|p| (p, 200)).collect(), "committed");
}

#[cfg(feature = "schema-registry")]
/// What order `i` of a partition is: every 6th (from 1) has an unknown schema id, every 6th (from 4)
/// is not in the wire format, every 5th (from 2) is a flaky customer's; the rest are good.
fn order_kind(i: i64) -> &'static str {
    match (i % 6, i % 5) {
        (1, _) => "unknown-id",
        (4, _) => "not-framed",
        (_, 2) => "flaky",
        _ => "good",
    }
}

#[cfg(feature = "schema-registry")]
/// Orders `from..to` of each of `partitions` partitions, framed for the registry at `url`.
fn produce_orders(topic: &str, url: &str, partitions: i32, (from, to): (i64, i64)) {
    use common::registry::{Framed, ORDER_AVRO, order, produce_all};
    use kafkaroo::schema::{AvroSerializer, RegistryConfig, SchemaRegistry, frame, topic_value_subject};
    common::runtime().block_on(async {
        let registry =
            SchemaRegistry::new(RegistryConfig::from_properties([("schema.registry.url", url)]).unwrap());
        let serializer = AvroSerializer::new(registry, topic_value_subject(topic), ORDER_AVRO).unwrap();
        let mut records: Vec<Framed> = Vec::new();
        for p in 0..partitions {
            for i in from..to {
                let value = match order_kind(i) {
                    "unknown-id" => frame(4242, b"\x02\x02"),
                    "not-framed" => format!("order {i}").into_bytes(),
                    kind => serializer.serialize(order(i, kind)).await.unwrap(),
                };
                let headers = vec![("source".to_owned(), b"shop".to_vec())];
                records.push((p, format!("order-{i}").into_bytes(), value, headers));
            }
        }
        produce_all(cluster().bootstrap(), topic, &records).await;
    });
}

#[cfg(feature = "schema-registry")]
#[test]
fn order_service_dead_letters_poison_retries_flaky_and_repeats_nothing_after_a_restart() {
    let cluster = cluster();
    let registry = common::registry::Registry::start();
    let topic = cluster.unique_topic("ex-orders");
    let group = format!("{topic}-group");
    let dlt = format!("{topic}.dlt");
    cluster.create_topic(&topic, 2, 1, &[]).unwrap();
    cluster.create_topic(&dlt, 1, 1, &[]).unwrap();
    let env = [
        ("SCHEMA_REGISTRY_URL", registry.url()),
        ("MAX_ATTEMPTS", "4"),
        ("RETRY_BACKOFF_MS", "100"),
        ("IDLE_EXIT_MS", "1500"),
    ];
    // The service's first schema lookup gets a 503: retried, not dead-lettered.
    produce_orders(&topic, registry.url(), 2, (0, 15));
    registry.fail_next_gets(1);
    let mut a = Run::start("order_service", "a", &topic, &group, &env);
    a.wait_success(Duration::from_secs(40));
    // More orders, then a clean restart of the service.
    produce_orders(&topic, registry.url(), 2, (15, 30));
    let mut b = Run::start("order_service", "b", &topic, &group, &env);
    b.wait_success(Duration::from_secs(40));

    // Every good and flaky order processed exactly once, in order, across both runs.
    let mut processed = a.processed();
    processed.extend(b.processed());
    let mut expected = all_offsets(2, 30);
    for offsets in expected.values_mut() {
        offsets.retain(|o| matches!(order_kind(*o), "good" | "flaky"));
    }
    assert_eq!(by_partition(&processed), expected, "processed");
    assert!(
        a.processed().iter().all(|(_, o)| *o < 15) && b.processed().iter().all(|(_, o)| *o >= 15),
        "the restarted service started where the first stopped"
    );
    let flaky = expected
        .values()
        .flatten()
        .filter(|o| order_kind(**o) == "flaky")
        .count();
    let log = format!("{}{}", a.log(), b.log());
    let downstream = log
        .lines()
        .filter(|l| l.starts_with("downstream failure"))
        .count();
    assert_eq!(
        downstream,
        2 * flaky,
        "each flaky order failed twice, then succeeded:\n{log}"
    );
    assert_eq!(
        registry.gets(1),
        3,
        "a 503 and one lookup per run (then the cache)"
    );
    assert_eq!(committed(&group), (0..2).map(|p| (p, 30)).collect(), "committed");

    // Every poison order in the dead-letter topic once, with its headers.
    let poison = 2
        * (0..30)
            .filter(|i| matches!(order_kind(*i), "unknown-id" | "not-framed"))
            .count();
    let letters = common::runtime().block_on(common::read_raw(
        cluster.bootstrap(),
        &[kafkaroo::TopicPartition::new(&dlt, 0)],
        poison,
    ));
    let mut places = BTreeSet::new();
    for (_, _, key, _, h) in &letters {
        use kafkaroo::patterns::headers;
        let get = |name: &str| common::header(h, name).unwrap_or_default();
        let offset: i64 = get(headers::ORIGINAL_OFFSET).parse().unwrap();
        let partition: i32 = get(headers::ORIGINAL_PARTITION).parse().unwrap();
        assert!(
            places.insert((partition, offset)),
            "{partition}/{offset} dead-lettered twice"
        );
        assert_eq!(key.as_deref(), Some(format!("order-{offset}").as_bytes()));
        assert_eq!(
            h[0],
            ("source".to_owned(), "shop".to_owned()),
            "original header first"
        );
        assert_eq!(get(headers::ORIGINAL_TOPIC), topic);
        assert_eq!(get(headers::CONSUMER_GROUP), group);
        assert_eq!(get(headers::ATTEMPTS), "1");
        let message = get(headers::ERROR_MESSAGE);
        let want = match order_kind(offset) {
            "unknown-id" => "schema id 4242 is not registered",
            "not-framed" => "not the magic byte",
            kind => panic!("a {kind} order dead-lettered: {message}"),
        };
        assert!(message.contains(want), "{message}");
    }
}

#[test]
fn examples_are_tested_for_each_pattern() {
    // Keeps EXAMPLES in step with the example files.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for name in EXAMPLES {
        assert!(dir.join(format!("{name}.rs")).is_file(), "{name}");
    }
}
