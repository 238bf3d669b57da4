//! `range`: per topic, the subscribed members (in [`member_order`](super::member_order)) get contiguous
//! ranges of partitions; with `n` partitions and `m` members, the first `n % m` members get one extra.
//!
//! Identical to Java's `RangeAssignor`, including its rack-aware variant (KIP-881, Kafka 3.5+). Topics are
//! independent of each other, so with several co-partitioned topics the same members get the same
//! partition numbers — which is why people pick `range` for joins.
//!
//! # Racks
//!
//! When [`use_rack_aware`](super::rack) holds for at least one topic, partitions are first given to
//! members whose rack holds a replica, within the same per-member counts as without racks:
//!
//! - Topics with the same subscribers and the same partition count are *co-partitioned*: partition `p` of
//!   all of them goes to the first member (in member order) that matches `p` of every one of them and still
//!   has room in every one of them, so the same member keeps the same partition numbers.
//! - Any other topic that needs racks: each member in turn takes the lowest-numbered unassigned partitions
//!   it matches, up to its count.
//!
//! Then, as without racks, each member in turn takes the lowest-numbered partitions left, up to its count.
//! A member without rack matches every partition.

use std::collections::{BTreeMap, BTreeSet};

use super::rack::{ReplicaRacks, member_rack, partition_racks, racks_match, use_rack_aware};
use super::{AssignError, Assignments, Assignor, PartitionCounts, RebalanceProtocol, prepare, subscribes};
use crate::protocol::{MemberSubscription, TopicPartition};

/// A topic's subscribers in member order, with their racks.
type Consumers<'a> = Vec<(&'a str, Option<&'a str>)>;

/// The `range` assignor (eager).
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign_with_racks(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &PartitionCounts,
        replica_racks: &ReplicaRacks,
    ) -> Result<Assignments, AssignError> {
        let (sorted, mut assignments) = prepare(members, partitions_per_topic)?;
        let mut topics: Vec<TopicState<'_>> = partitions_per_topic
            .iter()
            .filter(|(_, count)| **count > 0)
            .filter_map(|(topic, &count)| {
                let subscribers: Vec<&MemberSubscription> =
                    sorted.iter().copied().filter(|m| subscribes(m, topic)).collect();
                (!subscribers.is_empty()).then(|| TopicState::new(topic, count, subscribers, replica_racks))
            })
            .collect();
        if topics.iter().any(|t| t.needs_racks) {
            assign_with_rack_matching(&mut topics);
        }
        for topic in &mut topics {
            topic.assign_ranges(false);
        }
        for topic in topics {
            for (member, partitions) in topic.consumers.iter().zip(topic.assigned) {
                let list = assignments.get_mut(member.0).expect("prepared");
                list.extend(
                    partitions
                        .into_iter()
                        .map(|p| TopicPartition::new(topic.topic, p)),
                );
            }
        }
        for list in assignments.values_mut() {
            list.sort();
        }
        Ok(assignments)
    }
}

