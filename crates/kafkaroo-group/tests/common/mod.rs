//! Shared test helpers: a plain group description, conversion to subscriptions (through real bytes) and to
//! the Java harness format, and the checks and metrics the tests assert on.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};

use kafkaroo_group::assignor::rack::{partition_racks, use_rack_aware};
use kafkaroo_group::assignor::{Assignments, Assignor, PartitionCounts, ReplicaRacks, UserDataContext};
use kafkaroo_group::{MemberSubscription, Subscription, TopicPartition};

/// One member as a test describes it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub instance: Option<String>,
    pub generation: i32,
    pub topics: Vec<String>,
    pub owned: Vec<TopicPartition>,
}

/// A group to assign.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    pub topics: PartitionCounts,
    pub members: Vec<Member>,
    /// Member and replica racks (KIP-881); empty = no rack anywhere.
    pub racks: Racks,
}

/// Racks as a cluster describes them: brokers with their racks, partitions with their replicas' brokers,
/// members with their `client.rack`.
#[derive(Debug, Clone, Default)]
pub struct Racks {
    /// Member id → `client.rack` (may be empty, which means none).
    pub members: BTreeMap<String, String>,
    /// Broker id → its rack. A replica on a broker missing here has no rack (an offline broker).
    pub brokers: BTreeMap<i32, Option<String>>,
    /// Topic → per partition, the brokers holding a replica.
    pub replicas: BTreeMap<String, Vec<Vec<i32>>>,
}

impl Racks {
    /// What the leader derives from Metadata.
    pub fn replica_racks(&self) -> ReplicaRacks {
        self.replicas
            .iter()
            .map(|(t, parts)| {
                let per: Vec<BTreeSet<String>> = parts
                    .iter()
                    .map(|brokers| {
                        brokers
                            .iter()
                            .filter_map(|b| self.brokers.get(b).cloned().flatten())
                            .collect()
                    })
                    .collect();
                (t.clone(), per)
            })
            .collect()
    }
}

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

impl Scenario {
    /// The subscriptions a kafkaroo member running `assignor` would send, encoded to bytes and decoded
    /// back: eager `sticky` members revoked everything so their ownership rides in the sticky user data;
    /// the others send owned partitions and generation (v3).
    pub fn subscriptions(&self, assignor: &dyn Assignor) -> Vec<MemberSubscription> {
        self.members
            .iter()
            .map(|m| {
                let eager_sticky = assignor.name() == "sticky";
                let user_data = if m.owned.is_empty() && eager_sticky {
                    None
                } else {
                    assignor.user_data(&UserDataContext {
                        topics: &m.topics,
                        owned: &m.owned,
                        generation: m.generation,
                    })
                };
                let sub = Subscription {
                    topics: m.topics.clone(),
                    user_data,
                    owned_partitions: if eager_sticky { Vec::new() } else { m.owned.clone() },
                    generation_id: m.generation,
                    rack_id: self.racks.members.get(&m.id).cloned(),
                    ..Subscription::default()
                };
                let decoded = Subscription::decode(sub.encode().unwrap()).unwrap();
                let mut ms = MemberSubscription::new(m.id.clone(), decoded);
                ms.group_instance_id = m.instance.clone();
                ms
            })
            .collect()
    }

    pub fn assign(&self, assignor: &dyn Assignor) -> Assignments {
        assignor
            .assign_with_racks(
                &self.subscriptions(assignor),
                &self.topics,
                &self.racks.replica_racks(),
            )
            .unwrap()
    }

