//! `sticky` and `cooperative-sticky`: balanced assignments that keep as much of the previous ownership as
//! balance allows.
//!
//! # Goal
//!
//! 1. **Balance first.** No partition can be moved along any chain of members so that a member with `L`
//!    partitions gives one up and a member with at most `L - 2` gains one. Such an assignment minimises
//!    every symmetric convex measure of imbalance at once (max load, max − min, sum of squares): with
//!    identical subscriptions every member has ⌊P/M⌋ or ⌈P/M⌉ partitions; with different subscriptions it is
//!    as even as the subscriptions allow.
//! 2. **Then stickiness.** Among balanced assignments, move few previously owned partitions.
//!
//! # Algorithm (pure, deterministic)
//!
//! Previous ownership comes from [`resolve_ownership`]: the highest-generation claim wins, stale and
//! conflicted claims are dropped, and a partition counts as owned only if its owner still subscribes to
//! its topic.
//!
//! - **Identical subscriptions** (the common case): quotas ⌊P/M⌋ / ⌈P/M⌉; the `P mod M` members owning the
//!   most partitions get the larger quota; each member keeps its owned partitions up to its quota; the rest
//!   are dealt to members under quota. This moves exactly the minimum possible number of partitions.
//! - **Different subscriptions:** keep every owned partition; give each unowned partition (fewest eligible
//!   members first) to its least-loaded eligible member; then repeatedly find the cheapest improving chain
//!   (0-1 BFS over members, where passing on a partition its holder did not own before costs 0 and one it
//!   did own costs 1) and shift one partition along it, until none exists. Finally, swap partitions back to
//!   their previous owners where that does not change the load profile.
//!
//! `cooperative-sticky` then applies [`withhold_transfers`] (the KIP-429 golden rule).
//!
//! # Racks (KIP-881)
//!
//! When racks can make a difference ([`rack`](super::rack)), a member with a rack keeps a previously owned
//! partition only if its rack holds one of the partition's replicas (as in Java, a mismatched partition
//! may move to improve locality), and partitions go preferably to members in a rack holding a replica —
//! balance first, then rack locality, then stickiness of mismatched partitions ([`racks`]):
//!
//! - Identical subscriptions: after the kept partitions, the unassigned partitions are matched to members
//!   in their racks as many as the quotas allow (a maximum flow), the rest go back to a previous owner with
//!   room, then are dealt.
//! - Different subscriptions: a new partition goes to a least-loaded member in its rack when there is one;
//!   chains pass on partitions that match the receiver first.
//! - Both: finally, every partition not kept by its previous owner is reassigned, with every member's
//!   partition count unchanged, to maximise rack-local partitions and then keep mismatched partitions with
//!   their previous owner (a minimum-cost flow).
//!
//! Cost: the identical-subscription path is O(P log P). The general path does one BFS over the member
//! graph per shift, O(M·T·M) each for M members and T topics, which is fine for groups of hundreds
//! (release build: 100 members, 30 topics, 900 partitions, random subscriptions in ~35 ms; see
//! `tests/scale.rs`).
//!
//! Compared with Java's assignors on the same random groups (`tests/java_compare.rs`), the result is never
//! less balanced and, at equal balance, never moves more partitions. With racks: never less balanced; at
//! equal balance it moves fewer partitions or, moving as many, has at least as many rack-local ones (over
//! 300 groups where racks matter about a third of the time: 1416 rack-local partitions vs Java's 1387 for
//! `sticky`). Java sometimes moves a rack-matching partition for locality; we never do. With racks,
//! `cooperative-sticky` may need a third rebalance (1 group in 300; Java: 27), because the locality step
//! can reach a different optimum once withheld partitions are unowned.
//!
//! Cost with racks: the flows connect partitions to groups of members with the same rack and
//! subscriptions, so they grow with partitions × groups (release build on the shared 2-core box, 3 racks:
//! 200 members, 2000 partitions, identical subscriptions ~370 ms; 100 members, 900 partitions, random
//! subscriptions ~330 ms; without racks 17 ms and 98 ms in the same run; see `tests/scale.rs`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use super::rack::{ReplicaRacks, member_rack, partition_racks, use_rack_aware};
use super::{
    AssignError, Assignments, Assignor, PartitionCounts, RebalanceProtocol, UserDataContext, prepare,
    resolve_ownership, withhold_transfers,
};

mod racks;
use crate::protocol::{MemberSubscription, StickyUserData, TopicPartition};

/// A chain of single-partition moves: `(from member, to member, topic)`.
type Chain = Vec<(usize, usize, usize)>;

