//! The consumer-group path of the facade (`kafkaroo::Consumer` with `subscribe`) under the group faults
//! of scenarios 1–17 (`docs/faults-and-invariants.md`, as are the invariant numbers), against the fake
//! cluster's group coordinator: the requests are encoded, sent on the Group connection and decoded for
//! real, and the listener callbacks and commits run inside `poll` as in an application.
//!
//! Every test checks what the application observes: the records `poll` returns (offsets and values),
//! the errors it returns (none for retriable faults: invariant 12), the listener's sequence (revoked
//! vs lost), the outcome of commits and what the coordinator ends up holding.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Delivered, Step, WAIT, produce, tp};
use kafkaroo::{
    CommitHandle, Consumer, ConsumerConfigBuilder, Error, MemberState, OffsetAndMetadata, PendingCommit,
    RebalanceListener, TopicPartition,
};
use kafkaroo_testkit::{Action, ApiKey, Cluster, GroupPhase, Request, RequestInfo};
use kafkaroo_wire::ErrorCode;
use tokio::time::Instant;

const GROUP: &str = "g";

async fn cluster(brokers: i32, partitions: i32) -> Cluster {
    common::tracing();
    Cluster::builder()
        .brokers(brokers)
        .topic("t", partitions)
        .build()
        .await
        .expect("cluster starts")
}

/// Quick group timers (session 1.5 s, heartbeat 100 ms), manual commits.
fn config(cluster: &Cluster) -> ConsumerConfigBuilder {
    common::config(cluster)
        .group_id(GROUP)
        .set("session.timeout.ms", "1500")
        .and_then(|b| b.set("heartbeat.interval.ms", "100"))
        .and_then(|b| b.set("max.poll.interval.ms", "5000"))
        .and_then(|b| b.set("request.timeout.ms", "3000"))
        .and_then(|b| b.set("enable.auto.commit", "false"))
        .expect("valid properties")
}

fn is_group_api(api: ApiKey) -> bool {
    matches!(
        api,
        ApiKey::FindCoordinator
            | ApiKey::JoinGroup
            | ApiKey::SyncGroup
            | ApiKey::Heartbeat
            | ApiKey::LeaveGroup
            | ApiKey::OffsetCommit
            | ApiKey::OffsetFetch
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Assigned(Vec<TopicPartition>),
    Revoked(Vec<TopicPartition>),
    Lost(Vec<TopicPartition>),
}

/// The listener's calls, in order.
#[derive(Clone, Default)]
struct Changes(Arc<Mutex<Vec<Change>>>);

impl Changes {
    fn list(&self) -> Vec<Change> {
        self.0.lock().unwrap().clone()
    }

    fn push(&self, c: Change) {
        self.0.lock().unwrap().push(c);
    }

    fn count(&self, f: impl Fn(&Change) -> bool) -> usize {
        self.list().iter().filter(|c| f(c)).count()
    }
}

fn sorted(p: &[TopicPartition]) -> Vec<TopicPartition> {
    let mut v = p.to_vec();
    v.sort();
    v
}

impl RebalanceListener for Changes {
    fn on_assigned(&mut self, partitions: &[TopicPartition]) {
        self.push(Change::Assigned(sorted(partitions)));
    }
    fn on_revoked(&mut self, partitions: &[TopicPartition]) {
        self.push(Change::Revoked(sorted(partitions)));
    }
    fn on_lost(&mut self, partitions: &[TopicPartition]) {
        self.push(Change::Lost(sorted(partitions)));
    }
}

/// A subscribed consumer of topic `t` with a recording listener.
async fn member(config: ConsumerConfigBuilder, changes: &Changes) -> Consumer {
    let mut c = Consumer::new(config.build().expect("valid config"))
        .await
        .expect("consumer connects to the fake cluster");
    c.subscribe_with_listener(["t"], changes.clone())
        .expect("subscribe");
    c
}

/// Polls until `done` holds; panics naming `what` after [`WAIT`].
async fn poll_until(
    c: &mut Consumer,
    d: &mut Delivered,
    what: &str,
    done: impl Fn(&Consumer, &Delivered) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(c, d) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; state {:?}, offsets {:?}, errors {:?}",
            c.group_state(),
            d.records
                .iter()
                .map(|(tp, r)| (tp.to_string(), r.iter().map(|x| x.0).collect::<Vec<_>>()))
                .collect::<Vec<_>>(),
            d.errors
        );
        d.poll_once(c, Duration::from_millis(20)).await;
    }
}

/// Polls two members in turn until `done` holds.
async fn poll_both_until(
    a: (&mut Consumer, &mut Delivered),
    b: (&mut Consumer, &mut Delivered),
    what: &str,
    done: impl Fn(&Consumer, &Consumer) -> bool,
) {
    let deadline = Instant::now() + WAIT;
    while !done(a.0, b.0) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; a {:?} {:?}, b {:?} {:?}",
            a.0.group_state(),
            a.0.assignment(),
            b.0.group_state(),
            b.0.assignment()
        );
        a.1.poll_once(a.0, Duration::from_millis(20)).await;
        b.1.poll_once(b.0, Duration::from_millis(20)).await;
    }
}

fn stable(c: &Consumer) -> bool {
    c.group_state().is_some_and(|s| s.state == MemberState::Stable)
}

fn stable_with(c: &Consumer, n: usize) -> bool {
    stable(c) && c.assignment().len() == n
}

fn member_id(c: &Consumer) -> String {
    c.group_state().expect("subscribed").member_id
}

fn generation(c: &Consumer) -> i32 {
    c.group_state().expect("subscribed").generation
}

fn offsets(list: &[(TopicPartition, i64)]) -> Option<Vec<(TopicPartition, OffsetAndMetadata)>> {
    Some(
        list.iter()
            .map(|(tp, o)| (tp.clone(), OffsetAndMetadata::new(*o)))
            .collect(),
    )
}

/// `tp`'s delivered offsets split where they first go back (a resume from the committed offset after
/// the partition was lost): `(before, after)`.
fn split_at_resume(d: &Delivered, tp: &TopicPartition) -> (Vec<i64>, Vec<i64>) {
    let o = d.offsets(tp);
    let i = o.windows(2).position(|w| w[1] <= w[0]).map_or(o.len(), |i| i + 1);
    (o[..i].to_vec(), o[i..].to_vec())
}

/// The listener's calls when `t0` was lost once (never revoked) and assigned again.
fn lost_once(t0: &TopicPartition) -> Vec<Change> {
    vec![
        Change::Assigned(vec![t0.clone()]),
        Change::Lost(vec![t0.clone()]),
        Change::Assigned(vec![t0.clone()]),
    ]
}

