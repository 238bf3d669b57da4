//! `kafkaroo group lag` against the in-process cluster, where the test controls record timestamps and
//! committed offsets: lag in records from the committed offset, lag in seconds from the timestamp of the
//! first record not consumed, 0 s for a caught-up partition, and `--count` refreshes.

mod common;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use common::run;
use kafkaroo_testkit::{Cluster, TestBatch, TestRecord};
use serde_json::Value;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// `n` records on `partition` whose timestamps are `age_ms` in the past.
fn append_aged(cluster: &Cluster, partition: i32, n: usize, age_ms: i64) {
    let records = (0..n)
        .map(|i| TestRecord::new(i as i32, None, Some(format!("v{i}").as_bytes())))
        .collect();
    let mut batch = TestBatch::new(0, records);
    batch.base_timestamp = now_ms() - age_ms;
    cluster.append("orders", partition, batch).unwrap();
}

#[test]
fn lag_in_records_and_seconds_per_partition() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let cluster = runtime
        .block_on(Cluster::builder().topic("orders", 3).build())
        .unwrap();
    append_aged(&cluster, 0, 10, 3_600_000);
    append_aged(&cluster, 1, 5, 60_000);
    cluster.commit_offset("g", "orders", 0, 4);
    cluster.commit_offset("g", "orders", 1, 5);
    let b = cluster.bootstrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_kafkaroo"));

    let r = run(bin, &["group", "lag", "g", "-b", &b, "--json"]);
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    let doc: Value = serde_json::from_str(r.text().trim()).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    let rows = doc["partitions"].as_array().unwrap();
    let row = |p: i64| {
        rows.iter()
            .find(|r| r["partition"] == p)
            .unwrap_or_else(|| panic!("no row for partition {p}: {doc}"))
    };
    assert_eq!(
        (row(0)["committed"].as_i64(), row(0)["log_end"].as_i64()),
        (Some(4), Some(10))
    );
    assert_eq!(row(0)["lag"], 6);
    let seconds = row(0)["lag_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("no lag_seconds: {doc}"));
    assert!(
        (3599.0..3700.0).contains(&seconds),
        "partition 0's oldest record is an hour old: {seconds}"
    );
    assert_eq!(row(1)["lag"], 0);
    assert_eq!(
        row(1)["lag_seconds"],
        0.0,
        "a caught-up partition has no lag in seconds"
    );
    assert!(
        rows.iter().all(|r| r["partition"] != 2),
        "partition 2 has neither commit nor owner: {doc}"
    );

    // Two plain tables, one refresh apart.
    let r = run(
        bin,
        &[
            "group",
            "lag",
            "g",
            "-b",
            &b,
            "--count",
            "2",
            "--interval",
            "200ms",
        ],
    );
    assert_eq!(r.status, Some(0), "{}", r.stderr);
    let text = r.text();
    assert_eq!(text.matches("GROUP g at ").count(), 2, "{text}");
    assert!(
        text.contains("LAG-SECONDS") && text.contains("MEMBER TOTALS"),
        "{text}"
    );
    drop(cluster);
}
