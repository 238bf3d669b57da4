//! `store_offset` through a `CommitHandle` from a worker task, for a partition revoked a moment earlier:
//! the store is refused at once (`NotOwned`), and commits of the partitions the member still owns go on.
//! (Before: the stored offset was accepted, and every later `commit_stored`, the one on close included,
//! failed with `NotOwned` because the refused offsets were put back each time.)

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{produce, tp};
use kafkaroo::{Consumer, ConsumerRecord, Error, TopicPartition};
use kafkaroo_testkit::Cluster;
use tokio::time::Instant;

const GROUP: &str = "stored";

async fn member(cluster: &Cluster) -> Consumer {
    let config = common::config(cluster)
        .group_id(GROUP)
        .set("session.timeout.ms", "1500")
        .and_then(|b| b.set("heartbeat.interval.ms", "100"))
        .and_then(|b| b.set("enable.auto.commit", "false"))
        .and_then(|b| b.build())
        .expect("valid properties");
    let mut consumer = Consumer::new(config).await.expect("connect");
    consumer.subscribe(["t"]).unwrap();
    consumer
}

#[tokio::test]
async fn a_store_for_a_revoked_partition_is_refused_and_commits_of_owned_ones_go_on() {
    common::tracing();
    let cluster = Cluster::builder().brokers(1).topic("t", 2).build().await.unwrap();
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 5);

    // Member a owns both partitions and keeps the last record of each (a worker task still holds them).
    let mut a = member(&cluster).await;
    let mut held: BTreeMap<TopicPartition, ConsumerRecord> = BTreeMap::new();
    let deadline = Instant::now() + common::WAIT;
    while held.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "a never got records of both partitions"
        );
        for (tp, records) in a.poll(Duration::from_millis(50)).await.unwrap().partitions() {
            held.insert(tp.clone(), records.last().unwrap().clone());
        }
    }

    // Member b joins: one partition moves to it (cooperative-sticky).
    let mut b = member(&cluster).await;
    let deadline = Instant::now() + common::WAIT;
    while !(a.assignment().len() == 1 && b.assignment().len() == 1) {
        assert!(Instant::now() < deadline, "the rebalance did not finish");
        a.poll(Duration::from_millis(20)).await.unwrap();
        b.poll(Duration::from_millis(20)).await.unwrap();
    }
    let kept = a.assignment()[0].clone();
    let moved = [tp("t", 0), tp("t", 1)].into_iter().find(|p| *p != kept).unwrap();

    let handle = a.commit_handle();
    let worker = tokio::spawn({
        let handle = handle.clone();
        let late = held[&moved].clone();
        async move { handle.store_offset(&late) }
    });
    match worker.await.unwrap() {
        Err(Error::NotOwned { partitions }) => assert_eq!(partitions, vec![moved.clone()]),
        other => panic!("a store for the revoked {moved} must be refused, got {other:?}"),
    }

    handle
        .store_offset(&held[&kept])
        .expect("store for an owned partition");
    a.commit_stored().await.expect("commit of the owned partition");
    assert_eq!(cluster.committed(GROUP, "t", kept.partition), Some(5));
    assert_eq!(
        cluster.committed(GROUP, "t", moved.partition),
        None,
        "nothing committed for the moved partition"
    );
    a.close().await;
    b.close().await;
}

/// `lag` counts from the position, `committed_lag` from the group's committed offset.
#[tokio::test]
async fn lag_counts_from_the_position_and_committed_lag_from_the_commit() {
    common::tracing();
    let cluster = Cluster::builder().brokers(1).topic("t", 1).build().await.unwrap();
    produce(&cluster, "t", 0, 10);
    let t0 = tp("t", 0);
    let mut a = member(&cluster).await;
    let mut got = 0;
    let deadline = Instant::now() + common::WAIT;
    while got < 10 {
        assert!(Instant::now() < deadline, "only {got} of 10 records");
        got += a.poll(Duration::from_millis(50)).await.unwrap().iter().count();
    }
    // Nothing committed yet: no committed lag.
    assert_eq!(
        a.committed_lag(std::slice::from_ref(&t0)).await.unwrap()[&t0],
        None
    );
    a.commit_sync(Some(vec![(t0.clone(), kafkaroo::OffsetAndMetadata::new(4))]))
        .await
        .unwrap();
    assert_eq!(a.lag(&t0), Some(0), "every record was handed out");
    assert_eq!(
        a.committed_lag(std::slice::from_ref(&t0)).await.unwrap()[&t0],
        Some(6),
        "10 records, committed up to 4"
    );
    a.close().await;
}
