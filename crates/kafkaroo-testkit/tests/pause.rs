//! Pause and resume (issue 10, defect 4), against the fake cluster:
//! - a paused partition keeps what was fetched: nothing of it is handed out while paused, and after
//!   `resume` it comes from the buffer, exactly once, without being fetched again (before: pausing
//!   dropped the buffered data and `resume` fetched the same offsets again); only when the memory
//!   budget is spent on it does it give way, so that it cannot stop the other partitions;
//! - a rebalance listener pauses, seeks, reads positions and commits through its `RebalanceContext`:
//!   partitions assigned while the application has paused everything are paused in `on_assigned`, so
//!   none of their records is fetched or returned until the application resumes them (before: the
//!   listener had no way to, and the partitions were not in the consumer until their committed
//!   offsets arrived).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Delivered, WAIT, produce, tp};
use kafkaroo::{
    Consumer, ConsumerConfigBuilder, ConsumerRecord, Error, MemberState, OffsetAndMetadata, PendingCommit,
    RebalanceContext, RebalanceListener, TopicPartition,
};
use kafkaroo_testkit::{Action, ApiKey, Cluster, RequestInfo};
use tokio::time::Instant;

const GROUP: &str = "pause";

async fn cluster(partitions: i32) -> Cluster {
    common::tracing();
    Cluster::builder()
        .brokers(1)
        .topic("t", partitions)
        .build()
        .await
        .expect("cluster starts")
}

