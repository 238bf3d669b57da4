//! The checkers the assignor tests trust (tests/common/mod.rs) fed known-bad assignments: each must
//! refuse them, or a passing assignor test would mean nothing (issue 16: checkers are only trusted if
//! they fire).

mod common;

use common::{
    Member, Racks, Scenario, check_golden_rule, check_valid, locally_balanced, rack_matches,
    sticky_racks_matter, tp,
};
use kafkaroo_group::TopicPartition;
use kafkaroo_group::assignor::Assignments;

fn member(id: &str, topics: &[&str], generation: i32, owned: &[(&str, i32)]) -> Member {
    Member {
        id: id.to_owned(),
        instance: None,
        generation,
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        owned: owned.iter().map(|(t, p)| tp(t, *p)).collect(),
    }
}

/// Topic `t` with 4 partitions and `u` with 2; A subscribes to both, B to `t` only.
fn scenario(owned_a: &[(&str, i32)], owned_b: &[(&str, i32)]) -> Scenario {
    Scenario {
        topics: [("t".to_owned(), 4), ("u".to_owned(), 2)].into_iter().collect(),
        members: vec![
            member("A", &["t", "u"], 3, owned_a),
            member("B", &["t"], 3, owned_b),
        ],
        ..Scenario::default()
    }
}

fn assignments(a: &[(&str, i32)], b: &[(&str, i32)]) -> Assignments {
    let list = |ps: &[(&str, i32)]| -> Vec<TopicPartition> { ps.iter().map(|(t, p)| tp(t, *p)).collect() };
    [("A".to_owned(), list(a)), ("B".to_owned(), list(b))]
        .into_iter()
        .collect()
}

#[test]
fn check_valid_accepts_a_good_assignment() {
    let s = scenario(&[], &[]);
    let good = assignments(&[("t", 0), ("t", 1), ("u", 0), ("u", 1)], &[("t", 2), ("t", 3)]);
    check_valid(&s, &good, true).unwrap();
}

#[test]
fn check_valid_fires_on_each_kind_of_bad_assignment() {
    let s = scenario(&[], &[]);
    let cases: Vec<(&str, Assignments, &str)> = vec![
        (
            "a member missing",
            [("A".to_owned(), vec![tp("t", 0)])].into_iter().collect(),
            "assignment keys",
        ),
        (
            "a partition that does not exist",
            assignments(&[("t", 4)], &[]),
            "nonexistent",
        ),
        (
            "a topic the member does not subscribe to",
            assignments(&[], &[("u", 0)]),
            "does not subscribe",
        ),
        (
            "a partition assigned twice",
            assignments(&[("t", 0)], &[("t", 0)]),
            "assigned twice",
        ),
        (
            "an incomplete assignment",
            assignments(&[("t", 0)], &[("t", 1)]),
            "unassigned",
        ),
    ];
    for (what, bad, expected) in cases {
        let err = check_valid(&s, &bad, true).expect_err(what);
        assert!(err.contains(expected), "{what}: {err}");
    }
    // Incomplete is fine when completeness is not asked for.
    check_valid(&s, &assignments(&[("t", 0)], &[("t", 1)]), false).unwrap();
}

#[test]
fn the_golden_rule_fires_on_a_move_in_one_round_and_on_a_doubly_claimed_partition() {
    // A owns t-0; giving it to B in the same round breaks KIP-429's rule.
    let s = scenario(&[("t", 0)], &[]);
    let err = check_golden_rule(&s, &assignments(&[], &[("t", 0)])).unwrap_err();
    assert!(err.contains("moves from A to B"), "{err}");
    check_golden_rule(&s, &assignments(&[("t", 0)], &[("t", 1)])).unwrap();
    // Both claim t-1 in the same generation: nobody may get it this round.
    let s = scenario(&[("t", 1)], &[("t", 1)]);
    let err = check_golden_rule(&s, &assignments(&[("t", 1)], &[])).unwrap_err();
    assert!(err.contains("doubly claimed"), "{err}");
}

#[test]
fn local_balance_fires_when_one_partition_could_move_to_a_member_two_lighter() {
    let s = scenario(&[], &[]);
    let lopsided = assignments(&[("t", 0), ("t", 1), ("t", 2), ("u", 0), ("u", 1)], &[("t", 3)]);
    let err = locally_balanced(&s, &lopsided).unwrap_err();
    assert!(err.contains("could move from A"), "{err}");
    locally_balanced(
        &s,
        &assignments(&[("t", 0), ("u", 0), ("u", 1)], &[("t", 1), ("t", 2), ("t", 3)]),
    )
    .unwrap();
}

/// The two-member scenario with racks: broker 0 in `ra` holds `t`, broker 1 in `rb` holds `u`; A is in
/// `ra`, B in `rb`.
fn rack_scenario() -> Scenario {
    let mut s = scenario(&[], &[]);
    s.racks = Racks {
        members: [
            ("A".to_owned(), "ra".to_owned()),
            ("B".to_owned(), "rb".to_owned()),
        ]
        .into_iter()
        .collect(),
        brokers: [(0, Some("ra".to_owned())), (1, Some("rb".to_owned()))]
            .into_iter()
            .collect(),
        replicas: [
            ("t".to_owned(), vec![vec![0]; 4]),
            ("u".to_owned(), vec![vec![1]; 2]),
        ]
        .into_iter()
        .collect(),
    };
    s
}

#[test]
fn rack_matches_counts_only_partitions_in_their_members_rack() {
    let mut s = rack_scenario();
    // A's t partitions are local, its u partitions and all of B's (t, in ra) are not.
    let mixed = assignments(&[("t", 0), ("t", 1), ("u", 0), ("u", 1)], &[("t", 2), ("t", 3)]);
    assert_eq!(rack_matches(&s, &mixed), 2);
    let local = assignments(&[("t", 0), ("t", 1), ("t", 2), ("t", 3), ("u", 0), ("u", 1)], &[]);
    assert_eq!(rack_matches(&s, &local), 4);
    // A member without (or with an empty) rack is local to nothing.
    s.racks.members.insert("A".into(), String::new());
    assert_eq!(rack_matches(&s, &local), 0);
}

#[test]
fn racks_matter_only_when_they_can_change_something() {
    let s = rack_scenario();
    assert!(sticky_racks_matter(&s));
    let mut no_member_racks = s.clone();
    no_member_racks.racks.members.clear();
    assert!(!sticky_racks_matter(&no_member_racks));
    let mut disjoint = s.clone();
    for rack in disjoint.racks.members.values_mut() {
        *rack = "elsewhere".into();
    }
    assert!(!sticky_racks_matter(&disjoint));
    let mut everywhere = s.clone();
    for parts in everywhere.racks.replicas.values_mut() {
        parts.iter_mut().for_each(|p| *p = vec![0, 1]);
    }
    assert!(!sticky_racks_matter(&everywhere));
}
