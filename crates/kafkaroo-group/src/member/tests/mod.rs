//! Deterministic tests of [`GroupMember`](super::GroupMember) against a simulated coordinator. Tests
//! named `sNN_…` and the scenario and invariant numbers below are those of docs/faults-and-invariants.md.

mod causes;
mod faults;
mod prop;
mod sim;

use std::time::Duration;

use sim::*;

use super::*;
use crate::protocol::Assignment;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn assigned_sizes(sim: &Sim) -> Vec<usize> {
    let mut v: Vec<usize> = sim
        .nodes
        .iter()
        .filter(|n| n.alive)
        .map(|n| n.member.assignment().len())
        .collect();
    v.sort();
    v
}

fn lost_events(sim: &Sim, i: usize) -> Vec<Vec<TopicPartition>> {
    sim.events(i)
        .into_iter()
        .filter_map(|e| match e {
            GroupEvent::Lost { partitions, .. } => Some(partitions),
            _ => None,
        })
        .collect()
}

fn revoked_events(sim: &Sim, i: usize) -> Vec<Vec<TopicPartition>> {
    sim.events(i)
        .into_iter()
        .filter_map(|e| match e {
            GroupEvent::Revoked { partitions } => Some(partitions),
            _ => None,
        })
        .collect()
}

fn added_events(sim: &Sim, i: usize) -> Vec<Vec<TopicPartition>> {
    sim.events(i)
        .into_iter()
        .filter_map(|e| match e {
            GroupEvent::Assigned { partitions, .. } => Some(partitions),
            _ => None,
        })
        .collect()
}

#[test]
fn single_member_joins_and_fetches_offsets() {
    let mut sim = Sim::new(&[("t", 4)]);
    sim.coord.offsets.insert(tp("t", 1), 42);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    // KIP-394: an empty member id gets MEMBER_ID_REQUIRED, then the member rejoins at once.
    assert_eq!(sim.count_sent(a, "JoinGroup"), 2);
    assert_eq!(sim.elapsed(), Duration::ZERO, "no backoff for MEMBER_ID_REQUIRED");
    assert_eq!(sim.nodes[a].member.assignment().len(), 4);
    assert!(sim.nodes[a].member.is_leader());
    let fetched: Vec<CommittedOffset> = sim
        .events(a)
        .into_iter()
        .filter_map(|e| match e {
            GroupEvent::OffsetsFetched { offsets } => Some(offsets),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(fetched.len(), 4);
    assert_eq!(
        fetched.iter().find(|o| o.partition == tp("t", 1)).unwrap().offset,
        Some(42)
    );
    assert_eq!(
        fetched.iter().find(|o| o.partition == tp("t", 0)).unwrap().offset,
        None
    );
    // For one interval after a cooperative SyncGroup, heartbeats are quick (a second round may
    // follow that only a heartbeat tells this member about)...
    sim.run_for(secs(3));
    let fast = sim.count_sent(a, "Heartbeat");
    assert!(fast >= 20, "{fast} heartbeats in the 3 s after the SyncGroup");
    // ...then on their own schedule.
    sim.run_for(secs(30));
    let hb = sim.count_sent(a, "Heartbeat") - fast;
    assert!((9..=11).contains(&hb), "{hb} heartbeats in 30 s at 3 s interval");
    assert!(sim.nodes[a].member.last_heartbeat().is_some());
    assert_eq!(sim.coord.generation, 1);
}

#[test]
fn s12_join_request_timeout_covers_the_rebalance_timeout() {
    let mut m = GroupMember::new(config(1, true, None), std::time::Instant::now()).unwrap();
    let now = std::time::Instant::now();
    m.subscribe(["t"], now).unwrap();
    let t = m.poll_transmit().unwrap();
    assert!(matches!(t.request, Request::FindCoordinator { .. }));
    m.handle_response(
        now,
        t.id,
        Response::FindCoordinator {
            error_code: 0,
            node_id: 7,
        },
    );
    let t = m.poll_transmit().unwrap();
    let Request::JoinGroup(j) = &t.request else {
        panic!()
    };
    assert_eq!(t.target, Target::Coordinator(7));
    assert_eq!(j.rebalance_timeout_ms, 60_000);
    assert_eq!(j.protocol_type, "consumer");
    assert!(t.timeout >= MAX_POLL + Duration::from_secs(5), "scenario 12");
    assert!(!j.reason.is_empty());
}

#[test]
fn s13_three_members_cooperative_balance_and_two_phase_moves() {
    let mut sim = Sim::new(&[("t", 6)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    let b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(30));
    assert_eq!(assigned_sizes(&sim), vec![3, 3]);
    let c = sim.add(config(3, true, None));
    sim.run_until_stable(secs(30));
    assert_eq!(assigned_sizes(&sim), vec![2, 2, 2]);
    // Cooperative: the old members revoked only what moved, never lost anything.
    for i in [a, b] {
        assert!(lost_events(&sim, i).is_empty());
        for r in revoked_events(&sim, i) {
            assert!(r.len() <= 3, "only moved partitions are revoked: {r:?}");
        }
    }
    // A partition revoked in generation N is assigned to the new owner only in a later generation.
    let h = &sim.coord.history;
    for (g, assignment) in h {
        if let Some(prev) = h.get(&(g - 1)) {
            for (member, parts) in assignment {
                for p in parts {
                    let prev_owner = prev.iter().find(|(_, ps)| ps.contains(p)).map(|(m, _)| m);
                    assert!(
                        prev_owner.is_none() || prev_owner == Some(member),
                        "{p} moved within generation {g}"
                    );
                }
            }
        }
    }
    assert!(added_events(&sim, c).iter().flatten().count() == 2);
}

#[test]
fn eager_members_revoke_everything_before_rejoining() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, false, None));
    sim.run_until_stable(secs(5));
    let _b = sim.add(config(2, false, None));
    sim.run_until_stable(secs(30));
    assert_eq!(assigned_sizes(&sim), vec![2, 2]);
    assert_eq!(
        revoked_events(&sim, a),
        vec![(0..4).map(|p| tp("t", p)).collect::<Vec<_>>()]
    );
}

