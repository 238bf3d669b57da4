//! The consumer's fetch path under the faults of scenarios 18–27 (`docs/faults-and-invariants.md`, as
//! are the invariant numbers), against the fake cluster. Every test checks what the application got:
//! exact offsets and values per partition (no loss, no duplicate, in order: invariants 1, 4, 5), only
//! assigned partitions (6), and errors surfaced only where the application must decide (12).

mod common;

use std::time::Duration;

use common::{Delivered, WAIT, config, consumer, produce, tp, value};
use kafkaroo::{AutoOffsetReset, Error};
use kafkaroo_testkit::{Action, ApiKey, Cluster, Compression, TestBatch, TestRecord};
use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::fetch_response::EpochEndOffset;

async fn cluster(brokers: i32, partitions: i32) -> Cluster {
    common::tracing();
    Cluster::builder()
        .brokers(brokers)
        .topic("t", partitions)
        .build()
        .await
        .expect("cluster starts")
}

/// A Fetch request as `(session id, epoch, [(partition, fetch offset)])`.
type SentFetch = (i32, i32, Vec<(i32, i64)>);

/// Fetch requests to `broker`, in order.
fn fetches_to(cluster: &Cluster, broker: i32) -> Vec<SentFetch> {
    cluster
        .requests()
        .into_iter()
        .filter(|r| r.broker == broker)
        .filter_map(|r| {
            let f = r.request.as_fetch()?.clone();
            let parts = f
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
                .collect();
            Some((f.session_id, f.session_epoch, parts))
        })
        .collect()
}

// ----- 18: leader moved -----

/// The leader moves mid-consumption; Fetch 15 has no KIP-951 hint, so the consumer must go through
/// Metadata, and resume at the new leader from the very position it had.
#[tokio::test]
async fn s18_leader_moved_without_hint_refreshes_metadata_and_refetches_same_position() {
    common::tracing();
    let cluster = Cluster::builder()
        .brokers(2)
        .topic("t", 1)
        .max_version(ApiKey::Fetch, 15)
        .build()
        .await
        .unwrap();
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;
    let metadata_before = cluster.request_count(ApiKey::Metadata);

    assert_eq!(cluster.move_leader("t", 0, 2).unwrap(), 1);
    produce(&cluster, "t", 0, 10);
    d.poll_count(&mut c, &t0, 20).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;

    d.assert_exact(&t0, 0..20);
    d.assert_no_errors();
    assert!(
        cluster.request_count(ApiKey::Metadata) > metadata_before,
        "metadata was refreshed after NOT_LEADER_OR_FOLLOWER"
    );
    let first_at_new_leader = fetches_to(&cluster, 2)
        .into_iter()
        .find(|f| !f.2.is_empty())
        .expect("fetched from the new leader");
    assert_eq!(
        first_at_new_leader.2,
        vec![(0, 10)],
        "same position at the new leader"
    );
}

/// Fetch 16+: the old leader's NOT_LEADER_OR_FOLLOWER names the new leader (KIP-951); the consumer
/// follows it and loses nothing.
#[tokio::test]
async fn s18_leader_moved_with_kip951_hint_switches_to_new_leader() {
    let cluster = cluster(2, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;

    cluster.move_leader("t", 0, 2).unwrap();
    produce(&cluster, "t", 0, 5);
    d.poll_count(&mut c, &t0, 15).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;

    d.assert_exact(&t0, 0..15);
    d.assert_no_errors();
    let at_new = fetches_to(&cluster, 2);
    assert_eq!(
        at_new.iter().find(|f| !f.2.is_empty()).map(|f| f.2.clone()),
        Some(vec![(0, 10)])
    );
    // KIP-320 validation at the new leader: the position is checked against epoch 0's end offset.
    assert!(cluster.request_count_to(2, ApiKey::OffsetForLeaderEpoch) >= 1);
}

/// Every leadership error code, injected twice mid-consumption: retried internally, nothing lost or
/// repeated, metadata refreshed.
#[tokio::test]
async fn s18_leadership_error_codes_are_retried_without_loss() {
    for code in [
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::LEADER_NOT_AVAILABLE,
        ErrorCode::REPLICA_NOT_AVAILABLE,
        ErrorCode::KAFKA_STORAGE_ERROR,
    ] {
        let cluster = cluster(1, 2).await;
        let topic = cluster.topic("t").unwrap();
        let (t0, t1) = (tp("t", 0), tp("t", 1));
        produce(&cluster, "t", 0, 5);
        produce(&cluster, "t", 1, 5);
        let mut c = consumer(config(&cluster), &[t0.clone(), t1.clone()]).await;
        let mut d = Delivered::default();
        d.poll_until(&mut c, "first records", |d| {
            d.count(&t0) == 5 && d.count(&t1) == 5
        })
        .await;
        let metadata_before = cluster.request_count(ApiKey::Metadata);

        let fault = cluster.fail_fetch(&topic, 0, code, 2);
        produce(&cluster, "t", 0, 5);
        produce(&cluster, "t", 1, 5);
        d.poll_until(&mut c, "all records", |d| {
            d.count(&t0) == 10 && d.count(&t1) == 10
        })
        .await;
        d.poll_settled_for(&mut c, &cluster, &[&t0, &t1]).await;

        assert_eq!(cluster.fired(fault), 2, "{code:?} injected twice");
        d.assert_exact(&t0, 0..10);
        d.assert_exact(&t1, 0..10);
        d.assert_no_errors();
        assert!(
            cluster.request_count(ApiKey::Metadata) > metadata_before,
            "{code:?}: metadata refreshed"
        );
    }
}

// ----- 19: leader epochs and truncation -----

/// A new leader epoch on the same broker: the consumer's fetch carries the old epoch, the broker answers
/// FENCED_LEADER_EPOCH, the consumer refreshes metadata, validates its position and goes on.
#[tokio::test]
async fn s19_fenced_leader_epoch_refreshes_metadata_and_continues() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 5).await;
    let metadata_before = cluster.request_count(ApiKey::Metadata);

    assert_eq!(cluster.bump_leader_epoch("t", 0).unwrap(), 1);
    produce(&cluster, "t", 0, 5);
    d.poll_count(&mut c, &t0, 10).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;

    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
    assert!(cluster.request_count(ApiKey::Metadata) > metadata_before);
    let last = cluster
        .requests()
        .into_iter()
        .rev()
        .find_map(|r| r.request.as_fetch().cloned())
        .unwrap();
    let epochs: Vec<i32> = last
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.current_leader_epoch))
        .collect();
    assert!(
        epochs.iter().all(|&e| e == 1),
        "fetching with the new epoch: {epochs:?}"
    );
}