/// `t-0` was lost (not revoked) and assigned again, and delivery went `0..end`, then resumed at the
/// committed offset: `committed..end` (invariant 2).
fn assert_lost_then_resumed(changes: &Changes, d: &Delivered, end: i64, committed: i64) {
    let t0 = tp("t", 0);
    assert_eq!(changes.list(), lost_once(&t0), "lost, not revoked");
    assert_eq!(
        split_at_resume(d, &t0),
        ((0..end).collect(), (committed..end).collect()),
        "resumes at the committed offset"
    );
}

/// A control body for requests of `api` only: `action` decides for them, the others pass.
fn on_api(
    api: ApiKey,
    action: impl Fn() -> Action + Send + 'static,
) -> impl FnMut(&RequestInfo<'_>) -> Action + Send {
    move |req| {
        if req.api_key() == api {
            action()
        } else {
            Action::pass()
        }
    }
}

/// An OffsetFetch answer that misses `t-0`.
fn drop_t0_from_offset_fetch() -> Action {
    Action::edit(|resp| {
        resp.remove_offset_fetch_partition("t", 0);
    })
}

/// Waits for a commit started in the background (bounded so a hang fails the test).
async fn outcome(p: PendingCommit) -> Result<(), Error> {
    tokio::time::timeout(WAIT, p)
        .await
        .expect("the commit's outcome was reported")
}

/// A single consumer of `t-0` that delivered `n` records and is Stable.
async fn stable_single(cluster: &Cluster, n: usize, changes: &Changes) -> (Consumer, Delivered) {
    let t0 = tp("t", 0);
    produce(cluster, "t", 0, n);
    let mut c = member(config(cluster), changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "stable with all records", |c, d| {
        stable_with(c, 1) && d.count(&t0) >= n
    })
    .await;
    (c, d)
}

// ----- 1: coordinator loading -----

/// COORDINATOR_LOAD_IN_PROGRESS on FindCoordinator, JoinGroup, OffsetFetch and OffsetCommit: retried,
/// never returned by `poll` or `commit_sync`; the partition starts where it should.
#[tokio::test]
async fn s01_coordinator_load_in_progress_is_retried_and_never_surfaces() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let load = ErrorCode::COORDINATOR_LOAD_IN_PROGRESS;
    let injected = [ApiKey::FindCoordinator, ApiKey::JoinGroup, ApiKey::OffsetFetch]
        .map(|api| (api, cluster.fail_next(api, load, 2)));
    let changes = Changes::default();
    let mut c = member(config(&cluster), &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "10 records", |c, d| {
        stable(c) && d.count(&t0) >= 10
    })
    .await;
    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
    for (api, id) in injected {
        assert_eq!(
            cluster.fired(id),
            2,
            "{api:?} answered COORDINATOR_LOAD_IN_PROGRESS twice"
        );
    }
    assert_eq!(changes.list(), vec![Change::Assigned(vec![t0.clone()])]);

    let commit = cluster.fail_next(ApiKey::OffsetCommit, load, 2);
    c.commit_sync(None)
        .await
        .expect("commit_sync retries past COORDINATOR_LOAD_IN_PROGRESS");
    assert_eq!(cluster.fired(commit), 2);
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(10));
    c.close().await;
}

// ----- 2: coordinator moved -----

/// The coordinator moves to another broker: the member rediscovers it on NOT_COORDINATOR and goes on in
/// the same session (member id, generation, assignment), and commits reach the new coordinator.
#[tokio::test]
async fn s02_coordinator_moved_member_keeps_its_session() {
    let cluster = cluster(2, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, mut d) = stable_single(&cluster, 5, &changes).await;
    let before = c.group_state().unwrap();
    assert_eq!(before.coordinator, Some(1));

    cluster.move_coordinator(2).unwrap();
    produce(&cluster, "t", 0, 5);
    poll_until(&mut c, &mut d, "heartbeats at the new coordinator", |_, d| {
        d.count(&t0) >= 10 && cluster.request_count_to(2, ApiKey::Heartbeat) >= 2
    })
    .await;
    c.commit_sync(None).await.expect("commit at the new coordinator");

    let after = c.group_state().unwrap();
    assert_eq!(after.coordinator, Some(2));
    assert_eq!(after.member_id, before.member_id, "same member");
    assert_eq!(after.generation, before.generation, "no rebalance");
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(10));
    assert!(cluster.request_count_to(2, ApiKey::OffsetCommit) >= 1);
    assert_eq!(changes.list(), vec![Change::Assigned(vec![t0.clone()])]);
    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
    c.close().await;
}

/// NOT_COORDINATOR / COORDINATOR_NOT_AVAILABLE on Join, Sync, OffsetFetch, Heartbeat and Commit: the
/// coordinator is looked up again and the request retried; nothing reaches the application.
#[tokio::test]
async fn s02_not_coordinator_on_every_group_request_is_retried() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let injected = [
        (ApiKey::JoinGroup, ErrorCode::NOT_COORDINATOR),
        (ApiKey::SyncGroup, ErrorCode::COORDINATOR_NOT_AVAILABLE),
        (ApiKey::OffsetFetch, ErrorCode::NOT_COORDINATOR),
    ]
    .map(|(api, code)| cluster.fail_next(api, code, 1));
    let changes = Changes::default();
    let mut c = member(config(&cluster), &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "10 records", |c, d| {
        stable(c) && d.count(&t0) >= 10
    })
    .await;
    for id in injected {
        assert_eq!(cluster.fired(id), 1);
    }
    let (id, generation) = (member_id(&c), generation(&c));
    let finds = cluster.request_count(ApiKey::FindCoordinator);

    let hb = cluster.fail_next(ApiKey::Heartbeat, ErrorCode::COORDINATOR_NOT_AVAILABLE, 1);
    poll_until(&mut c, &mut d, "the heartbeat fault", |_, _| {
        cluster.fired(hb) == 1
    })
    .await;
    let commit = cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::NOT_COORDINATOR, 1);
    c.commit_sync(None)
        .await
        .expect("commit retried after NOT_COORDINATOR");
    assert_eq!(cluster.fired(commit), 1);
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(10));
    assert!(
        cluster.request_count(ApiKey::FindCoordinator) > finds,
        "the coordinator was looked up again"
    );
    poll_until(&mut c, &mut d, "stable again", |c, _| stable(c)).await;
    assert_eq!(
        (member_id(&c), self::generation(&c)),
        (id, generation),
        "same session"
    );
    assert_eq!(changes.list(), vec![Change::Assigned(vec![t0.clone()])]);
    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
    c.close().await;
}

// ----- 3: coordinator unreachable longer than the session -----