#[test]
fn member_leaves_and_others_take_over() {
    let mut sim = Sim::new(&[("t", 6)]);
    let a = sim.add(config(1, true, None));
    let b = sim.add(config(2, true, None));
    let c = sim.add(config(3, true, None));
    sim.run_until_stable(secs(60));
    let now = sim.now;
    sim.nodes[c].member.close(CloseMode::Default, now);
    sim.run_for(secs(1));
    assert_eq!(sim.nodes[c].member.state(), MemberState::Unjoined);
    assert!(sim.events(c).contains(&GroupEvent::Closed));
    assert_eq!(sim.count_sent(c, "LeaveGroup"), 1);
    sim.crash(c); // gone for good
    sim.run_until_stable(secs(30));
    assert_eq!(assigned_sizes(&sim), vec![3, 3]);
    let _ = (a, b);
}

#[test]
fn s10_static_member_restart_within_session_keeps_assignment_without_rebalance() {
    let mut sim = Sim::new(&[("t", 6)]);
    let a = sim.add(config(1, true, Some("i-a")));
    let b = sim.add(config(2, true, Some("i-b")));
    sim.run_until_stable(secs(60));
    let generation = sim.coord.generation;
    let rebalances = sim.coord.rebalances;
    let before_a = sim.nodes[a].member.assignment();
    let before_b = sim.nodes[b].member.assignment();
    // Static members remain on close by default (KIP-1092): no LeaveGroup.
    let now = sim.now;
    sim.nodes[a].member.close(CloseMode::Default, now);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.count_sent(a, "LeaveGroup"), 0);
    sim.crash(a);
    sim.run_for(secs(4));
    let a2 = sim.add(config(11, true, Some("i-a")));
    sim.run_until_stable(secs(5));
    assert_eq!(
        sim.coord.generation, generation,
        "invariant 11: no generation change"
    );
    assert_eq!(sim.coord.rebalances, rebalances);
    assert_eq!(sim.nodes[a2].member.assignment(), before_a);
    assert_eq!(sim.nodes[b].member.assignment(), before_b);
    assert_eq!(sim.nodes[a2].member.generation(), generation);
    // No MEMBER_ID_REQUIRED round trip for static members.
    assert_eq!(sim.count_sent(a2, "JoinGroup"), 1);
}