/// UNKNOWN_LEADER_EPOCH (the consumer is ahead of the broker) is retried.
#[tokio::test]
async fn s19_unknown_leader_epoch_is_retried() {
    let cluster = cluster(1, 1).await;
    let topic = cluster.topic("t").unwrap();
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let fault = cluster.fail_fetch(&topic, 0, ErrorCode::UNKNOWN_LEADER_EPOCH, 3);
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 5).await;
    produce(&cluster, "t", 0, 5);
    d.poll_count(&mut c, &t0, 10).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    assert_eq!(cluster.fired(fault), 3);
    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
}

/// Sets up an unclean election: the consumer read 0..10 in epoch 0, then broker 2 becomes leader with a
/// log ending at 5 and writes 5..8 in epoch 1 (different records at offsets the consumer already saw).
async fn truncated(policy: AutoOffsetReset, fetch_max: i16) -> (Cluster, kafkaroo::Consumer, Delivered) {
    common::tracing();
    let cluster = Cluster::builder()
        .brokers(2)
        .topic("t", 1)
        .max_version(ApiKey::Fetch, fetch_max)
        .build()
        .await
        .unwrap();
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 0, 5);
    let mut c = consumer(
        config(&cluster).auto_offset_reset(policy),
        std::slice::from_ref(&t0),
    )
    .await;
    c.seek(&t0, 0).unwrap();
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;
    assert_eq!(cluster.unclean_leader_election("t", 0, 2, 5).unwrap(), 1);
    let new = cluster.produce("t", 0, ["new-5", "new-6", "new-7"]).unwrap();
    assert_eq!(new, 5..8);
    (cluster, c, d)
}

/// KIP-320 after an unclean election: OffsetForLeaderEpoch says epoch 0 ends at 5, below the position
/// 10; with a reset policy the consumer resumes at 5 and reads the new leader's records.
#[tokio::test]
async fn s19_truncation_detected_by_offset_for_leader_epoch_resets_to_end_offset() {
    for fetch_max in [11, 17] {
        let (cluster, mut c, mut d) = truncated(AutoOffsetReset::Earliest, fetch_max).await;
        let t0 = tp("t", 0);
        d.poll_count(&mut c, &t0, 13).await;
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        d.assert_no_errors();
        let offsets = d.offsets(&t0);
        assert_eq!(
            offsets,
            [(0..10).collect::<Vec<_>>(), vec![5, 6, 7]].concat(),
            "Fetch {fetch_max}"
        );
        let tail: Vec<_> = d.records[&t0][10..]
            .iter()
            .map(|(_, v)| v.clone().unwrap())
            .collect();
        assert_eq!(tail, [b"new-5".to_vec(), b"new-6".to_vec(), b"new-7".to_vec()]);
        assert!(cluster.request_count_to(2, ApiKey::OffsetForLeaderEpoch) >= 1);
        assert_eq!(c.position(&t0).await.unwrap(), 8);
    }
}

/// The same truncation with `auto.offset.reset=none`: a `LogTruncation` error naming the partition, the
/// position and the leader's end offset; the partition stops until the application seeks.
#[tokio::test]
async fn s19_truncation_with_policy_none_surfaces_log_truncation() {
    let (_cluster, mut c, mut d) = truncated(AutoOffsetReset::None, 17).await;
    let t0 = tp("t", 0);
    d.poll_until(&mut c, "a LogTruncation error", |d| !d.errors.is_empty())
        .await;
    match &d.errors[..] {
        [
            Error::LogTruncation {
                partition,
                position,
                end_offset,
            },
        ] => {
            assert_eq!((partition, *position, *end_offset), (&t0, 10, 5));
        }
        other => panic!("expected one LogTruncation, got {other:?}"),
    }
    // No event to wait for: the stopped partition is the only one, so the consumer sends no Fetch.
    d.poll_quiet(&mut c, Duration::from_millis(100)).await;
    d.assert_exact(&t0, 0..10);
    assert_eq!(d.errors.len(), 1);
    c.seek(&t0, 5).unwrap();
    d.poll_count(&mut c, &t0, 13).await;
    assert_eq!(d.offsets(&t0)[10..], [5, 6, 7]);
}