/// The coordinator answers nothing for longer than session.timeout.ms: the member detects the expiry
/// itself, calls on_lost (never on_revoked), refuses to commit, and after the outage rejoins and resumes
/// from the committed offset.
#[tokio::test]
async fn s03_coordinator_unreachable_past_session_loses_partitions() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, mut d) = stable_single(&cluster, 10, &changes).await;
    c.commit_sync(None).await.expect("commit before the outage");
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(10));
    produce(&cluster, "t", 0, 5);
    poll_until(&mut c, &mut d, "uncommitted records", |_, d| d.count(&t0) >= 15).await;

    let outage = Arc::new(AtomicBool::new(true));
    let down = outage.clone();
    cluster.control(move |req| {
        if down.load(Ordering::SeqCst) && is_group_api(req.api_key()) {
            Action::black_hole()
        } else {
            Action::pass()
        }
    });
    poll_until(&mut c, &mut d, "on_lost", |_, _| {
        changes.count(|c| matches!(c, Change::Lost(_))) == 1
    })
    .await;
    let err = c
        .commit_sync(offsets(&[(t0.clone(), 15)]))
        .await
        .expect_err("no commit after the session expired");
    assert!(!matches!(err, Error::Closed), "{err:?}");

    outage.store(false, Ordering::SeqCst);
    poll_until(&mut c, &mut d, "rejoined and resumed", |c, d| {
        stable_with(c, 1) && split_at_resume(d, &t0).1.len() >= 5
    })
    .await;
    assert_lost_then_resumed(&changes, &d, 15, 10);
    assert_eq!(
        cluster.committed(GROUP, "t", 0),
        Some(10),
        "the refused commit never landed"
    );
    d.assert_no_errors();
    c.close().await;
}

// ----- 4: rebalance triggered elsewhere -----

/// REBALANCE_IN_PROGRESS on Heartbeat (cooperative): the member rejoins in a new generation with the
/// same member id, keeps its partition (no revoke, no lost) and keeps delivering without gap or repeat.
#[tokio::test]
async fn s04_rebalance_elsewhere_cooperative_keeps_partitions() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, mut d) = stable_single(&cluster, 10, &changes).await;
    let (id, gen0) = (member_id(&c), generation(&c));

    assert!(cluster.trigger_rebalance(GROUP));
    produce(&cluster, "t", 0, 10);
    poll_until(&mut c, &mut d, "the next generation", |c, d| {
        stable(c) && generation(c) > gen0 && d.count(&t0) >= 20
    })
    .await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;

    assert_eq!(member_id(&c), id);
    assert!(
        !changes
            .list()
            .iter()
            .any(|c| matches!(c, Change::Revoked(_) | Change::Lost(_))),
        "{:?}",
        changes.list()
    );
    d.assert_exact(&t0, 0..20);
    d.assert_no_errors();
    c.close().await;
}

/// The same with an eager assignor: everything is revoked (and committed on revoke with auto-commit),
/// then assigned again; delivery resumes exactly at the committed position.
#[tokio::test]
async fn s04_rebalance_elsewhere_eager_revokes_commits_and_resumes() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let changes = Changes::default();
    let cfg = config(&cluster)
        .set("partition.assignment.strategy", "range")
        .and_then(|b| b.set("enable.auto.commit", "true"))
        .unwrap();
    let mut c = member(cfg, &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "10 records", |c, d| {
        stable(c) && d.count(&t0) >= 10
    })
    .await;
    let gen0 = generation(&c);

    assert!(cluster.trigger_rebalance(GROUP));
    produce(&cluster, "t", 0, 10);
    poll_until(&mut c, &mut d, "the next generation", |c, d| {
        stable(c) && generation(c) > gen0 && d.count(&t0) >= 20
    })
    .await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;

    assert_eq!(
        changes.list()[..3],
        [
            Change::Assigned(vec![t0.clone()]),
            Change::Revoked(vec![t0.clone()]),
            Change::Assigned(vec![t0.clone()]),
        ]
    );
    assert!(
        cluster.committed(GROUP, "t", 0) >= Some(10),
        "committed on revoke"
    );
    d.assert_exact(&t0, 0..20);
    d.assert_no_errors();
    c.close().await;
}

// ----- 5: commit during a rebalance -----

/// REBALANCE_IN_PROGRESS on OffsetCommit: commit_sync fails (no blind retry, nothing committed), the
/// member rejoins; after a real rebalance that moves a partition away, a commit covers only the
/// partitions still owned.
#[tokio::test]
async fn s05_commit_rebalance_in_progress_fails_then_recommits_owned_only() {
    let cluster = cluster(1, 2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 10);
    produce(&cluster, "t", 1, 10);
    let (ca, cb) = (Changes::default(), Changes::default());
    let mut a = member(config(&cluster), &ca).await;
    let mut da = Delivered::default();
    poll_until(&mut a, &mut da, "20 records", |c, d| {
        stable_with(c, 2) && d.count(&t0) + d.count(&t1) >= 20
    })
    .await;
    let fault = cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::REBALANCE_IN_PROGRESS, 1);
    let err = a
        .commit_sync(None)
        .await
        .expect_err("REBALANCE_IN_PROGRESS fails the commit");
    assert!(!matches!(err, Error::Closed), "{err:?}");
    assert_eq!(cluster.fired(fault), 1);
    assert_eq!(
        cluster.request_count(ApiKey::OffsetCommit),
        1,
        "not blindly retried"
    );
    assert_eq!(cluster.committed(GROUP, "t", 0), None);

    let mut b = member(config(&cluster), &cb).await;
    let mut db = Delivered::default();
    poll_both_until((&mut a, &mut da), (&mut b, &mut db), "a 1/1 split", |a, b| {
        stable_with(a, 1) && stable_with(b, 1)
    })
    .await;
    let owned = a.assignment()[0].clone();
    let moved = if owned == t0 { t1.clone() } else { t0.clone() };
    let refused = a
        .commit_sync(offsets(&[(moved.clone(), 10)]))
        .await
        .expect_err("a partition moved away cannot be committed");
    assert!(matches!(refused, Error::NotOwned { .. }), "{refused:?}");
    a.commit_sync(None).await.expect("commit of the owned partition");
    assert_eq!(cluster.committed(GROUP, &owned.topic, owned.partition), Some(10));
    assert_eq!(
        cluster.committed(GROUP, &moved.topic, moved.partition),
        None,
        "nothing committed for the partition a gave up"
    );
    da.assert_no_errors();
    db.assert_no_errors();
    a.close().await;
    b.close().await;
}

/// REBALANCE_IN_PROGRESS on OffsetCommit means the coordinator is rebalancing: the member rejoins
/// (scenario 5; Java's OffsetCommitResponseHandler calls `requestRejoin`), even if its heartbeats have
/// not said so yet.
#[tokio::test]
async fn s05_commit_rebalance_in_progress_requests_a_rejoin() {
    let cluster = cluster(1, 1).await;
    let changes = Changes::default();
    let (mut c, mut d) = stable_single(&cluster, 10, &changes).await;
    let (joins, gen0) = (cluster.request_count(ApiKey::JoinGroup), generation(&c));
    cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::REBALANCE_IN_PROGRESS, 1);
    c.commit_sync(None)
        .await
        .expect_err("REBALANCE_IN_PROGRESS fails the commit");
    poll_until(&mut c, &mut d, "a rejoin", |c, _| {
        cluster.request_count(ApiKey::JoinGroup) > joins && stable(c) && generation(c) > gen0
    })
    .await;
    c.commit_sync(None).await.expect("commit after the rebalance");
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(10));
    d.assert_no_errors();
    c.close().await;
}

