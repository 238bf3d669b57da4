//! KIP-848 members (kafkaroo-group's pure `ConsumerGroupMember`, no facade) against the testkit's fake
//! consumer group coordinator over the real wire codec ([`kafkaroo_tests::kip848`]). At every step no
//! partition is owned by two members, in the members' view and in the coordinator's; after convergence
//! every partition is owned and the shares are balanced; partitions move only through revocations.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use kafkaroo_group::member::CloseMode;
use kafkaroo_group::{GroupError, MemberState};
use kafkaroo_testkit::{Action, Cluster, Request};
use kafkaroo_tests::kip848::{Driver, balanced, listed_versions, run_until};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::Uuid;
use kafkaroo_wire::messages::ApiKey;

const WAIT: Duration = Duration::from_secs(10);
const GROUP: &str = "kip848";

async fn cluster(partitions: i32, session: Duration) -> (Cluster, BTreeMap<Uuid, String>) {
    let cluster = Cluster::builder()
        .topic("t", partitions)
        .consumer_group_timing(Duration::from_millis(50), session)
        .build()
        .await
        .unwrap();
    let topics = [(cluster.topic("t").unwrap().id, "t".to_owned())].into();
    (cluster, topics)
}

async fn driver(cluster: &Cluster, name: &str, instance: Option<&str>, version: i16) -> Driver {
    Driver::new(cluster.addr(1).unwrap(), GROUP, name, instance, version)
        .await
        .unwrap()
}

/// The coordinator never holds a partition for two members (assigned or still being revoked).
fn coordinator_exclusive(cluster: &Cluster) -> impl Fn() -> Result<()> + '_ {
    move || {
        let mut held = BTreeSet::new();
        for m in cluster
            .consumer_group(GROUP)
            .iter()
            .flat_map(|g| g.members.values())
        {
            for p in m.assigned.iter().chain(&m.revoking) {
                ensure!(
                    held.insert(p.clone()),
                    "the coordinator gave {p:?} to two members"
                );
            }
        }
        Ok(())
    }
}

/// `a` (static with `instance`) and `b` subscribed to `t` (4 partitions), balanced.
async fn two_members(
    cluster: &Cluster,
    topics: &BTreeMap<Uuid, String>,
    instance: Option<&str>,
) -> (Driver, Driver) {
    let mut a = driver(cluster, "a", instance, 1).await;
    let mut b = driver(cluster, "b", None, 1).await;
    a.member.subscribe(["t"], Instant::now()).unwrap();
    b.member.subscribe(["t"], Instant::now()).unwrap();
    let check = coordinator_exclusive(cluster);
    let both = &mut [&mut a, &mut b];
    run_until(both, topics, "a and b", WAIT, &check, balanced("t", 4))
        .await
        .unwrap();
    (a, b)
}

#[tokio::test]
async fn members_share_the_partitions_and_hand_them_over_only_after_revoking() {
    let (cluster, topics) = cluster(6, Duration::from_secs(10)).await;
    let check = coordinator_exclusive(&cluster);
    let mut a = driver(&cluster, "a", None, 1).await;
    let mut b = driver(&cluster, "b", None, 0).await;
    let mut c = driver(&cluster, "c", None, 1).await;
    a.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(&mut [&mut a], &topics, "a alone", WAIT, &check, balanced("t", 6))
        .await
        .unwrap();
    assert_eq!(a.owned.len(), 6);

    b.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(
        &mut [&mut a, &mut b],
        &topics,
        "a and b",
        WAIT,
        &check,
        balanced("t", 6),
    )
    .await
    .unwrap();
    assert_eq!((a.owned.len(), b.owned.len()), (3, 3));
    assert!(a.revocations >= 1, "a gave partitions up through a revocation");

    c.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(
        &mut [&mut a, &mut b, &mut c],
        &topics,
        "three",
        WAIT,
        &check,
        balanced("t", 6),
    )
    .await
    .unwrap();
    assert_eq!([a.owned.len(), b.owned.len(), c.owned.len()], [2, 2, 2]);
    let epoch = a.member.member_epoch();
    assert!(epoch >= 3, "epochs grow with each assignment ({epoch})");

    // b leaves: it revokes, sends epoch -1, and its partitions go to a and c.
    b.member.leave(Instant::now());
    let done = |d: &[&mut Driver]| d[1].closed && balanced("t", 6)(d);
    run_until(
        &mut [&mut a, &mut b, &mut c],
        &topics,
        "b's leave",
        WAIT,
        &check,
        done,
    )
    .await
    .unwrap();
    assert_eq!((a.owned.len(), c.owned.len()), (3, 3));
    assert!(b.owned.is_empty() && b.member.state() == MemberState::Unjoined);
    let group = cluster.consumer_group(GROUP).unwrap();
    assert_eq!(group.members.len(), 2);
    assert!(
        group
            .members
            .values()
            .all(|m| m.epoch == group.epoch && m.revoking.is_empty())
    );
}