/// Fetch 12+: a diverging epoch returned inline by the leader resets the position to its end offset.
#[tokio::test]
async fn s19_diverging_epoch_in_fetch_response_resets_to_its_end_offset() {
    let cluster = cluster(1, 1).await;
    let topic = cluster.topic("t").unwrap();
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;
    let t = topic.clone();
    let scope = cluster.clone();
    let fault = cluster.control_once(move |req| {
        if !scope.fetch_includes(req, &t.name, 0) {
            return Action::pass();
        }
        let t = t.clone();
        Action::edit(move |resp| {
            let p = resp.fetch_partition_mut(&t, 0).unwrap();
            p.diverging_epoch = EpochEndOffset::default().with_epoch(0).with_end_offset(7);
            p.records = Some(Default::default());
        })
    });
    assert!(cluster.wait_fired(fault, 1, WAIT).await);
    d.poll_count(&mut c, &t0, 13).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_no_errors();
    assert_eq!(
        d.offsets(&t0),
        [(0..10).collect::<Vec<_>>(), vec![7, 8, 9]].concat()
    );
}

/// Two leader changes in a row (1 -> 2 -> 1) while the consumer validates its position (librdkafka 0139):
/// no duplicate, no loss, no error.
#[tokio::test]
async fn s19_two_quick_leader_changes_during_validation() {
    let cluster = cluster(2, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;
    assert_eq!(cluster.move_leader("t", 0, 2).unwrap(), 1);
    produce(&cluster, "t", 0, 3);
    assert!(
        cluster
            .wait_for(WAIT, |log| log
                .iter()
                .any(|r| r.broker == 2 && r.api_key() == ApiKey::OffsetForLeaderEpoch))
            .await,
        "validation at the new leader"
    );
    assert_eq!(cluster.move_leader("t", 0, 1).unwrap(), 2);
    produce(&cluster, "t", 0, 3);
    d.poll_count(&mut c, &t0, 16).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_exact(&t0, 0..16);
    d.assert_no_errors();
}

// ----- 20: offset out of range -----

/// Below the log start with `earliest`: restart from the log start, nothing surfaced.
#[tokio::test]
async fn s20_out_of_range_resets_to_log_start_with_earliest() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 0, 5);
    cluster.delete_records("t", 0, 5).unwrap();
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    c.seek(&t0, 2).unwrap();
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 5).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_exact(&t0, 5..10);
    d.assert_no_errors();
    assert!(cluster.request_count(ApiKey::ListOffsets) >= 1);
}

/// Past the end with `latest`: jump to the end and read what comes next.
#[tokio::test]
async fn s20_out_of_range_resets_to_end_with_latest() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let mut c = consumer(
        config(&cluster).auto_offset_reset(AutoOffsetReset::Latest),
        std::slice::from_ref(&t0),
    )
    .await;
    c.seek(&t0, 50).unwrap();
    // Wait for the reset before producing, so "latest" is 5.
    let deadline = tokio::time::Instant::now() + WAIT;
    while c.position(&t0).await.ok() != Some(5) {
        assert!(tokio::time::Instant::now() < deadline, "reset to 5");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    produce(&cluster, "t", 0, 5);
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 5).await;
    d.assert_exact(&t0, 5..10);
    d.assert_no_errors();
}

/// With `none`: an error naming the partition and the offset that was out of range.
#[tokio::test]
async fn s20_out_of_range_with_policy_none_names_partition_and_offset() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    cluster.delete_records("t", 0, 10).unwrap();
    let mut c = consumer(
        config(&cluster).auto_offset_reset(AutoOffsetReset::None),
        std::slice::from_ref(&t0),
    )
    .await;
    c.seek(&t0, 3).unwrap();
    let mut d = Delivered::default();
    d.poll_until(&mut c, "an out-of-range error", |d| !d.errors.is_empty())
        .await;
    match &d.errors[..] {
        [Error::NoOffsetForPartition { partition, offset }] => {
            assert_eq!((partition, *offset), (&t0, Some(3)));
        }
        other => panic!("expected NoOffsetForPartition, got {other:?}"),
    }
    assert!(d.records.is_empty());
}

/// An OFFSET_OUT_OF_RANGE answer to a fetch sent before a seek is stale: it is discarded, no reset and
/// no error (policy `none` would surface one), and the consumer reads from the seek position.
#[tokio::test]
async fn s20_stale_out_of_range_response_after_seek_is_discarded() {
    let cluster = cluster(1, 1).await;
    let topic = cluster.topic("t").unwrap();
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let scope = cluster.clone();
    let t = topic.clone();
    let fault = cluster.control_once(move |req| {
        if !scope.fetch_includes(req, "t", 0) {
            return Action::pass();
        }
        let t = t.clone();
        Action::edit(move |resp| resp.set_fetch_error(&t, 0, ErrorCode::OFFSET_OUT_OF_RANGE))
            .after(Duration::from_millis(300))
    });
    let mut c = consumer(
        config(&cluster).auto_offset_reset(AutoOffsetReset::None),
        std::slice::from_ref(&t0),
    )
    .await;
    c.seek(&t0, 0).unwrap();
    assert!(
        cluster.wait_fired(fault, 1, WAIT).await,
        "the fetch at 0 went out"
    );
    c.seek(&t0, 6).unwrap();
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 4).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_exact(&t0, 6..10);
    d.assert_no_errors();
}

// ----- 21: unknown topic or partition -----

