//! The fake broker itself, driven at the protocol level through `kafkaroo_net::Connection`: fetch
//! sessions (KIP-227), byte limits (KIP-74), leader hints (KIP-951), epochs (KIP-320), ListOffsets.
//! These pin the fake's behaviour to Kafka's so the consumer tests mean something.

use std::time::Duration;

use bytes::Bytes;
use kafkaroo_net::{Connection, ConnectionConfig};
use kafkaroo_testkit::{ApiKey, Cluster, TopicRef};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use kafkaroo_wire::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafkaroo_wire::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafkaroo_wire::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, MetadataRequest, OffsetForLeaderEpochRequest, TopicName,
};
use kafkaroo_wire::protocol::StrBytes;

async fn connect(cluster: &Cluster, broker: i32) -> Connection {
    let addr = cluster.addr(broker).unwrap().to_string();
    Connection::connect(&addr, Some(broker), ConnectionConfig::default())
        .await
        .unwrap()
}

fn part(p: i32, offset: i64, max: i32) -> FetchPartition {
    FetchPartition::default()
        .with_partition(p)
        .with_fetch_offset(offset)
        .with_partition_max_bytes(max)
        .with_current_leader_epoch(-1)
        .with_last_fetched_epoch(-1)
}

fn fetch(topic: &TopicRef, parts: Vec<FetchPartition>, session: (i32, i32)) -> FetchRequest {
    let topics = if parts.is_empty() {
        Vec::new()
    } else {
        vec![
            FetchTopic::default()
                .with_topic_id(topic.id)
                .with_partitions(parts),
        ]
    };
    FetchRequest::default()
        .with_max_wait_ms(50)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(session.0)
        .with_session_epoch(session.1)
        .with_topics(topics)
}

/// `(partition, error, records length)` of each partition in a response, in order.
fn summary(r: &FetchResponse) -> Vec<(i32, i16, usize)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            (
                p.partition_index,
                p.error_code,
                p.records.as_ref().map_or(0, Bytes::len),
            )
        })
        .collect()
}

#[tokio::test]
async fn negotiates_the_advertised_versions() {
    let cluster = Cluster::builder()
        .max_version(ApiKey::Fetch, 12)
        .build()
        .await
        .unwrap();
    let conn = connect(&cluster, 1).await;
    assert_eq!(conn.negotiated_version::<FetchRequest>().unwrap(), 12);
    assert_eq!(conn.negotiated_version::<MetadataRequest>().unwrap(), 13);
    assert_eq!(conn.negotiated_version::<ListOffsetsRequest>().unwrap(), 10);
    assert_eq!(
        conn.negotiated_version::<OffsetForLeaderEpochRequest>().unwrap(),
        4
    );
}

#[tokio::test]
async fn fetch_sessions_full_incremental_forgotten_and_errors() {
    let cluster = Cluster::builder().topic("t", 2).build().await.unwrap();
    let t = cluster.topic("t").unwrap();
    cluster.produce("t", 0, ["a", "b"]).unwrap();
    cluster.produce("t", 1, ["c"]).unwrap();
    let conn = connect(&cluster, 1).await;

    // Full fetch creating a session: both partitions.
    let r = conn
        .send(&fetch(&t, vec![part(0, 0, 1000), part(1, 0, 1000)], (0, 0)))
        .await
        .unwrap();
    let id = r.session_id;
    assert!(id > 0);
    let s = summary(&r);
    assert_eq!(s.iter().map(|p| (p.0, p.1)).collect::<Vec<_>>(), [(0, 0), (1, 0)]);
    assert!(s.iter().all(|p| p.2 > 0));

    // Incremental, positions moved on: nothing new, so nothing listed (after max wait).
    let r = conn
        .send(&fetch(&t, vec![part(0, 2, 1000), part(1, 1, 1000)], (id, 1)))
        .await
        .unwrap();
    assert_eq!(summary(&r), []);
    // New data on partition 1 only: only it comes back, though the request lists nothing.
    cluster.produce("t", 1, ["d"]).unwrap();
    let r = conn.send(&fetch(&t, vec![], (id, 2))).await.unwrap();
    assert_eq!(summary(&r).iter().map(|p| p.0).collect::<Vec<_>>(), [1]);
    // Forget partition 1: the session holds only partition 0.
    let mut req = fetch(&t, vec![], (id, 3));
    req.forgotten_topics_data = vec![
        ForgottenTopic::default()
            .with_topic_id(t.id)
            .with_partitions(vec![1]),
    ];
    conn.send(&req).await.unwrap();
    let held = cluster.fetch_sessions(1);
    assert_eq!(held[0].partitions, [("t".to_owned(), 0, 2)]);
    assert_eq!(held[0].epoch, 4);

    // Wrong epoch, unknown session, evicted session.
    let r = conn.send(&fetch(&t, vec![], (id, 9))).await.unwrap();
    assert_eq!(r.error_code, ErrorCode::INVALID_FETCH_SESSION_EPOCH.0);
    let r = conn.send(&fetch(&t, vec![], (id + 100, 1))).await.unwrap();
    assert_eq!(r.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);
    cluster.evict_fetch_sessions(1);
    let r = conn.send(&fetch(&t, vec![], (id, 4))).await.unwrap();
    assert_eq!(r.error_code, ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);

    // Sessionless: no session id back, nothing held.
    let r = conn
        .send(&fetch(&t, vec![part(0, 0, 1000)], (0, -1)))
        .await
        .unwrap();
    assert_eq!(r.session_id, 0);
    assert!(cluster.fetch_sessions(1).is_empty());
}