#[test]
fn static_leader_restart_gets_skip_assignment() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, Some("i-a")));
    sim.run_until_stable(secs(5));
    let _b = sim.add(config(2, true, Some("i-b")));
    sim.run_until_stable(secs(60));
    assert!(sim.nodes[a].member.is_leader());
    let owned = sim.nodes[a].member.assignment();
    sim.crash(a);
    let a2 = sim.add(config(3, true, Some("i-a")));
    sim.run_until_stable(secs(5));
    assert!(sim.nodes[a2].member.is_leader());
    let sync = sim.nodes[a2]
        .sent
        .iter()
        .find_map(|(_, r)| match r {
            Request::SyncGroup(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        sync.assignments.is_empty(),
        "KIP-814: the leader sends no assignment"
    );
    assert_eq!(sim.nodes[a2].member.assignment(), owned);
}

#[test]
fn s11_max_poll_interval_exceeded_leaves_and_rejoins_on_next_poll() {
    // Scenario 11.
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    let b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    sim.nodes[a].polling = false;
    sim.run_for(MAX_POLL + secs(1));
    assert_eq!(sim.nodes[a].member.state(), MemberState::Lost);
    let lost = lost_events(&sim, a);
    assert_eq!(lost.len(), 1);
    assert!(sim.events(a).iter().any(|e| matches!(
        e,
        GroupEvent::Lost {
            reason: GroupError::MaxPollIntervalExceeded,
            ..
        }
    )));
    assert_eq!(sim.count_sent(a, "LeaveGroup"), 1);
    assert!(sim.nodes[a].member.assignment().is_empty());
    // Commits are refused while out of the group.
    let now = sim.now;
    assert!(
        sim.nodes[a]
            .member
            .commit(vec![OffsetToCommit::new(tp("t", 0), 1)], CommitKind::Async, now)
            .is_err()
    );
    sim.run_for(secs(5));
    assert_eq!(sim.nodes[b].member.assignment().len(), 4);
    sim.nodes[a].polling = true;
    sim.run_until_stable(secs(30));
    assert_eq!(assigned_sizes(&sim), vec![2, 2]);
}

#[test]
fn s02_coordinator_moved_keeps_membership() {
    // Scenario 2 via a real move.
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    let b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    let generation = sim.coord.generation;
    let ids = (
        sim.nodes[a].member.member_id().to_owned(),
        sim.nodes[b].member.member_id().to_owned(),
    );
    sim.move_coordinator();
    sim.run_for(secs(20));
    assert!(sim.stable());
    assert_eq!(sim.coord.generation, generation, "invariant 11");
    assert_eq!(sim.nodes[a].member.coordinator(), Some(2));
    assert_eq!(
        (
            sim.nodes[a].member.member_id().to_owned(),
            sim.nodes[b].member.member_id().to_owned()
        ),
        ids
    );
    assert!(lost_events(&sim, a).is_empty() && lost_events(&sim, b).is_empty());
    assert!(sim.count_sent(a, "FindCoordinator") >= 2);
}

#[test]
fn s03_session_expiry_when_the_coordinator_is_unreachable() {
    // Scenario 3.
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    let b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    sim.nodes[a].cut_off = true;
    sim.run_for(SESSION + secs(1));
    let lost = lost_events(&sim, a);
    assert_eq!(lost.len(), 1, "partitions lost, not revoked");
    assert!(revoked_events(&sim, a).is_empty());
    assert!(sim.events(a).iter().any(|e| matches!(
        e,
        GroupEvent::Lost {
            reason: GroupError::SessionExpired,
            ..
        }
    )));
    assert!(sim.nodes[a].member.assignment().is_empty());
    assert_eq!(sim.nodes[a].member.generation(), -1);
    // Commits stop.
    let now = sim.now;
    assert!(
        sim.nodes[a]
            .member
            .commit(vec![OffsetToCommit::new(tp("t", 0), 1)], CommitKind::Async, now)
            .is_err()
    );
    sim.run_for(secs(15));
    assert_eq!(sim.nodes[b].member.assignment().len(), 4);
    sim.nodes[a].cut_off = false;
    sim.run_until_stable(secs(120));
    assert_eq!(assigned_sizes(&sim), vec![2, 2]);
}

#[test]
fn leader_rejoins_when_partition_counts_change() {
    let mut sim = Sim::new(&[("t", 2)]);
    let _a = sim.add(config(1, true, None));
    let _b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    let generation = sim.coord.generation;
    sim.set_partitions("t", 6);
    sim.run_until_stable(secs(60));
    assert!(sim.coord.generation > generation);
    assert_eq!(assigned_sizes(&sim), vec![3, 3]);
}

/// `t` with 4 partitions: 0 and 1 have replicas in `low`, 2 and 3 in `high`.
fn racks(low: &str, high: &str) -> crate::assignor::ReplicaRacks {
    let set = |r: &str| [r.to_owned()].into_iter().collect();
    [("t".to_owned(), vec![set(low), set(low), set(high), set(high)])]
        .into_iter()
        .collect()
}

#[test]
fn leader_assigns_by_rack_and_rejoins_when_replica_racks_change() {
    for cooperative in [false, true] {
        let mut sim = Sim::new(&[("t", 4)]);
        let in_rack = |seed, rack: &str| {
            let mut c = config(seed, cooperative, None);
            c.rack_id = Some(rack.to_owned());
            c
        };
        let (a, b) = (in_rack(1, "ra"), in_rack(2, "rb"));
        let (a, b) = (sim.add(a), sim.add(b));
        sim.set_racks(&racks("rb", "ra"));
        sim.run_until_stable(secs(60));
        let generation = sim.coord.generation;
        assert_eq!(sim.nodes[a].member.assignment(), vec![tp("t", 2), tp("t", 3)]);
        assert_eq!(sim.nodes[b].member.assignment(), vec![tp("t", 0), tp("t", 1)]);
        // Replicas moved: the leader (with client.rack) rebalances and the partitions follow.
        sim.set_racks(&racks("ra", "rb"));
        sim.run_until_stable(secs(60));
        assert!(sim.coord.generation > generation, "cooperative {cooperative}");
        assert_eq!(sim.nodes[a].member.assignment(), vec![tp("t", 0), tp("t", 1)]);
        assert_eq!(sim.nodes[b].member.assignment(), vec![tp("t", 2), tp("t", 3)]);
    }
}

#[test]
fn replica_rack_changes_trigger_no_rebalance_without_client_rack() {
    let mut sim = Sim::new(&[("t", 4)]);
    sim.add(config(1, true, None));
    sim.add(config(2, true, None));
    sim.set_racks(&racks("ra", "rb"));
    sim.run_until_stable(secs(60));
    let generation = sim.coord.generation;
    sim.set_racks(&racks("rb", "ra"));
    sim.run_until_stable(secs(60));
    assert_eq!(sim.coord.generation, generation);
}

#[test]
fn commits_are_refused_for_partitions_not_owned() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    let _b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    let now = sim.now;
    let mine = sim.nodes[a].member.assignment()[0].clone();
    let theirs = (0..4)
        .map(|p| tp("t", p))
        .find(|p| !sim.nodes[a].member.assignment().contains(p))
        .unwrap();
    let err = sim.nodes[a]
        .member
        .commit(
            vec![
                OffsetToCommit::new(mine.clone(), 5),
                OffsetToCommit::new(theirs.clone(), 5),
            ],
            CommitKind::Async,
            now,
        )
        .unwrap_err();
    assert_eq!(
        err,
        GroupError::NotOwned {
            partitions: vec![theirs]
        }
    );
    assert!(!err.is_retriable() && !err.is_fatal());
    let id = sim.nodes[a]
        .member
        .commit(vec![OffsetToCommit::new(mine.clone(), 5)], CommitKind::Async, now)
        .unwrap();
    sim.run_for(Duration::from_millis(1));
    assert!(
        sim.events(a)
            .iter()
            .any(|e| matches!(e, GroupEvent::CommitResult(o) if o.id == id && o.is_ok()))
    );
    assert_eq!(sim.coord.offsets.get(&mine), Some(&5));
}