/// UNKNOWN_TOPIC_OR_PARTITION (Fetch < 13) and UNKNOWN_TOPIC_ID (13+), transiently: retried, delivered.
#[tokio::test]
async fn s21_transient_unknown_topic_is_retried() {
    for (fetch_max, code) in [
        (12, ErrorCode::UNKNOWN_TOPIC_OR_PARTITION),
        (17, ErrorCode::UNKNOWN_TOPIC_ID),
    ] {
        common::tracing();
        let cluster = Cluster::builder()
            .topic("t", 1)
            .max_version(ApiKey::Fetch, fetch_max)
            .build()
            .await
            .unwrap();
        let topic = cluster.topic("t").unwrap();
        let t0 = tp("t", 0);
        produce(&cluster, "t", 0, 5);
        let fault = cluster.fail_fetch(&topic, 0, code, 3);
        let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
        let mut d = Delivered::default();
        d.poll_count(&mut c, &t0, 5).await;
        produce(&cluster, "t", 0, 5);
        d.poll_count(&mut c, &t0, 10).await;
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        assert_eq!(cluster.fired(fault), 3);
        d.assert_exact(&t0, 0..10);
        d.assert_no_errors();
    }
}

/// The topic is deleted for good: after metadata retries the consumer reports `UnknownTopic`; another
/// topic keeps delivering.
#[tokio::test]
async fn s21_deleted_topic_surfaces_unknown_topic_and_others_continue() {
    let cluster = cluster(1, 1).await;
    cluster.create_topic("u", 1).unwrap();
    let (t0, u0) = (tp("t", 0), tp("u", 0));
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "u", 0, 5);
    let mut c = consumer(config(&cluster), &[t0.clone(), u0.clone()]).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "first records", |d| {
        d.count(&t0) == 5 && d.count(&u0) == 5
    })
    .await;
    cluster.delete_topic("t").unwrap();
    d.poll_until(&mut c, "an UnknownTopic error", |d| !d.errors.is_empty())
        .await;
    assert!(
        matches!(&d.errors[..], [Error::UnknownTopic { topic }] if topic == "t"),
        "{:?}",
        d.errors
    );
    produce(&cluster, "u", 0, 5);
    d.poll_count(&mut c, &u0, 10).await;
    d.assert_exact(&t0, 0..5);
    d.assert_exact(&u0, 0..10);
}

/// The topic is deleted and re-created under the same name (a new topic id) while assigned. Scenario 21:
/// treat it as a new partition and reset per `auto.offset.reset` (here earliest: the new topic's records
/// from offset 0), never carry the old position over (that silently skips the new records below it).
#[tokio::test]
async fn s21_recreated_topic_with_new_id_resets_the_position() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 3);
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 3).await;
    let old = cluster.topic("t").unwrap();
    cluster.delete_topic("t").unwrap();
    let new = cluster.create_topic("t", 1).unwrap();
    assert_ne!(old.id, new.id);
    let values: Vec<String> = (0..5).map(|i| format!("new-{i}")).collect();
    cluster.produce("t", 0, &values).unwrap();
    d.poll_until(&mut c, "the re-created topic's records", |d| d.count(&t0) >= 8)
        .await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    assert_eq!(d.offsets(&t0), vec![0, 1, 2, 0, 1, 2, 3, 4]);
    let tail: Vec<_> = d.records[&t0][3..]
        .iter()
        .map(|(_, v)| v.clone().unwrap())
        .collect();
    assert_eq!(
        tail,
        values.iter().map(|v| v.as_bytes().to_vec()).collect::<Vec<_>>()
    );
}

// ----- 22: fetch sessions -----

/// The broker evicted the session: the next incremental fetch gets FETCH_SESSION_ID_NOT_FOUND and the
/// consumer falls back to a full fetch creating a new session, from the same positions.
#[tokio::test]
async fn s22_evicted_session_falls_back_to_full_fetch() {
    let cluster = cluster(1, 2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 5);
    let mut c = consumer(config(&cluster), &[t0.clone(), t1.clone()]).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "first records", |d| {
        d.count(&t0) == 5 && d.count(&t1) == 5
    })
    .await;
    assert!(
        cluster
            .wait_for(WAIT, |log| log
                .iter()
                .any(|r| r.request.as_fetch().is_some_and(|f| f.session_epoch >= 1)))
            .await,
        "an incremental fetch"
    );
    let sessions = cluster.fetch_sessions(1);
    assert_eq!(sessions.len(), 1, "one session: {sessions:?}");
    let old_id = sessions[0].id;
    let before = fetches_to(&cluster, 1).len();
    cluster.evict_fetch_sessions(1);
    assert!(
        cluster
            .wait_for(WAIT, |log| log
                .iter()
                .filter(|r| r.broker == 1)
                .filter_map(|r| r.request.as_fetch())
                .skip(before)
                .any(|f| (f.session_id, f.session_epoch) == (0, 0)))
            .await,
        "a full fetch after the eviction"
    );
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 5);
    d.poll_until(&mut c, "all records", |d| {
        d.count(&t0) == 10 && d.count(&t1) == 10
    })
    .await;
    d.poll_settled_for(&mut c, &cluster, &[&t0, &t1]).await;
    d.assert_exact(&t0, 0..10);
    d.assert_exact(&t1, 0..10);
    d.assert_no_errors();

    let after = &fetches_to(&cluster, 1)[before..];
    let rejected = after
        .iter()
        .position(|f| f.0 == old_id && f.1 >= 1)
        .expect("an incremental fetch on the evicted session");
    let (id, epoch, parts) = &after[rejected + 1];
    assert_eq!((*id, *epoch), (0, 0), "full fetch creating a session");
    assert_eq!(parts, &vec![(0, 5), (1, 5)], "every partition, from its position");
    let sessions = cluster.fetch_sessions(1);
    assert!(sessions.iter().all(|s| s.id != old_id));
}