/// The rack-matching phase: co-partitioned topics together, other topics that need racks alone.
fn assign_with_rack_matching(topics: &mut [TopicState<'_>]) {
    // Group key: the subscribers with their racks, then the partition count if any subscriber has a rack
    // (else 0: such topics have nothing to match).
    let mut groups: BTreeMap<(&Consumers<'_>, i32), Vec<usize>> = BTreeMap::new();
    for (i, t) in topics.iter().enumerate() {
        let key = if t.partition_racks.is_some() { t.count } else { 0 };
        groups.entry((&t.consumers, key)).or_default().push(i);
    }
    let groups: Vec<(i32, Vec<usize>)> = groups.into_iter().map(|((_, n), g)| (n, g)).collect();
    for (partitions, group) in groups {
        if let [single] = group[..] {
            let t = &mut topics[single];
            if t.needs_racks {
                t.assign_ranges(true);
            }
        } else {
            assign_co_partitioned(topics, &group, partitions);
        }
    }
}

/// Partition `p` of every topic in `group` goes to the first remaining member matching `p` in all of
/// them with room in all of them; a member with room in none of them is done.
fn assign_co_partitioned(topics: &mut [TopicState<'_>], group: &[usize], partitions: i32) {
    let mut remaining: Vec<usize> = (0..topics[group[0]].consumers.len()).collect();
    for p in 0..partitions {
        let found = remaining.iter().position(|&c| {
            group
                .iter()
                .all(|&t| topics[t].rack_view().matches(c, p) && topics[t].max_assignable(c) > 0)
        });
        let Some(at) = found else { continue };
        let c = remaining[at];
        for &t in group {
            topics[t].assign(c, &[p]);
        }
        if group.iter().all(|&t| topics[t].max_assignable(c) == 0) {
            remaining.remove(at);
            if remaining.is_empty() {
                break;
            }
        }
    }
}

/// One topic during assignment (Java's `RangeAssignor.TopicAssignmentState`).
struct TopicState<'a> {
    topic: &'a str,
    count: i32,
    consumers: Consumers<'a>,
    /// Replica racks per partition, only when some subscriber has a rack.
    partition_racks: Option<Vec<&'a BTreeSet<String>>>,
    needs_racks: bool,
    unassigned: BTreeSet<i32>,
    /// Per consumer: partitions given so far.
    assigned: Vec<Vec<i32>>,
    per_consumer: i32,
    remaining_with_extra: i32,
}

/// What rack matching needs of a topic, borrowed apart from its mutable counts.
struct RackView<'s, 'a> {
    consumers: &'s [(&'a str, Option<&'a str>)],
    partition_racks: Option<&'s [&'a BTreeSet<String>]>,
}

impl RackView<'_, '_> {
    /// Java's `racksMatch`: a consumer without rack matches anything.
    fn matches(&self, consumer: usize, partition: i32) -> bool {
        match self.consumers[consumer].1 {
            None => true,
            Some(rack) => self
                .partition_racks
                .and_then(|racks| racks.get(partition as usize))
                .is_some_and(|racks| racks_match(Some(rack), racks)),
        }
    }
}

impl<'a> TopicState<'a> {
    fn new(
        topic: &'a str,
        count: i32,
        subscribers: Vec<&'a MemberSubscription>,
        replica_racks: &'a ReplicaRacks,
    ) -> Self {
        let consumers: Consumers<'a> = subscribers
            .iter()
            .map(|m| (m.member_id.as_str(), member_rack(m)))
            .collect();
        let member_racks: BTreeSet<&str> = consumers.iter().filter_map(|c| c.1).collect();
        let partition_racks: Option<Vec<&BTreeSet<String>>> = (!member_racks.is_empty()).then(|| {
            (0..count)
                .map(|p| partition_racks(replica_racks, topic, p))
                .collect()
        });
        let needs_racks = partition_racks
            .as_ref()
            .is_some_and(|racks| use_rack_aware(&member_racks, racks.iter().copied()));
        let n = consumers.len() as i32;
        Self {
            topic,
            count,
            needs_racks,
            partition_racks,
            unassigned: (0..count).collect(),
            assigned: vec![Vec::new(); consumers.len()],
            per_consumer: count / n,
            remaining_with_extra: count % n,
            consumers,
        }
    }

    fn rack_view(&self) -> RackView<'_, 'a> {
        RackView {
            consumers: &self.consumers,
            partition_racks: self.partition_racks.as_deref(),
        }
    }

    /// How many more partitions `consumer` may take now.
    fn max_assignable(&self, consumer: usize) -> usize {
        let max = self.per_consumer + i32::from(self.remaining_with_extra > 0)
            - self.assigned[consumer].len() as i32;
        max.max(0) as usize
    }

    fn assign(&mut self, consumer: usize, partitions: &[i32]) {
        self.assigned[consumer].extend_from_slice(partitions);
        if self.assigned[consumer].len() as i32 > self.per_consumer {
            self.remaining_with_extra -= 1;
        }
        for p in partitions {
            self.unassigned.remove(p);
        }
    }

    /// Each consumer in turn takes the lowest unassigned partitions (only those it matches if
    /// `rack_matching`), up to its room.
    fn assign_ranges(&mut self, rack_matching: bool) {
        for c in 0..self.consumers.len() {
            if self.unassigned.is_empty() {
                break;
            }
            let take: Vec<i32> = self
                .unassigned
                .iter()
                .copied()
                .filter(|&p| !rack_matching || self.rack_view().matches(c, p))
                .take(self.max_assignable(c))
                .collect();
            if !take.is_empty() {
                self.assign(c, &take);
            }
        }
    }
}
