//! The engine core without sockets: planning, fetch answers and their error classes, metadata,
//! the Fetch request at each version, and the poll-side decoding.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytes::Bytes;
use kafkaroo_net::Metadata;
use kafkaroo_records::test_encoder::{TestBatch, TestRecord};
use kafkaroo_wire::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafkaroo_wire::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafkaroo_wire::messages::{FetchResponse, MetadataResponse, TopicName};
use kafkaroo_wire::{ErrorCode, StrBytes, Uuid};

use super::fetch_response::{self, Answerer, Applied, Context, FetchErrorClass, classify};
use super::partition::Buffered;
use super::plan::{self, FetchPlan, NextWake};
use super::{EngineState, OffsetSpec, resolve, wire};
use crate::budget::MemoryBudget;
use crate::config::{AutoOffsetReset, ConsumerConfig};
use crate::error::Error;
use crate::record::TopicPartition;
use crate::session::FetchSession;
use crate::telemetry::Telemetry;

pub(super) fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

fn metadata(leader: i32, epoch: i32) -> Metadata {
    metadata_with(&[1, 2], leader, epoch)
}

/// Metadata naming `brokers`, with `t-0` led by `leader` in `epoch`.
pub(super) fn metadata_with(brokers: &[i32], leader: i32, epoch: i32) -> Metadata {
    let brokers = brokers
        .iter()
        .map(|&id| {
            MetadataResponseBroker::default()
                .with_node_id(id.into())
                .with_host(StrBytes::from_static_str("localhost"))
                .with_port(9092)
        })
        .collect();
    let partition = MetadataResponsePartition::default()
        .with_partition_index(0)
        .with_leader_id(leader.into())
        .with_leader_epoch(epoch);
    let topic = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
        .with_topic_id(Uuid::from_u128(7))
        .with_partitions(vec![partition]);
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_topics(vec![topic]);
    Metadata::from_response(&response)
}

/// `t-0` at `position` (last fetched epoch 4), led by broker 1 in epoch 5.
pub(super) fn state(position: i64) -> EngineState {
    let mut st = EngineState::default();
    let (p, _) = st.add_partition(&tp(), &Telemetry::new("test"));
    p.start_from_committed(Some(position), Some(4));
    assert_eq!(
        resolve::apply_metadata(&mut st, &metadata(1, 5)),
        Default::default()
    );
    st
}

/// Plans the fetches of `st` (to the leader, broker 1) and marks them in flight, as the driver does.
fn plan_fetch(st: &mut EngineState, now: Instant) -> FetchPlan {
    plan_fetch_from(st, now, 1)
}

/// Plans the fetches of `st`, which must all go to `broker`, and marks them in flight.
pub(super) fn plan_fetch_from(st: &mut EngineState, now: Instant, broker: i32) -> FetchPlan {
    let mut by_broker = fetches(st, now, &mut NextWake::default());
    let parts = by_broker.remove(&broker).expect("a fetch to the broker");
    assert!(by_broker.is_empty(), "no fetch to another broker: {by_broker:?}");
    let mut partitions = BTreeMap::new();
    let mut wanted = BTreeMap::new();
    for (tp, sp, version) in parts {
        partitions.insert(tp.clone(), (sp.fetch_offset, version));
        wanted.insert(tp, sp);
    }
    let session = FetchSession::new(false).plan(&wanted);
    let plan = FetchPlan {
        broker,
        partitions,
        session,
        wanted,
        topic_ids: Default::default(),
    };
    plan::mark_in_flight(st, &plan, Instant::now());
    plan
}

/// What to resolve at `now`, nothing in flight.
fn resolve(st: &mut EngineState, now: Instant, policy: AutoOffsetReset) -> plan::Resolutions {
    plan::resolutions(st, now, &BTreeMap::new(), policy, &mut NextWake::default())
}

/// What to fetch at `now`, no broker busy.
pub(super) fn fetches(
    st: &EngineState,
    now: Instant,
    wake: &mut NextWake,
) -> BTreeMap<i32, plan::BrokerFetch> {
    plan::fetches(st, now, &BTreeSet::new(), &BTreeMap::new(), 1 << 20, wake)
}

fn answer(part: PartitionData) -> FetchResponse {
    let topic = FetchableTopicResponse::default()
        .with_topic(TopicName(StrBytes::from_static_str("t")))
        .with_partitions(vec![part]);
    FetchResponse::default().with_responses(vec![topic])
}