// ----- 6: stale generation -----

/// ILLEGAL_GENERATION on Heartbeat: the partitions are lost (cooperative: not revoked), the member keeps
/// its id, rejoins in a new generation and resumes from the committed offset.
#[tokio::test]
async fn s06_illegal_generation_on_heartbeat_loses_partitions_keeps_member_id() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, mut d) = stable_single(&cluster, 10, &changes).await;
    c.commit_sync(offsets(&[(t0.clone(), 5)])).await.unwrap();
    let (id, gen0) = (member_id(&c), generation(&c));

    cluster.fail_next(ApiKey::Heartbeat, ErrorCode::ILLEGAL_GENERATION, 1);
    poll_until(&mut c, &mut d, "on_lost", |_, _| {
        changes.count(|c| matches!(c, Change::Lost(_))) == 1
    })
    .await;
    poll_until(&mut c, &mut d, "rejoined and resumed", |c, d| {
        stable_with(c, 1) && generation(c) > gen0 && d.count(&t0) >= 15
    })
    .await;
    assert_eq!(member_id(&c), id, "member id kept");
    assert_lost_then_resumed(&changes, &d, 10, 5);
    d.assert_no_errors();
    c.close().await;
}

/// ILLEGAL_GENERATION on OffsetCommit: the commit fails (never reports success) and the member rejoins
/// under the same member id.
#[tokio::test]
async fn s06_illegal_generation_on_commit_fails_the_commit() {
    let cluster = cluster(1, 1).await;
    let changes = Changes::default();
    let (mut c, mut d) = stable_single(&cluster, 10, &changes).await;
    let (id, gen0) = (member_id(&c), generation(&c));

    cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::ILLEGAL_GENERATION, 1);
    let err = c.commit_sync(None).await.expect_err("stale generation");
    assert!(!matches!(err, Error::Closed), "{err:?}");
    assert_eq!(cluster.committed(GROUP, "t", 0), None);
    poll_until(&mut c, &mut d, "the next generation", |c, _| {
        stable_with(c, 1) && generation(c) > gen0
    })
    .await;
    assert_eq!(member_id(&c), id);
    d.assert_no_errors();
    c.close().await;
}

// ----- 7: member expired -----

/// The coordinator expired the member: a commit with the old member id fails, the partitions are lost,
/// the member rejoins under a new id and resumes from the committed offset.
#[tokio::test]
async fn s07_unknown_member_id_fails_commit_loses_partitions_and_rejoins_fresh() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, mut d) = stable_single(&cluster, 10, &changes).await;
    c.commit_sync(offsets(&[(t0.clone(), 5)])).await.unwrap();
    let old = member_id(&c);

    assert!(cluster.expire_member(GROUP, &old));
    let err = c
        .commit_sync(offsets(&[(t0.clone(), 8)]))
        .await
        .expect_err("an expired member's commit fails");
    assert!(!matches!(err, Error::Closed), "{err:?}");
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(5));
    poll_until(&mut c, &mut d, "on_lost", |_, _| {
        changes.count(|c| matches!(c, Change::Lost(_))) == 1
    })
    .await;
    poll_until(&mut c, &mut d, "rejoined and resumed", |c, d| {
        stable_with(c, 1) && d.count(&t0) >= 15
    })
    .await;
    assert_ne!(member_id(&c), old, "member id reset");
    assert_lost_then_resumed(&changes, &d, 10, 5);
    d.assert_no_errors();
    c.close().await;
}

// ----- 8: join handshake -----

