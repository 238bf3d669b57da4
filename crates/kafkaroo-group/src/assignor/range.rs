//! `range`: per topic, the subscribed members (in [`member_order`](super::member_order)) get contiguous
//! ranges of partitions; with `n` partitions and `m` members, the first `n % m` members get one extra.
//!
//! Identical to Java's `RangeAssignor` when no rack information is used (KIP-881 rack matching is not
//! implemented). Topics are independent of each other, so with several co-partitioned topics the same
//! members get the same partition numbers — which is why people pick `range` for joins.

use super::{AssignError, Assignments, Assignor, PartitionCounts, RebalanceProtocol, prepare, subscribes};
use crate::protocol::{MemberSubscription, TopicPartition};

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

    fn assign(
        &self,
        members: &[MemberSubscription],
        partitions_per_topic: &PartitionCounts,
    ) -> Result<Assignments, AssignError> {
        let (sorted, mut assignments) = prepare(members, partitions_per_topic)?;
        for (topic, &count) in partitions_per_topic {
            let subscribers: Vec<&str> = sorted
                .iter()
                .filter(|m| subscribes(m, topic))
                .map(|m| m.member_id.as_str())
                .collect();
            if subscribers.is_empty() || count == 0 {
                continue;
            }
            let m = subscribers.len() as i64;
            let (per, extra) = (i64::from(count) / m, i64::from(count) % m);
            for (i, member) in subscribers.iter().enumerate() {
                let i = i as i64;
                let start = per * i + i.min(extra);
                let len = per + i64::from(i < extra);
                // start + len <= count, which fits in i32.
                let list = assignments.get_mut(*member).expect("prepared");
                list.extend((start..start + len).map(|p| TopicPartition::new(topic.clone(), p as i32)));
            }
        }
        for list in assignments.values_mut() {
            list.sort();
        }
        Ok(assignments)
    }
}
