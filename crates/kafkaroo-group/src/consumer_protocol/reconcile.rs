//! Reconciling the coordinator's assignment partition by partition (docs/kip-848.md, "Reconciliation"):
//! what the member owns but the assignment no longer lists is revoked first, and nothing new is taken
//! until the application acknowledged that revocation; then the newly listed partitions whose topic
//! names are known are added. Partitions of topic ids the metadata does not know yet wait.

use std::collections::{BTreeMap, BTreeSet};

use kafkaroo_wire::Uuid;

use super::io::{TopicIdPartitions, TopicNames};
use crate::protocol::TopicPartition;

/// One partition by topic id.
pub(super) type IdPartition = (Uuid, i32);

/// What the application must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Step {
    /// Give these up (sorted by name), then acknowledge with `revocation_done`.
    Revoke(Vec<TopicPartition>),
    /// These were added (sorted by name; empty after a revocation that added nothing, as Java's
    /// `onPartitionsAssigned` runs after every reconciliation).
    Assign(Vec<TopicPartition>),
}

/// The member's owned partitions, the coordinator's latest assignment and a pending revocation.
#[derive(Debug, Clone, Default)]
pub(super) struct Reconciler {
    /// Reconciled partitions: what the member owns and reports in its heartbeats.
    owned: BTreeSet<IdPartition>,
    /// The latest assignment from the coordinator since joining (`None` before the first).
    target: Option<BTreeSet<IdPartition>>,
    /// Partitions handed to the application to revoke, not acknowledged yet (still owned).
    revoking: Option<BTreeSet<IdPartition>>,
    /// A revocation was acknowledged: the next step reports an assignment even if nothing is added.
    assign_after_revoke: bool,
    /// Names of the topics in `owned` and `target` that the metadata knew.
    names: BTreeMap<Uuid, String>,
}