/// KIP-394: the first JoinGroup (v4+) carries no member id and gets MEMBER_ID_REQUIRED; the member
/// rejoins with the id it was given, and the application sees nothing of it.
#[tokio::test]
async fn s08_member_id_required_is_adopted_not_surfaced() {
    let cluster = cluster(1, 1).await;
    let changes = Changes::default();
    let (c, d) = stable_single(&cluster, 3, &changes).await;
    let joins: Vec<(i16, String)> = cluster
        .requests()
        .into_iter()
        .filter_map(|r| match r.request {
            Request::JoinGroup(j) => Some((r.version, j.member_id.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(joins.len(), 2, "{joins:?}");
    assert!(joins[0].0 >= 4, "JoinGroup v{}", joins[0].0);
    assert_eq!(joins[0].1, "");
    assert_eq!(
        joins[1].1,
        member_id(&c),
        "rejoined with the id the coordinator gave"
    );
    d.assert_no_errors();
    c.close().await;
}

// ----- 9: static member fenced -----

/// A second consumer with the same group.instance.id takes over: the first one's next heartbeat gets
/// FENCED_INSTANCE_ID, which `poll` returns (and keeps returning), its commits fail, and it does not
/// rejoin. The newcomer keeps the generation and the assignment (no rebalance).
#[tokio::test]
async fn s09_fenced_instance_id_is_fatal_in_poll() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let cfg = config(&cluster).set("group.instance.id", "i-1").unwrap();
    let (ca, cb) = (Changes::default(), Changes::default());
    let mut a = member(cfg.clone(), &ca).await;
    let mut da = Delivered::default();
    poll_until(&mut a, &mut da, "a stable", |c, d| {
        stable_with(c, 1) && d.count(&t0) >= 5
    })
    .await;
    let gen0 = generation(&a);

    let mut b = member(cfg, &cb).await;
    let mut db = Delivered::default();
    poll_until(&mut b, &mut db, "b stable", |c, _| stable_with(c, 1)).await;
    assert_eq!(generation(&b), gen0, "a static member's return is no rebalance");

    let deadline = Instant::now() + WAIT;
    let err = loop {
        assert!(Instant::now() < deadline, "a was never told it is fenced");
        match a.poll(Duration::from_millis(20)).await {
            Err(e) => break e,
            Ok(batch) => assert!(batch.is_empty(), "a fenced member delivers nothing new"),
        }
    };
    assert!(err.to_string().contains("FENCED_INSTANCE_ID"), "{err}");
    let joins = cluster.request_count(ApiKey::JoinGroup);
    let again = a.poll(Duration::from_millis(50)).await.expect_err("stays fatal");
    assert!(again.to_string().contains("FENCED_INSTANCE_ID"), "{again}");
    a.commit_sync(None)
        .await
        .expect_err("a fenced member cannot commit");
    assert_eq!(cluster.request_count(ApiKey::JoinGroup), joins, "no rejoin");
    assert!(stable_with(&b, 1));
    b.close().await;
}

/// FENCED_INSTANCE_ID answered to a commit: the commit fails and the member stops (fatal in poll).
#[tokio::test]
async fn s09_fenced_instance_id_on_commit_fails_and_is_fatal() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let cfg = config(&cluster).set("group.instance.id", "i-1").unwrap();
    let changes = Changes::default();
    let mut c = member(cfg, &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "stable", |c, d| {
        stable_with(c, 1) && d.count(&t0) >= 5
    })
    .await;

    cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::FENCED_INSTANCE_ID, 1);
    c.commit_sync(None).await.expect_err("fenced commit");
    assert_eq!(cluster.committed(GROUP, "t", 0), None);
    let err = c
        .poll(Duration::from_millis(50))
        .await
        .expect_err("fatal in poll");
    assert!(err.to_string().contains("FENCED_INSTANCE_ID"), "{err}");
}

// ----- 10: static member bounce -----

/// A static member closes (no LeaveGroup) and comes back within the session: same generation, same
/// partition, and the other member sees no rebalance.
#[tokio::test]
async fn s10_static_member_bounce_keeps_generation_and_assignment() {
    let cluster = cluster(1, 2).await;
    let cfg = |i: &str| {
        config(&cluster)
            .set("group.instance.id", i)
            .and_then(|b| b.set("session.timeout.ms", "3000"))
            .unwrap()
    };
    let (ca, cb) = (Changes::default(), Changes::default());
    let mut a = member(cfg("i-a"), &ca).await;
    let mut b = member(cfg("i-b"), &cb).await;
    let (mut da, mut db) = (Delivered::default(), Delivered::default());
    // b's listener hears of its partition in the poll after its assignment changed: wait for that too,
    // or the snapshot below misses it (the test failed that way under load).
    poll_both_until((&mut a, &mut da), (&mut b, &mut db), "a 1/1 split", |a, b| {
        stable_with(a, 1)
            && stable_with(b, 1)
            && cb.count(|c| matches!(c, Change::Assigned(p) if !p.is_empty())) == 1
    })
    .await;
    let (gen0, a_owned) = (generation(&a), a.assignment());
    let b_changes = cb.list();
    a.close().await;
    assert_eq!(
        cluster.request_count(ApiKey::LeaveGroup),
        0,
        "a static member does not leave"
    );

    let ca2 = Changes::default();
    let mut a2 = member(cfg("i-a"), &ca2).await;
    let mut da2 = Delivered::default();
    poll_both_until((&mut a2, &mut da2), (&mut b, &mut db), "a back", |a, _| {
        stable_with(a, 1)
    })
    .await;
    assert_eq!(generation(&a2), gen0);
    assert_eq!(a2.assignment(), a_owned);
    assert_eq!(generation(&b), gen0);
    assert_eq!(cb.list(), b_changes, "b saw no rebalance");
    da2.assert_no_errors();
    db.assert_no_errors();
    a2.close().await;
    b.close().await;
}

// ----- 11: max.poll.interval exceeded -----

/// The application stops polling past max.poll.interval.ms: the member leaves the group, a commit
/// fails, and the next polls report the partitions lost and rejoin.
#[tokio::test]
async fn s11_max_poll_interval_exceeded_leaves_and_next_poll_rejoins() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let changes = Changes::default();
    let cfg = config(&cluster).set("max.poll.interval.ms", "1000").unwrap();
    let mut c = member(cfg, &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "stable", |c, d| {
        stable_with(c, 1) && d.count(&t0) >= 5
    })
    .await;

    // Not polling: the member's own timer makes it leave.
    assert!(
        cluster
            .wait_for(WAIT, |log| log.iter().any(|r| r.api_key() == ApiKey::LeaveGroup))
            .await,
        "no LeaveGroup after max.poll.interval.ms"
    );
    c.commit_sync(offsets(&[(t0.clone(), 5)]))
        .await
        .expect_err("no commit after leaving");
    assert_eq!(cluster.committed(GROUP, "t", 0), None);
    poll_until(&mut c, &mut d, "rejoined", |c, _| {
        stable_with(c, 1) && changes.count(|c| matches!(c, Change::Assigned(_))) >= 2
    })
    .await;
    assert_eq!(changes.list(), lost_once(&t0));
    c.close().await;
}

// ----- 12: slow JoinGroup, head-of-line blocking -----

/// The coordinator holds JoinGroup longer than request.timeout.ms but within the rebalance timeout (here
/// through `group.initial.rebalance.delay.ms`, 3 s by default in Kafka): the member waits for it
/// instead of timing out and rejoining in a loop.
#[tokio::test]
async fn s12_join_group_slower_than_request_timeout_is_awaited() {
    common::tracing();
    let cluster = Cluster::builder()
        .topic("t", 1)
        .initial_rebalance_delay(Duration::from_millis(1500))
        .build()
        .await
        .unwrap();
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let cfg = config(&cluster).set("request.timeout.ms", "1000").unwrap();
    let changes = Changes::default();
    let mut c = member(cfg, &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "stable", |c, d| {
        stable_with(c, 1) && d.count(&t0) >= 5
    })
    .await;
    assert_eq!(
        cluster.request_count(ApiKey::JoinGroup),
        2,
        "MEMBER_ID_REQUIRED, then one join: no timeout-driven retry"
    );
    assert_eq!(generation(&c), 1);
    d.assert_no_errors();
    c.close().await;
}

/// Fetch long-polls longer than the session timeout while no data comes: heartbeats still flow on their
/// own connection and the member stays in its generation.
#[tokio::test]
async fn s12_heartbeats_flow_during_fetch_long_poll() {
    let cluster = cluster(1, 1).await;
    let changes = Changes::default();
    let cfg = config(&cluster).fetch_max_wait(Duration::from_millis(3000));
    let mut c = member(cfg, &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "stable", |c, _| stable_with(c, 1)).await;
    let (id, gen0) = (member_id(&c), generation(&c));
    let hb = cluster.request_count(ApiKey::Heartbeat);
    poll_until(&mut c, &mut d, "heartbeats during long polls", |_, _| {
        cluster.request_count(ApiKey::Heartbeat) >= hb + 15
    })
    .await;
    assert_eq!((member_id(&c), generation(&c)), (id, gen0));
    assert!(stable_with(&c, 1));
    assert_eq!(changes.list().len(), 1, "{:?}", changes.list());
    assert_eq!(cluster.group(GROUP).unwrap().phase, GroupPhase::Stable);
    d.assert_no_errors();
    c.close().await;
}

// ----- 13, 14: cooperative two-phase move, revocation with buffered data -----

/// Who did what, in the order the application saw it.
#[derive(Debug, Clone)]
enum Event {
    Change(char, Change),
    Record(char, TopicPartition, i64),
}

#[derive(Clone)]
struct Timeline(char, Arc<Mutex<Vec<Event>>>);