pub(super) fn partition(code: ErrorCode) -> PartitionData {
    PartitionData::default()
        .with_error_code(code.0)
        .with_high_watermark(100)
}

/// A complete (undecoded) batch: `poll` decodes it, the engine only checks its length.
pub(super) fn one_batch() -> Bytes {
    let mut b = vec![0u8; 8];
    b.extend_from_slice(&4i32.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    Bytes::from(b)
}

fn apply(st: &mut EngineState, plan: &FetchPlan, part: PartitionData, config: &ConsumerConfig) -> Applied {
    apply_at(st, plan, part, config, Instant::now())
}

/// Applies `part` as the answer to `plan` at `now`; brokers 1 and 2 are known, no other.
pub(super) fn apply_at(
    st: &mut EngineState,
    plan: &FetchPlan,
    part: PartitionData,
    config: &ConsumerConfig,
    now: Instant,
) -> Applied {
    let known = |id: i32| id == 1 || id == 2;
    let cx = Context {
        config,
        decode: Default::default(),
        now,
        known_broker: &known,
    };
    fetch_response::apply_response(st, plan, answer(part), 12, &cx)
}

#[test]
fn fetch_errors_are_classified() {
    use FetchErrorClass::*;
    let table = [
        (ErrorCode::NOT_LEADER_OR_FOLLOWER, LeaderMoved),
        (ErrorCode::LEADER_NOT_AVAILABLE, LeaderMoved),
        (ErrorCode::REPLICA_NOT_AVAILABLE, LeaderMoved),
        (ErrorCode::KAFKA_STORAGE_ERROR, LeaderMoved),
        (ErrorCode::FENCED_LEADER_EPOCH, LeaderMoved),
        (ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, LeaderMoved),
        (ErrorCode::UNKNOWN_TOPIC_ID, LeaderMoved),
        (ErrorCode::INCONSISTENT_TOPIC_ID, LeaderMoved),
        (ErrorCode::NOT_COORDINATOR, LeaderMoved),
        (ErrorCode::UNKNOWN_LEADER_EPOCH, RetryLater),
        (ErrorCode::OFFSET_NOT_AVAILABLE, RetryLater),
        (ErrorCode::OFFSET_OUT_OF_RANGE, OutOfRange),
        (ErrorCode::TOPIC_AUTHORIZATION_FAILED, Fatal),
        (ErrorCode::CORRUPT_MESSAGE, Fatal),
        (ErrorCode::UNKNOWN_SERVER_ERROR, Fatal),
    ];
    for (code, class) in table {
        assert_eq!(classify(code, Answerer::Leader), class, "{code}");
    }
}

#[test]
fn data_is_buffered_and_the_partition_is_planned_again_only_after_poll() {
    let now = Instant::now();
    let mut st = state(10);
    let plan = plan_fetch(&mut st, now);
    assert_eq!(plan.partitions[&tp()].0, 10, "fetches from the position");
    let mut wake = NextWake::default();
    let again = fetches(&st, now, &mut wake);
    assert!(again.is_empty(), "in flight: not planned twice");
    let config = ConsumerConfig::default();
    let applied = apply(
        &mut st,
        &plan,
        partition(ErrorCode::NONE).with_records(Some(one_batch())),
        &config,
    );
    assert_eq!(applied, Applied::Partitions { got_data: true });
    let p = &st.partitions[&tp()];
    assert!(p.has_data_for_poll());
    assert_eq!(p.watermarks().1, 100);
    let again = fetches(&st, now, &mut wake);
    assert!(again.is_empty(), "buffered: not fetched until poll drained it");
}

#[test]
fn leader_moved_refreshes_metadata_and_keeps_the_position() {
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    st.need_metadata = false;
    let config = ConsumerConfig::default();
    apply(
        &mut st,
        &plan,
        partition(ErrorCode::NOT_LEADER_OR_FOLLOWER),
        &config,
    );
    let p = &st.partitions[&tp()];
    assert!(st.need_metadata);
    assert_eq!(p.leader(), None);
    assert_eq!(p.position(), Some(10), "no reset, no skip (scenario 18)");
    assert!(st.errors.is_empty());
}

#[test]
fn a_newer_leader_hint_is_taken_at_once_and_the_position_validated() {
    let now = Instant::now();
    let mut st = state(10);
    let plan = plan_fetch(&mut st, now);
    let mut part = partition(ErrorCode::NOT_LEADER_OR_FOLLOWER);
    part.current_leader.leader_id = 2.into();
    part.current_leader.leader_epoch = 6;
    apply(&mut st, &plan, part, &ConsumerConfig::default());
    assert_eq!(st.partitions[&tp()].leader(), Some(2));
    let later = now + ConsumerConfig::default().retry_backoff + std::time::Duration::from_secs(1);
    let resolutions = resolve(&mut st, later, AutoOffsetReset::Latest);
    assert_eq!(
        resolutions.validations[&2],
        vec![(tp(), 1, 4, 6)],
        "KIP-320 after the move"
    );
}

#[test]
fn out_of_range_resets_or_fails_by_policy() {
    let mut config = ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    };
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    apply(&mut st, &plan, partition(ErrorCode::OFFSET_OUT_OF_RANGE), &config);
    assert_eq!(st.partitions[&tp()].position(), None);
    let r = resolve(&mut st, Instant::now(), config.auto_offset_reset);
    assert_eq!(r.resets[&1], vec![(tp(), 1, OffsetSpec::Earliest, 5)]);

    config.auto_offset_reset = AutoOffsetReset::None;
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    apply(&mut st, &plan, partition(ErrorCode::OFFSET_OUT_OF_RANGE), &config);
    assert!(st.partitions[&tp()].is_failed());
    assert!(matches!(
        st.errors.pop_front(),
        Some(Error::NoOffsetForPartition { offset: Some(10), .. })
    ));
}

