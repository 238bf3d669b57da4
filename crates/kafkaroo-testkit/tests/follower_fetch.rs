//! Fetching from the closest replica (KIP-392) against the fake cluster: the leader names a preferred
//! read replica ([`Cluster::prefer_read_replica`]), the consumer fetches from it, and whatever goes
//! wrong there (an error code, a broken connection, the replica leaving) sends the partition back to
//! the leader at the same position. Every test checks the application got each record exactly once,
//! in order, with no error.

mod common;

use std::time::Duration;

use common::{Delivered, config, consumer, produce, tp};
use kafkaroo::{Consumer, ConsumerConfigBuilder};
use kafkaroo_testkit::{Action, ApiKey, Cluster, LoggedRequest};
use kafkaroo_wire::ErrorCode;

/// Broker 1 leads `t-0` (replicated on 1, 2, 3) and names broker 2 as its preferred read replica.
async fn cluster() -> Cluster {
    common::tracing();
    let cluster = Cluster::builder()
        .brokers(3)
        .topic("t", 1)
        .build()
        .await
        .expect("cluster starts");
    assert_eq!(cluster.leader("t", 0).unwrap().0, 1);
    cluster.prefer_read_replica("t", 0, Some(2)).unwrap();
    cluster
}

/// A consumer of `t-0` (with `config`) that got its first 10 records.
async fn consuming(cluster: &Cluster, config: ConsumerConfigBuilder) -> (Consumer, Delivered) {
    produce(cluster, "t", 0, 10);
    let mut c = consumer(config, &[tp("t", 0)]).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &tp("t", 0), 10).await;
    (c, d)
}

/// The fetch offsets of `partition` of `t` in the Fetch requests `broker` received, in order (a
/// request carried by the broker's fetch session without listing it does not count).
fn fetch_offsets(cluster: &Cluster, broker: i32, partition: i32) -> Vec<i64> {
    logged_fetch_offsets(&cluster.requests(), broker, partition)
}

/// [`fetch_offsets`] in a request log (as [`Cluster::wait_for`] shows it).
fn logged_fetch_offsets(log: &[LoggedRequest], broker: i32, partition: i32) -> Vec<i64> {
    log.iter()
        .filter(|r| r.broker == broker)
        .filter_map(|r| r.request.as_fetch())
        .flat_map(|f| f.topics.iter().flat_map(|t| &t.partitions))
        .filter(|p| p.partition == partition)
        .map(|p| p.fetch_offset)
        .collect()
}

#[tokio::test]
async fn records_are_fetched_from_the_preferred_read_replica() {
    let cluster = cluster().await;
    let t0 = tp("t", 0);
    let config = config(&cluster).set("client.rack", "rack-2").unwrap();
    let (mut c, mut d) = consuming(&cluster, config).await;
    let leader_fetches = cluster.request_count_to(1, ApiKey::Fetch);
    for n in [15, 20] {
        produce(&cluster, "t", 0, 5);
        d.poll_count(&mut c, &t0, n).await;
    }
    produce(&cluster, "t", 0, 5);
    d.expect_exactly(&mut c, &t0, 0..25).await;
    assert_eq!(
        fetch_offsets(&cluster, 1, 0),
        vec![0],
        "the leader was asked once"
    );
    assert_eq!(
        cluster.request_count_to(1, ApiKey::Fetch),
        leader_fetches,
        "no fetch to the leader while the replica serves"
    );
    let at_replica = fetch_offsets(&cluster, 2, 0);
    assert_eq!(
        at_replica.first(),
        Some(&0),
        "the replica starts where the leader was asked"
    );
    assert!(cluster.request_count_to(2, ApiKey::Fetch) >= 4);
    assert_eq!(cluster.request_count_to(3, ApiKey::Fetch), 0);
}

/// Each error a follower may answer sends the consumer back to the leader, which names the replica
/// again; nothing is lost, repeated or reset (an out-of-range answer from the follower must not
/// trigger `auto.offset.reset=earliest`, which would deliver 0..10 twice).
#[tokio::test]
async fn an_error_at_the_replica_goes_back_to_the_leader_at_the_same_position() {
    for code in [
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::OFFSET_OUT_OF_RANGE,
        ErrorCode::OFFSET_NOT_AVAILABLE,
        ErrorCode::FENCED_LEADER_EPOCH,
    ] {
        let cluster = cluster().await;
        let t = cluster.topic("t").unwrap();
        let t0 = tp("t", 0);
        let (mut c, mut d) = consuming(&cluster, config(&cluster)).await;

        let fault = cluster.fail_fetch_at(2, &t, 0, code, 2);
        produce(&cluster, "t", 0, 10);
        d.poll_count(&mut c, &t0, 20).await;
        produce(&cluster, "t", 0, 5);
        d.expect_exactly(&mut c, &t0, 0..25).await;
        assert_eq!(cluster.fired(fault), 2, "{code}");
        let at_leader = fetch_offsets(&cluster, 1, 0);
        assert_eq!(at_leader.first(), Some(&0), "{code}");
        assert!(
            at_leader[1..].iter().all(|&o| o >= 10) && at_leader.len() >= 2,
            "{code}: back at the leader from the position, never below it: {at_leader:?}"
        );
        let at_replica = fetch_offsets(&cluster, 2, 0);
        assert!(
            at_replica.windows(2).all(|w| w[0] <= w[1]),
            "{code}: positions never move back: {at_replica:?}"
        );
        assert!(
            at_replica.last().is_some_and(|&o| o >= 20),
            "{code}: the replica serves again after the leader named it: {at_replica:?}"
        );
    }
}