#[test]
fn leader_tolerates_undecodable_member_metadata() {
    use crate::protocol::decode_group_subscriptions;
    // The leader-side decode keeps a broken member with an empty subscription.
    let (members, errors) = decode_group_subscriptions([("m1", None, Bytes::from_static(&[0, 1, 0]))]);
    assert_eq!(errors.len(), 1);
    assert!(members[0].subscription.topics.is_empty());
    // End to end: a member's metadata is corrupted at the coordinator; the group still stabilises for
    // the others, and the broken member gets nothing.
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    let b = sim.add(config(2, true, None));
    sim.run_for(Duration::from_millis(1));
    let bid = sim.nodes[b].member.member_id().to_owned();
    if let Some(m) = sim.coord.members.get_mut(&bid) {
        for p in &mut m.protocols {
            p.1 = Bytes::from_static(&[0, 3, 0, 0, 0, 9]);
        }
    }
    sim.run_for(secs(10));
    assert_eq!(
        sim.nodes[a].member.assignment().len() + sim.nodes[b].member.assignment().len(),
        4
    );
}

#[test]
fn state_changes_are_reported() {
    let mut sim = Sim::new(&[("t", 1)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    let states: Vec<MemberState> = sim
        .events(a)
        .into_iter()
        .filter_map(|e| match e {
            GroupEvent::StateChanged { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        vec![
            MemberState::FindingCoordinator,
            MemberState::Joining,
            MemberState::Syncing,
            MemberState::Stable
        ]
    );
}