    /// The harness input for this scenario.
    pub fn to_java(&self, id: &str, assignor: &str) -> String {
        let mut s = format!("scenario {id} {assignor}\n");
        for (b, rack) in &self.racks.brokers {
            s += &format!("broker {b} {}\n", rack.as_deref().unwrap_or("-"));
        }
        for (t, n) in &self.topics {
            match self.racks.replicas.get(t) {
                Some(parts) => {
                    let replicas: Vec<String> = parts
                        .iter()
                        .map(|bs| {
                            if bs.is_empty() {
                                "-".to_owned()
                            } else {
                                bs.iter().map(i32::to_string).collect::<Vec<_>>().join("+")
                            }
                        })
                        .collect();
                    s += &format!("topic {t} {n} {}\n", replicas.join(","));
                }
                None => s += &format!("topic {t} {n}\n"),
            }
        }
        for m in &self.members {
            let topics = if m.topics.is_empty() {
                "-".into()
            } else {
                m.topics.join(",")
            };
            let owned = if m.owned.is_empty() {
                "-".into()
            } else {
                m.owned
                    .iter()
                    .map(|p| format!("{}:{}", p.topic, p.partition))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let rack = match self.racks.members.get(&m.id).map(String::as_str) {
                None => "-",
                Some("") => "=",
                Some(r) => r,
            };
            s += &format!(
                "member {} {} {} {topics} {owned} {rack}\n",
                m.id,
                m.instance.as_deref().unwrap_or("-"),
                m.generation
            );
        }
        s + "end\n"
    }

    /// Partitions that can be assigned: of existing topics somebody subscribes to.
    pub fn assignable(&self) -> BTreeSet<TopicPartition> {
        self.topics
            .iter()
            .filter(|(t, _)| self.members.iter().any(|m| m.topics.contains(t)))
            .flat_map(|(t, &n)| (0..n).map(move |p| tp(t, p)))
            .collect()
    }

    /// Ground truth of current ownership: the unique highest-generation claim; ties leave it unowned.
    pub fn owners(&self) -> (BTreeMap<TopicPartition, String>, BTreeSet<TopicPartition>) {
        let mut claims: BTreeMap<TopicPartition, Vec<(i32, &str)>> = BTreeMap::new();
        for m in &self.members {
            for p in &m.owned {
                claims.entry(p.clone()).or_default().push((m.generation, &m.id));
            }
        }
        let mut owners = BTreeMap::new();
        let mut conflicted = BTreeSet::new();
        for (p, list) in claims {
            let top = list.iter().map(|c| c.0).max().unwrap();
            let winners: Vec<_> = list.iter().filter(|c| c.0 == top).collect();
            if winners.len() == 1 {
                owners.insert(p, winners[0].1.to_owned());
            } else {
                conflicted.insert(p);
            }
        }
        (owners, conflicted)
    }

    /// Previously owned assignable partitions whose owner still subscribes to the topic but does not get
    /// them in `a` (for a cooperative round: the partitions the owners revoke).
    pub fn moved(&self, a: &Assignments) -> usize {
        let assignable = self.assignable();
        let (owners, _) = self.owners();
        owners
            .iter()
            .filter(|(p, o)| {
                assignable.contains(*p)
                    && self.member(o).is_some_and(|m| m.topics.contains(&p.topic))
                    && !a[o.as_str()].contains(p)
            })
            .count()
    }

    pub fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    /// True if every member subscribes to the same topics.
    pub fn identical_subscriptions(&self) -> bool {
        let sets: Vec<BTreeSet<&String>> = self.members.iter().map(|m| m.topics.iter().collect()).collect();
        sets.windows(2).all(|w| w[0] == w[1])
    }

    /// The minimum number of moves any balanced assignment needs, for identical subscriptions.
    pub fn min_moves_identical(&self) -> usize {
        let assignable = self.assignable();
        let (owners, _) = self.owners();
        let n = self.members.len();
        let total = assignable.len();
        let mut owned: Vec<usize> = self
            .members
            .iter()
            .map(|m| {
                owners
                    .iter()
                    .filter(|(p, o)| **o == m.id && assignable.contains(*p))
                    .count()
            })
            .collect();
        owned.sort_unstable_by(|a, b| b.cmp(a));
        let (min, extra) = (total / n, total % n);
        owned
            .iter()
            .enumerate()
            .map(|(i, &o)| o.saturating_sub(min + usize::from(i < extra)))
            .sum()
    }

    /// The next generation after a cooperative round: everyone owns what it was assigned.
    pub fn followup(&self, a: &Assignments) -> Self {
        let generation = self
            .members
            .iter()
            .map(|m| m.generation)
            .max()
            .unwrap_or(0)
            .max(0)
            + 1;
        let mut next = self.clone();
        for m in &mut next.members {
            m.owned = a[&m.id].clone();
            m.generation = generation;
        }
        next
    }
}

/// Structural checks: every member is a key; partitions exist, are assigned at most once (exactly once
/// if `complete`) and only to subscribers.
pub fn check_valid(s: &Scenario, a: &Assignments, complete: bool) -> Result<(), String> {
    let ids: BTreeSet<&str> = s.members.iter().map(|m| m.id.as_str()).collect();
    let keys: BTreeSet<&str> = a.keys().map(String::as_str).collect();
    if ids != keys {
        return Err(format!("members {ids:?} but assignment keys {keys:?}"));
    }
    let mut seen = BTreeSet::new();
    for (member, parts) in a {
        let m = s.member(member).unwrap();
        for p in parts {
            if !s
                .topics
                .get(&p.topic)
                .is_some_and(|&n| (0..n).contains(&p.partition))
            {
                return Err(format!("{member} got nonexistent {p}"));
            }
            if !m.topics.contains(&p.topic) {
                return Err(format!("{member} got {p} but does not subscribe to {}", p.topic));
            }
            if !seen.insert(p.clone()) {
                return Err(format!("{p} assigned twice"));
            }
        }
    }
    if complete {
        let missing: Vec<_> = s.assignable().difference(&seen).cloned().collect();
        if !missing.is_empty() {
            return Err(format!("unassigned: {missing:?}"));
        }
    }
    Ok(())
}

/// The KIP-429 golden rule: nothing goes from its current owner to another member in one round, and
/// partitions claimed by several members in the same generation go to nobody.
pub fn check_golden_rule(s: &Scenario, a: &Assignments) -> Result<(), String> {
    let (owners, conflicted) = s.owners();
    for (member, parts) in a {
        for p in parts {
            if let Some(owner) = owners.get(p)
                && owner != member
            {
                return Err(format!("{p} moves from {owner} to {member} in one round"));
            }
            if conflicted.contains(p) {
                return Err(format!("doubly claimed {p} handed to {member} in the same round"));
            }
        }
    }
    Ok(())
}

/// Loads of members that subscribe to at least one assignable topic.
pub fn loads(s: &Scenario, a: &Assignments) -> Vec<usize> {
    s.members
        .iter()
        .filter(|m| m.topics.iter().any(|t| s.topics.get(t).is_some_and(|&n| n > 0)))
        .map(|m| a[&m.id].len())
        .collect()
}

pub fn spread(s: &Scenario, a: &Assignments) -> usize {
    let l = loads(s, a);
    l.iter().max().copied().unwrap_or(0) - l.iter().min().copied().unwrap_or(0)
}

pub fn sum_squares(s: &Scenario, a: &Assignments) -> usize {
    loads(s, a).iter().map(|l| l * l).sum()
}

/// No single partition can move from a member with `L` partitions to a subscriber with `≤ L-2`.
pub fn locally_balanced(s: &Scenario, a: &Assignments) -> Result<(), String> {
    for (x, parts) in a {
        for p in parts {
            for y in &s.members {
                if y.topics.contains(&p.topic) && a[&y.id].len() + 2 <= parts.len() {
                    return Err(format!(
                        "{p} could move from {x} ({}) to {} ({})",
                        parts.len(),
                        y.id,
                        a[&y.id].len()
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A small deterministic PRNG (splitmix64) for scenario generation outside proptest.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A random but realistic group: a previous generation's assignment (some of whose owners left), new
/// members without ownership, some stale claims from members a generation behind, optional static ids,
/// identical or mixed subscriptions, sometimes a subscription to a topic that does not exist.
pub fn random_scenario(
    rng: &mut Rng,
    max_members: usize,
    max_topics: usize,
    max_partitions: usize,
) -> Scenario {
    let n_topics = 1 + rng.below(max_topics);
    let mut topics = PartitionCounts::new();
    for t in 0..n_topics {
        topics.insert(format!("t{t}"), 1 + rng.below(max_partitions) as i32);
    }
    let names: Vec<String> = topics.keys().cloned().collect();
    let n_members = 1 + rng.below(max_members);
    let identical = rng.chance(50);
    let common: Vec<String> = names.iter().filter(|_| rng.chance(70)).cloned().collect();
    let common = if common.is_empty() {
        vec![names[0].clone()]
    } else {
        common
    };
    let generation = 5;
    let mut members = Vec::new();
    let mut used = BTreeSet::new();
    while members.len() < n_members {
        let id = format!("m{:02}-{:x}", rng.below(100), rng.below(16));
        if !used.insert(id.clone()) {
            continue;
        }
        let instance = rng
            .chance(25)
            .then(|| format!("i{:02}", rng.below(100)))
            .filter(|i| used.insert(i.clone()));
        let mut topics: Vec<String> = if identical {
            common.clone()
        } else {
            let t: Vec<String> = names.iter().filter(|_| rng.chance(50)).cloned().collect();
            if t.is_empty() {
                vec![names[rng.below(names.len())].clone()]
            } else {
                t
            }
        };
        if rng.chance(5) {
            topics.push("ghost".into());
        }
        members.push(Member {
            id,
            instance,
            generation: -1,
            topics,
            owned: Vec::new(),
        });
    }
    // The previous generation: each partition owned by a random member that still subscribes (or by one
    // that left), unless the group is brand new.
    if rng.chance(80) {
        let returning: Vec<usize> = (0..members.len()).filter(|_| rng.chance(75)).collect();
        for i in &returning {
            members[*i].generation = generation;
        }
        for (t, &n) in &topics {
            let subs: Vec<usize> = returning
                .iter()
                .copied()
                .filter(|&i| members[i].topics.contains(t))
                .collect();
            for p in 0..n {
                if subs.is_empty() || rng.chance(15) {
                    continue; // owner left, or never assigned
                }
                let i = subs[rng.below(subs.len())];
                members[i].owned.push(tp(t, p));
            }
        }
        // Stale claims: a member a generation behind still claims a few partitions.
        for m in members.iter_mut() {
            if m.owned.is_empty() && rng.chance(10) {
                m.generation = generation - 1;
                for (t, &n) in &topics {
                    if rng.chance(30) {
                        m.owned.push(tp(t, rng.below(n as usize) as i32));
                    }
                }
            }
        }
    }
    Scenario {
        topics,
        members,
        racks: Racks::default(),
    }
}

/// Adds random racks to `s`: up to 3 racks, brokers with or without rack, replication factor 1 to 3
/// (sometimes on a broker the metadata does not list), members with or without (or with an empty, or an
/// unknown) rack. Some groups get racks that cannot matter: no member rack, or every partition on every
/// rack.
pub fn random_racks(rng: &mut Rng, s: &mut Scenario) {
    let n_racks = 1 + rng.below(3);
    let rack = |rng: &mut Rng| format!("r{}", rng.below(n_racks));
    let mut racks = Racks::default();
    let n_brokers = 1 + rng.below(5) as i32;
    for b in 0..n_brokers {
        racks.brokers.insert(b, rng.chance(90).then(|| rack(rng)));
    }
    let everywhere = rng.chance(10);
    for (t, &n) in &s.topics {
        let parts = (0..n)
            .map(|_| {
                if everywhere {
                    return (0..n_brokers).collect();
                }
                let rf = 1 + rng.below(3.min(n_brokers as usize));
                let mut bs: Vec<i32> = Vec::new();
                while bs.len() < rf {
                    let b = rng.below(n_brokers as usize) as i32;
                    if !bs.contains(&b) {
                        bs.push(b);
                    }
                }
                if rng.chance(3) {
                    bs.push(99);
                }
                bs
            })
            .collect();
        racks.replicas.insert(t.clone(), parts);
    }
    if !rng.chance(10) {
        for m in &s.members {
            let r = match rng.below(20) {
                0..=5 => continue,
                6 => String::new(),
                7 => "elsewhere".to_owned(),
                _ => rack(rng),
            };
            racks.members.insert(m.id.clone(), r);
        }
    }
    s.racks = racks;
}

/// How many assigned partitions sit with a member whose rack holds one of their replicas (members
/// without rack do not count).
pub fn rack_matches(s: &Scenario, a: &Assignments) -> usize {
    let replica_racks = s.racks.replica_racks();
    a.iter()
        .filter_map(|(m, ps)| {
            let rack = s.racks.members.get(m).filter(|r| !r.is_empty())?;
            Some(
                ps.iter()
                    .filter(|p| partition_racks(&replica_racks, &p.topic, p.partition).contains(rack))
                    .count(),
            )
        })
        .sum()
}

/// Whether the sticky assignors use racks for this group: the members' racks against the replica racks of
/// every partition of every subscribed topic (Java's `AbstractStickyAssignor.RackInfo`).
pub fn sticky_racks_matter(s: &Scenario) -> bool {
    let members: BTreeSet<&str> = s
        .racks
        .members
        .values()
        .filter(|r| !r.is_empty())
        .map(String::as_str)
        .collect();
    let replica_racks = s.racks.replica_racks();
    let partitions: Vec<&BTreeSet<String>> = s
        .assignable()
        .iter()
        .map(|p| partition_racks(&replica_racks, &p.topic, p.partition))
        .collect();
    use_rack_aware(&members, partitions.into_iter())
}