#[test]
fn a_fatal_error_stops_only_its_partition_once() {
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    apply(
        &mut st,
        &plan,
        partition(ErrorCode::TOPIC_AUTHORIZATION_FAILED),
        &ConsumerConfig::default(),
    );
    assert!(st.partitions[&tp()].is_failed());
    assert_eq!(st.errors.len(), 1);
    let mut wake = NextWake::default();
    let again = fetches(&st, Instant::now(), &mut wake);
    assert!(again.is_empty(), "a failed partition waits for a seek");
}

#[test]
fn a_stale_answer_is_dropped_but_its_watermarks_kept() {
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    // A seek while the fetch was in flight.
    let version = st.bump_version();
    let p = st.partitions.get_mut(&tp()).unwrap();
    p.reposition(version, Some(3), None, Default::default());
    let config = ConsumerConfig::default();
    let part = partition(ErrorCode::NONE).with_records(Some(one_batch()));
    assert_eq!(
        apply(&mut st, &plan, part, &config),
        Applied::Partitions { got_data: false }
    );
    let p = &st.partitions[&tp()];
    assert!(!p.has_buffered(), "invariant 6");
    assert_eq!(p.watermarks().1, 100);
    assert_eq!(p.position(), Some(3));
}

#[test]
fn diverging_epoch_truncates_to_the_leaders_end() {
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    let mut part = partition(ErrorCode::NONE);
    part.diverging_epoch.epoch = 4;
    part.diverging_epoch.end_offset = 7;
    let mut config = ConsumerConfig {
        auto_offset_reset: AutoOffsetReset::Earliest,
        ..ConsumerConfig::default()
    };
    apply(&mut st, &plan, part.clone(), &config);
    assert_eq!(st.partitions[&tp()].position(), Some(7));

    config.auto_offset_reset = AutoOffsetReset::None;
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    apply(&mut st, &plan, part, &config);
    assert!(matches!(
        st.errors.pop_front(),
        Some(Error::LogTruncation {
            position: 10,
            end_offset: 7,
            ..
        })
    ));
}

#[test]
fn an_incomplete_batch_grows_the_fetch_size_up_to_the_limit() {
    let config = ConsumerConfig {
        max_partition_fetch_bytes: 1000,
        fetch_max_bytes: 3000,
        ..ConsumerConfig::default()
    };
    let mut cut = vec![0u8; 8];
    cut.extend_from_slice(&5000i32.to_be_bytes());
    let cut = Bytes::from(cut);
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    apply(
        &mut st,
        &plan,
        partition(ErrorCode::NONE).with_records(Some(cut.clone())),
        &config,
    );
    assert_eq!(
        st.partitions[&tp()].fetch_size(),
        Some(3000),
        "doubled, at least the batch, capped"
    );
    assert!(st.errors.is_empty());
    let plan = plan_fetch(&mut st, Instant::now());
    apply(
        &mut st,
        &plan,
        partition(ErrorCode::NONE).with_records(Some(cut)),
        &config,
    );
    assert!(matches!(
        st.errors.pop_front(),
        Some(Error::BatchTooLarge {
            batch_size: 5012,
            fetch_limit: 3000,
            ..
        })
    ));
}