/// The fetch offsets Fetch requests asked for `tp`, in order (a partition a fetch session holds
/// unchanged is not listed again). Topics sent by id (Fetch v13+) are taken as `tp`'s: these clusters
/// have one topic.
fn fetch_offsets(cluster: &Cluster, tp: &TopicPartition) -> Vec<i64> {
    cluster
        .requests()
        .into_iter()
        .filter_map(|r| {
            let f = r.request.as_fetch()?.clone();
            Some(
                f.topics
                    .iter()
                    .filter(|t| t.topic.0.as_str() == tp.topic || !t.topic_id.is_nil())
                    .flat_map(|t| t.partitions.iter())
                    .filter(|p| p.partition == tp.partition)
                    .map(|p| p.fetch_offset)
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// Nothing of `tp` was fetched again between its first fetch (at `first`) and `end`, the end of what
/// that first fetch returned.
fn fetched_once(cluster: &Cluster, tp: &TopicPartition, first: i64, end: i64) {
    let offsets = fetch_offsets(cluster, tp);
    assert!(
        offsets.iter().all(|o| *o == first || *o >= end),
        "{tp} fetched again at offsets already buffered ({first}..{end}): fetch offsets {offsets:?}"
    );
    assert_eq!(
        offsets.iter().filter(|o| **o == first).count(),
        1,
        "{tp} fetched at {first} once: {offsets:?}"
    );
}

#[tokio::test]
async fn a_paused_partition_keeps_its_buffered_records_and_resumes_from_them() {
    let cluster = cluster(1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 100); // one batch: one fetch returns it all
    let mut c = common::consumer(
        common::config(&cluster).max_poll_records(10),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;
    d.assert_exact(&t0, 0..10);

    c.pause(std::slice::from_ref(&t0)).unwrap();
    assert_eq!(c.paused(), vec![t0.clone()]);
    // No event: the only partition is paused, so the consumer sends no Fetch; polls must not hand out its buffer.
    d.poll_quiet(&mut c, Duration::from_millis(300)).await;
    assert_eq!(d.count(&t0), 10, "nothing of a paused partition is returned");
    assert_eq!(c.position(&t0).await.unwrap(), 10);

    c.resume(std::slice::from_ref(&t0)).unwrap();
    d.poll_count(&mut c, &t0, 100).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_exact(&t0, 0..100);
    d.assert_no_errors();
    fetched_once(&cluster, &t0, 0, 100);
    c.close().await;
}

#[tokio::test]
async fn records_recv_took_out_are_held_back_while_paused_and_come_first_after_resume() {
    let cluster = cluster(1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 100);
    let mut c = common::consumer(
        common::config(&cluster).max_poll_records(10),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut got: Vec<ConsumerRecord> = Vec::new();
    for _ in 0..5 {
        got.push(tokio::time::timeout(WAIT, c.recv()).await.unwrap().unwrap());
    }
    // recv took a poll batch of 10: the application has seen 5.
    c.pause(std::slice::from_ref(&t0)).unwrap();
    assert_eq!(c.position(&t0).await.unwrap(), 5);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), c.recv())
            .await
            .is_err(),
        "recv returned a record of a paused partition"
    );
    c.resume(std::slice::from_ref(&t0)).unwrap();
    while got.len() < 100 {
        got.push(tokio::time::timeout(WAIT, c.recv()).await.unwrap().unwrap());
    }
    let offsets: Vec<i64> = got.iter().map(ConsumerRecord::offset).collect();
    assert_eq!(offsets, (0..100).collect::<Vec<_>>());
    fetched_once(&cluster, &t0, 0, 100);
    c.close().await;
}

/// A seek while paused drops what was kept: the partition restarts from the seek after `resume`.
#[tokio::test]
async fn a_seek_while_paused_drops_the_kept_records() {
    let cluster = cluster(1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 100);
    let mut c = common::consumer(
        common::config(&cluster).max_poll_records(10),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;
    c.pause(std::slice::from_ref(&t0)).unwrap();
    c.seek(&t0, 50).unwrap();
    // No event: the only partition is paused, so the consumer sends no Fetch; polls must not hand out its buffer.
    d.poll_quiet(&mut c, Duration::from_millis(200)).await;
    assert_eq!(d.count(&t0), 10);
    c.resume(std::slice::from_ref(&t0)).unwrap();
    d.poll_count(&mut c, &t0, 60).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_exact(&t0, (0..10).chain(50..100));
    c.close().await;
}

/// Data kept for a paused partition must not stop the others while it stays paused: with the memory
/// budget spent on it and nothing else to free, it is dropped, the other partition goes on, and after
/// `resume` the paused one is fetched again from its position, nothing skipped or repeated.
#[tokio::test]
async fn data_kept_for_a_paused_partition_gives_way_when_the_memory_budget_is_spent() {
    let cluster = cluster(2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 100);
    produce(&cluster, "t", 1, 10);
    // The smallest budget: while any response is held, no fetch fits.
    let config = common::config(&cluster)
        .max_poll_records(10)
        .memory_budget_bytes(64 * 1024);
    let mut c = common::consumer(config, &[t0.clone(), t1.clone()]).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "records of t-0", |d| d.count(&t0) >= 10)
        .await;
    c.pause(std::slice::from_ref(&t0)).unwrap();
    let kept = d.count(&t0);
    assert!(kept < 100, "t-0 still has buffered records");

    produce(&cluster, "t", 1, 10);
    d.poll_count(&mut c, &t1, 20).await;
    assert_eq!(d.count(&t0), kept, "nothing of the paused partition");

    c.resume(std::slice::from_ref(&t0)).unwrap();
    d.poll_count(&mut c, &t0, 100).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0, &t1]).await;
    d.assert_exact(&t0, 0..100);
    d.assert_exact(&t1, 0..20);
    d.assert_no_errors();
    c.close().await;
}

// ----- the listener's context -----

/// What the listener saw and did.
#[derive(Clone, Default)]
struct Seen {
    /// Per `on_assigned`: the partitions, what `pause` answered, what was paused then, and the
    /// positions it read.
    assigned: Arc<Mutex<Vec<Assigned>>>,
    /// Per `on_revoked`: the partitions and the positions it read and committed.
    revoked: Arc<Mutex<Vec<Revoked>>>,
    commits: Arc<Mutex<Vec<PendingCommit>>>,
}

/// The revoked partitions and their positions as `on_revoked` read them.
type Revoked = (Vec<TopicPartition>, Vec<Option<i64>>);

#[derive(Debug)]
struct Assigned {
    partitions: Vec<TopicPartition>,
    action: Result<(), Error>,
    paused: Vec<TopicPartition>,
    positions: Vec<Option<i64>>,
}

/// The application's listener: while the application has paused consumption (`paused_all`), the
/// partitions it gets are paused too; `seek_to` seeks a newly assigned partition instead; on
/// revocation it commits the positions it reads.
struct Listener {
    paused_all: Arc<AtomicBool>,
    seek_to: Option<(TopicPartition, i64)>,
    seen: Seen,
}

impl RebalanceListener for Listener {
    fn on_assigned_with(&mut self, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        if partitions.is_empty() {
            return;
        }
        let action = match &self.seek_to {
            Some((tp, offset)) if partitions.contains(tp) => ctx.seek(tp, *offset),
            _ if self.paused_all.load(Ordering::SeqCst) => ctx.pause(partitions),
            _ => Ok(()),
        };
        let positions = partitions.iter().map(|tp| ctx.position(tp).unwrap()).collect();
        self.seen.assigned.lock().unwrap().push(Assigned {
            partitions: partitions.to_vec(),
            action,
            paused: ctx.paused(),
            positions,
        });
    }

    fn on_revoked_with(&mut self, ctx: &mut RebalanceContext<'_>, partitions: &[TopicPartition]) {
        if partitions.is_empty() {
            return;
        }
        let positions: Vec<Option<i64>> = partitions.iter().map(|tp| ctx.position(tp).unwrap()).collect();
        let offsets = partitions
            .iter()
            .zip(&positions)
            .filter_map(|(tp, p)| Some((tp.clone(), OffsetAndMetadata::new((*p)?))))
            .collect();
        self.seen.commits.lock().unwrap().push(
            ctx.commit(Some(offsets))
                .expect("a commit of the revoked partitions"),
        );
        self.seen
            .revoked
            .lock()
            .unwrap()
            .push((partitions.to_vec(), positions));
    }
}

fn group_config(cluster: &Cluster) -> ConsumerConfigBuilder {
    common::config(cluster)
        .group_id(GROUP)
        .set("session.timeout.ms", "1500")
        .and_then(|b| b.set("heartbeat.interval.ms", "100"))
        .and_then(|b| b.set("enable.auto.commit", "false"))
        .expect("valid properties")
}

async fn member(cluster: &Cluster, listener: Listener) -> Consumer {
    let mut c = Consumer::new(group_config(cluster).build().unwrap())
        .await
        .expect("connect");
    c.subscribe_with_listener(["t"], listener).unwrap();
    c
}

/// Holds OffsetFetch answers back for a while, so that `on_assigned` runs before the committed
/// offsets are known (as it may whenever the coordinator is slow).
fn slow_offset_fetch(cluster: &Cluster) {
    cluster.control(|req: &RequestInfo<'_>| {
        if req.api_key() == ApiKey::OffsetFetch {
            Action::handle().after(Duration::from_millis(300))
        } else {
            Action::pass()
        }
    });
}

