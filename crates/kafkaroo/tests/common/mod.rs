//! Helpers shared by the consumer-group integration tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use kafkaroo::{AutoOffsetReset, ConsumerConfig};
use kafkaroo_testcontainers::{Cluster, ProduceRequest, TestRecord};

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
