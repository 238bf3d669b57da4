//! Partition assignors: pure, deterministic functions from (members, topic metadata) to an assignment.
//!
//! The group leader calls [`Assignor::assign`] with every member's decoded subscription
//! ([`MemberSubscription`]) and the partition count of every topic it knows. The same input always gives
//! the same output: members are ordered like Java orders them ([`member_order`]) and every internal map is
//! ordered, so there is no hash-order or clock dependence.
//!
//! Built-in assignors:
//!
//! | name | protocol | what it does |
//! |---|---|---|
//! | [`RangeAssignor`] `range` | eager | per topic, contiguous ranges; rack-aware; identical to Java's |
//! | [`RoundRobinAssignor`] `roundrobin` | eager | all partitions sorted, dealt round robin; identical to Java's |
//! | [`StickyAssignor`] `sticky` | eager | balanced, keeps previous ownership; rack-aware |
//! | [`CooperativeStickyAssignor`] `cooperative-sticky` | cooperative | sticky, then [`withhold_transfers`]; rack-aware |
//!
//! Common rules:
//!
//! - A member subscribed to a topic missing from `partitions_per_topic` (or with 0 partitions) simply gets
//!   nothing from it, as in Java; it is not an error.
//! - Every member appears in the result, possibly with an empty list; partitions are sorted.
//!
//! Rack-aware assignment (KIP-881): the leader passes the replica racks of every partition
//! ([`ReplicaRacks`], from Metadata) to [`Assignor::assign_with_racks`]; members send their `client.rack`
//! in the subscription's `rack_id`. `range`, `sticky` and `cooperative-sticky` then prefer giving a
//! partition to a member in a rack holding one of its replicas, as Java's assignors do since Kafka 3.5
//! (`roundrobin` ignores racks, as Java's does). When racks cannot make a difference (no member rack, no
//! replica in a member's rack, or every partition on the same racks: [`rack`]) the result is exactly the
//! assignment without racks.
//!
//! For cooperative assignors (including custom ones) the leader must apply the KIP-429 golden rule:
//! [`withhold_transfers`] is that rule as a separate pure step. It is idempotent, so applying it after
//! [`CooperativeStickyAssignor`] (which already applies it) is harmless.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

use bytes::Bytes;
use thiserror::Error;

use crate::protocol::{MemberSubscription, OwnershipSource, TopicPartition};

pub mod rack;
mod range;
mod roundrobin;
mod sticky;

pub use rack::ReplicaRacks;
pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;
pub use sticky::{CooperativeStickyAssignor, StickyAssignor};

/// Partition counts by topic name: the metadata the leader assigns from.
pub type PartitionCounts = BTreeMap<String, i32>;

/// The result of an assignment: member id → sorted partitions. Every member of the input is a key.
pub type Assignments = BTreeMap<String, Vec<TopicPartition>>;

/// How a group moves partitions between members during a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RebalanceProtocol {
    /// Every member revokes everything before joining (classic "stop the world").
    Eager,
    /// KIP-429 incremental: members keep what they own; moves take two rebalances.
    Cooperative,
}

/// What a member knows about itself when it builds its subscription's user data.
#[derive(Debug, Clone, Copy)]
pub struct UserDataContext<'a> {
    /// The topics the member subscribes to.
    pub topics: &'a [String],
    /// The partitions the member was assigned in its last successful generation.
    pub owned: &'a [TopicPartition],
    /// That generation, or -1.
    pub generation: i32,
}

/// An assignment could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AssignError {
    /// Two members share a member id.
    #[error("duplicate member id {0:?}")]
    DuplicateMember(String),
    /// A topic has a negative partition count.
    #[error("topic {topic:?} has an invalid partition count {count}")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// Its count.
        count: i32,
    },
    /// A custom assignor failed.
    #[error("assignor failed: {0}")]
    Custom(String),
}

/// A partition assignment strategy (`partition.assignment.strategy`).
///
/// Implementations must be pure and deterministic: the same `members` (in any order) and
/// `partitions_per_topic` give the same output. They must only assign partitions that exist
/// (`0..count` of a topic in `partitions_per_topic`), each at most once, and only to members subscribed to
/// the partition's topic.
pub trait Assignor: fmt::Debug + Send + Sync {
    /// The protocol name sent in JoinGroup (`range`, `cooperative-sticky`, ...).
    fn name(&self) -> &str;

    /// Eager or cooperative. A member is cooperative only if all its assignors are.
    fn protocol(&self) -> RebalanceProtocol;

    /// User data to embed in this member's [`Subscription`](crate::protocol::Subscription).
    fn user_data(&self, context: &UserDataContext<'_>) -> Option<Bytes> {
        let _ = context;
        None
    }

