//! The rack-aware steps of the sticky assignors (KIP-881): which member is local to which partition, the
//! maximum rack-local fill for identical subscriptions, and the final locality improvement.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::{State, member_rack, partition_racks, use_rack_aware};
use crate::assignor::rack::ReplicaRacks;
use crate::protocol::MemberSubscription;

/// Member and partition racks, present only when rack-aware assignment is in use.
pub(super) struct Racks {
    /// Per member (member order): its rack.
    member: Vec<Option<String>>,
    /// Per partition index: the racks of its replicas.
    partition: Vec<BTreeSet<String>>,
}

impl Racks {
    /// `None` unless racks can make a difference for these members and partitions.
    pub(super) fn new(
        sorted: &[&MemberSubscription],
        topics: &[String],
        partitions: &[(usize, i32)],
        replica_racks: &ReplicaRacks,
    ) -> Option<Self> {
        let member: Vec<Option<String>> = sorted.iter().map(|m| member_rack(m).map(str::to_owned)).collect();
        let member_racks: BTreeSet<&str> = member.iter().flatten().map(String::as_str).collect();
        let partition: Vec<BTreeSet<String>> = partitions
            .iter()
            .map(|&(t, p)| partition_racks(replica_racks, &topics[t], p).clone())
            .collect();
        use_rack_aware(&member_racks, partition.iter()).then_some(Self { member, partition })
    }

    /// Member `m` has a rack holding a replica of partition `p`.
    pub(super) fn local(&self, m: usize, p: usize) -> bool {
        self.member[m]
            .as_ref()
            .is_some_and(|r| self.partition[p].contains(r))
    }

    /// Member `m` has a rack, and no replica of partition `p` is in it (Java's `racksMismatch`).
    pub(super) fn mismatch(&self, m: usize, p: usize) -> bool {
        self.member[m].is_some() && !self.local(m, p)
    }
}

impl State {
    fn local(&self, m: usize, p: usize) -> bool {
        self.racks.as_ref().is_some_and(|r| r.local(m, p))
    }

    /// The previous owner of `p` if its rack holds no replica of `p`.
    fn mismatched_owner(&self, p: usize) -> Option<usize> {
        self.prev[p].filter(|_| self.prev_mismatched[p])
    }

    /// Identical subscriptions, after the kept partitions: gives as many unassigned partitions as possible
    /// to members local to them, so that every member can still end with `min` or `min + 1` partitions and
    /// exactly `extra` members with `min + 1` — a maximum flow from partitions to members to the sink, where
    /// a member takes up to `min` directly and one more through a shared node of capacity "extras left".
    pub(super) fn fill_rack_local(&mut self, min: usize, extra: usize) {
        let members = self.load.len();
        let unassigned: Vec<usize> = (0..self.partitions.len())
            .filter(|&p| self.holder[p].is_none())
            .collect();
        let at_max = (0..members).filter(|&m| self.load[m] > min).count();
        let mut net = Network::new(self, unassigned.len(), 1);
        let (extras, sink) = (net.extra(0), net.sink);
        for (i, &p) in unassigned.iter().enumerate() {
            net.flow.edge(net.source, net.item(i), 1, 0);
            for g in 0..net.groups.len() {
                if self.local(net.groups[g][0], p) {
                    net.flow.edge(net.item(i), net.group(g), 1, 0);
                }
            }
        }
        for m in 0..members {
            let node = net.member(m);
            net.flow.edge(node, sink, min.saturating_sub(self.load[m]), 0);
            if self.load[m] <= min {
                net.flow.edge(node, extras, 1, 0);
            }
        }
        net.flow.edge(extras, sink, extra.saturating_sub(at_max), 0);
        for (i, m) in net.solve().into_iter().enumerate() {
            if let Some(m) = m {
                self.give(unassigned[i], m);
            }
        }
    }