/// INVALID_FETCH_SESSION_EPOCH and FETCH_SESSION_ID_NOT_FOUND injected: the next request is a full fetch.
#[tokio::test]
async fn s22_session_errors_reset_to_full_fetch() {
    for code in [
        ErrorCode::INVALID_FETCH_SESSION_EPOCH,
        ErrorCode::FETCH_SESSION_ID_NOT_FOUND,
    ] {
        let cluster = cluster(1, 1).await;
        let t0 = tp("t", 0);
        produce(&cluster, "t", 0, 5);
        let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
        let mut d = Delivered::default();
        d.poll_count(&mut c, &t0, 5).await;
        let fault = cluster.control_once(move |req| match req.fetch() {
            Some(f) if f.session_epoch >= 1 => Action::edit(move |resp| {
                let f = resp.as_fetch_mut().unwrap();
                f.error_code = code.0;
                f.session_id = 0;
                f.responses.clear();
            }),
            _ => Action::pass(),
        });
        assert!(cluster.wait_fired(fault, 1, WAIT).await);
        produce(&cluster, "t", 0, 5);
        d.poll_count(&mut c, &t0, 10).await;
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        d.assert_exact(&t0, 0..10);
        d.assert_no_errors();

        let fetches = fetches_to(&cluster, 1);
        let failed = fetches
            .iter()
            .position(|f| f.1 >= 1)
            .expect("the incremental fetch that failed");
        let (id, epoch, parts) = &fetches[failed + 1];
        assert_eq!((*id, *epoch), (0, 0), "{code:?}: full fetch next");
        assert_eq!(parts, &vec![(0, 5)], "{code:?}");
    }
}

/// `fetch_sessions(false)`: every fetch is sessionless (id 0, epoch -1) and lists every partition.
#[tokio::test]
async fn s22_sessions_disabled_send_epoch_minus_one() {
    let cluster = cluster(1, 2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 5);
    let mut c = consumer(config(&cluster).fetch_sessions(false), &[t0.clone(), t1.clone()]).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "all records", |d| d.count(&t0) == 5 && d.count(&t1) == 5)
        .await;
    d.poll_settled_for(&mut c, &cluster, &[&t0, &t1]).await;
    d.assert_exact(&t0, 0..5);
    d.assert_exact(&t1, 0..5);
    let fetches = fetches_to(&cluster, 1);
    assert!(fetches.len() >= 2);
    assert!(fetches.iter().all(|f| (f.0, f.1) == (0, -1)), "{fetches:?}");
    assert!(cluster.fetch_sessions(1).is_empty());
}

// ----- 23: connection reset mid-response -----

/// Half a response frame, then EOF: the fetch fails, the consumer reconnects and fetches the same
/// positions again (with a full fetch, as sessions die with the connection's failure).
#[tokio::test]
async fn s23_connection_reset_mid_response_refetches_unchanged_positions() {
    let cluster = cluster(1, 2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 10);
    produce(&cluster, "t", 1, 10);
    let scope = cluster.clone();
    let fault = cluster.control_once(move |req| {
        if scope.fetch_includes(req, "t", 0) {
            Action::close_mid_response()
        } else {
            Action::pass()
        }
    });
    let mut c = consumer(config(&cluster), &[t0.clone(), t1.clone()]).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "all records", |d| {
        d.count(&t0) == 10 && d.count(&t1) == 10
    })
    .await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    assert_eq!(cluster.fired(fault), 1);
    d.assert_exact(&t0, 0..10);
    d.assert_exact(&t1, 0..10);
    d.assert_no_errors();
    let fetches = fetches_to(&cluster, 1);
    assert_eq!(fetches[0].2, vec![(0, 0), (1, 0)]);
    assert_eq!(
        fetches[1].2,
        vec![(0, 0), (1, 0)],
        "same positions after the reset"
    );
    assert!(fetches[1].1 <= 0, "a full fetch after the reset");
    // Bootstrap/metadata, the first fetch connection, its replacement (plus ListOffsets).
    assert!(cluster.connections(1) >= 3, "reconnected");
}

/// A broker that closes the connection instead of answering, three times in a row: still exact.
#[tokio::test]
async fn s23_repeated_connection_closes_are_survived() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 10);
    let scope = cluster.clone();
    let fault = cluster.control_times(3, move |req| {
        if scope.fetch_includes(req, "t", 0) {
            Action::close()
        } else {
            Action::pass()
        }
    });
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 10).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    assert_eq!(cluster.fired(fault), 3);
    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
}

/// The connection carrying ListOffsets (resolving the starting offset) breaks mid-response: the
/// consumer reconnects, resolves again and starts at the right offset.
#[tokio::test]
async fn s23_connection_reset_during_list_offsets() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let fault = cluster.control_once(|req| {
        if req.api_key() == ApiKey::ListOffsets {
            Action::close_mid_response()
        } else {
            Action::pass()
        }
    });
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 5).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    assert_eq!(cluster.fired(fault), 1);
    assert!(cluster.request_count(ApiKey::ListOffsets) >= 2);
    d.assert_exact(&t0, 0..5);
    d.assert_no_errors();
}