impl Reconciler {
    /// Takes a new assignment from the coordinator (replacing the previous one).
    pub(super) fn set_target(&mut self, assignment: &[TopicIdPartitions]) {
        let target: BTreeSet<IdPartition> = assignment
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.topic_id, p)))
            .collect();
        let keep: BTreeSet<Uuid> = target.iter().chain(&self.owned).map(|&(id, _)| id).collect();
        self.names.retain(|id, _| keep.contains(id));
        self.target = Some(target);
    }

    /// The next step towards the assignment, if any. `topics` resolves topic ids not seen before.
    pub(super) fn step(&mut self, topics: &dyn TopicNames) -> Option<Step> {
        if self.revoking.is_some() {
            return None;
        }
        let target = self.target.as_ref()?;
        for &(id, _) in target {
            if !self.names.contains_key(&id)
                && let Some(name) = topics.topic_name(id)
            {
                self.names.insert(id, name);
            }
        }
        let revoke: BTreeSet<IdPartition> = self.owned.difference(target).copied().collect();
        if !revoke.is_empty() {
            let partitions = self.named(&revoke);
            self.revoking = Some(revoke);
            return Some(Step::Revoke(partitions));
        }
        let add: BTreeSet<IdPartition> = target
            .iter()
            .filter(|(id, _)| self.names.contains_key(id))
            .filter(|tp| !self.owned.contains(tp))
            .copied()
            .collect();
        if add.is_empty() && !std::mem::take(&mut self.assign_after_revoke) {
            return None;
        }
        self.assign_after_revoke = false;
        self.owned.extend(add.iter().copied());
        Some(Step::Assign(self.named(&add)))
    }

    /// The application released the partitions of the pending revocation. Returns them (empty if no
    /// revocation was pending).
    pub(super) fn revocation_done(&mut self) -> Vec<TopicPartition> {
        let Some(revoked) = self.revoking.take() else {
            return Vec::new();
        };
        let partitions = self.named(&revoked);
        self.owned.retain(|tp| !revoked.contains(tp));
        self.assign_after_revoke = true;
        partitions
    }

    /// Drops everything (membership lost or left) and returns what was owned, sorted by name.
    pub(super) fn clear(&mut self) -> Vec<TopicPartition> {
        let owned = self.named(&self.owned);
        *self = Self::default();
        owned
    }

    /// Whether a revocation waits for the application.
    pub(super) fn is_revoking(&self) -> bool {
        self.revoking.is_some()
    }

    /// Whether the owned partitions equal the whole assignment (nothing to revoke, nothing unresolved).
    #[cfg(test)]
    pub(super) fn is_reconciled(&self) -> bool {
        self.target.as_ref().is_none_or(|t| *t == self.owned)
    }

    /// The owned partitions, as a heartbeat reports them.
    pub(super) fn owned_by_id(&self) -> Vec<TopicIdPartitions> {
        let mut out: Vec<TopicIdPartitions> = Vec::new();
        for &(topic_id, p) in &self.owned {
            match out.last_mut() {
                Some(t) if t.topic_id == topic_id => t.partitions.push(p),
                _ => out.push(TopicIdPartitions {
                    topic_id,
                    partitions: vec![p],
                }),
            }
        }
        out
    }

    /// The owned partitions by name, sorted.
    pub(super) fn owned(&self) -> Vec<TopicPartition> {
        self.named(&self.owned)
    }

    /// Whether the member owns `partition` (also while it is being revoked).
    pub(super) fn owns(&self, partition: &TopicPartition) -> bool {
        self.owned
            .iter()
            .any(|(id, p)| *p == partition.partition && self.names.get(id) == Some(&partition.topic))
    }

    /// Topic ids of the assignment whose names the metadata did not know yet.
    pub(super) fn unresolved_topic_ids(&self) -> Vec<Uuid> {
        let ids: BTreeSet<Uuid> = self
            .target
            .iter()
            .flatten()
            .map(|&(id, _)| id)
            .filter(|id| !self.names.contains_key(id))
            .collect();
        ids.into_iter().collect()
    }

    fn named(&self, partitions: &BTreeSet<IdPartition>) -> Vec<TopicPartition> {
        let mut out: Vec<TopicPartition> = partitions
            .iter()
            .map(|(id, p)| {
                // Owned and revoked partitions always have a name: they were added by name.
                let topic = self.names.get(id).cloned().unwrap_or_else(|| id.to_string());
                TopicPartition::new(topic, *p)
            })
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn names() -> BTreeMap<Uuid, String> {
        [(id(1), "a".to_owned()), (id(2), "b".to_owned())].into()
    }

    fn tip(topic: u128, partitions: &[i32]) -> TopicIdPartitions {
        TopicIdPartitions {
            topic_id: id(topic),
            partitions: partitions.to_vec(),
        }
    }

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter().map(|&(t, p)| TopicPartition::new(t, p)).collect()
    }

    #[test]
    fn revokes_first_then_assigns_after_the_acknowledgement() {
        let mut r = Reconciler::default();
        r.set_target(&[tip(1, &[0, 1])]);
        assert_eq!(r.step(&names()), Some(Step::Assign(tps(&[("a", 0), ("a", 1)]))));
        assert_eq!(r.step(&names()), None);
        r.set_target(&[tip(1, &[1]), tip(2, &[0])]);
        assert_eq!(r.step(&names()), Some(Step::Revoke(tps(&[("a", 0)]))));
        // Nothing is added while the revocation waits.
        assert_eq!(r.step(&names()), None);
        assert!(r.owns(&TopicPartition::new("a", 0)));
        assert_eq!(r.revocation_done(), tps(&[("a", 0)]));
        assert_eq!(r.step(&names()), Some(Step::Assign(tps(&[("b", 0)]))));
        assert!(r.is_reconciled());
        assert_eq!(r.owned_by_id(), vec![tip(1, &[1]), tip(2, &[0])]);
    }

    #[test]
    fn a_revocation_that_adds_nothing_still_reports_an_assignment() {
        let mut r = Reconciler::default();
        r.set_target(&[tip(1, &[0, 1])]);
        r.step(&names());
        r.set_target(&[tip(1, &[1])]);
        assert!(matches!(r.step(&names()), Some(Step::Revoke(_))));
        r.revocation_done();
        assert_eq!(r.step(&names()), Some(Step::Assign(vec![])));
        assert_eq!(r.step(&names()), None);
    }

    #[test]
    fn unknown_topic_ids_wait_for_metadata() {
        let mut r = Reconciler::default();
        r.set_target(&[tip(1, &[0]), tip(3, &[0, 1])]);
        assert_eq!(r.step(&names()), Some(Step::Assign(tps(&[("a", 0)]))));
        assert_eq!(r.unresolved_topic_ids(), vec![id(3)]);
        assert!(!r.is_reconciled());
        assert_eq!(r.step(&names()), None);
        let mut more = names();
        more.insert(id(3), "c".into());
        assert_eq!(r.step(&more), Some(Step::Assign(tps(&[("c", 0), ("c", 1)]))));
        assert!(r.unresolved_topic_ids().is_empty());
        // A later assignment without topic c revokes it by the name learned before.
        r.set_target(&[tip(1, &[0])]);
        assert_eq!(r.step(&names()), Some(Step::Revoke(tps(&[("c", 0), ("c", 1)]))));
    }

    #[test]
    fn clear_returns_everything_owned_including_a_pending_revocation() {
        let mut r = Reconciler::default();
        r.set_target(&[tip(1, &[0, 1])]);
        r.step(&names());
        r.set_target(&[tip(1, &[1])]);
        r.step(&names());
        assert_eq!(r.clear(), tps(&[("a", 0), ("a", 1)]));
        assert!(!r.is_revoking());
        assert!(r.owned().is_empty());
        assert_eq!(r.revocation_done(), vec![]);
    }
}
