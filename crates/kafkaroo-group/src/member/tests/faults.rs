//! One test per fault scenario 1–17 (docs/faults-and-invariants.md), in the simulated group or with a
//! scripted coordinator where exact interleavings matter.

use std::time::Instant;

use super::*;

// -------------------------------------------------------------------------------------------------
// A scripted single member: the test plays the coordinator by hand.
// -------------------------------------------------------------------------------------------------

struct Script {
    m: GroupMember,
    now: Instant,
}

impl Script {
    fn new(cooperative: bool) -> Self {
        let now = Instant::now();
        let mut m = GroupMember::new(config(9, cooperative, None), now).unwrap();
        m.metadata_changed(&[("t".to_owned(), 2)].into_iter().collect(), now);
        m.subscribe(["t"], now).unwrap();
        Self { m, now }
    }

    fn tx(&mut self) -> Transmit {
        self.m.poll_transmit().expect("a request to send")
    }

    fn reply(&mut self, t: &Transmit, r: Response) {
        let now = self.now;
        self.m.handle_response(now, t.id, r);
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        self.m.handle_timeout(now);
    }

    fn events(&mut self) -> Vec<GroupEvent> {
        std::iter::from_fn(|| self.m.poll_event())
            .filter(|e| !matches!(e, GroupEvent::StateChanged { .. }))
            .collect()
    }

    fn join_ok(&mut self, t: &Transmit, generation: i32) {
        let Request::JoinGroup(j) = &t.request else {
            panic!("expected JoinGroup, got {t:?}")
        };
        let member = j.member_id.clone();
        let metadata = j.protocols[0].1.clone();
        self.reply(
            t,
            Response::JoinGroup(JoinAnswer {
                error_code: 0,
                generation_id: generation,
                protocol_name: Some(j.protocols[0].0.clone()),
                leader: member.clone(),
                member_id: member.clone(),
                members: vec![JoinedMember {
                    member_id: member,
                    group_instance_id: None,
                    metadata,
                }],
                skip_assignment: false,
            }),
        );
    }

    fn sync_ok(&mut self, t: &Transmit) {
        let Request::SyncGroup(s) = &t.request else {
            panic!("expected SyncGroup, got {t:?}")
        };
        let a = s.assignments[0].1.clone();
        let name = s.protocol_name.clone();
        self.reply(
            t,
            Response::SyncGroup {
                error_code: 0,
                protocol_name: Some(name),
                assignment: a,
            },
        );
        let now = self.now;
        self.m.assignment_done(now);
    }

    /// Find → MEMBER_ID_REQUIRED → join (generation 1) → sync: owns t-0 and t-1.
    fn stable(cooperative: bool) -> Self {
        let mut s = Self::new(cooperative);
        let t = s.tx();
        s.reply(
            &t,
            Response::FindCoordinator {
                error_code: 0,
                node_id: 1,
            },
        );
        let t = s.tx();
        let mut r = JoinAnswer {
            error_code: codes::MEMBER_ID_REQUIRED,
            generation_id: -1,
            protocol_name: None,
            leader: String::new(),
            member_id: "m-1".into(),
            members: Vec::new(),
            skip_assignment: false,
        };
        s.reply(&t, Response::JoinGroup(r.clone()));
        let t = s.tx();
        s.join_ok(&t, 1);
        let t = s.tx();
        s.sync_ok(&t);
        assert_eq!(s.m.state(), MemberState::Stable);
        assert_eq!(s.m.assignment(), vec![tp("t", 0), tp("t", 1)]);
        // The OffsetFetch for the added partitions.
        let t = s.tx();
        assert!(matches!(t.request, Request::OffsetFetch { .. }));
        s.reply(
            &t,
            Response::OffsetFetch {
                error_code: 0,
                partitions: [0, 1]
                    .iter()
                    .map(|&p| FetchedOffset {
                        partition: tp("t", p),
                        offset: 7,
                        leader_epoch: -1,
                        metadata: None,
                        error_code: 0,
                    })
                    .collect(),
            },
        );
        r.error_code = 0;
        s.events();
        s
    }

    fn heartbeat(&mut self) -> Transmit {
        self.advance(HEARTBEAT);
        let t = self.tx();
        assert!(matches!(t.request, Request::Heartbeat { .. }), "{t:?}");
        t
    }
}