#[tokio::test]
async fn byte_limits_whole_batches_and_kip74() {
    let cluster = Cluster::builder().topic("t", 2).build().await.unwrap();
    let t = cluster.topic("t").unwrap();
    let big = vec![b'x'; 2000];
    cluster.produce("t", 0, [&big]).unwrap();
    cluster.produce("t", 0, [&big]).unwrap();
    cluster.produce("t", 1, ["small"]).unwrap();
    let conn = connect(&cluster, 1).await;
    // Partition limit below the first batch: the first batch still comes whole (KIP-74), not the second.
    let r = conn
        .send(&fetch(&t, vec![part(0, 0, 100), part(1, 0, 100)], (0, -1)))
        .await
        .unwrap();
    let s = summary(&r);
    assert!(s[0].2 > 2000 && s[0].2 < 4000, "{s:?}");
    assert!(s[1].2 > 0, "other partitions within their own limit: {s:?}");
    // The response limit is spent on partition 0: partition 1 gets nothing.
    let mut req = fetch(&t, vec![part(0, 0, 10_000), part(1, 0, 10_000)], (0, -1));
    req.max_bytes = 2100;
    let s = summary(&conn.send(&req).await.unwrap());
    assert_eq!((s[0].2 > 2000 && s[0].2 < 2100, s[1].2), (true, 0), "{s:?}");
}

#[tokio::test]
async fn leader_hints_epochs_and_offsets() {
    let cluster = Cluster::builder().brokers(2).topic("t", 1).build().await.unwrap();
    let t = cluster.topic("t").unwrap();
    cluster.produce("t", 0, ["a", "b", "c"]).unwrap();
    cluster.produce("t", 0, ["d", "e"]).unwrap();
    let old = connect(&cluster, 1).await;
    cluster.unclean_leader_election("t", 0, 2, 3).unwrap();
    cluster.produce("t", 0, ["x"]).unwrap();
    assert_eq!(cluster.epoch_history("t", 0).unwrap(), [(0, 0), (1, 3)]);

    // The old leader: NOT_LEADER_OR_FOLLOWER naming broker 2, epoch 1, with its endpoint (v16+).
    let r = old
        .send(&fetch(&t, vec![part(0, 5, 1000)], (0, -1)))
        .await
        .unwrap();
    let p = &r.responses[0].partitions[0];
    assert_eq!(p.error_code, ErrorCode::NOT_LEADER_OR_FOLLOWER.0);
    assert_eq!(
        (p.current_leader.leader_id.0, p.current_leader.leader_epoch),
        (2, 1)
    );
    assert_eq!(r.node_endpoints[0].node_id.0, 2);
    assert_eq!(
        r.node_endpoints[0].port,
        i32::from(cluster.addr(2).unwrap().port())
    );

    let new = connect(&cluster, 2).await;
    // Fenced and unknown epochs.
    let mut fp = part(0, 0, 1000);
    fp.current_leader_epoch = 0;
    let r = new.send(&fetch(&t, vec![fp.clone()], (0, -1))).await.unwrap();
    assert_eq!(summary(&r)[0].1, ErrorCode::FENCED_LEADER_EPOCH.0);
    fp.current_leader_epoch = 2;
    let r = new.send(&fetch(&t, vec![fp], (0, -1))).await.unwrap();
    assert_eq!(summary(&r)[0].1, ErrorCode::UNKNOWN_LEADER_EPOCH.0);

    // Diverging epoch: fetched up to 5 in epoch 0, which ends at 3 on this leader.
    let mut fp = part(0, 5, 1000);
    fp.current_leader_epoch = 1;
    fp.last_fetched_epoch = 0;
    let r = new.send(&fetch(&t, vec![fp], (0, -1))).await.unwrap();
    let d = &r.responses[0].partitions[0].diverging_epoch;
    assert_eq!((d.epoch, d.end_offset), (0, 3));

    // OffsetForLeaderEpoch says the same.
    let req = OffsetForLeaderEpochRequest::default()
        .with_replica_id((-2).into())
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(1)
                        .with_leader_epoch(0),
                ]),
        ]);
    let r = new.send(&req).await.unwrap();
    let e = &r.topics[0].partitions[0];
    assert_eq!((e.error_code, e.leader_epoch, e.end_offset), (0, 0, 3));

    // ListOffsets earliest / latest, and after DeleteRecords.
    let list = |ts: i64| {
        ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_static_str("t")))
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_current_leader_epoch(1)
                            .with_timestamp(ts),
                    ]),
            ])
    };
    let offset = |r: &kafkaroo_wire::messages::ListOffsetsResponse| r.topics[0].partitions[0].offset;
    assert_eq!(offset(&new.send(&list(-2)).await.unwrap()), 0);
    assert_eq!(offset(&new.send(&list(-1)).await.unwrap()), 4);
    cluster.delete_records("t", 0, 2).unwrap();
    assert_eq!(offset(&new.send(&list(-2)).await.unwrap()), 2);
    let r = new
        .send(&fetch(&t, vec![part(0, 1, 1000)], (0, -1)))
        .await
        .unwrap();
    assert_eq!(summary(&r)[0].1, ErrorCode::OFFSET_OUT_OF_RANGE.0);
}

#[tokio::test]
async fn long_poll_answers_when_data_arrives() {
    let cluster = Cluster::builder().topic("t", 1).build().await.unwrap();
    let t = cluster.topic("t").unwrap();
    let conn = connect(&cluster, 1).await;
    let mut req = fetch(&t, vec![part(0, 0, 1000)], (0, -1));
    req.max_wait_ms = 5_000;
    let producer = cluster.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        producer.produce("t", 0, ["late"]).unwrap();
    });
    let started = tokio::time::Instant::now();
    let r = conn.send(&req).await.unwrap();
    assert!(summary(&r)[0].2 > 0);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered on arrival, not at max wait"
    );
}
