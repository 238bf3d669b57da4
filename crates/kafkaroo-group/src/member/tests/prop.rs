//! Property test: random sequences of joins, leaves, crashes, static restarts, injected coordinator
//! errors, lost requests and responses, unreachable members, stalled applications, coordinator moves,
//! partition-count changes and commits.
//!
//! Checked throughout by the simulation (`Sim::check_invariants` and `Sim::route`):
//! - invariant 7: live members' assignments are disjoint at every step, and each generation's
//!   assignment at the coordinator gives each partition to at most one member;
//! - invariants 8/9: every OffsetCommit covers only partitions the member owns, carries its current
//!   generation and member id, and an accepted commit comes from the current generation while no other
//!   member owns the partition.
//!
//! Checked at the end (invariant 13): once the faults heal, the group reaches Stable with every
//! partition assigned exactly once.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Add,
    Close(usize),
    Crash(usize),
    /// Crash and restart (same `group.instance.id` when static).
    Restart(usize),
    Fault {
        api: usize,
        action: usize,
        node: usize,
    },
    CutOff(usize),
    Heal(usize),
    Stall(usize),
    MoveCoordinator,
    Commit {
        node: usize,
        sync: bool,
    },
    Partitions(i32),
    Run(u64),
}

const APIS: [&str; 6] = [
    "FindCoordinator",
    "JoinGroup",
    "SyncGroup",
    "Heartbeat",
    "OffsetCommit",
    "OffsetFetch",
];

const ACTIONS: [FaultAction; 9] = [
    FaultAction::Error(codes::COORDINATOR_LOAD_IN_PROGRESS),
    FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE),
    FaultAction::Error(codes::NOT_COORDINATOR),
    FaultAction::Error(codes::REBALANCE_IN_PROGRESS),
    FaultAction::Error(codes::ILLEGAL_GENERATION),
    FaultAction::Error(codes::UNKNOWN_MEMBER_ID),
    FaultAction::Error(codes::UNSTABLE_OFFSET_COMMIT),
    FaultAction::DropRequest,
    FaultAction::DropResponse,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Add),
        1 => any::<usize>().prop_map(Op::Close),
        1 => any::<usize>().prop_map(Op::Crash),
        1 => any::<usize>().prop_map(Op::Restart),
        4 => (0..APIS.len(), 0..ACTIONS.len(), any::<usize>())
            .prop_map(|(api, action, node)| Op::Fault { api, action, node }),
        1 => any::<usize>().prop_map(Op::CutOff),
        1 => any::<usize>().prop_map(Op::Heal),
        1 => any::<usize>().prop_map(Op::Stall),
        1 => Just(Op::MoveCoordinator),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(node, sync)| Op::Commit { node, sync }),
        1 => (1..8i32).prop_map(Op::Partitions),
        4 => (1..20_000u64).prop_map(Op::Run),
    ]
}

struct World {
    sim: Sim,
    cooperative: bool,
    static_members: bool,
    next_seed: u64,
}

impl World {
    fn live(&self) -> Vec<usize> {
        (0..self.sim.nodes.len())
            .filter(|&i| self.sim.nodes[i].alive)
            .collect()
    }

    fn pick(&self, n: usize) -> Option<usize> {
        let live = self.live();
        (!live.is_empty()).then(|| live[n % live.len()])
    }

    fn add(&mut self, instance: Option<String>) {
        if self.live().len() >= 5 {
            return;
        }
        self.next_seed += 1;
        let instance = instance.or_else(|| self.static_members.then(|| format!("i-{}", self.next_seed)));
        let c = config(self.next_seed, self.cooperative, instance.as_deref());
        self.sim.add(c);
    }