/// The `sticky` assignor (eager). Its user data is a [`StickyUserData`] v1 (previous assignment and
/// generation), like Java's `StickyAssignor`, so eager members carry their previous assignment into the
/// join even though they revoked everything first.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl Assignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn user_data(&self, context: &UserDataContext<'_>) -> Option<Bytes> {
        StickyUserData {
            partitions: context.owned.to_vec(),
            generation: Some(context.generation),
        }
        .encode()
        .ok()
    }

    fn assign_with_racks(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &PartitionCounts,
        replica_racks: &ReplicaRacks,
    ) -> Result<Assignments, AssignError> {
        sticky_assign(members, partitions_per_topic, replica_racks)
    }
}

/// The `cooperative-sticky` assignor (KIP-429): the sticky assignment, minus every partition that would
/// move from its current owner to another member this round ([`withhold_transfers`]). Its user data is the
/// bare `i32` generation Java's `CooperativeStickyAssignor` writes, for leaders that only read v0/v1
/// subscriptions.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Cooperative
    }

    fn user_data(&self, context: &UserDataContext<'_>) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(&context.generation.to_be_bytes()))
    }

    fn assign_with_racks(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &PartitionCounts,
        replica_racks: &ReplicaRacks,
    ) -> Result<Assignments, AssignError> {
        let mut assignments = sticky_assign(members, partitions_per_topic, replica_racks)?;
        withhold_transfers(members, partitions_per_topic, &mut assignments);
        Ok(assignments)
    }
}

/// The sticky assignment without the golden rule.
fn sticky_assign(
    members: &[MemberSubscription],
    partitions_per_topic: &PartitionCounts,
    replica_racks: &ReplicaRacks,
) -> Result<Assignments, AssignError> {
    let (sorted, mut assignments) = prepare(members, partitions_per_topic)?;
    let mut state = State::new(&sorted, partitions_per_topic, members, replica_racks);
    let all_equal = state.subs.windows(2).all(|w| w[0] == w[1]);
    if all_equal {
        state.constrained();
    } else {
        state.general();
    }
    if state.racks.is_some() {
        state.optimize_rack_locality();
    }
    for (p, holder) in state.holder.iter().enumerate() {
        if let Some(m) = holder {
            let (t, partition) = state.partitions[p];
            assignments
                .get_mut(&sorted[*m].member_id)
                .expect("prepared")
                .push(TopicPartition::new(state.topics[t].clone(), partition));
        }
    }
    for list in assignments.values_mut() {
        list.sort();
    }
    Ok(assignments)
}

/// Working state, everything by index: members in member order, topics sorted, partitions by (topic, index).
struct State {
    topics: Vec<String>,
    /// Partition index → (topic index, partition number).
    partitions: Vec<(usize, i32)>,
    /// Per member: subscribed topic indices (sorted).
    subs: Vec<Vec<usize>>,
    /// Per topic: subscribed member indices (sorted).
    subscribers: Vec<Vec<usize>>,
    /// Per partition: the previous owner, if it still subscribes to the topic.
    prev: Vec<Option<usize>>,
    /// Rack-aware only: per partition, whether its previous owner is in a rack without any replica of it.
    prev_mismatched: Vec<bool>,
    /// Rack information when rack-aware assignment is in use.
    racks: Option<racks::Racks>,
    holder: Vec<Option<usize>>,
    load: Vec<usize>,
    /// Per member, per topic: held partition indices.
    held: Vec<BTreeMap<usize, BTreeSet<usize>>>,
}

