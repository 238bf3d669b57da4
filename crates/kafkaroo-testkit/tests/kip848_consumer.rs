//! `group.protocol=consumer` through the facade (issue 13): `kafkaroo::Consumer` members of a KIP-848
//! group against the fake cluster's consumer-group coordinator (docs/kip-848.md), with the same
//! application contract as the classic protocol: listener callbacks in order (a partition goes to a
//! new owner only after its previous owner's `on_revoked`), every record delivered exactly once across
//! members, commits carrying the member epoch land, and a broker with the protocol disabled is a
//! clear fatal error.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Step, WAIT, produce, tp};
use kafkaroo::{
    CommitHandle, Consumer, ConsumerConfigBuilder, Error, MemberState, RebalanceListener, TopicPartition,
};
use kafkaroo_testkit::{Action, ApiKey, Cluster};
use kafkaroo_wire::ErrorCode;
use tokio::time::Instant;

const GROUP: &str = "g";

async fn cluster(partitions: i32, enabled: bool) -> Cluster {
    common::tracing();
    Cluster::builder()
        .brokers(1)
        .topic("t", partitions)
        .consumer_protocol(enabled)
        .build()
        .await
        .expect("cluster starts")
}

/// The consumer protocol, auto-commit (so revoked partitions are committed before they move).
fn config(cluster: &Cluster) -> ConsumerConfigBuilder {
    common::config(cluster)
        .group_id(GROUP)
        .max_poll_records(7)
        .set("group.protocol", "consumer")
        .and_then(|b| b.set("max.poll.interval.ms", "5000"))
        .and_then(|b| b.set("request.timeout.ms", "3000"))
        .and_then(|b| b.set("enable.auto.commit", "true"))
        .expect("valid properties")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Assigned(char, Vec<TopicPartition>),
    Revoked(char, Vec<TopicPartition>),
    Lost(char, Vec<TopicPartition>),
    Record(char, TopicPartition, i64),
}

type Timeline = Arc<Mutex<Vec<Event>>>;

#[derive(Clone)]
struct Recorder(char, Timeline);

fn sorted(p: &[TopicPartition]) -> Vec<TopicPartition> {
    let mut v = p.to_vec();
    v.sort();
    v
}

impl RebalanceListener for Recorder {
    fn on_assigned(&mut self, p: &[TopicPartition]) {
        self.1.lock().unwrap().push(Event::Assigned(self.0, sorted(p)));
    }
    fn on_revoked(&mut self, p: &[TopicPartition]) {
        self.1.lock().unwrap().push(Event::Revoked(self.0, sorted(p)));
    }
    fn on_lost(&mut self, p: &[TopicPartition]) {
        self.1.lock().unwrap().push(Event::Lost(self.0, sorted(p)));
    }
}

async fn member(cluster: &Cluster, who: char, timeline: &Timeline) -> Consumer {
    let mut c = Consumer::new(config(cluster).build().expect("valid config"))
        .await
        .expect("consumer connects to the fake cluster");
    c.subscribe_with_listener(["t"], Recorder(who, timeline.clone()))
        .expect("subscribe");
    c
}

async fn poll_into(c: &mut Consumer, who: char, timeline: &Timeline, errors: &mut Vec<Error>) {
    match c.poll(Duration::from_millis(20)).await {
        Ok(batch) => {
            let mut t = timeline.lock().unwrap();
            for (tp, records) in batch.partitions() {
                t.extend(records.iter().map(|r| Event::Record(who, tp.clone(), r.offset())));
            }
        }
        Err(e) => errors.push(e),
    }
}

/// A cluster whose topic `t` has four partitions of 50 records each, and an empty timeline.
async fn four_partitions() -> (Cluster, Timeline) {
    let cluster = cluster(4, true).await;
    for p in 0..4 {
        produce(&cluster, "t", p, 50);
    }
    (cluster, Arc::default())
}

/// Polls `a` until it owns all four partitions and delivered a record.
async fn consume_alone(a: &mut Consumer, timeline: &Timeline, errors: &mut Vec<Error>) {
    let deadline = Instant::now() + WAIT;
    while !(stable_with(a, 4) && delivered(&timeline.lock().unwrap()) > 0) {
        assert!(
            Instant::now() < deadline,
            "a never consumed: {:?}",
            a.group_state()
        );
        poll_into(a, 'a', timeline, errors).await;
    }
}

/// Polls both members until each owns two partitions and `records` distinct records were delivered;
/// no error on the way.
async fn share(a: &mut Consumer, b: &mut Consumer, timeline: &Timeline, records: usize) {
    let mut errors = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !(stable_with(a, 2) && stable_with(b, 2) && delivered(&timeline.lock().unwrap()) == records) {
        assert!(
            Instant::now() < deadline,
            "no 2/2 split with everything delivered: {:?} {:?} {errors:?}",
            a.group_state(),
            b.group_state()
        );
        poll_into(a, 'a', timeline, &mut errors).await;
        poll_into(b, 'b', timeline, &mut errors).await;
    }
    assert!(errors.is_empty(), "{errors:?}");
}