fn lost(events: &[GroupEvent]) -> Vec<TopicPartition> {
    events
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Lost { partitions, .. } => Some(partitions.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn commit_results(events: &[GroupEvent]) -> Vec<CommitOutcome> {
    events
        .iter()
        .filter_map(|e| match e {
            GroupEvent::CommitResult(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

fn commit_results_of(sim: &Sim, i: usize) -> Vec<CommitOutcome> {
    commit_results(&sim.events(i))
}

fn now_commit(sim: &mut Sim, i: usize, offsets: &[(TopicPartition, i64)], kind: CommitKind) -> CommitId {
    let now = sim.now;
    sim.nodes[i]
        .member
        .commit(
            offsets
                .iter()
                .map(|(p, o)| OffsetToCommit::new(p.clone(), *o))
                .collect(),
            kind,
            now,
        )
        .unwrap()
}

// -------------------------------------------------------------------------------------------------
// Scenarios
// -------------------------------------------------------------------------------------------------

#[test]
fn s01_coordinator_load_in_progress_backs_off_and_retries_same_coordinator() {
    let run = |seed: u64| {
        let mut sim = Sim::new(&[("t", 2)]);
        sim.inject(
            "FindCoordinator",
            FaultAction::Error(codes::COORDINATOR_LOAD_IN_PROGRESS),
            None,
            2,
        );
        sim.inject(
            "JoinGroup",
            FaultAction::Error(codes::COORDINATOR_LOAD_IN_PROGRESS),
            None,
            3,
        );
        sim.inject(
            "OffsetFetch",
            FaultAction::Error(codes::COORDINATOR_LOAD_IN_PROGRESS),
            None,
            2,
        );
        let a = sim.add(config(seed, true, None));
        sim.run_until_stable(secs(10));
        let elapsed = sim.elapsed();
        // FindCoordinator: 2 failures + 1; JoinGroup load errors do not rediscover.
        assert_eq!(sim.count_sent(a, "FindCoordinator"), 3);
        assert_eq!(sim.count_sent(a, "JoinGroup"), 3 + 2);
        // Backoff: 100, 200 (find) + 100, 200, 400 (join), ±20 %.
        assert!(elapsed >= Duration::from_millis(800), "{elapsed:?}");
        sim.run_for(secs(2));
        let fetched = sim
            .events(a)
            .iter()
            .any(|e| matches!(e, GroupEvent::OffsetsFetched { offsets } if offsets.len() == 2));
        assert!(fetched, "OffsetFetch retried after load errors");
        assert!(!sim.events(a).iter().any(|e| matches!(e, GroupEvent::Fatal(_))));
        // Commits: a sync commit retries, an async one reports the retriable error.
        sim.inject(
            "OffsetCommit",
            FaultAction::Error(codes::COORDINATOR_LOAD_IN_PROGRESS),
            None,
            2,
        );
        let deadline = sim.now + secs(10);
        let c1 = now_commit(&mut sim, a, &[(tp("t", 0), 5)], CommitKind::Sync { deadline });
        sim.run_for(secs(2));
        let c2 = now_commit(&mut sim, a, &[(tp("t", 0), 6)], CommitKind::Async);
        sim.run_for(secs(1));
        let results = commit_results_of(&sim, a);
        assert!(results.iter().any(|o| o.id == c1 && o.is_ok()));
        assert!(
            results.iter().any(|o| o.id == c2 && o.is_ok()),
            "fault used up by c1's retries"
        );
        elapsed
    };
    // Jitter is seeded: the same seed gives the same timeline, another seed another one.
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
}

#[test]
fn s01_async_commit_reports_load_in_progress() {
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    sim.inject(
        "OffsetCommit",
        FaultAction::Error(codes::COORDINATOR_LOAD_IN_PROGRESS),
        None,
        1,
    );
    let c = now_commit(&mut sim, a, &[(tp("t", 0), 5)], CommitKind::Async);
    sim.run_for(secs(1));
    let o = commit_results_of(&sim, a)
        .into_iter()
        .find(|o| o.id == c)
        .unwrap();
    assert_eq!(o.failed[0].1, GroupError::CoordinatorLoadInProgress);
    assert!(o.failed[0].1.is_retriable());
    assert_eq!(sim.count_sent(a, "OffsetCommit"), 1);
}

#[test]
fn s02_not_coordinator_rediscovers_and_keeps_membership() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    let b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    let generation = sim.coord.generation;
    let id = sim.nodes[a].member.member_id().to_owned();
    let finds = sim.count_sent(a, "FindCoordinator");
    sim.inject(
        "Heartbeat",
        FaultAction::Error(codes::NOT_COORDINATOR),
        Some(a),
        3,
    );
    sim.inject(
        "OffsetCommit",
        FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
        Some(a),
        1,
    );
    let deadline = sim.now + secs(20);
    let owned = sim.nodes[a].member.assignment()[0].clone();
    let c = now_commit(&mut sim, a, &[(owned, 3)], CommitKind::Sync { deadline });
    sim.run_for(secs(20));
    assert!(sim.stable());
    assert_eq!(sim.coord.generation, generation);
    assert_eq!(sim.nodes[a].member.member_id(), id);
    assert!(sim.count_sent(a, "FindCoordinator") >= finds + 3);
    assert!(lost_events(&sim, a).is_empty());
    assert!(commit_results_of(&sim, a).iter().any(|o| o.id == c && o.is_ok()));
    // On JoinGroup / SyncGroup / OffsetFetch during a rebalance too.
    sim.inject(
        "JoinGroup",
        FaultAction::Error(codes::NOT_COORDINATOR),
        Some(b),
        1,
    );
    sim.inject(
        "SyncGroup",
        FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
        Some(a),
        1,
    );
    sim.inject("OffsetFetch", FaultAction::Error(codes::NOT_COORDINATOR), None, 1);
    let _c = sim.add(config(3, true, None));
    sim.run_until_stable(secs(60));
    assert_eq!(assigned_sizes(&sim), vec![1, 1, 2]);
}

#[test]
fn s03_coordinator_unreachable_past_session_timeout_loses_partitions() {
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    let owned = sim.nodes[a].member.assignment();
    sim.coordinator_down = true;
    // A commit in flight when the coordinator vanished fails (after its timeout) and is not retried
    // past the loss of the membership.
    let c = now_commit(&mut sim, a, &[(owned[0].clone(), 1)], CommitKind::Async);
    sim.run_for(SESSION + secs(1));
    assert_eq!(lost_events(&sim, a), vec![owned]);
    assert!(revoked_events(&sim, a).is_empty());
    assert!(commit_results_of(&sim, a).iter().any(|o| o.id == c && !o.is_ok()));
    assert_eq!(sim.nodes[a].member.member_id(), "");
    sim.coordinator_down = false;
    // The JoinGroup sent into the black hole only times out after the rebalance timeout + margin.
    sim.run_until_stable(MAX_POLL + secs(30));
}

#[test]
fn s04_rebalance_in_progress_on_heartbeat_cooperative_keeps_partitions() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    let b = sim.add(config(2, true, None));
    sim.run_until_stable(secs(60));
    let (before_a, before_b) = (sim.nodes[a].member.assignment(), sim.nodes[b].member.assignment());
    let (ra, rb) = (revoked_events(&sim, a).len(), revoked_events(&sim, b).len());
    let generation = sim.coord.generation;
    sim.inject(
        "Heartbeat",
        FaultAction::Error(codes::REBALANCE_IN_PROGRESS),
        Some(a),
        1,
    );
    sim.run_for(HEARTBEAT + secs(1));
    sim.run_until_stable(secs(30));
    assert!(sim.coord.generation > generation, "a rejoined");
    assert_eq!(sim.nodes[a].member.assignment(), before_a);
    assert_eq!(sim.nodes[b].member.assignment(), before_b);
    assert_eq!(revoked_events(&sim, a).len(), ra, "cooperative: nothing revoked");
    assert_eq!(revoked_events(&sim, b).len(), rb);
    assert!(lost_events(&sim, a).is_empty());
}

#[test]
fn s04_rebalance_in_progress_on_heartbeat_eager_revokes_all() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, false, None));
    let _b = sim.add(config(2, false, None));
    sim.run_until_stable(secs(60));
    let before = sim.nodes[a].member.assignment();
    let ra = revoked_events(&sim, a).len();
    sim.inject(
        "Heartbeat",
        FaultAction::Error(codes::REBALANCE_IN_PROGRESS),
        Some(a),
        1,
    );
    sim.run_for(HEARTBEAT + secs(1));
    sim.run_until_stable(secs(30));
    let revoked = revoked_events(&sim, a);
    assert_eq!(revoked.len(), ra + 1);
    assert_eq!(revoked.last().unwrap(), &before);
}

#[test]
fn s05_commit_rebalance_in_progress_fails_without_retry_and_rejoins() {
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    let joins = sim.count_sent(a, "JoinGroup");
    let generation = sim.coord.generation;
    sim.inject(
        "OffsetCommit",
        FaultAction::Error(codes::REBALANCE_IN_PROGRESS),
        None,
        1,
    );
    let deadline = sim.now + secs(30);
    let c = now_commit(&mut sim, a, &[(tp("t", 0), 9)], CommitKind::Sync { deadline });
    sim.run_for(secs(10));
    let o = commit_results_of(&sim, a)
        .into_iter()
        .find(|o| o.id == c)
        .unwrap();
    assert_eq!(o.failed[0].1, GroupError::RebalanceInProgress);
    assert!(o.failed[0].1.is_retriable());
    assert_eq!(sim.count_sent(a, "OffsetCommit"), 1, "no blind retry");
    assert_eq!(sim.count_sent(a, "JoinGroup"), joins + 1, "rejoins at once");
    sim.run_until_stable(secs(30));
    assert!(sim.coord.generation > generation);
}

#[test]
fn s05_commit_refused_while_joining() {
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    let b = sim.add(config(2, true, None));
    sim.nodes[b].auto_callbacks = true;
    // Step until a's JoinGroup is parked at the coordinator.
    for _ in 0..100 {
        if sim.nodes[a].member.state() == MemberState::Joining {
            break;
        }
        let next = sim.nodes[a].member.poll_timeout().unwrap();
        sim.run_for(next - sim.now);
    }
    assert_eq!(sim.nodes[a].member.state(), MemberState::Joining);
    let now = sim.now;
    let err = sim.nodes[a]
        .member
        .commit(vec![OffsetToCommit::new(tp("t", 0), 1)], CommitKind::Async, now)
        .unwrap_err();
    assert_eq!(err, GroupError::RebalanceInProgress);
    sim.run_until_stable(secs(30));
}

#[test]
fn s06_illegal_generation_on_heartbeat_resets_generation_keeps_member_id() {
    let mut s = Script::stable(true);
    let t = s.heartbeat();
    s.reply(
        &t,
        Response::Heartbeat {
            error_code: codes::ILLEGAL_GENERATION,
        },
    );
    let ev = s.events();
    assert_eq!(
        lost(&ev),
        vec![tp("t", 0), tp("t", 1)],
        "cooperative: lost, not revoked"
    );
    assert_eq!(s.m.generation(), -1);
    assert_eq!(s.m.member_id(), "m-1");
    let t = s.tx();
    let Request::JoinGroup(j) = &t.request else {
        panic!()
    };
    assert_eq!(j.member_id, "m-1");
    s.join_ok(&t, 5);
    let t = s.tx();
    s.sync_ok(&t);
    assert_eq!(s.m.state(), MemberState::Stable);
}

#[test]
fn s06_illegal_generation_after_the_generation_changed_is_ignored() {
    let mut s = Script::stable(true);
    // A commit in flight with generation 1 ...
    let now = s.now;
    let c =
        s.m.commit(vec![OffsetToCommit::new(tp("t", 0), 3)], CommitKind::Async, now)
            .unwrap();
    let commit = s.tx();
    assert!(matches!(&commit.request, Request::OffsetCommit(r) if r.generation_id == 1));
    // ... then a rebalance to generation 2 ...
    let hb = s.heartbeat();
    s.reply(
        &hb,
        Response::Heartbeat {
            error_code: codes::REBALANCE_IN_PROGRESS,
        },
    );
    // (the join waits for the commit in flight)
    assert!(s.m.poll_transmit().is_none());
    // ... the commit's answer arrives late with ILLEGAL_GENERATION during the rebalance.
    s.reply(
        &commit,
        Response::OffsetCommit {
            partitions: vec![(tp("t", 0), codes::ILLEGAL_GENERATION)],
        },
    );
    let ev = s.events();
    assert!(
        lost(&ev).is_empty(),
        "a commit error during a rebalance must not lose the assignment"
    );
    let o = commit_results(&ev).into_iter().find(|o| o.id == c).unwrap();
    assert!(matches!(
        o.failed[0].1,
        GroupError::IllegalGeneration { generation: 1 }
    ));
    let t = s.tx();
    s.join_ok(&t, 2);
    let t = s.tx();
    s.sync_ok(&t);
    assert_eq!(s.m.generation(), 2);
    assert_eq!(s.m.assignment().len(), 2);
    // A heartbeat sent in generation 2 is answered after a (hypothetical) newer join: stale → ignored.
    let hb = s.heartbeat();
    let Request::Heartbeat { generation_id, .. } = hb.request else {
        panic!()
    };
    assert_eq!(generation_id, 2);
    s.m.generation = 3; // simulate "the generation changed meanwhile"
    s.reply(
        &hb,
        Response::Heartbeat {
            error_code: codes::ILLEGAL_GENERATION,
        },
    );
    assert!(lost(&s.events()).is_empty());
    assert_eq!(s.m.generation(), 3);
}

#[test]
fn s06_illegal_generation_on_commit_when_stable_loses_and_rejoins() {
    let mut s = Script::stable(true);
    let now = s.now;
    let c =
        s.m.commit(vec![OffsetToCommit::new(tp("t", 1), 3)], CommitKind::Async, now)
            .unwrap();
    let t = s.tx();
    s.reply(
        &t,
        Response::OffsetCommit {
            partitions: vec![(tp("t", 1), codes::ILLEGAL_GENERATION)],
        },
    );
    let ev = s.events();
    assert_eq!(lost(&ev).len(), 2);
    assert!(commit_results(&ev).iter().any(|o| o.id == c && !o.is_ok()));
    assert_eq!(s.m.state(), MemberState::Joining);
    assert_eq!(s.m.member_id(), "m-1");
}

#[test]
fn s07_unknown_member_id_resets_and_rejoins_fresh() {
    let mut s = Script::stable(false);
    let now = s.now;
    let c =
        s.m.commit(vec![OffsetToCommit::new(tp("t", 0), 3)], CommitKind::Async, now)
            .unwrap();
    let commit = s.tx();
    let hb = s.heartbeat();
    s.reply(
        &hb,
        Response::Heartbeat {
            error_code: codes::UNKNOWN_MEMBER_ID,
        },
    );
    let ev = s.events();
    assert_eq!(lost(&ev).len(), 2, "eager too: lost, not revoked");
    assert!(!ev.iter().any(|e| matches!(e, GroupEvent::Revoked { .. })));
    let o = commit_results(&ev)
        .into_iter()
        .find(|o| o.id == c)
        .expect("pending commit failed");
    assert!(matches!(o.failed[0].1, GroupError::UnknownMemberId { .. }));
    assert_eq!(s.m.member_id(), "");
    assert_eq!(s.m.generation(), -1);
    // The commit's own late answer changes nothing.
    s.reply(
        &commit,
        Response::OffsetCommit {
            partitions: vec![(tp("t", 0), codes::UNKNOWN_MEMBER_ID)],
        },
    );
    assert!(commit_results(&s.events()).is_empty());
    let t = s.tx();
    let Request::JoinGroup(j) = &t.request else {
        panic!("{t:?}")
    };
    assert_eq!(j.member_id, "", "rejoin fresh");
    // In the simulation: the coordinator expires the member id.
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    sim.inject(
        "Heartbeat",
        FaultAction::Error(codes::UNKNOWN_MEMBER_ID),
        Some(a),
        1,
    );
    sim.run_for(HEARTBEAT);
    sim.run_until_stable(secs(10));
    assert_eq!(lost_events(&sim, a).len(), 1);
}

#[test]
fn s08_member_id_required_adopts_the_id_without_backoff() {
    let mut s = Script::new(true);
    let t = s.tx();
    s.reply(
        &t,
        Response::FindCoordinator {
            error_code: 0,
            node_id: 1,
        },
    );
    let t = s.tx();
    s.reply(
        &t,
        Response::JoinGroup(JoinAnswer {
            error_code: codes::MEMBER_ID_REQUIRED,
            generation_id: -1,
            protocol_name: None,
            leader: String::new(),
            member_id: "given".into(),
            members: Vec::new(),
            skip_assignment: false,
        }),
    );
    assert!(s.events().iter().all(|e| !matches!(e, GroupEvent::Fatal(_))));
    let t = s.tx(); // same instant
    let Request::JoinGroup(j) = &t.request else {
        panic!()
    };
    assert_eq!(j.member_id, "given");
    assert_eq!(s.m.member_id(), "given");
}

#[test]
fn s09_fenced_instance_id_is_fatal() {
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, Some("dup")));
    sim.run_until_stable(secs(5));
    // A second process with the same group.instance.id takes over (a misconfiguration: both own the
    // partitions until the old one is fenced, so the ownership invariant cannot hold here).
    sim.check_ownership = false;
    let a2 = sim.add(config(2, true, Some("dup")));
    sim.run_for(secs(10));
    assert_eq!(sim.nodes[a].member.state(), MemberState::Fatal);
    assert!(matches!(
        sim.nodes[a].member.fatal_error(),
        Some(GroupError::FencedInstanceId { .. })
    ));
    assert!(
        sim.events(a)
            .iter()
            .any(|e| matches!(e, GroupEvent::Fatal(e) if e.is_fatal()))
    );
    assert_eq!(lost_events(&sim, a).len(), 1);
    let joins = sim.count_sent(a, "JoinGroup");
    sim.run_for(secs(30));
    assert_eq!(sim.count_sent(a, "JoinGroup"), joins, "no auto-rejoin");
    assert_eq!(sim.nodes[a].member.poll_timeout(), None);
    let now = sim.now;
    assert!(
        sim.nodes[a]
            .member
            .commit(vec![], CommitKind::Async, now)
            .is_err()
    );
    sim.crash(a);
    sim.run_until_stable(secs(5));
    assert_eq!(sim.nodes[a2].member.assignment().len(), 2);
}