/// A partition unassigned while its fetch is in flight (held by a slow broker): the late response is
/// dropped, nothing of that partition is returned after `assign` (invariant 6).
#[tokio::test]
async fn s23_late_response_for_an_unassigned_partition_is_dropped() {
    let cluster = cluster(1, 2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 5);
    let scope = cluster.clone();
    let slow = cluster.control_once(move |req| {
        if scope.fetch_includes(req, "t", 0) {
            Action::handle().after(Duration::from_millis(300))
        } else {
            Action::pass()
        }
    });
    let mut c = consumer(config(&cluster), &[t0.clone(), t1.clone()]).await;
    assert!(cluster.wait_fired(slow, 1, WAIT).await);
    c.assign([t1.clone()]).unwrap();
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t1, 5).await;
    d.poll_settled_for(&mut c, &cluster, &[&t1]).await;
    assert_eq!(d.count(&t0), 0, "nothing of the unassigned partition");
    d.assert_exact(&t1, 0..5);
    d.assert_no_errors();
}

// ----- 24: black hole -----

/// Fetches get no answer at all: the request timeout closes the connection and the consumer retries on a
/// new one; when the broker answers again, delivery resumes, exactly.
#[tokio::test]
async fn s24_black_holed_broker_times_out_and_delivery_resumes() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let mut c = consumer(
        config(&cluster).request_timeout(Duration::from_millis(250)),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 5).await;
    let connections = cluster.connections(1);

    let hole = cluster.control(|req| {
        if req.fetch().is_some() {
            Action::black_hole()
        } else {
            Action::pass()
        }
    });
    produce(&cluster, "t", 0, 5);
    assert!(
        cluster.wait_fired(hole, 3, WAIT).await,
        "fetch retried after request timeouts"
    );
    cluster.remove_control(hole);
    d.poll_count(&mut c, &t0, 10).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
    assert!(
        cluster.connections(1) >= connections + 3,
        "each timeout closed the connection: {} -> {}",
        connections,
        cluster.connections(1)
    );
}

/// A slow broker (answers after a delay shorter than the timeout) is just slow: no retry, no reconnect.
#[tokio::test]
async fn s24_slow_but_answering_broker_is_waited_for() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 5);
    let slow = cluster.control_times(3, |req| {
        if req.fetch().is_some() {
            Action::handle().after(Duration::from_millis(100))
        } else {
            Action::pass()
        }
    });
    let mut c = consumer(
        config(&cluster).request_timeout(Duration::from_secs(2)),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 5).await;
    let connections = cluster.connections(1);
    assert!(cluster.wait_fired(slow, 3, WAIT).await);
    produce(&cluster, "t", 0, 5);
    d.poll_count(&mut c, &t0, 10).await;
    d.assert_exact(&t0, 0..10);
    d.assert_no_errors();
    assert_eq!(cluster.connections(1), connections, "no reconnect");
}

// ----- 25: truncated trailing batches -----

/// Kafka-style reads cut at `max.partition.fetch.bytes`, so nearly every response ends in a partial
/// batch: the consumer stops at it and fetches again from the next offset.
#[tokio::test]
async fn s25_partial_trailing_batch_in_every_response() {
    common::tracing();
    let cluster = Cluster::builder()
        .topic("t", 1)
        .partial_batches(true)
        .build()
        .await
        .unwrap();
    let t0 = tp("t", 0);
    for _ in 0..20 {
        produce(&cluster, "t", 0, 3);
    }
    let one = TestBatch::new(
        0,
        (0..3)
            .map(|i| TestRecord::new(i, None, Some(&value(0, 10)[..])))
            .collect(),
    )
    .encode()
    .len();
    let mut c = consumer(
        config(&cluster).max_partition_fetch_bytes((one + one / 2) as i32),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 60).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    d.assert_exact(&t0, 0..60);
    d.assert_no_errors();
    let fetches = fetches_to(&cluster, 1);
    assert!(
        fetches.iter().filter(|f| !f.2.is_empty()).count() >= 20,
        "one batch per fetch: {}",
        fetches.len()
    );
}

/// Every response cut a few bytes into its second batch by a control (the same partial tail a broker or
/// proxy could produce), and a first batch larger than the limit still comes whole (KIP-74).
#[tokio::test]
async fn s25_control_truncated_tails_and_oversized_first_batch() {
    let cluster = cluster(1, 1).await;
    let topic = cluster.topic("t").unwrap();
    let t0 = tp("t", 0);
    for _ in 0..10 {
        produce(&cluster, "t", 0, 4);
    }
    let big: Vec<Vec<u8>> = (40..42)
        .map(|o| [value(0, o), vec![b' '; 3000]].concat())
        .collect();
    cluster.produce("t", 0, &big).unwrap();
    produce(&cluster, "t", 0, 3);
    let scope = cluster.clone();
    let cut = cluster.control(move |req| {
        if !scope.fetch_includes(req, "t", 0) {
            return Action::pass();
        }
        let t = topic.clone();
        Action::edit(move |resp| {
            let p = resp.fetch_partition_mut(&t, 0).unwrap();
            if let Some(r) = p.records.as_mut() {
                let first = 12 + i32::from_be_bytes(r[8..12].try_into().unwrap()) as usize;
                if r.len() > first + 5 {
                    *r = r.slice(..first + 5);
                }
            }
        })
    });
    let mut c = consumer(
        config(&cluster).max_partition_fetch_bytes(1024),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 45).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
    assert!(cluster.fired(cut) >= 11);
    let offsets = d.offsets(&t0);
    assert_eq!(offsets, (0..45).collect::<Vec<_>>());
    let (o40, v40) = &d.records[&t0][40];
    assert_eq!((*o40, v40.as_ref().map(Vec::len)), (40, Some(big[0].len())));
    d.assert_no_errors();
}