impl RebalanceListener for Timeline {
    fn on_assigned(&mut self, p: &[TopicPartition]) {
        self.1
            .lock()
            .unwrap()
            .push(Event::Change(self.0, Change::Assigned(sorted(p))));
    }
    fn on_revoked(&mut self, p: &[TopicPartition]) {
        self.1
            .lock()
            .unwrap()
            .push(Event::Change(self.0, Change::Revoked(sorted(p))));
    }
    fn on_lost(&mut self, p: &[TopicPartition]) {
        self.1
            .lock()
            .unwrap()
            .push(Event::Change(self.0, Change::Lost(sorted(p))));
    }
}

async fn poll_into(c: &mut Consumer, who: char, timeline: &Arc<Mutex<Vec<Event>>>, errors: &mut Vec<Error>) {
    match c.poll(Duration::from_millis(20)).await {
        Ok(batch) => {
            let mut t = timeline.lock().unwrap();
            for (tp, records) in batch.partitions() {
                t.extend(records.iter().map(|r| Event::Record(who, tp.clone(), r.offset())));
            }
        }
        Err(e) => errors.push(e),
    }
}

/// A owns four partitions and is mid-consumption (records buffered) when B joins. Checked over the
/// whole timeline: a partition is never owned by both (B gets it only after A's on_revoked), A hands
/// out nothing of a partition after revoking it, and with commit-on-revoke every record is delivered
/// exactly once across both members.
#[tokio::test]
async fn s13_s14_cooperative_move_is_two_phase_and_drops_revoked_buffers() {
    let cluster = cluster(1, 4).await;
    for p in 0..4 {
        produce(&cluster, "t", p, 50);
    }
    let timeline = Arc::new(Mutex::new(Vec::new()));
    let cfg = config(&cluster)
        .max_poll_records(7)
        .set("enable.auto.commit", "true")
        .unwrap();
    let mut a = Consumer::new(cfg.clone().build().unwrap()).await.unwrap();
    a.subscribe_with_listener(["t"], Timeline('a', timeline.clone()))
        .unwrap();
    let mut errors = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !(stable_with(&a, 4)
        && timeline
            .lock()
            .unwrap()
            .iter()
            .any(|e| matches!(e, Event::Record(..))))
    {
        assert!(Instant::now() < deadline, "a never consumed");
        poll_into(&mut a, 'a', &timeline, &mut errors).await;
    }
    let mut b = Consumer::new(cfg.build().unwrap()).await.unwrap();
    b.subscribe_with_listener(["t"], Timeline('b', timeline.clone()))
        .unwrap();
    let delivered = |t: &[Event]| {
        t.iter()
            .filter_map(|e| match e {
                Event::Record(_, tp, o) => Some((tp.clone(), *o)),
                Event::Change(..) => None,
            })
            .collect::<BTreeSet<_>>()
            .len()
    };
    let deadline = Instant::now() + WAIT;
    while !(stable_with(&a, 2) && stable_with(&b, 2) && delivered(&timeline.lock().unwrap()) == 200) {
        assert!(
            Instant::now() < deadline,
            "no 2/2 split with everything delivered"
        );
        poll_into(&mut a, 'a', &timeline, &mut errors).await;
        poll_into(&mut b, 'b', &timeline, &mut errors).await;
    }
    assert!(errors.is_empty(), "{errors:?}");

    let t = timeline.lock().unwrap().clone();
    common::assert_handovers(
        t.iter().map(|e| match e {
            Event::Change(who, Change::Assigned(ps)) => Step::Assigned(*who, ps),
            Event::Change(who, Change::Revoked(ps) | Change::Lost(ps)) => Step::GaveUp(*who, ps),
            Event::Record(who, p, o) => Step::Record(*who, p, *o),
        }),
        &t,
    );
    assert!(
        t.iter()
            .any(|e| matches!(e, Event::Change('a', Change::Revoked(_)))),
        "a revoked something"
    );
    a.close().await;
    b.close().await;
}

// ----- 15: commit in on_revoked fails -----

/// Commits the positions in `on_revoked` through a [`CommitHandle`] and keeps the pending outcome.
struct CommitOnRevoke {
    handle: CommitHandle,
    pending: Arc<Mutex<Vec<PendingCommit>>>,
    changes: Changes,
}

impl RebalanceListener for CommitOnRevoke {
    fn on_assigned(&mut self, p: &[TopicPartition]) {
        self.changes.on_assigned(p);
    }
    fn on_revoked(&mut self, p: &[TopicPartition]) {
        self.changes.on_revoked(p);
        let pending = self.handle.commit(None).expect("commit starts in on_revoked");
        self.pending.lock().unwrap().push(pending);
    }
    fn on_lost(&mut self, p: &[TopicPartition]) {
        self.changes.on_lost(p);
    }
}

/// A subscribed consumer of `t` whose `on_revoked` commits everything it owns; the commits started
/// there and the listener's calls.
async fn committing_member(
    config: ConsumerConfigBuilder,
) -> (Consumer, Arc<Mutex<Vec<PendingCommit>>>, Changes) {
    let pending = Arc::new(Mutex::new(Vec::new()));
    let changes = Changes::default();
    let mut c = Consumer::new(config.build().unwrap()).await.unwrap();
    let listener = CommitOnRevoke {
        handle: c.commit_handle(),
        pending: pending.clone(),
        changes: changes.clone(),
    };
    c.subscribe_with_listener(["t"], listener).unwrap();
    (c, pending, changes)
}

/// The commit made in on_revoked fails with ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID or
/// REBALANCE_IN_PROGRESS: its outcome is an error, and the rebalance still completes (the partition
/// reaches the other member).
#[tokio::test]
async fn s15_failed_commit_in_on_revoked_does_not_hang_the_rebalance() {
    for code in [
        ErrorCode::ILLEGAL_GENERATION,
        ErrorCode::UNKNOWN_MEMBER_ID,
        ErrorCode::REBALANCE_IN_PROGRESS,
    ] {
        let cluster = cluster(1, 2).await;
        produce(&cluster, "t", 0, 5);
        produce(&cluster, "t", 1, 5);
        let (mut a, pending, _) = committing_member(config(&cluster)).await;
        let mut da = Delivered::default();
        poll_until(&mut a, &mut da, "a owns both", |c, d| {
            stable_with(c, 2) && d.records.values().map(Vec::len).sum::<usize>() >= 10
        })
        .await;

        let fault = cluster.fail_next(ApiKey::OffsetCommit, code, 1);
        let cb = Changes::default();
        let mut b = member(config(&cluster), &cb).await;
        let mut db = Delivered::default();
        poll_both_until((&mut a, &mut da), (&mut b, &mut db), "the 1/1 split", |a, b| {
            stable_with(a, 1) && stable_with(b, 1)
        })
        .await;
        assert_eq!(
            cluster.fired(fault),
            1,
            "{code}: the revoke commit was answered with the fault"
        );
        let commits: Vec<PendingCommit> = std::mem::take(&mut *pending.lock().unwrap());
        assert!(!commits.is_empty(), "{code}: on_revoked ran");
        let first = outcome(commits.into_iter().next().unwrap()).await;
        assert!(first.is_err(), "{code}: the failed commit reported success");
        da.assert_no_errors();
        db.assert_no_errors();
        a.close().await;
        b.close().await;
    }
}

