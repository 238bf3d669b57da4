//! The pure KIP-848 member (kafkaroo-group's `ConsumerGroupMember`, no facade) against a real Kafka
//! broker (`group.protocol=consumer` is on by default from Kafka 4.0), over the driver of
//! [`kafkaroo_tests::kip848`]: three members share a topic with no partition owned twice at any step,
//! the shares balance after each join, a leaving member's partitions go to the others.

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use kafkaroo_testcontainers::Cluster;
use kafkaroo_tests::kip848::{Driver, balanced, listed_versions, run_until, topic_ids};
use kafkaroo_wire::messages::ApiKey;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn members_share_a_topic_on_a_real_broker() {
    let cluster = Cluster::shared();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let topic = format!("kip848-{}", fastrand::u32(..));
    cluster.create_topic(&topic, 6, 1, &[]).expect("topic created");
    let addr = cluster
        .bootstrap()
        .split(',')
        .next()
        .and_then(|b| b.to_socket_addrs().ok()?.next())
        .expect("a broker address");
    let group = format!("kip848-group-{}", fastrand::u32(..));
    runtime.block_on(async {
        let listed = listed_versions(addr, ApiKey::ConsumerGroupHeartbeat)
            .await
            .unwrap();
        let version = cluster.version();
        assert!(
            listed.is_some_and(|(_, max)| max >= 1),
            "Kafka {version} lists ConsumerGroupHeartbeat v1: {listed:?}"
        );
        let topics = topic_ids(addr, &[&topic]).await.unwrap();
        assert_eq!(topics.len(), 1);

        let mut a = Driver::new(addr, &group, "a", None, 1).await.unwrap();
        let mut b = Driver::new(addr, &group, "b", None, 0).await.unwrap();
        let mut c = Driver::new(addr, &group, "c", Some("static-c"), 1).await.unwrap();
        let none = || Ok(());
        a.member.subscribe([topic.as_str()], Instant::now()).unwrap();
        run_until(&mut [&mut a], &topics, "a alone", WAIT, none, balanced(&topic, 6))
            .await
            .unwrap();
        b.member.subscribe([topic.as_str()], Instant::now()).unwrap();
        run_until(
            &mut [&mut a, &mut b],
            &topics,
            "a and b",
            WAIT,
            none,
            balanced(&topic, 6),
        )
        .await
        .unwrap();
        assert!(a.revocations >= 1, "a gave partitions up through a revocation");
        c.member.subscribe([topic.as_str()], Instant::now()).unwrap();
        let all = &mut [&mut a, &mut b, &mut c];
        run_until(all, &topics, "three", WAIT, none, balanced(&topic, 6))
            .await
            .unwrap();
        assert_eq!(
            [all[0].owned.len(), all[1].owned.len(), all[2].owned.len()],
            [2, 2, 2]
        );

        all[1].member.leave(Instant::now());
        let done = |d: &[&mut Driver]| d[1].closed && balanced(&topic, 6)(d);
        run_until(all, &topics, "b's leave", WAIT, none, done)
            .await
            .unwrap();
        assert_eq!((all[0].owned.len(), all[2].owned.len()), (3, 3));
        all[0].member.leave(Instant::now());
        all[2].member.leave(Instant::now());
        let closed = |d: &[&mut Driver]| d.iter().all(|d| d.closed);
        run_until(all, &topics, "the leaves", WAIT, none, closed)
            .await
            .unwrap();
    });
}