#[tokio::test]
async fn a_member_that_stops_heartbeating_is_removed_after_the_session_timeout() {
    let (cluster, topics) = cluster(4, Duration::from_millis(500)).await;
    let check = coordinator_exclusive(&cluster);
    let (mut a, _b) = two_members(&cluster, &topics, None).await;
    // b's process stops: only a runs on, and gets b's partitions once the session expired.
    let started = Instant::now();
    run_until(&mut [&mut a], &topics, "a alone", WAIT, &check, balanced("t", 4))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "not before the session timeout"
    );
    assert_eq!(cluster.consumer_group(GROUP).unwrap().members.len(), 1);
}

#[tokio::test]
async fn a_static_member_comes_back_to_its_partitions_and_a_duplicate_is_refused() {
    let (cluster, topics) = cluster(4, Duration::from_secs(10)).await;
    let check = coordinator_exclusive(&cluster);
    let (mut a, mut b) = two_members(&cluster, &topics, Some("instance-a")).await;
    let had = a.owned.clone();

    // Another process with the same group.instance.id while a is still there.
    let mut twin = driver(&cluster, "twin", Some("instance-a"), 1).await;
    let error = twin.refused(&["t"], &topics, WAIT).await.unwrap();
    assert!(
        matches!(error, GroupError::UnreleasedInstanceId { .. }),
        "{error:?}"
    );

    // a restarts: a temporary leave (epoch -2), then a new process with the same instance id.
    a.member.close(CloseMode::Default, Instant::now());
    let left = |d: &[&mut Driver]| d[0].closed;
    run_until(&mut [&mut a, &mut b], &topics, "a's leave", WAIT, &check, left)
        .await
        .unwrap();
    let mut again = driver(&cluster, "a again", Some("instance-a"), 1).await;
    again.member.subscribe(["t"], Instant::now()).unwrap();
    run_until(
        &mut [&mut again, &mut b],
        &topics,
        "a's return",
        WAIT,
        &check,
        balanced("t", 4),
    )
    .await
    .unwrap();
    assert_eq!(again.owned, had, "the static member got its partitions back");
}

#[tokio::test]
async fn a_broker_with_the_protocol_disabled_is_a_clear_configuration_error() {
    let cluster = Cluster::builder()
        .topic("t", 1)
        .consumer_protocol(false)
        .build()
        .await
        .unwrap();
    let addr = cluster.addr(1).unwrap();
    // The API is listed all the same.
    let listed = listed_versions(addr, ApiKey::ConsumerGroupHeartbeat)
        .await
        .unwrap();
    assert_eq!(listed, Some((0, 1)));
    let mut a = driver(&cluster, "a", None, 1).await;
    let topics: BTreeMap<Uuid, String> = BTreeMap::new();
    let error = a.refused(&["t"], &topics, WAIT).await.unwrap();
    assert!(
        matches!(error, GroupError::ConsumerProtocolUnsupported { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("group.protocol=classic"), "{error}");
    assert!(error.is_fatal());
    assert_eq!(a.member.state(), MemberState::Fatal);
}

#[tokio::test]
async fn a_fenced_member_loses_its_partitions_and_rejoins_with_epoch_0() {
    let (cluster, topics) = cluster(4, Duration::from_secs(10)).await;
    let check = coordinator_exclusive(&cluster);
    let (mut a, mut b) = two_members(&cluster, &topics, None).await;
    a.lost_allowed = true;
    let a_id = a.member.member_id().to_owned();
    // a's next heartbeat is refused as fenced (as after its rebalance timeout).
    cluster.control_once(move |req| match req.request {
        Request::ConsumerGroupHeartbeat(r) if r.member_id.as_str() == a_id && r.member_epoch > 0 => req
            .error_response(ErrorCode::FENCED_MEMBER_EPOCH)
            .map_or_else(Action::pass, Action::respond),
        _ => Action::pass(),
    });
    let done = |d: &[&mut Driver]| d[0].lost == 1 && balanced("t", 4)(d);
    run_until(&mut [&mut a, &mut b], &topics, "a's return", WAIT, &check, done)
        .await
        .unwrap();
    assert!(a.member.member_epoch() > 0);
    assert_eq!(b.lost, 0);
}
