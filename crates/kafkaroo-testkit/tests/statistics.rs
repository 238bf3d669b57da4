//! `Consumer::statistics`: a subscribed member's snapshot agrees with what `poll` handed out (records
//! consumed, positions, lag), the watermarks the cluster has, the pause state and the group's
//! rebalance count, and its JSON parses with librdkafka's names in the right places.

mod common;

use common::{Delivered, config, produce, tp};
use kafkaroo::{Consumer, MemberState};
use kafkaroo_testkit::Cluster;
use serde_json::Value;

#[tokio::test]
async fn a_snapshot_agrees_with_what_poll_handed_out() {
    let cluster = Cluster::builder().topic("s", 2).build().await.unwrap();
    produce(&cluster, "s", 0, 5);
    produce(&cluster, "s", 1, 3);
    let mut c = Consumer::new(
        config(&cluster)
            .group_id("stats")
            .client_id("stats-client")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    c.subscribe(["s"]).unwrap();

    let mut got = Delivered::default();
    got.poll_until(&mut c, "every record", |d| {
        d.count(&tp("s", 0)) == 5 && d.count(&tp("s", 1)) == 3
    })
    .await;
    c.pause(&[tp("s", 1)]).unwrap();
    let stats = c.statistics();
    assert_eq!(stats.client_id, "stats-client");
    assert_eq!(stats.records_consumed, 8);
    assert!(stats.fetches > 0 && stats.bytes_fetched > 0, "{stats:?}");
    assert_eq!(stats.memory_used, c.memory_used());
    let summary: Vec<_> = stats
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition.partition,
                p.position,
                p.high_watermark,
                p.lag,
                p.paused,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![(0, Some(5), 5, Some(0), false), (1, Some(3), 3, Some(0), true)]
    );
    let group = stats.group.as_ref().expect("subscribed");
    assert_eq!(group.group_id, "stats");
    assert_eq!(group.state.state, MemberState::Stable);
    assert_eq!(group.rebalances, 1);

    let json: Value = serde_json::from_str(&stats.to_json()).expect("valid JSON");
    assert_eq!(json["client_id"], "stats-client");
    assert_eq!(json["type"], "consumer");
    assert_eq!(json["rxmsgs"], 8);
    let p1 = &json["topics"]["s"]["partitions"]["1"];
    assert_eq!(p1["app_offset"], 3);
    assert_eq!(p1["hi_offset"], 3);
    assert_eq!(p1["consumer_lag"], 0);
    assert_eq!(p1["fetch_state"], "paused");
    assert_eq!(json["cgrp"]["rebalance_cnt"], 1);
    assert_eq!(json["cgrp"]["assignment_size"], 2);
    assert_eq!(json["cgrp"]["state"], "Stable");
}

#[tokio::test]
async fn an_assigned_consumer_has_no_group_statistics() {
    let cluster = Cluster::builder().topic("s", 1).build().await.unwrap();
    let c = common::consumer(config(&cluster), &[tp("s", 0)]).await;
    let stats = c.statistics();
    assert_eq!(stats.group, None);
    assert_eq!(stats.partitions.len(), 1);
    assert_eq!(stats.records_consumed, 0);
    let json: Value = serde_json::from_str(&stats.to_json()).unwrap();
    assert!(json.get("cgrp").is_none(), "{json}");
}