    /// Identical subscriptions, last step: the partitions still unassigned go back to a previous owner
    /// whose rack did not match (stickiness) when it has room, the rest are dealt in order to members
    /// under `min`, then one each to members at `min` while fewer than `extra` have `min + 1`.
    pub(super) fn fill_rest(&mut self, min: usize, extra: usize) {
        let members = self.load.len();
        let room = |s: &Self, m: usize| {
            let at_max = s.load.iter().filter(|&&l| l > min).count();
            s.load[m] < min || (s.load[m] == min && at_max < extra)
        };
        let mut rest = Vec::new();
        for p in 0..self.partitions.len() {
            if self.holder[p].is_some() {
                continue;
            }
            match self.mismatched_owner(p) {
                Some(owner) if self.load[owner] < min => self.give(p, owner),
                _ => rest.push(p),
            }
        }
        // Members under `min` first, so an extra never takes a partition someone needs to reach `min`;
        // they take partitions without a previous owner first, so those owners can take theirs back as
        // extras.
        rest.sort_by_key(|&p| self.mismatched_owner(p).is_some());
        let mut rest = rest.into_iter();
        for m in 0..members {
            while self.load[m] < min {
                let p = rest.next().expect("quotas add up to the partition count");
                self.give(p, m);
            }
        }
        for p in rest {
            let owner = self.mismatched_owner(p).filter(|&o| room(self, o));
            let m = owner
                .or_else(|| (0..members).find(|&m| room(self, m)))
                .expect("quotas add up to the partition count");
            self.give(p, m);
        }
    }

    /// Reassigns the partitions with every member's partition count unchanged, to (in this order) move
    /// as few previously owned rack-matching partitions as possible, have as many rack-local partitions
    /// as possible, and leave as many mismatched partitions as possible with their previous owner: a
    /// minimum-cost flow from partitions to the members subscribed to them whose cost weighs the three.
    /// The balance reached before stays; stickiness is never traded for locality.
    pub(super) fn optimize_rack_locality(&mut self) {
        let members = self.load.len();
        let pool: Vec<usize> = (0..self.partitions.len())
            .filter(|&p| self.holder[p].is_some())
            .collect();
        let mut room = vec![0; members];
        for &p in &pool {
            room[self.holder[p].expect("held")] += 1;
        }
        // Weights: one more non-local partition outweighs all mismatched owners together, one more
        // moved owned partition outweighs everything else.
        let n = pool.len() as i64 + 1;
        let (non_local, moved) = (n, n * n + n);
        let mut net = Network::new(self, pool.len(), 0);
        for (i, &p) in pool.iter().enumerate() {
            net.flow.edge(net.source, net.item(i), 1, 0);
            let t = self.partitions[p].0;
            // Through a group: a member other than the previous owner (the direct edge below is cheaper
            // for the owner itself).
            let away = match self.prev[p] {
                None => 0,
                Some(_) if self.prev_mismatched[p] => 1,
                Some(_) => moved,
            };
            for g in 0..net.groups.len() {
                let any = net.groups[g][0];
                if self.subs[any].binary_search(&t).is_ok() {
                    let cost = away + i64::from(!self.local(any, p)) * non_local;
                    net.flow.edge(net.item(i), net.group(g), 1, cost);
                }
            }
            if let Some(owner) = self.prev[p] {
                let cost = i64::from(!self.local(owner, p)) * non_local;
                net.flow.edge(net.item(i), net.member(owner), 1, cost);
            }
        }
        for (m, &r) in room.iter().enumerate() {
            net.flow.edge(net.member(m), net.sink, r, 0);
        }
        for (i, m) in net.solve().into_iter().enumerate() {
            let m = m.expect("every pooled partition fits: the current assignment does");
            if self.holder[pool[i]] != Some(m) {
                self.give(pool[i], m);
            }
        }
    }
}

/// A flow network from items (partitions) to members. Members with the same rack and the same
/// subscriptions are interchangeable for rack matching, so items connect to such a *group* (a few nodes)
/// rather than to each member (hundreds): nodes are source, items, groups, members, extra nodes, sink.
struct Network {
    flow: Flow,
    source: usize,
    sink: usize,
    items: usize,
    /// Per group: its members, in member order.
    groups: Vec<Vec<usize>>,
    members: usize,
    /// (group, member, edge index, capacity) of every group → member edge.
    spread: Vec<(usize, usize, usize, usize)>,
}

impl Network {
    fn new(state: &State, items: usize, extras: usize) -> Self {
        let racks = state.racks.as_ref().expect("rack-aware");
        let mut index: BTreeMap<(Option<&str>, &[usize]), usize> = BTreeMap::new();
        let mut groups: Vec<Vec<usize>> = Vec::new();
        for m in 0..state.load.len() {
            let key = (racks.member[m].as_deref(), state.subs[m].as_slice());
            let g = *index.entry(key).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(m);
        }
        let members = state.load.len();
        let nodes = 1 + items + groups.len() + members + extras + 1;
        let mut net = Self {
            flow: Flow::new(nodes),
            source: 0,
            sink: nodes - 1,
            items,
            groups,
            members,
            spread: Vec::new(),
        };
        for g in 0..net.groups.len() {
            for k in 0..net.groups[g].len() {
                let m = net.groups[g][k];
                let (from, to) = (net.group(g), net.member(m));
                if let Some(e) = net.flow.edge(from, to, items, 0) {
                    net.spread.push((g, m, e, items));
                }
            }
        }
        net
    }