// ----- 16: commit timeout or lost response -----

/// REQUEST_TIMED_OUT, a connection dropped before the coordinator saw the commit, and one dropped after
/// it applied the commit (lost response): commit_sync retries within its deadline and succeeds.
#[tokio::test]
async fn s16_commit_sync_retries_timeouts_and_dropped_connections() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, d) = stable_single(&cluster, 10, &changes).await;

    let timed_out = cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::REQUEST_TIMED_OUT, 2);
    c.commit_sync(offsets(&[(t0.clone(), 3)]))
        .await
        .expect("retried after REQUEST_TIMED_OUT");
    assert_eq!(cluster.fired(timed_out), 2);
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(3));

    let dropped = cluster.control_once(on_api(ApiKey::OffsetCommit, Action::close));
    c.commit_sync(offsets(&[(t0.clone(), 6)]))
        .await
        .expect("retried after a disconnect");
    assert_eq!(cluster.fired(dropped), 1);
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(6));

    let lost_response = cluster.control_once(on_api(ApiKey::OffsetCommit, Action::close_mid_response));
    c.commit_sync(None).await.expect("retried after a lost response");
    assert_eq!(cluster.fired(lost_response), 1);
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(10));
    d.assert_no_errors();
    c.close().await;
}

/// commit_async is not retried: a REQUEST_TIMED_OUT or a dropped connection is reported as a failure.
#[tokio::test]
async fn s16_commit_async_reports_failure() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, _d) = stable_single(&cluster, 10, &changes).await;

    cluster.fail_next(ApiKey::OffsetCommit, ErrorCode::REQUEST_TIMED_OUT, 1);
    let p = c.commit_async(offsets(&[(t0.clone(), 4)])).unwrap();
    assert!(outcome(p).await.is_err(), "REQUEST_TIMED_OUT reported as success");
    assert_eq!(cluster.committed(GROUP, "t", 0), None);

    cluster.control_once(on_api(ApiKey::OffsetCommit, Action::close));
    let p = c.commit_async(offsets(&[(t0.clone(), 5)])).unwrap();
    assert!(outcome(p).await.is_err(), "a dropped commit reported as success");
    assert_eq!(cluster.committed(GROUP, "t", 0), None);

    let p = c.commit_async(None).unwrap();
    outcome(p).await.expect("a commit without fault succeeds");
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(10));
    c.close().await;
}

/// Two async commits, the older one's connection dropped (after a delay): the older commit never lands
/// after the newer one, so the coordinator ends with the newer offset.
#[tokio::test]
async fn s16_async_commits_land_in_order_across_a_disconnect() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let (mut c, _d) = stable_single(&cluster, 10, &changes).await;

    cluster.control_once(|req| {
        if req
            .request
            .committed_offsets()
            .iter()
            .any(|&(_, p, o)| p == 0 && o == 3)
        {
            Action::close().after(Duration::from_millis(200))
        } else {
            Action::pass()
        }
    });
    let older = c.commit_async(offsets(&[(t0.clone(), 3)])).unwrap();
    let newer = c.commit_async(offsets(&[(t0.clone(), 7)])).unwrap();
    let (older, newer) = (outcome(older).await, outcome(newer).await);
    assert!(older.is_err(), "the dropped commit reported success");
    let received: Vec<i64> = cluster
        .requests()
        .iter()
        .flat_map(|r| r.request.committed_offsets())
        .map(|(_, _, o)| o)
        .collect();
    if let Some(i) = received.iter().position(|&o| o == 7) {
        assert!(
            !received[i..].contains(&3),
            "the older commit was sent after the newer: {received:?}"
        );
    }
    match newer {
        Ok(()) => assert_eq!(cluster.committed(GROUP, "t", 0), Some(7)),
        Err(_) => assert_ne!(cluster.committed(GROUP, "t", 0), Some(3)),
    }
    c.close().await;
}

// ----- 17: OffsetFetch trouble at assignment -----

/// Commits offset 5, then subscribes with `earliest` reset; returns the first offset delivered.
async fn first_offset_after(cluster: &Cluster) -> (i64, Delivered) {
    let t0 = tp("t", 0);
    let changes = Changes::default();
    let mut c = member(config(cluster), &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "records", |_, d| d.count(&t0) >= 5).await;
    let first = d.offsets(&t0)[0];
    d.assert_exact(&t0, first..first + d.count(&t0) as i64);
    c.close().await;
    (first, d)
}

/// The first OffsetFetch answer misses the partition: the member asks again instead of treating it as
/// "no committed offset" (which would reset to offset 0).
#[tokio::test]
async fn s17_offset_fetch_missing_partition_is_retried_not_reset() {
    let cluster = cluster(1, 1).await;
    produce(&cluster, "t", 0, 10);
    cluster.commit_offset(GROUP, "t", 0, 5);
    let missing = cluster.control_once(on_api(ApiKey::OffsetFetch, drop_t0_from_offset_fetch));
    let (first, d) = first_offset_after(&cluster).await;
    assert_eq!(cluster.fired(missing), 1);
    assert_eq!(
        first, 5,
        "started from auto.offset.reset instead of the committed offset"
    );
    assert!(cluster.request_count(ApiKey::OffsetFetch) >= 2);
    d.assert_no_errors();
}

/// UNSTABLE_OFFSET_COMMIT (pending transactional offsets) while require_stable: nothing is fetched
/// until the offsets are stable, then the partition starts at the committed offset.
#[tokio::test]
async fn s17_unstable_offset_commit_is_retried_until_stable() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    cluster.commit_offset(GROUP, "t", 0, 5);
    cluster.set_unstable_offsets(GROUP, "t", 0, true);
    let changes = Changes::default();
    let mut c = member(config(&cluster), &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "OffsetFetch retries", |_, _| {
        cluster.request_count(ApiKey::OffsetFetch) >= 3
    })
    .await;
    assert_eq!(d.count(&t0), 0, "delivered before the committed offset was known");
    let sent: Vec<bool> = cluster
        .requests()
        .into_iter()
        .filter_map(|r| match r.request {
            Request::OffsetFetch(f) => Some(f.require_stable),
            _ => None,
        })
        .collect();
    assert!(sent.iter().all(|s| *s), "require_stable set: {sent:?}");

    cluster.set_unstable_offsets(GROUP, "t", 0, false);
    poll_until(&mut c, &mut d, "records", |_, d| d.count(&t0) >= 5).await;
    d.assert_exact(&t0, 5..10);
    d.assert_no_errors();
    c.close().await;
}

/// NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS on OffsetFetch: retried; the partition starts at
/// the committed offset.
#[tokio::test]
async fn s17_offset_fetch_coordinator_errors_are_retried() {
    let cluster = cluster(1, 1).await;
    produce(&cluster, "t", 0, 10);
    cluster.commit_offset(GROUP, "t", 0, 5);
    let a = cluster.fail_next(ApiKey::OffsetFetch, ErrorCode::NOT_COORDINATOR, 1);
    let b = cluster.fail_next(ApiKey::OffsetFetch, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, 1);
    let (first, d) = first_offset_after(&cluster).await;
    assert_eq!((cluster.fired(a), cluster.fired(b)), (1, 1));
    assert_eq!(first, 5);
    d.assert_no_errors();
}

/// `Consumer::committed` when the OffsetFetch answer misses the partition: retried, not reported as
/// "nothing committed".
#[tokio::test]
async fn s17_committed_lookup_with_missing_partition_is_retried() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    cluster.commit_offset(GROUP, "t", 0, 5);
    cluster.control_once(on_api(ApiKey::OffsetFetch, drop_t0_from_offset_fetch));
    let c = Consumer::new(config(&cluster).build().unwrap()).await.unwrap();
    let got = c
        .committed(std::slice::from_ref(&t0))
        .await
        .expect("committed offsets");
    assert_eq!(got.get(&t0).cloned().flatten().map(|o| o.offset), Some(5));
    c.close().await;
}

// ----- an idle application inside a long poll -----

/// Runs `c.poll` with long timeouts (an idle `recv`-style loop) on its own task until told to stop;
/// returns the consumer and the errors `poll` returned.
fn long_polls(
    mut c: Consumer,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<(Consumer, Vec<Error>)>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut errors = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                r = c.poll(Duration::from_secs(60)) => if let Err(e) = r { errors.push(e) },
            }
        }
        (c, errors)
    });
    (stop, task)
}

/// A member idle inside one long `poll` (no records arrive), whose `on_revoked` commits: when the
/// commit completes, the assignment queued behind the revocation still runs at once and the member
/// rejoins, so the other member gets the moved partition without waiting for a record or a timer.
/// (The completed revocation once woke nobody: the partition stayed unowned until `poll` returned.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_member_committing_in_on_revoked_finishes_the_cooperative_rebalance() {
    let cluster = cluster(1, 2).await;
    // Long enough that neither the poll deadline nor the max.poll.interval.ms refresh hides a stall.
    let cfg = || config(&cluster).set("max.poll.interval.ms", "120000").unwrap();
    let (mut a, pending, ca) = committing_member(cfg()).await;
    let mut da = Delivered::default();
    poll_until(&mut a, &mut da, "a owns both", |c, _| stable_with(c, 2)).await;

    let (stop, a_task) = long_polls(a);
    let cb = Changes::default();
    let mut b = member(cfg(), &cb).await;
    let mut db = Delivered::default();
    poll_until(&mut b, &mut db, "b gets the moved partition", |c, _| {
        stable_with(c, 1)
    })
    .await;
    stop.send(()).unwrap();
    let (a, errors) = a_task.await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(a.assignment().len(), 1, "a kept one partition");
    let commits: Vec<PendingCommit> = std::mem::take(&mut *pending.lock().unwrap());
    assert_eq!(commits.len(), 1, "on_revoked ran once");
    assert!(ca.count(|c| matches!(c, Change::Lost(_))) == 0, "{:?}", ca.list());
    a.close().await;
    b.close().await;
}

/// A member waiting in one `poll` longer than max.poll.interval.ms on an idle topic is polling: it keeps
/// its membership and partitions (Java's poll refreshes the timer while it waits).
#[tokio::test]
async fn waiting_inside_poll_counts_as_polling_for_max_poll_interval() {
    let cluster = cluster(1, 1).await;
    let changes = Changes::default();
    let cfg = config(&cluster).set("max.poll.interval.ms", "1000").unwrap();
    let mut c = member(cfg, &changes).await;
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "stable", |c, _| stable_with(c, 1)).await;
    let before = (member_id(&c), generation(&c));
    let batch = c.poll(Duration::from_secs(3)).await.expect("an idle poll");
    assert!(batch.is_empty());
    assert_eq!(
        cluster.request_count(ApiKey::LeaveGroup),
        0,
        "left the group while inside poll"
    );
    assert_eq!((member_id(&c), generation(&c)), before);
    assert_eq!(changes.list(), vec![Change::Assigned(vec![tp("t", 0)])]);
    c.close().await;
}

// ----- assign with a group.id: start positions from the group -----

/// An `assign`ed consumer with a `group.id` starts from the group's committed offset (a retriable
/// error on the lookup is retried); an authorization failure stops the partition with an error naming
/// the cause instead of silently starting from `auto.offset.reset`; a seek resumes it.
#[tokio::test]
async fn assigned_partitions_start_from_the_group_or_report_why_not() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let mut committer = Consumer::new(config(&cluster).build().unwrap()).await.unwrap();
    committer.assign([t0.clone()]).unwrap();
    committer
        .commit_sync(offsets(&[(t0.clone(), 6)]))
        .await
        .expect("commit without membership");
    committer.close().await;
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(6));

    let retried = cluster.fail_next(ApiKey::OffsetFetch, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, 1);
    let mut c = Consumer::new(config(&cluster).build().unwrap()).await.unwrap();
    c.assign([t0.clone()]).unwrap();
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "records from the committed offset", |_, d| {
        d.count(&t0) >= 4
    })
    .await;
    assert_eq!(d.offsets(&t0), (6..10).collect::<Vec<_>>());
    d.assert_no_errors();
    assert_eq!(cluster.fired(retried), 1);
    c.close().await;

    cluster.fail_next(ApiKey::OffsetFetch, ErrorCode::GROUP_AUTHORIZATION_FAILED, 1);
    let mut c = Consumer::new(config(&cluster).build().unwrap()).await.unwrap();
    c.assign([t0.clone()]).unwrap();
    let mut d = Delivered::default();
    poll_until(&mut c, &mut d, "the refusal", |_, d| !d.errors.is_empty()).await;
    let text = d.errors[0].to_string();
    assert!(
        text.contains("t-0") && text.contains("GROUP_AUTHORIZATION_FAILED"),
        "{text}"
    );
    assert_eq!(d.count(&t0), 0, "nothing delivered from a guessed position");
    c.seek(&t0, 8).unwrap();
    poll_until(&mut c, &mut d, "records after the seek", |_, d| d.count(&t0) >= 2).await;
    assert_eq!(d.offsets(&t0), vec![8, 9]);
    c.close().await;
}
