//! `roundrobin`: all partitions of all subscribed topics, sorted by (topic, partition), dealt to the members
//! in [`member_order`](super::member_order) round robin; a member not subscribed to a partition's topic is
//! skipped (and the deal continues after whoever took the partition).
//!
//! Identical to Java's `RoundRobinAssignor`.

use super::{AssignError, Assignments, Assignor, PartitionCounts, RebalanceProtocol, prepare, subscribes};
use crate::protocol::{MemberSubscription, TopicPartition};

/// The `roundrobin` assignor (eager).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn protocol(&self) -> RebalanceProtocol {
        RebalanceProtocol::Eager
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &PartitionCounts,
    ) -> Result<Assignments, AssignError> {
        let (sorted, mut assignments) = prepare(members, partitions_per_topic)?;
        if sorted.is_empty() {
            return Ok(assignments);
        }
        let mut next = 0usize;
        for (topic, &count) in partitions_per_topic {
            // Only topics somebody subscribes to, so the skip loop below always ends.
            if !sorted.iter().any(|m| subscribes(m, topic)) {
                continue;
            }
            for partition in 0..count {
                while !subscribes(sorted[next], topic) {
                    next = (next + 1) % sorted.len();
                }
                let member = &sorted[next].member_id;
                assignments
                    .get_mut(member)
                    .expect("prepared")
                    .push(TopicPartition::new(topic.clone(), partition));
                next = (next + 1) % sorted.len();
            }
        }
        Ok(assignments)
    }
}
