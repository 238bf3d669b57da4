//! The pure KIP-848 member (kafkaroo-group's `ConsumerGroupMember`, no facade) against a real Kafka
//! broker (`group.protocol=consumer` is on by default from Kafka 4.0), over the driver of
//! [`kafkaroo_tests::kip848`]: three members share a topic with no partition owned twice at any step,
//! the shares balance after each join, a static member's twin and an unknown assignor are refused, a
//! subscription change needs no rejoin, a leaving member's partitions go to the others.

use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use kafkaroo_group::{GroupError, TopicPartition};
use kafkaroo_testcontainers::Cluster;
use kafkaroo_tests::kip848::{Driver, balanced, balanced_over, listed_versions, run_until, topic_ids};
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

        // A second process with c's group.instance.id is refused while c is in the group; an assignor
        // the broker does not have is refused too: both clear fatal errors.
        let mut twin = Driver::new(addr, &group, "twin", Some("static-c"), 1)
            .await
            .unwrap();
        let mut odd = Driver::new(addr, &group, "odd", None, 1).await.unwrap();
        odd.member = {
            let mut config = kafkaroo_group::ConsumerMemberConfig::new(group.as_str());
            config.server_assignor = Some("no-such-assignor".into());
            kafkaroo_group::ConsumerGroupMember::new(config, Instant::now()).unwrap()
        };
        let error = twin.refused(&[&topic], &topics, WAIT).await.unwrap();
        assert!(
            matches!(error, GroupError::UnreleasedInstanceId { .. }),
            "{error:?}"
        );
        let error = odd.refused(&[&topic], &topics, WAIT).await.unwrap();
        assert!(
            matches!(error, GroupError::UnsupportedAssignor { .. }),
            "{error:?}"
        );

        // A second topic joins the subscription: the next heartbeats carry it, nobody rejoins.
        let more = format!("{topic}-more");
        cluster.create_topic(&more, 2, 1, &[]).expect("topic created");
        let topics = topic_ids(addr, &[&topic, &more]).await.unwrap();
        for d in all.iter_mut() {
            d.member
                .subscribe([topic.as_str(), more.as_str()], Instant::now())
                .unwrap();
        }
        let both: Vec<TopicPartition> = (0..6)
            .map(|p| TopicPartition::new(topic.as_str(), p))
            .chain((0..2).map(|p| TopicPartition::new(more.as_str(), p)))
            .collect();
        run_until(
            all,
            &topics,
            "two topics",
            WAIT,
            none,
            balanced_over(both.clone()),
        )
        .await
        .unwrap();
        assert!(all.iter().all(|d| d.lost == 0));

        all[1].member.leave(Instant::now());
        let done = |d: &[&mut Driver]| d[1].closed && balanced_over(both.clone())(d);
        run_until(all, &topics, "b's leave", WAIT, none, done)
            .await
            .unwrap();
        assert_eq!((all[0].owned.len(), all[2].owned.len()), (4, 4));
        all[0].member.leave(Instant::now());
        all[2].member.leave(Instant::now());
        let closed = |d: &[&mut Driver]| d.iter().all(|d| d.closed);
        run_until(all, &topics, "the leaves", WAIT, none, closed)
            .await
            .unwrap();
    });
}