fn stable_with(c: &Consumer, n: usize) -> bool {
    c.group_state().is_some_and(|s| s.state == MemberState::Stable) && c.assignment().len() == n
}

/// Distinct records delivered so far.
fn delivered(t: &[Event]) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    for e in t {
        if let Event::Record(_, tp, o) = e {
            seen.insert((tp.clone(), *o));
        }
    }
    seen.len()
}

/// Replays the timeline (see [`common::assert_handovers`]).
fn check_timeline(t: &[Event]) {
    common::assert_handovers(
        t.iter().map(|e| match e {
            Event::Assigned(who, ps) => Step::Assigned(*who, ps),
            Event::Revoked(who, ps) | Event::Lost(who, ps) => Step::GaveUp(*who, ps),
            Event::Record(who, p, o) => Step::Record(*who, p, *o),
        }),
        &t,
    );
}

/// A consumes alone, B joins: the broker moves two partitions from A to B (A's `on_revoked` and
/// the commit of their positions first), every record is delivered exactly once, and the health view
/// shows the member epoch and the client-generated member id. Then B leaves: its partitions go back
/// to A after B's `on_revoked`, and records produced afterwards reach A exactly once. The commits
/// (auto-commit, commit on revoke, close) land in the coordinator.
#[tokio::test]
async fn two_members_share_a_topic_exactly_once_and_a_leaving_member_hands_over() {
    let (cluster, timeline) = four_partitions().await;
    let mut errors = Vec::new();
    let mut a = member(&cluster, 'a', &timeline).await;
    consume_alone(&mut a, &timeline, &mut errors).await;
    let state = a.group_state().expect("subscribed");
    assert!(state.generation > 0, "the member epoch: {state:?}");
    assert_eq!(
        state.member_id.len(),
        22,
        "a client-generated member id: {state:?}"
    );

    let mut b = member(&cluster, 'b', &timeline).await;
    share(&mut a, &mut b, &timeline, 200).await;
    {
        let t = timeline.lock().unwrap();
        check_timeline(&t);
        assert!(
            t.iter()
                .any(|e| matches!(e, Event::Revoked('a', ps) if ps.len() == 2)),
            "a revoked two partitions for b: {t:?}"
        );
    }
    let b_owned = sorted(&b.assignment());

    // B leaves: its partitions are revoked (and their positions committed) before A gets them.
    b.close().await;
    for p in 0..4 {
        produce(&cluster, "t", p, 10);
    }
    let deadline = Instant::now() + WAIT;
    while !(stable_with(&a, 4) && delivered(&timeline.lock().unwrap()) == 240) {
        assert!(
            Instant::now() < deadline,
            "a did not take over b's partitions: {:?} {:?}",
            a.group_state(),
            a.assignment()
        );
        poll_into(&mut a, 'a', &timeline, &mut errors).await;
    }
    assert!(errors.is_empty(), "{errors:?}");
    {
        let t = timeline.lock().unwrap();
        check_timeline(&t);
        let revoked = t
            .iter()
            .position(|e| *e == Event::Revoked('b', b_owned.clone()))
            .expect("b revoked everything it owned on close");
        let taken = t
            .iter()
            .position(|e| matches!(e, Event::Assigned('a', ps) if ps == &b_owned))
            .expect("a was assigned b's partitions");
        assert!(revoked < taken, "on_revoked of b before on_assigned of a: {t:?}");
    }

    // The positions reach the coordinator: a commits everything at close.
    a.close().await;
    for p in 0..4 {
        assert_eq!(
            cluster.committed(GROUP, "t", p),
            Some(60),
            "committed offset of {}",
            tp("t", p)
        );
    }
}

/// Records like [`Recorder`] and commits the positions in `on_revoked` through a [`CommitHandle`].
struct CommitOnRevoke(Recorder, CommitHandle);

impl RebalanceListener for CommitOnRevoke {
    fn on_assigned(&mut self, p: &[TopicPartition]) {
        self.0.on_assigned(p);
    }
    fn on_revoked(&mut self, p: &[TopicPartition]) {
        self.0.on_revoked(p);
        // Not awaited: the partitions are released only once it completed.
        drop(self.1.commit(None).expect("commit starts in on_revoked"));
    }
    fn on_lost(&mut self, p: &[TopicPartition]) {
        self.0.on_lost(p);
    }
}