    fn item(&self, i: usize) -> usize {
        1 + i
    }

    fn group(&self, g: usize) -> usize {
        1 + self.items + g
    }

    fn member(&self, m: usize) -> usize {
        1 + self.items + self.groups.len() + m
    }

    fn extra(&self, k: usize) -> usize {
        1 + self.items + self.groups.len() + self.members + k
    }

    /// Runs the flow and says which member each item goes to (`None`: no flow). Items that went to a
    /// group are handed to its members in item order, as many to each as the flow sent it.
    fn solve(mut self) -> Vec<Option<usize>> {
        self.flow.run(self.source, self.sink);
        let mut quota: Vec<Vec<(usize, usize)>> = vec![Vec::new(); self.groups.len()];
        for &(g, m, e, capacity) in &self.spread {
            let sent = capacity - self.flow.edges[e].capacity;
            if sent > 0 {
                quota[g].push((m, sent));
            }
        }
        let first_member = self.member(0);
        (0..self.items)
            .map(|i| {
                let node = self.flow.used_target(self.item(i))?;
                if node >= first_member {
                    return Some(node - first_member);
                }
                let list = &mut quota[node - self.group(0)];
                let (m, left) = list.first_mut().expect("the flow reached a member");
                let m = *m;
                *left -= 1;
                if *left == 0 {
                    list.remove(0);
                }
                Some(m)
            })
            .collect()
    }
}

/// A small minimum-cost maximum flow for unit-capacity sources: successive cheapest augmenting paths
/// (Bellman-Ford queue, edges in insertion order, so deterministic). With all costs 0 it is a plain max flow.
struct Flow {
    /// Per node: indices into `edges`.
    adjacent: Vec<Vec<usize>>,
    /// Edge `i ^ 1` is the reverse of edge `i`; forward edges have even indices.
    edges: Vec<Edge>,
}

struct Edge {
    to: usize,
    capacity: usize,
    cost: i64,
}

impl Flow {
    fn new(nodes: usize) -> Self {
        Self {
            adjacent: vec![Vec::new(); nodes],
            edges: Vec::new(),
        }
    }

    /// Adds an edge and returns its index (none for capacity 0).
    fn edge(&mut self, from: usize, to: usize, capacity: usize, cost: i64) -> Option<usize> {
        if capacity == 0 {
            return None;
        }
        let index = self.edges.len();
        self.adjacent[from].push(index);
        self.edges.push(Edge { to, capacity, cost });
        self.adjacent[to].push(self.edges.len());
        self.edges.push(Edge {
            to: from,
            capacity: 0,
            cost: -cost,
        });
        Some(index)
    }

    /// Pushes one unit at a time along a cheapest path until none is left (the source edges have
    /// capacity 1, so every path carries 1).
    fn run(&mut self, source: usize, sink: usize) {
        let nodes = self.adjacent.len();
        loop {
            let mut dist = vec![i64::MAX; nodes];
            let mut via: Vec<Option<usize>> = vec![None; nodes];
            let mut queued = vec![false; nodes];
            let mut queue = VecDeque::from([source]);
            dist[source] = 0;
            while let Some(n) = queue.pop_front() {
                queued[n] = false;
                for &e in &self.adjacent[n] {
                    let edge = &self.edges[e];
                    let d = dist[n] + edge.cost;
                    if edge.capacity > 0 && d < dist[edge.to] {
                        dist[edge.to] = d;
                        via[edge.to] = Some(e);
                        if !queued[edge.to] {
                            queued[edge.to] = true;
                            queue.push_back(edge.to);
                        }
                    }
                }
            }
            if dist[sink] == i64::MAX {
                return;
            }
            let mut n = sink;
            while let Some(e) = via[n] {
                self.edges[e].capacity -= 1;
                self.edges[e ^ 1].capacity += 1;
                n = self.edges[e ^ 1].to;
            }
        }
    }

    /// The node a unit of flow leaves `node` to, if any (a saturated forward edge).
    fn used_target(&self, node: usize) -> Option<usize> {
        self.adjacent[node]
            .iter()
            .find(|&&e| e % 2 == 0 && self.edges[e].capacity == 0)
            .map(|&e| self.edges[e].to)
    }
}
