//! A dedicated three-node KRaft cluster: leader changes through stop_node / start_node.

use std::time::{Duration, Instant};

use kafkaroo_testcontainers::{
    Cluster, ClusterOptions, Isolation, ProduceRequest, Reader, Source, TestRecord, TxnSpec,
};

fn records(from: usize, to: usize) -> Vec<TestRecord> {
    (from..to)
        .map(|i| TestRecord::new(format!("k{i}"), format!("v{i}")))
        .collect()
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn leader_moves_when_its_node_stops_and_the_node_rejoins() {
    let started = Instant::now();
    let cluster = Cluster::start(ClusterOptions {
        nodes: 3,
        ..ClusterOptions::default()
    })
    .unwrap();
    eprintln!(
        "3 nodes of Kafka {} up in {:?}",
        cluster.version(),
        started.elapsed()
    );
    assert_eq!((cluster.source(), cluster.node_count()), (Source::Jvm, 3));
    assert_eq!(cluster.bootstrap().split(',').count(), 3);
    assert_eq!(cluster.data_dirs().len(), 3);
    assert_eq!(cluster.metadata(None).unwrap().brokers.len(), 3);

    let topic = cluster.unique_topic("leader");
    cluster
        .create_topic(&topic, 1, 3, &[("min.insync.replicas", "2")])
        .unwrap();
    let md = cluster.metadata(Some(&[&topic])).unwrap();
    let partition = &md.topic(&topic).unwrap().partitions[0];
    assert_eq!(
        (partition.replicas.len(), partition.isr.len()),
        (3, 3),
        "{partition:?}"
    );
    // Replicas create their log directories as they apply the topic record: soon, not necessarily yet.
    wait_until("a replica directory on every node", || {
        cluster.partition_dirs(&topic, 0).len() == 3
    });

    cluster
        .produce(&ProduceRequest::new(&topic, records(0, 5)))
        .unwrap();
    let leader = cluster.leader_of(&topic, 0).unwrap();
    let pid = cluster.node_pid(leader).unwrap();

    cluster.stop_node(leader).unwrap();
    assert!(!cluster.is_node_running(leader) && cluster.node_pid(leader).is_none());
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "JVM {pid} still there"
    );
    assert_eq!(cluster.metadata(None).unwrap().brokers.len(), 2);
    let new_leader = cluster.leader_of(&topic, 0).unwrap();
    assert!(
        new_leader >= 0 && new_leader != leader,
        "leader {leader} -> {new_leader}"
    );

    // Two live replicas satisfy min.insync.replicas=2: plain and transactional writes still work.
    cluster
        .produce(&ProduceRequest::new(&topic, records(5, 8)))
        .unwrap();
    let txns = [
        TxnSpec {
            records: records(8, 9),
            commit: false,
        },
        TxnSpec {
            records: records(9, 10),
            commit: true,
        },
    ];
    cluster.produce_transactions(&topic, Some(0), &txns).unwrap();

    cluster.start_node(leader).unwrap();
    assert!(cluster.is_node_running(leader));
    assert_eq!(cluster.metadata(None).unwrap().brokers.len(), 3);
    wait_until("the restarted replica back in the ISR", || {
        let md = cluster.metadata(Some(&[&topic])).unwrap();
        md.topic(&topic).is_some_and(|t| t.partitions[0].isr.len() == 3)
    });

    let got = cluster
        .read_records(&topic, 0, Isolation::ReadCommitted, Reader::Java)
        .unwrap();
    let values: Vec<_> = got.iter().map(|r| r.value.clone().unwrap()).collect();
    let expected: Vec<_> = (0..10)
        .filter(|i| *i != 8)
        .map(|i| format!("v{i}").into_bytes())
        .collect();
    assert_eq!(values, expected);
    eprintln!("whole test {:?}", started.elapsed());
}