#[test]
fn a_session_error_clears_the_in_flight_mark() {
    let mut st = state(10);
    let plan = plan_fetch(&mut st, Instant::now());
    let known = |_: i32| true;
    let config = ConsumerConfig::default();
    let cx = Context {
        config: &config,
        decode: Default::default(),
        now: Instant::now(),
        known_broker: &known,
    };
    let response = FetchResponse::default().with_error_code(ErrorCode::FETCH_SESSION_ID_NOT_FOUND.0);
    let applied = fetch_response::apply_response(&mut st, &plan, response, 12, &cx);
    assert_eq!(
        applied,
        Applied::SessionError(ErrorCode::FETCH_SESSION_ID_NOT_FOUND)
    );
    let mut wake = NextWake::default();
    let again = fetches(&st, Instant::now(), &mut wake);
    assert_eq!(again[&1].len(), 1, "fetched again at once");
}

#[test]
fn a_failed_fetch_backs_off_then_fetches_the_same_offset() {
    let now = Instant::now();
    let mut st = state(10);
    let plan = plan_fetch(&mut st, now);
    let retry_at = now + std::time::Duration::from_millis(100);
    fetch_response::apply_failure(&mut st, &plan, retry_at);
    assert!(st.need_metadata);
    let mut wake = NextWake::default();
    let early = fetches(&st, now, &mut wake);
    assert!(early.is_empty());
    assert_eq!(wake.0, Some(retry_at));
    assert_eq!(plan_fetch(&mut st, retry_at).partitions[&tp()].0, 10);
}

#[test]
fn no_position_under_policy_none_fails_the_partition() {
    let mut st = EngineState::default();
    st.add_partition(&tp(), &Telemetry::new("test"));
    resolve::apply_metadata(&mut st, &metadata(1, 5));
    let r = resolve(&mut st, Instant::now(), AutoOffsetReset::None);
    assert_eq!(r.failed, 1);
    assert!(r.resets.is_empty());
    assert!(matches!(
        st.errors.pop_front(),
        Some(Error::NoOffsetForPartition { offset: None, .. })
    ));
}

#[test]
fn a_partition_awaiting_its_committed_offset_is_not_resolved() {
    let mut st = EngineState::default();
    st.add_partition(&tp(), &Telemetry::new("test"))
        .0
        .await_committed();
    resolve::apply_metadata(&mut st, &metadata(1, 5));
    let r = resolve(&mut st, Instant::now(), AutoOffsetReset::None);
    assert_eq!((r.failed, r.resets.len()), (0, 0));
}

#[test]
fn leader_epochs_never_go_back() {
    let mut st = state(10);
    resolve::apply_metadata(&mut st, &metadata(2, 3));
    assert_eq!(
        st.partitions[&tp()].leader(),
        Some(1),
        "older metadata ignored (invariant 10)"
    );
    resolve::apply_metadata(&mut st, &metadata(2, 6));
    assert_eq!(st.partitions[&tp()].leader(), Some(2));
    let r = resolve(&mut st, Instant::now(), AutoOffsetReset::None);
    assert_eq!(
        r.validations[&2],
        vec![(tp(), 1, 4, 6)],
        "an epoch increase validates the position"
    );
}

#[test]
fn a_recreated_topic_starts_over() {
    let mut st = state(10);
    let mut m = metadata(1, 5);
    m.topics.get_mut("t").unwrap().id = Uuid::from_u128(8);
    let applied = resolve::apply_metadata(&mut st, &m);
    assert!(applied.recreated && applied.again);
    assert_eq!(st.partitions[&tp()].position(), None);
    assert_eq!(st.partitions[&tp()].leader(), None);
}

#[test]
fn fetch_request_fields_follow_the_version() {
    let mut st = state(10);
    let mut plan = plan_fetch(&mut st, Instant::now());
    plan.session.forget = vec![TopicPartition::new("t", 1)];
    let config = ConsumerConfig {
        client_rack: Some("r1".into()),
        ..ConsumerConfig::default()
    };
    let m = metadata(1, 5);
    for version in 4..=16 {
        let req = wire::fetch_request(&plan, &m, version, &config, 5000);
        assert_eq!(req.max_bytes, 5000);
        let topic = &req.topics[0];
        if version >= 13 {
            assert_eq!(topic.topic_id, Uuid::from_u128(7), "v{version}");
            assert_eq!(req.forgotten_topics_data[0].topic_id, Uuid::from_u128(7));
        } else {
            assert_eq!(topic.topic.0.as_str(), "t", "v{version}");
        }
        let p = &topic.partitions[0];
        assert_eq!(p.fetch_offset, 10);
        assert_eq!(
            p.current_leader_epoch,
            if version >= 9 { 5 } else { -1 },
            "v{version}"
        );
        assert_eq!(
            p.last_fetched_epoch,
            if version >= 12 { 4 } else { -1 },
            "v{version}"
        );
        assert_eq!(
            req.forgotten_topics_data.len(),
            usize::from(version >= 7),
            "v{version}"
        );
        assert_eq!(
            req.rack_id.as_str(),
            if version >= 11 { "r1" } else { "" },
            "v{version}"
        );
    }
}

