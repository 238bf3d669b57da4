//! Rack-aware assignment (KIP-881) on a real three-node KRaft cluster, each node in its own rack
//! (`broker.rack`): three members with `client.rack` set to the three racks share a 12-partition topic with
//! one replica per partition. With `range` and with `cooperative-sticky` every member gets four partitions,
//! and as many of them in its own rack as there can be: `min(partitions in its rack, 4)`. Kafka chooses
//! the placement; the test prints whether a rack-blind `range` (contiguous runs 0-3, 4-7, 8-11 in some
//! member order) could have passed with it.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use kafkaroo::{Consumer, ConsumerConfig, MemberState, TopicPartition};
use kafkaroo_testcontainers::{Cluster, ClusterOptions};

const PARTITIONS: i32 = 12;
const PER_MEMBER: usize = 4;

#[test]
fn members_get_the_partitions_in_their_rack() {
    common::init_tracing();
    let cluster = Cluster::start(ClusterOptions {
        nodes: 3,
        node_configs: (0..3)
            .map(|i| vec![("broker.rack".into(), format!("rack-{i}"))])
            .collect(),
        ..ClusterOptions::default()
    })
    .expect("three-node cluster");
    let topic = cluster.unique_topic("rack-assign");
    cluster.create_topic(&topic, PARTITIONS, 1, &[]).unwrap();
    let metadata = cluster.metadata(Some(&[topic.as_str()])).unwrap();
    let rack_of: BTreeMap<i32, String> = metadata.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition, format!("rack-{}", p.replicas[0])))
        .collect();
    eprintln!("replica racks: {rack_of:?}");
    let in_rack = |rack: usize| rack_of.values().filter(|r| **r == format!("rack-{rack}")).count();
    let best: Vec<usize> = (0..3).map(|rack| in_rack(rack).min(PER_MEMBER)).collect();
    let run_local = |run: i32, rack: usize| {
        (run * PER_MEMBER as i32..(run + 1) * PER_MEMBER as i32)
            .filter(|p| rack_of[p] == format!("rack-{rack}"))
            .count()
    };
    let orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let blind_could_pass = orders
        .iter()
        .any(|order| (0..3).all(|rack| run_local(order[rack], rack) == best[rack]));
    eprintln!("best rack-local per member {best:?}; a rack-blind range could pass: {blind_could_pass}");

    let rt = common::runtime();
    for strategy in ["range", "cooperative-sticky"] {
        let group = cluster.unique_topic(&format!("g-rack-{strategy}"));
        let assignments: Vec<Vec<TopicPartition>> = rt.block_on(async {
            let mut members = Vec::new();
            for rack in 0..3 {
                let config = ConsumerConfig::builder()
                    .bootstrap_servers(cluster.bootstrap())
                    .group_id(&group)
                    .set("heartbeat.interval.ms", "500")
                    .unwrap()
                    .set("client.rack", &format!("rack-{rack}"))
                    .unwrap()
                    .set("partition.assignment.strategy", strategy)
                    .unwrap()
                    .build()
                    .unwrap();
                let mut c = Consumer::new(config).await.unwrap();
                c.subscribe([topic.clone()]).unwrap();
                members.push(c);
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            loop {
                for c in &mut members {
                    c.poll(Duration::from_millis(50)).await.unwrap();
                }
                let done = members.iter().all(|c| {
                    c.group_state().is_some_and(|s| s.state == MemberState::Stable)
                        && c.assignment().len() == PER_MEMBER
                });
                if done {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{strategy}: no stable assignment of {PER_MEMBER} each: {:?}",
                    members.iter().map(Consumer::assignment).collect::<Vec<_>>()
                );
            }
            let out = members.iter().map(Consumer::assignment).collect();
            for c in members {
                c.close().await;
            }
            out
        });
        eprintln!("{strategy}: {assignments:?}");
        for (rack, partitions) in assignments.iter().enumerate() {
            let local = partitions
                .iter()
                .filter(|tp| rack_of[&tp.partition] == format!("rack-{rack}"))
                .count();
            assert_eq!(
                local, best[rack],
                "{strategy}: the member in rack-{rack} got {partitions:?} ({local} in its rack): {assignments:?}"
            );
        }
    }
}