/// Without auto-commit, the commit an application starts in `on_revoked` lands before the
/// partitions reach the other member: B starts where A stopped, no record twice.
#[tokio::test]
async fn a_commit_started_in_on_revoked_lands_before_the_partitions_move() {
    let (cluster, timeline) = four_partitions().await;
    let mut errors = Vec::new();
    let manual = || {
        config(&cluster)
            .set("enable.auto.commit", "false")
            .and_then(ConsumerConfigBuilder::build)
            .expect("valid config")
    };
    let mut a = Consumer::new(manual()).await.expect("consumer connects");
    let listener = CommitOnRevoke(Recorder('a', timeline.clone()), a.commit_handle());
    a.subscribe_with_listener(["t"], listener).expect("subscribe");
    consume_alone(&mut a, &timeline, &mut errors).await;
    let mut b = Consumer::new(manual()).await.expect("consumer connects");
    b.subscribe_with_listener(["t"], Recorder('b', timeline.clone()))
        .expect("subscribe");
    share(&mut a, &mut b, &timeline, 200).await;
    check_timeline(&timeline.lock().unwrap());
    a.close().await;
    b.close().await;
}

/// A commit answered STALE_MEMBER_EPOCH (the member's epoch moved on at the coordinator) is sent again
/// after the next heartbeat answer, as Java's consumer does, and `commit_sync` succeeds: the offsets
/// land with the member epoch the coordinator knows.
#[tokio::test]
async fn a_stale_member_epoch_commit_is_retried_after_the_next_heartbeat() {
    let cluster = cluster(1, true).await;
    produce(&cluster, "t", 0, 20);
    let timeline: Timeline = Arc::new(Mutex::new(Vec::new()));
    let mut errors = Vec::new();
    let mut c = Consumer::new(
        config(&cluster)
            .set("enable.auto.commit", "false")
            .and_then(ConsumerConfigBuilder::build)
            .expect("valid config"),
    )
    .await
    .expect("consumer connects");
    c.subscribe_with_listener(["t"], Recorder('a', timeline.clone()))
        .expect("subscribe");
    let deadline = Instant::now() + WAIT;
    while delivered(&timeline.lock().unwrap()) < 20 {
        assert!(Instant::now() < deadline, "not consumed: {:?}", c.group_state());
        poll_into(&mut c, 'a', &timeline, &mut errors).await;
    }
    assert!(errors.is_empty(), "{errors:?}");

    // The first OffsetCommit is answered STALE_MEMBER_EPOCH; the APIs sent from then on are recorded.
    let seen: Arc<Mutex<Vec<ApiKey>>> = Arc::default();
    let log = seen.clone();
    cluster.control(move |req| {
        let mut log = log.lock().unwrap();
        let first = req.api_key() == ApiKey::OffsetCommit && !log.contains(&ApiKey::OffsetCommit);
        if req.api_key() == ApiKey::OffsetCommit || !log.is_empty() {
            log.push(req.api_key());
        }
        match req.error_response(ErrorCode::STALE_MEMBER_EPOCH) {
            Some(r) if first => Action::respond(r),
            _ => Action::pass(),
        }
    });
    c.commit_sync(None)
        .await
        .expect("the commit succeeds once retried");
    assert_eq!(cluster.committed(GROUP, "t", 0), Some(20));
    let seen = seen.lock().unwrap().clone();
    let commits: Vec<usize> = (0..seen.len())
        .filter(|i| seen[*i] == ApiKey::OffsetCommit)
        .collect();
    assert_eq!(commits.len(), 2, "sent twice: {seen:?}");
    assert!(
        seen[commits[0]..commits[1]].contains(&ApiKey::ConsumerGroupHeartbeat),
        "a heartbeat between the two attempts: {seen:?}"
    );
    c.close().await;
}

/// A broker that lists ConsumerGroupHeartbeat but has the protocol disabled (Kafka 3.9's default)
/// answers UNSUPPORTED_VERSION: `poll` returns a fatal error naming `group.protocol=classic`, and
/// the consumer does not fall back to the classic protocol by itself.
#[tokio::test]
async fn a_broker_with_the_protocol_disabled_is_a_clear_fatal_error() {
    let cluster = cluster(2, false).await;
    produce(&cluster, "t", 0, 5);
    let timeline: Timeline = Arc::new(Mutex::new(Vec::new()));
    let mut c = member(&cluster, 'a', &timeline).await;
    let deadline = Instant::now() + WAIT;
    let error = loop {
        assert!(Instant::now() < deadline, "no error from poll");
        match c.poll(Duration::from_millis(50)).await {
            Ok(batch) => assert!(batch.is_empty(), "records without a group"),
            Err(e) => break e,
        }
    };
    assert!(error.is_fatal(), "{error:?}");
    assert!(!error.is_retriable(), "{error:?}");
    assert!(error.to_string().contains("group.protocol=classic"), "{error}");
    assert_eq!(c.group_state().expect("subscribed").state, MemberState::Fatal);
    assert!(
        c.assignment().is_empty(),
        "no silent fallback: {:?}",
        c.assignment()
    );
    assert!(timeline.lock().unwrap().is_empty(), "no callbacks");
}
