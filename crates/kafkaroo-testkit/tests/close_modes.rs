//! What `close_with` sends, and what a member keeps doing while a cooperative rebalance is in progress,
//! checked on the coordinator's side of the fake cluster (issue 16's claims with no test):
//! `CloseMode::Leave` sends LeaveGroup and the group forgets the member at once; `CloseMode::Remain`
//! sends none and the member stays until its session expires; `CloseMode::Default` leaves for a dynamic
//! member and remains for a static one; partitions a member keeps through a cooperative rebalance keep
//! delivering records while the rebalance waits.

mod common;

use std::time::Duration;

use common::{Delivered, WAIT, produce, tp};
use kafkaroo::{CloseMode, Consumer, ConsumerConfigBuilder, MemberState};
use kafkaroo_testkit::{Action, ApiKey, Cluster, GroupPhase};
use tokio::time::Instant;

const GROUP: &str = "close-modes";

async fn cluster(partitions: i32) -> Cluster {
    common::tracing();
    Cluster::builder()
        .topic("t", partitions)
        .build()
        .await
        .expect("cluster starts")
}

/// Session 1.5 s, heartbeat 100 ms: expiry is observable within the test's bounds.
fn config(cluster: &Cluster, instance: Option<&str>) -> ConsumerConfigBuilder {
    let mut b = common::config(cluster)
        .group_id(GROUP)
        .set("session.timeout.ms", "1500")
        .and_then(|b| b.set("heartbeat.interval.ms", "100"))
        .and_then(|b| b.set("request.timeout.ms", "4000"))
        .expect("valid properties");
    if let Some(i) = instance {
        b = b.set("group.instance.id", i).expect("valid instance id");
    }
    b
}

/// A member of topic `t` polled until its group is stable.
async fn stable_member(config: ConsumerConfigBuilder) -> (Consumer, Delivered) {
    let mut c = Consumer::new(config.build().expect("config"))
        .await
        .expect("consumer connects");
    c.subscribe(["t"]).expect("subscribe");
    let mut d = Delivered::default();
    let deadline = Instant::now() + WAIT;
    while !c.group_state().is_some_and(|s| s.state == MemberState::Stable) {
        assert!(
            Instant::now() < deadline,
            "no stable group: {:?}",
            c.group_state()
        );
        poll(&mut c, &mut d).await;
    }
    (c, d)
}

async fn poll(c: &mut Consumer, d: &mut Delivered) {
    match c.poll(Duration::from_millis(20)).await {
        Ok(batch) => {
            for (tp, records) in batch.partitions() {
                d.records.entry(tp.clone()).or_default().extend(
                    records
                        .iter()
                        .map(|r| (r.offset(), r.value().map(<[u8]>::to_vec))),
                );
            }
        }
        Err(e) => d.errors.push(e),
    }
}

fn members(cluster: &Cluster) -> usize {
    cluster.group(GROUP).map_or(0, |g| g.members.len())
}

