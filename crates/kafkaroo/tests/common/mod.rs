//! Helpers shared by the consumer-group integration tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use kafkaroo::{AutoOffsetReset, ConsumerConfig};
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};

#[cfg(feature = "schema-registry")]
pub mod registry;

/// Tracing to the test output (`RUST_LOG`), once per process.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A two-worker runtime: the group and fetch tasks run beside the test's own.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A group member's configuration with short timeouts, so faults show within seconds.
pub fn group_config(bootstrap: &str, group: &str, session_ms: u32, auto_commit: bool) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .group_id(group)
        .set("session.timeout.ms", &session_ms.to_string())
        .unwrap()
        .set("heartbeat.interval.ms", "500")
        .unwrap()
        .set("enable.auto.commit", if auto_commit { "true" } else { "false" })
        .unwrap()
        .set("auto.commit.interval.ms", "500")
        .unwrap()
        .build()
        .unwrap()
}

/// `per_partition` records into each of `partitions`, values `{tag}-{partition}-{i}`.
pub fn produce(cluster: &Cluster, topic: &str, partitions: i32, per_partition: usize, tag: &str) {
    for p in 0..partitions {
        let records = (0..per_partition)
            .map(|i| TestRecord::new(format!("k{i}"), format!("{tag}-{p}-{i}")))
            .collect();
        cluster
            .produce(
                &ProduceRequest::new(topic, records)
                    .partition(p)
                    .producer_config("acks", "all"),
            )
            .unwrap();
    }
}