#[test]
fn s09_other_fatal_errors() {
    // GROUP_MAX_SIZE_REACHED.
    let mut sim = Sim::new(&[("t", 2)]);
    sim.coord.max_size = Some(1);
    let _a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    let b = sim.add(config(2, true, None));
    sim.run_for(secs(1));
    assert_eq!(
        sim.nodes[b].member.fatal_error(),
        Some(&GroupError::GroupMaxSizeReached)
    );
    // INVALID_SESSION_TIMEOUT, with a message naming the setting.
    let mut sim = Sim::new(&[("t", 2)]);
    sim.coord.min_session = secs(20);
    let a = sim.add(config(1, true, None));
    sim.run_for(secs(1));
    let e = sim.nodes[a].member.fatal_error().unwrap().clone();
    assert_eq!(
        e,
        GroupError::InvalidSessionTimeout {
            session_timeout_ms: 10_000
        }
    );
    assert!(e.to_string().contains("session.timeout.ms=10000"), "{e}");
    assert_eq!(e.code(), Some(26));
    // GROUP_AUTHORIZATION_FAILED.
    let mut sim = Sim::new(&[("t", 2)]);
    sim.inject(
        "FindCoordinator",
        FaultAction::Error(codes::GROUP_AUTHORIZATION_FAILED),
        None,
        1,
    );
    let a = sim.add(config(1, true, None));
    sim.run_for(secs(1));
    assert!(matches!(
        sim.nodes[a].member.fatal_error(),
        Some(GroupError::GroupAuthorizationFailed { .. })
    ));
    assert_eq!(sim.nodes[a].member.state(), MemberState::Fatal);
}