/// `t-0` at `position` with `batches` buffered, as a fetch answer leaves it.
fn buffered(position: i64, batches: &[TestBatch]) -> EngineState {
    let mut st = state(position);
    let mut bytes = Vec::new();
    for b in batches {
        b.encode_into(&mut bytes);
    }
    let p = st.partitions.get_mut(&tp()).unwrap();
    p.buffer(Buffered::new(Bytes::from(bytes), Default::default(), None));
    st
}

fn values(n: i32) -> Vec<TestRecord> {
    (0..n)
        .map(|i| TestRecord::new(i, None, Some(format!("v{i}").as_bytes())))
        .collect()
}

pub(super) fn drain(st: &mut EngineState, max: usize) -> (Vec<i64>, Result<(), Error>) {
    let budget = MemoryBudget::new(1 << 20);
    let mut out = Vec::new();
    let p = st.partitions.get_mut(&tp()).unwrap();
    let result = p.drain(&tp(), &budget, max, Default::default(), &mut out);
    (out.iter().map(|r| r.offset()).collect(), result)
}

#[test]
fn poll_hands_out_from_the_position_and_moves_it_past_each_record() {
    // Batch 0..5 starts below the position: records before 3 are skipped, not repeated.
    let mut st = buffered(3, &[TestBatch::new(0, values(5)), TestBatch::new(5, values(4))]);
    let (offsets, result) = drain(&mut st, 4);
    assert!(result.is_ok());
    assert_eq!(offsets, [3, 4, 5, 6]);
    let p = &st.partitions[&tp()];
    assert_eq!(p.position(), Some(7));
    assert!(p.has_buffered(), "more to hand out");
    let (offsets, _) = drain(&mut st, 100);
    assert_eq!(offsets, [7, 8]);
    assert_eq!(st.partitions[&tp()].position(), Some(9));
    assert!(!st.partitions[&tp()].has_buffered(), "exhausted: the buffer goes");
}

#[test]
fn control_batches_move_the_position_without_records() {
    let mut st = buffered(0, &[TestBatch::new(0, values(2)), TestBatch::marker(2, 7, false)]);
    let (offsets, result) = drain(&mut st, 100);
    assert!(result.is_ok());
    assert_eq!(offsets, [0, 1]);
    assert_eq!(st.partitions[&tp()].position(), Some(3), "past the commit marker");
}

#[test]
fn a_corrupt_batch_is_an_error_naming_its_offset_and_the_position_stays() {
    let mut bytes = Vec::new();
    TestBatch::new(0, values(2)).encode_into(&mut bytes);
    let start = bytes.len();
    TestBatch::new(2, values(2)).encode_into(&mut bytes);
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // breaks the second batch's CRC
    assert!(bytes.len() > start);
    let mut st = state(0);
    let p = st.partitions.get_mut(&tp()).unwrap();
    p.buffer(Buffered::new(Bytes::from(bytes), Default::default(), None));
    let (offsets, result) = drain(&mut st, 100);
    assert_eq!(offsets, [0, 1]);
    assert!(
        matches!(result, Err(Error::CorruptRecord { offset: 2, .. })),
        "{result:?}"
    );
    let p = &st.partitions[&tp()];
    assert_eq!(p.position(), Some(2), "not past the bad batch (scenario 27)");
    assert!(!p.has_buffered());
}

#[test]
fn data_buffered_before_a_seek_is_never_handed_out() {
    let mut st = buffered(0, &[TestBatch::new(0, values(3))]);
    let version = st.bump_version();
    let p = st.partitions.get_mut(&tp()).unwrap();
    p.reposition(version, Some(1), None, Default::default());
    let (offsets, _) = drain(&mut st, 100);
    assert!(offsets.is_empty(), "invariant 6");
}