/// A broker that ignores KIP-74 and cuts even the first batch at the byte limit, so no response ever
/// holds a complete batch. The consumer cannot make progress; it must say so (Java: "failed to make
/// progress ... message too large") instead of silently refetching the same offset in a tight loop.
#[tokio::test]
async fn s25_no_complete_batch_ever_is_reported_not_spun_on() {
    let cluster = cluster(1, 1).await;
    let topic = cluster.topic("t").unwrap();
    let t0 = tp("t", 0);
    let big = vec![b'x'; 4000];
    cluster.produce("t", 0, [&big]).unwrap();
    let scope = cluster.clone();
    cluster.control(move |req| {
        if !scope.fetch_includes(req, "t", 0) {
            return Action::pass();
        }
        let t = topic.clone();
        Action::edit(move |resp| {
            let p = resp.fetch_partition_mut(&t, 0).unwrap();
            if let Some(r) = p.records.as_mut().filter(|r| r.len() > 1024) {
                *r = r.slice(..1024);
            }
        })
    });
    let mut c = consumer(
        config(&cluster).max_partition_fetch_bytes(1024),
        std::slice::from_ref(&t0),
    )
    .await;
    let mut d = Delivered::default();
    // A fixed window on purpose: the check below is a rate (fetches per 500 ms), not "nothing more".
    d.poll_quiet(&mut c, Duration::from_millis(500)).await;
    let fetches = cluster.request_count(ApiKey::Fetch);
    assert!(d.records.is_empty());
    assert!(
        !d.errors.is_empty(),
        "no error after {fetches} fetches of the same offset in 500 ms"
    );
    assert!(
        fetches < 50,
        "{fetches} fetches in 500 ms: refetching without backoff"
    );
}

// ----- 26: batch boundaries, gaps, control batches -----

/// A compressed batch fetched from its middle, an empty batch (compaction), a batch with offset gaps, a
/// transaction marker: positions advance to lastOffset+1, nothing emitted twice or skipped wrongly.
#[tokio::test]
async fn s26_batch_boundaries_gaps_and_control_batches() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    let rec = |delta: i32, offset: i64| TestRecord::new(delta, None, Some(&value(0, offset)[..]));
    // 0..=9 gzip-compressed.
    let gz = TestBatch::new(0, (0..10).map(|i| rec(i, i64::from(i))).collect()).compressed(Compression::Gzip);
    assert_eq!(cluster.append("t", 0, gz).unwrap(), 0..10);
    // 10..=14: every record compacted away, the batch kept (record count 0, lastOffsetDelta 4).
    let mut empty = TestBatch::new(0, Vec::new());
    empty.last_offset_delta = Some(4);
    assert_eq!(cluster.append("t", 0, empty).unwrap(), 10..15);
    // 15..=21 with only 15, 17, 19 left.
    let mut gappy = TestBatch::new(0, vec![rec(0, 15), rec(2, 17), rec(4, 19)]);
    gappy.last_offset_delta = Some(6);
    assert_eq!(cluster.append("t", 0, gappy).unwrap(), 15..22);
    // 22: a COMMIT marker.
    assert_eq!(
        cluster.append("t", 0, TestBatch::marker(0, 7, false)).unwrap(),
        22..23
    );
    // 23..=25, snappy.
    let tail = TestBatch::new(0, (0..3).map(|i| rec(i, 23 + i64::from(i))).collect())
        .compressed(Compression::Snappy);
    assert_eq!(cluster.append("t", 0, tail).unwrap(), 23..26);
    let expected_from = |start: i64| -> Vec<i64> {
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 17, 19, 23, 24, 25]
            .into_iter()
            .filter(|&o| o >= start)
            .collect()
    };

    for start in [0, 5, 12, 16, 22] {
        let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
        c.seek(&t0, start).unwrap();
        let mut d = Delivered::default();
        let want = expected_from(start);
        d.poll_count(&mut c, &t0, want.len()).await;
        d.poll_settled_for(&mut c, &cluster, &[&t0]).await;
        d.assert_exact(&t0, want);
        d.assert_no_errors();
        assert_eq!(c.position(&t0).await.unwrap(), 26, "from {start}");
    }
}

/// A log whose tail is only an empty batch and a control batch: the consumer's position still reaches
/// the log end (no stall refetching them forever) and it picks up the next record.
#[tokio::test]
async fn s26_position_advances_past_trailing_empty_and_control_batches() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    produce(&cluster, "t", 0, 3);
    let mut empty = TestBatch::new(0, Vec::new());
    empty.last_offset_delta = Some(2);
    assert_eq!(cluster.append("t", 0, empty).unwrap(), 3..6);
    assert_eq!(
        cluster.append("t", 0, TestBatch::marker(0, 9, true)).unwrap(),
        6..7
    );
    let mut c = consumer(config(&cluster), std::slice::from_ref(&t0)).await;
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t0, 3).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        d.poll_once(&mut c, Duration::from_millis(20)).await;
        if c.position(&t0).await.unwrap() == 7 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "position reaches 7");
    }
    produce(&cluster, "t", 0, 2);
    d.poll_count(&mut c, &t0, 5).await;
    d.assert_exact(&t0, [0, 1, 2, 7, 8]);
    d.assert_no_errors();
}

// ----- 27: corrupt data -----