    /// Computes the assignment (leader only), without rack information. Implement this one or
    /// [`assign_with_racks`](Self::assign_with_racks) (each defaults to the other).
    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &PartitionCounts,
    ) -> Result<Assignments, AssignError> {
        self.assign_with_racks(members, partitions_per_topic, &ReplicaRacks::new())
    }

    /// Computes the assignment (leader only) knowing the racks of every partition's replicas (KIP-881).
    /// Assignors that ignore racks implement only [`assign`](Self::assign).
    fn assign_with_racks(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &PartitionCounts,
        replica_racks: &ReplicaRacks,
    ) -> Result<Assignments, AssignError> {
        let _ = replica_racks;
        self.assign(members, partitions_per_topic)
    }
}

/// The order Java's `AbstractPartitionAssignor.MemberInfo` sorts members in: static members (with a
/// `group_instance_id`) first, by instance id; then dynamic members by member id. Ties (which a healthy
/// group never has) fall back to the member id.
///
/// Strings compare by bytes (code points); Java compares UTF-16 units. They differ only for ids mixing
/// characters above U+FFFF with characters in U+E000..U+FFFF.
pub fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> std::cmp::Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.member_id.cmp(&b.member_id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// Checks the input shared by all assignors and returns the members in [`member_order`] plus an empty
/// assignment for each.
fn prepare<'a>(
    members: &'a [MemberSubscription],
    partitions_per_topic: &PartitionCounts,
) -> Result<(Vec<&'a MemberSubscription>, Assignments), AssignError> {
    if let Some((topic, &count)) = partitions_per_topic.iter().find(|(_, c)| **c < 0) {
        return Err(AssignError::InvalidPartitionCount {
            topic: topic.clone(),
            count,
        });
    }
    let mut assignments = Assignments::new();
    for m in members {
        if assignments.insert(m.member_id.clone(), Vec::new()).is_some() {
            return Err(AssignError::DuplicateMember(m.member_id.clone()));
        }
    }
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    Ok((sorted, assignments))
}

/// Whether `member` subscribes to `topic`.
fn subscribes(member: &MemberSubscription, topic: &str) -> bool {
    member.subscription.topics.iter().any(|t| t == topic)
}

// ---------------------------------------------------------------------------------------------------------
// Ownership claims and the KIP-429 golden rule
// ---------------------------------------------------------------------------------------------------------

/// A claim that lost to a claim with a higher generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleClaim {
    /// The member with the stale claim.
    pub member_id: String,
    /// The partition.
    pub partition: TopicPartition,
    /// The stale claim's generation.
    pub generation: i32,
}

/// Who owns what, after resolving conflicting claims by generation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolvedOwnership {
    /// Partition → its owner: the only claimant, or the claimant with the strictly highest generation.
    pub owners: BTreeMap<TopicPartition, String>,
    /// Partitions claimed by two or more members at the same, highest generation. Nobody owns them: the
    /// sticky assignors treat them as unowned and the golden rule withholds them for one round so every
    /// claimant revokes them first (scenario 13 in docs/faults-and-invariants.md).
    pub conflicted: BTreeSet<TopicPartition>,
    /// Claims that lost to a higher generation; they are ignored.
    pub stale: Vec<StaleClaim>,
}

/// Resolves every member's ownership claim ([`Subscription::ownership`](crate::protocol::Subscription::ownership))
/// on partitions that exist in `partitions_per_topic`: the highest generation wins, lower-generation claims
/// are stale and ignored (KIP-792, KAFKA-12984); a tie at the highest generation leaves the partition
/// [`conflicted`](ResolvedOwnership::conflicted).
pub fn resolve_ownership(
    members: &[MemberSubscription],
    partitions_per_topic: &PartitionCounts,
) -> ResolvedOwnership {
    let mut claims: BTreeMap<TopicPartition, Vec<(i32, &str)>> = BTreeMap::new();
    for m in members {
        let ownership = m.subscription.ownership();
        for tp in ownership.partitions {
            let exists = partitions_per_topic
                .get(&tp.topic)
                .is_some_and(|&n| (0..n).contains(&tp.partition));
            if exists {
                claims
                    .entry(tp)
                    .or_default()
                    .push((ownership.generation, &m.member_id));
            }
        }
    }
    let mut resolved = ResolvedOwnership::default();
    for (tp, mut list) in claims {
        // Highest generation first; member id breaks ties only for a stable `stale` order.
        list.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let top = list[0].0;
        let winners = list.iter().take_while(|c| c.0 == top).count();
        if winners == 1 {
            resolved.owners.insert(tp.clone(), list[0].1.to_owned());
        } else {
            resolved.conflicted.insert(tp.clone());
        }
        for &(generation, member) in &list[winners..] {
            resolved.stale.push(StaleClaim {
                member_id: member.to_owned(),
                partition: tp.clone(),
                generation,
            });
        }
    }
    resolved
}