impl State {
    fn new(
        sorted: &[&MemberSubscription],
        partitions_per_topic: &PartitionCounts,
        members: &[MemberSubscription],
        replica_racks: &ReplicaRacks,
    ) -> Self {
        let member_index: BTreeMap<&str, usize> = sorted
            .iter()
            .enumerate()
            .map(|(i, m)| (m.member_id.as_str(), i))
            .collect();
        // Topics that exist, are non-empty and have at least one subscriber.
        let topics: Vec<String> = partitions_per_topic
            .iter()
            .filter(|(t, n)| **n > 0 && sorted.iter().any(|m| super::subscribes(m, t)))
            .map(|(t, _)| t.clone())
            .collect();
        let topic_index: BTreeMap<&str, usize> =
            topics.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
        let subs: Vec<Vec<usize>> = sorted
            .iter()
            .map(|m| {
                let set: BTreeSet<usize> = m
                    .subscription
                    .topics
                    .iter()
                    .filter_map(|t| topic_index.get(t.as_str()).copied())
                    .collect();
                set.into_iter().collect()
            })
            .collect();
        let mut subscribers = vec![Vec::new(); topics.len()];
        for (m, ts) in subs.iter().enumerate() {
            for &t in ts {
                subscribers[t].push(m);
            }
        }
        let mut partitions = Vec::new();
        let mut first = Vec::with_capacity(topics.len());
        for (t, name) in topics.iter().enumerate() {
            first.push(partitions.len());
            partitions.extend((0..partitions_per_topic[name]).map(|p| (t, p)));
        }
        let racks = racks::Racks::new(sorted, &topics, &partitions, replica_racks);
        let mut prev = vec![None; partitions.len()];
        let mut prev_mismatched = vec![false; partitions.len()];
        for (tp, owner) in resolve_ownership(members, partitions_per_topic).owners {
            let (Some(&t), Some(&m)) = (
                topic_index.get(tp.topic.as_str()),
                member_index.get(owner.as_str()),
            ) else {
                continue;
            };
            if subs[m].binary_search(&t).is_ok() {
                let p = first[t] + tp.partition as usize;
                prev[p] = Some(m);
                prev_mismatched[p] = racks.as_ref().is_some_and(|r| r.mismatch(m, p));
            }
        }
        let n = sorted.len();
        Self {
            holder: vec![None; partitions.len()],
            load: vec![0; n],
            held: vec![BTreeMap::new(); n],
            topics,
            partitions,
            subs,
            subscribers,
            prev,
            prev_mismatched,
            racks,
        }
    }

    fn give(&mut self, p: usize, m: usize) {
        if let Some(old) = self.holder[p] {
            self.load[old] -= 1;
            let t = self.partitions[p].0;
            let set = self.held[old].get_mut(&t).expect("held");
            set.remove(&p);
            if set.is_empty() {
                self.held[old].remove(&t);
            }
        }
        self.holder[p] = Some(m);
        self.load[m] += 1;
        self.held[m].entry(self.partitions[p].0).or_default().insert(p);
    }

    /// Identical subscriptions: quota-based, minimal moves.
    fn constrained(&mut self) {
        let members = self.load.len();
        let total = self.partitions.len();
        if members == 0 || self.subs[0].is_empty() {
            return;
        }
        let (min, extra) = (total / members, total % members);
        let mut owned: Vec<Vec<usize>> = vec![Vec::new(); members];
        for (p, owner) in self.prev.iter().enumerate() {
            // Rack-aware, like Java: a mismatched partition is not kept, it may move closer.
            if let Some(m) = owner
                && !self.prev_mismatched[p]
            {
                owned[*m].push(p);
            }
        }
        let mut order: Vec<usize> = (0..members).collect();
        order.sort_by(|a, b| owned[*b].len().cmp(&owned[*a].len()).then(a.cmp(b)));
        let mut quota = vec![min; members];
        for &m in order.iter().take(extra) {
            quota[m] = min + 1;
        }
        for m in 0..members {
            for &p in owned[m].iter().take(quota[m]) {
                self.give(p, m);
            }
        }
        if self.racks.is_some() {
            // Which members take the `extra` larger quotas is left open for rack matching.
            self.fill_rack_local(min, extra);
            self.fill_rest(min, extra);
            return;
        }
        let mut pool = (0..total)
            .filter(|p| self.holder[*p].is_none())
            .collect::<Vec<_>>()
            .into_iter();
        for (m, &q) in quota.iter().enumerate() {
            while self.load[m] < q {
                let p = pool.next().expect("quotas add up to the partition count");
                self.give(p, m);
            }
        }
    }

    /// Different subscriptions: keep, fill, balance along cheapest chains, then swap back home.
    fn general(&mut self) {
        for p in 0..self.partitions.len() {
            if let Some(m) = self.prev[p] {
                self.give(p, m);
            }
        }
        let mut unowned: Vec<usize> = (0..self.partitions.len())
            .filter(|p| self.holder[*p].is_none())
            .collect();
        unowned.sort_by_key(|&p| (self.subscribers[self.partitions[p].0].len(), p));
        for p in unowned {
            let t = self.partitions[p].0;
            let m = *self.subscribers[t]
                .iter()
                .min_by_key(|&&m| (self.load[m], m))
                .expect("subscribed topic");
            // Rack-aware: a member in the partition's rack with the same (least) load, if any.
            let m = self
                .racks
                .as_ref()
                .and_then(|r| {
                    self.subscribers[t]
                        .iter()
                        .copied()
                        .find(|&y| self.load[y] == self.load[m] && r.local(y, p))
                })
                .unwrap_or(m);
            self.give(p, m);
        }
        while let Some(path) = self.cheapest_improving_chain() {
            for (x, y, t) in path {
                let p = self.pick(x, y, t);
                self.give(p, y);
            }
        }
        self.swap_home();
    }

