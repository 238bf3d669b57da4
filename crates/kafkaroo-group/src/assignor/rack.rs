//! Rack information for rack-aware assignment (KIP-881): the member's rack from its subscription
//! (`client.rack`, subscription v3 `rack_id`) and the racks of the brokers holding each partition's replicas
//! (from Metadata).
//!
//! A member *matches* a partition when the member has no rack or one of the partition's replicas lives in
//! the member's rack. Rack-aware assignment is used only when it can make a difference — the rule of Java's
//! `AbstractPartitionAssignor.useRackAwareAssignment`: some member has a rack, some partition has a replica
//! in one of the members' racks, and not every partition has replicas on the same set of racks. Otherwise
//! the assignors give exactly their assignment without racks.

use std::collections::{BTreeMap, BTreeSet};

use crate::protocol::MemberSubscription;

/// Replica racks by topic: for partition `p` (the index), the racks of the brokers holding one of its
/// replicas. A replica on a broker without rack, or on a broker the metadata does not list, adds nothing; a
/// topic or partition missing here has no known racks.
pub type ReplicaRacks = BTreeMap<String, Vec<BTreeSet<String>>>;

/// The empty set, for partitions without rack information.
static NO_RACKS: BTreeSet<String> = BTreeSet::new();

/// The member's rack: its subscription's `rack_id`, unless absent or empty (Java ignores an empty rack).
pub fn member_rack(member: &MemberSubscription) -> Option<&str> {
    member.subscription.rack_id.as_deref().filter(|r| !r.is_empty())
}

/// The racks holding a replica of `topic`'s partition `partition` (empty when unknown).
pub fn partition_racks<'a>(racks: &'a ReplicaRacks, topic: &str, partition: i32) -> &'a BTreeSet<String> {
    usize::try_from(partition)
        .ok()
        .and_then(|p| racks.get(topic)?.get(p))
        .unwrap_or(&NO_RACKS)
}

/// Whether a member in `member_rack` matches a partition with replicas in `replica_racks`: a member
/// without rack matches everything.
pub fn racks_match(member_rack: Option<&str>, replica_racks: &BTreeSet<String>) -> bool {
    member_rack.is_none_or(|r| replica_racks.contains(r))
}

/// Java's `useRackAwareAssignment`: `member_racks` are the racks of the members taking part,
/// `per_partition` the replica racks of every partition taking part.
pub fn use_rack_aware<'a>(
    member_racks: &BTreeSet<&str>,
    per_partition: impl Iterator<Item = &'a BTreeSet<String>> + Clone,
) -> bool {
    if member_racks.is_empty() {
        return false;
    }
    let all: BTreeSet<&str> = per_partition
        .clone()
        .flat_map(|racks| racks.iter().map(String::as_str))
        .collect();
    if member_racks.is_disjoint(&all) {
        return false;
    }
    !per_partition.into_iter().all(|racks| racks.len() == all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(racks: &[&str]) -> BTreeSet<String> {
        racks.iter().map(|r| (*r).to_owned()).collect()
    }

    #[test]
    fn rack_aware_only_when_it_can_make_a_difference() {
        let members: BTreeSet<&str> = ["a"].into_iter().collect();
        let uneven = [set(&["a"]), set(&["b"])];
        assert!(use_rack_aware(&members, uneven.iter()));
        // Every partition on every rack: racks cannot change anything.
        let even = [set(&["a", "b"]), set(&["a", "b"])];
        assert!(!use_rack_aware(&members, even.iter()));
        // No member rack, or member racks disjoint from replica racks.
        assert!(!use_rack_aware(&BTreeSet::new(), uneven.iter()));
        let other: BTreeSet<&str> = ["c"].into_iter().collect();
        assert!(!use_rack_aware(&other, uneven.iter()));
        // A partition without known racks next to one with: uneven.
        let partly = [set(&["a"]), set(&[])];
        assert!(use_rack_aware(&members, partly.iter()));
    }

    #[test]
    fn members_without_rack_match_everything() {
        assert!(racks_match(None, &set(&[])));
        assert!(racks_match(Some("a"), &set(&["a", "b"])));
        assert!(!racks_match(Some("c"), &set(&["a", "b"])));
        assert!(!racks_match(Some("a"), &set(&[])));
    }
}