#[tokio::test]
async fn a_broken_connection_to_the_replica_goes_back_to_the_leader() {
    let cluster = cluster().await;
    let t0 = tp("t", 0);
    let (mut c, mut d) = consuming(&cluster, config(&cluster)).await;

    let close = cluster.control_once(|req| {
        if req.broker == 2 && req.fetch().is_some() {
            Action::close()
        } else {
            Action::pass()
        }
    });
    produce(&cluster, "t", 0, 10);
    d.expect_exactly(&mut c, &t0, 0..20).await;
    assert_eq!(cluster.fired(close), 1);
    assert!(
        fetch_offsets(&cluster, 1, 0).len() >= 2,
        "the leader was asked again"
    );
}

/// The replica stops serving (no longer named, so it answers NOT_LEADER_OR_FOLLOWER): the leader
/// serves the rest itself.
#[tokio::test]
async fn the_leader_serves_again_when_it_names_no_replica() {
    let cluster = cluster().await;
    let t0 = tp("t", 0);
    let (mut c, mut d) = consuming(&cluster, config(&cluster)).await;

    cluster.prefer_read_replica("t", 0, None).unwrap();
    produce(&cluster, "t", 0, 10);
    d.expect_exactly(&mut c, &t0, 0..20).await;
    assert_eq!(fetch_offsets(&cluster, 1, 0)[1..].first(), Some(&10));
}

/// After `metadata.max.age.ms` the consumer asks the leader again, which may name another replica.
#[tokio::test]
async fn the_preferred_replica_expires_with_metadata_max_age() {
    let cluster = cluster().await;
    let t0 = tp("t", 0);
    let config = config(&cluster).set("metadata.max.age.ms", "300").unwrap();
    let (mut c, mut d) = consuming(&cluster, config).await;
    assert_eq!(fetch_offsets(&cluster, 1, 0), vec![0]);

    cluster.prefer_read_replica("t", 0, Some(3)).unwrap();
    let asked_again = cluster
        .wait_for(common::WAIT, |log| logged_fetch_offsets(log, 1, 0).len() >= 2)
        .await;
    assert!(asked_again, "the leader is asked again after metadata.max.age.ms");
    produce(&cluster, "t", 0, 10);
    d.expect_exactly(&mut c, &t0, 0..20).await;
    assert!(
        fetch_offsets(&cluster, 3, 0).contains(&10),
        "the new replica serves"
    );
}

/// Fetch sessions are per broker: a partition moved to its replica leaves the leader's session (on
/// the leader's next fetch, for its other partitions) and joins the replica's.
#[tokio::test]
async fn a_partition_moved_to_its_replica_leaves_the_leaders_fetch_session() {
    common::tracing();
    // t-0 and t-2 are led by broker 1, t-1 by broker 2.
    let cluster = Cluster::builder().brokers(2).topic("t", 3).build().await.unwrap();
    cluster.prefer_read_replica("t", 0, Some(2)).unwrap();
    let parts = [tp("t", 0), tp("t", 1), tp("t", 2)];
    for p in 0..3 {
        produce(&cluster, "t", p, 5);
    }
    let mut c = consumer(config(&cluster), &parts).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "5 records each", |d| {
        parts.iter().all(|p| d.count(p) == 5)
    })
    .await;
    for p in 0..3 {
        produce(&cluster, "t", p, 5);
    }
    d.poll_until(&mut c, "10 records each", |d| {
        parts.iter().all(|p| d.count(p) == 10)
    })
    .await;
    d.poll_quiet(&mut c, Duration::from_millis(200)).await;

    for p in &parts {
        d.assert_exact(p, 0..10);
    }
    d.assert_no_errors();
    let held = |broker: i32| -> Vec<i32> {
        let mut held: Vec<i32> = cluster
            .fetch_sessions(broker)
            .into_iter()
            .flat_map(|s| s.partitions.into_iter().map(|(_, p, _)| p))
            .collect();
        held.sort_unstable();
        held
    };
    assert_eq!(held(1), vec![2], "the leader's session forgot t-0");
    assert_eq!(held(2), vec![0, 1], "the replica's session holds it");
}