/// Waits until the coordinator has no member left, returning how long it took.
async fn wait_until_empty(cluster: &Cluster) -> Duration {
    let started = Instant::now();
    while members(cluster) > 0 {
        assert!(
            started.elapsed() < WAIT,
            "the member never left: {:?}",
            cluster.group(GROUP)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn leave_sends_leave_group_and_the_coordinator_forgets_the_member_at_once() {
    let cluster = cluster(1).await;
    let (c, _) = stable_member(config(&cluster, Some("static-1"))).await;
    assert_eq!(members(&cluster), 1);
    c.close_with(CloseMode::Leave).await;
    assert_eq!(
        cluster.request_count(ApiKey::LeaveGroup),
        1,
        "close_with(Leave) sends one LeaveGroup"
    );
    // Removed by the LeaveGroup itself, not by the session expiry (1.5 s) that would also empty it.
    assert_eq!(
        members(&cluster),
        0,
        "the member is gone as soon as close returned"
    );
    assert_eq!(cluster.group(GROUP).map(|g| g.phase), Some(GroupPhase::Empty));
}

#[tokio::test]
async fn remain_sends_no_leave_group_and_the_member_stays_until_its_session_expires() {
    let cluster = cluster(1).await;
    let (c, _) = stable_member(config(&cluster, None)).await;
    c.close_with(CloseMode::Remain).await;
    assert_eq!(
        cluster.request_count(ApiKey::LeaveGroup),
        0,
        "close_with(Remain) sent LeaveGroup"
    );
    assert_eq!(members(&cluster), 1, "the member left although it should remain");
    let gone_after = wait_until_empty(&cluster).await;
    assert!(
        gone_after >= Duration::from_millis(500),
        "the member disappeared after {gone_after:?}, before its session could expire"
    );
    assert_eq!(cluster.request_count(ApiKey::LeaveGroup), 0);
}

#[tokio::test]
async fn default_leaves_for_a_dynamic_member_and_remains_for_a_static_one() {
    let cluster = cluster(1).await;
    let (dynamic, _) = stable_member(config(&cluster, None)).await;
    dynamic.close_with(CloseMode::Default).await;
    assert_eq!(
        cluster.request_count(ApiKey::LeaveGroup),
        1,
        "a dynamic member leaves on close"
    );
    assert_eq!(members(&cluster), 0);

    let (fixed, _) = stable_member(config(&cluster, Some("static-1"))).await;
    fixed.close_with(CloseMode::Default).await;
    assert_eq!(
        cluster.request_count(ApiKey::LeaveGroup),
        1,
        "a static member sent LeaveGroup on close (it should remain, KAFKA-6995)"
    );
    assert_eq!(
        members(&cluster),
        1,
        "the static member should remain until its session expires"
    );
    wait_until_empty(&cluster).await;
}

/// A cooperative rebalance held open by a slow SyncGroup: the partitions the member keeps go on
/// delivering new records before the rebalance completes.
#[tokio::test]
async fn retained_partitions_keep_delivering_while_a_cooperative_rebalance_waits() {
    let cluster = cluster(2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    // A session longer than the held SyncGroup: the fake answers a connection's requests in order, so
    // heartbeats wait behind it.
    let (mut c, mut d) = stable_member(
        config(&cluster, None)
            .set("session.timeout.ms", "6000")
            .expect("valid"),
    )
    .await;
    assert_eq!(c.assignment().len(), 2);
    let generation = c.group_state().map(|s| s.generation).unwrap();
    // Every SyncGroup from now on is answered 2 s late: the next generation cannot complete sooner.
    let slow_sync = cluster.control(|req| {
        if req.api_key() == ApiKey::SyncGroup {
            Action::handle().after(Duration::from_secs(2))
        } else {
            Action::pass()
        }
    });
    assert!(cluster.trigger_rebalance(GROUP));
    let deadline = Instant::now() + WAIT;
    while !c
        .group_state()
        .is_some_and(|s| matches!(s.state, MemberState::Joining | MemberState::Syncing))
    {
        assert!(
            Instant::now() < deadline,
            "the rebalance never started: {:?}",
            c.group_state()
        );
        poll(&mut c, &mut d).await;
    }
    let rebalance_started = Instant::now();
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 5);
    let mut delivered_during = 0;
    while !c
        .group_state()
        .is_some_and(|s| s.state == MemberState::Stable && s.generation > generation)
    {
        assert!(
            Instant::now() < deadline,
            "the rebalance never completed: {:?}",
            c.group_state()
        );
        let before = d.count(&t0) + d.count(&t1);
        poll(&mut c, &mut d).await;
        let still_rebalancing = !c.group_state().is_some_and(|s| s.state == MemberState::Stable);
        if still_rebalancing {
            delivered_during += d.count(&t0) + d.count(&t1) - before;
        }
    }
    assert!(cluster.fired(slow_sync) >= 1, "no SyncGroup was slowed down");
    assert!(
        rebalance_started.elapsed() >= Duration::from_millis(1500),
        "the rebalance was not held open ({:?})",
        rebalance_started.elapsed()
    );
    assert_eq!(
        delivered_during, 10,
        "records of the retained partitions delivered while the rebalance waited"
    );
    d.assert_exact(&t0, 0..5);
    d.assert_exact(&t1, 0..5);
    d.assert_no_errors();
    c.close().await;
}