    /// The partition of topic `t` that `x` should pass to `y`: one `y` owned before, else one `x` did not
    /// own before (rack-aware: preferably one local to `y`, then one not local to `x`), else any (smallest
    /// index first).
    fn pick(&self, x: usize, y: usize, t: usize) -> usize {
        let set = &self.held[x][&t];
        let movable = || set.iter().copied().filter(|&p| self.prev[p] != Some(x));
        let rack_preferred = self.racks.as_ref().and_then(|r| {
            movable()
                .find(|&p| r.local(y, p))
                .or_else(|| movable().find(|&p| !r.local(x, p)))
        });
        set.iter()
            .copied()
            .find(|&p| self.prev[p] == Some(y))
            .or(rack_preferred)
            .or_else(|| movable().next())
            .unwrap_or_else(|| *set.iter().next().expect("held topic has partitions"))
    }

    /// Cost of `x` passing on a partition of topic `t`: 0 if it holds one it did not own before.
    fn pass_cost(&self, x: usize, t: usize) -> u32 {
        u32::from(self.held[x][&t].iter().all(|&p| self.prev[p] == Some(x)))
    }

    /// The cheapest chain `[(from, to, topic)]` from a member with load `L` to a member with load ≤ `L-2`,
    /// over all load levels; ties prefer the highest level, then the lowest target load and index.
    fn cheapest_improving_chain(&self) -> Option<Chain> {
        let reachable_min = (0..self.load.len())
            .filter(|&m| !self.subs[m].is_empty())
            .map(|m| self.load[m])
            .min()?;
        let levels: BTreeSet<usize> = self
            .load
            .iter()
            .copied()
            .filter(|&l| l >= reachable_min + 2)
            .collect();
        let mut best: Option<(u32, Chain)> = None;
        for &level in levels.iter().rev() {
            if let Some((cost, path)) = self.search(level)
                && best.as_ref().is_none_or(|(c, _)| cost < *c)
            {
                let done = cost == 0;
                best = Some((cost, path));
                if done {
                    break;
                }
            }
        }
        best.map(|(_, path)| path)
    }

    /// 0-1 BFS from every member with load `level` to the cheapest member with load ≤ `level - 2`.
    fn search(&self, level: usize) -> Option<(u32, Chain)> {
        let n = self.load.len();
        let mut dist = vec![u32::MAX; n];
        let mut parent: Vec<Option<(usize, usize)>> = vec![None; n];
        let mut queue = VecDeque::new();
        for (m, &load) in self.load.iter().enumerate() {
            if load == level {
                dist[m] = 0;
                queue.push_back(m);
            }
        }
        while let Some(x) = queue.pop_front() {
            for &t in self.held[x].keys() {
                let cost = self.pass_cost(x, t);
                let d = dist[x] + cost;
                for &y in &self.subscribers[t] {
                    if d < dist[y] {
                        dist[y] = d;
                        parent[y] = Some((x, t));
                        if cost == 0 {
                            queue.push_front(y);
                        } else {
                            queue.push_back(y);
                        }
                    }
                }
            }
        }
        let target = (0..n)
            .filter(|&m| dist[m] != u32::MAX && self.load[m] + 2 <= level)
            .min_by_key(|&m| (dist[m], self.load[m], m))?;
        let mut path = Vec::new();
        let mut y = target;
        while let Some((x, t)) = parent[y] {
            path.push((x, y, t));
            y = x;
        }
        path.reverse();
        Some((dist[target], path))
    }

    /// Moves partitions back to their previous owners where the load profile stays the same: a direct
    /// move when the owner has one partition less than the holder, else a swap with a partition the owner
    /// did not own before and the holder may take.
    fn swap_home(&mut self) {
        loop {
            let mut changed = false;
            for p in 0..self.partitions.len() {
                let (Some(owner), Some(holder)) = (self.prev[p], self.holder[p]) else {
                    continue;
                };
                if owner == holder {
                    continue;
                }
                if self.load[owner] < self.load[holder] {
                    self.give(p, owner);
                    changed = true;
                    continue;
                }
                let candidates = self.held[owner]
                    .iter()
                    .filter(|(t, _)| self.subs[holder].binary_search(t).is_ok())
                    .flat_map(|(_, set)| set.iter().copied())
                    .filter(|&q| self.prev[q] != Some(owner));
                let mut best = None;
                for q in candidates {
                    if self.prev[q] == Some(holder) {
                        best = Some(q);
                        break;
                    }
                    best = best.or(Some(q));
                }
                if let Some(q) = best {
                    self.give(p, owner);
                    self.give(q, holder);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
}
