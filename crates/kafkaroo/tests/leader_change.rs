//! Leader change while consuming, on a real three-node KRaft cluster: the leader of a partition is stopped
//! mid-consumption; the consumer follows the new leader and delivers every record exactly once.

use std::collections::BTreeMap;
use std::time::Duration;

use kafkaroo::{AutoOffsetReset, Consumer, ConsumerConfig, TopicPartition};
use kafkaroo_testcontainers::{Cluster, ClusterOptions, ProduceRequest, TestRecord};

fn records(range: std::ops::Range<usize>) -> Vec<TestRecord> {
    range
        .map(|i| TestRecord::new(format!("k{i}"), format!("value-{i}")))
        .collect()
}

#[test]
fn leader_change_loses_and_repeats_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = Cluster::start(ClusterOptions {
        nodes: 3,
        ..ClusterOptions::default()
    })
    .expect("three-node cluster");
    let topic = cluster.unique_topic("leader-change");
    cluster
        .create_topic(&topic, 3, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    let produce = |range: std::ops::Range<usize>| {
        for p in 0..3 {
            let req = ProduceRequest::new(&topic, records(range.clone()))
                .partition(p)
                .producer_config("acks", "all");
            cluster.produce(&req).unwrap();
        }
    };
    produce(0..1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = ConsumerConfig::builder()
        .bootstrap_servers(cluster.bootstrap())
        .auto_offset_reset(AutoOffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .max_poll_records(200)
        .retry_backoff(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut consumer = rt.block_on(Consumer::new(config)).unwrap();
    consumer
        .assign((0..3).map(|p| TopicPartition::new(&topic, p)))
        .unwrap();
    let mut seen: BTreeMap<i32, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    let mut poll_until = |consumer: &mut Consumer, total: usize| {
        rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while seen.values().map(Vec::len).sum::<usize>() < total {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out at {:?}",
                    seen.iter().map(|(p, v)| (*p, v.len())).collect::<Vec<_>>()
                );
                for r in consumer
                    .poll(Duration::from_millis(500))
                    .await
                    .expect("no error reaches poll")
                {
                    seen.entry(r.partition())
                        .or_default()
                        .push((r.offset(), r.value().unwrap().to_vec()));
                }
            }
        })
    };
    poll_until(&mut consumer, 1500);
    let leader = cluster.leader_of(&topic, 0).unwrap();
    cluster.stop_node(leader).unwrap();
    let new_leader = cluster.leader_of(&topic, 0).unwrap();
    assert_ne!(new_leader, leader, "leadership moved");
    produce(1000..2000);
    poll_until(&mut consumer, 6000);
    for (p, got) in &seen {
        let offsets: Vec<i64> = got.iter().map(|(o, _)| *o).collect();
        assert_eq!(
            offsets,
            (0..2000).collect::<Vec<i64>>(),
            "partition {p}: gap or duplicate"
        );
        for (o, v) in got {
            assert_eq!(v, format!("value-{o}").as_bytes(), "partition {p} offset {o}");
        }
    }
    rt.block_on(consumer.close());
    cluster.start_node(leader).unwrap();
}
