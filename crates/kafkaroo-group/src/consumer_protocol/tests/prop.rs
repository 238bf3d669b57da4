//! Property test: whatever the coordinator answers and whenever the application acknowledges, the
//! member never adds a partition while a revocation waits for the application or while it owns a
//! partition the latest assignment no longer lists; what it owns is what its events said; its
//! heartbeats report exactly that and carry the coordinator's latest epoch.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    /// Answer the heartbeat in flight with success: epoch + `bump`, and this assignment (bit i of the
    /// mask: partition i % 4 of topic 1 + i / 4) or none.
    Ok {
        bump: i32,
        assignment: Option<u16>,
    },
    /// Answer the heartbeat in flight with this error code.
    Error(i16),
    /// The heartbeat in flight gets no answer.
    Lost,
    RevocationDone,
    /// The metadata learns (or forgets) topic 3.
    ToggleTopic3,
    Advance(u64),
    Poll,
    Subscribe(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3i32, proptest::option::weighted(0.8, any::<u16>()))
            .prop_map(|(bump, assignment)| Op::Ok { bump, assignment: assignment.map(|m| m & 0x0fff) }),
        1 => proptest::sample::select(vec![
            codes::FENCED_MEMBER_EPOCH,
            codes::UNKNOWN_MEMBER_ID,
            codes::COORDINATOR_LOAD_IN_PROGRESS,
            codes::NOT_COORDINATOR,
        ])
        .prop_map(Op::Error),
        1 => Just(Op::Lost),
        4 => Just(Op::RevocationDone),
        1 => Just(Op::ToggleTopic3),
        2 => (1..8_000u64).prop_map(Op::Advance),
        1 => Just(Op::Poll),
        1 => any::<bool>().prop_map(Op::Subscribe),
    ]
}

/// What the application knows from the events.
#[derive(Default)]
struct App {
    owned: BTreeSet<TopicPartition>,
    revoking: Option<Vec<TopicPartition>>,
}

struct Run {
    m: ConsumerGroupMember,
    now: Instant,
    topics: BTreeMap<Uuid, String>,
    app: App,
    in_flight: Option<(RequestId, i32)>,
    /// The epoch of the last successful answer (0 after fencing).
    epoch: i32,
    /// The latest assignment the coordinator sent since the last (re)join, by name where known.
    target: Option<BTreeSet<(Uuid, i32)>>,
}

fn all_names() -> BTreeMap<Uuid, String> {
    let mut n = names();
    n.insert(tid(3), "c".into());
    n
}

impl Run {
    fn pump(&mut self) -> Result<(), TestCaseError> {
        // Events first: a heartbeat reports what the events have handed to the application.
        while let Some(e) = self.m.poll_event() {
            self.apply(e)?;
        }
        while let Some(t) = self.m.poll_transmit() {
            match t.request {
                Request::FindCoordinator { .. } => {
                    let r = Response::FindCoordinator {
                        error_code: 0,
                        node_id: 1,
                    };
                    self.m.handle_response(self.now, t.id, r, &self.topics);
                }
                Request::Heartbeat(hb) => {
                    if hb.member_epoch < 0 {
                        // The leave after max.poll.interval.ms.
                        let r = Response::Heartbeat(HeartbeatResponse {
                            error_code: 0,
                            error_message: None,
                            member_id: None,
                            member_epoch: hb.member_epoch,
                            heartbeat_interval_ms: 0,
                            assignment: None,
                        });
                        self.m.handle_response(self.now, t.id, r, &self.topics);
                        continue;
                    }
                    prop_assert_eq!(hb.member_epoch, self.epoch, "heartbeats carry the latest epoch");
                    if hb.member_epoch == JOIN_EPOCH {
                        prop_assert_eq!(&hb.topic_partitions, &Some(vec![]), "a join owns nothing");
                        prop_assert!(hb.subscribed_topic_names.is_some() && hb.rebalance_timeout_ms > 0);
                        self.target = None;
                    }
                    if let Some(reported) = &hb.topic_partitions {
                        let by_id: BTreeSet<(Uuid, i32)> = reported
                            .iter()
                            .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
                            .collect();
                        let names = all_names();
                        let by_name: BTreeSet<TopicPartition> = by_id
                            .iter()
                            .map(|(i, p)| TopicPartition::new(names[i].clone(), *p))
                            .collect();
                        prop_assert_eq!(&by_name, &self.app.owned, "the heartbeat reports what is owned");
                    }
                    self.in_flight = Some((t.id, hb.member_epoch));
                }
            }
            while let Some(e) = self.m.poll_event() {
                self.apply(e)?;
            }
        }
        while let Some(e) = self.m.poll_event() {
            self.apply(e)?;
        }
        prop_assert_eq!(
            self.m.assignment(),
            self.app.owned.iter().cloned().collect::<Vec<_>>()
        );
        Ok(())
    }

