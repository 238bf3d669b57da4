//! The KIP-848 adapter's commits without a broker: answers are fed by hand, time is a parameter.

use std::time::{Duration, Instant};

use kafkaroo_group::consumer_protocol::{self as cp, HeartbeatResponse, TopicIdPartitions};
use kafkaroo_group::member::{
    CommitKind, CommitOutcome, FetchedOffset, OffsetToCommit, Request, Response, Transmit,
};
use kafkaroo_group::{GroupError, GroupEvent, TopicPartition};
use kafkaroo_wire::{ErrorCode, Uuid};

use super::kip848::Kip848;
use super::membership::{AnyRequest, AnyResponse, Membership, TopicsInfo};

const TOPIC_ID: Uuid = Uuid::from_u128(7);

fn heartbeat_ok(epoch: i32, assignment: Option<Vec<i32>>) -> AnyResponse {
    AnyResponse::Consumer(cp::Response::Heartbeat(HeartbeatResponse {
        error_code: 0,
        error_message: None,
        member_id: None,
        member_epoch: epoch,
        heartbeat_interval_ms: 1000,
        assignment: assignment.map(|partitions| {
            vec![TopicIdPartitions {
                topic_id: TOPIC_ID,
                partitions,
            }]
        }),
    }))
}

/// Answers the member's requests (coordinator lookup, heartbeats, offset fetches) until it has none;
/// returns the OffsetCommits it sent, unanswered.
fn pump(
    m: &mut Kip848,
    now: Instant,
    epoch: i32,
    assignment: &mut Option<Vec<i32>>,
) -> Vec<Transmit<AnyRequest>> {
    let mut commits = Vec::new();
    while let Some(t) = m.poll_transmit() {
        let answer = match &t.request {
            AnyRequest::Consumer(cp::Request::FindCoordinator { .. }) => {
                AnyResponse::Consumer(cp::Response::FindCoordinator {
                    error_code: 0,
                    node_id: 1,
                })
            }
            AnyRequest::Consumer(cp::Request::Heartbeat(_)) => heartbeat_ok(epoch, assignment.take()),
            // Nothing committed yet.
            AnyRequest::MemberOffsetFetch { partitions, .. } => AnyResponse::Classic(Response::OffsetFetch {
                error_code: 0,
                partitions: partitions
                    .iter()
                    .map(|tp| FetchedOffset {
                        partition: tp.clone(),
                        offset: -1,
                        leader_epoch: -1,
                        metadata: None,
                        error_code: 0,
                    })
                    .collect(),
            }),
            AnyRequest::Classic(Request::OffsetCommit(_)) => {
                commits.push(t);
                continue;
            }
            AnyRequest::Classic(_) => panic!("unexpected request"),
        };
        m.handle_response(now, t.id, answer);
    }
    commits
}

fn outcomes(m: &mut Kip848) -> Vec<CommitOutcome> {
    let mut out = Vec::new();
    while let Some(e) = m.poll_event() {
        if let GroupEvent::CommitResult(o) = e {
            out.push(o);
        }
    }
    out
}

/// A member of epoch 3 owning t-0 and t-1.
fn member(now: Instant) -> Kip848 {
    let mut m = Kip848::new(cp::ConsumerMemberConfig::new("g"), now).expect("member");
    let names = TopicsInfo {
        names: [(TOPIC_ID, "t".to_owned())].into(),
        ..TopicsInfo::default()
    };
    m.metadata_changed(&names, now);
    m.subscribe(vec!["t".to_owned()], now).expect("subscribe");
    let commits = pump(&mut m, now, 3, &mut Some(vec![0, 1]));
    assert!(commits.is_empty());
    assert_eq!(m.generation(), 3);
    assert_eq!(m.assignment().len(), 2);
    m
}

fn offset(p: i32, o: i64) -> OffsetToCommit {
    OffsetToCommit::new(TopicPartition::new("t", p), o)
}

fn commit_answer(t: &Transmit<AnyRequest>, code: ErrorCode) -> AnyResponse {
    let AnyRequest::Classic(Request::OffsetCommit(c)) = &t.request else {
        panic!("not a commit");
    };
    let partitions = c.offsets.iter().map(|o| (o.partition.clone(), code.0)).collect();
    AnyResponse::Classic(Response::OffsetCommit { partitions })
}

