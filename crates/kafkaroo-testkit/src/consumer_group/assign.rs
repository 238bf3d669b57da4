//! The server-side assignors of the fake KIP-848 coordinator: `uniform` (balanced and sticky: members
//! keep what they had up to their fair share) and `range` (per topic, consecutive ranges in member id
//! order).

use std::collections::{BTreeMap, BTreeSet};

use kafkaroo_wire::Uuid;

/// A partition by topic id.
pub(crate) type Tp = (Uuid, i32);

/// What the assignors see of one member.
pub(crate) struct Spec<'a> {
    pub(crate) topics: &'a BTreeSet<String>,
    /// The member's previous target (uniform keeps it where it can).
    pub(crate) previous: &'a BTreeSet<Tp>,
}

/// Topic name → (id, partition count), for the topics that exist.
pub(crate) type Topics = BTreeMap<String, (Uuid, i32)>;

/// The assignors the fake coordinator knows.
pub(crate) const ASSIGNORS: [&str; 2] = ["uniform", "range"];

/// The target assignment of every member.
pub(crate) fn assign(
    assignor: &str,
    members: &BTreeMap<String, Spec<'_>>,
    topics: &Topics,
) -> BTreeMap<String, BTreeSet<Tp>> {
    if assignor == "range" {
        range(members, topics)
    } else {
        uniform(members, topics)
    }
}

fn eligible<'a>(members: &'a BTreeMap<String, Spec<'_>>, topic: &str) -> Vec<&'a String> {
    members
        .iter()
        .filter(|(_, s)| s.topics.contains(topic))
        .map(|(id, _)| id)
        .collect()
}

fn give(out: &mut BTreeMap<String, BTreeSet<Tp>>, member: &str, partitions: impl IntoIterator<Item = Tp>) {
    if let Some(set) = out.get_mut(member) {
        set.extend(partitions);
    }
}

fn uniform(members: &BTreeMap<String, Spec<'_>>, topics: &Topics) -> BTreeMap<String, BTreeSet<Tp>> {
    let mut out: BTreeMap<String, BTreeSet<Tp>> =
        members.keys().map(|m| (m.clone(), BTreeSet::new())).collect();
    let all: Vec<(&str, Tp)> = topics
        .iter()
        .filter(|(t, _)| members.values().any(|s| s.topics.contains(*t)))
        .flat_map(|(t, &(id, n))| (0..n).map(move |p| (t.as_str(), (id, p))))
        .collect();
    if members.is_empty() {
        return out;
    }
    let quota = all.len().div_ceil(members.len());
    let mut free = Vec::new();
    // Sticky: a partition stays with its previous owner while that owner is under its quota.
    for &(topic, tp) in &all {
        let keeper = members
            .iter()
            .find(|(id, s)| s.previous.contains(&tp) && s.topics.contains(topic) && out[*id].len() < quota);
        match keeper {
            Some((id, _)) => give(&mut out, id, [tp]),
            None => free.push((topic, tp)),
        }
    }
    for (topic, tp) in free {
        let least = eligible(members, topic)
            .into_iter()
            .min_by_key(|id| (out[*id].len(), (*id).clone()));
        if let Some(id) = least {
            give(&mut out, id, [tp]);
        }
    }
    out
}

fn range(members: &BTreeMap<String, Spec<'_>>, topics: &Topics) -> BTreeMap<String, BTreeSet<Tp>> {
    let mut out: BTreeMap<String, BTreeSet<Tp>> =
        members.keys().map(|m| (m.clone(), BTreeSet::new())).collect();
    for (topic, &(id, n)) in topics {
        let owners = eligible(members, topic);
        if owners.is_empty() {
            continue;
        }
        let (per, extra) = (n as usize / owners.len(), n as usize % owners.len());
        let mut next = 0;
        for (i, owner) in owners.into_iter().enumerate() {
            let count = per + usize::from(i < extra);
            give(&mut out, owner, (next..next + count).map(|p| (id, p as i32)));
            next += count;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_balances_and_keeps_what_it_can() {
        let t: BTreeSet<String> = ["t".to_owned()].into();
        let id = Uuid::from_u128(1);
        let topics: Topics = [("t".to_owned(), (id, 6))].into();
        let had: BTreeSet<Tp> = (0..6).map(|p| (id, p)).collect();
        let none = BTreeSet::new();
        let members: BTreeMap<String, Spec<'_>> = [
            (
                "a".to_owned(),
                Spec {
                    topics: &t,
                    previous: &had,
                },
            ),
            (
                "b".to_owned(),
                Spec {
                    topics: &t,
                    previous: &none,
                },
            ),
        ]
        .into();
        let out = assign("uniform", &members, &topics);
        assert_eq!(out["a"], (0..3).map(|p| (id, p)).collect());
        assert_eq!(out["b"], (3..6).map(|p| (id, p)).collect());
        let out = assign("range", &members, &topics);
        assert_eq!(out["a"].len(), 3);
    }
}