    fn apply(&mut self, e: GroupEvent) -> Result<(), TestCaseError> {
        match e {
            GroupEvent::Revoked { partitions } => {
                prop_assert!(self.app.revoking.is_none(), "one revocation at a time");
                prop_assert!(partitions.iter().all(|p| self.app.owned.contains(p)));
                self.app.revoking = Some(partitions);
            }
            GroupEvent::Assigned {
                partitions,
                generation,
            } => {
                prop_assert!(
                    self.app.revoking.is_none(),
                    "assigned {partitions:?} before the revocation was acknowledged"
                );
                prop_assert_eq!(generation, self.epoch);
                let names = all_names();
                let target: BTreeSet<TopicPartition> = self
                    .target
                    .iter()
                    .flatten()
                    .map(|(i, p)| TopicPartition::new(names[i].clone(), *p))
                    .collect();
                prop_assert!(
                    self.app.owned.iter().all(|p| target.contains(p)),
                    "assigned while owning {:?} outside the assignment {target:?}",
                    self.app.owned
                );
                for p in partitions {
                    prop_assert!(target.contains(&p), "{p} is not in the assignment");
                    prop_assert!(self.app.owned.insert(p));
                }
            }
            GroupEvent::Lost { partitions, .. } => {
                prop_assert_eq!(partitions, self.app.owned.iter().cloned().collect::<Vec<_>>());
                self.app = App::default();
            }
            GroupEvent::Closed | GroupEvent::Fatal(_) => self.app = App::default(),
            _ => {}
        }
        Ok(())
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Ok { bump, assignment } => {
                let Some((id, sent_epoch)) = self.in_flight.take() else {
                    return Ok(());
                };
                let epoch = sent_epoch.max(1) + bump;
                let assignment = assignment.map(|mask| {
                    let set: BTreeSet<(Uuid, i32)> = (0..12)
                        .filter(|i| mask & (1 << i) != 0)
                        .map(|i| (id_of(i / 4), (i % 4) as i32))
                        .collect();
                    self.target = Some(set.clone());
                    let mut by_topic: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
                    for (t, p) in set {
                        by_topic.entry(t).or_default().push(p);
                    }
                    by_topic
                        .into_iter()
                        .map(|(topic_id, partitions)| TopicIdPartitions { topic_id, partitions })
                        .collect()
                });
                self.epoch = epoch;
                let r = Response::Heartbeat(HeartbeatResponse {
                    error_code: 0,
                    error_message: None,
                    member_id: None,
                    member_epoch: epoch,
                    heartbeat_interval_ms: 3000,
                    assignment,
                });
                self.m.handle_response(self.now, id, r, &self.topics);
            }
            Op::Error(code) => {
                if let Some((id, _)) = self.in_flight.take() {
                    if matches!(code, codes::FENCED_MEMBER_EPOCH | codes::UNKNOWN_MEMBER_ID) {
                        self.epoch = JOIN_EPOCH;
                        self.target = None;
                    }
                    let r = Response::Heartbeat(HeartbeatResponse {
                        error_code: code,
                        error_message: None,
                        member_id: None,
                        member_epoch: -1,
                        heartbeat_interval_ms: 0,
                        assignment: None,
                    });
                    self.m.handle_response(self.now, id, r, &self.topics);
                }
            }
            Op::Lost => {
                if let Some((id, _)) = self.in_flight.take() {
                    let r = Response::Failed(TransportFailure::Disconnected);
                    self.m.handle_response(self.now, id, r, &self.topics);
                }
            }
            Op::RevocationDone => {
                if let Some(revoked) = self.app.revoking.take() {
                    for p in &revoked {
                        self.app.owned.remove(p);
                    }
                    self.m.revocation_done(self.now, &self.topics);
                }
            }
            Op::ToggleTopic3 => {
                if self.topics.remove(&tid(3)).is_none() {
                    self.topics.insert(tid(3), "c".into());
                }
                self.m.topics_updated(self.now, &self.topics);
            }
            Op::Advance(ms) => {
                self.now += Duration::from_millis(ms);
                self.m.handle_timeout(self.now);
                if matches!(self.m.state(), MemberState::Leaving | MemberState::Lost) {
                    // Left after max.poll.interval.ms: the heartbeat in flight is abandoned.
                    self.in_flight = None;
                }
            }
            Op::Poll => {
                let stale = matches!(self.m.state(), MemberState::Leaving | MemberState::Lost);
                self.m.poll_called(self.now);
                if stale {
                    self.epoch = JOIN_EPOCH;
                    self.target = None;
                }
            }
            Op::Subscribe(more) => {
                let topics: &[&str] = if more { &["a", "b", "c"] } else { &["a", "b"] };
                self.m.subscribe(topics.iter().copied(), self.now).unwrap();
            }
        }
        self.pump()
    }
}

fn id_of(topic: u16) -> Uuid {
    tid(u128::from(topic) + 1)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn reconciliation_revokes_before_it_assigns(ops in proptest::collection::vec(op(), 1..80)) {
        let now = Instant::now();
        let mut config = config();
        config.max_poll_interval = Duration::from_secs(60);
        let mut run = Run {
            m: ConsumerGroupMember::new(config, now).unwrap(),
            now,
            topics: names(),
            app: App::default(),
            in_flight: None,
            epoch: JOIN_EPOCH,
            target: None,
        };
        run.m.subscribe(["a", "b"], now).unwrap();
        run.pump()?;
        for op in ops {
            run.step(op)?;
        }
    }
}