fn stable_with(c: &Consumer, n: usize) -> bool {
    c.group_state().is_some_and(|s| s.state == MemberState::Stable) && c.assignment().len() == n
}

/// Whether any Fetch request listed a partition of `t`.
fn fetched_any(cluster: &Cluster) -> bool {
    cluster
        .requests()
        .iter()
        .filter_map(|r| r.request.as_fetch())
        .any(|f| f.topics.iter().any(|t| !t.partitions.is_empty()))
}

#[tokio::test]
async fn partitions_assigned_while_paused_are_paused_by_the_listener_until_resumed() {
    let cluster = cluster(2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 10);
    produce(&cluster, "t", 1, 10);
    cluster.commit_offset(GROUP, "t", 0, 3);
    slow_offset_fetch(&cluster);

    // The application paused consumption (its worker queue is full) before any partition came.
    let paused_all = Arc::new(AtomicBool::new(true));
    let seen = Seen::default();
    let listener = Listener {
        paused_all: paused_all.clone(),
        seek_to: None,
        seen: seen.clone(),
    };
    let mut c = member(&cluster, listener).await;
    let mut d = Delivered::default();
    let deadline = Instant::now() + WAIT;
    while !(stable_with(&c, 2) && cluster.request_count(ApiKey::OffsetFetch) > 0) {
        assert!(Instant::now() < deadline, "never assigned");
        d.poll_once(&mut c, Duration::from_millis(20)).await;
    }
    // Past the OffsetFetch delay: the partitions know where they start (waited for), and stay paused.
    assert_eq!(c.position(&t0).await.unwrap(), 3, "the committed offset");
    assert_eq!(c.position(&t1).await.unwrap(), 0, "auto.offset.reset=earliest");
    // No event for "still not fetched": every assigned partition is paused, so the consumer sends no Fetch.
    d.poll_quiet(&mut c, Duration::from_millis(200)).await;

    {
        let assigned = seen.assigned.lock().unwrap();
        assert_eq!(assigned.len(), 1, "one assignment: {assigned:?}");
        let a = &assigned[0];
        assert_eq!(a.partitions, vec![t0.clone(), t1.clone()]);
        assert!(a.action.is_ok(), "pause in on_assigned: {:?}", a.action);
        assert_eq!(a.paused, vec![t0.clone(), t1.clone()]);
        assert_eq!(
            a.positions,
            vec![None, None],
            "not known before the committed offsets"
        );
    }
    assert_eq!(c.paused(), vec![t0.clone(), t1.clone()]);
    assert!(
        d.records.is_empty(),
        "records of paused partitions: {:?}",
        d.records
    );
    assert!(!fetched_any(&cluster), "a paused partition was fetched");

    // The workers caught up: the application resumes everything it has.
    paused_all.store(false, Ordering::SeqCst);
    let all = c.paused();
    c.resume(&all).unwrap();
    d.poll_until(&mut c, "both partitions", |d| {
        d.count(&t0) >= 7 && d.count(&t1) >= 10
    })
    .await;
    d.poll_settled_for(&mut c, &cluster, &[&t0, &t1]).await;
    d.assert_exact(&t0, 3..10);
    d.assert_exact(&t1, 0..10);
    d.assert_no_errors();
    c.close().await;
}

