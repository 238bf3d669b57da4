//! The cause each member reports for the rebalances it completes (`StateChanged` to `Stable`), for
//! every way a classic rebalance starts.

use std::time::Duration;

use super::sim::*;
use crate::member::rebalance::RebalanceCause::{self, *};
use crate::member::{GroupEvent, MemberState};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The causes of the rebalances member `i` completed, in order.
fn completed(sim: &Sim, i: usize) -> Vec<RebalanceCause> {
    sim.events(i)
        .into_iter()
        .filter_map(|e| match e {
            GroupEvent::StateChanged {
                to: MemberState::Stable,
                cause,
                ..
            } => Some(cause.expect("a completed rebalance has a cause")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_joining_member_starts_a_rebalance_the_other_is_asked_for() {
    for cooperative in [false, true] {
        let mut sim = Sim::new(&[("t", 4)]);
        let a = sim.add(config(1, cooperative, None));
        sim.run_until_stable(secs(30));
        let b = sim.add(config(2, cooperative, None));
        sim.run_until_stable(secs(30));
        assert_eq!(
            completed(&sim, a),
            [Joining, CoordinatorRequested],
            "cooperative {cooperative}"
        );
        let b_causes: &[RebalanceCause] = if cooperative {
            // KIP-429: nothing in the first round; the second one A's revocation asks for.
            &[Joining, CoordinatorRequested]
        } else {
            &[Joining]
        };
        assert_eq!(completed(&sim, b), b_causes, "cooperative {cooperative}");
    }
}

#[test]
fn the_leader_rejoins_for_metadata_and_the_follower_is_asked_to() {
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, None));
    let b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    let (before_a, before_b) = (completed(&sim, a).len(), completed(&sim, b).len());
    sim.set_partitions("t", 6);
    sim.run_until_stable(secs(60));
    let leader = if sim.nodes[a].member.is_leader() { a } else { b };
    let follower = a + b - leader;
    let before = |i| if i == a { before_a } else { before_b };
    assert_eq!(completed(&sim, leader)[before(leader)..], [MetadataChanged]);
    assert_eq!(
        completed(&sim, follower)[before(follower)..],
        [CoordinatorRequested]
    );
}

#[test]
fn lost_memberships_and_a_moved_coordinator_name_their_cause() {
    // Eager members: each of these is one rebalance (cooperative ones add the second round, which
    // the revoking member asks for).
    // max.poll.interval.ms exceeded, then polled again.
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, false, None));
    let _b = sim.add(config(2, false, None));
    sim.run_until_stable(secs(60));
    let before = completed(&sim, a).len();
    sim.nodes[a].polling = false;
    sim.run_for(MAX_POLL + secs(1));
    sim.nodes[a].polling = true;
    sim.run_until_stable(secs(30));
    let causes = completed(&sim, a);
    assert_eq!(causes[before..], [PollTimeout], "{causes:?}");
    let before = causes.len();

    // No heartbeat acknowledged within the session timeout.
    sim.nodes[a].cut_off = true;
    sim.run_for(SESSION + secs(1));
    sim.nodes[a].cut_off = false;
    sim.run_until_stable(secs(120));
    // The cut-off member may find the coordinator again in between (`coordinator_changed`); the
    // rebalance that gives it partitions again is the rejoin after its session expired.
    let causes = completed(&sim, a);
    assert!(causes[before..].ends_with(&[SessionTimeout]), "{causes:?}");

    // The coordinator moved: found again, stable in the same generation.
    let before = completed(&sim, a).len();
    sim.move_coordinator();
    sim.run_for(secs(20));
    assert!(sim.stable());
    assert_eq!(completed(&sim, a)[before..], [CoordinatorChanged]);
}
