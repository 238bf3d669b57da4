//! The consumer's metrics of issue 12 ("See what the consumer does"), read through a recorder of each
//! test's own (`common::recorder`):
//! - rebalances counted by `cause`: a second member joining is `coordinator_requested` for the first
//!   member and `joining` for the second, with the eager (`range`) and cooperative assignors and with
//!   `group.protocol=consumer`;
//! - the pause of each partition a rebalance moved, one sample at its first fetch: `gained` for a
//!   partition new to the member, `retained` for one an eager rebalance revoked and gave back, none for
//!   a partition a cooperative rebalance left in place;
//! - the bytes buffered per partition: the fetched batches' bytes, lowered batch by batch as `poll`
//!   hands them out, 0 once drained, on a seek and once the partition is unassigned;
//! - the lag from the committed offset: high watermark − committed offset, from the offset fetched on
//!   assignment, after a commit, and after the watermark moved; 0 once the partition is gone.
//! - a cooperative rebalance that takes two of a paused member's four partitions: the two it gave up read
//!   0 buffered bytes and 0 committed lag, the two it kept still read what was fetched and not committed.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::recorder::{Metrics, histogram_with, partition_labels, with_recorder};
use common::{Delivered, WAIT, produce, tp};
use kafkaroo::{Consumer, ConsumerConfigBuilder, MemberState, OffsetAndMetadata};
use kafkaroo_records::test_encoder::{TestBatch, TestRecord};
use kafkaroo_testkit::Cluster;
use tokio::time::Instant;

const REBALANCES: &str = "messaging.kafka.consumer.rebalances";
const PAUSE: &str = "messaging.kafka.consumer.partition.pause.duration";
const BUFFERED: &str = "messaging.kafka.consumer.partition.buffered.bytes";
const FETCHED: &str = "messaging.kafka.consumer.partition.fetched.bytes";
const COMMITTED_LAG: &str = "messaging.kafka.consumer.committed.lag";

async fn cluster(partitions: i32, consumer_protocol: bool) -> Cluster {
    Cluster::builder()
        .brokers(1)
        .topic("t", partitions)
        .consumer_protocol(consumer_protocol)
        .build()
        .await
        .expect("cluster starts")
}

/// A group member with quick heartbeats and manual commits; `assignor` for the classic protocol,
/// `None` for `group.protocol=consumer`.
fn member(cluster: &Cluster, client: &str, assignor: Option<&str>) -> ConsumerConfigBuilder {
    let config = common::config(cluster)
        .client_id(client)
        .group_id("g")
        .set("heartbeat.interval.ms", "100")
        .and_then(|b| b.set("session.timeout.ms", "3000"))
        .and_then(|b| b.set("enable.auto.commit", "false"));
    match assignor {
        Some(a) => config.and_then(|b| b.set("partition.assignment.strategy", a)),
        None => config.and_then(|b| b.set("group.protocol", "consumer")),
    }
    .expect("valid properties")
}

