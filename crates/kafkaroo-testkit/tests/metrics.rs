//! The consumer's metrics (issue 10, defect 3), read through `metrics-util`'s `DebuggingRecorder`
//! installed for each test alone (`metrics::with_local_recorder` around a current-thread runtime, so
//! the consumer's tasks and the fake cluster run on the test's thread and nothing moves between two
//! reads that no `.await` separates):
//! - the lag gauge follows the position as `poll` hands records out (before: it changed only when a
//!   fetch response arrived, so a caught-up partition kept the lag of its last response), and reads 0
//!   once the partition leaves the assignment or the consumer closes (before: its last value, for ever);
//! - the memory gauge is what `Consumer::memory_used` returns, fetches in flight included (before: the
//!   bytes held when the last response arrived);
//! - every failed commit counts, labelled with why: refused before it was sent (`not_owned`),
//!   answered with an error, and those of an `assign`ed consumer with a `group.id` (before: only
//!   answers of a subscribed member counted).

mod common;

use std::time::Duration;

use common::recorder::{has_labels, histogram, partition_labels, with_recorder};
use common::{Delivered, WAIT, produce, tp};
use kafkaroo::{Consumer, Error, MemberState, OffsetAndMetadata, TopicPartition};
use kafkaroo_testkit::{ApiKey, Cluster};
use kafkaroo_wire::ErrorCode;
use metrics_util::MetricKind;
use tokio::time::Instant;

const MEMORY: &str = "messaging.kafka.consumer.memory.used";
const COMMIT_FAILURES: &str = "messaging.kafka.consumer.commit.failures";
const REBALANCES: &str = "messaging.kafka.consumer.rebalances";
const REBALANCE_DURATION: &str = "messaging.kafka.consumer.rebalance.duration";
const ASSIGNED: &str = "messaging.kafka.consumer.assigned.partitions";
const COMMIT_DURATION: &str = "messaging.kafka.consumer.commit.duration";

async fn cluster(partitions: i32) -> Cluster {
    Cluster::builder()
        .brokers(1)
        .topic("t", partitions)
        .build()
        .await
        .expect("cluster starts")
}

