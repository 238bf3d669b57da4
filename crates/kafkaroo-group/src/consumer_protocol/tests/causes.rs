//! The cause the KIP-848 member reports on its `StateChanged` events: joining, a new assignment that
//! takes partitions away, and the rejoins after fencing or an unknown member id.

use super::*;
use crate::member::rebalance::RebalanceCause::{self, *};

/// The state changes since the last call, with their causes (other events are dropped).
fn changes(h: &mut Harness) -> Vec<(MemberState, Option<RebalanceCause>)> {
    std::iter::from_fn(|| h.m.poll_event())
        .filter_map(|e| match e {
            GroupEvent::StateChanged { to, cause, .. } => Some((to, cause)),
            _ => None,
        })
        .collect()
}

/// Answers the (re)join heartbeat with `assignment` at `epoch`, then the acknowledgement.
fn assigned(h: &mut Harness, epoch: i32, assignment: &[(u128, &[i32])]) {
    let (id, _) = h.heartbeat().expect("the join heartbeat");
    h.answer(id, ok(epoch, Some(assignment)));
    let (id, _) = h.heartbeat().expect("the acknowledgement");
    h.answer(id, ok(epoch + 1, None));
}

#[test]
fn joining_is_the_cause_until_the_member_is_stable() {
    let mut h = Harness::new(config());
    h.m.subscribe(["a"], h.now).unwrap();
    h.find_coordinator();
    assigned(&mut h, 1, &[(1, &[0, 1])]);
    let seen = changes(&mut h);
    assert_eq!(
        seen.last(),
        Some(&(MemberState::Stable, Some(Joining))),
        "{seen:?}"
    );
    assert!(seen.iter().all(|(_, c)| *c == Some(Joining)), "{seen:?}");
}

#[test]
fn an_assignment_that_takes_partitions_away_is_coordinator_requested() {
    let mut h = Harness::stable();
    h.advance(5000);
    let (id, _) = h.heartbeat().unwrap();
    h.answer(id, ok(2, Some(&[(1, &[1])])));
    assert_eq!(
        changes(&mut h),
        [(MemberState::Revoking, Some(CoordinatorRequested))]
    );
    h.m.revocation_done(h.now, &h.topics);
    let (id, _) = h.heartbeat().expect("ack at once");
    h.answer(id, ok(3, None));
    assert_eq!(
        changes(&mut h),
        [(MemberState::Stable, Some(CoordinatorRequested))]
    );
    // The next rebalance starts afresh: an assignment that only adds takes no step at all.
    h.advance(5000);
    let (id, _) = h.heartbeat().unwrap();
    h.answer(id, ok(4, Some(&[(1, &[1]), (2, &[0])])));
    assert_eq!(changes(&mut h), []);
}

#[test]
fn fenced_or_unknown_members_rejoin_for_that_cause() {
    for (code, cause) in [
        (codes::FENCED_MEMBER_EPOCH, MemberFenced),
        (codes::UNKNOWN_MEMBER_ID, UnknownMember),
    ] {
        let mut h = Harness::stable();
        h.advance(5000);
        let (id, _) = h.heartbeat().unwrap();
        h.answer(id, error(code));
        assigned(&mut h, 3, &[(1, &[0])]);
        let seen = changes(&mut h);
        assert_eq!(
            seen.first(),
            Some(&(MemberState::Joining, Some(cause))),
            "{seen:?}"
        );
        assert_eq!(seen.last(), Some(&(MemberState::Stable, Some(cause))), "{seen:?}");
    }
}