/// A batch whose CRC does not match: `CorruptRecord` names the partition and the batch offset, the
/// position stays at the batch, the other partition keeps delivering; a seek past it resumes.
#[tokio::test]
async fn s27_corrupt_batch_is_a_partition_error_and_others_continue() {
    let cluster = cluster(1, 2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    for _ in 0..3 {
        produce(&cluster, "t", 0, 5);
    }
    produce(&cluster, "t", 1, 5);
    assert_eq!(cluster.corrupt_batch("t", 0, 7).unwrap(), 5);
    let mut c = consumer(config(&cluster), &[t0.clone(), t1.clone()]).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "good records and the corrupt-batch error", |d| {
        d.count(&t0) == 5 && d.count(&t1) == 5 && !d.errors.is_empty()
    })
    .await;
    match &d.errors[..] {
        [
            Error::CorruptRecord {
                partition, offset, ..
            },
        ] => assert_eq!((partition, *offset), (&t0, 5)),
        other => panic!("expected one CorruptRecord, got {other:?}"),
    }
    assert_eq!(
        c.position(&t0).await.unwrap(),
        5,
        "position stays at the corrupt batch"
    );

    produce(&cluster, "t", 1, 5);
    d.poll_count(&mut c, &t1, 10).await;
    d.poll_settled_for(&mut c, &cluster, &[&t0, &t1]).await;
    assert_eq!(d.errors.len(), 1, "reported once: {:?}", d.errors);
    d.assert_exact(&t0, 0..5);
    d.assert_exact(&t1, 0..10);

    c.seek(&t0, 10).unwrap();
    d.poll_count(&mut c, &t0, 10).await;
    d.assert_exact(&t0, (0..5).chain(10..15));
}

/// The broker answers CORRUPT_MESSAGE for one partition: a per-partition error, others continue.
#[tokio::test]
async fn s27_broker_corrupt_message_error_is_per_partition() {
    let cluster = cluster(1, 2).await;
    let topic = cluster.topic("t").unwrap();
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 0, 5);
    produce(&cluster, "t", 1, 5);
    cluster.fail_fetch(&topic, 0, ErrorCode::CORRUPT_MESSAGE, 1);
    let mut c = consumer(config(&cluster), &[t0.clone(), t1.clone()]).await;
    let mut d = Delivered::default();
    d.poll_until(&mut c, "t-1 records and the error", |d| {
        d.count(&t1) == 5 && !d.errors.is_empty()
    })
    .await;
    match &d.errors[..] {
        [Error::Partition { partition, code }] => {
            assert_eq!((partition, *code), (&t0, ErrorCode::CORRUPT_MESSAGE));
        }
        other => panic!("expected one partition error, got {other:?}"),
    }
    assert_eq!(d.count(&t0), 0);
    // The application decides: seek to retry from the same offset.
    c.seek(&t0, 0).unwrap();
    d.poll_count(&mut c, &t0, 5).await;
    d.assert_exact(&t0, 0..5);
    d.assert_exact(&t1, 0..5);
}

/// A fetch answered after a seek is stale and its records are dropped, but its watermarks still count: an
/// incremental session does not repeat an unchanged high watermark, so dropping it would leave the
/// partition's lag unknown forever (found by `kafkaroo consume -o -N` on an empty partition).
#[tokio::test]
async fn stale_fetch_answers_still_report_watermarks() {
    let cluster = cluster(1, 2).await;
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    produce(&cluster, "t", 1, 3);
    let mut c = consumer(config(&cluster), &[t0.clone(), t1.clone()]).await;
    // Let the first (full) fetch for both partitions go out, then seek the empty one while it waits.
    assert!(
        cluster
            .wait_for(Duration::from_secs(5), |log| log
                .iter()
                .any(|r| r.api_key() == ApiKey::Fetch))
            .await,
        "no fetch was sent"
    );
    c.seek(&t0, 0).unwrap();
    let mut d = Delivered::default();
    d.poll_count(&mut c, &t1, 3).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while c.lag(&t0).is_none() && tokio::time::Instant::now() < deadline {
        d.poll_once(&mut c, Duration::from_millis(50)).await;
    }
    assert_eq!(c.lag(&t0), Some(0), "the empty partition's lag must become known");
    assert_eq!(c.watermarks(&t0).map(|w| w.high), Some(0));
}

// ----- seeks racing the fetch planner -----

/// Every seek is followed by records from exactly that offset, however it interleaves with the engine
/// planning a fetch on another thread. (A seek landing between the planner reading a partition and
/// marking it in flight once left the mark on a state no answer would clear: the partition was never
/// fetched again, seen as a 5 s silent `poll` in CI.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeks_racing_the_fetch_planner_never_stall_a_partition() {
    let cluster = cluster(1, 1).await;
    let t0 = tp("t", 0);
    for _ in 0..10 {
        produce(&cluster, "t", 0, 10);
    }
    // Short long-polls: the engine plans fetches as often as possible.
    let fast = config(&cluster).fetch_max_wait(Duration::from_millis(1));
    let mut c = consumer(fast, std::slice::from_ref(&t0)).await;
    for i in 0..4000_i64 {
        let target = (i * 37) % 100;
        c.seek(&t0, target).unwrap();
        let deadline = tokio::time::Instant::now() + WAIT;
        let first = loop {
            assert!(
                tokio::time::Instant::now() < deadline,
                "seek #{i} to {target}: no record within {WAIT:?}"
            );
            let batch = c.poll(Duration::from_millis(100)).await.expect("poll");
            if let Some(r) = batch.into_iter().next() {
                break r.offset();
            }
        };
        assert_eq!(first, target, "seek #{i}: first record after the seek");
    }
}