#[test]
fn the_lag_gauge_follows_the_position_and_reads_zero_once_the_partition_is_gone() {
    with_recorder(|m| async move {
        let cluster = cluster(2).await;
        let (t0, t1) = (tp("t", 0), tp("t", 1));
        produce(&cluster, "t", 0, 100);
        produce(&cluster, "t", 1, 50);
        let config = common::config(&cluster).client_id("lag").max_poll_records(10);
        let mut c = common::consumer(config, &[t0.clone(), t1.clone()]).await;
        let mut d = Delivered::default();

        // Part of each partition handed out: the gauges say what is left, as `lag()` does.
        d.poll_until(&mut c, "some records of each", |d| {
            d.count(&t0) >= 10 && d.count(&t1) >= 10
        })
        .await;
        for (tp, end) in [(&t0, 100), (&t1, 50)] {
            let left = end - d.count(tp) as i64;
            assert_eq!(c.lag(tp), Some(left), "{tp}");
            assert_eq!(m.lag("lag", tp), Some(left as f64), "lag gauge of {tp}");
        }

        // t-1 leaves the assignment: its gauge reads 0.
        c.assign([t0.clone()]).unwrap();
        assert_eq!(
            m.lag("lag", &t1),
            Some(0.0),
            "lag gauge of an unassigned partition"
        );

        // t-0 caught up: 0, although the last fetch response reported 100 to go.
        d.poll_count(&mut c, &t0, 100).await;
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        assert_eq!(c.lag(&t0), Some(0));
        assert_eq!(m.lag("lag", &t0), Some(0.0), "lag gauge of a caught-up partition");

        // New records are fetched (not polled): the lag grows with the high watermark...
        produce(&cluster, "t", 0, 5);
        let deadline = Instant::now() + WAIT;
        while c.watermarks(&t0).map(|w| w.high) != Some(105) {
            assert!(Instant::now() < deadline, "the new records were never fetched");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(m.lag("lag", &t0), Some(5.0));
        // ... and the consumer closes: 0.
        c.close().await;
        assert_eq!(m.lag("lag", &t0), Some(0.0), "lag gauge after close");
        d.assert_exact(&t0, 0..100);
    });
}

#[test]
fn the_memory_gauge_is_what_memory_used_returns() {
    with_recorder(|m| async move {
        let cluster = cluster(1).await;
        let t0 = tp("t", 0);
        produce(&cluster, "t", 0, 100);
        let config = common::config(&cluster)
            .client_id("memory")
            .max_poll_records(10)
            .fetch_max_wait(Duration::from_millis(500));
        let mut c = common::consumer(config, std::slice::from_ref(&t0)).await;
        let gauge = || m.gauge(MEMORY, &[("messaging.client.id", "memory")]);
        let check = |c: &Consumer, when: &str| {
            assert_eq!(gauge(), Some(c.memory_used() as f64), "memory gauge {when}");
        };
        check(&c, "at the start");

        let mut d = Delivered::default();
        let batch = c.poll(WAIT).await.unwrap();
        assert_eq!(batch.len(), 10);
        check(&c, "with records buffered and held");
        drop(batch);
        d.poll_count(&mut c, &t0, 90).await;
        d.assert_exact(&t0, 10..100);
        check(&c, "after the last record");

        // Caught up, records dropped: what is held is the reservation of the fetch waiting at the
        // broker (long poll), megabytes, not the bytes of the last response.
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        d.assert_exact(&t0, 10..100);
        assert!(
            c.memory_used() > 1 << 20,
            "a fetch in flight holds its reservation: {}",
            c.memory_used()
        );
        check(&c, "with a fetch in flight");
        c.close().await;
    });
}

#[test]
fn every_failed_commit_counts_with_its_reason() {
    with_recorder(|m| async move {
        let cluster = cluster(1).await;
        let t0 = tp("t", 0);
        produce(&cluster, "t", 0, 5);
        let failures = |client: &str, error: &str| {
            m.counter(
                COMMIT_FAILURES,
                &[("messaging.client.id", client), ("error.type", error)],
            )
        };

        // A subscribed member.
        let config = common::config(&cluster)
            .client_id("member")
            .group_id("g")
            .set("enable.auto.commit", "false")
            .and_then(|b| b.set("heartbeat.interval.ms", "100"))
            .unwrap();
        let mut c = Consumer::new(config.build().unwrap()).await.unwrap();
        c.subscribe(["t"]).unwrap();
        let mut d = Delivered::default();
        d.poll_until(&mut c, "assigned and consumed", |d| d.count(&t0) >= 5)
            .await;
        let deadline = Instant::now() + WAIT;
        while c.group_state().map(|s| s.state) != Some(MemberState::Stable) {
            assert!(Instant::now() < deadline, "never stable");
            c.poll(Duration::from_millis(20)).await.unwrap();
        }

        // Refused before it is sent: a partition this member does not own.
        let not_mine = vec![(tp("t", 7), OffsetAndMetadata::new(1))];
        for _ in 0..3 {
            let e = c.commit_sync(Some(not_mine.clone())).await.unwrap_err();
            assert!(matches!(e, Error::NotOwned { .. }), "{e}");
        }
        assert_eq!(failures("member", "not_owned"), 3, "refused commits");

        // Answered with an error.
        cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::OFFSET_METADATA_TOO_LARGE, 1);
        let e = c.commit_sync(None).await.unwrap_err();
        assert!(matches!(e, Error::Commit { .. }), "{e}");
        assert_eq!(failures("member", "OFFSET_METADATA_TOO_LARGE"), 1);
        c.commit_sync(None).await.expect("the next commit succeeds");
        assert_eq!(
            m.counter(COMMIT_FAILURES, &[("messaging.client.id", "member")]),
            4
        );
        c.close().await;

        // An assigned consumer with a group.id commits to the group too.
        let config = common::config(&cluster).client_id("solo").group_id("solo");
        let mut s = common::consumer(config, std::slice::from_ref(&t0)).await;
        cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::OFFSET_METADATA_TOO_LARGE, 1);
        let e = s
            .commit_sync(Some(vec![(t0.clone(), OffsetAndMetadata::new(1))]))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Commit { .. }), "{e}");
        assert_eq!(failures("solo", "OFFSET_METADATA_TOO_LARGE"), 1);
        s.close().await;
    });
}