/// The KIP-429 golden rule, as a pure step after any assignor: a partition currently owned by member A
/// (per [`resolve_ownership`]) that `assignments` gives to member B ≠ A is removed from B's assignment
/// ("withheld"). A sees it missing from its own assignment, revokes it and rejoins; the follow-up
/// rebalance then gives it to B. Conflicted partitions are withheld from everyone for the same reason.
///
/// Returns the withheld partitions, sorted. Idempotent.
pub fn withhold_transfers(
    members: &[MemberSubscription],
    partitions_per_topic: &PartitionCounts,
    assignments: &mut Assignments,
) -> Vec<TopicPartition> {
    let ownership = resolve_ownership(members, partitions_per_topic);
    let mut withheld = Vec::new();
    for (member, partitions) in assignments.iter_mut() {
        partitions.retain(|tp| {
            let keep = match ownership.owners.get(tp) {
                Some(owner) => owner == member,
                None => !ownership.conflicted.contains(tp),
            };
            if !keep {
                withheld.push(tp.clone());
            }
            keep
        });
    }
    withheld.sort();
    withheld
}

/// Renders the input of a rebalance and the assignor's result, for debugging ("rebalance explainability"):
/// the topics with their replica racks, every member's ids, rack, subscription, claimed ownership with its
/// generation and source, stale and conflicting claims, then the assignment (with racks, as the leader
/// computes it) with what each member keeps, gains and loses.
pub fn explain(
    assignor: &dyn Assignor,
    members: &[MemberSubscription],
    partitions_per_topic: &PartitionCounts,
    replica_racks: &ReplicaRacks,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "assignor {} ({:?})", assignor.name(), assignor.protocol());
    let topics: Vec<String> = partitions_per_topic
        .iter()
        .map(|(t, n)| format!("{t}[{n}]"))
        .collect();
    let _ = writeln!(out, "topics: {}", topics.join(" "));
    for (topic, per_partition) in replica_racks {
        let racks: Vec<String> = per_partition
            .iter()
            .enumerate()
            .map(|(p, racks)| {
                let names: Vec<&str> = racks.iter().map(String::as_str).collect();
                format!(
                    "{p}={}",
                    if names.is_empty() {
                        "-".into()
                    } else {
                        names.join(",")
                    }
                )
            })
            .collect();
        let _ = writeln!(out, "replica racks {topic}: {}", racks.join(" "));
    }
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    for m in &sorted {
        let s = &m.subscription;
        let own = s.ownership();
        let source = match own.source {
            OwnershipSource::OwnedPartitions => "owned_partitions",
            OwnershipSource::StickyUserData => "sticky user data",
            OwnershipSource::None => "none",
        };
        let _ = writeln!(
            out,
            "member {}{} v{} rack={} topics=[{}] generation={} owned({source})=[{}]",
            m.member_id,
            m.group_instance_id
                .as_ref()
                .map(|i| format!(" (instance {i})"))
                .unwrap_or_default(),
            s.version,
            s.rack_id.as_deref().unwrap_or("-"),
            s.topics.join(","),
            own.generation,
            render(&own.partitions),
        );
    }
    let ownership = resolve_ownership(members, partitions_per_topic);
    for c in &ownership.stale {
        let _ = writeln!(
            out,
            "stale claim: {} claims {} at generation {}",
            c.member_id, c.partition, c.generation
        );
    }
    for tp in &ownership.conflicted {
        let _ = writeln!(
            out,
            "conflict: {tp} claimed by several members at the same generation"
        );
    }
    match assignor.assign_with_racks(members, partitions_per_topic, replica_racks) {
        Err(e) => {
            let _ = writeln!(out, "error: {e}");
        }
        Ok(assignments) => {
            let mut assigned = BTreeSet::new();
            for m in &sorted {
                let got = &assignments[&m.member_id];
                assigned.extend(got.iter().cloned());
                let owned: BTreeSet<TopicPartition> = ownership
                    .owners
                    .iter()
                    .filter(|(_, o)| **o == m.member_id)
                    .map(|(tp, _)| tp.clone())
                    .collect();
                let got_set: BTreeSet<TopicPartition> = got.iter().cloned().collect();
                let added: Vec<TopicPartition> = got_set.difference(&owned).cloned().collect();
                let revoked: Vec<TopicPartition> = owned.difference(&got_set).cloned().collect();
                let _ = writeln!(
                    out,
                    "=> {} ({}): [{}] +[{}] -[{}]",
                    m.member_id,
                    got.len(),
                    render(got),
                    render(&added),
                    render(&revoked)
                );
            }
            let unassigned: Vec<TopicPartition> = partitions_per_topic
                .iter()
                .filter(|(t, _)| sorted.iter().any(|m| subscribes(m, t)))
                .flat_map(|(t, &n)| (0..n).map(|p| TopicPartition::new(t.clone(), p)))
                .filter(|tp| !assigned.contains(tp))
                .collect();
            if !unassigned.is_empty() {
                let _ = writeln!(out, "unassigned this round: [{}]", render(&unassigned));
            }
        }
    }
    out
}

fn render(partitions: &[TopicPartition]) -> String {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    by_topic
        .into_iter()
        .map(|(t, ps)| {
            format!(
                "{t}:{}",
                ps.iter().map(i32::to_string).collect::<Vec<_>>().join("/")
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}