/// Pause samples per client and `assignment` label, gathered over reads (each read takes them out).
#[derive(Default)]
struct Pauses(BTreeMap<(String, &'static str), Vec<f64>>);

impl Pauses {
    fn gather(&mut self, m: &Metrics, clients: &[&str]) {
        let all = m.read();
        for client in clients {
            for kind in ["gained", "retained"] {
                let labels = [("messaging.client.id", *client), ("assignment", kind)];
                let labelled = histogram_with(&all, PAUSE, &labels);
                self.0
                    .entry(((*client).to_owned(), kind))
                    .or_default()
                    .extend(labelled);
            }
        }
    }

    fn take(&mut self, client: &str, kind: &'static str) -> Vec<f64> {
        self.0.remove(&(client.to_owned(), kind)).unwrap_or_default()
    }
}

fn stable_with(c: &Consumer, n: usize) -> bool {
    c.group_state().is_some_and(|s| s.state == MemberState::Stable) && c.assignment().len() == n
}

/// Polls every consumer until each one is stable with its number of partitions, then until each one
/// delivered a record produced to each of its partitions after that (so each partition's first fetch
/// after the rebalance went out), then a little longer.
async fn settle(
    cluster: &Cluster,
    consumers: &mut [(&mut Consumer, usize)],
    m: &Metrics,
    pauses: &mut Pauses,
    clients: &[&str],
) {
    let mut got: Vec<Delivered> = consumers.iter().map(|_| Delivered::default()).collect();
    let deadline = Instant::now() + WAIT;
    let mut produced = false;
    loop {
        let stable = consumers.iter().all(|(c, n)| stable_with(c, *n));
        if stable && !produced {
            for p in 0..4 {
                produce(cluster, "t", p, 1);
            }
            got.iter_mut().for_each(|d| *d = Delivered::default());
            produced = true;
        }
        let done = consumers
            .iter()
            .zip(&got)
            .all(|((c, _), d)| c.assignment().iter().all(|tp| d.count(tp) > 0));
        if stable && produced && done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {:?}",
            consumers
                .iter()
                .map(|(c, _)| (c.group_state(), c.assignment()))
                .collect::<Vec<_>>()
        );
        for ((c, _), d) in consumers.iter_mut().zip(&mut got) {
            d.poll_once(c, Duration::from_millis(10)).await;
        }
        pauses.gather(m, clients);
    }
    // Nothing more comes: one sample per partition, not one per fetch.
    let quiet = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet {
        for ((c, _), d) in consumers.iter_mut().zip(&mut got) {
            d.poll_once(c, Duration::from_millis(10)).await;
        }
    }
    pauses.gather(m, clients);
}

fn rebalances(m: &Metrics, client: &str, cause: &str) -> u64 {
    m.counter(REBALANCES, &[("messaging.client.id", client), ("cause", cause)])
}

fn assert_positive(samples: &[f64], n: usize, what: &str) {
    assert_eq!(samples.len(), n, "{what}: {samples:?}");
    assert!(
        samples.iter().all(|s| *s > 0.0 && *s < WAIT.as_secs_f64()),
        "{what}: {samples:?}"
    );
}

/// A joins alone, then B joins: causes and pauses of both, with `assignor` (`None`: KIP-848).
/// Returns A's retained samples of the second rebalance.
async fn second_member_joins(m: &Metrics, assignor: Option<&str>) -> (Vec<f64>, Vec<f64>) {
    let cluster = cluster(4, assignor.is_none()).await;
    for p in 0..4 {
        produce(&cluster, "t", p, 3);
    }
    let mut pauses = Pauses::default();
    let mut a = Consumer::new(member(&cluster, "a", assignor).build().unwrap())
        .await
        .unwrap();
    a.subscribe(["t"]).unwrap();
    settle(&cluster, &mut [(&mut a, 4)], m, &mut pauses, &["a"]).await;
    assert_eq!(rebalances(m, "a", "joining"), 1);
    assert_eq!(m.counter(REBALANCES, &[("messaging.client.id", "a")]), 1);
    // From subscribe to each partition's first fetch: all four are new to A.
    assert_positive(&pauses.take("a", "gained"), 4, "a joining alone");
    assert_eq!(pauses.take("a", "retained"), Vec::<f64>::new());

    let mut b = Consumer::new(member(&cluster, "b", assignor).build().unwrap())
        .await
        .unwrap();
    b.subscribe(["t"]).unwrap();
    settle(
        &cluster,
        &mut [(&mut a, 2), (&mut b, 2)],
        m,
        &mut pauses,
        &["a", "b"],
    )
    .await;
    // A learned of the rebalance from the coordinator; B started it by joining.
    assert_eq!(rebalances(m, "a", "joining"), 1);
    assert_eq!(rebalances(m, "a", "coordinator_requested"), 1);
    assert_eq!(m.counter(REBALANCES, &[("messaging.client.id", "a")]), 2);
    assert_eq!(rebalances(m, "b", "joining"), 1);
    assert_positive(&pauses.take("b", "gained"), 2, "b's partitions");
    assert_eq!(pauses.take("b", "retained"), Vec::<f64>::new());
    assert_eq!(pauses.take("a", "gained"), Vec::<f64>::new(), "a gained nothing");
    let a_retained = pauses.take("a", "retained");
    let b_total = m.counter(REBALANCES, &[("messaging.client.id", "b")]);
    a.close().await;
    b.close().await;
    (a_retained, vec![b_total as f64])
}

#[test]
fn eager_rebalances_count_their_cause_and_the_pause_of_every_partition() {
    with_recorder(|m| async move {
        let (a_retained, b_total) = second_member_joins(&m, Some("range")).await;
        // Eager: A stopped all four, got two back.
        assert_positive(&a_retained, 2, "a's partitions kept through an eager rebalance");
        assert_eq!(b_total, [1.0], "one rebalance for b");
    });
}

#[test]
fn cooperative_rebalances_record_no_pause_for_partitions_that_never_stopped() {
    with_recorder(|m| async move {
        let (a_retained, b_total) = second_member_joins(&m, Some("cooperative-sticky")).await;
        assert_eq!(
            a_retained,
            Vec::<f64>::new(),
            "a kept two partitions without stopping"
        );
        // B's first round gives it nothing (KIP-429); the second, which A's revocation asks for,
        // gives it the two partitions.
        assert_eq!(b_total, [2.0]);
        assert_eq!(rebalances(&m, "b", "coordinator_requested"), 1);
    });
}

#[test]
fn consumer_protocol_rebalances_count_their_cause() {
    with_recorder(|m| async move {
        let (a_retained, _) = second_member_joins(&m, None).await;
        assert_eq!(a_retained, Vec::<f64>::new(), "KIP-848 revokes only what moves");
    });
}

/// Appends `batches` batches of `records` records to `t-partition`; returns each batch's size in bytes.
fn append(cluster: &Cluster, partition: i32, batches: usize, records: usize) -> Vec<u64> {
    (0..batches)
        .map(|_| {
            let (_, end) = cluster.offsets("t", partition).unwrap();
            let values: Vec<Vec<u8>> = (end..end + records as i64)
                .map(|o| common::value(partition, o))
                .collect();
            let batch = TestBatch::new(
                0,
                values
                    .iter()
                    .enumerate()
                    .map(|(i, v)| TestRecord::new(i as i32, None, Some(v)))
                    .collect(),
            );
            let mut bytes = Vec::new();
            batch.encode_into(&mut bytes);
            cluster.append("t", partition, batch).unwrap();
            bytes.len() as u64
        })
        .collect()
}

#[test]
fn buffered_bytes_are_the_batches_not_handed_out_yet() {
    with_recorder(|m| async move {
        let cluster = cluster(2, false).await;
        let sizes = append(&cluster, 0, 4, 10);
        let sizes1 = append(&cluster, 1, 2, 10);
        let (t0, t1) = (tp("t", 0), tp("t", 1));
        let config = common::config(&cluster)
            .client_id("buffered")
            .max_poll_records(10);
        let mut c = common::consumer(config, &[t0.clone(), t1.clone()]).await;
        let labels = |p: &'static str| partition_labels("buffered", "t", p);
        let buffered = |p| m.gauge(BUFFERED, &labels(p));

        // Fetched, nothing polled yet: every batch is buffered.
        let deadline = Instant::now() + WAIT;
        while m.counter(FETCHED, &labels("0")) == 0 || m.counter(FETCHED, &labels("1")) == 0 {
            assert!(Instant::now() < deadline, "never fetched");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let total: u64 = sizes.iter().sum();
        assert_eq!(
            m.counter(FETCHED, &labels("0")),
            total,
            "one fetch of four batches"
        );
        assert_eq!(buffered("0"), Some(total as f64));
        assert_eq!(buffered("1"), Some((sizes1[0] + sizes1[1]) as f64));

        // A seek drops what t-1 buffered; fetched again from offset 10, its second batch is buffered.
        c.seek(&t1, 10).unwrap();
        assert_eq!(buffered("1"), Some(0.0), "seek");
        while buffered("1") == Some(0.0) {
            assert!(Instant::now() < deadline, "t-1 never fetched again");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(buffered("1"), Some(sizes1[1] as f64));
        // t-1 leaves the assignment with data buffered: 0.
        c.assign([t0.clone()]).unwrap();
        assert_eq!(buffered("1"), Some(0.0), "unassigned");

        // Each poll hands out one batch of t-0 (max.poll.records 10): the gauge drops by its size.
        let mut d = Delivered::default();
        for handed in 1..=4 {
            while d.count(&t0) < handed * 10 {
                assert!(Instant::now() < deadline, "t-0 stalled at {}", d.count(&t0));
                d.poll_once(&mut c, Duration::from_millis(20)).await;
            }
            assert_eq!(d.count(&t0), handed * 10, "one batch per poll");
            let left: u64 = sizes[handed..].iter().sum();
            assert_eq!(buffered("0"), Some(left as f64), "after {handed} batches");
        }
        d.assert_exact(&t0, 0..40);
        assert_eq!(buffered("0"), Some(0.0), "drained");
        c.close().await;
    });
}

#[test]
fn committed_lag_is_the_high_watermark_minus_the_committed_offset() {
    with_recorder(|m| async move {
        let cluster = cluster(1, false).await;
        let t0 = tp("t", 0);
        produce(&cluster, "t", 0, 10);
        let committed_lag = |client| m.gauge(COMMITTED_LAG, &partition_labels(client, "t", "0"));

        // An assigned consumer commits 3 for the group: 10 - 3 once it knows the watermark.
        let config = common::config(&cluster)
            .client_id("solo")
            .group_id("g")
            .set("enable.auto.commit", "false")
            .unwrap();
        let mut solo = common::consumer(config, std::slice::from_ref(&t0)).await;
        let mut d = Delivered::default();
        d.poll_count(&mut solo, &t0, 10).await;
        assert_eq!(committed_lag("solo"), None, "nothing committed yet");
        solo.commit_sync(Some(vec![(t0.clone(), OffsetAndMetadata::new(3))]))
            .await
            .unwrap();
        assert_eq!(committed_lag("solo"), Some(7.0));
        solo.close().await;
        assert_eq!(committed_lag("solo"), Some(0.0), "closed");

        // A member starts from the committed 3: 7 from the offset fetched on assignment...
        let mut c = Consumer::new(member(&cluster, "member", Some("range")).build().unwrap())
            .await
            .unwrap();
        c.subscribe(["t"]).unwrap();
        let mut d = Delivered::default();
        d.poll_count(&mut c, &t0, 7).await;
        d.assert_exact(&t0, 3..10);
        assert_eq!(c.lag(&t0), Some(0));
        assert_eq!(committed_lag("member"), Some(7.0));
        // ... 0 after committing everything...
        c.commit_sync(None).await.unwrap();
        assert_eq!(committed_lag("member"), Some(0.0));
        // ... and 5 once five more records are fetched, not yet committed.
        produce(&cluster, "t", 0, 5);
        let deadline = Instant::now() + WAIT;
        while c.watermarks(&t0).map(|w| w.high) != Some(15) {
            assert!(Instant::now() < deadline, "the new records were never fetched");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(committed_lag("member"), Some(5.0));
        c.close().await;
        assert_eq!(committed_lag("member"), Some(0.0), "gone with the partition");
    });
}

#[test]
fn a_revoked_partition_reads_zero_buffered_bytes_and_committed_lag_and_a_kept_one_keeps_them() {
    with_recorder(|m| async move {
        let cluster = cluster(4, false).await;
        let mut pauses = Pauses::default();
        let mut a = Consumer::new(member(&cluster, "a", Some("cooperative-sticky")).build().unwrap())
            .await
            .unwrap();
        a.subscribe(["t"]).unwrap();
        settle(&cluster, &mut [(&mut a, 4)], &m, &mut pauses, &["a"]).await;
        a.commit_sync(None).await.unwrap();
        let all: Vec<_> = (0..4).map(|p| tp("t", p)).collect();
        let names = ["0", "1", "2", "3"];
        let labels = |p: &'static str| partition_labels("a", "t", p);
        for p in names {
            assert_eq!(m.gauge(COMMITTED_LAG, &labels(p)), Some(0.0), "t-{p} committed");
            assert_eq!(m.gauge(BUFFERED, &labels(p)), Some(0.0), "t-{p} drained");
        }

        // Three more records each, fetched but not polled, then A pauses everything: they stay buffered.
        let fetched_before: Vec<u64> = names.iter().map(|p| m.counter(FETCHED, &labels(p))).collect();
        for p in 0..4 {
            produce(&cluster, "t", p, 3);
        }
        let deadline = Instant::now() + WAIT;
        while names
            .iter()
            .any(|p| m.gauge(COMMITTED_LAG, &labels(p)) != Some(3.0))
        {
            assert!(Instant::now() < deadline, "the new records were never fetched");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        a.pause(&all).unwrap();
        let buffered: Vec<f64> = names
            .iter()
            .zip(&fetched_before)
            .map(|(p, before)| {
                let fetched = m.counter(FETCHED, &labels(p)) - before;
                assert!(fetched > 0, "t-{p} fetched");
                assert_eq!(
                    m.gauge(BUFFERED, &labels(p)),
                    Some(fetched as f64),
                    "t-{p} buffered"
                );
                fetched as f64
            })
            .collect();

        // B joins; A gives two partitions up with their data buffered and keeps two, still paused.
        let mut b = Consumer::new(member(&cluster, "b", Some("cooperative-sticky")).build().unwrap())
            .await
            .unwrap();
        b.subscribe(["t"]).unwrap();
        let (mut da, mut db) = (Delivered::default(), Delivered::default());
        while !(stable_with(&a, 2) && stable_with(&b, 2)) {
            assert!(
                Instant::now() < deadline,
                "not settled: {:?}",
                (a.group_state(), b.group_state())
            );
            da.poll_once(&mut a, Duration::from_millis(10)).await;
            db.poll_once(&mut b, Duration::from_millis(10)).await;
        }
        assert!(all.iter().all(|tp| da.count(tp) == 0), "a is paused");
        let kept = a.assignment();
        for (p, (tp, bytes)) in all.iter().zip(&buffered).enumerate() {
            let p = names[p];
            if kept.contains(tp) {
                assert_eq!(m.gauge(BUFFERED, &labels(p)), Some(*bytes), "kept t-{p}");
                assert_eq!(m.gauge(COMMITTED_LAG, &labels(p)), Some(3.0), "kept t-{p}");
            } else {
                assert_eq!(m.gauge(BUFFERED, &labels(p)), Some(0.0), "revoked t-{p}");
                assert_eq!(m.gauge(COMMITTED_LAG, &labels(p)), Some(0.0), "revoked t-{p}");
            }
        }
        assert_eq!(kept.len(), 2);
        a.close().await;
        b.close().await;
    });
}
