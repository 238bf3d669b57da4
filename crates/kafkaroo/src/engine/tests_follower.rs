//! Fetching from the closest replica (KIP-392) without sockets: the leader naming a preferred read
//! replica, its expiry after `metadata.max.age.ms`, and every way back to the leader, each keeping the
//! position (no record lost, repeated or reset because a follower could not serve it).

use std::time::Instant;

use kafkaroo_wire::ErrorCode;
use kafkaroo_wire::messages::fetch_response::PartitionData;

use super::EngineState;
use super::fetch_response::{self, Answerer, Applied, FetchErrorClass, classify};
use super::plan::{FetchPlan, NextWake};
use super::resolve;
use super::tests::{apply_at, fetches, metadata_with, one_batch, partition, plan_fetch_from, state, tp};
use crate::config::{AutoOffsetReset, ConsumerConfig};

/// The leader's answer naming `replica` as the one to fetch from: no records, as Kafka sends it.
fn preferring(replica: i32) -> PartitionData {
    partition(ErrorCode::NONE).with_preferred_read_replica(replica.into())
}

/// `t-0` at `position`, led by broker 1, told at `now` to fetch from broker 2; returns the state and
/// the fetch planned next (to broker 2, in flight).
fn on_follower(position: i64, config: &ConsumerConfig, now: Instant) -> (EngineState, FetchPlan) {
    let mut st = state(position);
    let plan = plan_fetch_from(&mut st, now, 1);
    let applied = apply_at(&mut st, &plan, preferring(2), config, now);
    assert_eq!(applied, Applied::Partitions { got_data: false });
    let plan = plan_fetch_from(&mut st, now, 2);
    (st, plan)
}

/// What is planned at `now`: `(broker, fetch offset)` per planned partition.
fn planned(st: &EngineState, now: Instant) -> Vec<(i32, i64)> {
    fetches(st, now, &mut NextWake::default())
        .into_iter()
        .flat_map(|(b, parts)| parts.into_iter().map(move |(_, sp, _)| (b, sp.fetch_offset)))
        .collect()
}

#[test]
fn a_followers_errors_send_the_partition_back_to_the_leader() {
    use FetchErrorClass::*;
    let table = [
        (ErrorCode::NOT_LEADER_OR_FOLLOWER, LeaveFollower),
        (ErrorCode::REPLICA_NOT_AVAILABLE, LeaveFollower),
        (ErrorCode::KAFKA_STORAGE_ERROR, LeaveFollower),
        (ErrorCode::FENCED_LEADER_EPOCH, LeaveFollower),
        (ErrorCode::UNKNOWN_LEADER_EPOCH, LeaveFollower),
        (ErrorCode::OFFSET_NOT_AVAILABLE, LeaveFollower),
        (ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, LeaveFollower),
        (ErrorCode::OFFSET_OUT_OF_RANGE, FollowerOutOfRange),
        (ErrorCode::TOPIC_AUTHORIZATION_FAILED, Fatal),
        (ErrorCode::CORRUPT_MESSAGE, Fatal),
    ];
    for (code, class) in table {
        assert_eq!(classify(code, Answerer::Follower), class, "{code}");
    }
}

#[test]
fn the_leader_naming_a_replica_sends_the_next_fetches_there_from_the_same_position() {
    let now = Instant::now();
    let config = ConsumerConfig::default();
    let (mut st, plan) = on_follower(10, &config, now);
    assert_eq!(plan.partitions[&tp()].0, 10, "the same position at the follower");
    let p = &st.partitions[&tp()];
    assert_eq!(p.preferred_replica(), Some((2, now + config.metadata_max_age)));
    assert_eq!(p.leader(), Some(1), "the leader is still the leader");

    // Data from the follower is buffered like the leader's; its answer (no replica named) keeps it.
    let data = partition(ErrorCode::NONE).with_records(Some(one_batch()));
    let applied = apply_at(&mut st, &plan, data, &config, now);
    assert_eq!(applied, Applied::Partitions { got_data: true });
    assert_eq!(st.partitions[&tp()].preferred_replica().map(|r| r.0), Some(2));
    assert_eq!(st.partitions[&tp()].position(), Some(10), "only poll moves it");
}

#[test]
fn the_preferred_replica_expires_after_metadata_max_age() {
    let now = Instant::now();
    let config = ConsumerConfig::default();
    let (mut st, plan) = on_follower(10, &config, now);
    let empty = partition(ErrorCode::NONE);
    apply_at(&mut st, &plan, empty, &config, now);
    let expiry = now + config.metadata_max_age;
    assert_eq!(planned(&st, expiry - config.retry_backoff), vec![(2, 10)]);
    assert_eq!(planned(&st, expiry), vec![(1, 10)], "the leader is asked again");

    // The leader names a replica again: a new expiry from then.
    let plan = plan_fetch_from(&mut st, expiry, 1);
    apply_at(&mut st, &plan, preferring(2), &config, expiry);
    assert_eq!(planned(&st, expiry), vec![(2, 10)]);
}