#[test]
fn commits_go_one_at_a_time_in_order_with_the_member_epoch() {
    let now = Instant::now();
    let mut m = member(now);
    let kind = CommitKind::Async;
    let first = m.commit(vec![offset(0, 5)], kind, now).unwrap();
    let second = m.commit(vec![offset(1, 9)], kind, now).unwrap();
    let sent = pump(&mut m, now, 3, &mut None);
    assert_eq!(sent.len(), 1, "the second waits for the first");
    let AnyRequest::Classic(Request::OffsetCommit(c)) = &sent[0].request else {
        panic!("not a commit");
    };
    assert_eq!((c.generation_id, c.member_id.as_str()), (3, m.member_id()));
    m.handle_response(now, sent[0].id, commit_answer(&sent[0], ErrorCode::NONE));
    let next = pump(&mut m, now, 3, &mut None);
    assert_eq!(next.len(), 1);
    m.handle_response(now, next[0].id, commit_answer(&next[0], ErrorCode::NONE));
    let ids: Vec<_> = outcomes(&mut m).iter().map(|o| (o.id, o.is_ok())).collect();
    assert_eq!(ids, vec![(first, true), (second, true)]);
    let not_owned = m.commit(vec![offset(2, 1)], kind, now).unwrap_err();
    assert!(matches!(not_owned, GroupError::NotOwned { .. }), "{not_owned:?}");
}

/// A member of epoch 3 with one sync commit (offset 5 of t-0, until `deadline`) sent and unanswered.
fn sync_commit_sent(
    now: Instant,
    deadline: Instant,
) -> (
    Kip848,
    kafkaroo_group::member::CommitId,
    Vec<Transmit<AnyRequest>>,
) {
    let mut m = member(now);
    let id = m
        .commit(vec![offset(0, 5)], CommitKind::Sync { deadline }, now)
        .unwrap();
    let sent = pump(&mut m, now, 3, &mut None);
    (m, id, sent)
}

#[test]
fn a_stale_epoch_waits_for_a_heartbeat_and_a_sync_commit_gives_up_at_its_deadline() {
    let (now, deadline) = (Instant::now(), Instant::now() + Duration::from_secs(5));
    let (mut m, id, sent) = sync_commit_sent(now, deadline);
    m.handle_response(
        now,
        sent[0].id,
        commit_answer(&sent[0], ErrorCode::STALE_MEMBER_EPOCH),
    );
    // Past the backoff but no new epoch yet: the commit is not sent again. Heartbeats may go (quick ones
    // for an interval after the assignment arrived); they stay unanswered for now.
    let later = now + Duration::from_millis(500);
    m.handle_timeout(later);
    let waiting: Vec<_> = std::iter::from_fn(|| m.poll_transmit()).collect();
    assert!(
        waiting
            .iter()
            .all(|t| matches!(t.request, AnyRequest::Consumer(cp::Request::Heartbeat(_)))),
        "waits for the next heartbeat: {} requests sent",
        waiting.len()
    );
    // A heartbeat's answer moves the epoch; the commit goes again with it.
    let beat = now + Duration::from_millis(1500);
    for t in &waiting {
        m.handle_response(beat, t.id, heartbeat_ok(4, None));
    }
    m.handle_timeout(beat);
    let again = pump(&mut m, beat, 4, &mut None);
    assert_eq!(again.len(), 1, "sent again after the heartbeat");
    let AnyRequest::Classic(Request::OffsetCommit(c)) = &again[0].request else {
        panic!("not a commit");
    };
    assert_eq!(c.generation_id, 4);
    // Lost answer, then the deadline passes: the commit fails with a timeout naming the last error.
    m.handle_response(
        beat,
        again[0].id,
        AnyResponse::Classic(Response::Failed(
            kafkaroo_group::member::TransportFailure::TimedOut,
        )),
    );
    m.handle_timeout(deadline);
    let done = outcomes(&mut m);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].id, id);
    assert!(
        matches!(done[0].failed[0].1, GroupError::CommitTimedOut { .. }),
        "{done:?}"
    );
    assert!(done[0].failed[0].1.is_retriable());
}

#[test]
fn a_commit_answered_not_coordinator_finds_the_coordinator_and_goes_to_the_new_one() {
    use kafkaroo_group::member::Target;
    let (now, deadline) = (Instant::now(), Instant::now() + Duration::from_secs(5));
    let (mut m, id, sent) = sync_commit_sent(now, deadline);
    assert_eq!(sent[0].target, Target::Coordinator(1));
    m.handle_response(
        now,
        sent[0].id,
        commit_answer(&sent[0], ErrorCode::NOT_COORDINATOR),
    );
    // At once, not at the next heartbeat: the member looks for its coordinator again.
    let find = m.poll_transmit().expect("a coordinator lookup");
    assert!(matches!(
        find.request,
        AnyRequest::Consumer(cp::Request::FindCoordinator { .. })
    ));
    let moved = AnyResponse::Consumer(cp::Response::FindCoordinator {
        error_code: 0,
        node_id: 2,
    });
    m.handle_response(now, find.id, moved);
    // After the backoff the commit goes to the new coordinator and lands.
    let later = now + Duration::from_secs(1);
    m.handle_timeout(later);
    let again = pump(&mut m, later, 3, &mut None);
    assert_eq!(again.len(), 1, "sent again");
    assert_eq!(again[0].target, Target::Coordinator(2));
    m.handle_response(later, again[0].id, commit_answer(&again[0], ErrorCode::NONE));
    let done = outcomes(&mut m);
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!((done[0].id, done[0].is_ok()), (id, true));
}