#[tokio::test]
async fn a_seek_in_on_assigned_overrides_the_committed_offset() {
    let cluster = cluster(1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    cluster.commit_offset(GROUP, "t", 0, 3);
    slow_offset_fetch(&cluster);
    let seen = Seen::default();
    let listener = Listener {
        paused_all: Arc::new(AtomicBool::new(false)),
        seek_to: Some((t0.clone(), 6)),
        seen: seen.clone(),
    };
    let mut c = member(&cluster, listener).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 4).await;
    // No event marks the late OffsetFetch answer (held 300 ms) that must not undo the seek: a window past it.
    d.poll_quiet(&mut c, Duration::from_millis(500)).await;
    d.assert_exact(&t0, 6..10);
    {
        let assigned = seen.assigned.lock().unwrap();
        assert!(
            assigned[0].action.is_ok(),
            "seek in on_assigned: {:?}",
            assigned[0].action
        );
        assert_eq!(assigned[0].positions, vec![Some(6)]);
    }
    c.close().await;
}

#[tokio::test]
async fn on_revoked_reads_positions_and_commits_through_its_context() {
    let cluster = cluster(2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 8);
    let seen = Seen::default();
    let listener = || Listener {
        paused_all: Arc::new(AtomicBool::new(false)),
        seek_to: None,
        seen: seen.clone(),
    };
    let mut a = member(&cluster, listener()).await;
    let mut d = Delivered::default();
    d.poll_until(&mut a, "every record", |d| d.count(&t0) >= 5 && d.count(&t1) >= 8)
        .await;

    // b joins: one partition moves (cooperative-sticky); a commits it in on_revoked.
    let mut b = member(&cluster, listener()).await;
    let deadline = Instant::now() + WAIT;
    while !(stable_with(&a, 1) && stable_with(&b, 1)) {
        assert!(Instant::now() < deadline, "the rebalance did not finish");
        a.poll(Duration::from_millis(20)).await.unwrap();
        b.poll(Duration::from_millis(20)).await.unwrap();
    }
    let revoked = seen.revoked.lock().unwrap().clone();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let (moved, positions) = &revoked[0];
    assert_eq!(moved.len(), 1);
    let end = if moved[0] == t0 { 5 } else { 8 };
    assert_eq!(
        positions,
        &vec![Some(end)],
        "the position of the revoked partition"
    );
    let commit = seen
        .commits
        .lock()
        .unwrap()
        .pop()
        .expect("committed in on_revoked");
    tokio::time::timeout(WAIT, commit).await.unwrap().unwrap();
    assert_eq!(cluster.committed(GROUP, "t", moved[0].partition), Some(end));
    a.close().await;
    b.close().await;
}