/// A record's headers as text (keys must be UTF-8; values lossily, null as empty).
pub fn text_headers(r: &kafkaroo::ConsumerRecord) -> Vec<(String, String)> {
    r.headers()
        .map(|h| {
            (
                h.key_str().unwrap().to_owned(),
                String::from_utf8_lossy(h.value().unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}

/// A record read back: value (UTF-8), key, headers as text.
pub type ReadBack = (String, Option<Vec<u8>>, Vec<(String, String)>);

/// Reads partition 0 of `topic` from the beginning until `count` records came (within 20 s), and
/// checks there are no more.
pub async fn read_back(bootstrap: &str, topic: &str, count: usize) -> Vec<ReadBack> {
    read_raw(bootstrap, &[kafkaroo::TopicPartition::new(topic, 0)], count)
        .await
        .into_iter()
        .map(|(_, _, key, value, headers)| (String::from_utf8(value.unwrap()).unwrap(), key, headers))
        .collect()
}

/// A processing failure in the `patterns` tests.
#[derive(Debug)]
pub enum Failure {
    /// Will never succeed.
    Poison(String),
    /// May succeed later.
    Transient(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Poison(v) => write!(f, "cannot parse {v}"),
            Self::Transient(v) => write!(f, "downstream unavailable for {v}"),
        }
    }
}

/// Poison is dead-lettered, transient failures retried.
#[cfg(feature = "producer")]
pub fn classify(f: &Failure) -> kafkaroo::patterns::Verdict {
    match f {
        Failure::Poison(_) => kafkaroo::patterns::Verdict::DeadLetter,
        Failure::Transient(_) => kafkaroo::patterns::Verdict::Retry,
    }
}

/// The partition and index of a `patterns` test value `kind-p<partition>-<index>`.
pub fn place(v: &str) -> (i32, usize) {
    let mut parts = v.split('-').skip(1);
    let p = parts.next().unwrap().trim_start_matches('p').parse().unwrap();
    (p, parts.next().unwrap().parse().unwrap())
}

/// The last value of header `name`.
pub fn header(h: &[(String, String)], name: &str) -> Option<String> {
    h.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Checks the dead letters of a `patterns` test read back from its topic: `count` of them, each once,
/// each a poison (tried once) or hopeless (tried three times) record of `topic` (values
/// `kind-p<partition>-<index>`, keys `k<index>`, a first header `trace: t-1`) with its original headers
/// first, no `kafkaroo.retry.*` ones, and the failure headers naming its place in `topic`.
#[cfg(feature = "producer")]
pub fn check_dead_letters(letters: &[ReadBack], topic: &str, group: &str, count: usize) {
    use kafkaroo::patterns::{headers, retry_headers};
    let mut seen = std::collections::BTreeSet::new();
    for (v, key, h) in letters {
        assert!(seen.insert(v.clone()), "{v} dead-lettered twice");
        let (p, i) = place(v);
        let get = |name: &str| header(h, name);
        let attempts = match v.split('-').next() {
            Some("poison") => "1",
            Some("hopeless") => "3",
            _ => panic!("{v} dead-lettered"),
        };
        assert_eq!(
            h[0],
            ("trace".to_owned(), "t-1".to_owned()),
            "original header first: {h:?}"
        );
        assert!(
            h.iter().all(|(k, _)| !k.starts_with(retry_headers::PREFIX)),
            "no retry headers in a dead letter: {h:?}"
        );
        assert_eq!(key.as_deref(), Some(format!("k{i}").as_bytes()));
        assert_eq!(get(headers::ORIGINAL_TOPIC).as_deref(), Some(topic), "{v}");
        assert_eq!(get(headers::ORIGINAL_PARTITION), Some(p.to_string()), "{v}");
        assert_eq!(get(headers::ORIGINAL_OFFSET), Some(i.to_string()), "{v}");
        assert_eq!(get(headers::CONSUMER_GROUP).as_deref(), Some(group));
        assert!(
            get(headers::ERROR_CLASS).is_some_and(|c| c.ends_with("Failure")),
            "{h:?}"
        );
        assert_eq!(get(headers::ATTEMPTS).as_deref(), Some(attempts), "{v}");
        let message = get(headers::ERROR_MESSAGE).unwrap();
        assert!(message.contains(v.as_str()), "{message}");
    }
    assert_eq!(seen.len(), count);
}

/// Polls and runs `process` through `handling` (committing after each batch) until `processed` records
/// were processed and `dead` dead-lettered, and none waits for a retry; fails after `within`.
#[cfg(feature = "producer")]
pub async fn handle_until<E, C>(
    handling: &mut kafkaroo::patterns::FailureHandling<C>,
    consumer: &mut kafkaroo::Consumer,
    (processed, dead): (usize, usize),
    within: Duration,
    mut process: impl AsyncFnMut(&kafkaroo::ConsumerRecord) -> Result<(), E>,
) where
    E: std::fmt::Display,
    C: kafkaroo::patterns::Classify<E>,
{
    let (mut done, mut dead_lettered) = (0, 0);
    let deadline = tokio::time::Instant::now() + within;
    while done < processed || dead_lettered < dead || handling.waiting() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "processed {done}/{processed}, dead {dead_lettered}/{dead}"
        );
        handling.resume_due(consumer).unwrap();
        let batch = consumer.poll(Duration::from_millis(50)).await.unwrap();
        let handled = handling.handle(consumer, &batch, &mut process).await.unwrap();
        done += handled.processed;
        dead_lettered += handled.dead_lettered;
        consumer.commit_stored().await.unwrap();
    }
}

/// A record read back whole: topic, partition, key, value, headers as text.
pub type Raw = (
    String,
    i32,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Vec<(String, String)>,
);

/// Reads `partitions` from the beginning until `count` records came (within 20 s), and checks there
/// are no more.
pub async fn read_raw(bootstrap: &str, partitions: &[kafkaroo::TopicPartition], count: usize) -> Vec<Raw> {
    let config = ConsumerConfig::builder()
        .bootstrap_servers(bootstrap)
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .build()
        .unwrap();
    let mut reader = kafkaroo::Consumer::new(config).await.unwrap();
    reader.assign(partitions.iter().cloned()).unwrap();
    let mut records = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while records.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} records of {count} in {partitions:?}",
            records.len()
        );
        for r in reader.poll(Duration::from_millis(100)).await.unwrap().iter() {
            records.push((
                r.topic().to_owned(),
                r.partition(),
                r.key().map(<[u8]>::to_vec),
                r.value().map(<[u8]>::to_vec),
                text_headers(r),
            ));
        }
    }
    for tp in partitions {
        assert_eq!(
            reader.lag(tp),
            Some(0),
            "more than {count} records in {partitions:?}"
        );
    }
    reader.close().await;
    records
}

/// Checks the group committed `offset` for partitions `0..partitions` of `topic`.
pub async fn assert_committed(consumer: &kafkaroo::Consumer, topic: &str, partitions: i32, offset: i64) {
    let parts: Vec<kafkaroo::TopicPartition> = (0..partitions)
        .map(|p| kafkaroo::TopicPartition::new(topic, p))
        .collect();
    let committed = consumer.committed(&parts).await.unwrap();
    for tp in &parts {
        assert_eq!(
            committed[tp].as_ref().map(|o| o.offset),
            Some(offset),
            "{tp} committed"
        );
    }
}