    fn apply(&mut self, op: &Op) {
        let now = self.sim.now;
        match *op {
            Op::Add => self.add(None),
            Op::Close(n) => {
                if let Some(i) = self.pick(n) {
                    self.sim.nodes[i].member.close(CloseMode::Default, now);
                    self.sim.run_for(Duration::from_secs(1));
                    // The process exits whether or not LeaveGroup got through.
                    self.sim.crash(i);
                }
            }
            Op::Crash(n) => {
                if let Some(i) = self.pick(n) {
                    self.sim.crash(i);
                }
            }
            Op::Restart(n) => {
                if let Some(i) = self.pick(n) {
                    let instance = self.sim.nodes[i].member.config.group_instance_id.clone();
                    self.sim.crash(i);
                    self.add(instance);
                }
            }
            Op::Fault { api, action, node } => {
                let node = self.pick(node);
                let action = ACTIONS[action];
                let api = APIS[api];
                // FindCoordinator only fails with coordinator errors or drops.
                let action = match (api, action) {
                    ("FindCoordinator", FaultAction::Error(c))
                        if c != codes::COORDINATOR_LOAD_IN_PROGRESS =>
                    {
                        FaultAction::Error(codes::COORDINATOR_NOT_AVAILABLE)
                    }
                    // UNSTABLE_OFFSET_COMMIT only exists for OffsetFetch.
                    (api, FaultAction::Error(codes::UNSTABLE_OFFSET_COMMIT)) if api != "OffsetFetch" => {
                        FaultAction::Error(codes::REBALANCE_IN_PROGRESS)
                    }
                    (_, a) => a,
                };
                self.sim.inject(api, action, node, 1);
            }
            Op::CutOff(n) => {
                if let Some(i) = self.pick(n) {
                    self.sim.nodes[i].cut_off = true;
                }
            }
            Op::Heal(n) => {
                if let Some(i) = self.pick(n) {
                    self.sim.nodes[i].cut_off = false;
                    self.sim.nodes[i].polling = true;
                }
            }
            Op::Stall(n) => {
                if let Some(i) = self.pick(n) {
                    self.sim.nodes[i].polling = false;
                }
            }
            Op::MoveCoordinator => self.sim.move_coordinator(),
            Op::Commit { node, sync } => {
                if let Some(i) = self.pick(node) {
                    let m = &mut self.sim.nodes[i].member;
                    let offsets: Vec<OffsetToCommit> = m
                        .assignment()
                        .into_iter()
                        .map(|p| OffsetToCommit::new(p, 1))
                        .collect();
                    let kind = if sync {
                        CommitKind::Sync {
                            deadline: now + Duration::from_secs(20),
                        }
                    } else {
                        CommitKind::Async
                    };
                    // Refusals (rebalance in progress, not a member) are fine.
                    let _ = m.commit(offsets, kind, now);
                }
            }
            // KIP-814 limitation (shared with Java): a static leader restarting with skip_assignment
            // cannot tell whether partition counts changed while it was down, so count changes are
            // only generated for dynamic groups.
            Op::Partitions(_) if self.static_members => {}
            Op::Partitions(n) => {
                let current = self.sim.topics.get("t").copied().unwrap_or(0);
                self.sim.set_partitions("t", current.max(n));
            }
            Op::Run(ms) => self.sim.run_for(Duration::from_millis(ms)),
        }
        self.sim.run_for(Duration::from_millis(200));
    }

    fn heal(&mut self) {
        self.sim.coord.faults.clear();
        self.sim.coordinator_down = false;
        for n in &mut self.sim.nodes {
            n.cut_off = false;
            n.polling = true;
        }
        if self.live().is_empty() {
            self.add(None);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_faults_keep_invariants_and_heal(
        cooperative in any::<bool>(),
        static_members in any::<bool>(),
        initial in 1usize..4,
        ops in proptest::collection::vec(op(), 1..25),
    ) {
        let mut w = World {
            sim: Sim::new(&[("t", 3), ("u", 2)]),
            cooperative,
            static_members,
            next_seed: 0,
        };
        for _ in 0..initial {
            w.add(None);
        }
        w.sim.run_for(Duration::from_secs(1));
        for op in &ops {
            w.apply(op);
        }
        w.heal();
        // Invariant 13: bounded convergence (black-holed JoinGroups time out after the rebalance
        // timeout + margin; sessions expire; stalled members rejoin).
        w.sim.run_until_stable(Duration::from_secs(600));
        for i in w.live() {
            prop_assert!(w.sim.nodes[i].member.fatal_error().is_none());
        }
    }
}