#[test]
fn s12_slow_join_does_not_time_out_or_loop() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, false, None));
    let b = sim.add(config(2, false, None));
    sim.run_until_stable(secs(60));
    // b's revocation callback takes 40 s (longer than request.timeout.ms): a's JoinGroup waits at the
    // coordinator all that time.
    sim.nodes[b].auto_callbacks = false;
    let joins_a = sim.count_sent(a, "JoinGroup");
    let _c = sim.add(config(3, false, None));
    sim.run_for(secs(40));
    assert_eq!(
        sim.count_sent(a, "JoinGroup"),
        joins_a + 1,
        "one JoinGroup, no timeout loop"
    );
    assert_eq!(sim.nodes[b].member.state(), MemberState::Revoking);
    let now = sim.now;
    sim.nodes[b].member.revocation_done(now);
    sim.nodes[b].auto_callbacks = true;
    sim.run_until_stable(secs(30));
    assert_eq!(assigned_sizes(&sim), vec![1, 1, 2]);
}

#[test]
fn s14_revoked_partitions_stay_owned_until_the_callback_returns() {
    let mut sim = Sim::new(&[("t", 4)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    sim.nodes[a].auto_callbacks = false;
    let now = sim.now;
    sim.nodes[a].member.assignment_done(now);
    let b = sim.add(config(2, true, None));
    for _ in 0..50 {
        if sim.nodes[a].member.state() == MemberState::Revoking {
            break;
        }
        sim.run_for(Duration::from_millis(500));
    }
    assert_eq!(sim.nodes[a].member.state(), MemberState::Revoking);
    let revoked = revoked_events(&sim, a).pop().unwrap();
    assert_eq!(revoked.len(), 2);
    // Still owned (and committable) in the callback; b does not have them yet.
    assert_eq!(sim.nodes[a].member.assignment().len(), 4);
    let c = now_commit(&mut sim, a, &[(revoked[0].clone(), 11)], CommitKind::Async);
    sim.run_for(secs(5));
    assert!(commit_results_of(&sim, a).iter().any(|o| o.id == c && o.is_ok()));
    assert!(sim.nodes[b].member.assignment().is_empty());
    let now = sim.now;
    sim.nodes[a].member.revocation_done(now);
    sim.nodes[a].member.assignment_done(now);
    sim.nodes[a].auto_callbacks = true;
    assert_eq!(sim.nodes[a].member.assignment().len(), 2);
    sim.run_until_stable(secs(30));
    assert_eq!(sim.nodes[b].member.assignment(), revoked);
    assert_eq!(sim.coord.offsets.get(&revoked[0]), Some(&11));
}

#[test]
fn s15_failing_commit_in_the_revocation_callback_does_not_hang_the_rebalance() {
    for action in [
        FaultAction::Error(codes::REBALANCE_IN_PROGRESS),
        FaultAction::Error(codes::ILLEGAL_GENERATION),
        FaultAction::Error(codes::UNKNOWN_MEMBER_ID),
        FaultAction::DropRequest,
    ] {
        let mut sim = Sim::new(&[("t", 4)]);
        let a = sim.add(config(1, false, None));
        sim.run_until_stable(secs(5));
        sim.nodes[a].commit_on_revoke = true;
        sim.inject("OffsetCommit", action, Some(a), 1);
        let _b = sim.add(config(2, false, None));
        sim.run_until_stable(secs(60));
        assert!(
            commit_results_of(&sim, a).iter().any(|o| !o.is_ok()),
            "{action:?}"
        );
        assert_eq!(assigned_sizes(&sim), vec![2, 2], "{action:?}");
    }
}

#[test]
fn s16_lost_commit_response_is_retried_in_order() {
    let mut sim = Sim::new(&[("t", 2)]);
    let a = sim.add(config(1, true, None));
    sim.run_until_stable(secs(5));
    sim.inject("OffsetCommit", FaultAction::DropResponse, None, 1);
    let deadline = sim.now + secs(30);
    let c1 = now_commit(&mut sim, a, &[(tp("t", 0), 10)], CommitKind::Sync { deadline });
    let c2 = now_commit(&mut sim, a, &[(tp("t", 0), 20)], CommitKind::Async);
    sim.run_for(secs(15));
    let sent: Vec<i64> = sim.nodes[a]
        .sent
        .iter()
        .filter_map(|(_, r)| match r {
            Request::OffsetCommit(c) => Some(c.offsets[0].offset),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![10, 10, 20],
        "the older commit never goes after the newer one"
    );
    let results = commit_results_of(&sim, a);
    assert!(results.iter().any(|o| o.id == c1 && o.is_ok()));
    assert!(results.iter().any(|o| o.id == c2 && o.is_ok()));
    assert_eq!(sim.coord.offsets.get(&tp("t", 0)), Some(&20));
    // An async commit whose response is lost reports a retriable failure and is not retried.
    sim.inject("OffsetCommit", FaultAction::DropResponse, None, 1);
    let c3 = now_commit(&mut sim, a, &[(tp("t", 1), 30)], CommitKind::Async);
    sim.run_for(secs(10));
    let o = commit_results_of(&sim, a)
        .into_iter()
        .find(|o| o.id == c3)
        .unwrap();
    assert_eq!(o.failed[0].1, GroupError::Transport(TransportFailure::TimedOut));
    assert!(o.failed[0].1.is_retriable());
    // A sync commit that cannot succeed before its deadline fails with CommitTimedOut.
    sim.inject("OffsetCommit", FaultAction::DropRequest, None, 100);
    let deadline = sim.now + secs(8);
    let c4 = now_commit(&mut sim, a, &[(tp("t", 1), 40)], CommitKind::Sync { deadline });
    sim.run_for(secs(20));
    let o = commit_results_of(&sim, a)
        .into_iter()
        .find(|o| o.id == c4)
        .unwrap();
    assert!(matches!(o.failed[0].1, GroupError::CommitTimedOut { .. }));
}

#[test]
fn s17_offset_fetch_retries_unstable_and_missing_partitions() {
    let mut s = Script::new(true);
    let t = s.tx();
    s.reply(
        &t,
        Response::FindCoordinator {
            error_code: 0,
            node_id: 1,
        },
    );
    let t = s.tx();
    s.reply(
        &t,
        Response::JoinGroup(JoinAnswer {
            error_code: codes::MEMBER_ID_REQUIRED,
            generation_id: -1,
            protocol_name: None,
            leader: String::new(),
            member_id: "m".into(),
            members: Vec::new(),
            skip_assignment: false,
        }),
    );
    let t = s.tx();
    s.join_ok(&t, 1);
    let t = s.tx();
    s.sync_ok(&t);
    s.events();
    let fetched = |p: i32, offset: i64, error_code: i16| FetchedOffset {
        partition: tp("t", p),
        offset,
        leader_epoch: 3,
        metadata: Some("m".into()),
        error_code,
    };
    // 1st answer: t-0 unstable, t-1 missing entirely.
    let t = s.tx();
    let Request::OffsetFetch {
        partitions,
        require_stable,
        ..
    } = &t.request
    else {
        panic!()
    };
    assert_eq!(partitions.len(), 2);
    assert!(require_stable);
    s.reply(
        &t,
        Response::OffsetFetch {
            error_code: 0,
            partitions: vec![fetched(0, -1, codes::UNSTABLE_OFFSET_COMMIT)],
        },
    );
    assert!(
        s.events().is_empty(),
        "neither partition is reported as 'no committed offset'"
    );
    // Retried after a backoff.
    s.advance(Duration::from_secs(1));
    let t = loop {
        let t = s.tx();
        if matches!(t.request, Request::OffsetFetch { .. }) {
            break t;
        }
        s.reply(&t, Response::Heartbeat { error_code: 0 });
    };
    s.reply(
        &t,
        Response::OffsetFetch {
            error_code: 0,
            partitions: vec![fetched(0, 5, 0)],
        },
    );
    let ev = s.events();
    assert_eq!(
        ev,
        vec![GroupEvent::OffsetsFetched {
            offsets: vec![CommittedOffset {
                partition: tp("t", 0),
                offset: Some(5),
                leader_epoch: Some(3),
                metadata: Some("m".into())
            }]
        }]
    );
    s.advance(Duration::from_secs(1));
    let t = loop {
        let t = s.tx();
        if matches!(t.request, Request::OffsetFetch { .. }) {
            break t;
        }
        s.reply(&t, Response::Heartbeat { error_code: 0 });
    };
    let Request::OffsetFetch { partitions, .. } = &t.request else {
        panic!()
    };
    assert_eq!(partitions, &vec![tp("t", 1)]);
    s.reply(
        &t,
        Response::OffsetFetch {
            error_code: 0,
            partitions: vec![fetched(1, -1, 0)],
        },
    );
    let ev = s.events();
    assert!(matches!(&ev[..], [GroupEvent::OffsetsFetched { offsets }] if offsets[0].offset.is_none()));
    // Group-level UNSTABLE_OFFSET_COMMIT in the simulation is retried too.
    let mut sim = Sim::new(&[("t", 2)]);
    sim.inject(
        "OffsetFetch",
        FaultAction::Error(codes::UNSTABLE_OFFSET_COMMIT),
        None,
        2,
    );
    let a = sim.add(config(1, true, None));
    sim.run_for(secs(2));
    assert!(
        sim.events(a)
            .iter()
            .any(|e| matches!(e, GroupEvent::OffsetsFetched { offsets } if offsets.len() == 2))
    );
}

#[test]
fn queued_commit_drops_partitions_revoked_before_it_is_sent() {
    let mut s = Script::stable(true);
    // Rebalance: the new assignment keeps t-0 only.
    let hb = s.heartbeat();
    s.reply(
        &hb,
        Response::Heartbeat {
            error_code: codes::REBALANCE_IN_PROGRESS,
        },
    );
    let t = s.tx();
    s.join_ok(&t, 2);
    let t = s.tx();
    let Request::SyncGroup(sync) = &t.request else {
        panic!()
    };
    let name = sync.protocol_name.clone();
    s.reply(
        &t,
        Response::SyncGroup {
            error_code: 0,
            protocol_name: Some(name),
            assignment: Assignment::new(vec![tp("t", 0)]).encode().unwrap(),
        },
    );
    let now = s.now;
    s.m.assignment_done(now);
    let ev = s.events();
    assert!(ev.contains(&GroupEvent::Revoked {
        partitions: vec![tp("t", 1)]
    }));
    // In the revocation callback: one commit in flight, a second queued behind it.
    let c1 =
        s.m.commit(vec![OffsetToCommit::new(tp("t", 0), 1)], CommitKind::Async, now)
            .unwrap();
    let t1 = s.tx();
    let c2 =
        s.m.commit(
            vec![
                OffsetToCommit::new(tp("t", 0), 2),
                OffsetToCommit::new(tp("t", 1), 2),
            ],
            CommitKind::Async,
            now,
        )
        .unwrap();
    s.m.revocation_done(now);
    s.reply(
        &t1,
        Response::OffsetCommit {
            partitions: vec![(tp("t", 0), 0)],
        },
    );
    let t2 = s.tx();
    let Request::OffsetCommit(r) = &t2.request else {
        panic!("{t2:?}")
    };
    assert_eq!(r.offsets.len(), 1, "t-1 is no longer owned: dropped");
    s.reply(
        &t2,
        Response::OffsetCommit {
            partitions: vec![(tp("t", 0), 0)],
        },
    );
    let results = commit_results(&s.events());
    assert_eq!(
        results.iter().filter(|o| o.id == c2).count(),
        1,
        "one result per commit"
    );
    let o2 = results.iter().find(|o| o.id == c2).unwrap();
    assert_eq!(o2.committed, vec![tp("t", 0)]);
    assert!(matches!(&o2.failed[..], [(p, GroupError::NotOwned { .. })] if *p == tp("t", 1)));
    assert!(results.iter().any(|o| o.id == c1 && o.is_ok()));
}

#[test]
fn join_pending_past_session_timeout_drops_cooperative_partitions_as_lost() {
    let mut s = Script::stable(true);
    let hb = s.heartbeat();
    s.reply(
        &hb,
        Response::Heartbeat {
            error_code: codes::REBALANCE_IN_PROGRESS,
        },
    );
    let join = s.tx();
    assert!(matches!(join.request, Request::JoinGroup(_)));
    assert_eq!(
        s.m.assignment().len(),
        2,
        "cooperative: kept during the rebalance"
    );
    // The JoinGroup may never have reached the coordinator: after the session timeout the partitions
    // may belong to someone else.
    s.advance(SESSION);
    assert_eq!(lost(&s.events()), vec![tp("t", 0), tp("t", 1)]);
    assert!(s.m.assignment().is_empty());
    // The join goes on; the leader hands the partitions back (we claimed them).
    s.join_ok(&join, 2);
    let t = s.tx();
    s.sync_ok(&t);
    let ev = s.events();
    assert!(ev.contains(&GroupEvent::Assigned {
        generation: 2,
        partitions: vec![tp("t", 0), tp("t", 1)]
    }));
}

#[test]
fn leader_rejoins_when_the_golden_rule_withholds_unclaimed_partitions() {
    use crate::protocol::Subscription;
    let mut s = Script::stable(true);
    let now = s.now;
    s.m.metadata_changed(&[("t".to_owned(), 3)].into_iter().collect(), now);
    let join = s.tx();
    let Request::JoinGroup(j) = &join.request else {
        panic!("{join:?}")
    };
    // Two (phantom) members claim t-2 at the same generation: it is conflicted and withheld from
    // everyone, and no member will revoke it.
    let phantom = Subscription {
        topics: vec!["w".into()],
        owned_partitions: vec![tp("t", 2)],
        generation_id: 1,
        ..Subscription::default()
    }
    .encode()
    .unwrap();
    let mut members = vec![JoinedMember {
        member_id: j.member_id.clone(),
        group_instance_id: None,
        metadata: j.protocols[0].1.clone(),
    }];
    for id in ["x", "y"] {
        members.push(JoinedMember {
            member_id: id.into(),
            group_instance_id: None,
            metadata: phantom.clone(),
        });
    }
    s.reply(
        &join,
        Response::JoinGroup(JoinAnswer {
            error_code: 0,
            generation_id: 2,
            protocol_name: Some(j.protocols[0].0.clone()),
            leader: j.member_id.clone(),
            member_id: j.member_id.clone(),
            members,
            skip_assignment: false,
        }),
    );
    let t = s.tx();
    let Request::SyncGroup(sync) = &t.request else {
        panic!()
    };
    let mine = &sync
        .assignments
        .iter()
        .find(|(m, _)| *m == j.member_id)
        .unwrap()
        .1;
    assert_eq!(
        Assignment::decode(mine.clone()).unwrap().partitions,
        vec![tp("t", 0), tp("t", 1)]
    );
    s.sync_ok(&t);
    let ev = s.events();
    assert!(!ev.iter().any(|e| matches!(e, GroupEvent::Revoked { .. })));
    assert_eq!(s.m.state(), MemberState::Joining, "follow-up rebalance for t-2");
}
