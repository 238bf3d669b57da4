//! Idempotence under a broker restart, on a real three-node KRaft cluster: the leader of a partition is
//! stopped and started again while records stream in; every record is acknowledged, and each partition
//! holds every record once, in the order sent (sequence-checked: no duplicate, no gap).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kafkaroo_producer::{Producer, ProducerConfig, ProducerRecord};
use kafkaroo_testcontainers::{Cluster, ClusterOptions, Isolation, Reader};

const RECORDS: usize = 6000;

#[test]
fn a_leader_restart_loses_duplicates_and_reorders_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let cluster = Cluster::start(ClusterOptions {
        nodes: 3,
        ..ClusterOptions::default()
    })
    .expect("three-node cluster");
    let topic = cluster.unique_topic("produce-restart");
    cluster
        .create_topic(&topic, 3, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", cluster.bootstrap()),
        ("retry.backoff.ms", "50"),
        ("request.timeout.ms", "5000"),
        ("delivery.timeout.ms", "90000"),
    ])
    .unwrap();
    let producer = Arc::new(rt.block_on(Producer::new(config)).unwrap());
    let sending = {
        let (producer, topic) = (producer.clone(), topic.clone());
        rt.spawn(async move {
            let mut deliveries = Vec::with_capacity(RECORDS);
            for i in 0..RECORDS {
                let key = format!("k{}", i % 30);
                let value = format!("{i}");
                let record = ProducerRecord::new(&topic)
                    .key(key.as_bytes())
                    .value(value.as_bytes());
                deliveries.push(producer.send(record).await.expect("queued"));
                if i % 50 == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let mut written = Vec::with_capacity(RECORDS);
            for d in deliveries {
                written.push(d.await.expect("acknowledged despite the restart"));
            }
            written
        })
    };
    std::thread::sleep(Duration::from_millis(700));
    let leader = cluster.leader_of(&topic, 0).unwrap();
    cluster.stop_node(leader).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    cluster.start_node(leader).unwrap();
    let written = rt.block_on(sending).unwrap();
    rt.block_on(producer.close(Duration::from_secs(10)));

    // What the delivery futures said, checked against the log as Java's consumer reads it.
    let mut log: HashMap<(i32, i64), usize> = HashMap::new();
    let mut per_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for p in 0..3 {
        for r in cluster
            .read_records(&topic, p, Isolation::ReadUncommitted, Reader::Java)
            .unwrap()
        {
            let i: usize = String::from_utf8(r.value.unwrap()).unwrap().parse().unwrap();
            log.insert((p, r.offset), i);
            per_partition.entry(p).or_default().push(i);
        }
    }
    assert_eq!(log.len(), RECORDS, "every record once: no duplicate, no loss");
    for (i, m) in written.iter().enumerate() {
        assert_eq!(
            log.get(&(m.partition, m.offset)),
            Some(&i),
            "record {i} where its future said"
        );
    }
    for (p, seq) in &per_partition {
        assert!(seq.windows(2).all(|w| w[0] < w[1]), "partition {p} out of order");
    }
}
