//! Rack-aware assignment (KIP-881) without Java: racks that cannot matter change nothing, racks never
//! cost balance or stickiness rules, and hand-made cases where the rack-local answer is known.

mod common;

use common::{
    Member, Racks, Rng, Scenario, check_golden_rule, check_valid, locally_balanced, rack_matches,
    random_racks, random_scenario, sticky_racks_matter, sum_squares, tp,
};
use kafkaroo_group::assignor::{Assignments, Assignor};
use kafkaroo_group::{CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor, StickyAssignor};

const ASSIGNORS: [&dyn Assignor; 4] = [
    &RangeAssignor,
    &RoundRobinAssignor,
    &StickyAssignor,
    &CooperativeStickyAssignor,
];

fn random_with_racks(rng: &mut Rng) -> Scenario {
    let mut s = random_scenario(rng, 10, 5, 12);
    random_racks(rng, &mut s);
    s
}

fn without_racks(s: &Scenario) -> Scenario {
    Scenario {
        racks: Racks::default(),
        ..s.clone()
    }
}

/// No member rack, member racks that hold no replica, or every partition on the same racks: every
/// assignor gives exactly its assignment without racks.
#[test]
fn racks_that_cannot_matter_change_nothing() {
    let mut rng = Rng(21);
    for i in 0..300 {
        let s = random_with_racks(&mut rng);
        let mut variants = Vec::new();
        let mut no_member_racks = s.clone();
        no_member_racks.racks.members.clear();
        variants.push(("no member rack", no_member_racks));
        let mut disjoint = s.clone();
        disjoint
            .racks
            .members
            .values_mut()
            .for_each(|r| *r = "nowhere".into());
        variants.push(("member racks hold no replica", disjoint));
        let mut everywhere = s.clone();
        let brokers: Vec<i32> = everywhere.racks.brokers.keys().copied().collect();
        for parts in everywhere.racks.replicas.values_mut() {
            parts.iter_mut().for_each(|p| *p = brokers.clone());
        }
        variants.push(("every partition on every broker", everywhere));
        for (what, v) in variants {
            assert!(!sticky_racks_matter(&v), "{i} {what}");
            let plain = without_racks(&v);
            for a in ASSIGNORS {
                assert_eq!(
                    v.assign(a),
                    plain.assign(a),
                    "{} scenario {i} ({what}):\n{}",
                    a.name(),
                    v.to_java("x", a.name())
                );
            }
        }
    }
}

/// Balance comes first: with racks the sticky assignors reach exactly the balance they reach without
/// (same sum of squares, locally balanced), stay valid, and cooperative-sticky keeps the golden rule.
#[test]
fn racks_never_cost_balance_or_the_golden_rule() {
    let mut rng = Rng(22);
    let mut local = (0, 0);
    for i in 0..300 {
        let s = random_with_racks(&mut rng);
        let plain = without_racks(&s);
        let input = s.to_java(&i.to_string(), "sticky");
        let with = s.assign(&StickyAssignor);
        check_valid(&s, &with, true).unwrap_or_else(|e| panic!("{i}: {e}\n{input}"));
        locally_balanced(&s, &with).unwrap_or_else(|e| panic!("{i}: {e}\n{input}"));
        let without = plain.assign(&StickyAssignor);
        assert_eq!(sum_squares(&s, &with), sum_squares(&s, &without), "{i}\n{input}");
        local.0 += rack_matches(&s, &with);
        local.1 += rack_matches(&s, &without);
        let cooperative = s.assign(&CooperativeStickyAssignor);
        check_valid(&s, &cooperative, false).unwrap_or_else(|e| panic!("{i}: {e}\n{input}"));
        check_golden_rule(&s, &cooperative).unwrap_or_else(|e| panic!("{i}: {e}\n{input}"));
    }
    eprintln!(
        "rack-local partitions with racks {} / without {}",
        local.0, local.1
    );
    assert!(local.0 > local.1, "racks made no difference at all: {local:?}");
}

fn member(id: &str, topics: &[&str]) -> Member {
    Member {
        id: id.to_owned(),
        instance: None,
        generation: -1,
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        owned: Vec::new(),
    }
}

/// Three brokers in racks r0, r1, r2; `t` and `u` with 3 partitions each, partition `p` on broker `p`;
/// members `a`, `b`, `c` in racks r2, r0, r1 (so member order is not rack order).
fn three_racks(topics: &[&str]) -> Scenario {
    let names: Vec<String> = topics.iter().map(|t| (*t).to_owned()).collect();
    Scenario {
        topics: names.iter().map(|t| (t.clone(), 3)).collect(),
        members: vec![member("a", topics), member("b", topics), member("c", topics)],
        racks: Racks {
            members: [("a", "r2"), ("b", "r0"), ("c", "r1")]
                .into_iter()
                .map(|(m, r)| (m.to_owned(), r.to_owned()))
                .collect(),
            brokers: (0..3).map(|b| (b, Some(format!("r{b}")))).collect(),
            replicas: names
                .iter()
                .map(|t| (t.clone(), vec![vec![0], vec![1], vec![2]]))
                .collect(),
        },
    }
}

fn expected(rows: &[(&str, &[(&str, i32)])]) -> Assignments {
    rows.iter()
        .map(|(m, ps)| ((*m).to_owned(), ps.iter().map(|(t, p)| tp(t, *p)).collect()))
        .collect()
}

#[test]
fn every_assignor_but_roundrobin_puts_each_partition_in_its_members_rack() {
    let s = three_racks(&["t", "u"]);
    // Co-partitioned for range: the same member gets the same partition number of both topics.
    let local = expected(&[
        ("a", &[("t", 2), ("u", 2)]),
        ("b", &[("t", 0), ("u", 0)]),
        ("c", &[("t", 1), ("u", 1)]),
    ]);
    for a in [
        &RangeAssignor as &dyn Assignor,
        &StickyAssignor,
        &CooperativeStickyAssignor,
    ] {
        assert_eq!(s.assign(a), local, "{}", a.name());
    }
    // Without racks (and with roundrobin, which ignores them) `a` gets partition 0.
    let blind = s.assign(&RoundRobinAssignor);
    assert_eq!(blind["a"][0], tp("t", 0));
    assert_eq!(
        without_racks(&s).assign(&RangeAssignor)["a"],
        vec![tp("t", 0), tp("u", 0)]
    );
}

#[test]
fn sticky_keeps_rack_local_ownership_and_gives_up_mismatched() {
    let mut s = three_racks(&["t"]);
    // b (r0) owns t-0 (local) and t-1 (remote): it keeps t-0; t-1 goes to c (r1).
    s.members[1].owned = vec![tp("t", 0), tp("t", 1)];
    s.members[1].generation = 4;
    let a = s.assign(&StickyAssignor);
    assert_eq!(
        a,
        expected(&[("a", &[("t", 2)]), ("b", &[("t", 0)]), ("c", &[("t", 1)])])
    );
    // Cooperative: t-1 is withheld this round (b revokes it first).
    let a = s.assign(&CooperativeStickyAssignor);
    assert_eq!(a, expected(&[("a", &[("t", 2)]), ("b", &[("t", 0)]), ("c", &[])]));
}