#[test]
fn a_replica_not_in_metadata_keeps_the_leader_and_refreshes_metadata() {
    let now = Instant::now();
    let config = ConsumerConfig::default();
    let mut st = state(10);
    let plan = plan_fetch_from(&mut st, now, 1);
    st.need_metadata = false;
    let answer = preferring(3).with_records(Some(one_batch()));
    let applied = apply_at(&mut st, &plan, answer, &config, now);
    assert_eq!(
        applied,
        Applied::Partitions { got_data: false },
        "nothing buffered"
    );
    assert!(st.need_metadata);
    assert_eq!(st.partitions[&tp()].preferred_replica(), None);
    assert!(planned(&st, now).is_empty(), "backing off");
    assert_eq!(planned(&st, now + config.retry_backoff), vec![(1, 10)]);
}

#[test]
fn each_follower_error_goes_back_to_the_leader_at_the_same_position() {
    let config = ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::None,
        ..ConsumerConfig::default()
    };
    let codes = [
        ErrorCode::NOT_LEADER_OR_FOLLOWER,
        ErrorCode::REPLICA_NOT_AVAILABLE,
        ErrorCode::FENCED_LEADER_EPOCH,
        ErrorCode::UNKNOWN_LEADER_EPOCH,
        ErrorCode::OFFSET_NOT_AVAILABLE,
        ErrorCode::OFFSET_OUT_OF_RANGE,
    ];
    for code in codes {
        let now = Instant::now();
        let (mut st, plan) = on_follower(10, &config, now);
        st.need_metadata = false;
        apply_at(&mut st, &plan, partition(code), &config, now);
        let p = &st.partitions[&tp()];
        assert_eq!(p.preferred_replica(), None, "{code}");
        assert_eq!(p.leader(), Some(1), "{code}: the leader is kept");
        assert_eq!(p.position(), Some(10), "{code}: no reset, no skip");
        assert!(st.errors.is_empty(), "{code}: nothing reported: {:?}", st.errors);
        if code == ErrorCode::OFFSET_OUT_OF_RANGE {
            // Only the leader's out-of-range resets: ask it at once.
            assert!(!st.need_metadata);
            assert_eq!(planned(&st, now), vec![(1, 10)], "{code}");
        } else {
            assert!(st.need_metadata, "{code}");
            assert!(planned(&st, now).is_empty(), "{code}: after the backoff");
            assert_eq!(planned(&st, now + config.retry_backoff), vec![(1, 10)], "{code}");
        }
    }
}

#[test]
fn out_of_range_at_the_leader_after_the_follower_still_applies_the_policy() {
    let now = Instant::now();
    let config = ConsumerConfig::default();
    let (mut st, plan) = on_follower(10, &config, now);
    let oor = partition(ErrorCode::OFFSET_OUT_OF_RANGE);
    apply_at(&mut st, &plan, oor.clone(), &config, now);
    assert_eq!(st.partitions[&tp()].position(), Some(10));
    let plan = plan_fetch_from(&mut st, now, 1);
    apply_at(&mut st, &plan, oor, &config, now);
    assert_eq!(
        st.partitions[&tp()].position(),
        None,
        "the leader's answer resets"
    );
}

#[test]
fn a_failed_fetch_to_the_follower_goes_back_to_the_leader() {
    let now = Instant::now();
    let config = ConsumerConfig::default();
    let (mut st, plan) = on_follower(10, &config, now);
    let retry_at = now + config.retry_backoff;
    fetch_response::apply_failure(&mut st, &plan, retry_at);
    assert_eq!(st.partitions[&tp()].preferred_replica(), None);
    assert!(planned(&st, now).is_empty());
    assert_eq!(planned(&st, retry_at), vec![(1, 10)]);
}

#[test]
fn a_new_leader_or_a_departed_replica_drops_the_preferred_replica() {
    let now = Instant::now();
    let config = ConsumerConfig::default();
    let (mut st, plan) = on_follower(10, &config, now);
    apply_at(&mut st, &plan, partition(ErrorCode::NONE), &config, now);

    // Same leader, newer epoch: the choice stands.
    resolve::apply_metadata(&mut st, &metadata_with(&[1, 2, 3], 1, 6));
    assert_eq!(st.partitions[&tp()].preferred_replica().map(|r| r.0), Some(2));
    // Broker 2 is gone from the cluster.
    resolve::apply_metadata(&mut st, &metadata_with(&[1, 3], 1, 6));
    assert_eq!(st.partitions[&tp()].preferred_replica(), None);

    let (mut st, plan) = on_follower(10, &config, now);
    apply_at(&mut st, &plan, partition(ErrorCode::NONE), &config, now);
    // Another leader: it chooses for itself.
    resolve::apply_metadata(&mut st, &metadata_with(&[1, 2, 3], 3, 6));
    assert_eq!(st.partitions[&tp()].preferred_replica(), None);
    assert_eq!(st.partitions[&tp()].leader(), Some(3));
}

#[test]
fn a_stale_answer_from_the_follower_changes_nothing() {
    let now = Instant::now();
    let config = ConsumerConfig::default();
    let (mut st, plan) = on_follower(10, &config, now);
    let next = st.bump_version();
    let p = st.partitions.get_mut(&tp()).unwrap();
    p.reposition(next, Some(20), None, Default::default());
    apply_at(
        &mut st,
        &plan,
        partition(ErrorCode::OFFSET_OUT_OF_RANGE),
        &config,
        now,
    );
    let p = &st.partitions[&tp()];
    assert_eq!(p.position(), Some(20));
    assert_eq!(
        p.preferred_replica().map(|r| r.0),
        Some(2),
        "still fetching from it"
    );
    assert_eq!(planned(&st, now), vec![(2, 20)]);
}