#[test]
fn a_member_reports_its_rebalances_assigned_partitions_and_commit_latency() {
    with_recorder(|m| async move {
        let cluster = cluster(3).await;
        for p in 0..3 {
            produce(&cluster, "t", p, 2);
        }
        let config = common::config(&cluster)
            .client_id("member-metrics")
            .group_id("member-metrics")
            .set("enable.auto.commit", "false")
            .unwrap();
        let mut c = Consumer::new(config.build().unwrap()).await.unwrap();
        c.subscribe(["t"]).unwrap();
        let mut got = Delivered::default();
        got.poll_until(&mut c, "every record", |d| {
            (0..3).all(|p| d.count(&tp("t", p)) == 2)
        })
        .await;
        c.commit_sync(None).await.unwrap();

        // Histograms first: every read takes their samples out (counters and gauges are put back).
        let all = m.read();
        let client = [("messaging.client.id", "member-metrics")];
        assert_eq!(m.counter(REBALANCES, &client), 1);
        assert_eq!(m.gauge(ASSIGNED, &client), Some(3.0));
        let state = |s: &str| {
            let labels = [("messaging.client.id", "member-metrics"), ("state", s)];
            m.gauge("messaging.kafka.consumer.member.state", &labels)
        };
        assert_eq!((state("Stable"), state("Joining")), (Some(1.0), Some(0.0)));
        assert_eq!(
            m.gauge("messaging.kafka.consumer.member.generation", &client),
            Some(f64::from(c.group_state().unwrap().generation))
        );
        let rebalance = histogram(&all, REBALANCE_DURATION, "member-metrics");
        assert_eq!(rebalance.len(), 1, "one rebalance: {rebalance:?}");
        assert!(
            rebalance[0] > 0.0 && rebalance[0] < WAIT.as_secs_f64(),
            "{rebalance:?}"
        );
        let commits = histogram(&all, COMMIT_DURATION, "member-metrics");
        assert_eq!(commits.len(), 1, "one OffsetCommit request: {commits:?}");

        c.close().await;
        assert_eq!(
            m.gauge(ASSIGNED, &client),
            Some(0.0),
            "nothing assigned after leaving"
        );
        assert_eq!((state("Stable"), state("Unjoined")), (Some(0.0), Some(1.0)));
        assert_eq!(m.counter(REBALANCES, &client), 1);
    });
}

#[test]
fn partitions_count_what_poll_hands_out_and_how_old_it_was_and_connections_are_counted() {
    with_recorder(|m| async move {
        let cluster = cluster(2).await;
        produce(&cluster, "t", 0, 30);
        produce(&cluster, "t", 1, 12);
        let (t0, t1) = (tp("t", 0), tp("t", 1));
        let config = common::config(&cluster)
            .client_id("partitions")
            .max_poll_records(7);
        let mut c = common::consumer(config, &[t0.clone(), t1.clone()]).await;
        // What the application got: records, key and value bytes, and the last timestamp, per partition.
        let mut got: std::collections::BTreeMap<TopicPartition, (u64, u64, i64)> = Default::default();
        let deadline = Instant::now() + WAIT;
        while got.get(&t0).map(|g| g.0) != Some(30) || got.get(&t1).map(|g| g.0) != Some(12) {
            assert!(Instant::now() < deadline, "not every record arrived: {got:?}");
            let batch = c.poll(Duration::from_millis(50)).await.unwrap();
            for (tp, records) in batch.partitions() {
                let entry = got.entry(tp.clone()).or_default();
                for r in records {
                    entry.0 += 1;
                    entry.1 += (r.key().map_or(0, <[u8]>::len) + r.value().map_or(0, <[u8]>::len)) as u64;
                    entry.2 = r.timestamp();
                }
            }
        }
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        for (tp, (records, bytes, last_ts)) in &got {
            let p = tp.partition.to_string();
            let labels = partition_labels("partitions", &tp.topic, &p);
            assert_eq!(
                m.counter("messaging.kafka.consumer.partition.consumed.messages", &labels),
                *records,
                "{tp}"
            );
            assert_eq!(
                m.counter("messaging.kafka.consumer.partition.consumed.bytes", &labels),
                *bytes,
                "{tp}"
            );
            let fetched = m.counter("messaging.kafka.consumer.partition.fetched.bytes", &labels);
            assert!(
                fetched > *bytes,
                "{tp}: batches carry more than keys and values: {fetched}"
            );
            // Caught up now, so the gauge went back to 0; the age it showed is checked below.
            assert_eq!(m.lag("partitions", tp), Some(0.0), "{tp}");
            let age = (now_ms - last_ts) as f64 / 1000.0;
            assert!(
                age >= 0.0,
                "{tp}: record timestamps come from the past: {last_ts}"
            );
        }
        assert_eq!(
            m.counter(
                "messaging.client.consumed.messages",
                &[("messaging.client.id", "partitions")]
            ),
            42
        );

        // Records left behind a poll: the gauge shows the age of the last one handed out (the fake
        // broker stamps records with a fixed time in the past), until the partition is caught up.
        produce(&cluster, "t", 0, 20);
        let labels = partition_labels("partitions", "t", "0");
        let mut aged = None;
        let deadline = Instant::now() + WAIT;
        while aged.is_none() {
            assert!(Instant::now() < deadline, "the new records never arrived");
            let batch = c.poll(Duration::from_millis(50)).await.unwrap();
            if let Some((_, records)) = batch.partitions().find(|(tp, _)| **tp == t0) {
                let ts = records.last().unwrap().timestamp();
                assert!(c.lag(&t0).unwrap() > 0, "max.poll.records 7 leaves some of 20");
                let gauge = m.gauge("messaging.kafka.consumer.lag.seconds", &labels);
                aged = Some((ts, gauge.expect("the lag in seconds of t-0")));
            }
        }
        let (ts, gauge) = aged.unwrap();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        let expected = (now_ms - ts) as f64 / 1000.0;
        assert!(
            gauge > 0.0 && gauge <= expected && expected - gauge < 5.0,
            "lag.seconds {gauge}, the record was {expected} s old when checked"
        );
        let mut d = Delivered::default();
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        assert_eq!(c.lag(&t0), Some(0));
        assert_eq!(
            m.gauge("messaging.kafka.consumer.lag.seconds", &labels),
            Some(0.0),
            "caught up: nothing waits"
        );

        // Connections: open while the consumer runs, with request latencies per API; none after close.
        let client = [("messaging.client.id", "partitions")];
        assert!(m.counter("messaging.kafka.connection.opened", &client) >= 1);
        let open = m.gauge(
            "messaging.kafka.connection.count",
            &[("messaging.client.id", "partitions")],
        );
        assert!(open.is_some_and(|n| n >= 1.0), "open connections: {open:?}");
        let all = m.read();
        let fetches: Vec<_> = all
            .iter()
            .filter(|(k, _)| {
                k.kind() == MetricKind::Histogram
                    && k.key().name() == "messaging.kafka.request.duration"
                    && has_labels(
                        k.key(),
                        &[
                            ("messaging.client.id", "partitions"),
                            ("messaging.kafka.api", "Fetch"),
                        ],
                    )
            })
            .collect();
        assert_eq!(
            fetches.len(),
            1,
            "one Fetch latency series per broker: {fetches:?}"
        );
        c.close().await;
        let deadline = Instant::now() + WAIT;
        loop {
            let opened = m.counter("messaging.kafka.connection.opened", &client);
            let closed = m.counter("messaging.kafka.connection.closed", &client);
            let open = m.gauge("messaging.kafka.connection.count", &client);
            if opened == closed && open == Some(0.0) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "after close: opened {opened}, closed {closed}, open {open:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

#[test]
fn fetches_that_wait_for_the_memory_budget_are_counted_with_how_long_they_waited() {
    with_recorder(|m| async move {
        let cluster = cluster(2).await;
        for p in 0..2 {
            cluster.produce("t", p, vec![vec![b'x'; 16 * 1024]; 3]).unwrap();
        }
        // The smallest budget: one partition's buffered records keep the other's next fetch waiting.
        let config = common::config(&cluster)
            .client_id("budget")
            .max_poll_records(1)
            .memory_budget_bytes(64 * 1024)
            .set("max.partition.fetch.bytes", "65536")
            .unwrap();
        let mut c = common::consumer(config, &[tp("t", 0), tp("t", 1)]).await;
        let mut d = Delivered::default();
        d.poll_until(&mut c, "every record", |d| {
            d.count(&tp("t", 0)) == 3 && d.count(&tp("t", 1)) == 3
        })
        .await;
        d.poll_settled_for(&mut c, &cluster, &[&tp("t", 0), &tp("t", 1)])
            .await;
        let all = m.read();
        let client = [("messaging.client.id", "budget")];
        let waits = m.counter("messaging.kafka.consumer.memory.waits", &client);
        let durations = histogram(&all, "messaging.kafka.consumer.memory.wait.duration", "budget");
        assert!(waits >= 1, "no fetch waited for the budget");
        assert_eq!(
            durations.len() as u64,
            waits,
            "one duration per wait: {durations:?}"
        );
        assert!(
            durations.iter().all(|s| *s >= 0.0 && *s < WAIT.as_secs_f64()),
            "{durations:?}"
        );
        c.close().await;
    });
}
